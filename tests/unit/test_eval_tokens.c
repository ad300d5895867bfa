/* Per-token scores (tk-eval logprobs) on the tiny Llama: the top-k
 * selection against a full sort (ties to the lower id), logprobs and top-k
 * against transformers' logits (tests/fixtures/logits/), the scorer's
 * sequence logprobs, the whole vocabulary summing to 1, the JSON line and
 * the token stream record they are written as. */
#include "tkt.h"

#include "tk_error.h"
#include "tk_eval.h"
#include "tk_model.h"
#include "tk_tks.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define FIX "tests/fixtures/"
#define VOCAB 512

static struct tk_model *model(void)
{
	static struct tk_model *m;
	if (!m && tk_model_load(&m, FIX "tiny-llama"))
		return NULL;
	return m;
}

static tk_eval_scorer *scorer(void)
{
	tk_eval_scorer *s = NULL;
	int rc = model() ? tk_eval_scorer_open(&s, "cpu", 2, model(), NULL, 1) : -1;
	TKT_CHECK(rc == TK_OK, "scorer: %s", tk_error_message());
	return s;
}

static void random_tokens(int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ids[i] = (int32_t)(tkt_rand64() % VOCAB);
}

/* ---- the selection ------------------------------------------------------- */

static const float *sort_row;

/* The order tk_eval_top_k promises: larger first, equal values by id. */
static int by_rank(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	if (sort_row[x] != sort_row[y])
		return sort_row[x] > sort_row[y] ? -1 : 1;
	return (x > y) - (x < y);
}

/* The ids of row fully sorted, the naive reference.   order (n) */
static void full_sort(const float *row, size_t n, int32_t *order)
{
	for (size_t i = 0; i < n; i++)
		order[i] = (int32_t)i;
	sort_row = row;
	qsort(order, n, sizeof *order, by_rank);
}

static void test_top_k_matches_a_full_sort(void)
{
	enum { N = 300 };
	float row[N];
	int32_t want[N], got[N];
	for (int round = 0; round < 3; round++) {
		/* round 1: values from a few levels, so ties are everywhere */
		for (size_t i = 0; i < N; i++)
			row[i] = round == 1 ? (float)(tkt_rand64() % 5) : (float)(tkt_uniform() * 20 - 10);
		if (round == 2)
			row[17] = row[250] = row[3] = 11.0f;   /* a tie at the top */
		full_sort(row, N, want);
		size_t ks[] = {1, 2, 5, 64, N - 1, N};
		for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
			tk_eval_top_k(row, N, ks[i], got);
			TKT_CHECK(!memcmp(got, want, ks[i] * sizeof *got),
				  "round %d k %zu: first %d, want %d", round, ks[i], got[0], want[0]);
		}
	}
	tk_eval_top_k(row, N, 3, got);
	TKT_CHECK(got[0] == 3 && got[1] == 17 && got[2] == 250, "ties to the lower id: %d %d %d",
		  got[0], got[1], got[2]);
}

/* ---- against transformers -------------------------------------------------- */

/* log softmax(row) in double.   lp (VOCAB) */
static void ref_log_softmax(const float *row, double *lp)
{
	double max = row[0], sum = 0;
	for (size_t j = 1; j < VOCAB; j++)
		max = row[j] > max ? row[j] : max;
	for (size_t j = 0; j < VOCAB; j++)
		sum += exp((double)row[j] - max);
	for (size_t j = 0; j < VOCAB; j++)
		lp[j] = (double)row[j] - max - log(sum);
}

typedef struct worst_error {
	double logprob, top;
	size_t positions, id_mismatches;
} worst_error;

/* One prompt's scores against transformers' rows (n of them: row i
 * follows token i, so row i − 1 predicts token i). */
static void compare_prompt(const tk_eval_token_scores *t, const int32_t *ids, size_t n,
			   const float *rows, worst_error *w)
{
	double lp[VOCAB];
	int32_t order[VOCAB];
	for (size_t i = 1; i < n; i++, w->positions++) {
		const float *row = rows + (i - 1) * VOCAB;
		ref_log_softmax(row, lp);
		full_sort(row, VOCAB, order);
		w->logprob = fmax(w->logprob, fabs(t->logprob[i] - lp[ids[i]]));
		for (size_t r = 0; r < t->k; r++) {
			int32_t id = t->top_ids[i * t->k + r];
			w->id_mismatches += id != order[r];
			w->top = fmax(w->top, fabs(t->top_logprobs[i * t->k + r] - lp[order[r]]));
		}
	}
}

