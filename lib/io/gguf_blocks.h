/* Decoders of one ggml quantized block to float32, shared by the
 * dequantizer's type table (gguf_dequant.c).  Each reads one block at src
 * (its size in the table) and writes its elements (32 or 256) to dst.
 * Internal to lib/io. */
#ifndef TK_GGUF_BLOCKS_H
#define TK_GGUF_BLOCKS_H

#include <stdint.h>

/* The k-quants' super-block: 256 elements (lib/io/gguf_kquant.c). */
#define TK_QK_K 256

void tk_q2_k_block(const unsigned char *src, float *dst);
void tk_q3_k_block(const unsigned char *src, float *dst);
void tk_q4_k_block(const unsigned char *src, float *dst);
void tk_q5_k_block(const unsigned char *src, float *dst);
void tk_q6_k_block(const unsigned char *src, float *dst);
void tk_q8_k_block(const unsigned char *src, float *dst);

/* Bytes of each k-quant block. */
#define TK_Q2_K_BYTES (TK_QK_K / 16 + TK_QK_K / 4 + 4)
#define TK_Q3_K_BYTES (TK_QK_K / 8 + TK_QK_K / 4 + 12 + 2)
#define TK_Q4_K_BYTES (4 + 12 + TK_QK_K / 2)
#define TK_Q5_K_BYTES (4 + 12 + TK_QK_K / 8 + TK_QK_K / 2)
#define TK_Q6_K_BYTES (TK_QK_K / 2 + TK_QK_K / 4 + TK_QK_K / 16 + 2)
#define TK_Q8_K_BYTES (4 + TK_QK_K + TK_QK_K / 8)

#endif
