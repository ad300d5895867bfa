/* forward_backward and the optimizer step: staging a packed batch, the
 * weighted cross-entropy and DPO losses over the fused unembedding, the
 * grad norm, clipping and AdamW (tk_train.h). */
#include "train_internal.h"

#include "kernels.h"
#include "tk_dist.h"
#include "tk_error.h"

#include <math.h>
#include <string.h>

/* ---- staging ----------------------------------------------------------- */

static int check_batch(const tk_train *t, const tk_train_batch *b)
{
	if (b->n == 0 || b->n_records == 0)
		return tk_fail(TK_EUSAGE, "train: empty batch");
	if (b->n > t->max_tokens)
		return tk_fail(TK_EUSAGE, "train: batch of %zu tokens, more than the %zu planned",
			       b->n, t->max_tokens);
	if (b->starts[0] != 0 || b->starts[b->n_records] != b->n)
		return tk_fail(TK_EUSAGE, "train: records do not cover the batch");
	for (size_t r = 0; r < b->n_records; r++) {
		size_t len = b->starts[r + 1] - b->starts[r];
		if (b->starts[r + 1] <= b->starts[r] || len > t->d.max_positions)
			return tk_fail(TK_EUSAGE, "train: record %zu has %zu tokens (1..%zu)", r,
				       b->starts[r + 1] > b->starts[r] ? len : 0,
				       t->d.max_positions);
	}
	for (size_t i = 0; i < b->n; i++)
		if (b->tokens[i] < 0 || (size_t)b->tokens[i] >= t->d.vocab)
			return tk_fail(TK_EDATA, "train: token %d is outside the vocabulary of %zu",
				       b->tokens[i], t->d.vocab);
	return TK_OK;
}

/* Ids, positions, next-token targets (−1 at a record's end) and record
 * boundaries, to the backend. */
static void stage(tk_train *t, const tk_train_batch *b)
{
	for (size_t r = 0; r < b->n_records; r++) {
		size_t s = b->starts[r], e = b->starts[r + 1];
		t->h_cu[r] = (int32_t)s;
		for (size_t i = s; i < e; i++) {
			t->h_ids[i] = b->tokens[i];
			t->h_pos[i] = (int32_t)(i - s);
			t->h_target[i] = i + 1 < e ? b->tokens[i + 1] : -1;
		}
	}
	t->h_cu[b->n_records] = (int32_t)b->n;
	tk_copy_to_device(t->be, t->a.ids, t->h_ids, b->n * sizeof *t->h_ids);
	tk_copy_to_device(t->be, t->a.pos, t->h_pos, b->n * sizeof *t->h_pos);
	tk_copy_to_device(t->be, t->a.target, t->h_target, b->n * sizeof *t->h_target);
	tk_copy_to_device(t->be, t->a.cu, t->h_cu, (b->n_records + 1) * sizeof *t->h_cu);
}

/* Σ w over the targets of record r. */
static double record_weight(const tk_train_batch *b, size_t r)
{
	double w = 0;
	for (size_t i = b->starts[r] + 1; i < b->starts[r + 1]; i++)
		w += b->weights[i];
	return w;
}

/* coef[i] = scale_r · w[i+1]: the coefficient of token i's prediction. */
static void set_coef(tk_train *t, const tk_train_batch *b, const double *scale)
{
	for (size_t r = 0; r < b->n_records; r++) {
		size_t s = b->starts[r], e = b->starts[r + 1];
		for (size_t i = s; i + 1 < e; i++)
			t->h_coef[i] = (float)(scale[r] * b->weights[i + 1]);
		t->h_coef[e - 1] = 0;
	}
	tk_copy_to_device(t->be, t->a.coef, t->h_coef, b->n * sizeof *t->h_coef);
}

/* The fused unembedding and cross-entropy with the staged coefficients;
 * with grads, dh into a.dxn and the lm_head gradient.  Losses and
 * logprobs to the host. */
static int unembed(tk_train *t, size_t n, int grads)
{
	tr_arena *a = &t->a;
	int rc = tk_cross_entropy_fused(t->be, a->loss, a->logprob, grads ? a->dxn : NULL,
					grads ? t->d_lm_head : NULL, a->h, t->lm_head,
					t->lm_head_packed, t->lm_head_packed_bwd, t->lm_head_form, a->target, a->coef, n, t->d.hidden, t->d.vocab);
	if (rc)
		return rc;
	tk_copy_to_host(t->be, t->h_loss, a->loss, n * sizeof *t->h_loss);
	tk_copy_to_host(t->be, t->h_logprob, a->logprob, n * sizeof *t->h_logprob);
	return TK_OK;
}

