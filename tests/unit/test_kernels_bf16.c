/* The bf16 products (kernels.h: TK_PACK_BF16_DOT, kernels/cpu/xwt_bf16.c):
 * W packed rounds to bf16 (nearest, ties to even); y = bf16(x)·bf16(W)ᵀ
 * and dx = bf16(dy)·bf16(W) against the reference backend's float64 sums
 * of the same bf16 values; the CPU's bf16 dot products give the portable
 * code's bits; a row's bits do not depend on the other rows or the
 * threads; the backward from the forward's packing is the forward of Wᵀ,
 * bit for bit. */
#include "test_kernels.h"

#include "cpu/cpu.h" // tk_cpu_bf16_xwt's choice of code, white box
#include "tk_dtype.h"

static tk_backend *cpu, *ref;

static void *packed_bf16(tk_backend *be, const float *w, size_t in, size_t out)
{
	size_t bytes = tk_matmul_packed_bytes(be, TK_PACK_BF16_DOT, in, out);
	void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
	if (!p)
		exit(2);
	TKT_CHECK(tk_matmul_pack_as(be, p, TK_PACK_BF16_DOT, w, in, out) == 1, "bf16-dot packs");
	return p;
}

/* Row j of y for x = the unit row e_t: bf16(w[j][t]), exactly. */
static void test_pack_rounds(void)
{
	size_t in = 6, out = 50;
	float *w = kt_random(in * out, 1), *x = kt_floats(in * in), *y = kt_floats(in * out);
	w[0] = 1.00390625f;         // 1 + 2^-8: a tie, to even (1)
	w[1] = 1.01171875f;         // 1 + 3·2^-8: a tie, to even (1 + 2^-6)
	w[2] = 3.0e-39f;            // a subnormal
	for (size_t t = 0; t < in; t++)
		x[t * in + t] = 1.0f;
	void *p = packed_bf16(cpu, w, in, out);
	TKT_CHECK(tk_matmul_forward_packed_as(cpu, y, x, p, TK_PACK_BF16_DOT, NULL, in, in, out,
					      0) == 0, "%s", tk_error_message());
	size_t wrong = 0;
	for (size_t t = 0; t < in; t++)
		for (size_t j = 0; j < out; j++) {
			float want = tk_bf16_to_f32(tk_f32_to_bf16(w[j * in + t]));
			want = fabsf(want) < 0x1p-126f ? 0.0f : want; // below the normal range: 0
			wrong += memcmp(&y[t * out + j], &want, sizeof want) != 0 && !(want == 0 && y[t * out + j] == 0);
		}
	TKT_CHECK(wrong == 0, "%zu of %zu values are not w rounded to bf16", wrong, in * out);
	TKT_CHECK(y[0] == 1.0f && y[out] == 1.015625f, "ties to even: %.9g %.9g", y[0], y[out]);
	free(w), free(x), free(y), free(p);
}

/* The rows of x rounded as W is, by the vector code too: y = x·I gives
 * bf16(x) back (below the normal range: 0), ties to even included. */
static void test_rows_round(void)
{
	size_t m = 5, in = 40;
	float *w = kt_floats(in * in), *x = kt_random(m * in, 1), *y = kt_floats(m * in);
	for (size_t t = 0; t < in; t++)
		w[t * in + t] = 1.0f;
	x[0] = 1.00390625f;          // ties, to even: 1 and 1 + 2^-6
	x[1] = -1.01171875f;
	x[17] = 1.1754942e-38f;       // the largest subnormal: rounds up to 2^-126
	x[18] = 3.0e-39f;             // a subnormal: 0
	x[in + 3] = 3.3e38f;          // rounds to bf16's largest finite
	void *p = packed_bf16(cpu, w, in, in);
	TKT_CHECK(tk_matmul_forward_packed_as(cpu, y, x, p, TK_PACK_BF16_DOT, NULL, m, in, in, 0) ==
			  0, "%s", tk_error_message());
	size_t wrong = 0;
	for (size_t i = 0; i < m * in; i++) {
		float want = tk_bf16_to_f32(tk_f32_to_bf16(x[i]));
		want = fabsf(want) < 0x1p-126f ? 0.0f : want;
		wrong += y[i] != want;
	}
	TKT_CHECK(wrong == 0, "%zu of %zu values are not x rounded to bf16", wrong, m * in);
	TKT_CHECK(y[0] == 1.0f && y[1] == -1.015625f && y[17] == 0x1p-126f, "%.9g %.9g %.9g",
		  y[0], y[1], y[17]);
	free(w), free(x), free(y), free(p);
}

