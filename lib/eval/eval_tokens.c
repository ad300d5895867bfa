/* Per-token scores: each token's logprob and the k most likely tokens at
 * its position, from the scorer's rows a chunk at a time (so the logits of
 * a whole sequence are never held), written as a JSON line or into a
 * token stream's per-token logprobs and top-K.  What tk-eval logprobs
 * prints.
 *
 * The rows are normalised here, in double, not by the scorer's lse (a
 * float, rounded once more): the row is on the host already, and its
 * exponentials in double cost little beside the forward that made it.
 * (The trainer's kernel once summed them in float32 and was low by up to
 * 3e-4 on SmolLM2's 49152 tokens; it sums in double now too.) */
#include "eval_internal.h"
#include "tk_error.h"
#include "tk_eval.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

/* ---- the top k of a row ------------------------------------------------- */

/* 1 when token a ranks before token b: a larger logit, or the same logit
 * and the lower id (so equal logits give one order whatever the k). */
static int ranks_before(const float *row, int32_t a, int32_t b)
{
	return row[a] > row[b] || (row[a] == row[b] && a < b);
}

/* Restores the heap under i: every node ranks after (is worse than) its
 * children, so the root is the worst of those kept.   heap (n) */
static void sift_down(const float *row, int32_t *heap, size_t n, size_t i)
{
	for (;;) {
		size_t worst = i, left = 2 * i + 1, right = left + 1;
		if (left < n && ranks_before(row, heap[worst], heap[left]))
			worst = left;
		if (right < n && ranks_before(row, heap[worst], heap[right]))
			worst = right;
		if (worst == i)
			return;
		int32_t swap = heap[i];
		heap[i] = heap[worst];
		heap[worst] = swap;
		i = worst;
	}
}

void tk_eval_top_k(const float *row, size_t vocab, size_t k, int32_t *ids)
{
	if (k == 0 || k > vocab)
		return;
	for (size_t v = 0; v < k; v++)
		ids[v] = (int32_t)v;
	for (size_t i = k / 2; i-- > 0;)
		sift_down(row, ids, k, i);
	for (size_t v = k; v < vocab; v++) {
		if (ranks_before(row, (int32_t)v, ids[0])) {
			ids[0] = (int32_t)v;
			sift_down(row, ids, k, 0);
		}
	}
	/* the worst kept to the end, then the worst of the rest before it */
	for (size_t end = k; end-- > 1;) {
		int32_t swap = ids[0];
		ids[0] = ids[end];
		ids[end] = swap;
		sift_down(row, ids, end, 0);
	}
}

/* ---- scoring a sequence ------------------------------------------------- */

/* Room for n tokens with k alternatives each. */
static int reserve(tk_eval_token_scores *t, size_t n, size_t k)
{
	if (k && n > SIZE_MAX / sizeof(double) / k)
		return tk_fail(TK_EUSAGE, "the top %zu of %zu tokens is more than memory can address",
			       k, n);
	if (n > t->cap_n) {
		double *logprob = tk_realloc(t->logprob, n * sizeof *logprob);
		if (!logprob)
			return TK_EOSERR;
		t->logprob = logprob;
		t->cap_n = n;
	}
	size_t top = n * k;
	if (top > t->cap_top) {
		int32_t *ids = tk_realloc(t->top_ids, top * sizeof *ids);
		if (!ids)
			return TK_EOSERR;
		t->top_ids = ids;
		double *logprobs = tk_realloc(t->top_logprobs, top * sizeof *logprobs);
		if (!logprobs)
			return TK_EOSERR;
		t->top_logprobs = logprobs;
		t->cap_top = top;
	}
	return TK_OK;
}

/* What the scorer's rows are read with. */
typedef struct rows_ctx {
	tk_eval_token_scores *t;
	const int32_t *tokens;
	size_t vocab;
} rows_ctx;

/* log Σ e^row in double (see the top of the file).   row (vocab) */
static double row_lse(const float *row, size_t vocab)
{
	float max = row[0];
	for (size_t v = 1; v < vocab; v++)
		max = row[v] > max ? row[v] : max;
	double sum = 0;
	for (size_t v = 0; v < vocab; v++)
		sum += exp((double)row[v] - max);
	return max + log(sum);
}

