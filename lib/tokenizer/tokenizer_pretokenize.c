/* Pre-tokenization: the regex patterns of GPT-2, Llama-3 and Qwen2 as
 * hand-written scanners, the Digits splitter, and the pipeline running a
 * list of such steps.  Each scanner returns where the leftmost-first
 * alternative of its pattern ends, matching Oniguruma's backtracking
 * (what Hugging Face tokenizers runs); the comments quote the
 * alternatives.  Like tokenizers, a pattern sees only the piece it splits,
 * so (?!\S) holds at the end of a piece. */
#include "tokenizer_internal.h"

#include "tk_error.h"
#include "base/unicode.h"

#include <stdlib.h>
#include <string.h>

#define L TK_UC_LETTER
#define N TK_UC_NUMBER
#define S TK_UC_SPACE

struct ch {
	uint32_t cp;
	size_t len;
	int cls;
};

static inline struct ch char_at(const unsigned char *s, size_t n, size_t i)
{
	struct ch c;
	if (s[i] < 0x80) {
		c.cp = s[i];
		c.len = 1;
	} else {
		c.cp = tk_utf8_next(s + i, n - i, &c.len);
	}
	c.cls = tk_unicode_class(c.cp);
	return c;
}

/* [^\s\p{L}\p{N}] */
static inline int is_other(int cls) { return !(cls & (L | N | S)); }

/* The end of the run of characters from i whose class has a bit of mask
 * (want=1) or none (want=0). */
static size_t run_of(const unsigned char *s, size_t n, size_t i, int mask,
		     int want)
{
	while (i < n) {
		struct ch c = char_at(s, n, i);
		if (((c.cls & mask) != 0) != want)
			break;
		i += c.len;
	}
	return i;
}

static inline int lower_ascii(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's|'t|'re|'ve|'m|'ll|'d, case-insensitive when icase: 0 if none. */
static size_t contraction(const unsigned char *s, size_t n, size_t i,
			  int icase)
{
	if (s[i] != '\'' || i + 1 >= n)
		return 0;
	/* Oniguruma's case folding takes U+017F (long s) for s */
	if (icase && i + 2 < n && s[i + 1] == 0xC5 && s[i + 2] == 0xBF)
		return i + 3;
	int a = icase ? lower_ascii(s[i + 1]) : s[i + 1];
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return i + 2;
	if (i + 2 >= n)
		return 0;
	int b = icase ? lower_ascii(s[i + 2]) : s[i + 2];
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') ||
	    (a == 'l' && b == 'l'))
		return i + 3;
	return 0;
}

/* \s+(?!\S)|\s+ from i, where s[i] is whitespace: the whole run when it
 * ends the piece or is one character, otherwise all but its last
 * character (which then leads the next word). */
static size_t trailing_space(const unsigned char *s, size_t n, size_t i)
{
	size_t last = i, j = i;
	while (j < n) {
		struct ch c = char_at(s, n, j);
		if (!(c.cls & S))
			break;
		last = j;
		j += c.len;
	}
	if (j == n || last == i)
		return j;
	return last;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const unsigned char *s, size_t n, size_t i)
{
	size_t j = contraction(s, n, i, 0);
	if (j)
		return j;
	struct ch c = char_at(s, n, i);
	size_t k = i;
	struct ch d = c;
	if (c.cp == ' ' && i + 1 < n) {
		k = i + 1;
		d = char_at(s, n, k);
	}
	if (d.cls & L)
		return run_of(s, n, k, L, 1);
	if (d.cls & N)
		return run_of(s, n, k, N, 1);
	if (is_other(d.cls))
		return run_of(s, n, k, L | N | S, 0);
	return trailing_space(s, n, i);
}

static inline int is_crlf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}
 * | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_llama3(const unsigned char *s, size_t n, size_t i,
			   int max_digits)
{
	size_t j = contraction(s, n, i, 1);
	if (j)
		return j;
	struct ch c = char_at(s, n, i);
	if (c.cls & L)
		return run_of(s, n, i, L, 1);
	if (!(c.cls & N) && !is_crlf(c.cp) && i + c.len < n) {
		struct ch d = char_at(s, n, i + c.len);
		if (d.cls & L)
			return run_of(s, n, i + c.len, L, 1);
	}
	if (c.cls & N) {
		j = i;
		for (int k = 0; k < max_digits && j < n; k++) {
			struct ch d = char_at(s, n, j);
			if (!(d.cls & N))
				break;
			j += d.len;
		}
		return j;
	}
	size_t k = i;
	struct ch d = c;
	if (c.cp == ' ' && i + 1 < n) {
		k = i + 1;
		d = char_at(s, n, k);
	}
	if (is_other(d.cls)) {
		j = run_of(s, n, k, L | N | S, 0);
		while (j < n && (s[j] == '\r' || s[j] == '\n'))
			j++;
		return j;
	}
	/* c is whitespace: \s*[\r\n]+ ends after the run's last CR or LF */
	size_t end_crlf = 0;
	for (j = i; j < n;) {
		struct ch e = char_at(s, n, j);
		if (!(e.cls & S))
			break;
		j += e.len;
		if (is_crlf(e.cp))
			end_crlf = j;
	}
	if (end_crlf)
		return end_crlf;
	return trailing_space(s, n, i);
}

