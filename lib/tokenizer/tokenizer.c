/* The tokenizer object: building it (shared by the tokenizer.json and
 * GGUF loaders) and its fingerprint. */
#include "tokenizer_internal.h"

#include "tk_error.h"

#include <stdlib.h>
#include <string.h>

int tk_tokenizer_alloc(tk_tokenizer **out, size_t n_vocab)
{
	*out = NULL;
	if (n_vocab == 0 || n_vocab > INT32_MAX / 2)
		return tk_fail(TK_EDATA, "vocabulary size %zu out of range",
			       n_vocab);
	tk_tokenizer *t = tk_calloc(1, sizeof *t);
	if (!t)
		return TK_EOSERR;
	t->n_vocab = n_vocab;
	t->text_off = tk_calloc(n_vocab, sizeof *t->text_off);
	t->text_len = tk_calloc(n_vocab, sizeof *t->text_len);
	t->piece_off = tk_calloc(n_vocab, sizeof *t->piece_off);
	t->piece_len = tk_calloc(n_vocab, sizeof *t->piece_len);
	t->type = tk_calloc(n_vocab, 1);
	if (!t->text_off || !t->text_len || !t->piece_off || !t->piece_len ||
	    !t->type) {
		tk_tokenizer_free(t);
		return TK_EOSERR;
	}
	t->unk_id = t->bos = t->eos = t->pad = -1;
	*out = t;
	return TK_OK;
}

void tk_tokenizer_free(tk_tokenizer *t)
{
	if (!t)
		return;
	free(t->text);
	free(t->text_off);
	free(t->text_len);
	free(t->piece);
	free(t->piece_off);
	free(t->piece_len);
	free(t->type);
	free(t->whole);
	tk_strmap_free(&t->piece_map);
	free(t->merge_pairs);
	tk_mergemap_free(&t->merges);
	free(t->added);
	free(t->chat_template);
	free(t);
}

/* Appends n bytes to a growable arena; returns the offset or -1. */
static int64_t arena_append(char **arena, size_t *used, size_t *cap,
			    const char *s, size_t n)
{
	if (*used + n > UINT32_MAX) {
		tk_fail(TK_EDATA, "vocabulary text larger than 4 GiB");
		return -1;
	}
	if (*used + n + 1 > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (c < *used + n + 1)
			c *= 2;
		char *a = tk_realloc(*arena, c);
		if (!a)
			return -1;
		*arena = a;
		*cap = c;
	}
	int64_t off = (int64_t)*used;
	if (n)
		memcpy(*arena + *used, s, n);
	*used += n;
	(*arena)[*used] = '\0';
	return off;
}

int tk_tokenizer_set_token(tk_tokenizer *t, int32_t id, const char *text,
			   size_t len, int type)
{
	if (id < 0 || (size_t)id >= t->n_vocab)
		return tk_fail(TK_EDATA, "token id %d out of range", (int)id);
	int64_t off = arena_append(&t->text, &t->text_used,
				   &t->text_cap, text, len);
	if (off < 0)
		return TK_EOSERR;
	t->text_off[id] = (uint32_t)off;
	t->text_len[id] = (uint32_t)len;
	t->type[id] = (uint8_t)type;
	/* The piece: byte-level decoded, or the text itself for added tokens
	 * (tokenizer.json keeps their content as is, and GGUF converters store
	 * user-defined ones decoded) and for text that is not byte-level. */
	char small[256];
	char *buf = len <= sizeof small ? small : tk_malloc(len);
	if (!buf)
		return TK_EOSERR;
	size_t plen = tk_bytelevel_decode(text, len, buf);
	if (plen == (size_t)-1 || type == TK_TOKEN_CONTROL ||
	    type == TK_TOKEN_USER_DEFINED) {
		memcpy(buf, text, len);
		plen = len;
	}
	off = arena_append(&t->piece, &t->piece_used, &t->piece_cap,
			   buf, plen);
	if (buf != small)
		free(buf);
	if (off < 0)
		return TK_EOSERR;
	t->piece_off[id] = (uint32_t)off;
	t->piece_len[id] = (uint32_t)plen;
	return TK_OK;
}

int tk_tokenizer_add_merges(tk_tokenizer *t, size_t n_merges,
			    int (*get)(void *ctx, size_t i, const char **a,
				       size_t *alen, const char **b,
				       size_t *blen),
			    void *ctx, const char *what)
{
	struct tk_strmap text_map;
	int rc = tk_strmap_init(&text_map, t->n_vocab, t->text, t->text_off,
				t->text_len);
	if (rc)
		return rc;
	for (size_t id = 0; id < t->n_vocab; id++) /* the lowest id wins */
		if (t->type[id] != TK_TOKEN_UNUSED || t->text_len[id])
			tk_strmap_add(&text_map, (int32_t)id);
	t->merge_pairs = tk_malloc((n_merges ? n_merges : 1) * 2 * sizeof(int32_t));
	if (!t->merge_pairs || (rc = tk_mergemap_init(&t->merges, n_merges))) {
		tk_strmap_free(&text_map);
		return TK_EOSERR;
	}
	char *joined = NULL;
	size_t joined_cap = 0;
	for (size_t i = 0; i < n_merges && !rc; i++) {
		const char *a, *b;
		size_t alen, blen;
		if ((rc = get(ctx, i, &a, &alen, &b, &blen)))
			break;
		int32_t left = tk_strmap_get(&text_map, a, alen);
		int32_t right = tk_strmap_get(&text_map, b, blen);
		if (alen + blen > joined_cap) {
			joined_cap = 2 * (alen + blen) + 64;
			char *j = tk_realloc(joined, joined_cap);
			if (!j) {
				rc = TK_EOSERR;
				break;
			}
			joined = j;
		}
		memcpy(joined, a, alen);
		memcpy(joined + alen, b, blen);
		int32_t result = tk_strmap_get(&text_map, joined, alen + blen);
		if (left < 0 || right < 0 || result < 0) {
			const char *miss = left < 0 ? a : right < 0 ? b : joined;
			int mlen = (int)(left < 0 ? alen : right < 0 ? blen : alen + blen);
			rc = tk_fail(TK_EDATA, "%s: merge %zu (\"%.*s %.*s\"): token \"%.*s\" is not in the vocabulary",
				     what, i, (int)alen, a, (int)blen, b, mlen, miss);
			break;
		}
		t->merge_pairs[2 * i] = left;
		t->merge_pairs[2 * i + 1] = right;
		tk_mergemap_put(&t->merges, left, right, (uint32_t)i, result);
	}
	free(joined);
	tk_strmap_free(&text_map);
	if (!rc)
		t->n_merges = n_merges;
	return rc;
}

