/* The fused cross-entropy against a naive float64 version with the full
 * logits (and finite differences of it), AdamW against torch's update
 * written out in float64, and the gradient norm and clipping. */
#include "test_kernels.h"

static tk_backend *be;

struct ce { double *h, *w, *weight; const int32_t *target; size_t n, c, vocab; };

static double ce_total(void *p)
{
	struct ce *s = p;
	double *loss = kt_doubles(s->n), *lp = kt_doubles(s->n), sum = 0;
	ref_cross_entropy(loss, lp, s->h, s->w, s->target, s->weight, s->n, s->c, s->vocab);
	for (size_t i = 0; i < s->n; i++)
		sum += loss[i];
	free(loss), free(lp);
	return sum;
}

/* dlogits = weight·(softmax − onehot); dh = dlogits·W; dW = dlogitsᵀ·h. */
static void ref_ce_grad(double *dh, double *dw, const struct ce *s)
{
	double *logits = kt_doubles(s->vocab);
	for (size_t i = 0; i < s->n; i++) {
		if (s->target[i] < 0)
			continue;
		ref_matmul(logits, s->h + i * s->c, s->w, NULL, 1, s->c, s->vocab);
		double m = -INFINITY, z = 0;
		for (size_t j = 0; j < s->vocab; j++)
			m = logits[j] > m ? logits[j] : m;
		for (size_t j = 0; j < s->vocab; j++)
			z += exp(logits[j] - m);
		for (size_t j = 0; j < s->vocab; j++) {
			double g = s->weight[i] * (exp(logits[j] - m) / z - (j == (size_t)s->target[i]));
			for (size_t k = 0; k < s->c; k++) {
				dh[i * s->c + k] += g * s->w[j * s->c + k];
				dw[j * s->c + k] += g * s->h[i * s->c + k];
			}
		}
	}
	free(logits);
}

static void check_cross_entropy(size_t workspace, int invariant)
{
	size_t n = 70, c = 19, vocab = 1700; // two token chunks
	float *h = kt_random(n * c, 2), *w = kt_random(vocab * c, 2), *weight = kt_random(n, 1);
	int32_t target[70];
	for (size_t i = 0; i < n; i++)
		target[i] = (int32_t)(tkt_rand64() % vocab);
	target[3] = -1;     // no target
	weight[4] = 0.0f;   // masked
	target[5] = 1699;   // the last column of the last chunk
	struct ce s = {kt_widen(h, n * c), kt_widen(w, vocab * c), kt_widen(weight, n), target, n, c, vocab};
	double *loss_want = kt_doubles(n), *lp_want = kt_doubles(n);
	double *dh_want = kt_doubles(n * c), *dw_want = kt_doubles(vocab * c);
	ref_cross_entropy(loss_want, lp_want, s.h, s.w, target, s.weight, n, c, vocab);
	ref_ce_grad(dh_want, dw_want, &s);

	float *loss = kt_floats(n), *lp = kt_floats(n), *dh = kt_random(n * c, 9);
	float *dw = kt_random(vocab * c, 1), *dw0 = kt_floats(vocab * c);
	memcpy(dw0, dw, vocab * c * sizeof *dw);
	tk_backend_set_workspace(be, workspace);
	tk_backend_set_batch_invariant(be, invariant);
	TKT_CHECK(tk_cross_entropy_fused(be, loss, lp, dh, dw, h, w, NULL, NULL, TK_PACK_F32, target, weight, n, c, vocab) == 0, "%s", tk_error_message());
	for (size_t i = 0; i < vocab * c; i++)
		dw[i] -= dw0[i];
	KT_CHECK_NEAR(loss, loss_want, n, 1e-5);
	KT_CHECK_NEAR(lp, lp_want, n, 1e-5);
	KT_CHECK_NEAR(dh, dh_want, n * c, 1e-5);
	KT_CHECK_NEAR(dw, dw_want, vocab * c, 1e-5);
	TKT_CHECK(loss[3] == 0 && lp[3] == 0 && loss[4] == 0 && lp[4] < 0, "masked tokens");
	/* Forward only: the same loss, nothing else touched. */
	float *loss2 = kt_floats(n);
	TKT_CHECK(tk_cross_entropy_fused(be, loss2, NULL, NULL, NULL, h, w, NULL, NULL, TK_PACK_F32, target, weight, n, c, vocab) == 0, "%s", tk_error_message());
	KT_CHECK_SAME(loss2, loss, n);
	/* With W packed: the same bits as the batch-invariant product. */
	float *packed = kt_floats(tk_matmul_packed_floats(be, c, vocab));
	float *packed_bwd = kt_floats(tk_matmul_packed_backward_floats(be, c, vocab));
	tk_matmul_pack(be, packed, w, c, vocab);
	tk_matmul_pack_backward(be, packed_bwd, w, c, vocab);
	float *loss3 = kt_floats(n), *lp3 = kt_floats(n), *dh3 = kt_floats(n * c);
	TKT_CHECK(tk_cross_entropy_fused(be, loss3, lp3, dh3, NULL, h, w, packed, packed_bwd, TK_PACK_F32, target, weight, n, c, vocab) == 0, "%s", tk_error_message());
	if (invariant) {
		KT_CHECK_SAME(loss3, loss, n);
		KT_CHECK_SAME(lp3, lp, n);
	}
	KT_CHECK_NEAR(loss3, loss_want, n, 1e-5);
	KT_CHECK_NEAR(dh3, dh_want, n * c, 1e-5);
	free(packed), free(packed_bwd), free(loss3), free(lp3), free(dh3);
	tk_backend_set_workspace(be, (size_t)16 << 20);
	tk_backend_set_batch_invariant(be, 1);
	free(h), free(w), free(weight), free(loss), free(lp), free(dh), free(dw), free(dw0), free(loss2);
	free(s.h), free(s.w), free(s.weight), free(loss_want), free(lp_want), free(dh_want), free(dw_want);
}

