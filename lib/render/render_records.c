/* The way back from tk_render_show_json: a record from its JSON object,
 * so that any program in a pipe (a grader in Python, say) can read a
 * token stream as JSON Lines, add or change fields (reward, advantages,
 * top-K targets) and hand it on to be written as a stream again
 * (tk-render --from-json).  Only the record's own fields are read; the
 * ones show adds for people (record, n, trained, weight_sum, pieces,
 * text) are ignored, so a line printed by show reads back as it was. */
#include "tk_error.h"
#include "tk_io.h"
#include "tk_render.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tk_render_record_json_free(tk_record *rec)
{
	free(rec->tokens);
	free(rec->weights);
	free(rec->logprobs);
	free(rec->advantages);
	free(rec->top_ids);
	free(rec->top_values);
	free(rec->meta);
	tk_record_init(rec);
}

/* An integer-valued JSON number within lo..hi into *v. */
static int get_int(const cJSON *j, double lo, double hi, int64_t *v)
{
	if (!cJSON_IsNumber(j) || !(j->valuedouble >= lo && j->valuedouble <= hi) ||
	    j->valuedouble != floor(j->valuedouble))
		return 0;
	*v = (int64_t)j->valuedouble;
	return 1;
}

static int get_tokens(const cJSON *a, tk_record *rec)
{
	if (!cJSON_IsArray(a))
		return tk_fail(TK_EDATA, "\"tokens\" must be an array of token ids");
	rec->n = (size_t)cJSON_GetArraySize(a);
	rec->tokens = tk_malloc((rec->n ? rec->n : 1) * sizeof *rec->tokens);
	if (!rec->tokens)
		return TK_EOSERR;
	size_t i = 0;
	for (const cJSON *t = a->child; t; t = t->next, i++) {
		int64_t v;
		if (!get_int(t, 0, INT32_MAX, &v))
			return tk_fail(TK_EDATA, "\"tokens\"[%zu] is not a token id (an integer >= 0)", i);
		rec->tokens[i] = (int32_t)v;
	}
	return TK_OK;
}

/* A per-token array of n numbers (null as 0: tk-eval's first logprob). */
static int get_floats(const cJSON *a, const char *key, size_t n, float **out)
{
	if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n)
		return tk_fail(TK_EDATA, "\"%s\" must be an array of %zu numbers, one a token", key, n);
	float *v = tk_malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return TK_EOSERR;
	*out = v;
	size_t i = 0;
	for (const cJSON *x = a->child; x; x = x->next, i++) {
		if (!cJSON_IsNumber(x) && !cJSON_IsNull(x))
			return tk_fail(TK_EDATA, "\"%s\"[%zu] is not a number", key, i);
		v[i] = cJSON_IsNumber(x) ? (float)x->valuedouble : 0.0f;
	}
	return TK_OK;
}

/* The widest row of a top-K array (a row a token, null or an array). */
static int top_width(const cJSON *a, const char *key, size_t n, size_t *k)
{
	if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n)
		return tk_fail(TK_EDATA, "\"%s\" must be an array of %zu rows, one a token", key, n);
	*k = 0;
	size_t i = 0;
	for (const cJSON *row = a->child; row; row = row->next, i++) {
		if (!cJSON_IsArray(row) && !cJSON_IsNull(row))
			return tk_fail(TK_EDATA, "\"%s\"[%zu] is not an array (or null)", key, i);
		size_t w = cJSON_IsArray(row) ? (size_t)cJSON_GetArraySize(row) : 0;
		*k = w > *k ? w : *k;
	}
	if (*k > TK_TKS_MAX_TOP_K)
		return tk_fail(TK_EDATA, "\"%s\" has a row of %zu, more than the %d a stream holds",
			       key, *k, TK_TKS_MAX_TOP_K);
	return TK_OK;
}

/* Row i of the top-K: ids and values side by side, the rest of the row
 * empty (id −1). */
static int top_row(tk_record *rec, size_t i, const cJSON *ids, const cJSON *values,
		   const char *key)
{
	int32_t *id = rec->top_ids + i * rec->top_k;
	float *value = rec->top_values + i * rec->top_k;
	size_t w = cJSON_IsArray(ids) ? (size_t)cJSON_GetArraySize(ids) : 0;
	size_t wv = cJSON_IsArray(values) ? (size_t)cJSON_GetArraySize(values) : 0;
	if (w != wv)
		return tk_fail(TK_EDATA, "token %zu has %zu top-K ids but %zu %s", i, w, wv, key);
	for (size_t j = 0; j < rec->top_k; j++)
		id[j] = -1, value[j] = 0.0f;
	const cJSON *x = w ? ids->child : NULL, *y = w ? values->child : NULL;
	for (size_t j = 0; j < w; j++, x = x->next, y = y->next) {
		int64_t v;
		if (!get_int(x, 0, INT32_MAX, &v) || !cJSON_IsNumber(y))
			return tk_fail(TK_EDATA, "token %zu top-K entry %zu: an id >= 0 and a number wanted",
				       i, j);
		id[j] = (int32_t)v;
		value[j] = (float)y->valuedouble;
	}
	return TK_OK;
}

