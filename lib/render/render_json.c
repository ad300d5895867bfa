/* JSON as the chat templates write it: Jinja's tojson in transformers is
 * Python's json.dumps(x, ensure_ascii=False[, indent=N]), so a tool
 * declaration or a call's arguments must be written with its spacing,
 * escapes and number forms to give the template's tokens.
 *
 * Python keeps 1 and 1.0 apart (int and float) where cJSON keeps one
 * double, so tk_chat_parse keeps each number's literal text in the node's
 * valuestring (cJSON_Delete frees it; cJSON's printer ignores it). */
#include "render_impl.h"
#include "tk_error.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int render_buf_put(render_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return TK_EOSERR;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *p = tk_realloc(b->s, cap);
		if (!p) {
			b->failed = 1;
			return TK_EOSERR;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
	return TK_OK;
}

int render_buf_str(render_buf *b, const char *s)
{
	return render_buf_put(b, s, strlen(s));
}

void render_buf_free(render_buf *b)
{
	free(b->s);
	memset(b, 0, sizeof *b);
}

/* ---- number literals ----------------------------------------------------- */

/* The end of the number literal at s[i] (JSON's characters of a number). */
static size_t number_end(const char *s, size_t i, size_t len)
{
	while (i < len && (strchr("0123456789+-.eE", s[i]) && s[i]))
		i++;
	return i;
}

/* The number literals of text in order, outside strings. */
typedef struct literals { const char *text; size_t len, at; } literals;

static int next_literal(literals *l, const char **s, size_t *n)
{
	const char *t = l->text;
	for (size_t i = l->at; i < l->len; i++) {
		if (t[i] == '"') {
			for (i++; i < l->len && t[i] != '"'; i++)
				i += t[i] == '\\';
			continue;
		}
		if (t[i] == '-' || (t[i] >= '0' && t[i] <= '9')) {
			size_t e = number_end(t, i, l->len);
			*s = t + i;
			*n = e - i;
			l->at = e;
			return 1;
		}
	}
	return 0;
}

/* cJSON builds its tree in document order, so a walk in that order meets
 * the numbers in the order of their literals. */
static int keep_numbers(cJSON *v, literals *l)
{
	for (; v; v = v->next) {
		if (cJSON_IsNumber(v)) {
			const char *s;
			size_t n;
			if (!next_literal(l, &s, &n))
				return TK_OK; /* no literal: printed from the double */
			char *copy = tk_malloc(n + 1);
			if (!copy)
				return TK_EOSERR;
			memcpy(copy, s, n);
			copy[n] = '\0';
			v->valuestring = copy;
		}
		int rc = keep_numbers(v->child, l);
		if (rc)
			return rc;
	}
	return TK_OK;
}

int render_json_keep_numbers(cJSON *root, const char *text, size_t len)
{
	literals l = {text, len, 0};
	return keep_numbers(root, &l);
}

/* ---- Python's json.dumps --------------------------------------------------- */

/* repr(float): the shortest digits that read back as x, in fixed notation
 * with ".0" when the point falls within 16 digits, else d.ddde+XX. */
