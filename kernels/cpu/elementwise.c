/* The small elementwise kernels around the matrix products: SwiGLU,
 * residual adds, scaling. */
#include "cpu.h"


/* Elements per work item of SwiGLU: e^−g of a piece goes through a stack
 * buffer, four lanes at a time. */
#define SWIGLU_PIECE 1024

/* e[i] = e^−g[i]. */
static void exp_neg(float *e, const float *g, size_t len)
{
	for (size_t i = 0; i < len; i++)
		e[i] = -g[i];
	tk_cpu_exp_shifted(e, e, len, 0.0f);
}

/* silu(g) = g / (1 + e^−g) as torch computes it. */
void tk_cpu_swiglu_forward(tk_backend *be, float *out, const float *gate,
			   const float *up, size_t n)
{
	// out, gate, up (n)
	size_t pieces = (n + SWIGLU_PIECE - 1) / SWIGLU_PIECE;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t t = 0; t < pieces; t++) {
		size_t lo = t * SWIGLU_PIECE, len = n - lo < SWIGLU_PIECE ? n - lo : SWIGLU_PIECE;
		float e[SWIGLU_PIECE];
		exp_neg(e, gate + lo, len);
		for (size_t i = 0; i < len; i++)
			out[lo + i] = gate[lo + i] / (1.0f + e[i]) * up[lo + i];
	}
}

/* With σ(g) = 1 / (1 + e^−g): silu'(g) = σ(g) · (1 + g · (1 − σ(g))). */
void tk_cpu_swiglu_backward(tk_backend *be, float *dgate, float *dup,
			    const float *dout, const float *gate, const float *up,
			    size_t n)
{
	// dgate, dup, dout, gate, up (n)
	size_t pieces = (n + SWIGLU_PIECE - 1) / SWIGLU_PIECE;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t t = 0; t < pieces; t++) {
		size_t lo = t * SWIGLU_PIECE, len = n - lo < SWIGLU_PIECE ? n - lo : SWIGLU_PIECE;
		float e[SWIGLU_PIECE];
		exp_neg(e, gate + lo, len);
		for (size_t i = 0; i < len; i++) {
			float g = gate[lo + i], s = 1.0f / (1.0f + e[i]);
			float silu = g * s;
			float dsilu = s * (1.0f + g * (1.0f - s));
			float d = dout[lo + i];
			dgate[lo + i] = d * up[lo + i] * dsilu;
			dup[lo + i] = d * silu;
		}
	}
}

void tk_cpu_add(tk_backend *be, float *y, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		y[i] = a[i] + b[i];
}

void tk_cpu_axpy(tk_backend *be, float *y, float alpha, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		y[i] += alpha * x[i];
}

void tk_cpu_scale(tk_backend *be, float *y, const float *x, float alpha, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		y[i] = alpha * x[i];
}