static int get_top(const cJSON *o, tk_record *rec)
{
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(o, "top_ids");
	const cJSON *lp = cJSON_GetObjectItemCaseSensitive(o, "top_logprobs");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "top_weights");
	if (!ids && !lp && !w)
		return TK_OK;
	if (!ids || !lp == !w)
		return tk_fail(TK_EDATA, "a top-K is \"top_ids\" with one of \"top_logprobs\" and \"top_weights\"");
	const char *key = lp ? "top_logprobs" : "top_weights";
	const cJSON *values = lp ? lp : w;
	size_t k = 0;
	int rc = top_width(ids, "top_ids", rec->n, &k);
	if (rc || k == 0)
		return rc; /* no token has an alternative: no top-K */
	if ((size_t)cJSON_GetArraySize(values) != rec->n)
		return tk_fail(TK_EDATA, "\"%s\" must be an array of %zu rows, one a token", key, rec->n);
	rec->top_k = k;
	rec->top_weights = w != NULL;
	rec->top_ids = tk_malloc(rec->n * k * sizeof *rec->top_ids);
	rec->top_values = tk_malloc(rec->n * k * sizeof *rec->top_values);
	if (!rec->top_ids || !rec->top_values)
		return TK_EOSERR;
	const cJSON *x = ids->child, *y = values->child;
	for (size_t i = 0; !rc && i < rec->n; i++, x = x->next, y = y->next)
		rc = top_row(rec, i, x, y, key);
	return rc;
}

/* group, pair_role, reward and meta. */
static int get_record_fields(const cJSON *o, tk_record *rec)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "group");
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(o, "pair_role");
	const cJSON *reward = cJSON_GetObjectItemCaseSensitive(o, "reward");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "meta");
	if (g && !cJSON_IsNull(g) && !get_int(g, -1, 9007199254740992.0, &rec->group))
		return tk_fail(TK_EDATA, "\"group\" must be an integer >= -1 (-1: none)");
	if (role && !cJSON_IsNull(role)) {
		const char *r = cJSON_GetStringValue(role);
		rec->pair_role = r && !strcmp(r, "chosen") ? TK_PAIR_CHOSEN
			       : r && !strcmp(r, "rejected") ? TK_PAIR_REJECTED : -1;
		if (rec->pair_role < 0)
			return tk_fail(TK_EDATA, "\"pair_role\" must be \"chosen\" or \"rejected\"");
	}
	if (reward && !cJSON_IsNull(reward)) {
		if (!cJSON_IsNumber(reward) || !isfinite(reward->valuedouble))
			return tk_fail(TK_EDATA, "\"reward\" must be a finite number (or null: none)");
		rec->has_reward = 1;
		rec->reward = reward->valuedouble;
	}
	if (meta && !cJSON_IsNull(meta)) {
		if (!cJSON_IsObject(meta))
			return tk_fail(TK_EDATA, "\"meta\" must be a JSON object");
		rec->meta = cJSON_PrintUnformatted(meta);
		if (!rec->meta)
			return TK_EOSERR;
	}
	return TK_OK;
}

static int from_object(const cJSON *o, tk_record *rec)
{
	int rc = get_tokens(cJSON_GetObjectItemCaseSensitive(o, "tokens"), rec);
	if (!rc)
		rc = get_floats(cJSON_GetObjectItemCaseSensitive(o, "weights"), "weights", rec->n,
				&rec->weights);
	const cJSON *lp = cJSON_GetObjectItemCaseSensitive(o, "logprobs");
	const cJSON *adv = cJSON_GetObjectItemCaseSensitive(o, "advantages");
	if (!rc && lp && !cJSON_IsNull(lp))
		rc = get_floats(lp, "logprobs", rec->n, &rec->logprobs);
	if (!rc && adv && !cJSON_IsNull(adv))
		rc = get_floats(adv, "advantages", rec->n, &rec->advantages);
	if (!rc)
		rc = get_top(o, rec);
	return rc ? rc : get_record_fields(o, rec);
}

int tk_render_record_from_json(const char *text, size_t len, tk_record *rec)
{
	tk_record_init(rec);
	cJSON *o = tk_jsonl_parse(text, len); /* an object, or NULL with the message */
	if (!o)
		return TK_EDATA;
	int rc = from_object(o, rec);
	cJSON_Delete(o);
	if (rc)
		tk_render_record_json_free(rec);
	return rc;
}

int tk_render_records_from_json(FILE *in, const char *name, tk_tks_writer *w, uint64_t *records)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t at = 0;
	int rc = TK_OK;
	*records = 0;
	while (!rc && (len = getline(&line, &cap, in)) >= 0) {
		at++;
		if (tk_jsonl_blank(line, (size_t)len))
			continue;
		tk_record rec;
		rc = tk_render_record_from_json(line, (size_t)len, &rec);
		if (!rc)
			rc = tk_tks_write(w, &rec);
		tk_render_record_json_free(&rec);
		if (rc)
			rc = tk_fail(rc == TK_EUSAGE ? TK_EDATA : rc, "%s:%" PRIu64 ": %s", name, at,
				     tk_error_message());
		else
			(*records)++;
	}
	free(line);
	if (!rc && ferror(in))
		rc = tk_fail(TK_EIO, "%s: read error", name);
	return rc;
}

char *tk_render_records_meta(const char *tokenizer, size_t vocab_size, const char *source)
{
	cJSON *meta = cJSON_CreateObject();
	if (tokenizer)
		cJSON_AddStringToObject(meta, "tokenizer", tokenizer);
	if (vocab_size)
		cJSON_AddNumberToObject(meta, "vocab_size", (double)vocab_size);
	cJSON_AddStringToObject(meta, "source", source);
	cJSON_AddStringToObject(meta, "kind", "from-json");
	char *text = meta ? cJSON_PrintUnformatted(meta) : NULL;
	cJSON_Delete(meta);
	return text;
}