static void python_float(double x, char *out, size_t cap)
{
	if (isnan(x) || isinf(x)) {
		snprintf(out, cap, "%s", isnan(x) ? "NaN" : x < 0 ? "-Infinity" : "Infinity");
		return;
	}
	char e[40];
	for (int p = 1; p <= 17; p++) {
		snprintf(e, sizeof e, "%.*e", p - 1, x);
		if (strtod(e, NULL) == x)
			break;
	}
	char digits[24];
	size_t nd = 0;
	const char *c = e + (e[0] == '-');
	for (; *c && *c != 'e'; c++)
		if (*c != '.')
			digits[nd++] = *c;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	int point = atoi(c + 1) + 1; /* digits before the decimal point */
	char *o = out;
	if (x < 0 || (x == 0 && signbit(x)))
		*o++ = '-';
	if (point > -4 && point <= 16) {
		if (point <= 0) {
			o += sprintf(o, "0.");
			for (int i = 0; i < -point; i++)
				*o++ = '0';
			memcpy(o, digits, nd);
			o += nd;
		} else {
			for (int i = 0; i < point; i++)
				*o++ = (size_t)i < nd ? digits[i] : '0';
			*o++ = '.';
			if ((size_t)point < nd) {
				memcpy(o, digits + point, nd - (size_t)point);
				o += nd - (size_t)point;
			} else {
				*o++ = '0';
			}
		}
		*o = '\0';
		return;
	}
	*o++ = digits[0];
	if (nd > 1) {
		*o++ = '.';
		memcpy(o, digits + 1, nd - 1);
		o += nd - 1;
	}
	int exp = point - 1;
	sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

/* A number as Python writes what json.loads made of its literal: an
 * integer literal as it is (-0 is 0), anything else as a float. */
static int dump_number(render_buf *b, const cJSON *v)
{
	char tmp[64];
	const char *lit = v->valuestring;
	if (lit && !strpbrk(lit, ".eE"))
		return render_buf_str(b, strcmp(lit, "-0") ? lit : "0");
	double x = lit ? strtod(lit, NULL) : v->valuedouble;
	if (!lit && x == floor(x) && fabs(x) < 9007199254740992.0)
		snprintf(tmp, sizeof tmp, "%.0f", x);
	else
		python_float(x, tmp, sizeof tmp);
	return render_buf_str(b, tmp);
}

static int dump_string(render_buf *b, const char *s)
{
	int rc = render_buf_put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
		const unsigned char *run = p;
		while (*p >= 0x20 && *p != '"' && *p != '\\')
			p++;
		rc = render_buf_put(b, (const char *)run, (size_t)(p - run));
		if (rc || !*p)
			break;
		char esc[8];
		const char *named = *p == '"' ? "\\\"" : *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" :
				    *p == '\r' ? "\\r" : *p == '\t' ? "\\t" : *p == '\b' ? "\\b" :
				    *p == '\f' ? "\\f" : NULL;
		if (!named)
			snprintf(esc, sizeof esc, "\\u%04x", *p);
		rc = render_buf_str(b, named ? named : esc);
	}
	return rc ? rc : render_buf_put(b, "\"", 1);
}

static int newline(render_buf *b, int indent, int depth)
{
	int rc = render_buf_put(b, "\n", 1);
	for (int i = 0; !rc && i < indent * depth; i++)
		rc = render_buf_put(b, " ", 1);
	return rc;
}

static int dump(render_buf *b, const cJSON *v, int indent, int depth);

/* An array or object: "[1, 2]" / {"a": 1}, or one item a line. */
static int dump_container(render_buf *b, const cJSON *v, int indent, int depth)
{
	int object = cJSON_IsObject(v);
	if (!v->child)
		return render_buf_str(b, object ? "{}" : "[]");
	int rc = render_buf_put(b, object ? "{" : "[", 1);
	for (const cJSON *c = v->child; !rc && c; c = c->next) {
		if (c != v->child)
			rc = render_buf_str(b, indent ? "," : ", ");
		if (!rc && indent)
			rc = newline(b, indent, depth + 1);
		if (!rc && object) {
			rc = dump_string(b, c->string ? c->string : "");
			if (!rc)
				rc = render_buf_str(b, ": ");
		}
		if (!rc)
			rc = dump(b, c, indent, depth + 1);
	}
	if (!rc && indent)
		rc = newline(b, indent, depth);
	return rc ? rc : render_buf_put(b, object ? "}" : "]", 1);
}

static int dump(render_buf *b, const cJSON *v, int indent, int depth)
{
	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		return dump_container(b, v, indent, depth);
	if (cJSON_IsString(v))
		return dump_string(b, v->valuestring);
	if (cJSON_IsNumber(v))
		return dump_number(b, v);
	if (cJSON_IsBool(v))
		return render_buf_str(b, cJSON_IsTrue(v) ? "true" : "false");
	if (cJSON_IsRaw(v))
		return render_buf_str(b, v->valuestring);
	return render_buf_str(b, "null");
}

int render_json_dumps(render_buf *b, const cJSON *v, int indent)
{
	return dump(b, v, indent, 0);
}
