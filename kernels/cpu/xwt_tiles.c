/* The AVX2 + FMA and portable register tiles of the batch-invariant
 * product (xwt.c): each element one chain of fused multiply-adds over k
 * in order, the same bits as the AVX-512 tiles. */
#include "xwt_tile.h"

#include <immintrin.h>

/* ---- AVX2 + FMA: 4 rows × 24 columns, twice a panel (16 registers) ----- */

__attribute__((target("avx2,fma"))) static inline __m256i mask8(size_t have)
{
	static const int32_t ramp[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
	return _mm256_loadu_si256((const __m256i *)(ramp + 8 - (have > 8 ? 8 : have)));
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
half_avx2_body(const size_t mr, const float *a, size_t lda, const float *b, size_t ldb, size_t k,
	       size_t cols, float *y, size_t ldy, size_t rows, int accumulate)
{
	__m256i mask[3];
	for (int v = 0; v < 3; v++) {
		size_t lo = (size_t)v * 8;
		mask[v] = mask8(cols > lo ? cols - lo : 0);
	}
	__m256 acc[4][3];
	const float *ar[4];
#pragma GCC unroll 4
	for (size_t r = 0; r < mr; r++) {
		acc[r][0] = acc[r][1] = acc[r][2] = _mm256_setzero_ps();
		ar[r] = a + (r < rows ? r : 0) * lda;
	}
	for (size_t t = 0; t < k; t++) {
		const float *bt = b + t * ldb;
		__m256 b0 = _mm256_maskload_ps(bt, mask[0]);
		__m256 b1 = _mm256_maskload_ps(bt + 8, mask[1]);
		__m256 b2 = _mm256_maskload_ps(bt + 16, mask[2]);
#pragma GCC unroll 4
		for (size_t r = 0; r < mr; r++) {
			__m256 x = _mm256_broadcast_ss(ar[r] + t);
			acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
			acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
			acc[r][2] = _mm256_fmadd_ps(x, b2, acc[r][2]);
		}
	}
#pragma GCC unroll 4
	for (size_t r = 0; r < mr; r++) {
		if (r >= rows)
			break;
		for (int v = 0; v < 3; v++) {
			float *out = y + r * ldy + v * 8;
			__m256 s = acc[r][v];
			if (accumulate)
				s = _mm256_add_ps(_mm256_maskload_ps(out, mask[v]), s);
			_mm256_maskstore_ps(out, mask[v], s);
		}
	}
}

__attribute__((target("avx2,fma"))) static void
half_avx2(size_t mr, const float *a, size_t lda, const float *b, size_t ldb, size_t k,
	  size_t cols, float *y, size_t ldy, size_t rows, int accumulate)
{
	if (mr > 2)
		half_avx2_body(4, a, lda, b, ldb, k, cols, y, ldy, rows, accumulate);
	else if (mr > 1)
		half_avx2_body(2, a, lda, b, ldb, k, cols, y, ldy, rows, accumulate);
	else
		half_avx2_body(1, a, lda, b, ldb, k, cols, y, ldy, rows, accumulate);
}

void tk_cpu_xwt_tile_avx2(size_t mr, const float *a, size_t lda, const float *b, size_t ldb,
			  size_t k, size_t cols, float *y, size_t ldy, size_t rows, int accumulate,
		      const struct prefetch *pf)
{
	(void)pf;
	for (size_t r0 = 0; r0 < mr && r0 < rows; r0 += 4) {
		size_t rr = rows - r0 < 4 ? rows - r0 : 4;
		const float *ar = a + r0 * lda;
		float *yr = y + r0 * ldy;
		half_avx2(rr, ar, lda, b, ldb, k, cols, yr, ldy, rr, accumulate);
		if (cols > 24)
			half_avx2(rr, ar, lda, b + 24, ldb, k, cols - 24, yr + 24, ldy, rr, accumulate);
	}
}

/* ---- portable C -------------------------------------------------------- */

void tk_cpu_xwt_tile_c(size_t mr, const float *a, size_t lda, const float *b, size_t ldb, size_t k,
		   size_t cols, float *y, size_t ldy, size_t rows, int accumulate,
		   const struct prefetch *pf)
{
	(void)mr, (void)pf;
	for (size_t r = 0; r < rows; r++)
		for (size_t c = 0; c < cols; c++) {
			float s = 0.0f;
			for (size_t t = 0; t < k; t++)
				s = fmaf(a[r * lda + t], b[t * ldb + c], s);
			float *out = y + r * ldy + c;
			*out = accumulate ? *out + s : s;
		}
}
