/* AdamW as torch.optim.AdamW's single-tensor path computes it (float32
 * operations in its order, scalars in double as Python has them), the sum
 * of squares of a gradient norm, and clipping to a norm. */
#include "ref.h"

void tk_ref_adamw_step(tk_backend *be, float *param, const float *grad, float *m, float *v,
		       size_t n, const struct tk_adamw *opt, int64_t step)
{
	(void)be;
	double bias1 = 1.0 - pow(opt->beta1, (double)step);
	double bias2 = 1.0 - pow(opt->beta2, (double)step);
	float decay = (float)(1.0 - opt->lr * opt->weight_decay);
	float step_size = (float)(opt->lr / bias1);
	for (size_t i = 0; i < n; i++) {
		float g = grad[i];
		float p = opt->weight_decay != 0.0 ? param[i] * decay : param[i]; // param.mul_
		m[i] = m[i] + (float)(1.0 - opt->beta1) * (g - m[i]);             // exp_avg.lerp_
		v[i] = v[i] * (float)opt->beta2 + (float)(1.0 - opt->beta2) * g * g; // .addcmul_
		float denom = sqrtf(v[i]) / (float)sqrt(bias2) + (float)opt->eps;
		param[i] = p + -step_size * m[i] / denom;                          // addcdiv_
	}
}

int tk_ref_sumsq(tk_backend *be, float *acc, const float *x, size_t n)
{
	(void)be;
	acc[0] = (float)(acc[0] + tk_ref_dot(x, x, n));
	return TK_KERNEL_OK;
}

void tk_ref_clip_by_norm(tk_backend *be, float *x, size_t n, const float *sumsq, float max_norm)
{
	// as torch.nn.utils.clip_grad_norm_: x *= min(1, max_norm / (‖x‖ + 1e-6))
	float coef = max_norm / (sqrtf(sumsq[0]) + 1e-6f);
	if (coef < 1.0f)
		tk_ref_scale(be, x, x, coef, n);
}
