/* Element types of stored tensors and their conversions to float32. */
#ifndef TK_DTYPE_H
#define TK_DTYPE_H

#include <stddef.h>
#include <stdint.h>

enum tk_dtype { TK_F32 = 0, TK_F16 = 1, TK_BF16 = 2, TK_I32 = 3, TK_DTYPE_COUNT };

size_t tk_dtype_size(int dtype);
const char *tk_dtype_name(int dtype);  /* "f32", ... ; NULL when unknown */
int tk_dtype_from_name(const char *name); /* -1 when unknown */

float tk_f16_to_f32(uint16_t h);
uint16_t tk_f32_to_f16(float f);    /* round to nearest even */
float tk_bf16_to_f32(uint16_t b);
uint16_t tk_f32_to_bf16(float f);   /* round to nearest even, NaN kept */

/* Converts n elements of dtype at src to float32 at dst (I32 not allowed). */
void tk_dtype_to_f32(int dtype, const void *src, float *dst, size_t n);
void tk_dtype_from_f32(int dtype, const float *src, void *dst, size_t n);

#endif