/* Per-record Σ w·logprob from the host logprobs into out (n_records). */
static void record_logprob(const tk_train *t, const tk_train_batch *b, double *out)
{
	for (size_t r = 0; r < b->n_records; r++) {
		double s = 0;
		for (size_t i = b->starts[r]; i + 1 < b->starts[r + 1]; i++)
			s += (double)b->weights[i + 1] * t->h_logprob[i];
		out[r] = s;
	}
}

static void copy_logprobs(const tk_train *t, const tk_train_batch *b, float *out)
{
	if (!out)
		return;
	for (size_t r = 0; r < b->n_records; r++) {
		size_t s = b->starts[r], e = b->starts[r + 1];
		out[s] = 0;
		for (size_t i = s; i + 1 < e; i++)
			out[i + 1] = t->h_logprob[i];
	}
}

static void count_tokens(const tk_train_batch *b, tk_train_result *res)
{
	for (size_t r = 0; r < b->n_records; r++)
		for (size_t i = b->starts[r] + 1; i < b->starts[r + 1]; i++) {
			res->weight += b->weights[i];
			res->tokens += b->weights[i] != 0;
		}
}

/* ---- cross-entropy ----------------------------------------------------- */

/* The records' scales (n_records, in h_ref) and the coefficients. */
static double *ce_coef(tk_train *t, const tk_train_batch *b, const tk_train_loss *loss)
{
	double *scale = t->h_ref; // (n_records)
	for (size_t r = 0; r < b->n_records; r++) {
		double w = loss->norm == TK_TRAIN_PER_EXAMPLE ? record_weight(b, r) : 1;
		scale[r] = w != 0 ? 1.0 / (w * loss->denominator) : 0;
	}
	set_coef(t, b, scale);
	return scale;
}

static int cross_entropy(tk_train *t, const tk_train_batch *b, const tk_train_loss *loss,
			 tk_train_result *res, int grads)
{
	ce_coef(t, b, loss);
	int rc = tr_forward(t, b->n, b->n_records, 0);
	if (!rc)
		rc = unembed(t, b->n, grads);
	if (rc)
		return rc;
	double sum = 0, nll = 0;
	for (size_t i = 0; i < b->n; i++)
		sum += t->h_loss[i];
	record_logprob(t, b, t->h_pi);
	for (size_t r = 0; r < b->n_records; r++)
		nll -= t->h_pi[r];
	res->loss += sum;
	res->nll += nll;
	count_tokens(b, res);
	return grads ? tr_backward(t, b->n, b->n_records) : TK_OK;
}

/* ---- soft targets (top-K distillation) ---------------------------------- */

/* The cross-entropy against the batch's soft targets (tk_train.h): the
 * fused kernel's soft form on the targets train_soft.c stages; res.nll
 * gets Σ w · that cross-entropy (a token's loss over its record's scale). */
static int soft_cross_entropy(tk_train *t, const tk_train_batch *b, const tk_train_loss *loss,
			      const tk_train_soft *soft, tk_train_result *res, int grads)
{
	double *scale = ce_coef(t, b, loss);
	tr_soft s;
	int rc = tr_soft_stage(t, b, soft, &s);
	if (!rc)
		rc = tr_forward(t, b->n, b->n_records, 0);
	tr_arena *a = &t->a;
	if (!rc)
		rc = tk_cross_entropy_soft_fused(t->be, a->loss, grads ? a->dxn : NULL,
						 grads ? t->d_lm_head : NULL, a->h, t->lm_head,
						 t->lm_head_packed, t->lm_head_packed_bwd, t->lm_head_form,
						 s.ids, s.q,
						 s.k, a->coef, b->n, t->d.hidden, t->d.vocab);
	tr_soft_free(t, &s);
	if (rc)
		return rc;
	tk_copy_to_host(t->be, t->h_loss, a->loss, b->n * sizeof *t->h_loss);
	for (size_t r = 0; r < b->n_records; r++)
		for (size_t i = b->starts[r]; i < b->starts[r + 1]; i++) {
			res->loss += t->h_loss[i];
			res->nll += scale[r] != 0 ? t->h_loss[i] / scale[r] : 0;
		}
	count_tokens(b, res);
	return grads ? tr_backward(t, b->n, b->n_records) : TK_OK;
}

/* ---- DPO --------------------------------------------------------------- */

