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

/* How a form makes w from a level q: d·q + m as one fused multiply-add
 * (Q4: d·q is exact in float32, an f16 times a small integer needing at
 * most 19 bits, so this is the rounded sum of q4_value), d·q alone (Q8,
 * Q4S: exact), or d·q rounded and then + m (Q4K, Q8K: a float32 d, whose
 * product may round, as tk_xwt_k_value does). */
enum xwt_combine { COMBINE_FMA, COMBINE_MUL, COMBINE_MUL_ADD };

__attribute__((target("avx512f"), always_inline)) static inline __m512
xwt_combine(enum xwt_combine how, __m512 d, __m512 q, __m512 m)
{
	if (how == COMBINE_FMA)
		return _mm512_fmadd_ps(d, q, m);
	if (how == COMBINE_MUL)
		return _mm512_mul_ps(d, q);
	return _mm512_add_ps(_mm512_mul_ps(d, q), m);
}

/* The three 16-lane vectors of a panel's parameters, f16 or float32. */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_params_f16(__m512 out[3], const uint16_t *h)
{
	for (int v = 0; v < 3; v++)
		out[v] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + 16 * v)));
}

__attribute__((target("avx512f"), always_inline)) static inline void
xwt_params_f32(__m512 out[3], const float *f)
{
	for (int v = 0; v < 3; v++)
		out[v] = _mm512_loadu_ps(f + 16 * v);
}

/* QK rows of a block from QK / 2 rows of nibbles (the low nibble row t,
 * the high one row t + QK / 2): vpermps turns a lane's low four bits into
 * the float level from a table, without masking or converting. */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_nibbles(float *dst, const unsigned char *qs, __m512 levels, const __m512 d[3],
		   const __m512 m[3], enum xwt_combine how)
{
	for (int t = 0; t < QK / 2; t++)
		for (int v = 0; v < 3; v++) {
			__m512i b = _mm512_cvtepu8_epi32(
				_mm_loadu_si128((const __m128i *)(qs + t * TK_XWT_PANEL + 16 * v)));
			__m512 lo = _mm512_permutexvar_ps(b, levels);
			__m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), levels);
			_mm512_storeu_ps(dst + t * TK_XWT_PANEL + 16 * v, xwt_combine(how, d[v], lo, m[v]));
			_mm512_storeu_ps(dst + (t + QK / 2) * TK_XWT_PANEL + 16 * v,
					 xwt_combine(how, d[v], hi, m[v]));
		}
}

/* `rows` rows of a block from as many rows of int8 levels. */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_bytes(float *dst, const unsigned char *qs, int rows, const __m512 d[3],
		 const __m512 m[3], enum xwt_combine how)
{
	for (int t = 0; t < rows; t++)
		for (int v = 0; v < 3; v++) {
			__m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
				_mm_loadu_si128((const __m128i *)(qs + t * TK_XWT_PANEL + 16 * v))));
			_mm512_storeu_ps(dst + t * TK_XWT_PANEL + 16 * v, xwt_combine(how, d[v], q, m[v]));
		}
}

__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_q4_avx512(float *dst, const unsigned char *block)
{
	const uint16_t *dh = (const uint16_t *)block;
	__m512 d[3], m[3];
	xwt_params_f16(d, dh);
	xwt_params_f16(m, dh + TK_XWT_PANEL);
	const __m512 levels = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	xwt_expand_nibbles(dst, block + TK_XWT_PANEL * 4, levels, d, m, COMBINE_FMA);
}

__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_q8_avx512(float *dst, const unsigned char *block)
{
	__m512 d[3], none[3] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
	xwt_params_f16(d, (const uint16_t *)block);
	xwt_expand_bytes(dst, block + TK_XWT_PANEL * 2, QK, d, none, COMBINE_MUL);
}

/* Q4S: the nibble's level q - 8 from the table. */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_q4s_avx512(float *dst, const unsigned char *block)
{
	__m512 d[3], none[3] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
	xwt_params_f16(d, (const uint16_t *)block);
	const __m512 levels = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
	xwt_expand_nibbles(dst, block + TK_XWT_PANEL * 2, levels, d, none, COMBINE_MUL);
}

/* Q4K (xwt_forms_k.c): float32 d and m. */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_q4k_avx512(float *dst, const unsigned char *block)
{
	const float *dm = (const float *)block;
	__m512 d[3], m[3];
	xwt_params_f32(d, dm);
	xwt_params_f32(m, dm + TK_XWT_PANEL);
	const __m512 levels = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	xwt_expand_nibbles(dst, block + TK_XWT_PANEL * 2 * 4, levels, d, m, COMBINE_MUL_ADD);
}

/* Q8K: rows 0-15 with the first d and m, rows 16-31 with the second. */
__attribute__((target("avx512f"), always_inline)) static inline void
xwt_expand_q8k_avx512(float *dst, const unsigned char *block)
{
	const float *dm = (const float *)block;
	const unsigned char *qs = block + TK_XWT_PANEL * 4 * 4;
	for (int h = 0; h < 2; h++) {
		__m512 d[3], m[3];
		xwt_params_f32(d, dm + h * TK_XWT_PANEL);
		xwt_params_f32(m, dm + (2 + h) * TK_XWT_PANEL);
		xwt_expand_bytes(dst + h * QK / 2 * TK_XWT_PANEL, qs + h * QK / 2 * TK_XWT_PANEL, QK / 2,
				 d, m, COMBINE_MUL_ADD);
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
