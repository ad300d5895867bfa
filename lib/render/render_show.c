/* A token stream's records shown to a person: the text with the trained
 * spans marked, or JSON with each token's id, weight and piece.  Text cut
 * inside a UTF-8 character by a token or span boundary is shown as the
 * replacement character in JSON (which must be valid UTF-8) and as raw
 * bytes in text (so that the spans put back together are the text). */
#include "tk_error.h"
#include "tk_render.h"
#include "tk_utf8.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MARK_OPEN "[["
#define MARK_CLOSE "]]"
#define COLOUR_ON "\033[1;32m"
#define COLOUR_OFF "\033[0m"

static const char *role_label(int role)
{
	return role == TK_PAIR_CHOSEN ? "chosen" : role == TK_PAIR_REJECTED ? "rejected" : NULL;
}

void tk_render_record_stats(const tk_record *rec, size_t *trained, double *sum)
{
	*trained = 0;
	*sum = 0;
	for (size_t i = 0; i < rec->n; i++) {
		*trained += rec->weights[i] != 0;
		*sum += rec->weights[i];
	}
}

static void header(FILE *out, const tk_record *rec, uint64_t index)
{
	size_t trained;
	double sum;
	tk_render_record_stats(rec, &trained, &sum);
	fprintf(out, "# record %llu: %zu tokens, %zu trained, weight sum %g",
		(unsigned long long)index, rec->n, trained, sum);
	if (rec->group >= 0)
		fprintf(out, ", group %lld", (long long)rec->group);
	if (role_label(rec->pair_role))
		fprintf(out, " %s", role_label(rec->pair_role));
	if (rec->has_reward)
		fprintf(out, ", reward %g", rec->reward);
	if (rec->meta)
		fprintf(out, ", meta %s", rec->meta);
	fputc('\n', out);
}

static int show_run(FILE *out, const tk_tokenizer *tok, const tk_record *rec,
		    size_t from, size_t to)
{
	if (!tok) {
		for (size_t i = from; i < to; i++)
			fprintf(out, "%s%d", i > from ? " " : "", rec->tokens[i]);
		return TK_OK;
	}
	char *text;
	size_t len;
	int rc = tk_tokenizer_decode(tok, rec->tokens + from, to - from, 0, &text, &len);
	if (rc)
		return rc;
	fwrite(text, 1, len, out);
	free(text);
	return TK_OK;
}

int tk_render_show_text(FILE *out, const tk_tokenizer *tok, const tk_record *rec,
			uint64_t index, int colour)
{
	header(out, rec, index);
	size_t i = 0;
	int ended_in_newline = 1;
	while (i < rec->n) {
		int trained = rec->weights[i] != 0;
		size_t j = i;
		while (j < rec->n && (rec->weights[j] != 0) == trained)
			j++;
		if (!tok && i > 0)
			fputc(' ', out);
		if (trained)
			fputs(colour ? COLOUR_ON : MARK_OPEN, out);
		int rc = show_run(out, tok, rec, i, j);
		if (rc)
			return rc;
		if (trained)
			fputs(colour ? COLOUR_OFF : MARK_CLOSE, out);
		size_t len = 0;
		const char *last = tok ? tk_tokenizer_piece(tok, rec->tokens[j - 1], &len) : NULL;
		ended_in_newline = !trained && last && len && last[len - 1] == '\n';
		i = j;
	}
	if (!ended_in_newline || rec->n == 0)
		fputc('\n', out);
	fputc('\n', out);
	return TK_OK;
}

static int add_text(cJSON *obj, const char *key, const char *s, size_t n)
{
	char *v = tk_utf8_valid_copy(s, n);
	if (!v || !cJSON_AddStringToObject(obj, key, v)) {
		free(v);
		return TK_EOSERR;
	}
	free(v);
	return TK_OK;
}

static int add_pieces(cJSON *obj, const tk_tokenizer *tok, const tk_record *rec)
{
	cJSON *pieces = cJSON_AddArrayToObject(obj, "pieces");
	for (size_t i = 0; pieces && i < rec->n; i++) {
		size_t len = 0;
		const char *p = tk_tokenizer_piece(tok, rec->tokens[i], &len);
		char *v = tk_utf8_valid_copy(p ? p : "", p ? len : 0);
		cJSON *s = v ? cJSON_CreateString(v) : NULL;
		free(v);
		if (!s || !cJSON_AddItemToArray(pieces, s))
			return TK_EOSERR;
	}
	if (!pieces)
		return TK_EOSERR;
	char *text;
	size_t len;
	int rc = tk_tokenizer_decode(tok, rec->tokens, rec->n, 0, &text, &len);
	if (rc)
		return rc;
	rc = add_text(obj, "text", text, len);
	free(text);
	return rc;
}

