/* Private to the CPU backend: the backend struct and the helpers the
 * kernel files share. */
#ifndef TK_KERNELS_CPU_H
#define TK_KERNELS_CPU_H

#include "kernels.h"

#include <math.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct tk_backend {
	int threads;
	int batch_invariant;
	size_t workspace;  /* bytes a kernel may take for itself */
	char name[160];
};

/* Below this many elements an elementwise kernel runs on one thread: the
 * fork/join costs more than the work. */
#define TK_CPU_PARALLEL_MIN 32768

/* Below this many rows tk's own product beats OpenBLAS's sgemm (which has
 * no matrix-vector path for one row), so it is used even when the backend
 * is not batch invariant. */
#define TK_CPU_FEW_ROWS 32

/* y (m, ldy) = x (m, k) · w (n, k)ᵀ (+ y when beta is 1), each element by
 * the same lane arithmetic whatever m, n and the threads (xwt_rowwise.c). */
void tk_cpu_xwt_rowwise(tk_backend *be, float *y, size_t ldy, const float *x,
			const float *w, size_t m, size_t n, size_t k, float beta);
/* The same through one instruction set, "avx512", "avx2" or "c" (the
 * portable code), as a CPU of that kind runs it, for the tests; -1 when
 * this CPU lacks it. */
int tk_cpu_xwt_rowwise_isa(tk_backend *be, const char *isa, float *y,
			   size_t ldy, const float *x, const float *w, size_t m,
			   size_t n, size_t k, float beta);

/* c (m, n) = op(a) · op(b) + beta · c with row-major operands, split into
 * one single-threaded sgemm per thread over rows of c (or over columns when
 * there are few rows).  trans_a: a is stored (k, m); trans_b: b is stored
 * (n, k). */
void tk_cpu_gemm(tk_backend *be, int trans_a, int trans_b, size_t m,
		 size_t n, size_t k, const float *a, size_t lda,
		 const float *b, size_t ldb, float beta, float *c, size_t ldc);

/* The packed attention forward through sgemm blocks (attention_blocked.c):
 * fast, but a token's bits depend on its record's length. */
int tk_cpu_attention_packed_forward_blocked(tk_backend *be, float *out, float *lse,
					    const float *q, const float *k, const float *v,
					    const int32_t *cu, size_t n_records,
					    size_t heads, size_t kv_heads, size_t d, float scale);

/* e^x in float32 within 2 ulp (Cephes' expf: x = n·ln2 + r, a degree-6
 * polynomial for e^r, then 2^n into the exponent bits), written so that
 * loops under `omp simd` vectorize it; libm's expf is a scalar call, and
 * the softmax in the loss makes one per logit.  e^x is 0 below −87.34
 * (ln FLT_MIN, so e^−inf = 0), +inf above 88.72 (ln FLT_MAX), NaN for
 * NaN. */
#pragma omp declare simd
static inline float tk_cpu_expf(float x)
{
	float c = x < -87.33654f ? -87.33654f : x > 88.72283f ? 88.72283f : x;
	float fx = c * 1.44269504088896341f + 0.5f;
	int32_t n = (int32_t)fx;
	n -= (float)n > fx; // floor, also below zero
	float fn = (float)n;
	float r = c - fn * 0.693359375f - fn * -2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * (r * r) + r + 1.0f;
	float twice = n > 127 ? 2.0f : 1.0f; // 2^128 is not a float
	n = n > 127 ? 127 : n;
	int32_t bits = (n + 127) << 23;
	float scale;
	memcpy(&scale, &bits, sizeof scale);
	float y = p * scale * twice;
	y = x < -87.33654f ? 0.0f : y;
	y = x > 88.72283f ? INFINITY : y;
	return x != x ? x : y;
}

#endif
