/* RMSNorm as Hugging Face's LlamaRMSNorm computes it in float32:
 * variance = mean(x²); y = (x · rsqrt(variance + eps)) · w. */
#include "cpu.h"

#include <math.h>

/* Columns per work item of dw's accumulation (see embedding.c). */
#define RMSNORM_COLS 64

static float sum_squares(const float *x, size_t c)
{
	float s = 0.0f;
#pragma omp simd reduction(+ : s)
	for (size_t j = 0; j < c; j++)
		s += x[j] * x[j];
	return s;
}

void tk_cpu_rmsnorm_forward(tk_backend *be, float *y, float *rstd, const float *x,
			    const float *w, size_t n, size_t c, float eps)
{
	// y (n, c)   rstd (n)   x (n, c)   w (c)
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * c >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++) {
		const float *xr = x + i * c;
		float *yr = y + i * c;
		float variance = sum_squares(xr, c) / (float)c;
		float r = 1.0f / sqrtf(variance + eps);
		for (size_t j = 0; j < c; j++)
			yr[j] = (xr[j] * r) * w[j];
		if (rstd)
			rstd[i] = r;
	}
}

/* With x̂ = x·r and g = dy·w:  dx = r · (g − x̂ · mean(g·x̂)),  dw += Σ dy·x̂. */
static void rmsnorm_dx(float *dx, const float *dy, const float *x,
		       const float *w, float r, size_t c, int accumulate)
{
	float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
	for (size_t j = 0; j < c; j++)
		dot += dy[j] * w[j] * (x[j] * r);
	float mean = dot / (float)c;
	for (size_t j = 0; j < c; j++) {
		float g = r * (dy[j] * w[j] - (x[j] * r) * mean);
		dx[j] = accumulate ? dx[j] + g : g;
	}
}

void tk_cpu_rmsnorm_backward(tk_backend *be, float *dx, float *dw, const float *dy,
			     const float *x, const float *w, const float *rstd,
			     size_t n, size_t c, int accumulate)
{
	// dx, dy, x (n, c)   dw, w (c)   rstd (n)
	int parallel = n * c >= TK_CPU_PARALLEL_MIN;
	if (dx) {
#pragma omp parallel for schedule(static) num_threads(be->threads) if (parallel)
		for (size_t i = 0; i < n; i++)
			rmsnorm_dx(dx + i * c, dy + i * c, x + i * c, w, rstd[i], c, accumulate);
	}
	if (!dw)
		return;
	size_t slices = (c + RMSNORM_COLS - 1) / RMSNORM_COLS;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (parallel)
	for (size_t s = 0; s < slices; s++) {
		size_t c0 = s * RMSNORM_COLS;
		size_t c1 = c0 + RMSNORM_COLS < c ? c0 + RMSNORM_COLS : c;
		float acc[RMSNORM_COLS] = {0};
		for (size_t i = 0; i < n; i++)
			for (size_t j = c0; j < c1; j++)
				acc[j - c0] += dy[i * c + j] * (x[i * c + j] * rstd[i]);
		for (size_t j = c0; j < c1; j++)
			dw[j] += acc[j - c0];
	}
}