static int add_numbers(cJSON *obj, const tk_record *rec)
{
	cJSON *tokens = cJSON_AddArrayToObject(obj, "tokens");
	cJSON *weights = cJSON_AddArrayToObject(obj, "weights");
	for (size_t i = 0; tokens && weights && i < rec->n; i++) {
		cJSON *t = cJSON_CreateNumber(rec->tokens[i]);
		cJSON *w = cJSON_CreateNumber(rec->weights[i]);
		if (!cJSON_AddItemToArray(tokens, t) || !cJSON_AddItemToArray(weights, w))
			return TK_EOSERR;
	}
	return tokens && weights ? TK_OK : TK_EOSERR;
}

/* A per-token array of the record (logprobs, advantages) when it has one. */
static int add_floats(cJSON *obj, const char *key, const float *v, size_t n)
{
	if (!v)
		return TK_OK;
	cJSON *a = cJSON_AddArrayToObject(obj, key);
	for (size_t i = 0; a && i < n; i++)
		if (!cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i])))
			return TK_EOSERR;
	return a ? TK_OK : TK_EOSERR;
}

/* The record's top-K when it has one: "top_ids" and "top_logprobs" (or
 * "top_weights"), a row a token holding its filled slots (ids −1 left
 * out, so the first token's row is usually []). */
static int add_top(cJSON *obj, const tk_record *rec)
{
	if (!rec->top_k)
		return TK_OK;
	cJSON *ids = cJSON_AddArrayToObject(obj, "top_ids");
	cJSON *values = cJSON_AddArrayToObject(obj, rec->top_weights ? "top_weights" : "top_logprobs");
	for (size_t i = 0; ids && values && i < rec->n; i++) {
		cJSON *row_ids = cJSON_CreateArray(), *row_values = cJSON_CreateArray();
		if (!cJSON_AddItemToArray(ids, row_ids) || !cJSON_AddItemToArray(values, row_values))
			return TK_EOSERR;
		for (size_t j = i * rec->top_k; j < (i + 1) * rec->top_k; j++) {
			if (rec->top_ids[j] < 0)
				continue;
			if (!cJSON_AddItemToArray(row_ids, cJSON_CreateNumber(rec->top_ids[j])) ||
			    !cJSON_AddItemToArray(row_values, cJSON_CreateNumber(rec->top_values[j])))
				return TK_EOSERR;
		}
	}
	return ids && values ? TK_OK : TK_EOSERR;
}

static void add_fields(cJSON *obj, const tk_record *rec, uint64_t index)
{
	size_t trained;
	double sum;
	tk_render_record_stats(rec, &trained, &sum);
	cJSON_AddNumberToObject(obj, "record", (double)index);
	cJSON_AddNumberToObject(obj, "n", (double)rec->n);
	cJSON_AddNumberToObject(obj, "trained", (double)trained);
	cJSON_AddNumberToObject(obj, "weight_sum", sum);
	if (rec->group >= 0)
		cJSON_AddNumberToObject(obj, "group", (double)rec->group);
	if (role_label(rec->pair_role))
		cJSON_AddStringToObject(obj, "pair_role", role_label(rec->pair_role));
	if (rec->has_reward)
		cJSON_AddNumberToObject(obj, "reward", rec->reward);
	cJSON *meta = rec->meta ? cJSON_Parse(rec->meta) : NULL;
	if (meta)
		cJSON_AddItemToObject(obj, "meta", meta);
}

int tk_render_show_json(FILE *out, const tk_tokenizer *tok, const tk_record *rec,
			uint64_t index)
{
	cJSON *obj = cJSON_CreateObject();
	if (!obj)
		return tk_fail(TK_EOSERR, "out of memory");
	add_fields(obj, rec, index);
	int rc = add_numbers(obj, rec);
	if (!rc)
		rc = add_floats(obj, "logprobs", rec->logprobs, rec->n);
	if (!rc)
		rc = add_floats(obj, "advantages", rec->advantages, rec->n);
	if (!rc)
		rc = add_top(obj, rec);
	if (!rc && tok)
		rc = add_pieces(obj, tok, rec);
	char *text = rc ? NULL : cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (rc || !text)
		return rc ? rc : tk_fail(TK_EOSERR, "out of memory");
	fputs(text, out);
	fputc('\n', out);
	free(text);
	return TK_OK;
}
