/* ggml tensor types: names, block sizes and conversion to float32.
 *
 * Block layouts of the 32-element types, as ggml defines them (f16 values
 * little-endian):
 *   Q8_0: f16 d, int8 q[32]                    x[j] = d * q[j]
 *   Q4_0: f16 d, u8 qs[16]                     x[j] = d * (q - 8)
 *   Q4_1: f16 d, f16 m, u8 qs[16]              x[j] = d * q + m
 *   Q5_0: f16 d, u32 qh, u8 qs[16]             x[j] = d * (q - 16)
 *   Q5_1: f16 d, f16 m, u32 qh, u8 qs[16]      x[j] = d * q + m
 * where q's low 4 bits are, for j < 16, the low nibble of qs[j] and for
 * j >= 16 the high nibble of qs[j - 16]; a 5-bit q takes bit j of qh
 * (little-endian) as its bit 4.  The 256-element k-quants are in
 * gguf_kquant.c. */
/* products are rounded before the sums, as ggml's reference rounds them,
 * even where the compiler could fuse them */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include "tk_gguf.h"

#include <string.h>

#include "io/gguf_blocks.h"
#include "tk_dtype.h"
#include "tk_error.h"

#define QK 32

static float f16_at(const unsigned char *b)
{
	return tk_f16_to_f32((uint16_t)(b[0] | b[1] << 8));
}

static void q8_0_block(const unsigned char *src, float *dst)
{
	float d = f16_at(src);
	const int8_t *q = (const int8_t *)(src + 2);
	for (int j = 0; j < QK; j++)
		dst[j] = d * (float)q[j];
}

static void q4_0_block(const unsigned char *src, float *dst)
{
	float d = f16_at(src);
	const unsigned char *qs = src + 2;
	for (int j = 0; j < QK / 2; j++) {
		dst[j] = d * (float)((qs[j] & 0x0f) - 8);
		dst[j + QK / 2] = d * (float)((qs[j] >> 4) - 8);
	}
}

static void q4_1_block(const unsigned char *src, float *dst)
{
	float d = f16_at(src), m = f16_at(src + 2);
	const unsigned char *qs = src + 4;
	for (int j = 0; j < QK / 2; j++) {
		dst[j] = d * (float)(qs[j] & 0x0f) + m;
		dst[j + QK / 2] = d * (float)(qs[j] >> 4) + m;
	}
}

/* The 5-bit values of a Q5_0/Q5_1 block from its qh and qs. */
static void q5_values(const unsigned char *qh_bytes, const unsigned char *qs, int q[QK])
{
	uint32_t qh = (uint32_t)qh_bytes[0] | (uint32_t)qh_bytes[1] << 8 |
		      (uint32_t)qh_bytes[2] << 16 | (uint32_t)qh_bytes[3] << 24;
	for (int j = 0; j < QK / 2; j++) {
		q[j] = (qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
		q[j + QK / 2] = (qs[j] >> 4) | (int)((qh >> (j + QK / 2)) & 1) << 4;
	}
}

static void q5_0_block(const unsigned char *src, float *dst)
{
	float d = f16_at(src);
	int q[QK];
	q5_values(src + 2, src + 6, q);
	for (int j = 0; j < QK; j++)
		dst[j] = d * (float)(q[j] - 16);
}

static void q5_1_block(const unsigned char *src, float *dst)
{
	float d = f16_at(src), m = f16_at(src + 2);
	int q[QK];
	q5_values(src + 4, src + 8, q);
	for (int j = 0; j < QK; j++)
		dst[j] = d * (float)q[j] + m;
}

typedef void (*block_decoder)(const unsigned char *src, float *dst);

typedef struct ggml_type_info {
	int type;
	const char *name;      /* as ggml prints it */
	size_t block_elems, block_bytes;
	block_decoder decode;  /* NULL for the unblocked F32, F16, BF16 */
} ggml_type_info;

static const ggml_type_info TYPES[] = {
	{TK_GGML_F32, "f32", 1, 4, NULL},
	{TK_GGML_F16, "f16", 1, 2, NULL},
	{TK_GGML_BF16, "bf16", 1, 2, NULL},
	{TK_GGML_Q8_0, "q8_0", QK, 2 + QK, q8_0_block},
	{TK_GGML_Q4_0, "q4_0", QK, 2 + QK / 2, q4_0_block},
	{TK_GGML_Q4_1, "q4_1", QK, 4 + QK / 2, q4_1_block},
	{TK_GGML_Q5_0, "q5_0", QK, 6 + QK / 2, q5_0_block},
	{TK_GGML_Q5_1, "q5_1", QK, 8 + QK / 2, q5_1_block},
	{TK_GGML_Q2_K, "q2_K", TK_QK_K, TK_Q2_K_BYTES, tk_q2_k_block},
	{TK_GGML_Q3_K, "q3_K", TK_QK_K, TK_Q3_K_BYTES, tk_q3_k_block},
	{TK_GGML_Q4_K, "q4_K", TK_QK_K, TK_Q4_K_BYTES, tk_q4_k_block},
	{TK_GGML_Q5_K, "q5_K", TK_QK_K, TK_Q5_K_BYTES, tk_q5_k_block},
	{TK_GGML_Q6_K, "q6_K", TK_QK_K, TK_Q6_K_BYTES, tk_q6_k_block},
	{TK_GGML_Q8_K, "q8_K", TK_QK_K, TK_Q8_K_BYTES, tk_q8_k_block},
};

static const ggml_type_info *type_info(int type)
{
	for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++)
		if (TYPES[i].type == type)
			return &TYPES[i];
	return NULL;
}

const char *tk_ggml_type_name(int type)
{
	const ggml_type_info *t = type_info(type);
	return t ? t->name : NULL;
}

int tk_ggml_type_block(int type, size_t *block_elems, size_t *block_bytes)
{
	const ggml_type_info *t = type_info(type);
	if (!t)
		return 0;
	*block_elems = t->block_elems;
	*block_bytes = t->block_bytes;
	return 1;
}

/* Blocks are independent: large tensors are split over threads. */
static void blocks_to_f32(const ggml_type_info *t, const unsigned char *src, float *dst,
			  size_t nblocks)
{
	#pragma omp parallel for schedule(static) if (nblocks * t->block_elems >= ((size_t)1 << 19))
	for (size_t i = 0; i < nblocks; i++)
		t->decode(src + i * t->block_bytes, dst + i * t->block_elems);
}

void tk_ggml_to_f32(int type, const void *src, float *dst, size_t n)
{
	const ggml_type_info *t = type_info(type);
	if (!t)
		return;
	switch (type) {
	case TK_GGML_F32: memcpy(dst, src, n * 4); break;
	case TK_GGML_F16: tk_dtype_to_f32(TK_F16, src, dst, n); break;
	case TK_GGML_BF16: tk_dtype_to_f32(TK_BF16, src, dst, n); break;
	default: blocks_to_f32(t, src, dst, n / t->block_elems); break;
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
