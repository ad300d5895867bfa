/* ggml's k-quants: super-blocks of 256 elements with per-sub-block scales,
 * decoded to float32.  The layouts, as ggml defines them (f16 values
 * little-endian; element e of a block):
 *
 *   Q2_K (84 bytes): scales[16], qs[64], f16 d, f16 dmin.  Sixteen
 *     sub-blocks of 16; scales[s] holds the scale (low nibble) and the min
 *     (high nibble) of sub-block s.  q = 2 bits of qs[(e/128)*32 + e%32]
 *     at bit 2*((e%128)/32).   x = d*scale*q - dmin*min
 *   Q3_K (110): hmask[32], qs[64], scales[12], f16 d.  Sixteen 6-bit
 *     signed scales (stored + 32): the low 4 bits in the nibbles of
 *     scales[0..7] (s < 8 low nibble of scales[s], else high nibble of
 *     scales[s-8]), the high 2 bits at bit 2*(s/4) of scales[8 + s%4].
 *     q = 2 bits as Q2_K, minus 4 when bit e/32 of hmask[e%32] is clear.
 *     x = d*scale*q
 *   Q4_K (144): f16 d, f16 dmin, scales[12], qs[128].  Eight sub-blocks of
 *     32 with 6-bit scales and mins packed in 12 bytes (scale_min below);
 *     q = nibble (e/32)%2 of qs[(e/64)*32 + e%32].   x = d*scale*q - dmin*min
 *   Q5_K (176): as Q4_K with qh[32] before qs: bit e/32 of qh[e%32] is
 *     bit 4 of q.
 *   Q6_K (210): ql[128], qh[64], int8 scales[16], f16 d.  Sixteen
 *     sub-blocks of 16; with h = e/128, r = e%128: the low 4 bits of q are
 *     nibble r/64 of ql[h*64 + r%64], the high 2 bits are at bit
 *     2*(r/32) of qh[h*32 + r%32]; q is stored + 32.   x = d*scale*q
 *   Q8_K (292): f32 d, int8 q[256], int16 bsums[16] (sums for dot
 *     products, not needed here).   x = d*q
 *
 * Products are taken in the order ggml's reference and gguf-py use
 * ((d*scale)*q - dmin*min, in float32), so the values are theirs bit for
 * bit. */
/* products are rounded before the sums, as ggml's reference rounds them,
 * even where the compiler could fuse them */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include "io/gguf_blocks.h"

#include <string.h>

#include "tk_dtype.h"

static float f16_at(const unsigned char *b)
{
	return tk_f16_to_f32((uint16_t)(b[0] | b[1] << 8));
}

/* The 2-bit field of element e (0..255) in a 64-byte Q2_K/Q3_K qs. */
static int crumb(const unsigned char *qs, int e)
{
	return (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

void tk_q2_k_block(const unsigned char *src, float *dst)
{
	const unsigned char *scales = src, *qs = src + 16;
	float d = f16_at(src + 80), dmin = f16_at(src + 82);
	for (int s = 0; s < 16; s++) {
		float dl = d * (float)(scales[s] & 0x0f);
		float ml = dmin * (float)(scales[s] >> 4);
		for (int e = s * 16; e < s * 16 + 16; e++) {
			float scaled = dl * (float)crumb(qs, e);
			dst[e] = scaled - ml;
		}
	}
}

static int q3_k_scale(const unsigned char *scales, int s)
{
	int low = s < 8 ? scales[s] & 0x0f : scales[s - 8] >> 4;
	int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
	return (low | high << 4) - 32;
}

void tk_q3_k_block(const unsigned char *src, float *dst)
{
	const unsigned char *hmask = src, *qs = src + 32, *scales = src + 96;
	float d = f16_at(src + 108);
	for (int s = 0; s < 16; s++) {
		float dl = d * (float)q3_k_scale(scales, s);
		for (int e = s * 16; e < s * 16 + 16; e++) {
			int high = (hmask[e % 32] >> (e / 32)) & 1;
			dst[e] = dl * (float)(crumb(qs, e) - (high ? 0 : 4));
		}
	}
}

/* Scale and min of Q4_K/Q5_K sub-block j (0..7) from their 12 bytes:
 * j < 4 in the low 6 bits of bytes j and j+4; j >= 4 with the low 4 bits
 * in byte j+4's nibbles and the high 2 in the top bits of bytes j-4, j. */
static void scale_min(const unsigned char *s, int j, int *scale, int *min)
{
	if (j < 4) {
		*scale = s[j] & 63;
		*min = s[j + 4] & 63;
	} else {
		*scale = (s[j + 4] & 0x0f) | (s[j - 4] >> 6) << 4;
		*min = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
	}
}

/* Q4_K and Q5_K: qh is NULL for Q4_K. */
static void q45_k_block(const unsigned char *src, const unsigned char *qh,
			const unsigned char *qs, float *dst)
{
	float d = f16_at(src), dmin = f16_at(src + 2);
	for (int j = 0; j < 8; j++) {
		int sc, m;
		scale_min(src + 4, j, &sc, &m);
		float dl = d * (float)sc, ml = dmin * (float)m;
		for (int e = j * 32; e < j * 32 + 32; e++) {
			int q = (qs[(e / 64) * 32 + e % 32] >> (4 * (j % 2))) & 0x0f;
			if (qh)
				q |= ((qh[e % 32] >> j) & 1) << 4;
			float scaled = dl * (float)q;
			dst[e] = scaled - ml;
		}
	}
}

void tk_q4_k_block(const unsigned char *src, float *dst)
{
	q45_k_block(src, NULL, src + 16, dst);
}

void tk_q5_k_block(const unsigned char *src, float *dst)
{
	q45_k_block(src, src + 16, src + 48, dst);
}

void tk_q6_k_block(const unsigned char *src, float *dst)
{
	const unsigned char *ql = src, *qh = src + 128;
	const int8_t *scales = (const int8_t *)(src + 192);
	float d = f16_at(src + 208);
	for (int s = 0; s < 16; s++) {
		float dl = d * (float)scales[s];
		for (int e = s * 16; e < s * 16 + 16; e++) {
			int h = e / 128, r = e % 128;
			int low = (ql[h * 64 + r % 64] >> (4 * (r / 64))) & 0x0f;
			int high = (qh[h * 32 + r % 32] >> (2 * (r / 32))) & 3;
			dst[e] = dl * (float)((low | high << 4) - 32);
		}
	}
}

void tk_q8_k_block(const unsigned char *src, float *dst)
{
	float d;
	memcpy(&d, src, sizeof d); /* little-endian hosts only, as the rest of the reader */
	const int8_t *q = (const int8_t *)(src + 4);
	for (int e = 0; e < TK_QK_K; e++)
		dst[e] = d * (float)q[e];
}
