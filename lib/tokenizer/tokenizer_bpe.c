/* Byte-pair merging of one pre-token, as tokenizers' BPE model does it:
 * start from one symbol per byte, then repeatedly merge the adjacent pair
 * with the lowest merge rank, leftmost first among equal ranks.
 *
 * Short pieces (nearly all of them) keep a flat array of symbols with the
 * rank of each adjacent pair and rescan it; long ones (a megabyte without
 * a space) use a heap of candidate merges with lazy invalidation, so that
 * the cost stays O(n log n). */
#include "tokenizer_internal.h"

#include "tk_error.h"

#include <stdlib.h>
#include <string.h>

#define NO_RANK UINT32_MAX
#define SHORT_PIECE 64

static int reserve(struct tk_bpe_scratch *sc, size_t n)
{
	if (n <= sc->cap)
		return TK_OK;
	size_t cap = sc->cap ? sc->cap : 64;
	while (cap < n)
		cap *= 2;
	int32_t *id = tk_realloc(sc->id, cap * sizeof *id);
	if (!id)
		return TK_EOSERR;
	sc->id = id;
	int32_t *prev = tk_realloc(sc->prev, cap * sizeof *prev);
	if (!prev)
		return TK_EOSERR;
	sc->prev = prev;
	int32_t *next = tk_realloc(sc->next, cap * sizeof *next);
	if (!next)
		return TK_EOSERR;
	sc->next = next;
	uint32_t *rank = tk_realloc(sc->rank, cap * sizeof *rank);
	if (!rank)
		return TK_EOSERR;
	sc->rank = rank;
	sc->cap = cap;
	return TK_OK;
}

void tk_bpe_scratch_free(struct tk_bpe_scratch *sc)
{
	free(sc->id);
	free(sc->prev);
	free(sc->next);
	free(sc->rank);
	free(sc->heap);
	memset(sc, 0, sizeof *sc);
}

static inline uint32_t pair_rank(const tk_tokenizer *t, int32_t a, int32_t b,
				 int32_t *result)
{
	if (a < 0 || b < 0)
		return NO_RANK;
	const struct tk_merge_slot *m = tk_mergemap_get(&t->merges, a, b);
	if (!m)
		return NO_RANK;
	*result = m->result;
	return m->rank;
}


static int bpe_short(const tk_tokenizer *t, struct tk_bpe_scratch *sc,
		     size_t m, tk_tokens *out)
{
	int32_t *id = sc->id;
	uint32_t *rank = sc->rank;
	int32_t res = -1;
	for (size_t k = 0; k + 1 < m; k++)
		rank[k] = pair_rank(t, id[k], id[k + 1], &res);
	while (m > 1) {
		size_t best = 0;
		for (size_t k = 1; k + 1 < m; k++)
			if (rank[k] < rank[best])
				best = k;
		if (rank[best] == NO_RANK)
			break;
		pair_rank(t, id[best], id[best + 1], &res);
		id[best] = res;
		memmove(id + best + 1, id + best + 2, (m - best - 2) * sizeof *id);
		memmove(rank + best + 1, rank + best + 2,
			(m - best - 2) * sizeof *rank);
		m--;
		if (best > 0)
			rank[best - 1] = pair_rank(t, id[best - 1], id[best], &res);
		if (best + 1 < m)
			rank[best] = pair_rank(t, id[best], id[best + 1], &res);
	}
	for (size_t k = 0; k < m; k++) {
		int rc = tk_tokens_push(out, id[k]);
		if (rc)
			return rc;
	}
	return TK_OK;
}

/* ---- long pieces: a 4-ary heap ordered by (rank, position) ------------
 * The key packs both, so that one integer comparison orders candidates;
 * four children share a cache line, halving the depth of a binary heap. */
struct cand {
	uint64_t key;           /* rank << 32 | position of the left symbol */
	int32_t left, right;    /* their ids when pushed: stale if changed */
};

struct heap {
	struct cand *v;
	size_t n, cap;
};

static int heap_push(struct heap *h, struct cand c)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 256;
		struct cand *v = tk_realloc(h->v, cap * sizeof *v);
		if (!v)
			return TK_EOSERR;
		h->v = v;
		h->cap = cap;
	}
	size_t i = h->n++;
	while (i > 0 && c.key < h->v[(i - 1) / 4].key) {
		h->v[i] = h->v[(i - 1) / 4];
		i = (i - 1) / 4;
	}
	h->v[i] = c;
	return TK_OK;
}

