/* RMSNorm and rotary position embedding, from their definitions. */
#include "ref.h"

/* Largest half head dimension of the rotations (kernels.h: head_dim ≤ 1024):
 * a token's cos and sin live on the stack. */
#define ROPE_MAX_HALF 512

void tk_ref_rmsnorm_forward(tk_backend *be, float *y, float *rstd, const float *x,
			    const float *w, size_t n, size_t c, float eps)
{
	// y, x (n, c)   rstd (n)   w (c):  y = x / √(mean(x²) + eps) · w
	(void)be;
	for (size_t i = 0; i < n; i++) {
		const float *xr = x + i * c;
		double r = 1.0 / sqrt(tk_ref_dot(xr, xr, c) / (double)c + eps);
		for (size_t j = 0; j < c; j++)
			y[i * c + j] = (float)(xr[j] * r * w[j]);
		if (rstd)
			rstd[i] = (float)r;
	}
}

void tk_ref_rmsnorm_backward(tk_backend *be, float *dx, float *dw, const float *dy,
			     const float *x, const float *w, const float *rstd, size_t n,
			     size_t c, int accumulate)
{
	// with x̂ = x·r and g = dy·w:  dx = r·(g − x̂·mean(g·x̂)),  dw += Σ dy·x̂
	(void)be;
	for (size_t i = 0; i < n; i++) {
		const float *xr = x + i * c, *g = dy + i * c;
		double r = rstd[i], mean = 0.0;
		for (size_t j = 0; j < c; j++)
			mean += (double)g[j] * w[j] * (xr[j] * r);
		mean /= (double)c;
		for (size_t j = 0; dx && j < c; j++) {
			double d = r * ((double)g[j] * w[j] - xr[j] * r * mean);
			dx[i * c + j] = (float)(accumulate ? dx[i * c + j] + d : d);
		}
	}
	for (size_t j = 0; dw && j < c; j++) {
		double s = dw[j];
		for (size_t i = 0; i < n; i++)
			s += (double)dy[i * c + j] * (x[i * c + j] * (double)rstd[i]);
		dw[j] = (float)s;
	}
}

/* Rotates one head by the angles whose cos and sin are given (sign −1: the
 * transpose), rotate_half convention: element j pairs with j + half. */
static void rotate(float *y, const float *x, const double *cosv, const double *sinv,
		   size_t half, double sign)
{
	for (size_t j = 0; j < half; j++) {
		double a = x[j], b = x[j + half], s = sign * sinv[j];
		y[j] = (float)(a * cosv[j] - b * s);
		y[j + half] = (float)(b * cosv[j] + a * s);
	}
}

/* The angle is the float32 product pos·inv_freq, as in transformers; its
 * cos and sin are rounded to float32 as tk_rope_table holds them, so that
 * the rotations with and without a table give the same bits. */
static void angles(double *cosv, double *sinv, int32_t pos, const float *inv_freq, size_t half)
{
	for (size_t j = 0; j < half; j++) {
		float angle = (float)pos * inv_freq[j];
		cosv[j] = (float)cos(angle);
		sinv[j] = (float)sin(angle);
	}
}

static void rope(float *y, const float *x, const int32_t *pos, const float *inv_freq, size_t n,
		 size_t heads, size_t head_dim, double sign)
{
	size_t half = head_dim / 2;
	double cosv[ROPE_MAX_HALF], sinv[ROPE_MAX_HALF];
	for (size_t i = 0; i < n; i++) {
		angles(cosv, sinv, pos[i], inv_freq, half);
		for (size_t h = 0; h < heads; h++) {
			size_t at = (i * heads + h) * head_dim;
			rotate(y + at, x + at, cosv, sinv, half, sign);
		}
	}
}

void tk_ref_rope_forward(tk_backend *be, float *y, const float *x, const int32_t *pos,
			 const float *inv_freq, size_t n, size_t heads, size_t head_dim)
{
	(void)be;
	rope(y, x, pos, inv_freq, n, heads, head_dim, 1.0);
}

void tk_ref_rope_backward(tk_backend *be, float *dx, const float *dy, const int32_t *pos,
			  const float *inv_freq, size_t n, size_t heads, size_t head_dim)
{
	(void)be;
	rope(dx, dy, pos, inv_freq, n, heads, head_dim, -1.0);
}

void tk_ref_rope_table(tk_backend *be, float *table, const int32_t *pos, const float *inv_freq,
		       size_t n, size_t head_dim)
{
	// table (n, head_dim): a token's cos, then its sin
	(void)be;
	size_t half = head_dim / 2;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < half; j++) {
			float angle = (float)pos[i] * inv_freq[j];
			table[i * head_dim + j] = (float)cos(angle);
			table[i * head_dim + half + j] = (float)sin(angle);
		}
}

static void rope_table_apply(float *y, const float *x, const float *table, size_t n,
			     size_t heads, size_t head_dim, double sign)
{
	size_t half = head_dim / 2;
	double cosv[ROPE_MAX_HALF], sinv[ROPE_MAX_HALF];
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < half; j++) {
			cosv[j] = table[i * head_dim + j];
			sinv[j] = table[i * head_dim + half + j];
		}
		for (size_t h = 0; h < heads; h++) {
			size_t at = (i * heads + h) * head_dim;
			rotate(y + at, x + at, cosv, sinv, half, sign);
		}
	}
}

void tk_ref_rope_forward_table(tk_backend *be, float *y, const float *x, const float *table,
			       size_t n, size_t heads, size_t head_dim)
{
	(void)be;
	rope_table_apply(y, x, table, n, heads, head_dim, 1.0);
}

void tk_ref_rope_backward_table(tk_backend *be, float *dx, const float *dy, const float *table,
				size_t n, size_t heads, size_t head_dim)
{
	(void)be;
	rope_table_apply(dx, dy, table, n, heads, head_dim, -1.0);
}