/* ---- finishing -------------------------------------------------------- */

/* FNV-1a over what decides the ids, with lengths so fields cannot run
 * into one another. */
static void fp_bytes(uint64_t *h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		*h = (*h ^ p[i]) * 0x100000001b3ull;
}

static void fp_u64(uint64_t *h, uint64_t v) { fp_bytes(h, &v, sizeof v); }

static uint64_t fingerprint(const tk_tokenizer *t)
{
	uint64_t h = 0xcbf29ce484222325ull;
	fp_bytes(&h, "tk-tokenizer/1", 14);
	fp_u64(&h, t->n_vocab);
	for (size_t id = 0; id < t->n_vocab; id++) {
		int kind = t->type[id] == TK_TOKEN_CONTROL ? 1 :
			   t->type[id] == TK_TOKEN_USER_DEFINED ? 2 : 0;
		fp_u64(&h, (uint64_t)t->text_len[id] << 8 | (uint64_t)kind);
		fp_bytes(&h, t->text + t->text_off[id], t->text_len[id]);
	}
	fp_u64(&h, t->n_merges);
	fp_bytes(&h, t->merge_pairs, t->n_merges * 2 * sizeof(int32_t));
	fp_u64(&h, t->n_pre);
	fp_bytes(&h, t->pre, t->n_pre);
	fp_u64(&h, (uint64_t)t->ignore_merges);
	fp_u64(&h, (uint64_t)t->nfc);
	for (size_t i = 0; i < t->n_added; i++) {
		const struct tk_added *a = &t->added[i];
		fp_u64(&h, (uint64_t)a->id << 8 | a->special |
			       a->lstrip << 1 | a->rstrip << 2 |
			       a->single_word << 3);
	}
	return h;
}

/* Control and user-defined tokens are the added tokens matched in text,
 * by their piece. */
static int collect_added(tk_tokenizer *t, const struct tk_added *flags,
			 size_t n_flags)
{
	size_t n = 0;
	for (size_t id = 0; id < t->n_vocab; id++)
		n += t->type[id] == TK_TOKEN_CONTROL ||
		     t->type[id] == TK_TOKEN_USER_DEFINED;
	t->added = tk_calloc(n ? n : 1, sizeof *t->added);
	if (!t->added)
		return TK_EOSERR;
	for (size_t id = 0; id < t->n_vocab; id++) {
		if (t->type[id] != TK_TOKEN_CONTROL &&
		    t->type[id] != TK_TOKEN_USER_DEFINED)
			continue;
		if (t->piece_len[id] == 0)
			continue; /* an empty token never matches */
		struct tk_added *a = &t->added[t->n_added++];
		a->id = (int32_t)id;
		a->off = t->piece_off[id];
		a->len = t->piece_len[id];
		a->special = t->type[id] == TK_TOKEN_CONTROL;
		for (size_t k = 0; k < n_flags; k++) {
			if (flags[k].id == a->id) {
				a->lstrip = flags[k].lstrip;
				a->rstrip = flags[k].rstrip;
				a->single_word = flags[k].single_word;
			}
		}
		unsigned char first = (unsigned char)t->piece[a->off];
		t->added_first[first] |= 1;
		if (!a->special)
			t->added_first[first] |= 2;
	}
	return TK_OK;
}

int tk_tokenizer_finish_with(tk_tokenizer *t, const struct tk_added *flags,
			     size_t n_flags)
{
	int rc = tk_strmap_init(&t->piece_map, t->n_vocab, t->piece,
				t->piece_off, t->piece_len);
	if (rc)
		return rc;
	for (size_t id = 0; id < t->n_vocab; id++)
		if (t->type[id] != TK_TOKEN_UNUSED && t->text_len[id])
			tk_strmap_add(&t->piece_map, (int32_t)id);
	/* one-byte tokens: only normal ones take part in merging */
	for (int b = 0; b < 256; b++) {
		char c = (char)b;
		int32_t id = tk_strmap_get(&t->piece_map, &c, 1);
		t->byte_id[b] = id >= 0 && t->type[id] != TK_TOKEN_CONTROL ? id : -1;
	}
	if ((rc = tk_bpe_find_whole(t)) || (rc = collect_added(t, flags, n_flags)))
		return rc;
	t->fingerprint = fingerprint(t);
	return TK_OK;
}

int tk_tokenizer_finish(tk_tokenizer *t)
{
	return tk_tokenizer_finish_with(t, NULL, 0);
}
