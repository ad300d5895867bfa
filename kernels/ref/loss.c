/* Weighted next-token cross-entropy through the unembedding, and the row
 * log-sum-exp.  One token at a time: its logits row whole (the workspace
 * holds it), made by the very operations of tk_ref_matmul_forward, its
 * log-sum-exp by those of tk_ref_logsumexp_forward, so that a sampler's
 * logits[t] − lse equals the trainer's logprob bit for bit here too. */
#include "ref.h"

/* log Σ_j e^(logits[j]) over one row, in double, rounded once. */
static float row_logsumexp(const float *logits, size_t vocab)
{
	double max = -INFINITY, sum = 0.0;
	for (size_t j = 0; j < vocab; j++)
		max = fmax(max, logits[j]);
	for (size_t j = 0; j < vocab; j++)
		sum += exp(logits[j] - max);
	return (float)(max + log(sum));
}

int tk_ref_logsumexp_forward(tk_backend *be, float *lse, const float *logits, size_t n,
			     size_t vocab)
{
	(void)be;
	for (size_t i = 0; i < n; i++)
		lse[i] = row_logsumexp(logits + i * vocab, vocab);
	return TK_KERNEL_OK;
}

/* W (vocab, c): the packed copies are W itself here (any of the three
 * will do), or in bf16, its values rounded (tk_ref_matmul_pack_as). */
static const float *weights_of(const float *w, const void *packed, const void *packed_bwd,
			       int form)
{
	if (form == TK_PACK_BF16_DOT)
		return packed;
	return w ? w : packed ? packed : packed_bwd;
}

/* One row of logits, h (c) · W (vocab, c)ᵀ, by tk_ref_matmul_forward or in
 * bf16 by tk_ref_matmul_forward_packed_as (h rounded).  The gradient's
 * dlogits are not rounded here: the cpu backend's are. */
static void logits_of(tk_backend *be, float *logits, const float *h, const float *wm, int form,
		      size_t c, size_t vocab)
{
	if (form == TK_PACK_BF16_DOT)
		tk_ref_matmul_forward_packed_as(be, logits, h, wm, form, NULL, 1, c, vocab, 0);
	else
		tk_ref_matmul_forward(be, logits, h, wm, NULL, 1, c, vocab, 0);
}

/* Token i's gradient: g_j = weight·(softmax_j − [j = target]) (target ≥ 0);
 * dh_i = Σ_j g_j·W_j assigned, dw_j += g_j·h_i. */
static void token_gradient(float *dh, float *dw, double *dh_acc, const float *h,
			   const float *w, const float *logits, float lse, int32_t target,
			   float weight, size_t c, size_t vocab)
{
	for (size_t k = 0; k < c; k++)
		dh_acc[k] = 0.0;
	for (size_t j = 0; j < vocab; j++) {
		double g = weight * (exp((double)logits[j] - lse) - (j == (size_t)target ? 1.0 : 0.0));
		for (size_t k = 0; k < c; k++)
			dh_acc[k] += g * w[j * c + k];
		for (size_t k = 0; dw && k < c; k++)
			dw[j * c + k] = (float)(dw[j * c + k] + g * h[k]);
	}
	for (size_t k = 0; dh && k < c; k++)
		dh[k] = (float)dh_acc[k];
}

int tk_ref_cross_entropy_fused(tk_backend *be, float *loss, float *logprob, float *dh,
			       float *dw, const float *h, const float *w, const void *w_packed,
			       const void *w_packed_backward, int form, const int32_t *target,
			       const float *weight, size_t n, size_t c, size_t vocab)
{
	// loss, logprob, target, weight (n)   dh, h (n, c)   dw, w (vocab, c)
	const float *wm = weights_of(w, w_packed, w_packed_backward, form);
	tk_workspace_mark mark = tk_workspace_mark_now(be);
	float *logits = tk_workspace_take(be, vocab * sizeof *logits); // (vocab)
	double *dh_acc = tk_workspace_take(be, c * sizeof *dh_acc);    // (c)
	if (!logits || !dh_acc) {
		tk_workspace_release(be, mark);
		return tk_backend_fail(be, TK_KERNEL_ENOMEM, "out of memory for a %zu-logit row",
				       vocab);
	}
	for (size_t i = 0; i < n; i++) {
		const float *hi = h + i * c;
		logits_of(be, logits, hi, wm, form, c, vocab);
		float lse = row_logsumexp(logits, vocab);
		int has_target = target[i] >= 0;
		float lp = has_target ? logits[target[i]] - lse : 0.0f;
		if (logprob)
			logprob[i] = lp;
		if (loss)
			loss[i] = has_target ? -weight[i] * lp : 0.0f;
		if (!dh && !dw)
			continue;
		if (has_target)
			token_gradient(dh ? dh + i * c : NULL, dw, dh_acc, hi, wm, logits, lse,
				       target[i], weight[i], c, vocab);
		else if (dh)
			memset(dh + i * c, 0, c * sizeof *dh);
	}
	tk_workspace_release(be, mark);
	return TK_KERNEL_OK;
}

