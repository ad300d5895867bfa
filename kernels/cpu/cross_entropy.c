/* Weighted next-token cross-entropy fused with the unembedding product, so
 * that the (tokens, vocab) logits never exist whole: CE_TOKENS tokens at a
 * time, their logits are made one vocabulary chunk at a time (as many
 * columns as the backend's workspace allows), reduced by an online
 * log-sum-exp, then made again chunk by chunk for the gradient.  When the
 * whole vocabulary fits one chunk the logits are kept and not made twice.
 *
 * One code serves hard targets (one id a token) and soft ones (K ids with
 * probabilities q, top-K distillation): a token's loss is
 * −weight·(Σ q·z[id] − S·lse) with S = Σ q over its filled slots, and its
 * dlogits weight·(S·softmax − q).  A hard target is K = 1, q = 1, and
 * every product by 1 is exact, so its bits are those of the hard-only
 * kernel this was. */
#include "cpu.h"

#include <math.h>

/* Tokens per chunk, and the granule of a vocabulary chunk. */
#define CE_TOKENS 64
#define CE_VOCAB_GRANULE 768 // whole panels of a packed W (TK_XWT_PANEL)

/* Exponentials made at a time for a sum (a stack buffer). */
#define LSE_PIECE 256

/* The targets: ids (n, k), −1 an empty slot; q (n, k) their probabilities,
 * or NULL for hard targets (k = 1, probability 1). */
struct ce_targets {
	const int32_t *ids;
	const float *q;
	size_t k;
};

static float target_q(struct ce_targets t, size_t i, size_t s)
{
	return t.q ? t.q[i * t.k + s] : 1.0f;
}

/* S: the targets' total probability for token i (0: no target). */
static float target_mass(struct ce_targets t, size_t i)
{
	float sum = 0.0f;
	for (size_t s = 0; s < t.k; s++)
		if (t.ids[i * t.k + s] >= 0)
			sum += target_q(t, i, s);
	return sum;
}

/* Running log-sum-exp of one token's logits, and Σ q·z over its targets.  The
 * sum is kept in double: added one at a time in float, SmolLM2's 49,152
 * exponentials came out low by up to 3e-4 (relative), and so did every
 * logprob.  Each row's additions are in one fixed order (its chunks, then
 * its columns), so a row's bits do not depend on the batch. */
struct lse_state {
	float max;
	double sum, target_logit;
};

/* Vocabulary columns per chunk: what the workspace holds, in granules. */
static size_t vocab_chunk(const tk_backend *be, size_t vocab)
{
	size_t cols = be->workspace / (CE_TOKENS * sizeof(float));
	cols = cols / CE_VOCAB_GRANULE * CE_VOCAB_GRANULE;
	if (cols < CE_VOCAB_GRANULE)
		cols = CE_VOCAB_GRANULE;
	return cols < vocab ? cols : vocab;
}

/* W (vocab, c) as given, and packed for the logits and for dh (or NULL):
 * float32 (tk_cpu_xwt_pack, tk_cpu_xw_pack) or bf16 (tk_cpu_bf16_pack of W
 * and of Wᵀ), as form says. */
struct ce_weights {
	const float *w;
	const void *fwd, *bwd;
	int form;
};

/* logits (tn, ld) = h (tn, c) · w (vn, c)ᵀ, by the product tk_cpu_matmul_forward
 * (or tk_cpu_matmul_forward_packed_as in the weights' form) would use for
 * these rows. */
static int make_logits(tk_backend *be, float *logits, size_t ld, const float *h,
		       struct ce_weights cw, size_t v0, size_t tn, size_t vn, size_t c)
{
	// v0 is a whole number of panels (CE_VOCAB_GRANULE)
	if (cw.fwd && cw.form == TK_PACK_BF16_DOT)
		return tk_cpu_bf16_xwt(be, logits, ld, h,
				       (const char *)cw.fwd + v0 / TK_XWT_PANEL * tk_cpu_bf16_panel_bytes(c),
				       tn, vn, c, 0, TK_BF16_FASTEST);
	if (cw.fwd)
		return tk_cpu_xwt_packed(be, logits, ld, h,
					 (const float *)cw.fwd + v0 / TK_XWT_PANEL * c * TK_XWT_PANEL,
					 tn, vn, c, 0);
	const float *w = cw.w + v0 * c;
	if (be->batch_invariant)
		return tk_cpu_xwt(be, logits, ld, h, w, tn, vn, c, 0);
	tk_cpu_gemm(be, 0, 1, tn, vn, c, h, c, w, c, 0.0f, logits, ld);
	return TK_KERNEL_OK;
}