/* The logprob of each position's token and its top k, each a float logit
 * less the row's lse in double (the scorer's float lse unused). */
static int take_rows(void *ctx, size_t first, size_t m, const float *logits, const float *lse)
{
	(void)lse;
	rows_ctx *c = ctx;
	tk_eval_token_scores *t = c->t;
	for (size_t j = 0; j < m; j++) {
		const float *row = logits + j * c->vocab;
		size_t at = first + j;
		double row_log_sum = row_lse(row, c->vocab);
		t->logprob[at] = row[c->tokens[at]] - row_log_sum;
		if (t->k == 0)
			continue;
		int32_t *ids = t->top_ids + at * t->k;
		double *logprobs = t->top_logprobs + at * t->k;
		tk_eval_top_k(row, c->vocab, t->k, ids);
		for (size_t i = 0; i < t->k; i++)
			logprobs[i] = row[ids[i]] - row_log_sum;
	}
	return TK_OK;
}

int tk_eval_token_scores_run(tk_eval_scorer *s, const int32_t *tokens, size_t n, size_t k,
			     tk_eval_token_scores *t)
{
	size_t vocab = tk_eval_scorer_vocab(s);
	if (k > vocab)
		return tk_fail(TK_EUSAGE, "top %zu: more than the model's vocabulary of %zu",
			       k, vocab);
	t->n = 0;
	t->k = k;
	int rc = reserve(t, n, k);
	if (rc || n == 0)
		return rc;
	t->logprob[0] = 0;
	rows_ctx c = {t, tokens, vocab};
	rc = tk_eval_scorer_rows(s, tokens, n, take_rows, &c);
	if (!rc)
		t->n = n;
	return rc;
}

void tk_eval_token_scores_free(tk_eval_token_scores *t)
{
	free(t->logprob);
	free(t->top_ids);
	free(t->top_logprobs);
	*t = (tk_eval_token_scores){0};
}

/* ---- a JSON line -------------------------------------------------------- */

/* 9 significant digits: more than the float32 logits behind a value hold. */
static void put_number(sbuf *b, double v)
{
	char num[32];
	if (!isfinite(v)) {
		sbuf_puts(b, "null");
		return;
	}
	snprintf(num, sizeof num, "%.9g", v);
	sbuf_puts(b, num);
}

static void put_ids(sbuf *b, const int32_t *ids, size_t n)
{
	char num[16];
	sbuf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		snprintf(num, sizeof num, i ? ",%" PRId32 : "%" PRId32, ids[i]);
		sbuf_puts(b, num);
	}
	sbuf_putc(b, ']');
}

static void put_numbers(sbuf *b, const double *v, size_t n)
{
	sbuf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			sbuf_putc(b, ',');
		put_number(b, v[i]);
	}
	sbuf_putc(b, ']');
}

/* ,"logprobs":[null,...]: position 0 has no prediction. */
static void put_logprobs(sbuf *b, const tk_eval_token_scores *t)
{
	sbuf_puts(b, ",\"logprobs\":[");
	for (size_t i = 0; i < t->n; i++) {
		if (i == 0) {
			sbuf_puts(b, "null");
			continue;
		}
		sbuf_putc(b, ',');
		put_number(b, t->logprob[i]);
	}
	sbuf_putc(b, ']');
}

/* ,"top_ids":[null,[...],...] or ,"top_logprobs":[...]: a row a position. */
static void put_top(sbuf *b, const tk_eval_token_scores *t, int ids)
{
	sbuf_puts(b, ids ? ",\"top_ids\":[" : ",\"top_logprobs\":[");
	for (size_t i = 0; i < t->n; i++) {
		if (i == 0) {
			sbuf_puts(b, "null");
			continue;
		}
		sbuf_putc(b, ',');
		if (ids)
			put_ids(b, t->top_ids + i * t->k, t->k);
		else
			put_numbers(b, t->top_logprobs + i * t->k, t->k);
	}
	sbuf_putc(b, ']');
}

/* ,"meta":{...} on one line: a reader checked it is a JSON object, but
 * not that it has no line breaks. */
