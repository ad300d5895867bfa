/* Packing W for the batch-invariant product (xwt.c): panels of NR columns
 * of y, k-major. */
#include "xwt_tile.h"

/* The quantized forms' block height (xwt_expand.h's QK), the unit the
 * backward expands a forward's panel in. */
#define QK_TRANSPOSE 32

/* ---- packing ----------------------------------------------------------- */

size_t tk_cpu_xwt_packed_floats(size_t n, size_t k)
{
	return (n + NR - 1) / NR * k * NR;
}

/* One panel: dst (kc, NR) = columns j0.. of y from w (n, k), the first kc
 * of each row, zero past n. */
void tk_cpu_xwt_pack_panel(float *dst, const float *w, size_t n, size_t k, size_t kc, size_t j0)
{
	size_t cols = n - j0 < NR ? n - j0 : NR;
	for (size_t c = 0; c < cols; c++) {
		const float *row = w + (j0 + c) * k;
		for (size_t t = 0; t < kc; t++)
			dst[t * NR + c] = row[t];
	}
	for (size_t c = cols; c < NR; c++)
		for (size_t t = 0; t < kc; t++)
			dst[t * NR + c] = 0.0f;
}

/* One panel of w (k, n) as it is: dst (k, NR) = w[t][j0..], zero past n. */
static void pack_panel_rows(float *dst, const float *w, size_t n, size_t k, size_t j0)
{
	size_t cols = n - j0 < NR ? n - j0 : NR;
	for (size_t t = 0; t < k; t++) {
		memcpy(dst + t * NR, w + t * n + j0, cols * sizeof *dst);
		memset(dst + t * NR + cols, 0, (NR - cols) * sizeof *dst);
	}
}

void tk_cpu_xwt_pack(tk_backend *be, float *packed, const float *w, size_t n, size_t k)
{
	size_t panels = (n + NR - 1) / NR;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * k >= TK_CPU_PARALLEL_MIN)
	for (size_t p = 0; p < panels; p++)
		tk_cpu_xwt_pack_panel(packed + p * k * NR, w, n, k, k, p * NR);
}

void tk_cpu_xwt_packed_row(float *dst, const float *packed, size_t k, size_t j)
{
	const float *column = packed + j / NR * k * NR + j % NR;
	for (size_t t = 0; t < k; t++)
		dst[t] = column[t * NR];
}

void tk_cpu_xw_pack(tk_backend *be, float *packed, const float *w, size_t n, size_t k)
{
	size_t panels = (n + NR - 1) / NR;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * k >= TK_CPU_PARALLEL_MIN)
	for (size_t p = 0; p < panels; p++)
		pack_panel_rows(packed + p * k * NR, w, n, k, p * NR);
}

/* ---- a forward's packing read for the backward ------------------------- */

/* Columns c0..c1 of dst (rows of the forward panel r0..r0+NR that fall in
 * k0..k0+kc) from src (·, NR), whose row i is w's column j0 + c0 + i over
 * the panel's NR rows: a transpose, a line of src to a column of dst. */
static void transpose_into(float *dst, const float *src, size_t c0, size_t c1, size_t r0,
			   size_t k0, size_t kc)
{
	size_t lo = r0 > k0 ? r0 : k0, hi = r0 + NR < k0 + kc ? r0 + NR : k0 + kc;
	for (size_t c = c0; c < c1; c++) {
		const float *line = src + (c - c0) * NR;
		for (size_t r = lo; r < hi; r++)
			dst[(r - k0) * NR + c] = line[r - r0];
	}
}

void tk_cpu_xwt_expand_transposed(float *dst, int form, const void *packed, size_t n,
				  size_t k, size_t j0, size_t k0, size_t kc)
{
	size_t cols = n - j0 < NR ? n - j0 : NR, panel_bytes = tk_cpu_xwt_form_panel_bytes(form, n);
	float tmp[QK_TRANSPOSE * NR] __attribute__((aligned(64)));
	(void)k;
	if (cols < NR)
		for (size_t t = 0; t < kc; t++)
			memset(dst + t * NR + cols, 0, (NR - cols) * sizeof *dst);
	for (size_t r0 = k0 / NR * NR; r0 < k0 + kc; r0 += NR) {
		const unsigned char *panel = (const unsigned char *)packed + r0 / NR * panel_bytes;
		if (form == TK_PACK_F32) {
			transpose_into(dst, (const float *)panel + j0 * NR, 0, cols, r0, k0, kc);
			continue;
		}
		// whole blocks of the forward's k (w's columns) around j0..j0+cols
		for (size_t b0 = j0 / QK_TRANSPOSE * QK_TRANSPOSE; b0 < j0 + cols; b0 += QK_TRANSPOSE) {
			size_t len = n - b0 < QK_TRANSPOSE ? n - b0 : QK_TRANSPOSE;
			size_t c0 = b0 > j0 ? b0 - j0 : 0;
			size_t c1 = b0 + len - j0 < cols ? b0 + len - j0 : cols;
			tk_cpu_xwt_expand(tmp, form, panel, b0, len, 0);
			transpose_into(dst, tmp + (j0 + c0 - b0) * NR, c0, c1, r0, k0, kc);
		}
	}
}
