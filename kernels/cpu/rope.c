/* Rotary position embedding in Hugging Face's rotate_half convention:
 * element j of the first half of a head pairs with element j of the second
 * half.  q' = q·cos + rotate_half(q)·sin, rotate_half(x) = (−x₂, x₁). */
#include "cpu.h"

#include <math.h>

/* Largest head_dim supported: the per-token cos/sin tables live on the
 * stack. */
#define ROPE_MAX_HALF 512

/* The inverse-frequency table, float32 step by step as transformers'
 * _compute_default_rope_parameters and _compute_llama3_parameters do
 * (`2π / inv_freq` is a reciprocal times 2π there: Tensor.__rtruediv__). */
void tk_rope_inv_freq(float *inv_freq, size_t head_dim, double theta,
		      const struct tk_rope_scaling *scaling)
{
	size_t half = head_dim / 2;
	for (size_t i = 0; i < half; i++) {
		float e = (float)(2 * i) / (float)head_dim;
		inv_freq[i] = 1.0f / powf((float)theta, e);
	}
	if (!scaling || scaling->type == TK_ROPE_DEFAULT)
		return;
	float factor = (float)scaling->factor;
	if (scaling->type == TK_ROPE_LINEAR) {
		for (size_t i = 0; i < half; i++)
			inv_freq[i] = inv_freq[i] / factor;
		return;
	}
	float old_len = (float)scaling->original_max_position;
	float low = (float)scaling->low_freq_factor;
	float low_freq_wavelen = (float)(scaling->original_max_position / scaling->low_freq_factor);
	float high_freq_wavelen = (float)(scaling->original_max_position / scaling->high_freq_factor);
	float span = (float)(scaling->high_freq_factor - scaling->low_freq_factor);
	for (size_t i = 0; i < half; i++) {
		float f = inv_freq[i];
		float wavelen = (1.0f / f) * (float)(2.0 * M_PI);
		float scaled = wavelen > low_freq_wavelen ? f / factor : f;
		float smooth = ((1.0f / wavelen) * old_len - low) / span;
		float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
		int medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
		inv_freq[i] = medium ? smoothed : scaled;
	}
}

/* cos and sin of the float32 angle pos·inv_freq[j], evaluated in double and
 * rounded once (torch's float cos is within an ulp of that). */
static void rope_angles(float *cosv, float *sinv, int32_t pos,
			const float *inv_freq, size_t half)
{
	for (size_t j = 0; j < half; j++) {
		float angle = (float)pos * inv_freq[j];
		cosv[j] = (float)cos((double)angle);
		sinv[j] = (float)sin((double)angle);
	}
}

/* One token's heads: y = x rotated by the angles whose cos and sin are
 * cosv, sinv; sign +1 rotates forward, −1 applies the transpose (the
 * backward). */
static void rotate_token(float *y, const float *x, const float *cosv, const float *sinv,
			 size_t heads, size_t head_dim, float sign)
{
	size_t half = head_dim / 2;
	for (size_t h = 0; h < heads; h++) {
		const float *xh = x + h * head_dim;
		float *yh = y + h * head_dim;
		for (size_t j = 0; j < half; j++) {
			float a = xh[j], b = xh[j + half];
			float s = sign * sinv[j];
			yh[j] = a * cosv[j] - b * s;
			yh[j + half] = b * cosv[j] + a * s;
		}
	}
}

static void rope_apply(tk_backend *be, float *y, const float *x,
		       const int32_t *pos, const float *inv_freq, size_t n,
		       size_t heads, size_t head_dim, float sign)
{
	// y, x (n, heads, head_dim)   pos (n)
	size_t half = head_dim / 2, row = heads * head_dim;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * row >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++) {
		float cosv[ROPE_MAX_HALF], sinv[ROPE_MAX_HALF];
		rope_angles(cosv, sinv, pos[i], inv_freq, half);
		rotate_token(y + i * row, x + i * row, cosv, sinv, heads, head_dim, sign);
	}
}

void tk_cpu_rope_table(tk_backend *be, float *table, const int32_t *pos, const float *inv_freq,
		       size_t n, size_t head_dim)
{
	// table (n, head_dim)   pos (n)
	size_t half = head_dim / 2;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * head_dim * 16 >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		rope_angles(table + i * head_dim, table + i * head_dim + half, pos[i], inv_freq,
			    half);
}

static void rope_apply_table(tk_backend *be, float *y, const float *x, const float *table,
			     size_t n, size_t heads, size_t head_dim, float sign)
{
	// y, x (n, heads, head_dim)   table (n, head_dim)
	size_t half = head_dim / 2, row = heads * head_dim;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * row >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++) {
		const float *t = table + i * head_dim;
		rotate_token(y + i * row, x + i * row, t, t + half, heads, head_dim, sign);
	}
}

void tk_cpu_rope_forward_table(tk_backend *be, float *y, const float *x, const float *table,
			       size_t n, size_t heads, size_t head_dim)
{
	rope_apply_table(be, y, x, table, n, heads, head_dim, 1.0f);
}

void tk_cpu_rope_backward_table(tk_backend *be, float *dx, const float *dy, const float *table,
				size_t n, size_t heads, size_t head_dim)
{
	rope_apply_table(be, dx, dy, table, n, heads, head_dim, -1.0f);
}

void tk_cpu_rope_forward(tk_backend *be, float *y, const float *x,
			 const int32_t *pos, const float *inv_freq,
			 size_t n, size_t heads, size_t head_dim)
{
	rope_apply(be, y, x, pos, inv_freq, n, heads, head_dim, 1.0f);
}

void tk_cpu_rope_backward(tk_backend *be, float *dx, const float *dy,
			  const int32_t *pos, const float *inv_freq,
			  size_t n, size_t heads, size_t head_dim)
{
	rope_apply(be, dx, dy, pos, inv_freq, n, heads, head_dim, -1.0f);
}
