/* What the eval*.c files share: a growable string for the normalisers. */
#ifndef TK_EVAL_INTERNAL_H
#define TK_EVAL_INTERNAL_H

#include "tk_error.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A NUL-terminated string that grows; a failed growth is sticky (failed)
 * and reported once, at the end, by sbuf_take. */
typedef struct sbuf {
	char *s;
	size_t n, cap;
	int failed;
} sbuf;

static inline void sbuf_put(sbuf *b, const char *p, size_t n)
{
	if (b->failed)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 32;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *s = tk_realloc(b->s, cap);
		if (!s) {
			b->failed = 1;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->n, p, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static inline void sbuf_putc(sbuf *b, char c) { sbuf_put(b, &c, 1); }
static inline void sbuf_puts(sbuf *b, const char *s) { sbuf_put(b, s, strlen(s)); }

/* Hands the string to *out (an empty string when nothing was put):
 * TK_OK, or TK_EOSERR after a failed growth (*out NULL). */
static inline int sbuf_take(sbuf *b, char **out)
{
	if (!b->failed && !b->s)
		sbuf_put(b, "", 0);
	if (b->failed) {
		free(b->s);
		*out = NULL;
		return TK_EOSERR;
	}
	*out = b->s;
	return TK_OK;
}

static inline int is_digit(int c) { return c >= '0' && c <= '9'; }
static inline int is_alpha(int c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }
static inline int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }



/* ---- a string-keyed hash table (eval_table.c) -------------------------- */

typedef struct eval_entry {
	char *key;            /* NULL: an empty slot */
	char *value;          /* tk_eval_map's value */
	size_t n, correct;    /* tk_eval_groups' tallies */
} eval_entry;

typedef struct eval_table {
	eval_entry *slots;    /* (cap), cap a power of two */
	size_t cap, count;
} eval_table;

/* The entry of key; with create, a new zeroed one (key copied) when there
 * is none.  NULL when absent, or on TK_EOSERR (*failed set). */
eval_entry *eval_table_find(eval_table *t, const char *key, int create, int *failed);
void eval_table_free(eval_table *t);

/* ---- building JSON lines and reports (eval_report.c) ------------------ */

struct cJSON;

/* A JSON object being built: o, and ok until an addition fails (cJSON's
 * adders return NULL when out of memory). */
typedef struct eval_json {
	struct cJSON *o;
	int ok;
} eval_json;

eval_json eval_json_new(void);
void eval_json_number(eval_json *j, const char *key, double v);
/* NaN and infinities as null: JSON has no such numbers. */
void eval_json_finite(eval_json *j, const char *key, double v);
void eval_json_string(eval_json *j, const char *key, const char *s); /* NULL: null */
void eval_json_bool(eval_json *j, const char *key, int v);
/* Adds item (a copy when copy, else taken); NULL item: ok 0. */
void eval_json_item(eval_json *j, const char *key, const struct cJSON *item, int copy);
/* "model": model, "adapter": adapter or null. */
void eval_json_sources(eval_json *j, const char *model, const char *adapter);
/* The object on one line, malloc'd in *out; frees j's object.  TK_EOSERR
 * when an addition or the printing failed. */
int eval_json_take(eval_json *j, char **out);

#endif