static void lse_update(tk_backend *be, struct lse_state *st,
		       const float *logits, size_t ld, struct ce_targets tg,
		       size_t tn, size_t v0, size_t vn)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (tn > 1 && tn * vn >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < tn; i++) {
		const float *row = logits + i * ld;
		float m = st[i].max;
		for (size_t j = 0; j < vn; j++)
			m = row[j] > m ? row[j] : m;
		double sum = 0.0;
		float e[LSE_PIECE];
		for (size_t j0 = 0; j0 < vn; j0 += LSE_PIECE) {
			size_t len = vn - j0 < LSE_PIECE ? vn - j0 : LSE_PIECE;
			tk_cpu_exp_shifted(e, row + j0, len, m);
			for (size_t j = 0; j < len; j++)
				sum += e[j];
		}
		/* the running sum rescaled to the new maximum (exact when it did
		 * not move, and 0 before the first chunk) */
		if (st[i].sum > 0.0 && st[i].max != m)
			st[i].sum *= exp((double)st[i].max - (double)m);
		st[i].sum += sum;
		st[i].max = m;
		for (size_t s = 0; s < tg.k; s++) {
			int64_t t = tg.ids[i * tg.k + s];
			if (t >= (int64_t)v0 && t < (int64_t)(v0 + vn))
				st[i].target_logit += (double)target_q(tg, i, s) * row[t - (int64_t)v0];
		}
	}
}

/* The row's log-sum-exp, in double, rounded once. */
static float lse_of(const struct lse_state *st)
{
	return (float)((double)st->max + log(st->sum));
}

/* logits become dlogits = weight · (S·softmax − q) (hard: S = 1, q the
 * one-hot of the target). */
static void logits_to_grad(tk_backend *be, float *logits, size_t ld,
			   const float *lse, struct ce_targets tg,
			   const float *weight, size_t tn, size_t v0, size_t vn)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (tn > 1 && tn * vn >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < tn; i++) {
		float *row = logits + i * ld;
		float mass = target_mass(tg, i);
		float wt = mass == 0.0f ? 0.0f : weight[i] * mass;
		tk_cpu_exp_shifted(row, row, vn, lse[i]);
		for (size_t j = 0; j < vn; j++)
			row[j] *= wt;
		for (size_t s = 0; s < tg.k; s++) {
			int64_t t = tg.ids[i * tg.k + s];
			if (t >= (int64_t)v0 && t < (int64_t)(v0 + vn))
				row[t - (int64_t)v0] -= weight[i] * target_q(tg, i, s);
		}
	}
}

/* One chunk of tokens; logits (CE_TOKENS, vchunk) is the workspace. */
static int chunk_loss(tk_backend *be, float *logits, size_t vchunk,
		       float *loss, float *logprob, float *dh, float *dw,
		       const float *h, struct ce_weights cw, struct ce_targets tg,
		       const float *weight, size_t tn, size_t c, size_t vocab)
{
	struct lse_state st[CE_TOKENS];
	float lse[CE_TOKENS];
	for (size_t i = 0; i < tn; i++)
		st[i] = (struct lse_state){-INFINITY, 0.0, 0.0};
	for (size_t v0 = 0; v0 < vocab; v0 += vchunk) {
		size_t vn = vocab - v0 < vchunk ? vocab - v0 : vchunk;
		int rc = make_logits(be, logits, vchunk, h, cw, v0, tn, vn, c);
		if (rc)
			return rc;
		lse_update(be, st, logits, vchunk, tg, tn, v0, vn);
	}
	for (size_t i = 0; i < tn; i++) {
		lse[i] = lse_of(&st[i]);
		float mass = target_mass(tg, i);
		/* Σ q·log p: hard, z[target] − lse (mass 1: exact products) */
		float lp = mass == 0.0f ? 0.0f : (float)st[i].target_logit - mass * lse[i];
		if (logprob)
			logprob[i] = lp;
		if (loss)
			loss[i] = mass == 0.0f ? 0.0f : -weight[i] * lp;
	}
	if (!dh && !dw)
		return TK_KERNEL_OK;
	for (size_t v0 = 0; v0 < vocab; v0 += vchunk) {
		size_t vn = vocab - v0 < vchunk ? vocab - v0 : vchunk;
		int rc = vchunk < vocab ? make_logits(be, logits, vchunk, h, cw, v0, tn, vn, c)
					: TK_KERNEL_OK;
		if (rc)
			return rc;
		logits_to_grad(be, logits, vchunk, lse, tg, weight, tn, v0, vn);
		if (dh && cw.bwd && cw.form == TK_PACK_BF16_DOT) // (Wᵀ)[:, v0..] packed
			rc = tk_cpu_bf16_xwt_part(be, dh, c, logits, vchunk, cw.bwd, tn, c, vocab,
						  v0, vn, v0 > 0);
		else if (dh && cw.bwd) // dh (tn, c) (+)= g (tn, vn) · W[v0..] (vn, c)
			rc = tk_cpu_xwt_packed_part(be, dh, c, logits, vchunk, cw.bwd, tn, c, vocab,
						    v0, vn, v0 > 0);
		else if (dh)
			tk_cpu_gemm(be, 0, 0, tn, c, vn, logits, vchunk, cw.w + v0 * c, c,
				    v0 == 0 ? 0.0f : 1.0f, dh, c);
		if (rc)
			return rc;
		if (dw) // dw[v0:] (vn, c) += gᵀ (vn, tn) · h (tn, c)
			tk_cpu_gemm(be, 1, 0, vn, c, tn, logits, vchunk, h, c,
				    1.0f, dw + v0 * c, c);
	}
	return TK_KERNEL_OK;
}

