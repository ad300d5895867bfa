/* The built-in losses of a forward_backward on a trainer: datums packed
 * into passes of at most --max-tokens, each run as tk's weighted
 * cross-entropy (tinker's cross_entropy: Σ −w·logprob, not normalised) or
 * through the trainer's loss hook with tk-rl's per-token policy losses
 * (importance_sampling, ppo, cispo, dro; lib/rl/rl_loss.c). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_losses.h"
#include "tk_error.h"
#include "tk_rl.h"
#include "tk_train.h"

static int bad(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return TK_EDATA;
}

int serve_loss_parse(const char *name, const serve_fb *fb, serve_loss *l, char *err,
		     size_t cap)
{
	memset(l, 0, sizeof *l);
	if (!strcmp(name, "cross_entropy")) {
		l->ce = 1;
		return 0;
	}
	int kind = !strcmp(name, "importance_sampling") ? TK_RL_IS
		   : !strcmp(name, "ppo")               ? TK_RL_PPO
		   : !strcmp(name, "cispo")             ? TK_RL_CISPO
		   : !strcmp(name, "dro")               ? TK_RL_DRO
							: -1;
	if (kind < 0)
		return bad(err, cap, "loss_fn %s is not one tk-serve has (cross_entropy, "
			   "importance_sampling, ppo, cispo, dro)", name);
	l->rl.kind = kind;
	l->rl.clip_low = isnan(fb->clip_low) ? 0.8 : fb->clip_low;
	l->rl.clip_high = isnan(fb->clip_high) ? 1.2 : fb->clip_high;
	l->rl.dro_beta = isnan(fb->beta) ? 0.05 : fb->beta;
	if (!(l->rl.clip_low > 0 && l->rl.clip_low <= 1 && l->rl.clip_high >= 1))
		return bad(err, cap, "loss_fn_config: clip_low_threshold %g and clip_high_threshold "
			   "%g must be ratio bounds with 0 < low <= 1 <= high", l->rl.clip_low,
			   l->rl.clip_high);
	return 0;
}

/* Every datum carries what the loss reads. */
static int check_inputs(const serve_fb *fb, const serve_loss *l, char *err, size_t cap)
{
	for (size_t i = 0; i < fb->n_data; i++) {
		const serve_datum *d = &fb->data[i];
		if (l->ce && !d->weights)
			return bad(err, cap, "datum %zu: cross_entropy needs weights", i);
		if (!l->ce && (!d->logprobs || !d->advantages))
			return bad(err, cap, "datum %zu: %s needs logprobs and advantages", i,
				   tk_rl_loss_name(l->rl.kind));
	}
	return 0;
}

/* The datums [a, b) as one batch: each a record of n + 1 tokens, the
 * weight of position i at its target, record index i + 1. */
typedef struct pass {
	tk_train_batch b;
	int32_t *tokens;
	float *weights, *q, *adv;   /* (n) per token, 0 at a record's first */
	size_t *starts;
	const serve_loss *loss;
	int negative;               /* some weight < 0 */
} pass;

static void pass_free(pass *p)
{
	free(p->tokens);
	free(p->weights);
	free(p->q);
	free(p->adv);
	free(p->starts);
}

static int pass_make(pass *p, const serve_fb *fb, size_t a, size_t z)
{
	size_t n = 0;
	for (size_t i = a; i < z; i++)
		n += fb->data[i].n + 1;
	p->tokens = malloc(n * sizeof *p->tokens);
	p->weights = calloc(n, sizeof *p->weights);
	p->q = calloc(n, sizeof *p->q);
	p->adv = calloc(n, sizeof *p->adv);
	p->starts = malloc((z - a + 1) * sizeof *p->starts);
	if (!p->tokens || !p->weights || !p->q || !p->adv || !p->starts)
		return tk_fail(TK_EOSERR, "out of memory for a batch of %zu tokens", n);
	size_t at = 0;
	for (size_t i = a; i < z; i++) {
		const serve_datum *d = &fb->data[i];
		p->starts[i - a] = at;
		memcpy(p->tokens + at, d->tokens, (d->n + 1) * sizeof *d->tokens);
		for (size_t k = 0; k < d->n; k++) {
			/* RL losses: weight 1 marks the positions that have a target */
			float w = p->loss->ce ? d->weights[k] : 1;
			p->weights[at + k + 1] = w;
			p->negative |= w < 0;
			p->q[at + k + 1] = d->logprobs ? d->logprobs[k] : 0;
			p->adv[at + k + 1] = d->advantages ? d->advantages[k] : 0;
		}
		at += d->n + 1;
	}
	p->starts[z - a] = at;
	p->b = (tk_train_batch){.n = n, .n_records = z - a, .tokens = p->tokens,
				.weights = p->weights, .starts = p->starts};
	return 0;
}

