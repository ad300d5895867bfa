/* The two ways the CPU kernels call sgemm: batch-invariant fixed tiles for
 * forward products, and one big slab per thread where only speed matters.
 * OpenBLAS is set to one thread (backend.c); these run it inside OpenMP
 * work shares, one call per thread at a time. */
#include "cpu.h"

#include "tk_error.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

static void sgemm_xwt(const float *x, size_t ldx, const float *w, size_t ldw,
		      float *y, size_t ldy, size_t m, size_t n, size_t k,
		      float beta)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m,
		    (blasint)n, (blasint)k, 1.0f, x, (blasint)ldx, w,
		    (blasint)ldw, beta, y, (blasint)ldy);
}

/* The tiles of full row blocks write into y directly.  The rows of the
 * last, partial block are copied into a zero-padded TK_TILE_ROWS block, and
 * each of its tiles is computed into a small buffer and copied out, so that
 * those rows go through exactly the same calls as rows of a full block. */
static void tail_tile(float *y, size_t ldy, const float *xpad, const float *w,
		      size_t tail, size_t c0, size_t cols, size_t k, float beta)
{
	float tile[TK_TILE_ROWS * TK_TILE_COLS]; // (R, NB)
	if (beta != 0.0f)
		for (size_t i = 0; i < tail; i++)
			memcpy(tile + i * TK_TILE_COLS, y + i * ldy + c0, cols * sizeof *y);
	sgemm_xwt(xpad, k, w + c0 * k, k, tile, TK_TILE_COLS, TK_TILE_ROWS, cols, k, beta);
	for (size_t i = 0; i < tail; i++)
		memcpy(y + i * ldy + c0, tile + i * TK_TILE_COLS, cols * sizeof *y);
}

int tk_cpu_xwt_tiled(tk_backend *be, float *y, size_t ldy, const float *x,
		     const float *w, size_t m, size_t n, size_t k, float beta)
{
	const size_t R = TK_TILE_ROWS, NB = TK_TILE_COLS;
	size_t full = m / R, tail = m % R;
	size_t row_blocks = full + (tail != 0), col_blocks = (n + NB - 1) / NB;
	float *xpad = NULL; // (R, k)
	if (tail) {
		xpad = malloc(R * k * sizeof *xpad);
		if (!xpad)
			return tk_fail(TK_EOSERR, "out of memory for a matmul tile");
		memcpy(xpad, x + full * R * k, tail * k * sizeof *x);
		memset(xpad + tail * k, 0, (R - tail) * k * sizeof *xpad);
	}
	size_t tiles = row_blocks * col_blocks;
#pragma omp parallel for schedule(dynamic) num_threads(be->threads) if (tiles > 1)
	for (size_t t = 0; t < tiles; t++) {
		size_t rb = t / col_blocks, c0 = t % col_blocks * NB;
		size_t cols = n - c0 < NB ? n - c0 : NB;
		if (rb < full)
			sgemm_xwt(x + rb * R * k, k, w + c0 * k, k,
				  y + rb * R * ldy + c0, ldy, R, cols, k, beta);
		else
			tail_tile(y + full * R * ldy, ldy, xpad, w, tail, c0, cols, k, beta);
	}
	free(xpad);
	return TK_OK;
}

void tk_cpu_gemm(tk_backend *be, int trans_a, int trans_b, size_t m,
		 size_t n, size_t k, const float *a, size_t lda,
		 const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
	if (m == 0 || n == 0)
		return;
	size_t parts = (size_t)be->threads;
	/* Split rows when each thread gets a useful slab, else columns. */
	int by_rows = m >= 16 * parts || m >= n;
	size_t len = by_rows ? m : n;
	size_t step = (len + parts - 1) / parts;
	step = (step + 15) / 16 * 16;
	size_t slabs = (len + step - 1) / step;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (slabs > 1)
	for (size_t s = 0; s < slabs; s++) {
		size_t lo = s * step, cnt = len - lo < step ? len - lo : step;
		const float *as = a, *bs = b;
		float *cs = c;
		size_t ms = m, ns = n;
		if (by_rows) {
			as = trans_a ? a + lo : a + lo * lda;
			cs = c + lo * ldc;
			ms = cnt;
		} else {
			bs = trans_b ? b + lo * ldb : b + lo;
			cs = c + lo;
			ns = cnt;
		}
		cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
			    trans_b ? CblasTrans : CblasNoTrans, (blasint)ms,
			    (blasint)ns, (blasint)k, 1.0f, as, (blasint)lda, bs,
			    (blasint)ldb, beta, cs, (blasint)ldc);
	}
}
