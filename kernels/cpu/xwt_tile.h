/* Private to the batch-invariant product (xwt.c, xwt_pack.c,
 * xwt_tiles.c): its blocking constants, the register tiles' type, the
 * panels' packing. */
#ifndef TK_XWT_TILE_H
#define TK_XWT_TILE_H

#include "cpu.h"

#define NR TK_XWT_PANEL
#define MR 8 // rows of x per register tile
#define KC 2048 // k indices per pass over a panel (a 384 KiB piece of it)

/* Rows of the next panel a tile fetches into the cache while it computes,
 * so that the next panel does not start by waiting on memory: spread over
 * the tile's steps (a row a step when there are as many rows as steps, else
 * a line every few steps), never in bursts that would fill the memory
 * queues and stall the multiply-adds. */
struct prefetch {
	const float *rows; // row 0; rows ld apart, NR floats each
	size_t ld, count;
};

typedef void (*tile_fn)(size_t mr, const float *a, size_t lda, const float *b, size_t ldb,
			size_t k, size_t cols, float *y, size_t ldy, size_t rows,
			int accumulate, const struct prefetch *pf);

/* The AVX2 + FMA and portable tiles (xwt_tiles.c); the AVX-512 ones are
 * xwt.c's own, inlined there with the compact forms' expansion. */
void tk_cpu_xwt_tile_avx2(size_t mr, const float *a, size_t lda, const float *b, size_t ldb,
			  size_t k, size_t cols, float *y, size_t ldy, size_t rows, int accumulate,
			  const struct prefetch *pf);
void tk_cpu_xwt_tile_c(size_t mr, const float *a, size_t lda, const float *b, size_t ldb,
		       size_t k, size_t cols, float *y, size_t ldy, size_t rows, int accumulate,
		       const struct prefetch *pf);

/* One panel: dst (kc, NR) = columns j0.. of y from w (n, k), the first kc
 * of each row, zero past n (xwt_pack.c). */
void tk_cpu_xwt_pack_panel(float *dst, const float *w, size_t n, size_t k, size_t kc, size_t j0);

#endif
