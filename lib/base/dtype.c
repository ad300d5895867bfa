#include "tk_dtype.h"

#include <string.h>

static const char *const dtype_names[TK_DTYPE_COUNT] = {"f32", "f16", "bf16", "i32"};
static const size_t dtype_sizes[TK_DTYPE_COUNT] = {4, 2, 2, 4};

size_t tk_dtype_size(int dtype)
{
	return dtype >= 0 && dtype < TK_DTYPE_COUNT ? dtype_sizes[dtype] : 0;
}

const char *tk_dtype_name(int dtype)
{
	return dtype >= 0 && dtype < TK_DTYPE_COUNT ? dtype_names[dtype] : NULL;
}

int tk_dtype_from_name(const char *name)
{
	for (int i = 0; i < TK_DTYPE_COUNT; i++)
		if (strcmp(name, dtype_names[i]) == 0)
			return i;
	return -1;
}

static uint32_t float_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float bits_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

float tk_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	if (exp == 0x1f) /* inf or NaN */
		return bits_float(sign | 0x7f800000u | (man << 13));
	if (exp == 0) {
		/* zero or subnormal: man * 2^-24 is exact in float32 */
		float v = (float)man * 5.9604644775390625e-8f;
		return sign ? -v : v;
	}
	return bits_float(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t tk_f32_to_f16(float f)
{
	uint32_t u = float_bits(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	uint32_t abs = u & 0x7fffffffu;
	if (abs >= 0x7f800000u) /* inf or NaN */
		return sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0);
	if (abs >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
		return sign | 0x7c00;
	if (abs < 0x38800000u) {
		/* result is subnormal or zero: scale into integer range and
		 * let the FPU round to nearest even */
		float v = bits_float(abs) * 16777216.0f; /* 2^24 */
		uint32_t m = (uint32_t)v;
		float rem = v - (float)m;
		if (rem > 0.5f || (rem == 0.5f && (m & 1)))
			m++;
		return sign | (uint16_t)m;
	}
	uint32_t mant = abs & 0x7fffff;
	uint32_t exp = (abs >> 23) - 112;
	uint32_t h = (exp << 10) | (mant >> 13);
	uint32_t rest = mant & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++; /* may carry into the exponent, which is right */
	return sign | (uint16_t)h;
}

float tk_bf16_to_f32(uint16_t b) { return bits_float((uint32_t)b << 16); }

uint16_t tk_f32_to_bf16(float f)
{
	uint32_t u = float_bits(f);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

/* The i-th 16-bit value of src, which a file may place at an odd address. */
static uint16_t half_at(const unsigned char *src, size_t i)
{
	uint16_t h;
	memcpy(&h, src + 2 * i, sizeof h);
	return h;
}

void tk_dtype_to_f32(int dtype, const void *src, float *dst, size_t n)
{
	switch (dtype) {
	case TK_F32:
		memcpy(dst, src, n * 4);
		break;
	case TK_F16:
		for (size_t i = 0; i < n; i++)
			dst[i] = tk_f16_to_f32(half_at(src, i));
		break;
	case TK_BF16:
		for (size_t i = 0; i < n; i++)
			dst[i] = tk_bf16_to_f32(half_at(src, i));
		break;
	default:
		break;
	}
}

void tk_dtype_from_f32(int dtype, const float *src, void *dst, size_t n)
{
	unsigned char *out = dst;
	switch (dtype) {
	case TK_F32:
		memcpy(dst, src, n * 4);
		break;
	case TK_F16:
		for (size_t i = 0; i < n; i++) {
			uint16_t h = tk_f32_to_f16(src[i]);
			memcpy(out + 2 * i, &h, sizeof h);
		}
		break;
	case TK_BF16:
		for (size_t i = 0; i < n; i++) {
			uint16_t h = tk_f32_to_bf16(src[i]);
			memcpy(out + 2 * i, &h, sizeof h);
		}
		break;
	default:
		break;
	}
}