/* The loss hook: d loss / d logprob per token, and the loss. */
static int pass_loss(void *ctx, const tk_train_batch *b, const float *logprob, float *dloss,
		     double *loss)
{
	const pass *p = ctx;
	double sum = 0;
	for (size_t i = 0; i < b->n; i++) {
		dloss[i] = 0;
		if (p->loss->ce) {
			sum -= (double)p->weights[i] * logprob[i];
			dloss[i] = -p->weights[i];
			continue;
		}
		if (p->weights[i] == 0)
			continue;   /* a record's first token */
		double g;
		sum += tk_rl_token_loss(&p->loss->rl, logprob[i], p->q[i], p->adv[i], &g);
		dloss[i] = (float)g;
	}
	*loss = sum;
	return 0;
}

/* The per-position outputs of datums [a, z) from the pass's logprobs. */
static void pass_outputs(const pass *p, const serve_fb *fb, size_t a, size_t z,
			 const float *lp, float *lp_out, float *el_out)
{
	size_t out = 0, at = 0;
	for (size_t i = 0; i < a; i++)
		out += fb->data[i].n;
	for (size_t i = a; i < z; i++) {
		for (size_t k = 0; k < fb->data[i].n; k++) {
			size_t t = at + k + 1;
			lp_out[out + k] = lp[t];
			double g;
			el_out[out + k] = p->loss->ce
				? (float)(-(double)p->weights[t] * lp[t])
				: (float)tk_rl_token_loss(&p->loss->rl, lp[t], p->q[t], p->adv[t], &g);
		}
		out += fb->data[i].n;
		at += fb->data[i].n + 1;
	}
}

/* One pass: forward only, CE through the fused kernel, or the hook. */
static int pass_run(struct tk_train *t, pass *p, int forward_only, float *lp, double *loss)
{
	tk_train_result res = {0};
	tk_train_loss ce = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 1.0, 0};
	int rc;
	if (forward_only || (p->loss->ce && !p->negative)) {
		rc = forward_only ? tk_train_forward(t, &p->b, &ce, &res, lp)
				  : tk_train_forward_backward(t, &p->b, &ce, &res, lp);
		if (rc || p->loss->ce) {
			*loss = res.loss;
			return rc;
		}
		float *scratch = malloc(p->b.n * sizeof *scratch);
		if (!scratch)
			return tk_fail(TK_EOSERR, "out of memory");
		rc = pass_loss(p, &p->b, lp, scratch, loss);
		free(scratch);
		return rc;
	}
	rc = tk_train_forward_backward_fn(t, &p->b, pass_loss, p, &res, lp);
	*loss = res.loss;
	return rc;
}

int serve_loss_run(struct tk_train *t, size_t max_tokens, const serve_fb *fb,
		   const serve_loss *l, float *lp_out, float *el_out, double *loss_sum,
		   char *err, size_t cap)
{
	int rc = check_inputs(fb, l, err, cap);
	if (rc)
		return rc;
	for (size_t i = 0; i < fb->n_data; i++)
		if (fb->data[i].n + 1 > max_tokens)
			return bad(err, cap, "datum %zu has %zu tokens, more than this server's "
				   "--max-tokens %zu per pass: restart tk-serve with a larger "
				   "--max-tokens if memory allows", i, fb->data[i].n + 1, max_tokens);
	*loss_sum = 0;
	for (size_t a = 0, z; a < fb->n_data; a = z) {
		size_t n = 0;
		for (z = a; z < fb->n_data && n + fb->data[z].n + 1 <= max_tokens; z++)
			n += fb->data[z].n + 1;
		pass p = {.loss = l};
		float *lp = NULL;
		double loss = 0;
		rc = pass_make(&p, fb, a, z);
		if (!rc && !(lp = malloc(p.b.n * sizeof *lp)))
			rc = tk_fail(TK_EOSERR, "out of memory");
		if (!rc)
			rc = pass_run(t, &p, fb->forward_only, lp, &loss);
		if (!rc)
			pass_outputs(&p, fb, a, z, lp, lp_out, el_out);
		*loss_sum += loss;
		free(lp);
		pass_free(&p);
		if (rc)
			return bad(err, cap, "%s", tk_error_message());
	}
	return 0;
}
