/* The small elementwise kernels around the matrix products: SwiGLU,
 * residual adds, scaling. */
#include "cpu.h"


/* σ(g) = 1 / (1 + e^−g); silu(g) = g / (1 + e^−g) as torch computes it. */
#pragma omp declare simd
static inline float sigmoid(float g) { return 1.0f / (1.0f + tk_cpu_expf(-g)); }

void tk_swiglu_forward(tk_backend *be, float *out, const float *gate,
		       const float *up, size_t n)
{
	// out, gate, up (n)
#pragma omp parallel for simd schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++) {
		float g = gate[i];
		out[i] = g / (1.0f + tk_cpu_expf(-g)) * up[i];
	}
}

/* silu'(g) = σ(g) · (1 + g · (1 − σ(g))). */
void tk_swiglu_backward(tk_backend *be, float *dgate, float *dup,
			const float *dout, const float *gate, const float *up,
			size_t n)
{
	// dgate, dup, dout, gate, up (n)
#pragma omp parallel for simd schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++) {
		float g = gate[i], s = sigmoid(g);
		float silu = g * s;
		float dsilu = s * (1.0f + g * (1.0f - s));
		float d = dout[i];
		dgate[i] = d * up[i] * dsilu;
		dup[i] = d * silu;
	}
}

void tk_add(tk_backend *be, float *y, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		y[i] = a[i] + b[i];
}

void tk_axpy(tk_backend *be, float *y, float alpha, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		y[i] += alpha * x[i];
}

void tk_scale(tk_backend *be, float *y, const float *x, float alpha, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		y[i] = alpha * x[i];
}
