/* float32 to the ggml types the GGUF writer stores: F32, F16, BF16 and the
 * 32-element blocks Q8_0 and Q4_0 (layouts in gguf_dequant.c).  The
 * quantizers are the plain round-to-nearest ones ggml uses for these
 * types:
 *   Q8_0: d = max|x| / 127, q = round(x / d)
 *   Q4_0: d = -x_m / 8 where x_m is the value of largest magnitude, so
 *         that x_m itself is q = 0 exactly; q = trunc(x / d + 8.5) in 0..15
 * with d stored as f16 and q found with the unrounded d. */
#include "tk_gguf.h"

#include <math.h>
#include <string.h>

#include "tk_dtype.h"

#define QK 32

static void put_f16(unsigned char *b, float v)
{
	uint16_t h = tk_f32_to_f16(v);
	b[0] = (unsigned char)h;
	b[1] = (unsigned char)(h >> 8);
}

static void q8_0_quantize(const float *x, unsigned char *dst)
{
	float amax = 0.0f;
	for (int j = 0; j < QK; j++)
		amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
	float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
	put_f16(dst, d);
	for (int j = 0; j < QK; j++) {
		float q = roundf(x[j] * id);
		dst[2 + j] = (unsigned char)(int8_t)(q > 127.0f ? 127 : q < -127.0f ? -127 : (int)q);
	}
}

static void q4_0_quantize(const float *x, unsigned char *dst)
{
	float amax = 0.0f, extreme = 0.0f;
	for (int j = 0; j < QK; j++)
		if (fabsf(x[j]) > amax) {
			amax = fabsf(x[j]);
			extreme = x[j];
		}
	float d = extreme / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
	put_f16(dst, d);
	unsigned char *qs = dst + 2;
	for (int j = 0; j < QK / 2; j++) {
		int lo = (int)(x[j] * id + 8.5f), hi = (int)(x[j + QK / 2] * id + 8.5f);
		lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
		hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
		qs[j] = (unsigned char)(lo | hi << 4);
	}
}

int tk_ggml_from_f32(int type, const float *src, void *dst, size_t n)
{
	unsigned char *out = dst;
	switch (type) {
	case TK_GGML_F32: memcpy(dst, src, n * sizeof *src); return 1;
	case TK_GGML_F16: tk_dtype_from_f32(TK_F16, src, dst, n); return 1;
	case TK_GGML_BF16: tk_dtype_from_f32(TK_BF16, src, dst, n); return 1;
	case TK_GGML_Q8_0:
		for (size_t i = 0; i < n / QK; i++)
			q8_0_quantize(src + i * QK, out + i * (2 + QK));
		return n % QK == 0;
	case TK_GGML_Q4_0:
		for (size_t i = 0; i < n / QK; i++)
			q4_0_quantize(src + i * QK, out + i * (2 + QK / 2));
		return n % QK == 0;
	default: return 0;
	}
}
