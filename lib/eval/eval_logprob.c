/* Log-probabilities of given tokens through the model: the forward pass
 * makes the logits of a chunk of positions, tk_logsumexp_forward (the
 * trainer's fused cross-entropy's own log-sum-exp) normalises them, so a
 * token's logprob here equals the trainer's. */
#include "eval_internal.h"
#include "engine/engine_internal.h"
#include "tk_model.h"
#include "kernels.h"
#include "tk_error.h"
#include "tk_eval.h"
#include "tk_forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Positions whose logits one run makes (and the forward's pass size). */
#define CHUNK 128
/* The smallest KV cache planned: short sequences do not reopen it. */
#define MIN_CONTEXT 256

struct tk_eval_scorer {
	tk_backend *be;
	int owns_backend;
	const struct tk_model *model;
	const struct tk_lora *adapter;
	tk_engine *e;           /* or the engine and adapter name it reads */
	char adapter_name[64];
	tk_forward *f;          /* NULL until the first sequence */
	size_t slots, context, max_context, vocab;
	float *logits;          /* host (CHUNK, vocab) */
	float *lse;             /* host (CHUNK) */
	float *dev_logits;      /* backend (CHUNK, vocab) */
	float *dev_lse;         /* backend (CHUNK) */
	size_t *done;           /* (slots) continuation tokens fed per choice */
	size_t *batch_slots, *batch_counts; /* (slots) one run's sequences */
	int32_t ids[CHUNK];     /* one run's tokens */
};

static int plan(tk_eval_scorer *s, size_t slots, size_t vocab, size_t max_context);

int tk_eval_scorer_open(tk_eval_scorer **out, const char *backend, int threads,
			const struct tk_model *model, const struct tk_lora *adapter,
			size_t slots)
{
	*out = NULL;
	tk_eval_scorer *s = tk_calloc(1, sizeof *s);
	if (!s)
		return TK_EOSERR;
	int rc = tk_backend_open(&s->be, backend, threads);
	if (rc) {
		free(s);
		return rc;
	}
	s->owns_backend = 1;
	s->model = model;
	s->adapter = adapter;
	rc = plan(s, slots, (size_t)model->config.vocab, (size_t)model->config.max_positions);
	if (!rc)
		*out = s;
	return rc;
}

int tk_eval_scorer_open_engine(tk_eval_scorer **out, tk_engine *e, const char *adapter,
			       size_t slots)
{
	*out = NULL;
	if (adapter && (!tk_engine_has(e, adapter) || strlen(adapter) >= 64))
		return tk_fail(TK_EUSAGE, "scorer: the engine has no adapter named \"%s\"", adapter);
	tk_eval_scorer *s = tk_calloc(1, sizeof *s);
	if (!s)
		return TK_EOSERR;
	s->be = e->be;
	s->e = e;
	if (adapter)
		snprintf(s->adapter_name, sizeof s->adapter_name, "%s", adapter);
	int rc = plan(s, slots, e->d.vocab, e->d.max_positions);
	if (!rc)
		*out = s;
	return rc;
}

/* Host and backend buffers; the forward comes with the first sequence.
 * On failure s is closed. */
static int plan(tk_eval_scorer *s, size_t slots, size_t vocab, size_t max_context)
{
	tk_backend *be = s->be;
	s->slots = slots ? slots : 1;
	s->vocab = vocab;
	s->max_context = max_context;
	s->logits = tk_malloc(CHUNK * s->vocab * sizeof *s->logits);
	s->lse = tk_malloc(CHUNK * sizeof *s->lse);
	s->dev_logits = tk_backend_alloc(be, CHUNK * s->vocab * sizeof *s->dev_logits);
	s->dev_lse = tk_backend_alloc(be, CHUNK * sizeof *s->dev_lse);
	s->done = tk_calloc(3 * s->slots, sizeof *s->done);
	s->batch_slots = s->done ? s->done + s->slots : NULL;
	s->batch_counts = s->done ? s->done + 2 * s->slots : NULL;
	if (!s->logits || !s->lse || !s->dev_logits || !s->dev_lse || !s->done) {
		tk_eval_scorer_close(s);
		return TK_EOSERR;
	}
	return TK_OK;
}

