/* Linear layers, their packed weights, and row lookups.  A packed W is a
 * plain copy of W (out, in), so the packed products are the unpacked ones
 * and give the same bits, as kernels.h asks of a batch-invariant backend. */
#include "ref.h"

/* At most this many products in one tk_matmul_forward_packed_many
 * (kernels.h). */
#define MANY_MAX 8

int tk_ref_matmul_forward(tk_backend *be, float *y, const float *x, const float *w,
			  const float *bias, size_t n, size_t in, size_t out, int accumulate)
{
	// y (n, out)   x (n, in)   w (out, in)   bias (out)
	(void)be;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < out; j++) {
			double s = tk_ref_dot(x + i * in, w + j * in, in);
			if (bias)
				s += bias[j];
			if (accumulate)
				s += y[i * out + j];
			y[i * out + j] = (float)s;
		}
	return TK_KERNEL_OK;
}

size_t tk_ref_matmul_packed_floats(tk_backend *be, size_t in, size_t out)
{
	(void)be;
	return in * out;
}

void tk_ref_matmul_pack(tk_backend *be, float *packed, const float *w, size_t in, size_t out)
{
	(void)be;
	memcpy(packed, w, in * out * sizeof *w);
}

int tk_ref_matmul_forward_packed(tk_backend *be, float *y, const float *x, const float *packed,
				 const float *bias, size_t n, size_t in, size_t out,
				 int accumulate)
{
	return tk_ref_matmul_forward(be, y, x, packed, bias, n, in, out, accumulate);
}

int tk_ref_matmul_pack_form(tk_backend *be, const float *w, size_t in, size_t out)
{
	(void)be, (void)w, (void)in, (void)out;
	return TK_PACK_F32; // no compact forms here
}

size_t tk_ref_matmul_packed_bytes(tk_backend *be, int form, size_t in, size_t out)
{
	(void)be, (void)form; // every form is held as float32
	return in * out * sizeof(float);
}

int tk_ref_matmul_pack_as(tk_backend *be, void *packed, int form, const float *w, size_t in,
			  size_t out)
{
	tk_ref_matmul_pack(be, packed, w, in, out);
	if (form == TK_PACK_BF16_DOT) { // held as the float32 of its bf16 values
		float *v = packed;
		for (size_t i = 0; i < in * out; i++)
			v[i] = tk_ref_bf16_round(v[i]);
		return 1;
	}
	return form == TK_PACK_F32; // a compact form holds nothing here: a misfit
}

/* y (n, out) (+)= bf16(x) (n, in) · w (out, in)ᵀ (+ bias), in double: the
 * bf16 products' reference (w already rounded by pack_as). */
static void bf16_product(float *y, const float *x, const float *w, const float *bias, size_t n,
			 size_t in, size_t out, int accumulate)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < out; j++) {
			double s = accumulate ? y[i * out + j] : 0.0;
			if (bias)
				s += bias[j];
			for (size_t k = 0; k < in; k++)
				s += (double)tk_ref_bf16_round(x[i * in + k]) * w[j * in + k];
			y[i * out + j] = (float)s;
		}
}

int tk_ref_matmul_forward_packed_as(tk_backend *be, float *y, const float *x, const void *packed,
				    int form, const float *bias, size_t n, size_t in, size_t out,
				    int accumulate)
{
	if (form == TK_PACK_BF16_DOT) {
		bf16_product(y, x, packed, bias, n, in, out, accumulate);
		return TK_KERNEL_OK;
	}
	return tk_ref_matmul_forward(be, y, x, packed, bias, n, in, out, accumulate);
}

int tk_ref_matmul_forward_packed_many(tk_backend *be, const float *x, size_t n, size_t in,
				      const tk_matmul_job *jobs, size_t count)
{
	if (count > MANY_MAX)
		return tk_backend_fail(be, TK_KERNEL_EUSAGE, "%zu products at once, more than %d",
				       count, MANY_MAX);
	for (size_t i = 0; i < count; i++)
		tk_ref_matmul_forward_packed_as(be, jobs[i].y, x, jobs[i].packed, jobs[i].form,
						jobs[i].bias, n, in, jobs[i].out, 0);
	return TK_KERNEL_OK;
}

size_t tk_ref_matmul_packed_backward_floats(tk_backend *be, size_t in, size_t out)
{
	(void)be;
	return in * out;
}

