/* Reading a token stream into a training index (tk_dataset.h). */
#include "tk_dataset.h"

#include "tk_error.h"
#include "tk_rng.h"
#include "tk_tks.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Growable arrays of the dataset, doubled as records arrive. */
typedef struct grow {
	size_t tok_cap, rec_cap, unit_cap;
	int64_t *group;        // (rec_cap) group id of each kept record
	int32_t *role;         // (rec_cap) pair role
} grow;

static int reserve(tk_dataset *d, grow *g, size_t tokens)
{
	if (d->n_tokens + tokens > g->tok_cap) {
		size_t cap = (d->n_tokens + tokens) * 2;
		int32_t *t = tk_realloc(d->tokens, cap * sizeof *t);
		if (!t)
			return TK_EOSERR;
		d->tokens = t;
		float *w = tk_realloc(d->weights, cap * sizeof *w);
		if (!w)
			return TK_EOSERR;
		d->weights = w;
		g->tok_cap = cap;
	}
	if (d->n_records + 2 > g->rec_cap) {
		size_t cap = g->rec_cap ? 2 * g->rec_cap : 1024;
		size_t *s = tk_realloc(d->starts, cap * sizeof *s);
		int64_t *gr = s ? tk_realloc(g->group, cap * sizeof *gr) : NULL;
		if (s)
			d->starts = s;
		if (gr)
			g->group = gr;
		int32_t *ro = gr ? tk_realloc(g->role, cap * sizeof *ro) : NULL;
		if (!ro)
			return TK_EOSERR;
		g->role = ro;
		g->rec_cap = cap;
	}
	return TK_OK;
}

/* The top-K arrays as wide as k (from top_k), for tok_cap tokens; rows
 * kept, new slots empty. */
static int widen_top(tk_dataset *d, size_t tok_cap, size_t k)
{
	if (k > SIZE_MAX / 8 / (tok_cap ? tok_cap : 1))
		return tk_fail(TK_EOSERR, "a top-%zu of %zu tokens does not fit in memory", k, tok_cap);
	int32_t *ids = tk_malloc(tok_cap * k * sizeof *ids);
	float *q = tk_malloc(tok_cap * k * sizeof *q);
	if (!ids || !q) {
		free(ids);
		free(q);
		return TK_EOSERR;
	}
	for (size_t i = 0; i < d->n_tokens; i++)
		for (size_t s = 0; s < k; s++) {
			int old = s < d->top_k;
			ids[i * k + s] = old ? d->top_ids[i * d->top_k + s] : -1;
			q[i * k + s] = old ? d->top_q[i * d->top_k + s] : 0.0f;
		}
	free(d->top_ids);
	free(d->top_q);
	d->top_ids = ids;
	d->top_q = q;
	d->top_k = k;
	return TK_OK;
}

/* Record r's top-K (or empty rows) after the tokens kept so far. */
static int keep_top(tk_dataset *d, const grow *g, const tk_record *r)
{
	if (r->top_k > d->top_k) {
		int rc = widen_top(d, g->tok_cap, r->top_k);
		if (rc)
			return rc;
	}
	size_t k = d->top_k;
	for (size_t i = 0; i < r->n; i++) {
		int32_t *ids = d->top_ids + (d->n_tokens + i) * k;
		float *q = d->top_q + (d->n_tokens + i) * k;
		for (size_t s = 0; s < k; s++)
			ids[s] = s < r->top_k ? r->top_ids[i * r->top_k + s] : -1, q[s] = 0.0f;
		if (r->top_k)
			tk_record_top_probs(r, i, q);
	}
	return TK_OK;
}

static int weighted(const tk_record *r)
{
	for (size_t i = 1; i < r->n; i++)
		if (r->weights[i] != 0)
			return 1;
	return 0;
}

static int keep(tk_dataset *d, grow *g, const tk_record *r)
{
	size_t cap = g->tok_cap;
	int rc = reserve(d, g, r->n);
	if (!rc && d->top_k && g->tok_cap != cap) // the token arrays grew
		rc = widen_top(d, g->tok_cap, d->top_k);
	if (!rc)
		rc = keep_top(d, g, r);
	if (rc)
		return rc;
	if (d->n_records == 0)
		d->starts[0] = 0;
	memcpy(d->tokens + d->n_tokens, r->tokens, r->n * sizeof *r->tokens);
	memcpy(d->weights + d->n_tokens, r->weights, r->n * sizeof *r->weights);
	g->group[d->n_records] = r->group;
	g->role[d->n_records] = r->pair_role;
	d->n_tokens += r->n;
	d->starts[++d->n_records] = d->n_tokens;
	return TK_OK;
}

