/* A SampleRequest parsed and run through tk_generate on a forward opened
 * on the engine with the sampler's adapter (serve_sample.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_sample.h"
#include "tk_error.h"
#include "tk_forward.h"
#include "tk_model.h"
#include "tk_tokenizer.h"

static int bad(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return TK_EUSAGE;
}

void serve_sample_req_free(void *ctx)
{
	serve_sample_req *q = ctx;
	if (!q)
		return;
	for (size_t i = 0; i < q->n_stop_strings; i++)
		free(q->stop_strings[i]);
	free(q->stop_strings);
	free(q->stop_ids);
	free(q->prompt);
	free(q->session);
	free(q->path);
	free(q->base);
	free(q);
}

static char *dup_string(const cJSON *o, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return v ? strdup(v) : NULL;
}

/* prompt.chunks[*].tokens, back to back. */
static int parse_prompt(const cJSON *prompt, serve_sample_req *q, char *err, size_t cap)
{
	const cJSON *chunks = cJSON_GetObjectItemCaseSensitive(prompt, "chunks"), *c, *t;
	size_t n = 0;
	cJSON_ArrayForEach(c, chunks) {
		const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(c, "tokens");
		if (!cJSON_IsArray(tokens))
			return bad(err, cap, "prompt: only token chunks are served");
		n += (size_t)cJSON_GetArraySize(tokens);
	}
	if (!n)
		return bad(err, cap, "prompt has no tokens");
	if (!(q->prompt = malloc(n * sizeof *q->prompt)))
		return bad(err, cap, "out of memory");
	cJSON_ArrayForEach(c, chunks) {
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(c, "tokens")) {
			if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble > INT32_MAX)
				return bad(err, cap, "prompt: a token is not an id");
			q->prompt[q->prompt_len++] = (int32_t)t->valuedouble;
		}
	}
	return 0;
}

/* stop: a string, strings, or token ids; absent: the eos. */
static int parse_stop(const cJSON *stop, serve_sample_req *q, char *err, size_t cap)
{
	if (!stop || cJSON_IsNull(stop))
		return 0;
	q->stop_given = 1;
	if (cJSON_IsString(stop)) {
		q->stop_strings = malloc(sizeof *q->stop_strings);
		if (!q->stop_strings || !(q->stop_strings[0] = strdup(stop->valuestring)))
			return bad(err, cap, "out of memory");
		q->n_stop_strings = 1;
		return 0;
	}
	if (!cJSON_IsArray(stop))
		return bad(err, cap, "stop: a string, a list of strings or a list of token ids");
	size_t n = (size_t)cJSON_GetArraySize(stop);
	q->stop_strings = calloc(n + 1, sizeof *q->stop_strings);
	q->stop_ids = calloc(n + 1, sizeof *q->stop_ids);
	if (!q->stop_strings || !q->stop_ids)
		return bad(err, cap, "out of memory");
	const cJSON *v;
	cJSON_ArrayForEach(v, stop) {
		if (cJSON_IsString(v)) {
			if (!(q->stop_strings[q->n_stop_strings++] = strdup(v->valuestring)))
				return bad(err, cap, "out of memory");
		} else if (cJSON_IsNumber(v) && v->valuedouble >= 0)
			q->stop_ids[q->n_stop_ids++] = (int32_t)v->valuedouble;
		else
			return bad(err, cap, "stop: an entry is neither a string nor a token id");
	}
	return 0;
}

static double num_or(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int serve_sample_parse(const cJSON *in, serve_sample_req *q, char *err, size_t cap)
{
	q->session = dup_string(in, "sampling_session_id");
	q->path = dup_string(in, "model_path");
	q->base = dup_string(in, "base_model");
	if (!q->session && !q->path && !q->base)
		return bad(err, cap, "sampling_session_id, model_path or base_model is needed");
	int rc = parse_prompt(cJSON_GetObjectItemCaseSensitive(in, "prompt"), q, err, cap);
	if (rc)
		return rc;
	const cJSON *sp = cJSON_GetObjectItemCaseSensitive(in, "sampling_params");
	double n = num_or(in, "num_samples", 1), max = num_or(sp, "max_tokens", 16);
	double top_k = num_or(sp, "top_k", -1);
	if (!(n >= 1 && n <= 4096) || !(max >= 1 && max <= 1 << 20))
		return bad(err, cap, "num_samples (1..4096) and max_tokens (>= 1) out of range");
	q->n = (size_t)n;
	q->max_tokens = (size_t)max;
	q->seed = (uint64_t)num_or(sp, "seed", 0);
	q->params.temperature = (float)num_or(sp, "temperature", 1);
	q->params.top_k = top_k < 0 ? 0 : (int)top_k;
	q->params.top_p = (float)num_or(sp, "top_p", 1);
	q->prompt_logprobs = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "prompt_logprobs"));
	return parse_stop(cJSON_GetObjectItemCaseSensitive(sp, "stop"), q, err, cap);
}

void serve_seqs_free(serve_seq *seqs, size_t n)
{
	for (size_t i = 0; seqs && i < n; i++) {
		free(seqs[i].tokens);
		free(seqs[i].logprobs);
	}
	free(seqs);
}

typedef struct collect {
	serve_seq *seqs;
	int failed;
} collect;

