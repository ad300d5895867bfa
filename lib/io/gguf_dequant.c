/* ggml tensor types: block sizes and conversion to float32.
 *
 * Block layouts (32 elements each), as ggml defines them:
 *   Q8_0: f16 d, int8 q[32]            x[j] = d * q[j]
 *   Q4_0: f16 d, u8 qs[16]             x[j] = d * (nibble - 8)
 *   Q4_1: f16 d, f16 m, u8 qs[16]      x[j] = d * nibble + m
 * where element j < 16 is the low nibble of qs[j] and element j + 16 its
 * high nibble. */
#include "tk_gguf.h"

#include <string.h>

#include "tk_dtype.h"
#include "tk_error.h"

#define QK 32

const char *tk_ggml_type_name(int type)
{
	switch (type) {
	case TK_GGML_F32: return "f32";
	case TK_GGML_F16: return "f16";
	case TK_GGML_BF16: return "bf16";
	case TK_GGML_Q8_0: return "q8_0";
	case TK_GGML_Q4_0: return "q4_0";
	case TK_GGML_Q4_1: return "q4_1";
	default: return NULL;
	}
}

int tk_ggml_type_block(int type, size_t *block_elems, size_t *block_bytes)
{
	size_t e = 1, b;
	switch (type) {
	case TK_GGML_F32: b = 4; break;
	case TK_GGML_F16: case TK_GGML_BF16: b = 2; break;
	case TK_GGML_Q8_0: e = QK; b = 2 + QK; break;
	case TK_GGML_Q4_0: e = QK; b = 2 + QK / 2; break;
	case TK_GGML_Q4_1: e = QK; b = 4 + QK / 2; break;
	default: return 0;
	}
	*block_elems = e;
	*block_bytes = b;
	return 1;
}

static uint16_t u16_at(const unsigned char *b)
{
	return (uint16_t)(b[0] | b[1] << 8);
}

static void q8_0_block(const unsigned char *src, float *dst)
{
	float d = tk_f16_to_f32(u16_at(src));
	const int8_t *q = (const int8_t *)(src + 2);
	for (int j = 0; j < QK; j++)
		dst[j] = d * (float)q[j];
}

static void q4_0_block(const unsigned char *src, float *dst)
{
	float d = tk_f16_to_f32(u16_at(src));
	const unsigned char *qs = src + 2;
	for (int j = 0; j < QK / 2; j++) {
		dst[j] = d * (float)((qs[j] & 0x0f) - 8);
		dst[j + QK / 2] = d * (float)((qs[j] >> 4) - 8);
	}
}

static void q4_1_block(const unsigned char *src, float *dst)
{
	float d = tk_f16_to_f32(u16_at(src));
	float m = tk_f16_to_f32(u16_at(src + 2));
	const unsigned char *qs = src + 4;
	for (int j = 0; j < QK / 2; j++) {
		dst[j] = d * (float)(qs[j] & 0x0f) + m;
		dst[j + QK / 2] = d * (float)(qs[j] >> 4) + m;
	}
}

/* Blocks are independent: large tensors are split over threads. */
static void blocks_to_f32(void (*block)(const unsigned char *, float *), size_t block_bytes,
			  const unsigned char *src, float *dst, size_t nblocks)
{
	#pragma omp parallel for schedule(static) if (nblocks >= ((size_t)1 << 14))
	for (size_t i = 0; i < nblocks; i++)
		block(src + i * block_bytes, dst + i * QK);
}

void tk_ggml_to_f32(int type, const void *src, float *dst, size_t n)
{
	switch (type) {
	case TK_GGML_F32: memcpy(dst, src, n * 4); break;
	case TK_GGML_F16: tk_dtype_to_f32(TK_F16, src, dst, n); break;
	case TK_GGML_BF16: tk_dtype_to_f32(TK_BF16, src, dst, n); break;
	case TK_GGML_Q8_0: blocks_to_f32(q8_0_block, 2 + QK, src, dst, n / QK); break;
	case TK_GGML_Q4_0: blocks_to_f32(q4_0_block, 2 + QK / 2, src, dst, n / QK); break;
	case TK_GGML_Q4_1: blocks_to_f32(q4_1_block, 4 + QK / 2, src, dst, n / QK); break;
	default: break;
	}
}

int tk_gguf_tensor_to_f32(const tk_gguf *g, const tk_gguf_tensor *t, float *dst)
{
	if (!tk_ggml_type_name(t->type))
		return tk_fail(TK_EDATA, "%s: tensor '%s': ggml type %d cannot be converted",
			       g->file->path, t->name, t->type);
	tk_ggml_to_f32(t->type, t->data, dst, (size_t)t->numel);
	return TK_OK;
}