/* Token i against soft targets (ids, q: k of each, −1 an empty slot):
 * g_j = weight·(S·softmax_j − Σ_{s: ids_s = j} q_s), S = Σ q over filled
 * slots; dh_i = Σ_j g_j·W_j assigned, dw_j += g_j·h_i.  In the order of
 * token_gradient's operations, so that one target of probability 1 gives
 * its bits. */
static void soft_token_gradient(float *dh, float *dw, double *dh_acc, double *g, const float *h,
				const float *w, const float *logits, float lse,
				const int32_t *ids, const float *q, size_t k, float weight,
				size_t c, size_t vocab)
{
	double mass = 0.0;
	for (size_t s = 0; s < k; s++)
		mass += ids[s] >= 0 ? q[s] : 0.0;
	for (size_t j = 0; j < vocab; j++)
		g[j] = mass * exp((double)logits[j] - lse);
	for (size_t s = 0; s < k; s++)
		if (ids[s] >= 0)
			g[ids[s]] -= q[s];
	for (size_t kk = 0; kk < c; kk++)
		dh_acc[kk] = 0.0;
	for (size_t j = 0; j < vocab; j++) {
		double gj = weight * g[j];
		for (size_t kk = 0; kk < c; kk++)
			dh_acc[kk] += gj * w[j * c + kk];
		for (size_t kk = 0; dw && kk < c; kk++)
			dw[j * c + kk] = (float)(dw[j * c + kk] + gj * h[kk]);
	}
	for (size_t kk = 0; dh && kk < c; kk++)
		dh[kk] = (float)dh_acc[kk];
}

/* loss_i = −weight_i · Σ_s q_s · (z[ids_s] − lse), each log p as the hard
 * loss makes it (float), their sum in double. */
static float soft_token_loss(const float *logits, float lse, const int32_t *ids,
			     const float *q, size_t k, float weight)
{
	double sum = 0.0;
	int any = 0;
	for (size_t s = 0; s < k; s++)
		if (ids[s] >= 0) {
			sum += (double)q[s] * (float)(logits[ids[s]] - lse);
			any = 1;
		}
	return any ? (float)(-(double)weight * sum) : 0.0f; // no target: 0, as the hard loss
}

int tk_ref_cross_entropy_soft_fused(tk_backend *be, float *loss, float *dh, float *dw,
				    const float *h, const float *w, const void *w_packed,
				    const void *w_packed_backward, int form, const int32_t *ids,
				    const float *q, size_t k, const float *weight, size_t n,
				    size_t c, size_t vocab)
{
	// loss, weight (n)   ids, q (n, k)   dh, h (n, c)   dw, w (vocab, c)
	const float *wm = weights_of(w, w_packed, w_packed_backward, form);
	tk_workspace_mark mark = tk_workspace_mark_now(be);
	float *logits = tk_workspace_take(be, vocab * sizeof *logits);  // (vocab)
	double *g = tk_workspace_take(be, vocab * sizeof *g);            // (vocab)
	double *dh_acc = tk_workspace_take(be, c * sizeof *dh_acc);      // (c)
	if (!logits || !g || !dh_acc) {
		tk_workspace_release(be, mark);
		return tk_backend_fail(be, TK_KERNEL_ENOMEM, "out of memory for a %zu-logit row",
				       vocab);
	}
	for (size_t i = 0; i < n; i++) {
		const float *hi = h + i * c;
		logits_of(be, logits, hi, wm, form, c, vocab);
		float lse = row_logsumexp(logits, vocab);
		if (loss)
			loss[i] = soft_token_loss(logits, lse, ids + i * k, q + i * k, k, weight[i]);
		if (dh || dw)
			soft_token_gradient(dh ? dh + i * c : NULL, dw, dh_acc, g, hi, wm, logits, lse,
					    ids + i * k, q + i * k, k, weight[i], c, vocab);
	}
	tk_workspace_release(be, mark);
	return TK_KERNEL_OK;
}