void tk_eval_scorer_close(tk_eval_scorer *s)
{
	if (!s)
		return;
	tk_forward_close(s->f);
	tk_backend_free(s->be, s->dev_logits);
	tk_backend_free(s->be, s->dev_lse);
	free(s->logits);
	free(s->lse);
	free(s->done);
	if (s->owns_backend)
		tk_backend_close(s->be);
	free(s);
}

size_t tk_eval_scorer_max_length(const tk_eval_scorer *s) { return s->max_context; }

/* A forward whose cache holds `positions` per slot: reopened, twice as
 * large, when a longer sequence comes. */
static int ensure_context(tk_eval_scorer *s, size_t positions)
{
	if (s->f && positions <= s->context)
		return TK_OK;
	if (positions > s->max_context)
		return tk_fail(TK_EDATA, "%zu tokens are more than the model's context of %zu",
			       positions + 1, s->max_context);
	size_t context = MIN_CONTEXT;
	while (context < positions)
		context *= 2;
	if (context > s->max_context)
		context = s->max_context;
	tk_forward_close(s->f);
	s->f = NULL;
	int rc = s->e ? tk_forward_open_engine(&s->f, s->e, *s->adapter_name ? s->adapter_name : NULL,
					       s->slots, context, CHUNK)
		      : tk_forward_open(&s->f, s->be, s->model, s->adapter, s->slots, context, CHUNK);
	if (!rc)
		s->context = context;
	return rc;
}

static int check_tokens(const tk_eval_scorer *s, const int32_t *tokens, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (size_t)tokens[i] >= s->vocab)
			return tk_fail(TK_EDATA, "token %d at position %zu is outside the model's "
				       "vocabulary of %zu", tokens[i], i, s->vocab);
	return TK_OK;
}

/* lse of the first rows of s->logits, by the trainer's kernel. */
static int normalise(tk_eval_scorer *s, size_t rows)
{
	tk_copy_to_device(s->be, s->dev_logits, s->logits, rows * s->vocab * sizeof(float));
	int rc = tk_logsumexp_forward(s->be, s->dev_lse, s->dev_logits, rows, s->vocab);
	if (!rc)
		rc = tk_backend_sync(s->be);
	if (!rc)
		tk_copy_to_host(s->be, s->lse, s->dev_lse, rows * sizeof(float));
	return rc;
}

/* log p(target) from row r of the last logits. */
static float logprob_at(const tk_eval_scorer *s, size_t row, int32_t target)
{
	return s->logits[row * s->vocab + (size_t)target] - s->lse[row];
}

size_t tk_eval_scorer_vocab(const tk_eval_scorer *s) { return s->vocab; }

int tk_eval_scorer_rows(tk_eval_scorer *s, const int32_t *tokens, size_t n,
			tk_eval_rows_fn fn, void *ctx)
{
	int rc = check_tokens(s, tokens, n);
	if (!rc && n > 1)
		rc = ensure_context(s, n - 1);
	if (rc || n < 2)
		return rc;
	tk_forward_clear(s->f, 0);
	size_t slot = 0;
	for (size_t at = 0; at + 1 < n; at += CHUNK) {
		size_t m = n - 1 - at < CHUNK ? n - 1 - at : CHUNK;
		tk_forward_batch b = {1, &slot, &m, tokens + at, 1};
		rc = tk_forward_run(s->f, &b, s->logits);
		if (!rc)
			rc = normalise(s, m);
		if (!rc)
			rc = fn(ctx, at + 1, m, s->logits, s->lse);
		if (rc)
			return rc;
	}
	return TK_OK;
}

/* What tk_eval_scorer_sequence's rows are read with. */
typedef struct sequence_ctx {
	const tk_eval_scorer *s;   /* for its vocabulary */
	const int32_t *tokens;
	float *logprob;
} sequence_ctx;

static int take_logprobs(void *ctx, size_t first, size_t m, const float *logits,
			 const float *lse)
{
	sequence_ctx *c = ctx;
	size_t vocab = c->s->vocab;
	for (size_t j = 0; j < m; j++)
		c->logprob[first + j] = logits[j * vocab + (size_t)c->tokens[first + j]] - lse[j];
	return TK_OK;
}