static int read_all(tk_dataset *d, grow *g, const char *path, const tk_dataset_options *o)
{
	tk_tks_reader *rd;
	int rc = tk_tks_reader_open(&rd, path);
	if (rc)
		return rc;
	d->meta_json = tk_strdup(tk_tks_reader_meta(rd));
	tk_record r;
	tk_record_init(&r);
	while (!rc && d->meta_json && (rc = tk_tks_read(rd, &r)) == TK_OK) {
		d->read++;
		if (o->max_len && r.n > o->max_len) {
			d->too_long++;
			d->longest = r.n > d->longest ? r.n : d->longest;
		} else if (!o->pairs && !weighted(&r)) {
			d->unweighted++;
		} else {
			rc = keep(d, g, &r);
		}
	}
	tk_record_free(&r);
	tk_tks_reader_close(rd);
	if (!d->meta_json)
		return TK_EOSERR;
	return rc == TK_END ? TK_OK : rc;
}

static int add_unit(tk_dataset *d, grow *g, size_t first, size_t count)
{
	if (d->n_units == g->unit_cap) {
		size_t cap = g->unit_cap ? 2 * g->unit_cap : 1024;
		tk_unit *u = tk_realloc(d->units, cap * sizeof *u);
		if (!u)
			return TK_EOSERR;
		d->units = u;
		g->unit_cap = cap;
	}
	d->units[d->n_units++] = (tk_unit){first, count,
		d->starts[first + count] - d->starts[first]};
	return TK_OK;
}

/* Pairs: a chosen record directly followed by the rejected one of the same
 * group (as tk-render writes them); anything else is counted unpaired. */
static int make_units(tk_dataset *d, grow *g, const tk_dataset_options *o)
{
	int rc = TK_OK;
	for (size_t r = 0; r < d->n_records && !rc; r++) {
		if (!o->pairs) {
			rc = add_unit(d, g, r, 1);
		} else if (r + 1 < d->n_records && g->role[r] == 1 && g->role[r + 1] == 2 &&
			   g->group[r] == g->group[r + 1]) {
			rc = add_unit(d, g, r, 2);
			r++;
		} else {
			d->unpaired++;
		}
	}
	return rc;
}

int tk_dataset_load(tk_dataset **out, const char *path, const tk_dataset_options *o)
{
	*out = NULL;
	tk_dataset *d = tk_calloc(1, sizeof *d);
	if (!d)
		return TK_EOSERR;
	grow g = {0};
	int rc = reserve(d, &g, 1);
	if (!rc)
		rc = read_all(d, &g, path, o);
	if (!rc)
		rc = make_units(d, &g, o);
	if (!rc && d->n_records == 0)
		d->starts[0] = 0;
	free(g.group);
	free(g.role);
	if (rc) {
		tk_dataset_free(d);
		return rc;
	}
	*out = d;
	return TK_OK;
}

void tk_dataset_free(tk_dataset *d)
{
	if (!d)
		return;
	free(d->meta_json);
	free(d->tokens);
	free(d->weights);
	free(d->starts);
	free(d->units);
	free(d->top_ids);
	free(d->top_q);
	free(d);
}

void tk_dataset_order(const tk_dataset *d, size_t *order, uint64_t seed, uint64_t epoch,
		      int shuffle)
{
	for (size_t i = 0; i < d->n_units; i++)
		order[i] = i;
	if (!shuffle)
		return;
	tk_rng rng;
	tk_rng_seed(&rng, seed ^ (0x9e3779b97f4a7c15ull * (epoch + 1)));
	for (size_t i = d->n_units; i > 1; i--) { // Fisher-Yates
		size_t j = (size_t)tk_rng_below(&rng, i);
		size_t t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
}

int tk_dataset_tokenizer(const tk_dataset *d, char out[17])
{
	cJSON *meta = cJSON_Parse(d->meta_json);
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer");
	int rc = TK_END;
	if (cJSON_IsString(fp)) {
		snprintf(out, 17, "%s", fp->valuestring);
		rc = TK_OK;
	}
	cJSON_Delete(meta);
	return rc;
}

void tk_dataset_fingerprint_hex(const tk_dataset *d, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ull;
	const unsigned char *p[2] = {(const void *)d->tokens, (const void *)d->weights};
	size_t n[2] = {d->n_tokens * 4, d->n_tokens * 4};
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < n[k]; i++)
			h = (h ^ p[k][i]) * 0x100000001b3ull;
	snprintf(out, 17, "%016" PRIx64, h);
}