/* cpu against ref: the same bf16 values, summed in float32 against double. */
static void check_forward(size_t m, size_t in, size_t out)
{
	float *w = kt_random(in * out, 1), *x = kt_random(m * in, 1);
	float *got = kt_floats(m * out), *want = kt_floats(m * out);
	void *pc = packed_bf16(cpu, w, in, out), *pr = packed_bf16(ref, w, in, out);
	TKT_CHECK(tk_matmul_forward_packed_as(cpu, got, x, pc, TK_PACK_BF16_DOT, NULL, m, in, out,
					      0) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_matmul_forward_packed_as(ref, want, x, pr, TK_PACK_BF16_DOT, NULL, m, in, out,
					      0) == 0, "%s", tk_error_message());
	// float32 chains of `in` products against double: a few ulp of Σ|x·w|
	double worst = 0;
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < out; j++) {
			double scale = 0;
			for (size_t t = 0; t < in; t++)
				scale += fabs((double)x[i * in + t] * w[j * in + t]);
			double e = fabs((double)got[i * out + j] - want[i * out + j]) / (scale + 1e-30);
			worst = e > worst ? e : worst;
		}
	TKT_CHECK(worst < 1e-6 * (1 + in / 256.0), "%zu x %zu x %zu: worst error %.3g of Σ|x·w|",
		  m, in, out, worst);
	free(w), free(x), free(got), free(want), free(pc), free(pr);
}

static void test_forward_against_ref(void)
{
	check_forward(1, 64, 48);
	check_forward(9, 33, 50);    // odd k: the last pair half empty
	check_forward(70, 96, 130);  // rows past a work item, a partial panel
	check_forward(3, 2090, 20);  // k in two chunks
}

/* The CPU's dot products and the portable code: the same bits. */
static void test_portable_bits(void)
{
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx512bf16"))
		TKT_SKIP("this CPU has no AVX-512 BF16: only the portable code runs");
	size_t m = 21, in = 2090, out = 61;
	float *w = kt_random(in * out, 1), *x = kt_random(m * in, 1);
	float *fast = kt_random(m * out, 1), *slow = kt_floats(m * out);
	memcpy(slow, fast, m * out * sizeof *slow);
	void *p = packed_bf16(cpu, w, in, out);
	TKT_CHECK(tk_cpu_bf16_xwt(cpu, fast, out, x, p, m, out, in, 1, TK_BF16_AVX512) == 0, "%s",
		  tk_error_message());
	TKT_CHECK(tk_cpu_bf16_xwt(cpu, slow, out, x, p, m, out, in, 1, TK_BF16_PORTABLE) == 0, "%s",
		  tk_error_message());
	KT_CHECK_SAME(fast, slow, m * out);
	free(w), free(x), free(fast), free(slow), free(p);
}

/* AMX tiles against the portable code: other bits (the hardware adds a
 * tile's 32 products its own way), the same bf16 values summed in float32,
 * so within a few ulp of Σ|x·w| of each other; and each row's bits alone
 * are the batch's (rows past a multiple of 16, k past a tile, in two
 * chunks of KC). */
static void test_amx(void)
{
	if (!tk_cpu_amx_ready())
		TKT_SKIP("no AMX-BF16 tiles here (or TK_AMX=0): AVX-512 BF16 or portable code runs");
	size_t m = 37, in = 2090, out = 130;
	float *w = kt_random(in * out, 1), *x = kt_random(m * in, 1);
	float *amx = kt_random(m * out, 1), *slow = kt_floats(m * out), *one = kt_floats(out);
	memcpy(slow, amx, m * out * sizeof *slow);
	void *p = packed_bf16(cpu, w, in, out);
	TKT_CHECK(tk_cpu_bf16_xwt(cpu, amx, out, x, p, m, out, in, 1, TK_BF16_FASTEST) == 0, "%s",
		  tk_error_message());
	TKT_CHECK(tk_cpu_bf16_xwt(cpu, slow, out, x, p, m, out, in, 1, TK_BF16_PORTABLE) == 0, "%s",
		  tk_error_message());
	double worst = 0;
	size_t differ = 0;
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < out; j++) {
			double scale = 1.0; // y started as a random value in [-1, 1)
			for (size_t t = 0; t < in; t++)
				scale += fabs((double)x[i * in + t] * w[j * in + t]);
			double e = fabs((double)amx[i * out + j] - slow[i * out + j]) / scale;
			worst = e > worst ? e : worst;
			differ += amx[i * out + j] != slow[i * out + j];
		}
	TKT_CHECK(worst < 2e-6 * (1 + in / 256.0), "AMX against portable: worst %.3g of Σ|x·w|",
		  worst);
	printf("# AMX against portable: %zu of %zu differ, worst %.3g of Σ|x·w|\n", differ,
	       m * out, worst);
	TKT_CHECK(tk_cpu_bf16_xwt(cpu, amx, out, x, p, m, out, in, 0, TK_BF16_FASTEST) == 0, "%s",
		  tk_error_message());
	for (size_t i = 0; i < m; i++) {
		TKT_CHECK(tk_cpu_bf16_xwt(cpu, one, out, x + i * in, p, 1, out, in, 0,
					  TK_BF16_FASTEST) == 0, "%s", tk_error_message());
		KT_CHECK_SAME(one, amx + i * out, out);
	}
	free(w), free(x), free(amx), free(slow), free(one), free(p);
}

