/* f16 and bf16 conversions for the compact forms of packed weights
 * (xwt_forms.c) and the bf16 products (xwt_bf16.c, attention_amx.c):
 * IEEE binary16 to and from float32, rounding to nearest even, bf16
 * (float32's top half) to float32, and float32 to bf16 (one value, or 16
 * lanes with the same bits).  Here rather than taken from lib, which
 * kernels/ does not include. */
#ifndef TK_KERNELS_CPU_HALF_H
#define TK_KERNELS_CPU_HALF_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline float tk_half_bits_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Exact: every f16 is a float32. */
static inline float tk_half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
	if (exponent == 0x1f) // infinity or NaN
		return tk_half_bits_float(sign | 0x7f800000u | mantissa << 13);
	if (exponent == 0) { // zero or subnormal: mantissa · 2^−24, exact
		float v = (float)mantissa * 0x1p-24f;
		return sign ? -v : v;
	}
	return tk_half_bits_float(sign | (exponent + 112) << 23 | mantissa << 13);
}

/* f's nearest f16 (ties to even); overflow gives infinity, NaN a quiet NaN. */
static inline uint16_t tk_float_to_half(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	uint16_t sign = (uint16_t)(u >> 16 & 0x8000u);
	uint32_t magnitude = u & 0x7fffffffu;
	if (magnitude >= 0x7f800000u) // infinity or NaN
		return sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0u);
	if (magnitude >= 0x477ff000u) // 65520 and up round to infinity
		return sign | 0x7c00u;
	/* the f16 result as an integer count of its least unit, with the
	 * bits below that unit kept for rounding */
	uint32_t exponent = magnitude >> 23, mantissa = magnitude & 0x7fffffu;
	uint32_t shift, value;
	if (exponent < 113) { // below 2^−14: a subnormal f16 (unit 2^−24), or zero
		if (exponent < 102) // below 2^−25: rounds to zero
			return sign;
		mantissa |= 0x800000u; // the implicit bit
		shift = 126 - exponent; // 14..24
		value = mantissa >> shift;
	} else {
		shift = 13;
		value = (exponent - 112) << 10 | mantissa >> shift;
	}
	uint32_t rest = mantissa & ((1u << shift) - 1), half = 1u << (shift - 1);
	if (rest > half || (rest == half && (value & 1u)))
		value++; // may carry into the exponent, which is right
	return sign | (uint16_t)value;
}

static inline float tk_bfloat_to_float(uint16_t b)
{
	return tk_half_bits_float((uint32_t)b << 16);
}

/* f's bf16: nearest, ties to even; a NaN stays a quiet NaN. */
static inline uint16_t tk_float_to_bfloat(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)(u >> 16 | 0x40);
	return (uint16_t)((u + 0x7fffu + (u >> 16 & 1u)) >> 16);
}

/* tk_float_to_bfloat on 16 lanes, its integer arithmetic lane by lane:
 * the bf16 bits in each lane's low half. */
__attribute__((target("avx512f"))) static inline __m512i tk_float_to_bfloat16x(__m512 f)
{
	__m512i u = _mm512_castps_si512(f);
	__m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
	__m512i r = _mm512_srli_epi32(
		_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd), 16);
	__m512i mag = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
	__mmask16 nan = _mm512_cmpgt_epu32_mask(mag, _mm512_set1_epi32(0x7f800000));
	return _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
}

#endif
