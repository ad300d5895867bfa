/* The quantized forms' blocks (xwt_forms.c) expanded to float32 with
 * AVX-512, inlined where the product multiplies them (xwt.c) as well as
 * where whole chunks are expanded.  Private to kernels/cpu. */
#ifndef TK_XWT_EXPAND_H
#define TK_XWT_EXPAND_H

#include "cpu.h"

#include <immintrin.h>

#define QK 32 // k indices per block of the quantized forms

/* Bytes of one block of QK k rows × TK_XWT_PANEL columns. */
static inline size_t block_bytes(int form)
{
	switch (form) {
	case TK_PACK_Q8: return TK_XWT_PANEL * 2 + QK * TK_XWT_PANEL;
	case TK_PACK_Q4: return TK_XWT_PANEL * 4 + QK / 2 * TK_XWT_PANEL;
	case TK_PACK_Q4S: return TK_XWT_PANEL * 2 + QK / 2 * TK_XWT_PANEL;
	case TK_PACK_Q4K: return TK_XWT_PANEL * 2 * 4 + QK / 2 * TK_XWT_PANEL;
	case TK_PACK_Q8K: return TK_XWT_PANEL * 4 * 4 + QK * TK_XWT_PANEL;
	default: return 0;
	}
}

/* d·q is exact in float32 (an f16 times a small integer needs at most 19
 * bits), so the rounded sum d·q + m is one fused multiply-add, and d·q
 * alone needs no rounding: the same floats as q4_value and q8_value in
 * fewer instructions.  vpermps turns a lane's low four bits into the float
 * q from a table, without masking or converting. */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_q4_avx512(float *dst, const unsigned char *block)
{
	const uint16_t *dh = (const uint16_t *)block;
	const unsigned char *qs = block + TK_XWT_PANEL * 4;
	const __m512 levels = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	const __m512 d0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dh));
	const __m512 d1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dh + 16)));
	const __m512 d2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dh + 32)));
	const __m512 m0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dh + TK_XWT_PANEL)));
	const __m512 m1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dh + TK_XWT_PANEL + 16)));
	const __m512 m2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dh + TK_XWT_PANEL + 32)));
#define EXPAND_Q4(v, d, m)                                                               \
	do {                                                                             \
		__m512i b = _mm512_cvtepu8_epi32(                                        \
			_mm_loadu_si128((const __m128i *)(qs + t * TK_XWT_PANEL + 16 * (v))));      \
		__m512 lo = _mm512_permutexvar_ps(b, levels);                            \
		__m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), levels);      \
		_mm512_storeu_ps(dst + t * TK_XWT_PANEL + 16 * (v), _mm512_fmadd_ps(d, lo, m));     \
		_mm512_storeu_ps(dst + (t + QK / 2) * TK_XWT_PANEL + 16 * (v), _mm512_fmadd_ps(d, hi, m)); \
	} while (0)
	for (int t = 0; t < QK / 2; t++) {
		EXPAND_Q4(0, d0, m0);
		EXPAND_Q4(1, d1, m1);
		EXPAND_Q4(2, d2, m2);
	}
#undef EXPAND_Q4
}

__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_q8_avx512(float *dst, const unsigned char *block)
{
	const uint16_t *dh = (const uint16_t *)block;
	const unsigned char *qs = block + TK_XWT_PANEL * 2;
	const __m512 d0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dh));
	const __m512 d1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dh + 16)));
	const __m512 d2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dh + 32)));
#define EXPAND_Q8(v, d)                                                                  \
	_mm512_storeu_ps(dst + t * TK_XWT_PANEL + 16 * (v),                                        \
			 _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(        \
				 _mm_loadu_si128((const __m128i *)(qs + t * TK_XWT_PANEL + 16 * (v)))))))
	for (int t = 0; t < QK; t++) {
		EXPAND_Q8(0, d0);
		EXPAND_Q8(1, d1);
		EXPAND_Q8(2, d2);
	}
#undef EXPAND_Q8
}

/* Q4S: the nibble's level q - 8 from a table, times d (exact). */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_q4s_avx512(float *dst, const unsigned char *block)
{
	const uint16_t *dh = (const uint16_t *)block;
	const unsigned char *qs = block + TK_XWT_PANEL * 2;
	const __m512 levels = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
	const __m512 d0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dh));
	const __m512 d1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dh + 16)));
	const __m512 d2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dh + 32)));
