/* The tokenizer's hash maps: byte strings -> ids, and merge pairs ->
 * (rank, result).  Open addressing, linear probing, sized once at load. */
#include "tokenizer_internal.h"

#include "tk_error.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a folded through a final mix: strings here are short tokens. */
uint64_t tk_hash_bytes(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static size_t table_size(size_t n)
{
	size_t size = 16;
	while (size < 2 * n + 1)
		size <<= 1;
	return size;
}

int tk_strmap_init(struct tk_strmap *m, size_t capacity, const char *arena,
		   const uint32_t *off, const uint32_t *len)
{
	size_t size = table_size(capacity);
	m->slots = tk_calloc(size, sizeof *m->slots);
	if (!m->slots)
		return TK_EOSERR;
	m->mask = size - 1;
	m->arena = arena;
	m->off = off;
	m->len = len;
	return TK_OK;
}

static size_t strmap_find(const struct tk_strmap *m, const char *s, size_t n)
{
	size_t i = (size_t)tk_hash_bytes(s, n) & m->mask;
	for (;;) {
		uint32_t v = m->slots[i];
		if (!v)
			return i;
		uint32_t id = v - 1;
		if (m->len[id] == n && memcmp(m->arena + m->off[id], s, n) == 0)
			return i;
		i = (i + 1) & m->mask;
	}
}

void tk_strmap_add(struct tk_strmap *m, int32_t id)
{
	size_t i = strmap_find(m, m->arena + m->off[id], m->len[id]);
	if (!m->slots[i])
		m->slots[i] = (uint32_t)id + 1;
}

int32_t tk_strmap_get(const struct tk_strmap *m, const char *s, size_t n)
{
	uint32_t v = m->slots[strmap_find(m, s, n)];
	return v ? (int32_t)(v - 1) : -1;
}

void tk_strmap_free(struct tk_strmap *m)
{
	free(m->slots);
	m->slots = NULL;
}

int tk_mergemap_init(struct tk_mergemap *m, size_t n_merges)
{
	size_t size = table_size(n_merges);
	m->slots = tk_malloc(size * sizeof *m->slots);
	if (!m->slots)
		return TK_EOSERR;
	for (size_t i = 0; i < size; i++)
		m->slots[i].key = UINT64_MAX;
	m->mask = size - 1;
	return TK_OK;
}

/* Keeps the first (lowest) rank when a pair repeats, as tokenizers does
 * when it builds its merge map. */
void tk_mergemap_put(struct tk_mergemap *m, int32_t left, int32_t right,
		     uint32_t rank, int32_t result)
{
	uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
	size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & m->mask;
	while (m->slots[i].key != UINT64_MAX) {
		if (m->slots[i].key == key)
			return;
		i = (i + 1) & m->mask;
	}
	m->slots[i].key = key;
	m->slots[i].rank = rank;
	m->slots[i].result = result;
}

void tk_mergemap_free(struct tk_mergemap *m)
{
	free(m->slots);
	m->slots = NULL;
}