static void test_against_transformers(void)
{
	size_t size;
	char *text = tkt_slurp(FIX "logits/tiny-llama.json", &size);
	float *logits = (float *)tkt_slurp(FIX "logits/tiny-llama.f32", &size);
	cJSON *json = text ? cJSON_Parse(text) : NULL;
	tk_eval_scorer *s = scorer();
	TKT_CHECK(json && logits && s, "fixtures and scorer");
	if (!json || !logits || !s)
		return;
	tk_eval_token_scores t = {0};
	worst_error w = {0};
	size_t row = 0;
	const cJSON *p, *prompts = cJSON_GetObjectItem(json, "prompts");
	cJSON_ArrayForEach(p, prompts) {
		size_t n = (size_t)cJSON_GetArraySize(p), i = 0;
		int32_t ids[64];
		const cJSON *v;
		cJSON_ArrayForEach(v, p) ids[i++] = (int32_t)v->valueint;
		int rc = tk_eval_token_scores_run(s, ids, n, 10, &t);
		TKT_CHECK(rc == TK_OK && t.n == n && t.k == 10, "run: %s", tk_error_message());
		if (!rc)
			compare_prompt(&t, ids, n, logits + row * VOCAB, &w);
		row += n;
	}
	TKT_CHECK(w.positions > 30, "%zu positions", w.positions);
	TKT_CHECK(w.logprob < 1e-4 && w.top < 1e-4, "worst logprob error %.3g, top-10 %.3g",
		  w.logprob, w.top);
	TKT_CHECK(w.id_mismatches == 0, "%zu top-10 ids differ from transformers'", w.id_mismatches);
	printf("# %zu positions: logprob max |err| %.3g, top-10 logprob max |err| %.3g\n",
	       w.positions, w.logprob, w.top);
	tk_eval_token_scores_free(&t);
	tk_eval_scorer_close(s);
	cJSON_Delete(json);
	free(text);
	free(logits);
}

/* ---- consistency ----------------------------------------------------------- */

/* 250 tokens (two of the scorer's chunks): the logprobs are those of
 * tk_eval_scorer_sequence but for its float32 normaliser; with the whole
 * vocabulary as the top, each position's probabilities sum to 1 and hold
 * the token itself at its own logprob. */
static void test_whole_vocabulary(void)
{
	enum { N = 250 };
	int32_t ids[N];
	float lp[N];
	random_tokens(ids, N);
	tk_eval_scorer *s = scorer();
	tk_eval_token_scores t = {0};
	int rc = s ? tk_eval_scorer_sequence(s, ids, N, lp) : -1;
	if (!rc)
		rc = tk_eval_token_scores_run(s, ids, N, VOCAB, &t);
	TKT_CHECK(rc == TK_OK, "run: %s", tk_error_message());
	if (rc)
		return;
	double from_scorer = 0, whole[N];
	for (size_t i = 1; i < N; i++)
		from_scorer = fmax(from_scorer, fabs(t.logprob[i] - lp[i]));
	TKT_CHECK(from_scorer < 1e-5, "the scorer's float32 logprobs within %.3g", from_scorer);
	memcpy(whole, t.logprob, sizeof whole);
	double worst_sum = 0;
	size_t unsorted = 0, missing = 0;
	for (size_t i = 1; i < N; i++) {
		const int32_t *top = t.top_ids + i * VOCAB;
		const double *top_lp = t.top_logprobs + i * VOCAB;
		double sum = 0;
		int found = 0;
		for (size_t r = 0; r < VOCAB; r++) {
			sum += exp((double)top_lp[r]);
			unsorted += r > 0 && top_lp[r] > top_lp[r - 1];
			found |= top[r] == ids[i] && top_lp[r] == t.logprob[i];
		}
		missing += !found;
		worst_sum = fmax(worst_sum, fabs(sum - 1));
	}
	TKT_CHECK(worst_sum < 1e-9, "probabilities sum to 1 within %.3g", worst_sum);
	TKT_CHECK(unsorted == 0 && missing == 0, "%zu out of order, %zu tokens not in their top",
		  unsorted, missing);
	/* reused for a shorter run with a smaller k: the first 40 agree */
	tk_eval_token_scores again = {0};
	rc = tk_eval_token_scores_run(s, ids, 40, 3, &again);
	if (!rc)
		rc = tk_eval_token_scores_run(s, ids, 40, 3, &t);
	TKT_CHECK(rc == TK_OK && t.n == 40 && t.k == 3, "rerun: %s", tk_error_message());
	for (size_t i = 1; !rc && i < 40; i++)
		TKT_CHECK(!memcmp(t.top_ids + 3 * i, again.top_ids + 3 * i, 3 * sizeof *t.top_ids) &&
			  t.logprob[i] == whole[i], "position %zu", i);
	tk_eval_token_scores_free(&again);
	tk_eval_token_scores_free(&t);
	tk_eval_scorer_close(s);
}

