/* Row softmax: max, exponentials and their sum in a fixed order per row. */
#include "cpu.h"

#include <math.h>

void tk_cpu_softmax_forward(tk_backend *be, float *y, const float *x, size_t n,
			    size_t c)
{
	// y, x (n, c)
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * c >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++) {
		const float *xr = x + i * c;
		float *yr = y + i * c;
		float m = -INFINITY;
		for (size_t j = 0; j < c; j++)
			m = xr[j] > m ? xr[j] : m;
		tk_cpu_exp_shifted(yr, xr, c, m);
		float sum = 0.0f;
		for (size_t j = 0; j < c; j++)
			sum += yr[j];
		float inv = 1.0f / sum;
		for (size_t j = 0; j < c; j++)
			yr[j] *= inv;
	}
}

void tk_cpu_softmax_backward(tk_backend *be, float *dx, const float *dy,
			     const float *y, size_t n, size_t c)
{
	// dx, dy, y (n, c)
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * c >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++) {
		const float *g = dy + i * c, *p = y + i * c;
		float s = 0.0f;
		for (size_t j = 0; j < c; j++)
			s += g[j] * p[j];
		for (size_t j = 0; j < c; j++)
			dx[i * c + j] = p[j] * (g[j] - s);
	}
}