size_t tk_pattern_match(int pattern, const unsigned char *s, size_t n,
			size_t i)
{
	switch (pattern) {
	case TK_PRE_GPT2:
		return match_gpt2(s, n, i);
	case TK_PRE_LLAMA3:
		return match_llama3(s, n, i, 3);
	case TK_PRE_QWEN2:
		return match_llama3(s, n, i, 1);
	}
	return n;
}

/* ---- the pipeline ------------------------------------------------------ */

struct pipeline {
	const uint8_t *steps;
	size_t n_steps;
	tk_piece_sink sink;
	void *ctx;
};

static int run_steps(const struct pipeline *p, size_t step,
		     const unsigned char *s, size_t n);

/* Digits: numbers (Rust's char::is_numeric, not quite \p{N}) split off,
 * each alone (isolated) or as runs. */
static int split_digits(const struct pipeline *p, size_t step,
			const unsigned char *s, size_t n, int isolated)
{
	size_t start = 0, i = 0;
	while (i < n) {
		struct ch c = char_at(s, n, i);
		if (!(c.cls & TK_UC_DIGIT)) {
			i += c.len;
			continue;
		}
		int rc;
		if (i > start && (rc = run_steps(p, step + 1, s + start, i - start)))
			return rc;
		size_t end = isolated ? i + c.len : run_of(s, n, i, TK_UC_DIGIT, 1);
		if ((rc = run_steps(p, step + 1, s + i, end - i)))
			return rc;
		start = i = end;
	}
	return start < n ? run_steps(p, step + 1, s + start, n - start) : TK_OK;
}

static int split_pattern(const struct pipeline *p, size_t step,
			 const unsigned char *s, size_t n, int pattern)
{
	for (size_t i = 0; i < n;) {
		size_t j = tk_pattern_match(pattern, s, n, i);
		if (j <= i) /* cannot happen: every pattern matches a character */
			return tk_fail(TK_ESOFTWARE, "pre-tokenizer made no progress");
		int rc = run_steps(p, step + 1, s + i, j - i);
		if (rc)
			return rc;
		i = j;
	}
	return TK_OK;
}

/* ByteLevel(add_prefix_space): a piece not starting with ' ' gets one. */
static int prefix_space(const struct pipeline *p, size_t step,
			const unsigned char *s, size_t n)
{
	if (s[0] == ' ')
		return run_steps(p, step + 1, s, n);
	unsigned char small[256];
	unsigned char *buf = n + 1 <= sizeof small ? small : tk_malloc(n + 1);
	if (!buf)
		return TK_EOSERR;
	buf[0] = ' ';
	memcpy(buf + 1, s, n);
	int rc = run_steps(p, step + 1, buf, n + 1);
	if (buf != small)
		free(buf);
	return rc;
}

static int run_steps(const struct pipeline *p, size_t step,
		     const unsigned char *s, size_t n)
{
	if (n == 0)
		return TK_OK;
	if (step == p->n_steps)
		return p->sink(p->ctx, s, n);
	switch (p->steps[step]) {
	case TK_PRE_DIGITS_ISOLATED:
		return split_digits(p, step, s, n, 1);
	case TK_PRE_DIGITS_CONTIGUOUS:
		return split_digits(p, step, s, n, 0);
	case TK_PRE_PREFIX_SPACE:
		return prefix_space(p, step, s, n);
	default:
		return split_pattern(p, step, s, n, p->steps[step]);
	}
}

int tk_pretokenize(const uint8_t *steps, size_t n_steps,
		   const unsigned char *s, size_t n, tk_piece_sink sink,
		   void *ctx)
{
	struct pipeline p = {steps, n_steps, sink, ctx};
	return run_steps(&p, 0, s, n);
}