static void test_bad_input(void)
{
	tk_eval_scorer *s = scorer();
	tk_eval_token_scores t = {0};
	int32_t ids[4] = {1, 2, 3, VOCAB};
	int rc = s ? tk_eval_token_scores_run(s, ids, 3, VOCAB + 1, &t) : -1;
	TKT_CHECK(rc == TK_EUSAGE && strstr(tk_error_message(), "vocabulary of 512"),
		  "k above the vocabulary: %d %s", rc, tk_error_message());
	rc = s ? tk_eval_token_scores_run(s, ids, 4, 2, &t) : -1;
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "vocabulary"),
		  "token out of vocabulary: %d %s", rc, tk_error_message());
	rc = s ? tk_eval_token_scores_run(s, ids, 0, 2, &t) : -1;
	TKT_CHECK(rc == TK_OK && t.n == 0, "no tokens: nothing to score");
	rc = s ? tk_eval_token_scores_run(s, ids, 1, 2, &t) : -1;
	TKT_CHECK(rc == TK_OK && t.n == 1 && t.logprob[0] == 0, "one token: nothing predicted");
	tk_eval_token_scores_free(&t);
	tk_eval_scorer_close(s);
}

/* ---- what they are written as ------------------------------------------------ */

/* A record of 6 tokens with a pretty-printed meta, scored with k 2. */
static int scored_record(tk_record *rec, int32_t *ids, float *weights, tk_eval_token_scores *t)
{
	static char meta[] = "{\"id\": \"q1\",\n \"n\": 2}";
	for (size_t i = 0; i < 6; i++) {
		ids[i] = (int32_t)(7 * i + 3);
		weights[i] = i >= 3;
	}
	tk_record_init(rec);
	rec->n = 6;
	rec->tokens = ids;
	rec->weights = weights;
	rec->meta = meta;
	rec->group = 4;
	rec->has_reward = 1;
	rec->reward = 0.5;
	tk_eval_scorer *s = scorer();
	int rc = s ? tk_eval_token_scores_run(s, ids, 6, 2, t) : -1;
	tk_eval_scorer_close(s);
	return rc;
}

/* 1 when printed (9 significant digits) reads back as value. */
static int same_9_digits(double printed, double value)
{
	return fabs(printed - value) <= 1e-8 * fabs(value);
}