/* Each row alone, and on one thread: the bits of the batch on two. */
static void test_batch_invariant(void)
{
	size_t m = 37, in = 200, out = 100;
	float *w = kt_random(in * out, 1), *x = kt_random(m * in, 1);
	float *all = kt_floats(m * out), *one = kt_floats(out), *single = kt_floats(m * out);
	void *p = packed_bf16(cpu, w, in, out);
	TKT_CHECK(tk_matmul_forward_packed_as(cpu, all, x, p, TK_PACK_BF16_DOT, NULL, m, in, out, 0) ==
			  0, "%s", tk_error_message());
	for (size_t i = 0; i < m; i++) {
		TKT_CHECK(tk_matmul_forward_packed_as(cpu, one, x + i * in, p, TK_PACK_BF16_DOT, NULL, 1,
						      in, out, 0) == 0, "%s", tk_error_message());
		KT_CHECK_SAME(one, all + i * out, out);
	}
	tk_backend *be1;
	TKT_CHECK(tk_backend_open(&be1, "cpu", 1) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_matmul_forward_packed_as(be1, single, x, p, TK_PACK_BF16_DOT, NULL, m, in, out,
					      0) == 0, "%s", tk_error_message());
	KT_CHECK_SAME(single, all, m * out);
	tk_backend_close(be1);
	free(w), free(x), free(all), free(one), free(single), free(p);
}

/* dx = bf16(dy)·W from W's forward packing: the forward product of Wᵀ
 * packed on its own, bit for bit, and the reference within rounding. */
static void check_backward(size_t m, size_t in, size_t out, int accumulate)
{
	float *w = kt_random(in * out, 1), *wt = kt_floats(in * out), *dy = kt_random(m * out, 1);
	for (size_t j = 0; j < out; j++)
		for (size_t t = 0; t < in; t++)
			wt[t * out + j] = w[j * in + t];
	float *got = kt_random(m * in, 1), *want = kt_floats(m * in), *close = kt_floats(m * in);
	memcpy(want, got, m * in * sizeof *want);
	memcpy(close, got, m * in * sizeof *close);
	void *p = packed_bf16(cpu, w, in, out), *pt = packed_bf16(cpu, wt, out, in);
	void *pr = packed_bf16(ref, w, in, out);
	TKT_CHECK(tk_matmul_backward_packed_as(cpu, got, dy, p, TK_PACK_BF16_DOT, m, in, out,
					       accumulate) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_matmul_forward_packed_as(cpu, want, dy, pt, TK_PACK_BF16_DOT, NULL, m, out, in,
					      accumulate) == 0, "%s", tk_error_message());
	KT_CHECK_SAME(got, want, m * in);
	TKT_CHECK(tk_matmul_backward_packed_as(ref, close, dy, pr, TK_PACK_BF16_DOT, m, in, out,
					       accumulate) == 0, "%s", tk_error_message());
	double worst = 0;
	for (size_t i = 0; i < m * in; i++) {
		double e = fabs((double)got[i] - close[i]);
		worst = e > worst ? e : worst;
	}
	TKT_CHECK(worst < 1e-5 * (1 + out / 256.0), "backward %zu x %zu x %zu: worst %.3g", m, in,
		  out, worst);
	free(w), free(wt), free(dy), free(got), free(want), free(close), free(p), free(pt), free(pr);
}

static void test_backward(void)
{
	check_backward(1, 64, 48, 0);
	check_backward(9, 50, 33, 1);   // odd out: the last pair half empty
	check_backward(70, 130, 96, 0);
	check_backward(3, 20, 2090, 1); // out (the chains) in two chunks
	check_backward(1100, 100, 70, 1); // items of 256 rows
}

/* The fused cross-entropy with W in bf16 (the lm_head of bf16-dot
 * training): logprobs = the sampler's (bf16 logits from
 * tk_matmul_forward_packed_as, tk_logsumexp_forward) bit for bit; a token
 * alone = the batch; against the reference on the same bf16 values, which
 * does not round dlogits: |dh − ref| ≤ 2^-7·|weight|·max|w| (each g_j off
 * by 2^-9 of itself, Σ|g_j| ≤ 2·|weight|). */