static void test_cross_entropy_one_chunk(void) { check_cross_entropy((size_t)16 << 20, 1); }
static void test_cross_entropy_vocab_chunks(void) { check_cross_entropy(64 * 768 * sizeof(float), 1); }
static void test_cross_entropy_not_invariant(void) { check_cross_entropy(64 * 1536 * sizeof(float), 0); }

/* The float64 reference gradient itself, against finite differences. */
static void test_cross_entropy_reference_gradient(void)
{
	size_t n = 5, c = 4, vocab = 9;
	int32_t target[5] = {0, 8, 3, -1, 3};
	float *h = kt_random(n * c, 1), *w = kt_random(vocab * c, 1), *weight = kt_random(n, 1);
	struct ce s = {kt_widen(h, n * c), kt_widen(w, vocab * c), kt_widen(weight, n), target, n, c, vocab};
	double *dh = kt_doubles(n * c), *dw = kt_doubles(vocab * c);
	ref_ce_grad(dh, dw, &s);
	for (size_t i = 0; i < n * c; i++) {
		double keep = s.h[i];
		s.h[i] = keep + 1e-6;
		double up = ce_total(&s);
		s.h[i] = keep - 1e-6;
		double fd = (up - ce_total(&s)) / 2e-6;
		s.h[i] = keep;
		TKT_CHECK(fabs(fd - dh[i]) < 1e-7, "dh[%zu] %g vs fd %g", i, dh[i], fd);
	}
	for (size_t i = 0; i < vocab * c; i++) {
		double keep = s.w[i];
		s.w[i] = keep + 1e-6;
		double up = ce_total(&s);
		s.w[i] = keep - 1e-6;
		double fd = (up - ce_total(&s)) / 2e-6;
		s.w[i] = keep;
		TKT_CHECK(fabs(fd - dw[i]) < 1e-7, "dw[%zu] %g vs fd %g", i, dw[i], fd);
	}
	free(h), free(w), free(weight), free(s.h), free(s.w), free(s.weight), free(dh), free(dw);
}

/* A row as long as SmolLM2's vocabulary, one logit at 0 and the rest near
 * −19: each of those exponentials is below half a float ulp of the sum, so
 * a float running sum drops them all and the log-sum-exp comes out low by
 * about 5e-4.  Through tk_logsumexp_forward and the fused cross-entropy
 * (h = 1, W = the logits: the product is exact), whole and in vocabulary
 * chunks, against the sum in double. */