int tk_eval_scorer_sequence(tk_eval_scorer *s, const int32_t *tokens, size_t n,
			    float *logprob)
{
	if (n == 0)
		return TK_OK;
	logprob[0] = 0;
	sequence_ctx c = {s, tokens, logprob};
	return tk_eval_scorer_rows(s, tokens, n, take_logprobs, &c);
}

/* ---- choices ----------------------------------------------------------- */

/* Runs the prompt in slot 0; leaves the logits of its last token in row 0
 * and their lse. */
static int run_prompt(tk_eval_scorer *s, const int32_t *prompt, size_t n)
{
	size_t slot = 0;
	for (size_t at = 0; at < n; at += CHUNK) {
		size_t m = n - at < CHUNK ? n - at : CHUNK;
		tk_forward_batch b = {1, &slot, &m, prompt + at, 0};
		int rc = tk_forward_run(s->f, &b, s->logits);
		if (rc)
			return rc;
	}
	return normalise(s, 1);
}

/* One run of the continuations' remaining tokens, at most CHUNK of them:
 * choice c has fed done[c] of its n_cont[c] − 1 inputs (slot c).  *more
 * is 0 when nothing was left to run. */
static int run_round(tk_eval_scorer *s, const int32_t *const *cont, const size_t *n_cont,
		     size_t k, double *sums, int *more)
{
	size_t *done = s->done, n_seqs = 0, used = 0;
	for (size_t c = 0; c < k && used < CHUNK; c++) {
		size_t left = n_cont[c] - 1 - done[c];
		if (left == 0)
			continue;
		size_t take = left < CHUNK - used ? left : CHUNK - used;
		memcpy(s->ids + used, cont[c] + done[c], take * sizeof *s->ids);
		s->batch_slots[n_seqs] = c;
		s->batch_counts[n_seqs++] = take;
		used += take;
	}
	*more = n_seqs > 0;
	if (!n_seqs)
		return TK_OK;
	tk_forward_batch b = {n_seqs, s->batch_slots, s->batch_counts, s->ids, 1};
	int rc = tk_forward_run(s->f, &b, s->logits);
	if (!rc)
		rc = normalise(s, used);
	size_t row = 0;
	for (size_t i = 0; !rc && i < n_seqs; i++) {
		size_t c = s->batch_slots[i];
		for (size_t j = 0; j < s->batch_counts[i]; j++, row++)
			sums[c] += logprob_at(s, row, cont[c][done[c] + j + 1]);
		done[c] += s->batch_counts[i];
	}
	return rc;
}

int tk_eval_scorer_choices(tk_eval_scorer *s, const int32_t *prompt, size_t n_prompt,
			   const int32_t *const *cont, const size_t *n_cont, size_t k,
			   double *sums)
{
	if (k == 0 || k > s->slots || n_prompt == 0)
		return tk_fail(TK_EUSAGE, "scorer: %zu choices for %zu slots, prompt of %zu tokens",
			       k, s->slots, n_prompt);
	size_t longest = 0;
	int rc = check_tokens(s, prompt, n_prompt);
	for (size_t c = 0; !rc && c < k; c++) {
		if (n_cont[c] == 0)
			return tk_fail(TK_EUSAGE, "scorer: choice %zu has no token", c);
		rc = check_tokens(s, cont[c], n_cont[c]);
		longest = n_cont[c] > longest ? n_cont[c] : longest;
	}
	if (!rc)
		rc = ensure_context(s, n_prompt + longest - 1);
	for (size_t c = 0; !rc && c < k; c++)
		tk_forward_clear(s->f, c);
	if (!rc)
		rc = run_prompt(s, prompt, n_prompt);
	if (rc)
		return rc;
	for (size_t c = 0; c < k; c++) {
		sums[c] = logprob_at(s, 0, cont[c][0]);
		s->done[c] = 0;
		tk_forward_fork(s->f, c, 0);
	}
	int more = 1;
	while (!rc && more)
		rc = run_round(s, cont, n_cont, k, sums, &more);
	return rc;
}
