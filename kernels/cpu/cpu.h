/* Private to the CPU backend: the backend struct and the helpers the
 * kernel files share. */
#ifndef TK_KERNELS_CPU_H
#define TK_KERNELS_CPU_H

#include "kernels.h"

#include <stddef.h>

struct tk_backend {
	int threads;
	int batch_invariant;
	size_t workspace;  /* bytes a kernel may take for itself */
	char name[160];
};

/* Below this many elements an elementwise kernel runs on one thread: the
 * fork/join costs more than the work. */
#define TK_CPU_PARALLEL_MIN 32768

/* Batch-invariant matmul tiles: y's rows are computed TK_TILE_ROWS at a
 * time (the last block padded with zero rows) and its columns
 * TK_TILE_COLS at a time, each tile by one single-threaded sgemm of always
 * the same shape, so a row's bits never depend on how many rows came with
 * it.  Chosen on a 2-core AVX-512 VM: 32 x 256 tiles reach about 55% of
 * one core's sgemm peak and cost 32x the flops of a lone decode row. */
#define TK_TILE_ROWS 32
#define TK_TILE_COLS 256

/* y (m, ldy) = x (m, k) · w (n, k)ᵀ + beta · y, batch invariant: see above.
 * Returns TK_OK or TK_EOSERR. */
int tk_cpu_xwt_tiled(tk_backend *be, float *y, size_t ldy, const float *x,
		     const float *w, size_t m, size_t n, size_t k, float beta);

/* c (m, n) = op(a) · op(b) + beta · c with row-major operands, split into
 * one single-threaded sgemm per thread over rows of c (or over columns when
 * there are few rows).  trans_a: a is stored (k, m); trans_b: b is stored
 * (n, k). */
void tk_cpu_gemm(tk_backend *be, int trans_a, int trans_b, size_t m,
		 size_t n, size_t k, const float *a, size_t lda,
		 const float *b, size_t ldb, float beta, float *c, size_t ldc);

#endif
