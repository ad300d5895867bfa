/* Token embedding lookup and its scatter-add backward, plus the row
 * gather/scatter that moves rows between a batch and a KV cache. */
#include "cpu.h"

#include <string.h>

/* Columns per work item of the backward: each thread owns a column slice of
 * dtable and walks the tokens in order, so there are no races and the sum
 * order never depends on the thread count. */
#define EMBEDDING_COLS 64

void tk_cpu_rows_gather(tk_backend *be, float *dst, const float *src,
			const int32_t *rows, size_t n, size_t width)
{
	// dst (n, width)   src (any, width)   rows (n)
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * width >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		memcpy(dst + i * width, src + (size_t)rows[i] * width, width * sizeof *dst);
}

void tk_cpu_rows_scatter(tk_backend *be, float *dst, const float *src,
			 const int32_t *rows, size_t n, size_t width)
{
	// dst (any, width)   src (n, width)   rows (n)
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * width >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		memcpy(dst + (size_t)rows[i] * width, src + i * width, width * sizeof *dst);
}

void tk_cpu_embedding_forward(tk_backend *be, float *y, const int32_t *tokens,
			      const float *table, size_t n, size_t c, size_t vocab)
{
	// y (n, c)   tokens (n)   table (vocab, c)
	(void)vocab; // ids are checked by lib
	tk_cpu_rows_gather(be, y, table, tokens, n, c);
}

void tk_cpu_embedding_forward_packed(tk_backend *be, float *y, const int32_t *tokens,
				     const void *packed, int form, size_t n, size_t c,
				     size_t vocab)
{
	// y (n, c)   tokens (n)   packed: table (vocab, c) by tk_cpu_matmul_pack_as(form, c, vocab)
	(void)vocab;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * c >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		tk_cpu_xwt_form_row(y + i * c, form, packed, c, (size_t)tokens[i]);
}

void tk_cpu_embedding_backward(tk_backend *be, float *dtable, const float *dy,
			       const int32_t *tokens, size_t n, size_t c,
			       size_t vocab)
{
	// dtable (vocab, c)   dy (n, c)   tokens (n)
	(void)vocab;
	size_t slices = (c + EMBEDDING_COLS - 1) / EMBEDDING_COLS;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * c >= TK_CPU_PARALLEL_MIN)
	for (size_t s = 0; s < slices; s++) {
		size_t c0 = s * EMBEDDING_COLS;
		size_t c1 = c0 + EMBEDDING_COLS < c ? c0 + EMBEDDING_COLS : c;
		for (size_t i = 0; i < n; i++) {
			float *drow = dtable + (size_t)tokens[i] * c;
			const float *g = dy + i * c;
			for (size_t j = c0; j < c1; j++)
				drow[j] += g[j];
		}
	}
}