int tk_cpu_logsumexp_forward(tk_backend *be, float *lse, const float *logits,
			     size_t n, size_t vocab)
{
	// lse (n)   logits (n, vocab)
	size_t vchunk = vocab_chunk(be, vocab);
	int32_t no_target[CE_TOKENS];
	for (size_t i = 0; i < CE_TOKENS; i++)
		no_target[i] = -1;
	struct ce_targets none = {no_target, NULL, 1};
	for (size_t t0 = 0; t0 < n; t0 += CE_TOKENS) {
		size_t tn = n - t0 < CE_TOKENS ? n - t0 : CE_TOKENS;
		struct lse_state st[CE_TOKENS];
		for (size_t i = 0; i < tn; i++)
			st[i] = (struct lse_state){-INFINITY, 0.0, 0.0};
		for (size_t v0 = 0; v0 < vocab; v0 += vchunk) {
			size_t vn = vocab - v0 < vchunk ? vocab - v0 : vchunk;
			lse_update(be, st, logits + t0 * vocab + v0, vocab, none, tn, v0, vn);
		}
		for (size_t i = 0; i < tn; i++)
			lse[t0 + i] = lse_of(&st[i]);
	}
	return TK_KERNEL_OK;
}

static int cross_entropy(tk_backend *be, float *loss, float *logprob, float *dh, float *dw,
			 const float *h, struct ce_weights cw, struct ce_targets tg,
			 const float *weight, size_t n, size_t c, size_t vocab)
{
	if (n == 0)
		return TK_KERNEL_OK;
	size_t vchunk = vocab_chunk(be, vocab);
	tk_workspace_mark mark = tk_workspace_mark_now(be);
	float *logits = tk_workspace_take(be, CE_TOKENS * vchunk * sizeof *logits); // (CE_TOKENS, vchunk)
	if (!logits)
		return tk_backend_fail(be, TK_KERNEL_ENOMEM, "out of memory for a %d x %zu logits chunk",
			       CE_TOKENS, vchunk);
	int rc = TK_KERNEL_OK;
	for (size_t t0 = 0; t0 < n && !rc; t0 += CE_TOKENS) {
		size_t tn = n - t0 < CE_TOKENS ? n - t0 : CE_TOKENS;
		struct ce_targets at = {tg.ids + t0 * tg.k, tg.q ? tg.q + t0 * tg.k : NULL, tg.k};
		rc = chunk_loss(be, logits, vchunk, loss ? loss + t0 : NULL,
			   logprob ? logprob + t0 : NULL, dh ? dh + t0 * c : NULL,
			   dw, h + t0 * c, cw, at, weight + t0, tn, c, vocab);
	}
	tk_workspace_release(be, mark);
	return rc;
}

int tk_cpu_cross_entropy_fused(tk_backend *be, float *loss, float *logprob,
			       float *dh, float *dw, const float *h,
			       const float *w, const void *w_packed,
			       const void *w_packed_backward, int form, const int32_t *target,
			       const float *weight, size_t n, size_t c, size_t vocab)
{
	// loss, logprob, target, weight (n)   dh, h (n, c)   dw, w (vocab, c)
	struct ce_weights cw = {w, w_packed, w_packed_backward, form};
	struct ce_targets tg = {target, NULL, 1};
	return cross_entropy(be, loss, logprob, dh, dw, h, cw, tg, weight, n, c, vocab);
}

int tk_cpu_cross_entropy_soft_fused(tk_backend *be, float *loss, float *dh, float *dw,
				    const float *h, const float *w, const void *w_packed,
				    const void *w_packed_backward, int form, const int32_t *ids,
				    const float *q, size_t k, const float *weight, size_t n,
				    size_t c, size_t vocab)
{
	// loss, weight (n)   ids, q (n, k)   dh, h (n, c)   dw, w (vocab, c)
	struct ce_weights cw = {w, w_packed, w_packed_backward, form};
	struct ce_targets tg = {ids, q, k};
	return cross_entropy(be, loss, NULL, dh, dw, h, cw, tg, weight, n, c, vocab);
}