static struct cand heap_pop(struct heap *h)
{
	struct cand top = h->v[0], last = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 4 * i + 1;
		if (c >= h->n)
			break;
		size_t end = c + 4 < h->n ? c + 4 : h->n, best = c;
		for (size_t k = c + 1; k < end; k++)
			if (h->v[k].key < h->v[best].key)
				best = k;
		if (h->v[best].key >= last.key)
			break;
		h->v[i] = h->v[best];
		i = best;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

static int push_pair(const tk_tokenizer *t, struct heap *h,
		     const int32_t *id, size_t a, size_t b)
{
	int32_t res = -1;
	uint32_t r = pair_rank(t, id[a], id[b], &res);
	if (r == NO_RANK)
		return TK_OK;
	struct cand c = {(uint64_t)r << 32 | a, id[a], id[b]};
	return heap_push(h, c);
}

static int bpe_long(const tk_tokenizer *t, struct tk_bpe_scratch *sc,
		    size_t m, tk_tokens *out)
{
	int32_t *id = sc->id, *prev = sc->prev, *next = sc->next;
	struct heap h = {sc->heap, 0, sc->heap_cap};
	int rc = TK_OK;
	for (size_t k = 0; k < m; k++) {
		prev[k] = (int32_t)k - 1;
		next[k] = k + 1 < m ? (int32_t)k + 1 : -1;
	}
	for (size_t k = 0; k + 1 < m && !rc; k++)
		rc = push_pair(t, &h, id, k, k + 1);
	while (h.n && !rc) {
		struct cand c = heap_pop(&h);
		size_t pos = (uint32_t)c.key;
		int32_t b = next[pos];
		if (id[pos] != c.left || b < 0 || id[b] != c.right)
			continue; /* one side has merged since */
		int32_t res = -1;
		pair_rank(t, c.left, c.right, &res);
		id[pos] = res;
		id[b] = -2; /* dead */
		next[pos] = next[b];
		if (next[b] >= 0)
			prev[next[b]] = (int32_t)pos;
		if (prev[pos] >= 0)
			rc = push_pair(t, &h, id, (size_t)prev[pos], pos);
		if (!rc && next[pos] >= 0)
			rc = push_pair(t, &h, id, pos, (size_t)next[pos]);
	}
	sc->heap = h.v;
	sc->heap_cap = h.cap;
	for (int32_t k = 0; k >= 0 && !rc; k = next[k])
		rc = tk_tokens_push(out, id[k]);
	return rc;
}

/* Which tokens BPE rebuilds whole from their own bytes. */
int tk_bpe_find_whole(tk_tokenizer *t)
{
	uint8_t *whole = tk_calloc(t->n_vocab, 1);
	if (!whole)
		return TK_EOSERR;
	struct tk_bpe_scratch sc = {0};
	tk_tokens ids = {0};
	int ignore = t->ignore_merges, rc = TK_OK;
	t->ignore_merges = 0;
	for (size_t id = 0; id < t->n_vocab && !rc; id++) {
		if (t->type[id] != TK_TOKEN_NORMAL || !t->piece_len[id])
			continue;
		ids.n = 0;
		rc = tk_bpe(t, &sc, (const unsigned char *)t->piece + t->piece_off[id],
			    t->piece_len[id], &ids);
		whole[id] = !rc && ids.n == 1 && ids.ids[0] == (int32_t)id;
	}
	t->ignore_merges = ignore;
	tk_tokens_free(&ids);
	tk_bpe_scratch_free(&sc);
	if (rc) {
		free(whole);
		return rc;
	}
	t->whole = whole;
	return TK_OK;
}

int tk_bpe(const tk_tokenizer *t, struct tk_bpe_scratch *sc,
	   const unsigned char *s, size_t n, tk_tokens *out)
{
	if (t->ignore_merges || t->whole) {
		int32_t id = tk_strmap_get(&t->piece_map, (const char *)s, n);
		if (id >= 0 && (t->ignore_merges || t->whole[id]))
			return tk_tokens_push(out, id);
	}
	int rc = reserve(sc, n);
	if (rc)
		return rc;
	/* A byte without a one-byte token (some vocabularies lack the bytes
	 * never seen in training) becomes unk when there is one, and is
	 * dropped otherwise, before merging, as tokenizers does: its
	 * neighbours may then merge across it. */
	size_t m = 0;
	for (size_t k = 0; k < n; k++) {
		int32_t id = t->byte_id[s[k]];
		if (id < 0 && (id = t->unk_id) < 0)
			continue;
		sc->id[m++] = id;
	}
	if (m == 0)
		return TK_OK;
	return m <= SHORT_PIECE ? bpe_short(t, sc, m, out)
				: bpe_long(t, sc, m, out);
}