static void test_json_line(void)
{
	tk_record rec;
	int32_t ids[6];
	float weights[6];
	tk_eval_token_scores t = {0};
	char *line = NULL;
	int rc = scored_record(&rec, ids, weights, &t);
	if (!rc)
		rc = tk_eval_token_scores_json(&t, &rec, 3, &line);
	TKT_CHECK(rc == TK_OK, "json: %s", tk_error_message());
	if (rc)
		return;
	TKT_CHECK(!strchr(line, '\n'), "one line: %s", line);
	const char *start = "{\"record\":3,\"meta\":{\"id\":\"q1\",\"n\":2},"
			    "\"tokens\":[3,10,17,24,31,38],\"logprobs\":[null,";
	TKT_CHECK(!strncmp(line, start, strlen(start)), "starts: %.90s", line);
	cJSON *o = cJSON_Parse(line);
	const cJSON *lp = cJSON_GetObjectItem(o, "logprobs"), *top = cJSON_GetObjectItem(o, "top_ids");
	const cJSON *top_lp = cJSON_GetObjectItem(o, "top_logprobs");
	int shapes = cJSON_GetArraySize(lp) == 6 && cJSON_IsNull(cJSON_GetArrayItem(lp, 0)) &&
		     cJSON_GetArraySize(top) == 6 && cJSON_IsNull(cJSON_GetArrayItem(top, 0)) &&
		     cJSON_GetArraySize(top_lp) == 6;
	TKT_CHECK(shapes, "shapes: %s", line);
	for (int i = 1; shapes && i < 6; i++) {
		const cJSON *row = cJSON_GetArrayItem(top, i), *row_lp = cJSON_GetArrayItem(top_lp, i);
		TKT_CHECK(cJSON_GetArraySize(row) == 2 && cJSON_GetArraySize(row_lp) == 2 &&
			  cJSON_GetArrayItem(row, 1)->valueint == t.top_ids[2 * i + 1] &&
			  same_9_digits(cJSON_GetArrayItem(row_lp, 0)->valuedouble, t.top_logprobs[2 * i]),
			  "position %d", i);
		TKT_CHECK(same_9_digits(cJSON_GetArrayItem(lp, i)->valuedouble, t.logprob[i]),
			  "position %d: the printed logprob", i);
	}
	cJSON_Delete(o);
	free(line);
	t.k = 0;   /* no top: only logprobs */
	rec.meta = NULL;
	rc = tk_eval_token_scores_json(&t, &rec, 1, &line);
	TKT_CHECK(rc == TK_OK && !strstr(line, "top_") && !strstr(line, "meta") &&
		  line[strlen(line) - 1] == '}', "k 0: %s", line);
	free(line);
	rec.n = 5;
	rc = tk_eval_token_scores_json(&t, &rec, 1, &line);
	TKT_CHECK(rc == TK_EUSAGE, "scores of another record refused");
	tk_eval_token_scores_free(&t);
}

static void test_stream_record(void)
{
	tk_record rec, back;
	int32_t ids[6];
	float weights[6];
	tk_eval_token_scores t = {0};
	char path[512], *meta = NULL;
	tkt_scratch_path(path, sizeof path, "scored.tks");
	tk_tks_writer *w = NULL;
	int rc = scored_record(&rec, ids, weights, &t);
	if (!rc)
		rc = tk_eval_token_scores_meta("{\"tokenizer\":\"abc\",\"logprobs\":1}", "m.gguf", NULL,
					       &meta);
	TKT_CHECK(rc == TK_OK && meta && !strcmp(meta, "{\"tokenizer\":\"abc\",\"logprobs\":"
						 "{\"model\":\"m.gguf\",\"adapter\":null}}"),
		  "meta: %s", meta ? meta : tk_error_message());
	if (!rc)
		rc = tk_tks_writer_open(&w, path, meta, 1);
	if (!rc)
		rc = tk_eval_token_scores_write(&t, &rec, w);
	if (!rc)
		rc = tk_tks_writer_close(w);
	TKT_CHECK(rc == TK_OK, "write: %s", tk_error_message());
	tk_tks_reader *r = NULL;
	tk_record_init(&back);
	if (!rc)
		rc = tk_tks_reader_open(&r, path);
	if (!rc)
		rc = tk_tks_read(r, &back);
	TKT_CHECK(rc == TK_OK && back.n == 6 && back.logprobs && !back.advantages, "read back: %s",
		  tk_error_message());
	if (!rc) {
		int same = 1;
		for (size_t i = 0; i < 6; i++)
			same &= back.logprobs[i] == (float)t.logprob[i];
		TKT_CHECK(same && !memcmp(back.tokens, ids, sizeof ids) &&
			  !memcmp(back.weights, weights, sizeof weights), "logprobs, tokens, weights");
		TKT_CHECK(back.group == 4 && back.has_reward && back.reward == 0.5 && back.meta &&
			  strstr(back.meta, "q1"), "group, reward, meta kept");
	}
	tk_tks_reader_close(r);
	tk_record_free(&back);
	free(meta);
	rc = tk_eval_token_scores_meta("[1]", "m", NULL, &meta);
	TKT_CHECK(rc == TK_EDATA, "metadata that is no object refused");
	tk_eval_token_scores_free(&t);
}

int main(void)
{
	TKT_RUN(test_top_k_matches_a_full_sort);
	TKT_RUN(test_against_transformers);
	TKT_RUN(test_whole_vocabulary);
	TKT_RUN(test_bad_input);
	TKT_RUN(test_json_line);
	TKT_RUN(test_stream_record);
	tk_model_free(model());
	return tkt_done();
}