static void test_cross_entropy(void)
{
	size_t n = 70, c = 40, vocab = 1700;
	float *h = kt_random(n * c, 1), *w = kt_random(vocab * c, 1), *wt = kt_floats(vocab * c);
	float *weight = kt_random(n, 1), *dh = kt_floats(n * c), *dh_ref = kt_floats(n * c);
	float *logits = kt_floats(n * vocab), lse[70], lp[70], loss[70], lp_ref[70], loss_ref[70];
	float one_lp, one_loss, one_dh[40];
	int32_t target[70];
	for (size_t i = 0; i < n; i++)
		target[i] = (int32_t)(tkt_rand64() % vocab);
	for (size_t j = 0; j < vocab; j++)
		for (size_t k = 0; k < c; k++)
			wt[k * vocab + j] = w[j * c + k];
	void *fwd = packed_bf16(cpu, w, c, vocab), *bwd = packed_bf16(cpu, wt, vocab, c);
	void *rfwd = packed_bf16(ref, w, c, vocab), *rbwd = packed_bf16(ref, wt, vocab, c);
	TKT_CHECK(tk_cross_entropy_fused(ref, loss_ref, lp_ref, dh_ref, NULL, h, NULL, rfwd, rbwd,
					 TK_PACK_BF16_DOT, target, weight, n, c, vocab) == 0, "%s",
		  tk_error_message());
	static const size_t workspaces[] = {(size_t)16 << 20, 64 * 768 * sizeof(float)};
	for (size_t s = 0; s < 2; s++) { // the vocabulary in one chunk, in three
		tk_backend_set_workspace(cpu, workspaces[s]);
		TKT_CHECK(tk_cross_entropy_fused(cpu, loss, lp, dh, NULL, h, NULL, fwd, bwd,
						 TK_PACK_BF16_DOT, target, weight, n, c, vocab) == 0,
			  "%s", tk_error_message());
		TKT_CHECK(tk_matmul_forward_packed_as(cpu, logits, h, fwd, TK_PACK_BF16_DOT, NULL, n, c,
						      vocab, 0) == 0, "%s", tk_error_message());
		TKT_CHECK(tk_logsumexp_forward(cpu, lse, logits, n, vocab) == 0, "%s",
			  tk_error_message());
		for (size_t i = 0; i < n; i++) {
			float sampled = logits[i * vocab + (size_t)target[i]] - lse[i];
			KT_CHECK_SAME(&sampled, &lp[i], 1);
		}
		for (size_t i = 0; i < n; i += 23) {
			TKT_CHECK(tk_cross_entropy_fused(cpu, &one_loss, &one_lp, one_dh, NULL, h + i * c,
							 NULL, fwd, bwd, TK_PACK_BF16_DOT, target + i,
							 weight + i, 1, c, vocab) == 0, "%s",
				  tk_error_message());
			KT_CHECK_SAME(&one_lp, &lp[i], 1);
			KT_CHECK_SAME(&one_loss, &loss[i], 1);
			KT_CHECK_SAME(one_dh, dh + i * c, c);
		}
		double *lp_want = kt_widen(lp_ref, n), *loss_want = kt_widen(loss_ref, n);
		KT_CHECK_NEAR(lp, lp_want, n, 1e-5); // of the largest
		KT_CHECK_NEAR(loss, loss_want, n, 1e-5);
		free(lp_want), free(loss_want);
		float wmax = 0;
		for (size_t j = 0; j < vocab * c; j++)
			wmax = fabsf(w[j]) > wmax ? fabsf(w[j]) : wmax;
		for (size_t i = 0; i < n * c; i++) {
			double bound = 0x1p-7 * fabs(weight[i / c]) * wmax + 1e-6;
			TKT_CHECK(fabs((double)dh[i] - dh_ref[i]) <= bound, "dh[%zu] %.9g, ref %.9g", i,
				  dh[i], dh_ref[i]);
		}
	}
	tk_backend_set_workspace(cpu, (size_t)16 << 20);
	free(h), free(w), free(wt), free(weight), free(dh), free(dh_ref), free(logits);
	free(fwd), free(bwd), free(rfwd), free(rbwd);
}

int main(void)
{
	cpu = kt_open(2);
	kt_kind = "ref";
	ref = kt_open(1);
	kt_kind = "cpu";
	TKT_RUN(test_pack_rounds);
	TKT_RUN(test_rows_round);
	TKT_RUN(test_forward_against_ref);
	TKT_RUN(test_portable_bits);
	TKT_RUN(test_amx);
	TKT_RUN(test_batch_invariant);
	TKT_RUN(test_backward);
	TKT_RUN(test_cross_entropy);
	tk_backend_close(cpu);
	tk_backend_close(ref);
	return tkt_done();
}
