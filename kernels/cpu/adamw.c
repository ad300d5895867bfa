/* AdamW as torch.optim.AdamW's single-tensor path computes it, and the
 * global gradient norm and clipping of torch.nn.utils.clip_grad_norm_.
 * Scalars (learning rate, bias corrections) are float64 on the host as in
 * Python, rounded to float32 where torch hands them to a float kernel. */
#include "cpu.h"

#include <math.h>

/* Elements per partial sum of tk_cpu_sumsq: fixed, so the summation order (and
 * the bits of the norm) do not depend on the thread count. */
#define SUMSQ_CHUNK 16384

void tk_cpu_adamw_step(tk_backend *be, float *param, const float *grad, float *m,
		       float *v, size_t n, const struct tk_adamw *opt,
		       int64_t step)
{
	// param, grad, m, v (n)
	double bias1 = 1.0 - pow(opt->beta1, (double)step);
	double bias2 = 1.0 - pow(opt->beta2, (double)step);
	float decay = (float)(1.0 - opt->lr * opt->weight_decay);
	float one_minus_b1 = (float)(1.0 - opt->beta1);
	float b2 = (float)opt->beta2, one_minus_b2 = (float)(1.0 - opt->beta2);
	float bias2_sqrt = (float)sqrt(bias2);
	float eps = (float)opt->eps;
	float neg_step = (float)-(opt->lr / bias1);
	int decays = opt->weight_decay != 0.0;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++) {
		float p = decays ? param[i] * decay : param[i];
		float g = grad[i];
		m[i] = m[i] + one_minus_b1 * (g - m[i]);         // lerp_(grad, 1 − β₁)
		v[i] = v[i] * b2 + one_minus_b2 * g * g;         // mul_(β₂).addcmul_
		float denom = sqrtf(v[i]) / bias2_sqrt + eps;
		param[i] = p + neg_step * m[i] / denom;          // addcdiv_
	}
}

int tk_cpu_sumsq(tk_backend *be, float *acc, const float *x, size_t n)
{
	// acc (1)   x (n)
	size_t chunks = (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
	tk_workspace_mark mark = tk_workspace_mark_now(be);
	double *partial = tk_workspace_take(be, chunks * sizeof *partial); // (chunks)
	if (!partial)
		return tk_backend_fail(be, TK_KERNEL_ENOMEM, "out of memory for a gradient norm");
#pragma omp parallel for schedule(static) num_threads(be->threads) if (chunks > 1)
	for (size_t k = 0; k < chunks; k++) {
		size_t lo = k * SUMSQ_CHUNK, hi = lo + SUMSQ_CHUNK < n ? lo + SUMSQ_CHUNK : n;
		double s = 0.0;
		for (size_t i = lo; i < hi; i++)
			s += (double)x[i] * (double)x[i];
		partial[k] = s;
	}
	double total = 0.0;
	for (size_t k = 0; k < chunks; k++)
		total += partial[k];
	tk_workspace_release(be, mark);
	acc[0] = (float)((double)acc[0] + total);
	return TK_KERNEL_OK;
}

void tk_cpu_clip_by_norm(tk_backend *be, float *x, size_t n, const float *sumsq,
			 float max_norm)
{
	// x (n)   sumsq (1)
	float norm = sqrtf(sumsq[0]);
	float coef = max_norm / (norm + 1e-6f);
	if (!(coef < 1.0f))
		return; // clamped to 1: nothing to do (and NaN norms left to lib)
	tk_cpu_scale(be, x, x, coef, n);
}
