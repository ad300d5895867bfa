/* Negative log-likelihood sums and what a report derives from them, and
 * the NLL of a token stream's records under a model. */
#include "eval_internal.h"
#include "tk_eval.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

void tk_eval_nll_add(tk_eval_nll *acc, const float *logprob, const float *weights,
		     const uint32_t *bytes, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (weights[i] == 0)
			continue;
		acc->nats -= (double)weights[i] * (double)logprob[i];
		acc->weight += weights[i];
		acc->bytes += (double)weights[i] * (double)bytes[i];
		acc->tokens++;
	}
	acc->records++;
}

double tk_eval_nll_mean(const tk_eval_nll *acc)
{
	return acc->weight != 0 ? acc->nats / acc->weight : NAN;
}

double tk_eval_nll_ppl(const tk_eval_nll *acc) { return exp(tk_eval_nll_mean(acc)); }

double tk_eval_nll_bpb(const tk_eval_nll *acc)
{
	return acc->bytes > 0 ? acc->nats / log(2.0) / acc->bytes : NAN;
}

/* ---- a token stream's records ------------------------------------------- */

int tk_eval_check_stream(const tk_tks_reader *r, const tk_tokenizer *tok, const char *name,
			 const char *model)
{
	char want[17], got[64] = "";
	snprintf(want, sizeof want, "%016" PRIx64, tk_tokenizer_fingerprint(tok));
	cJSON *meta = cJSON_Parse(tk_tks_reader_meta(r));
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer");
	if (cJSON_IsString(fp))
		snprintf(got, sizeof got, "%s", fp->valuestring);
	cJSON_Delete(meta);
	if (got[0] && strcmp(got, want))
		return tk_fail(TK_EDATA, "%s was rendered with tokenizer %s, but %s has tokenizer %s",
			       name, got, model, want);
	return TK_OK;
}

static int has_weight(const tk_record *rec)
{
	for (size_t i = 1; i < rec->n; i++)
		if (rec->weights[i] != 0)
			return 1;
	return 0;
}

/* Bytes of each token's text; special tokens (<|im_end|>) count none. */
static void token_bytes(const tk_tokenizer *tok, const tk_record *rec, uint32_t *bytes)
{
	for (size_t i = 0; i < rec->n; i++) {
		size_t len = 0;
		if (!tk_tokenizer_is_special(tok, rec->tokens[i]))
			tk_tokenizer_piece(tok, rec->tokens[i], &len);
		bytes[i] = (uint32_t)len;
	}
}

int tk_eval_nll_record(tk_eval_scorer *s, const tk_tokenizer *tok, const tk_record *rec,
		       tk_eval_nll *one)
{
	*one = (tk_eval_nll){.records = 1};
	if (!has_weight(rec))
		return TK_OK;
	float *logprob = tk_malloc(rec->n * sizeof *logprob);
	uint32_t *bytes = logprob ? tk_malloc(rec->n * sizeof *bytes) : NULL;
	int rc = bytes ? tk_eval_scorer_sequence(s, rec->tokens, rec->n, logprob) : TK_EOSERR;
	if (!rc) {
		token_bytes(tok, rec, bytes);
		*one = (tk_eval_nll){0};
		tk_eval_nll_add(one, logprob, rec->weights, bytes, rec->n);
	}
	free(logprob);
	free(bytes);
	return rc;
}

void tk_eval_nll_merge(tk_eval_nll *total, const tk_eval_nll *one)
{
	total->nats += one->nats;
	total->weight += one->weight;
	total->bytes += one->bytes;
	total->tokens += one->tokens;
	total->records += one->records;
}

int tk_eval_nll_record_json(uint64_t index, const tk_eval_nll *one, char **line)
{
	eval_json j = eval_json_new();
	eval_json_number(&j, "record", (double)index);
	eval_json_finite(&j, "nll", tk_eval_nll_mean(one));
	eval_json_number(&j, "tokens", (double)one->tokens);
	eval_json_number(&j, "nats", one->nats);
	eval_json_number(&j, "weight", one->weight);
	eval_json_number(&j, "bytes", one->bytes);
	return eval_json_take(&j, line);
}

int tk_eval_nll_report(const tk_eval_nll *t, const char *model, const char *adapter, char **json)
{
	eval_json j = eval_json_new();
	eval_json_finite(&j, "nll", tk_eval_nll_mean(t));
	eval_json_finite(&j, "ppl", tk_eval_nll_ppl(t));
	eval_json_finite(&j, "bpb", tk_eval_nll_bpb(t));
	eval_json_number(&j, "tokens", (double)t->tokens);
	eval_json_number(&j, "weight", t->weight);
	eval_json_number(&j, "bytes", t->bytes);
	eval_json_number(&j, "records", (double)t->records);
	eval_json_sources(&j, model, adapter);
	return eval_json_take(&j, json);
}
