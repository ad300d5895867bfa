/* Plain-text answers: normalised string match and the letter a
 * multiple-choice answer picks. */
#include "eval_internal.h"
#include "tk_eval.h"

#include <stdlib.h>
#include <strings.h>

static int is_end_punct(int c) { return c && strchr(".,;:!?", c) != NULL; }
static int is_quote(int c) { return c && strchr("\"'`", c) != NULL; }

int tk_eval_exact_normalize(const char *s, char **out)
{
	sbuf b = {0};
	int pending_space = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (is_space(c)) {
			pending_space = b.n > 0;
			continue;
		}
		if (pending_space)
			sbuf_putc(&b, ' ');
		pending_space = 0;
		sbuf_putc(&b, (char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
	}
	int rc = sbuf_take(&b, out);
	if (rc)
		return rc;
	/* trailing punctuation and quotes, then leading quotes */
	char *t = *out;
	size_t n = strlen(t);
	while (n && (is_end_punct(t[n - 1]) || is_quote(t[n - 1]) || t[n - 1] == ' '))
		t[--n] = '\0';
	size_t lead = 0;
	while (is_quote(t[lead]) || t[lead] == ' ')
		lead++;
	memmove(t, t + lead, n - lead + 1);
	return TK_OK;
}

/* ---- choice letters ---------------------------------------------------- */

static int is_choice(int c) { return c >= 'A' && c <= 'J'; }
static int upper(int c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }

/* A letter standing alone at s: not the start of a word ("A cat").  A
 * lower-case one (lower_ok) only before an end: "answer: b." but not
 * "answer is a bit". */
static int lone_letter(const char *s, int lower_ok)
{
	int c = (unsigned char)s[0];
	if (lower_ok && c >= 'a' && c <= 'j' && (s[1] == '\0' || strchr(".)]*\n", s[1])))
		c = upper(c);
	if (!is_choice(c) || is_alpha(s[1]) || is_digit(s[1]))
		return 0;
	return c;
}

static const char *skip_marks(const char *p)
{
	while (*p == ' ' || *p == '*' || *p == ':' || *p == '(' || *p == '[' || *p == '\n')
		p++;
	return p;
}

/* "answer: C", "the answer is (D)", "Answer: **B**": the last one. */
static int after_answer_word(const char *text)
{
	int found = 0;
	for (const char *p = text; *p; p++) {
		if (strncasecmp(p, "answer", 6))
			continue;
		const char *q = p + 6;
		if (is_alpha(*q))
			continue;
		q = skip_marks(q);
		if (!strncasecmp(q, "is", 2) && !is_alpha(q[2]))
			q = skip_marks(q + 2);
		int c = lone_letter(q, 1);
		if (c)
			found = c;
	}
	return found;
}

/* The whole text is one letter, maybe "(B)", "B.", "B)", "**B**". */
static int only_letter(const char *text)
{
	const char *p = text;
	while (*p && (is_space(*p) || strchr("*([", *p)))
		p++;
	int c = lone_letter(p, 0);
	if (!c)
		return 0;
	for (p++; *p; p++)
		if (!is_space(*p) && !strchr("*.)]:", *p))
			return 0;
	return c;
}

/* "B. Paris", "B) Paris", "B: Paris" at the start. */
static int leading_letter(const char *text)
{
	const char *p = text;
	while (is_space(*p) || *p == '*' || *p == '(')
		p++;
	int c = lone_letter(p, 0);
	return c && (p[1] == '.' || p[1] == ')' || p[1] == ':') ? c : 0;
}

/* The last "(X)" in the text. */
static int last_parenthesised(const char *text)
{
	int found = 0;
	for (const char *p = text; *p; p++)
		if (p[0] == '(' && is_choice((unsigned char)p[1]) && p[2] == ')')
			found = p[1];
	return found;
}

int tk_eval_choice_letter(const char *text)
{
	int c = after_answer_word(text);
	if (!c)
		c = only_letter(text);
	if (!c)
		c = leading_letter(text);
	if (!c)
		c = last_parenthesised(text);
	return c;
}