static double softplus(double x)
{
	return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* Σ w·logprob of every record, with or without the adapter. */
static int dpo_logprobs(tk_train *t, const tk_train_batch *b, int lora_off, double *out)
{
	int rc = tr_forward(t, b->n, b->n_records, lora_off);
	if (!rc)
		rc = unembed(t, b->n, 0);
	if (!rc)
		record_logprob(t, b, out);
	return rc;
}

/* The reference Σ w·log p of every record: the caller's where known, else
 * computed (without the adapter) and handed back. */
static int reference(tk_train *t, const tk_train_batch *b, double *known, double *ref)
{
	int missing = !known;
	for (size_t r = 0; r < b->n_records && !missing; r++)
		missing = isnan(known[r]);
	if (!missing) {
		memcpy(ref, known, b->n_records * sizeof *ref);
		return TK_OK;
	}
	int rc = dpo_logprobs(t, b, 1, ref);
	for (size_t r = 0; !rc && known && r < b->n_records; r++)
		known[r] = ref[r];
	return rc;
}

static int dpo(tk_train *t, const tk_train_batch *b, const tk_train_loss *loss,
	       double *known, tk_train_result *res, int grads)
{
	if (!t->lora_rank)
		return tk_fail(TK_EUSAGE, "train: DPO needs an adapter (the reference is the "
			       "base model without it)");
	if (b->n_records % 2)
		return tk_fail(TK_EUSAGE, "train: DPO takes pairs of records, not %zu records",
			       b->n_records);
	double *ones = t->h_pi; // weights as they are, for the sums of logprobs
	for (size_t r = 0; r < b->n_records; r++)
		ones[r] = 1;
	set_coef(t, b, ones);
	double *ref = t->h_ref, *pi = t->h_pi;
	int rc = reference(t, b, known, ref);
	if (!rc)
		rc = dpo_logprobs(t, b, 0, pi);
	if (rc)
		return rc;
	// dL/dπ per record, then the CE coefficient −dL/dπ · w whose gradient is dL
	double beta = loss->dpo_beta;
	for (size_t r = 0; r < b->n_records; r += 2) {
		double z = beta * ((pi[r] - ref[r]) - (pi[r + 1] - ref[r + 1]));
		double dz = -1.0 / (1.0 + exp(z)) / loss->denominator; // −σ(−z) / denominator
		res->loss += softplus(-z) / loss->denominator;
		res->nll -= pi[r];
		res->pairs++;
		res->dpo_correct += z > 0;
		res->dpo_margin += z;
		res->dpo_chosen += beta * (pi[r] - ref[r]);
		res->dpo_rejected += beta * (pi[r + 1] - ref[r + 1]);
		pi[r] = -beta * dz;
		pi[r + 1] = beta * dz;
	}
	for (size_t r = 0; r < b->n_records; r += 2) { // the chosen records' tokens
		for (size_t i = b->starts[r] + 1; i < b->starts[r + 1]; i++) {
			res->weight += b->weights[i];
			res->tokens += b->weights[i] != 0;
		}
	}
	if (!grads)
		return TK_OK;
	set_coef(t, b, pi);
	rc = unembed(t, b->n, 1); // a.h still holds the trained model's hidden state
	return rc ? rc : tr_backward(t, b->n, b->n_records);
}

/* ---- a loss of the logprobs -------------------------------------------- */

/* coef[i] = −dloss[i+1]: the cross-entropy coefficient whose gradient is
 * the loss's (CE's loss is −coef·logprob). */
static void coef_of_dloss(tk_train *t, const tk_train_batch *b, const float *dloss)
{
	for (size_t r = 0; r < b->n_records; r++) {
		size_t s = b->starts[r], e = b->starts[r + 1];
		for (size_t i = s; i + 1 < e; i++)
			t->h_coef[i] = -dloss[i + 1];
		t->h_coef[e - 1] = 0;
	}
	tk_copy_to_device(t->be, t->a.coef, t->h_coef, b->n * sizeof *t->h_coef);
}

static int custom(tk_train *t, const tk_train_batch *b, tk_train_loss_fn fn, void *ctx,
		  tk_train_result *res)
{
	tk_backend_zero(t->be, t->a.coef, b->n * sizeof *t->a.coef);
	int rc = tr_forward(t, b->n, b->n_records, 0);
	if (!rc)
		rc = unembed(t, b->n, 0);
	if (rc)
		return rc;
	float *logprob = t->h_fn_logprob, *dloss = t->h_fn_dloss;
	copy_logprobs(t, b, logprob);
	memset(dloss, 0, b->n * sizeof *dloss);
	double value = 0;
	if ((rc = fn(ctx, b, logprob, dloss, &value)))
		return rc;
	res->loss += value;
	count_tokens(b, res);
	coef_of_dloss(t, b, dloss);
	rc = unembed(t, b->n, 1); // a.h still holds the hidden state: no second forward
	return rc ? rc : tr_backward(t, b->n, b->n_records);
}

/* ---- entry points ------------------------------------------------------ */

static int run(tk_train *t, const tk_train_batch *b, const tk_train_loss *loss,
	       const tk_train_soft *soft, double *known, tk_train_result *res, float *logprobs,
	       int grads)
{
	memset(res, 0, sizeof *res);
	if (!(loss->denominator > 0))
		return tk_fail(TK_EUSAGE, "train: the loss denominator must be positive");
	int rc = check_batch(t, b);
	if (rc)
		return rc;
	if (soft && loss->kind != TK_TRAIN_CE)
		return tk_fail(TK_EUSAGE, "train: soft targets are for the cross-entropy");
	stage(t, b);
	rc = loss->kind == TK_TRAIN_DPO ? dpo(t, b, loss, known, res, grads)
		: soft ? soft_cross_entropy(t, b, loss, soft, res, grads)
		: cross_entropy(t, b, loss, res, grads);
	if (!rc && !soft) // the last pass was the trained model's
		copy_logprobs(t, b, logprobs);
	return rc;
}

int tk_train_forward_backward(tk_train *t, const tk_train_batch *b,
			      const tk_train_loss *loss, tk_train_result *res, float *logprobs)
{
	return run(t, b, loss, NULL, NULL, res, logprobs, 1);
}

int tk_train_forward_backward_soft(tk_train *t, const tk_train_batch *b,
				   const tk_train_loss *loss, const tk_train_soft *soft,
				   tk_train_result *res)
{
	return run(t, b, loss, soft, NULL, res, NULL, 1);
}

int tk_train_forward_soft(tk_train *t, const tk_train_batch *b, const tk_train_loss *loss,
			  const tk_train_soft *soft, tk_train_result *res)
{
	return run(t, b, loss, soft, NULL, res, NULL, 0);
}

int tk_train_forward_backward_ref(tk_train *t, const tk_train_batch *b,
				  const tk_train_loss *loss, double *ref_logprob,
				  tk_train_result *res, float *logprobs)
{
	return run(t, b, loss, NULL, ref_logprob, res, logprobs, 1);
}

int tk_train_forward_backward_fn(tk_train *t, const tk_train_batch *b, tk_train_loss_fn fn,
				 void *ctx, tk_train_result *res, float *logprobs)
{
	memset(res, 0, sizeof *res);
	int rc = check_batch(t, b);
	if (rc)
		return rc;
	stage(t, b);
	rc = custom(t, b, fn, ctx, res);
	if (!rc)
		copy_logprobs(t, b, logprobs);
	return rc;
}

int tk_train_base_logprobs(tk_train *t, const tk_train_batch *b, float *logprobs)
{
	if (!t->lora_rank)
		return tk_fail(TK_EUSAGE, "train: the base's logprobs need an adapter to leave out");
	int rc = check_batch(t, b);
	if (rc)
		return rc;
	stage(t, b);
	tk_backend_zero(t->be, t->a.coef, b->n * sizeof *t->a.coef);
	rc = tr_forward(t, b->n, b->n_records, 1);
	if (!rc)
		rc = unembed(t, b->n, 0);
	if (!rc)
		copy_logprobs(t, b, logprobs);
	return rc;
}

int tk_train_forward(tk_train *t, const tk_train_batch *b, const tk_train_loss *loss,
		     tk_train_result *res, float *logprobs)
{
	return run(t, b, loss, NULL, NULL, res, logprobs, 0);
}

/* ---- optimizer --------------------------------------------------------- */

void tk_train_zero_grad(tk_train *t)
{
	tk_backend_zero(t->be, t->grad, t->train_floats * sizeof *t->grad);
}

int tk_train_optim_step(tk_train *t, const tk_train_adamw *opt, double clip,
			double *grad_norm)
{
	/* data parallelism: each rank's gradient is its records' part of the
	 * batch's, scaled by the whole batch's denominator; their sum is the
	 * batch's gradient (tk_dist.h; nothing with one rank) */
	int rc = tk_dist_sum_grads(t->be, t->grad, t->train_floats);
	if (rc)
		return rc;
	tk_backend_zero(t->be, t->sumsq, sizeof *t->sumsq);
	rc = tk_sumsq(t->be, t->sumsq, t->grad, t->train_floats);
	if (rc)
		return rc;
	float sumsq;
	tk_copy_to_host(t->be, &sumsq, t->sumsq, sizeof sumsq);
	double norm = sqrt((double)sumsq);
	if (grad_norm)
		*grad_norm = norm;
	if (!isfinite(norm))
		return tk_fail(TK_EDATA, "gradient norm is %g at step %lld", norm,
			       (long long)t->step + 1);
	if (clip > 0)
		tk_clip_by_norm(t->be, t->grad, t->train_floats, t->sumsq, (float)clip);
	struct tk_adamw a = {opt->lr, opt->beta1, opt->beta2, opt->eps, opt->weight_decay};
	t->step++;
	tk_adamw_step(t->be, t->param, t->grad, t->m, t->v, t->train_floats, &a, t->step);
	tk_train_zero_grad(t);
	return TK_OK;
}
