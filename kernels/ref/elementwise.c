/* SwiGLU, row softmax and the small vector operations. */
#include "ref.h"

static double sigmoid(double g) { return 1.0 / (1.0 + exp(-g)); }

void tk_ref_swiglu_forward(tk_backend *be, float *out, const float *gate, const float *up,
			   size_t n)
{
	// out = silu(gate) · up,  silu(g) = g·σ(g)
	(void)be;
	for (size_t i = 0; i < n; i++)
		out[i] = (float)(gate[i] * sigmoid(gate[i]) * up[i]);
}

void tk_ref_swiglu_backward(tk_backend *be, float *dgate, float *dup, const float *dout,
			    const float *gate, const float *up, size_t n)
{
	// silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
	(void)be;
	for (size_t i = 0; i < n; i++) {
		double g = gate[i], s = sigmoid(g);
		dgate[i] = (float)(dout[i] * up[i] * s * (1.0 + g * (1.0 - s)));
		dup[i] = (float)(dout[i] * g * s);
	}
}

void tk_ref_softmax_forward(tk_backend *be, float *y, const float *x, size_t n, size_t c)
{
	// y, x (n, c), in place allowed: x[j] is read before y[j] is written
	(void)be;
	for (size_t i = 0; i < n; i++) {
		const float *xr = x + i * c;
		double max = -INFINITY, sum = 0.0;
		for (size_t j = 0; j < c; j++)
			max = fmax(max, xr[j]);
		for (size_t j = 0; j < c; j++)
			sum += exp(xr[j] - max);
		for (size_t j = 0; j < c; j++)
			y[i * c + j] = (float)(exp(xr[j] - max) / sum);
	}
}

void tk_ref_softmax_backward(tk_backend *be, float *dx, const float *dy, const float *y,
			     size_t n, size_t c)
{
	// dx = y·(dy − Σ dy·y) per row
	(void)be;
	for (size_t i = 0; i < n; i++) {
		double s = tk_ref_dot(dy + i * c, y + i * c, c);
		for (size_t j = 0; j < c; j++)
			dx[i * c + j] = (float)(y[i * c + j] * (dy[i * c + j] - s));
	}
}

void tk_ref_add(tk_backend *be, float *y, const float *a, const float *b, size_t n)
{
	(void)be;
	for (size_t i = 0; i < n; i++)
		y[i] = a[i] + b[i];
}

void tk_ref_axpy(tk_backend *be, float *y, float alpha, const float *x, size_t n)
{
	(void)be;
	for (size_t i = 0; i < n; i++)
		y[i] = (float)(y[i] + (double)alpha * x[i]);
}

void tk_ref_scale(tk_backend *be, float *y, const float *x, float alpha, size_t n)
{
	(void)be;
	for (size_t i = 0; i < n; i++)
		y[i] = alpha * x[i];
}
