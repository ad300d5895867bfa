/* Encoding and decoding.  Encoding first cuts the text at added tokens
 * (special ones only when asked), then pre-tokenizes each stretch between
 * them and runs BPE on every piece. */
#include "tokenizer_internal.h"
#include "tokenizer_nfc.h"

#include "tk_error.h"
#include "base/unicode.h"

#include <stdlib.h>
#include <string.h>

int tk_tokens_push(tk_tokens *t, int32_t id)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		int32_t *ids = tk_realloc(t->ids, cap * sizeof *ids);
		if (!ids)
			return TK_EOSERR;
		t->ids = ids;
		t->cap = cap;
	}
	t->ids[t->n++] = id;
	return TK_OK;
}

void tk_tokens_free(tk_tokens *t)
{
	free(t->ids);
	t->ids = NULL;
	t->n = t->cap = 0;
}

struct encoder {
	const tk_tokenizer *t;
	struct tk_bpe_scratch scratch;
	tk_tokens *out;
};

static int bpe_sink(void *ctx, const unsigned char *s, size_t n)
{
	struct encoder *e = ctx;
	return tk_bpe(e->t, &e->scratch, s, n, e->out);
}

static int encode_ordinary(struct encoder *e, const unsigned char *s,
			   size_t n)
{
	if (!e->t->nfc || tk_nfc_is_quick(s, n))
		return tk_pretokenize(e->t->pre, e->t->n_pre, s, n, bpe_sink, e);
	unsigned char *norm;
	size_t len;
	int rc = tk_nfc(s, n, &norm, &len);
	if (!rc)
		rc = tk_pretokenize(e->t->pre, e->t->n_pre, norm, len, bpe_sink, e);
	free(norm);
	return rc;
}

/* ---- finding added tokens ---------------------------------------------- */

static int is_space_at(const unsigned char *s, size_t n, size_t i,
		       size_t *len)
{
	uint32_t cp = tk_utf8_next(s + i, n - i, len);
	return (tk_unicode_class_of(cp) & TK_UC_SPACE) != 0;
}

/* The character ending just before i (i > 0). */
static uint32_t char_before(const unsigned char *s, size_t i, size_t *len)
{
	size_t k = i - 1;
	while (k > 0 && i - k < 4 && (s[k] & 0xC0) == 0x80)
		k--;
	return tk_utf8_next(s + k, i - k, len);
}

static int is_word_char(uint32_t cp)
{
	return (tk_unicode_class_of(cp) & TK_UC_WORD) != 0;
}

/* single_word: the match must not touch a word character on either side. */
static int stands_alone(const unsigned char *s, size_t n, size_t start,
			size_t end)
{
	size_t len;
	if (start > 0 && is_word_char(char_before(s, start, &len)))
		return 0;
	if (end < n && is_word_char(tk_utf8_next(s + end, n - end, &len)))
		return 0;
	return 1;
}

struct match {
	size_t start, end; /* with stripped whitespace */
	int32_t id;
};

/* The leftmost, then longest, added token in s[from..n) (as aho-corasick's
 * LeftmostLongest in tokenizers); 0 when none. */
static int next_added(const tk_tokenizer *t, const unsigned char *s, size_t n,
		      size_t from, int with_special, struct match *m)
{
	int want = with_special ? 1 : 2;
	for (size_t i = from; i < n; i++) {
		if (!(t->added_first[s[i]] & want))
			continue;
		const struct tk_added *best = NULL;
		for (size_t k = 0; k < t->n_added; k++) {
			const struct tk_added *a = &t->added[k];
			if ((a->special && !with_special) || a->len > n - i ||
			    (best && a->len <= best->len) ||
			    memcmp(t->piece + a->off, s + i, a->len) != 0)
				continue;
			if (a->single_word && !stands_alone(s, n, i, i + a->len))
				continue;
			best = a;
		}
		if (!best)
			continue;
		m->id = best->id;
		m->start = i;
		m->end = i + best->len;
		size_t len;
		if (best->lstrip)
			while (m->start > from) {
				char_before(s, m->start, &len);
				if (!is_space_at(s, n, m->start - len, &len))
					break;
				m->start -= len;
			}
		if (best->rstrip)
			while (m->end < n && is_space_at(s, n, m->end, &len))
				m->end += len;
		return 1;
	}
	return 0;
}

int tk_tokenizer_encode(const tk_tokenizer *t, const char *text, size_t len,
			unsigned flags, tk_tokens *out)
{
	const unsigned char *s = (const unsigned char *)text;
	struct encoder e = {t, {0}, out};
	int rc = TK_OK;
	if ((flags & TK_ENCODE_ADD_BOS) && t->add_bos && t->bos >= 0)
		rc = tk_tokens_push(out, t->bos);
	int with_special = (flags & TK_ENCODE_SPECIAL) != 0;
	size_t pos = 0;
	struct match m;
	while (!rc && pos < len &&
	       next_added(t, s, len, pos, with_special, &m)) {
		rc = encode_ordinary(&e, s + pos, m.start - pos);
		if (!rc)
			rc = tk_tokens_push(out, m.id);
		pos = m.end;
	}
	if (!rc && pos < len)
		rc = encode_ordinary(&e, s + pos, len - pos);
	tk_bpe_scratch_free(&e.scratch);
	return rc;
}

int tk_tokenizer_decode(const tk_tokenizer *t, const int32_t *ids, size_t n,
			unsigned flags, char **out, size_t *out_len)
{
	*out = NULL;
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] < 0 || (size_t)ids[i] >= t->n_vocab)
			return tk_fail(TK_EDATA, "token id %d at position %zu is outside the vocabulary (0..%zu)",
				       (int)ids[i], i, t->n_vocab - 1);
		total += t->piece_len[ids[i]];
	}
	char *buf = tk_malloc(total + 1);
	if (!buf)
		return TK_EOSERR;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int32_t id = ids[i];
		if ((flags & TK_DECODE_SKIP_SPECIAL) &&
		    t->type[id] == TK_TOKEN_CONTROL)
			continue;
		memcpy(buf + o, t->piece + t->piece_off[id], t->piece_len[id]);
		o += t->piece_len[id];
	}
	buf[o] = '\0';
	*out = buf;
	if (out_len)
		*out_len = o;
	return TK_OK;
}