static void check_long_row(size_t workspace)
{
	size_t vocab = 49152, n = 3;
	float *w = kt_floats(vocab), *h = kt_floats(n), *weight = kt_floats(n);
	float *logits = kt_floats(n * vocab), *lse = kt_floats(n), *lp = kt_floats(n);
	int32_t target[3] = {0, 1, 49151};
	for (size_t j = 0; j < vocab; j++)
		w[j] = j == 0 ? 0.0f : -21.0f + 4.0f * (float)(tkt_rand64() % 1000) / 1000.0f;
	for (size_t i = 0; i < n; i++) {
		h[i] = weight[i] = 1.0f;
		memcpy(logits + i * vocab, w, vocab * sizeof *w);
	}
	double sum = 0;
	for (size_t j = 0; j < vocab; j++)
		sum += exp((double)w[j]);
	double want = log(sum);
	TKT_CHECK(want > 4e-4, "the test's row: lse %g", want);
	tk_backend_set_workspace(be, workspace);
	TKT_CHECK(tk_logsumexp_forward(be, lse, logits, n, vocab) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_cross_entropy_fused(be, NULL, lp, NULL, NULL, h, w, NULL, NULL, TK_PACK_F32, target, weight,
					 n, 1, vocab) == 0, "%s", tk_error_message());
	for (size_t i = 0; i < n; i++) {
		double lp_want = (double)w[target[i]] - want;
		TKT_CHECK(fabs(lse[i] - want) < 1e-6, "lse %.9g, want %.9g", lse[i], want);
		TKT_CHECK(fabs(lp[i] - lp_want) < 4e-6, "logprob[%zu] %.9g, want %.9g", i, lp[i], lp_want);
	}
	KT_CHECK_SAME(lse + 1, lse, 1); // the same row gives the same bits
	free(w), free(h), free(weight), free(logits), free(lse), free(lp);
}

static void test_long_row_one_chunk(void) { check_long_row((size_t)64 << 20); }
static void test_long_row_vocab_chunks(void) { check_long_row(64 * 768 * 4 * sizeof(float)); }

/* torch.optim.AdamW's single-tensor update, in float64. */
static void ref_adamw(double *p, const double *g, double *m, double *v,
		      size_t n, const struct tk_adamw *o, int64_t step)
{
	double b1c = 1 - pow(o->beta1, (double)step), b2c = 1 - pow(o->beta2, (double)step);
	for (size_t i = 0; i < n; i++) {
		p[i] *= 1 - o->lr * o->weight_decay;
		m[i] = o->beta1 * m[i] + (1 - o->beta1) * g[i];
		v[i] = o->beta2 * v[i] + (1 - o->beta2) * g[i] * g[i];
		p[i] -= o->lr / b1c * m[i] / (sqrt(v[i]) / sqrt(b2c) + o->eps);
	}
}

static void test_adamw(void)
{
	size_t n = 40000;
	struct tk_adamw o = {1e-3, 0.9, 0.95, 1e-8, 0.1};
	float *p = kt_random(n, 1), *m = kt_floats(n), *v = kt_floats(n);
	double *pd = kt_widen(p, n), *md = kt_doubles(n), *vd = kt_doubles(n);
	for (int64_t step = 1; step <= 3; step++) {
		float *g = kt_random(n, 0.01);
		double *gd = kt_widen(g, n);
		tk_adamw_step(be, p, g, m, v, n, &o, step);
		ref_adamw(pd, gd, md, vd, n, &o, step);
		free(g), free(gd);
	}
	KT_CHECK_NEAR(p, pd, n, 1e-6);
	KT_CHECK_NEAR(m, md, n, 1e-5);
	KT_CHECK_NEAR(v, vd, n, 1e-5);
	/* The first step of Adam moves each weight by lr·g/(|g| + eps): by
	 * almost exactly lr, against the gradient. */
	float p1[2] = {0.5f, -0.25f}, g1[2] = {3e-4f, -7.0f}, m1[2] = {0}, v1[2] = {0};
	struct tk_adamw plain = {0.01, 0.9, 0.999, 1e-8, 0.0};
	tk_adamw_step(be, p1, g1, m1, v1, 2, &plain, 1);
	TKT_CHECK(fabsf(p1[0] - 0.49f) < 1e-6f && fabsf(p1[1] - -0.24f) < 1e-6f, "%.9g %.9g", p1[0], p1[1]);
	free(p), free(m), free(v), free(pd), free(md), free(vd);
}