void tk_ref_matmul_pack_backward(tk_backend *be, float *packed, const float *w, size_t in,
				 size_t out)
{
	tk_ref_matmul_pack(be, packed, w, in, out);
}

/* dx (n, in) = dy (n, out) · w (out, in), or += when accumulating. */
static void input_gradient(float *dx, const float *dy, const float *w, size_t n, size_t in,
			   size_t out, int accumulate)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < in; k++) {
			double s = accumulate ? dx[i * in + k] : 0.0;
			for (size_t j = 0; j < out; j++)
				s += (double)dy[i * out + j] * w[j * in + k];
			dx[i * in + k] = (float)s;
		}
}

int tk_ref_matmul_backward_packed_as(tk_backend *be, float *dx, const float *dy,
				     const void *packed, int form, size_t n, size_t in, size_t out,
				     int accumulate_dx)
{
	// the ref backend packs every form as a float32 copy of w (out, in)
	const float *w = packed;
	if (form == TK_PACK_BF16_DOT) { // dx = bf16(dy) · w, in double
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < in; k++) {
				double s = accumulate_dx ? dx[i * in + k] : 0.0;
				for (size_t j = 0; j < out; j++)
					s += (double)tk_ref_bf16_round(dy[i * out + j]) * w[j * in + k];
				dx[i * in + k] = (float)s;
			}
		return TK_KERNEL_OK;
	}
	if (form != TK_PACK_F32)
		return tk_backend_fail(be, TK_KERNEL_EUSAGE, "ref: no packed form %d", form);
	input_gradient(dx, dy, packed, n, in, out, accumulate_dx);
	return TK_KERNEL_OK;
}

int tk_ref_matmul_backward_packed(tk_backend *be, float *dx, const float *dy,
				  const float *packed, size_t n, size_t in, size_t out,
				  int accumulate_dx)
{
	(void)be;
	input_gradient(dx, dy, packed, n, in, out, accumulate_dx);
	return TK_KERNEL_OK;
}

int tk_ref_matmul_backward(tk_backend *be, float *dx, float *dw, float *dbias, const float *dy,
			   const float *x, const float *w, size_t n, size_t in, size_t out,
			   int accumulate_dx)
{
	// dx (n, in)   dw (out, in)   dbias (out)   dy (n, out)
	(void)be;
	if (dx)
		input_gradient(dx, dy, w, n, in, out, accumulate_dx);
	for (size_t j = 0; dw && j < out; j++) // dw += dyᵀ · x
		for (size_t k = 0; k < in; k++) {
			double s = dw[j * in + k];
			for (size_t i = 0; i < n; i++)
				s += (double)dy[i * out + j] * x[i * in + k];
			dw[j * in + k] = (float)s;
		}
	for (size_t j = 0; dbias && j < out; j++) {
		double s = dbias[j];
		for (size_t i = 0; i < n; i++)
			s += dy[i * out + j];
		dbias[j] = (float)s;
	}
	return TK_KERNEL_OK;
}

void tk_ref_rows_gather(tk_backend *be, float *dst, const float *src, const int32_t *rows,
			size_t n, size_t width)
{
	(void)be;
	for (size_t i = 0; i < n; i++)
		memcpy(dst + i * width, src + (size_t)rows[i] * width, width * sizeof *dst);
}

void tk_ref_rows_scatter(tk_backend *be, float *dst, const float *src, const int32_t *rows,
			 size_t n, size_t width)
{
	(void)be;
	for (size_t i = 0; i < n; i++)
		memcpy(dst + (size_t)rows[i] * width, src + i * width, width * sizeof *dst);
}

void tk_ref_embedding_forward(tk_backend *be, float *y, const int32_t *tokens,
			      const float *table, size_t n, size_t c, size_t vocab)
{
	(void)vocab;
	tk_ref_rows_gather(be, y, table, tokens, n, c);
}

void tk_ref_embedding_forward_packed(tk_backend *be, float *y, const int32_t *tokens,
				     const void *packed, int form, size_t n, size_t c,
				     size_t vocab)
{
	(void)form, (void)vocab; // packed is the table itself
	tk_ref_rows_gather(be, y, packed, tokens, n, c);
}

void tk_ref_embedding_backward(tk_backend *be, float *dtable, const float *dy,
			       const int32_t *tokens, size_t n, size_t c, size_t vocab)
{
	(void)be, (void)vocab;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < c; j++)
			dtable[(size_t)tokens[i] * c + j] += dy[i * c + j];
}
