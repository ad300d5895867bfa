/* \boxed{} answers and the LaTeX normalisation that makes \frac{1}{2},
 * \dfrac12 and 1/2 the same answer (MATH-style answers). */
#include "eval_internal.h"
#include "tk_eval.h"

#include <stdlib.h>

/* The index just past the brace group that opens at s[at] == '{', or 0
 * when it never closes. */
static size_t group_end(const char *s, size_t len, size_t at)
{
	int depth = 0;
	for (size_t i = at; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len) {
			i++;            /* \{ and \} do not nest */
			continue;
		}
		if (s[i] == '{')
			depth++;
		else if (s[i] == '}' && --depth == 0)
			return i + 1;
	}
	return 0;
}

int tk_eval_last_boxed(const char *text, char **out)
{
	*out = NULL;
	static const char *const boxes[] = {"\\boxed", "\\fbox"};
	const char *last = NULL;
	size_t name_len = 0;
	for (int k = 0; k < 2; k++)
		for (const char *p = strstr(text, boxes[k]); p; p = strstr(p + 1, boxes[k]))
			if (!last || p > last) {
				last = p;
				name_len = strlen(boxes[k]);
			}
	if (!last)
		return TK_OK;
	const char *p = last + name_len;
	while (*p == ' ')
		p++;
	sbuf b = {0};
	if (*p == '{') {
		size_t end = group_end(p, strlen(p), 0);
		if (!end)
			return TK_OK;
		sbuf_put(&b, p + 1, end - 2);
	} else {
		/* "\boxed 5": up to the end of the math or the line */
		size_t n = 0;
		while (p[n] && p[n] != '$' && p[n] != '\n')
			n++;
		if (n == 0)
			return TK_OK;
		sbuf_put(&b, p, n);
	}
	return sbuf_take(&b, out);
}

/* ---- normalisation ----------------------------------------------------- */

static void normalize_into(sbuf *b, const char *s, size_t len);

/* A macro argument at s[*i]: a brace group (its inside) or one character
 * or one command; *i moves past it.  0 when there is none. */
static int read_arg(const char *s, size_t len, size_t *i, size_t *at, size_t *n)
{
	while (*i < len && s[*i] == ' ')
		(*i)++;
	if (*i >= len || s[*i] == '}')
		return 0;
	if (s[*i] == '{') {
		size_t end = group_end(s, len, *i);
		if (!end)
			return 0;
		*at = *i + 1;
		*n = end - *i - 2;
		*i = end;
		return 1;
	}
	*at = *i;
	size_t j = *i + 1;
	if (s[*i] == '\\')
		while (j < len && is_alpha(s[j]))
			j++;
	*n = j - *i;
	*i = j;
	return 1;
}

/* "12", "-x", "0.5": a fraction part written without parentheses. */
static int simple(const char *s)
{
	size_t i = s[0] == '-';
	if (!s[i])
		return 0;
	for (; s[i]; i++)
		if (!is_digit(s[i]) && !is_alpha(s[i]) && s[i] != '.')
			return 0;
	return 1;
}

static void put_part(sbuf *b, const char *s, size_t at, size_t n)
{
	sbuf part = {0};
	normalize_into(&part, s + at, n);
	if (part.failed) {
		b->failed = 1;
		return;
	}
	const char *t = part.s ? part.s : "";
	int bare = simple(t);
	if (!bare)
		sbuf_putc(b, '(');
	sbuf_puts(b, t);
	if (!bare)
		sbuf_putc(b, ')');
	free(part.s);
}

/* \frac{a}{b} -> a/b, \frac{a+1}{2} -> (a+1)/2 */
static void put_frac(sbuf *b, const char *s, size_t len, size_t *i)
{
	size_t a_at, a_n, b_at, b_n;
	if (!read_arg(s, len, i, &a_at, &a_n) || !read_arg(s, len, i, &b_at, &b_n)) {
		sbuf_puts(b, "\\frac");
		return;
	}
	put_part(b, s, a_at, a_n);
	sbuf_putc(b, '/');
	put_part(b, s, b_at, b_n);
}

