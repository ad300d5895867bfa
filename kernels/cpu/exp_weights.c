/* Host: the weights e^((logit − max)/T) of a sampler's draw over the whole
 * vocabulary (kernels.h, tk_exp_weights), on logits already copied to the
 * host: libm's exp costs ~7 ns each, 49152 of them (SmolLM2) a third of a
 * millisecond per draw, as much as a batch-64 decode step's share of the
 * forward; eight lanes of AVX-512 make it a few times cheaper.  Here, not
 * in lib/, because instruction-set code lives in kernels/cpu/. */
#include "cpu.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define EXP_MIN (-708.0) // e^-708 ≈ 3e-308: the smallest normal weight

/* e^t, t in [EXP_MIN, 0] or NaN: t = k·ln2 + r, |r| <= ln2/2, e^r by its
 * Taylor series to r^13 (truncation under 4e-18), times 2^k (k >= −1022:
 * a normal number). */
__attribute__((target("avx512f"))) static inline __m512d exp8(__m512d t)
{
	static const double inv_factorial[14] = {
		1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
		1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
		1.0 / 6227020800.0,
	};
	const __m512d ln2_hi = _mm512_set1_pd(6.93147180369123816490e-01);
	const __m512d ln2_lo = _mm512_set1_pd(1.90821492927058770002e-10);
	__m512d k = _mm512_roundscale_pd(_mm512_mul_pd(t, _mm512_set1_pd(1.4426950408889634)),
					 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512d r = _mm512_fnmadd_pd(k, ln2_hi, t);
	r = _mm512_fnmadd_pd(k, ln2_lo, r);
	__m512d e = _mm512_set1_pd(inv_factorial[13]);
	for (int i = 12; i >= 0; i--)
		e = _mm512_fmadd_pd(e, r, _mm512_set1_pd(inv_factorial[i]));
	__m512i k64 = _mm512_cvtepi32_epi64(_mm512_cvtpd_epi32(k));
	__m512i two_k = _mm512_slli_epi64(_mm512_add_epi64(k64, _mm512_set1_epi64(1023)), 52);
	return _mm512_mul_pd(e, _mm512_castsi512_pd(two_k));
}

/* The lanes' part of tk_exp_weights: returns how many it did. */
__attribute__((target("avx512f"))) static size_t
exp_weights8(double *p, const float *x, size_t n, double max, double inv_t, double *sum)
{
	const __m512d vmax = _mm512_set1_pd(max), vinv = _mm512_set1_pd(inv_t);
	const __m512d lowest = _mm512_set1_pd(EXP_MIN);
	__m512d acc = _mm512_setzero_pd();
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m512d t = _mm512_mul_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)), vmax),
					  vinv);
		__mmask8 nan = _mm512_cmp_pd_mask(t, t, _CMP_UNORD_Q);
		__mmask8 tiny = _mm512_cmp_pd_mask(t, lowest, _CMP_LT_OQ);
		__m512d e = exp8(_mm512_mask_blend_pd(tiny | nan, t, lowest));
		e = _mm512_mask_blend_pd(tiny, e, _mm512_setzero_pd());
		e = _mm512_mask_blend_pd(nan, e, t); // NaN stays NaN, as libm's exp
		if (p)
			_mm512_storeu_pd(p + i, e);
		acc = _mm512_add_pd(acc, e);
	}
	*sum = _mm512_reduce_add_pd(acc);
	return i;
}
#endif

double tk_exp_weights(double *p, const float *x, size_t n, double max, double inv_t)
{
	double sum = 0.0;
	size_t i = 0;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx512f"))
		i = exp_weights8(p, x, n, max, inv_t, &sum);
#endif
	for (; i < n; i++) {
		double t = ((double)x[i] - max) * inv_t, e = t < -708.0 ? 0.0 : exp(t);
		if (p)
			p[i] = e;
		sum += e;
	}
	return sum;
}