/* torch 2.15's AdamW(lr=1e-2, betas=(0.9, 0.95), eps=1e-8,
 * weight_decay=0.1), three steps from these weights and gradients: the
 * weights' float32 bits afterwards. */
static void test_adamw_torch_oracle(void)
{
	float p[6] = {0.5f, -0.25f, 1.5f, -2.0f, 0.001f, 3.0f}, m[6] = {0}, v[6] = {0};
	static const float grads[3][6] = {
		{0.1f, -0.2f, 0.3f, 1e-4f, -5.0f, 0.0f},
		{0.05f, 0.2f, -0.3f, 2e-4f, -4.0f, 1.0f},
		{-0.1f, 0.1f, 0.0f, 3e-4f, 6.0f, -1.0f},
	};
	static const uint32_t torch_bits[6] = {0x3ef4c064, 0xbe7825fd, 0x3fbe4467, 0xc00178d2, 0x3cb4d292, 0x403efbb6};
	struct tk_adamw o = {1e-2, 0.9, 0.95, 1e-8, 0.1};
	for (int64_t step = 1; step <= 3; step++)
		tk_adamw_step(be, p, grads[step - 1], m, v, 6, &o, step);
	for (size_t i = 0; i < 6; i++) {
		float want;
		memcpy(&want, &torch_bits[i], sizeof want);
		TKT_CHECK(p[i] == want, "[%zu] %.9g vs torch %.9g", i, p[i], want);
	}
}

static void test_grad_norm_and_clip(void)
{
	size_t n = 100003;
	float *g = kt_random(n, 1), *g2 = kt_floats(n), acc[1] = {0}, acc1[1] = {0};
	double want = 0;
	for (size_t i = 0; i < n; i++)
		want += (double)g[i] * g[i];
	TKT_CHECK(tk_sumsq(be, acc, g, 1000) == 0 && tk_sumsq(be, acc, g + 1000, n - 1000) == 0, "%s", tk_error_message());
	TKT_CHECK(fabs(acc[0] - want) < 1e-6 * want, "sumsq %.9g want %.9g", acc[0], want);
	tk_backend *one = kt_open(1);
	TKT_CHECK(tk_sumsq(one, acc1, g, 1000) == 0 && tk_sumsq(one, acc1, g + 1000, n - 1000) == 0, "%s", tk_error_message());
	KT_CHECK_SAME(acc1, acc, 1); // the same bits on 1 or 2 threads
	tk_backend_close(one);
	/* Clip to norm 2: the clipped gradient has norm 2 (less 1e-6). */
	memcpy(g2, g, n * sizeof *g);
	tk_clip_by_norm(be, g2, n, acc, 2.0f);
	double after = 0;
	for (size_t i = 0; i < n; i++)
		after += (double)g2[i] * g2[i];
	TKT_CHECK(fabs(sqrt(after) - 2.0) < 1e-5, "norm after clip %.9g", sqrt(after));
	/* Below the threshold nothing changes. */
	memcpy(g2, g, n * sizeof *g);
	tk_clip_by_norm(be, g2, n, acc, 1e6f);
	KT_CHECK_SAME(g2, g, n);
	free(g), free(g2);
}

int main(void)
{
	for (size_t k = 0; k < KT_KINDS; k++) {
		kt_kind = kt_kinds[k];
		be = kt_open(0);
		KT_RUN_ON(test_cross_entropy_one_chunk);
		KT_RUN_ON(test_cross_entropy_vocab_chunks);
		KT_RUN_ON(test_cross_entropy_not_invariant);
		KT_RUN_ON(test_cross_entropy_reference_gradient);
		KT_RUN_ON(test_long_row_one_chunk);
		KT_RUN_ON(test_long_row_vocab_chunks);
		KT_RUN_ON(test_adamw);
		KT_RUN_ON(test_adamw_torch_oracle);
		KT_RUN_ON(test_grad_norm_and_clip);
		tk_backend_close(be);
	}
	return tkt_done();
}