/* Commands whose argument is plain text: \text{cm} -> cm. */
static int is_text_command(const char *name, size_t n)
{
	static const char *const names[] = {"text", "textbf", "textit", "textrm", "mathrm",
					     "mathbf", "mathit", "mbox", "textnormal", NULL};
	for (int k = 0; names[k]; k++)
		if (strlen(names[k]) == n && !memcmp(names[k], name, n))
			return 1;
	return 0;
}

static int name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && !memcmp(name, want, n);
}

/* One command \name at s[*i - n - 1 .. *i). */
static void put_command(sbuf *b, const char *s, size_t len, size_t *i,
			const char *name, size_t n)
{
	size_t at, an;
	if (name_is(name, n, "left") || name_is(name, n, "right")) {
		if (*i < len && s[*i] == '.')
			(*i)++;         /* \left. is an empty delimiter */
	} else if (name_is(name, n, "frac") || name_is(name, n, "dfrac") ||
		   name_is(name, n, "tfrac")) {
		put_frac(b, s, len, i);
	} else if (is_text_command(name, n)) {
		if (read_arg(s, len, i, &at, &an))
			normalize_into(b, s + at, an);
	} else if (name_is(name, n, "sqrt") && read_arg(s, len, i, &at, &an)) {
		sbuf_puts(b, "\\sqrt{");
		normalize_into(b, s + at, an);
		sbuf_putc(b, '}');
	} else if (!name_is(name, n, "displaystyle") && !name_is(name, n, "circ")) {
		sbuf_putc(b, '\\');
		sbuf_put(b, name, n);
	}
}

/* "^\circ" and "^{\circ}" (degrees) at s[i]; returns its length or 0. */
static size_t degree_mark(const char *s, size_t len, size_t i)
{
	static const char *const marks[] = {"^\\circ", "^{\\circ}"};
	for (int k = 0; k < 2; k++) {
		size_t n = strlen(marks[k]);
		if (i + n <= len && !memcmp(s + i, marks[k], n))
			return n;
	}
	return 0;
}

static void normalize_into(sbuf *b, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		char c = s[i];
		size_t deg = degree_mark(s, len, i);
		if (deg) {
			i += deg;
		} else if (c == '\\' && i + 1 < len && is_alpha(s[i + 1])) {
			size_t at = ++i;
			while (i < len && is_alpha(s[i]))
				i++;
			put_command(b, s, len, &i, s + at, i - at);
		} else if (c == '\\' && i + 1 < len) {
			/* \! \, \; \: \  are spacing, \% and \$ decoration */
			if (!strchr("!,;: %$", s[i + 1]))
				sbuf_put(b, s + i, 2);
			i += 2;
		} else {
			if (!is_space(c) && c != '$' && c != '%')
				sbuf_putc(b, c);
			i++;
		}
	}
}

/* "1,000,000" or "-1,234.5": commas that group thousands of one number. */
static int thousands(const char *s)
{
	size_t i = s[0] == '-', digits = 0;
	while (is_digit(s[i]))
		i++, digits++;
	if (digits == 0 || digits > 3 || s[i] != ',')
		return 0;
	while (s[i] == ',') {
		if (!is_digit(s[i + 1]) || !is_digit(s[i + 2]) || !is_digit(s[i + 3]))
			return 0;
		i += 4;
	}
	if (s[i] == '.')
		for (i++; is_digit(s[i]); i++)
			;
	return s[i] == '\0';
}

/* The tidying after the rewrite: "x=5" -> "5", a final period, thousands
 * commas. */
static void tidy(char *s)
{
	char *eq = strrchr(s, '=');
	if (eq && eq - s <= 2) {
		int name = 1;
		for (char *p = s; p < eq; p++)
			name &= is_alpha(*p);
		if (name)
			memmove(s, eq + 1, strlen(eq + 1) + 1);
	}
	size_t n = strlen(s);
	while (n && s[n - 1] == '.')
		s[--n] = '\0';
	if (thousands(s)) {
		char *w = s;
		for (char *r = s; *r; r++)
			if (*r != ',')
				*w++ = *r;
		*w = '\0';
	}
}

int tk_eval_latex_normalize(const char *s, char **out)
{
	sbuf b = {0};
	normalize_into(&b, s, strlen(s));
	int rc = sbuf_take(&b, out);
	if (!rc)
		tidy(*out);
	return rc;
}
