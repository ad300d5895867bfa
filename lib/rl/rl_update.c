/* One RL update through the trainer (tk_rl.h): records packed into
 * micro-batches, each one forward, the policy loss from its logprobs
 * (the trainer's loss hook), one backward. */
#include "tk_rl.h"

#include "tk_dist.h"
#include "tk_error.h"
#include "tk_train.h"

#include <stdlib.h>
#include <string.h>

/* Staging for one micro-batch. */
typedef struct stage {
	size_t cap;             /* tokens */
	int32_t *tokens;        /* (cap) */
	float *weights;         /* (cap) */
	float *logprob;         /* (cap) trainer logprobs */
	size_t *starts;         /* (cap + 1) */
	size_t *which;          /* (cap) records of the micro-batch */
	size_t n, n_records;
} stage;

static int stage_open(stage *s, size_t cap)
{
	memset(s, 0, sizeof *s);
	s->cap = cap;
	s->tokens = tk_calloc(cap, sizeof *s->tokens);
	s->weights = tk_calloc(cap, sizeof *s->weights);
	s->logprob = tk_calloc(cap, sizeof *s->logprob);
	s->starts = tk_calloc(cap + 1, sizeof *s->starts);
	s->which = tk_calloc(cap, sizeof *s->which);
	return s->tokens && s->weights && s->logprob && s->starts && s->which ? TK_OK : TK_EOSERR;
}

static void stage_close(stage *s)
{
	free(s->tokens);
	free(s->weights);
	free(s->logprob);
	free(s->starts);
	free(s->which);
}

static int has_gradient(const tk_rl_loss_params *lp, const tk_rl_record *r)
{
	if (lp->kind == TK_RL_DRO)
		return 1;
	for (size_t i = 1; i < r->n; i++)
		if (r->mask[i] != 0 && r->adv[i] != 0)
			return 1;
	return 0;
}

static void stage_add(stage *s, const tk_rl_record *r, size_t index)
{
	memcpy(s->tokens + s->n, r->tokens, r->n * sizeof *s->tokens);
	s->which[s->n_records++] = index;
	s->n += r->n;
	s->starts[s->n_records] = s->n;
}

static tk_train_batch batch_of(const stage *s)
{
	return (tk_train_batch){s->n, s->n_records, s->tokens, s->weights, s->starts};
}

/* What the trainer's loss hook needs to score one micro-batch. */
typedef struct micro_loss {
	const stage *s;
	const tk_rl_loss_params *lp;
	const tk_rl_record *recs;
	double denominator;
} micro_loss;

/* The policy loss of the staged records from the trainer's logprobs p:
 * d loss / dp per token (pg's gradient does not need p). */
static int policy_loss(void *ctx, const tk_train_batch *b, const float *p, float *dloss,
		       double *loss)
{
	const micro_loss *m = ctx;
	(void)b;
	for (size_t k = 0; k < m->s->n_records; k++) {
		const tk_rl_record *r = &m->recs[m->s->which[k]];
		const float *pk = p + m->s->starts[k];
		float *dk = dloss + m->s->starts[k];
		for (size_t i = 1; i < r->n; i++) {
			if (r->mask[i] == 0)
				continue;
			double g = 0;
			*loss += tk_rl_token_loss(m->lp, pk[i], r->sampler ? r->sampler[i] : pk[i],
						  r->adv[i], &g) / m->denominator;
			dk[i] = (float)(g / m->denominator);
		}
	}
	return TK_OK;
}

/* The sampled tokens whose ratio the loss clipped. */
static void count_clipped(const tk_rl_loss_params *lp, const tk_rl_record *r, const float *p,
			  tk_rl_update_result *res)
{
	for (size_t i = 1; i < r->n; i++) {
		if (r->mask[i] == 0)
			continue;
		res->scored++;
		res->clipped += (size_t)tk_rl_token_clipped(lp, p[i], r->sampler[i], r->adv[i]);
	}
}

static void account(const stage *s, const tk_rl_loss_params *lp, const tk_rl_record *recs,
		    double loss, tk_rl_update_result *res)
{
	for (size_t k = 0; k < s->n_records; k++) {
		const tk_rl_record *r = &recs[s->which[k]];
		const float *p = s->logprob + s->starts[k];
		if (!r->sampler)
			continue;
		tk_rl_kl_add(&res->kl, r->sampler + 1, p + 1, r->mask + 1, r->n - 1);
		count_clipped(lp, r, p, res);
	}
	res->loss += loss;
	res->records += s->n_records;
	res->tokens += s->n;
}

/* One forward, the loss from its logprobs, one backward. */
static int run_micro(tk_train *t, stage *s, const tk_rl_loss_params *lp,
		     const tk_rl_record *recs, double denominator, tk_rl_update_result *res)
{
	for (size_t k = 0; k < s->n_records; k++) { // weights: what is trained, for the counts
		const tk_rl_record *r = &recs[s->which[k]];
		memcpy(s->weights + s->starts[k], r->mask, r->n * sizeof *s->weights);
	}
	tk_train_batch b = batch_of(s);
	micro_loss m = {s, lp, recs, denominator};
	tk_train_result tr = {0};
	int rc = tk_train_forward_backward_fn(t, &b, policy_loss, &m, &tr, s->logprob);
	if (!rc)
		account(s, lp, recs, tr.loss, res);
	return rc;
}

int tk_rl_update(tk_train *t, const tk_rl_loss_params *lp, const tk_rl_record *recs, size_t n,
		 size_t micro_tokens, double denominator, tk_rl_update_result *res)
{
	memset(res, 0, sizeof *res);
	for (size_t i = 0; i < n; i++)
		if (recs[i].n > micro_tokens || recs[i].n == 0)
			return tk_fail(TK_EUSAGE, "rl: record %zu has %zu tokens (1..%zu a pass)", i,
				       recs[i].n, micro_tokens);
	if (!(denominator > 0))
		return tk_fail(TK_EUSAGE, "rl: the loss denominator must be positive");
	stage s;
	int rc = stage_open(&s, micro_tokens);
	for (size_t i = 0; !rc && i < n;) {
		s.n = s.n_records = 0;
		for (; i < n && s.n + recs[i].n <= s.cap; i++) {
			if (has_gradient(lp, &recs[i]))
				stage_add(&s, &recs[i], i);
			else
				res->skipped++;
		}
		if (s.n_records)
			rc = run_micro(t, &s, lp, recs, denominator, res);
	}
	stage_close(&s);
	// several ranks: each ran its records; the sums are the batch's (tk_dist.h)
	return rc ? rc : tk_dist_sum_rl_update(res);
}
