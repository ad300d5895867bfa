/* A small open-addressing hash table of strings: prompt ids to sample
 * tallies, and ids to reference answers. */
#include "eval_internal.h"
#include "tk_eval.h"

#include <stdint.h>
#include <stdlib.h>

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static eval_entry *probe(eval_entry *slots, size_t cap, const char *key)
{
	size_t i = (size_t)hash(key) & (cap - 1);
	while (slots[i].key && strcmp(slots[i].key, key))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static int grow(eval_table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64;
	eval_entry *slots = tk_calloc(cap, sizeof *slots);
	if (!slots)
		return TK_EOSERR;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].key)
			*probe(slots, cap, t->slots[i].key) = t->slots[i];
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return TK_OK;
}

eval_entry *eval_table_find(eval_table *t, const char *key, int create, int *failed)
{
	if (t->cap) {
		eval_entry *e = probe(t->slots, t->cap, key);
		if (e->key || !create)
			return e->key ? e : NULL;
	}
	if (!create)
		return NULL;
	if ((t->count + 1) * 2 > t->cap && grow(t)) {
		*failed = 1;
		return NULL;
	}
	eval_entry *e = probe(t->slots, t->cap, key);
	e->key = tk_strdup(key);
	if (!e->key) {
		*failed = 1;
		return NULL;
	}
	t->count++;
	return e;
}

void eval_table_free(eval_table *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		free(t->slots[i].key);
		free(t->slots[i].value);
	}
	free(t->slots);
	*t = (eval_table){0};
}

/* ---- tk_eval_map ------------------------------------------------------- */

struct tk_eval_map {
	eval_table t;
};

int tk_eval_map_new(tk_eval_map **out)
{
	*out = tk_calloc(1, sizeof **out);
	return *out ? TK_OK : TK_EOSERR;
}

void tk_eval_map_free(tk_eval_map *m)
{
	if (!m)
		return;
	eval_table_free(&m->t);
	free(m);
}

int tk_eval_map_put(tk_eval_map *m, const char *key, const char *value, int *replaced)
{
	int failed = 0;
	size_t before = m->t.count;
	eval_entry *e = eval_table_find(&m->t, key, 1, &failed);
	if (!e)
		return TK_EOSERR;
	char *copy = tk_strdup(value);
	if (!copy)
		return TK_EOSERR;
	free(e->value);
	e->value = copy;
	if (replaced)
		*replaced = m->t.count == before;
	return TK_OK;
}

const char *tk_eval_map_get(const tk_eval_map *m, const char *key)
{
	eval_entry *e = eval_table_find((eval_table *)&m->t, key, 0, NULL);
	return e ? e->value : NULL;
}

size_t tk_eval_map_count(const tk_eval_map *m) { return m->t.count; }