static int on_result(void *ctx, size_t index, const tk_gen_result *r)
{
	collect *c = ctx;
	serve_seq *q = &c->seqs[index];
	q->n = r->n;
	q->stop = r->finish == TK_FINISH_STOP;
	q->tokens = malloc((r->n ? r->n : 1) * sizeof *q->tokens);
	q->logprobs = malloc((r->n ? r->n : 1) * sizeof *q->logprobs);
	if (!q->tokens || !q->logprobs)
		return tk_fail(TK_EOSERR, "out of memory");
	if (r->n) {
		memcpy(q->tokens, r->tokens, r->n * sizeof *q->tokens);
		memcpy(q->logprobs, r->logprobs, r->n * sizeof *q->logprobs);
	}
	return 0;
}

/* log p(prompt[i] | prompt[..i]) for i >= 1; NaN at 0.  The prompt goes
 * through slot 0 a chunk at a time, so the logits held are chunk x vocab
 * whatever the prompt's length (the cache makes it the same bits). */
#define PROMPT_CHUNK 64
static int prompt_logprobs(tk_forward *f, const serve_sample_req *q, float **out)
{
	size_t vocab = tk_forward_vocab(f), slot = 0;
	float *logits = malloc(PROMPT_CHUNK * vocab * sizeof *logits);
	float *lp = malloc(q->prompt_len * sizeof *lp);
	if (!logits || !lp) {
		free(logits);
		free(lp);
		return tk_fail(TK_EOSERR, "out of memory for prompt logprobs");
	}
	lp[0] = NAN;
	int rc = 0;
	for (size_t at = 0; !rc && at + 1 < q->prompt_len; at += PROMPT_CHUNK) {
		/* tokens at..at+count-1 score prompt[at+1 .. at+count] */
		size_t count = q->prompt_len - 1 - at < PROMPT_CHUNK ? q->prompt_len - 1 - at
								      : PROMPT_CHUNK;
		tk_forward_batch b = {1, &slot, &count, q->prompt + at, 1};
		rc = tk_forward_run(f, &b, logits);
		for (size_t i = 0; !rc && i < count; i++)
			lp[at + i + 1] = (float)tk_log_softmax_at(logits + i * vocab, vocab,
								  q->prompt[at + i + 1]);
	}
	tk_forward_clear(f, 0);
	free(logits);
	if (rc)
		free(lp);
	else
		*out = lp;
	return rc;
}

static void options_for(const serve_sample_req *q, const serve_base *b, tk_gen_stops *st,
			tk_gen_options *o)
{
	const char *const *extra = (const char *const *)q->stop_strings;
	if (!q->stop_given)
		tk_gen_stops_collect(st, b->model->tokenizer, NULL, NULL, 0);
	else {
		memset(st, 0, sizeof *st);
		for (size_t i = 0; i < q->n_stop_ids && st->n_ids < TK_GEN_MAX_STOPS; i++)
			st->ids[st->n_ids++] = q->stop_ids[i];
		for (size_t i = 0; i < q->n_stop_strings && st->n_strings < 2 * TK_GEN_MAX_STOPS; i++)
			st->strings[st->n_strings++] = extra[i];
	}
	*o = (tk_gen_options){.params = q->params, .seed = q->seed, .max_tokens = q->max_tokens,
			      .logprobs = 1, .stop_ids = st->ids, .n_stop_ids = st->n_ids,
			      .stop_strings = st->strings, .n_stop_strings = st->n_strings,
			      .tok = b->model->tokenizer};
}

int serve_sample_run(serve *s, serve_sampler *p, const serve_sample_req *q, serve_seq **seqs,
		     float **prompt_lp, char *err, size_t cap)
{
	(void)s;
	size_t max_pos = (size_t)p->base->model->config.max_positions;
	if (q->prompt_len >= max_pos)
		return bad(err, cap, "a prompt of %zu tokens does not fit the model's %zu positions",
			   q->prompt_len, max_pos);
	size_t context = q->prompt_len + q->max_tokens < max_pos ? q->prompt_len + q->max_tokens
								  : max_pos;
	size_t slots = q->n < 64 ? q->n : 64;
	tk_forward *f = NULL;
	int rc = tk_forward_open_engine(&f, p->base->engine, p->adapter, slots, context, 512);
	tk_gen_stops st;
	tk_gen_options o;
	options_for(q, p->base, &st, &o);
	o.batch = slots;
	tk_gen_request *reqs = calloc(q->n, sizeof *reqs);
	collect c = {calloc(q->n, sizeof *c.seqs), 0};
	if (!rc && (!reqs || !c.seqs))
		rc = tk_fail(TK_EOSERR, "out of memory");
	for (size_t i = 0; !rc && i < q->n; i++)
		reqs[i] = (tk_gen_request){.prompt = q->prompt, .prompt_len = q->prompt_len,
					   .stream = i};
	if (!rc && q->prompt_logprobs)
		rc = prompt_logprobs(f, q, prompt_lp);
	if (!rc)
		rc = tk_generate(f, &o, reqs, q->n, on_result, &c);
	tk_forward_close(f);
	free(reqs);
	if (rc) {
		serve_seqs_free(c.seqs, q->n);
		snprintf(err, cap, "%s", tk_error_message());
		return rc;
	}
	*seqs = c.seqs;
	return 0;
}
