/* e^(x − shift) over arrays: tk_cpu_expf's operations (cpu.h) on sixteen
 * lanes (AVX-512) or four (SSE2 vector extensions), and the scalar for
 * the tail, so every path gives the scalar's bits. */
#include "cpu.h"

#include <immintrin.h>

/* tk_cpu_expf's steps, lane by lane the same operations. */
__attribute__((target("avx512f"))) static inline __m512 exp16(__m512 x)
{
	const __m512 lo = _mm512_set1_ps(TK_EXP_LO), hi = _mm512_set1_ps(TK_EXP_HI);
	__mmask16 below = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
	__mmask16 above = _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ);
	__mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
	__m512 c = _mm512_mask_blend_ps(below, x, lo);
	c = _mm512_mask_blend_ps(above, c, hi);
	c = _mm512_mask_blend_ps(nan, c, _mm512_setzero_ps());
	__m512 fx = _mm512_add_ps(_mm512_mul_ps(c, _mm512_set1_ps(1.44269504088896341f)),
				  _mm512_set1_ps(0.5f));
	__m512i n = _mm512_cvttps_epi32(fx);
	__m512 fn = _mm512_cvtepi32_ps(n);
	__mmask16 up = _mm512_cmp_ps_mask(fn, fx, _CMP_GT_OQ);
	n = _mm512_mask_sub_epi32(n, up, n, _mm512_set1_epi32(1));
	fn = _mm512_cvtepi32_ps(n);
	__m512 r = _mm512_sub_ps(c, _mm512_mul_ps(fn, _mm512_set1_ps(0.693359375f)));
	r = _mm512_sub_ps(r, _mm512_mul_ps(fn, _mm512_set1_ps(-2.12194440e-4f)));
	__m512 p = _mm512_add_ps(_mm512_mul_ps(r, _mm512_set1_ps(1.9875691500e-4f)),
				 _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r),
			  _mm512_set1_ps(1.0f));
	__mmask16 big = _mm512_cmp_epi32_mask(n, _mm512_set1_epi32(127), _MM_CMPINT_GT);
	__m512 twice = _mm512_mask_blend_ps(big, _mm512_set1_ps(1.0f), _mm512_set1_ps(2.0f));
	n = _mm512_min_epi32(n, _mm512_set1_epi32(127));
	__m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23));
	__m512 y = _mm512_mul_ps(_mm512_mul_ps(p, scale), twice);
	y = _mm512_mask_blend_ps(below, y, _mm512_setzero_ps());
	y = _mm512_mask_blend_ps(above, y, _mm512_set1_ps(INFINITY));
	return _mm512_mask_blend_ps(nan, y, x);
}

__attribute__((target("avx512f"))) static size_t exp_shifted16(float *y, const float *x, size_t n,
							       float shift)
{
	__m512 s = _mm512_set1_ps(shift);
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(y + i, exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s)));
	return i;
}

void tk_cpu_exp_shifted(float *y, const float *x, size_t n, float shift)
{
	size_t i = __builtin_cpu_supports("avx512f") ? exp_shifted16(y, x, n, shift) : 0;
	for (; i + 4 <= n; i += 4) {
		tk_v4f v;
		memcpy(&v, x + i, sizeof v);
		v = tk_v4_exp(v - shift);
		memcpy(y + i, &v, sizeof v);
	}
	for (; i < n; i++)
		y[i] = tk_cpu_expf(x[i] - shift);
}