static int put_meta(sbuf *b, const char *meta)
{
	char *one_line = tk_strdup(meta);
	if (!one_line)
		return TK_EOSERR;
	cJSON_Minify(one_line);
	sbuf_puts(b, ",\"meta\":");
	sbuf_puts(b, one_line);
	free(one_line);
	return TK_OK;
}

int tk_eval_token_scores_json(const tk_eval_token_scores *t, const tk_record *rec,
			      uint64_t index, char **line)
{
	*line = NULL;
	if (t->n != rec->n)
		return tk_fail(TK_EUSAGE, "scores of %zu tokens for a record of %zu", t->n, rec->n);
	sbuf b = {0};
	char num[32];
	snprintf(num, sizeof num, "{\"record\":%" PRIu64, index);
	sbuf_puts(&b, num);
	int rc = rec->meta ? put_meta(&b, rec->meta) : TK_OK;
	sbuf_puts(&b, ",\"tokens\":");
	put_ids(&b, rec->tokens, rec->n);
	put_logprobs(&b, t);
	if (t->k) {
		put_top(&b, t, 1);
		put_top(&b, t, 0);
	}
	sbuf_putc(&b, '}');
	if (rc) {
		free(b.s);
		return rc;
	}
	return sbuf_take(&b, line) ? tk_fail(TK_EOSERR, "out of memory") : TK_OK;
}

/* ---- a token stream ------------------------------------------------------ */

/* The top k as the format's (n, k) rows: ids, and logprobs in f32; row 0
 * (nothing predicts the first token) empty, its ids −1.  ids, lp (n·k) */
static void top_rows(const tk_eval_token_scores *t, int32_t *ids, float *lp)
{
	for (size_t j = 0; j < t->k; j++) {
		ids[j] = -1;
		lp[j] = 0.0f;
	}
	for (size_t i = t->k; i < t->n * t->k; i++) {
		ids[i] = t->top_ids[i];
		lp[i] = (float)t->top_logprobs[i];
	}
}

int tk_eval_token_scores_write(const tk_eval_token_scores *t, const tk_record *rec,
			       tk_tks_writer *w)
{
	if (t->n != rec->n)
		return tk_fail(TK_EUSAGE, "scores of %zu tokens for a record of %zu", t->n, rec->n);
	if (t->k > TK_TKS_MAX_TOP_K)
		return tk_fail(TK_EUSAGE, "a top-%zu: a token stream holds at most a top-%d",
			       t->k, TK_TKS_MAX_TOP_K);
	size_t n = rec->n, nk = n * t->k;
	/* one block: logprobs (n), top-K logprobs (n·k), top-K ids (n·k) */
	float *logprobs = n ? tk_malloc(n * sizeof *logprobs + nk * 8) : NULL;
	if (n && !logprobs)
		return TK_EOSERR;
	for (size_t i = 0; i < n; i++)
		logprobs[i] = (float)t->logprob[i];   /* the format's f32 */
	tk_record scored = *rec;
	scored.logprobs = logprobs;
	if (t->k && n) {
		scored.top_k = t->k;
		scored.top_values = logprobs + n;
		scored.top_ids = (int32_t *)(scored.top_values + nk);
		scored.top_weights = 0;
		top_rows(t, scored.top_ids, scored.top_values);
	}
	/* the other arrays stay the reader's: the writer only reads them */
	scored.capacity = 0;
	scored.meta_capacity = 0;
	scored.top_capacity = 0;
	int rc = tk_tks_write(w, &scored);
	free(logprobs);
	return rc;
}

static cJSON *string_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

int tk_eval_token_scores_meta(const char *input_meta, const char *model, const char *adapter,
			      char **json)
{
	*json = NULL;
	cJSON *meta = cJSON_Parse(input_meta ? input_meta : "{}");
	if (!cJSON_IsObject(meta)) {
		cJSON_Delete(meta);
		return tk_fail(TK_EDATA, "the stream's metadata is not a JSON object");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "logprobs");
	cJSON *scored = cJSON_AddObjectToObject(meta, "logprobs");
	int ok = scored && cJSON_AddItemToObject(scored, "model", string_or_null(model)) &&
		 cJSON_AddItemToObject(scored, "adapter", string_or_null(adapter));
	if (ok)
		*json = cJSON_PrintUnformatted(meta);
	cJSON_Delete(meta);
	return *json ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}