#define EXPAND_Q4S(v, d)                                                                 \
	do {                                                                             \
		__m512i b = _mm512_cvtepu8_epi32(                                        \
			_mm_loadu_si128((const __m128i *)(qs + t * TK_XWT_PANEL + 16 * (v))));      \
		__m512 lo = _mm512_permutexvar_ps(b, levels);                            \
		__m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), levels);      \
		_mm512_storeu_ps(dst + t * TK_XWT_PANEL + 16 * (v), _mm512_mul_ps(d, lo));          \
		_mm512_storeu_ps(dst + (t + QK / 2) * TK_XWT_PANEL + 16 * (v), _mm512_mul_ps(d, hi)); \
	} while (0)
	for (int t = 0; t < QK / 2; t++) {
		EXPAND_Q4S(0, d0);
		EXPAND_Q4S(1, d1);
		EXPAND_Q4S(2, d2);
	}
#undef EXPAND_Q4S
}

/* Q4K (xwt_forms_k.c): the nibble's level from a table, times d, plus m,
 * rounded twice as the value is (d is float32: d·q need not be exact). */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_q4k_avx512(float *dst, const unsigned char *block)
{
	const float *dm = (const float *)block;
	const unsigned char *qs = block + TK_XWT_PANEL * 2 * 4;
	const __m512 levels = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	const __m512 d0 = _mm512_loadu_ps(dm), d1 = _mm512_loadu_ps(dm + 16);
	const __m512 d2 = _mm512_loadu_ps(dm + 32), m0 = _mm512_loadu_ps(dm + TK_XWT_PANEL);
	const __m512 m1 = _mm512_loadu_ps(dm + TK_XWT_PANEL + 16);
	const __m512 m2 = _mm512_loadu_ps(dm + TK_XWT_PANEL + 32);
#define EXPAND_Q4K(v, d, m)                                                              \
	do {                                                                             \
		__m512i b = _mm512_cvtepu8_epi32(                                        \
			_mm_loadu_si128((const __m128i *)(qs + t * TK_XWT_PANEL + 16 * (v))));      \
		__m512 lo = _mm512_permutexvar_ps(b, levels);                            \
		__m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), levels);      \
		_mm512_storeu_ps(dst + t * TK_XWT_PANEL + 16 * (v),                      \
				 _mm512_add_ps(_mm512_mul_ps(d, lo), m));                \
		_mm512_storeu_ps(dst + (t + QK / 2) * TK_XWT_PANEL + 16 * (v),           \
				 _mm512_add_ps(_mm512_mul_ps(d, hi), m));                \
	} while (0)
	for (int t = 0; t < QK / 2; t++) {
		EXPAND_Q4K(0, d0, m0);
		EXPAND_Q4K(1, d1, m1);
		EXPAND_Q4K(2, d2, m2);
	}
#undef EXPAND_Q4K
}

/* Q8K: rows 0-15 with the first d and m, rows 16-31 with the second. */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_q8k_avx512(float *dst, const unsigned char *block)
{
	const float *dm = (const float *)block;
	const unsigned char *qs = block + TK_XWT_PANEL * 4 * 4;
	for (int h = 0; h < 2; h++) {
		const float *d = dm + h * TK_XWT_PANEL, *m = dm + (2 + h) * TK_XWT_PANEL;
		const __m512 d0 = _mm512_loadu_ps(d), d1 = _mm512_loadu_ps(d + 16);
		const __m512 d2 = _mm512_loadu_ps(d + 32), m0 = _mm512_loadu_ps(m);
		const __m512 m1 = _mm512_loadu_ps(m + 16), m2 = _mm512_loadu_ps(m + 32);
#define EXPAND_Q8K(v, d, m)                                                              \
	_mm512_storeu_ps(dst + t * TK_XWT_PANEL + 16 * (v),                              \
			 _mm512_add_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32( \
				 _mm_loadu_si128((const __m128i *)(qs + t * TK_XWT_PANEL + 16 * (v)))))), m))
		for (int t = h * QK / 2; t < (h + 1) * QK / 2; t++) {
			EXPAND_Q8K(0, d0, m0);
			EXPAND_Q8K(1, d1, m1);
			EXPAND_Q8K(2, d2, m2);
		}
#undef EXPAND_Q8K
	}
}

/* Block b of a panel in a quantized form into dst (QK, TK_XWT_PANEL). */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_block_avx512(float *dst, int form, const unsigned char *panel, size_t b)
{
	if (form == TK_PACK_Q8)
		xwt_expand_q8_avx512(dst, panel + b * block_bytes(form));
	else if (form == TK_PACK_Q4S)
		xwt_expand_q4s_avx512(dst, panel + b * block_bytes(form));
	else if (form == TK_PACK_Q4K)
		xwt_expand_q4k_avx512(dst, panel + b * block_bytes(form));
	else if (form == TK_PACK_Q8K)
		xwt_expand_q8k_avx512(dst, panel + b * block_bytes(form));
	else
		xwt_expand_q4_avx512(dst, panel + b * block_bytes(form));
}

#endif
