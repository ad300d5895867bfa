/* Numbers in a model's text: the last one, in a canonical form, and the
 * value of an answer string.  "1,000", "$1000" and "1000.00" are the same
 * answer; "3-4" is a range ending in 4, not minus four. */
#include "eval_internal.h"
#include "tk_eval.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* A number found in text: where its parts lie. */
typedef struct number_span {
	size_t start, end;      /* the whole match, sign and '$' included */
	int negative;
	size_t int_at, int_end; /* integer digits, thousands commas included */
	size_t frac_at, frac_end; /* digits after the point (empty: none) */
	size_t den_at, den_end; /* denominator digits of a/b (empty: none) */
} number_span;

/* "1,000,000": a comma followed by exactly three digits continues. */
static size_t skip_int_digits(const char *s, size_t i)
{
	while (is_digit(s[i]))
		i++;
	while (s[i] == ',' && is_digit(s[i + 1]) && is_digit(s[i + 2]) &&
	       is_digit(s[i + 3]) && !is_digit(s[i + 4]))
		i += 4;
	return i;
}

/* The sign and currency before the digits at i: "-5", "-$5", "$-5".  A
 * '-' after a digit, letter or ')' is a range or a difference ("3-4"). */
static void read_prefix(const char *s, size_t i, number_span *n)
{
	size_t at = i;
	if (at > 0 && s[at - 1] == '$')
		at--;
	if (at > 0 && s[at - 1] == '-') {
		int before = at > 1 ? (unsigned char)s[at - 2] : ' ';
		if (!is_digit(before) && !is_alpha(before) && before != ')') {
			at--;
			n->negative = 1;
		}
	}
	n->start = at;
}

/* Matches the number whose digits start at i (s[i] a digit, or '.' before
 * a digit); returns the end. */
static size_t match_number(const char *s, size_t i, number_span *n)
{
	*n = (number_span){0};
	read_prefix(s, i, n);
	n->int_at = i;
	size_t j = skip_int_digits(s, i);
	n->int_end = j;
	if (s[j] == '.' && is_digit(s[j + 1])) {
		n->frac_at = ++j;
		while (is_digit(s[j]))
			j++;
		n->frac_end = j;
	}
	if (n->frac_end == 0 && j > i && s[j] == '/' && is_digit(s[j + 1])) {
		n->den_at = ++j;
		while (is_digit(s[j]))
			j++;
		n->den_end = j;
	}
	if (s[j] == '%')
		j++;
	n->end = j;
	return j;
}

/* Digits without commas and leading zeros ("0" when none are left). */
static void put_integer(sbuf *b, const char *s, size_t at, size_t end)
{
	size_t first = b->n;
	for (size_t i = at; i < end; i++) {
		if (s[i] == ',' || (s[i] == '0' && b->n == first))
			continue;
		sbuf_putc(b, s[i]);
	}
	if (b->n == first)
		sbuf_putc(b, '0');
}

static int canonical(const char *s, const number_span *n, char **out)
{
	sbuf b = {0};
	if (n->negative)
		sbuf_putc(&b, '-');
	put_integer(&b, s, n->int_at, n->int_end);
	size_t frac_end = n->frac_end;
	while (frac_end > n->frac_at && s[frac_end - 1] == '0')
		frac_end--;
	if (frac_end > n->frac_at) {
		sbuf_putc(&b, '.');
		sbuf_put(&b, s + n->frac_at, frac_end - n->frac_at);
	}
	if (n->den_end > n->den_at) {
		sbuf_putc(&b, '/');
		put_integer(&b, s, n->den_at, n->den_end);
	}
	if (!b.failed && !strcmp(b.s, "-0"))
		memmove(b.s, b.s + 1, b.n--);
	return sbuf_take(&b, out);
}

int tk_eval_last_number(const char *text, char **out)
{
	*out = NULL;
	number_span last = {0}, n;
	int found = 0;
	size_t i = 0;
	while (text[i]) {
		int starts = is_digit(text[i]) || (text[i] == '.' && is_digit(text[i + 1]));
		if (!starts) {
			i++;
			continue;
		}
		i = match_number(text, i, &n);
		last = n;
		found = 1;
	}
	return found ? canonical(text, &last, out) : TK_OK;
}

/* strtod on exactly [s, end), only for plain decimals (no "inf", "nan",
 * hex floats). */
static int decimal_value(const char *s, const char *end, double *v)
{
	if (s == end)
		return 0;
	for (const char *p = s; p < end; p++)
		if (!is_digit(*p) && *p != '.' && *p != 'e' && *p != 'E' &&
		    *p != '+' && *p != '-')
			return 0;
	char buf[128];
	size_t len = (size_t)(end - s);
	if (len >= sizeof buf)
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *stop;
	errno = 0;
	*v = strtod(buf, &stop);
	return *stop == '\0' && errno == 0 && isfinite(*v);
}

int tk_eval_number_value(const char *s, double *value)
{
	/* the string less '$', '%', thousands commas and spaces */
	char buf[128];
	size_t n = 0;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		if (c == '$' || c == '%' || is_space(c))
			continue;
		if (c == ',' && i > 0 && is_digit(s[i - 1]) && is_digit(s[i + 1]))
			continue;
		if (n + 1 >= sizeof buf)
			return 0;
		buf[n++] = c;
	}
	buf[n] = '\0';
	char *slash = strchr(buf, '/');
	if (!slash)
		return decimal_value(buf, buf + n, value);
	double num, den;
	if (!decimal_value(buf, slash, &num) || !decimal_value(slash + 1, buf + n, &den) ||
	    den == 0)
		return 0;
	*value = num / den;
	return 1;
}
