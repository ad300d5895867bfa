/* Linear layers: y = x·Wᵀ (+ bias) with W stored (out, in), and its
 * backward.  The forward goes through tk's own product when the backend is
 * batch invariant (xwt.c), through OpenBLAS otherwise; the backward
 * only needs speed. */
#include "cpu.h"

static void add_bias(tk_backend *be, float *y, const float *bias, size_t n,
		     size_t out)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * out >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < n; i++) {
		float *row = y + i * out; // (out)
		for (size_t j = 0; j < out; j++)
			row[j] += bias[j];
	}
}

int tk_cpu_matmul_forward(tk_backend *be, float *y, const float *x,
			  const float *w, const float *bias,
			  size_t n, size_t in, size_t out, int accumulate)
{
	// y (n, out)   x (n, in)   w (out, in)   bias (out)
	if (n == 0 || out == 0)
		return TK_KERNEL_OK;
	if (be->batch_invariant) {
		int rc = tk_cpu_xwt(be, y, out, x, w, n, out, in, accumulate);
		if (rc)
			return rc;
	} else {
		tk_cpu_gemm(be, 0, 1, n, out, in, x, in, w, in, accumulate ? 1.0f : 0.0f, y, out);
	}
	if (bias)
		add_bias(be, y, bias, n, out);
	return TK_KERNEL_OK;
}

size_t tk_cpu_matmul_packed_floats(tk_backend *be, size_t in, size_t out)
{
	(void)be;
	return tk_cpu_xwt_packed_floats(out, in);
}

void tk_cpu_matmul_pack(tk_backend *be, float *packed, const float *w, size_t in, size_t out)
{
	tk_cpu_xwt_pack(be, packed, w, out, in);
}

int tk_cpu_matmul_pack_form(tk_backend *be, const float *w, size_t in, size_t out)
{
	return tk_cpu_xwt_form_of(be, w, out, in);
}

size_t tk_cpu_matmul_packed_bytes(tk_backend *be, int form, size_t in, size_t out)
{
	(void)be;
	if (form == TK_PACK_BF16_DOT)
		return (out + TK_XWT_PANEL - 1) / TK_XWT_PANEL * tk_cpu_bf16_panel_bytes(in);
	return (out + TK_XWT_PANEL - 1) / TK_XWT_PANEL * tk_cpu_xwt_form_panel_bytes(form, in);
}

int tk_cpu_matmul_pack_as(tk_backend *be, void *packed, int form, const float *w, size_t in,
			  size_t out)
{
	if (form == TK_PACK_BF16_DOT) { // rounded: every value has a place
		tk_cpu_bf16_pack(be, packed, w, out, in);
		return 1;
	}
	return tk_cpu_xwt_pack_form(be, packed, form, w, out, in);
}

int tk_cpu_matmul_forward_packed_as(tk_backend *be, float *y, const float *x,
				    const void *packed, int form, const float *bias, size_t n,
				    size_t in, size_t out, int accumulate)
{
	// y (n, out)   x (n, in)   packed: w (out, in) by tk_cpu_matmul_pack_as(form)
	if (n == 0 || out == 0)
		return TK_KERNEL_OK;
	int rc = form == TK_PACK_BF16_DOT
			 ? tk_cpu_bf16_xwt(be, y, out, x, packed, n, out, in, accumulate, 0)
			 : tk_cpu_xwt_packed_form(be, y, out, x, packed, form, n, out, in, accumulate);
	if (!rc && bias)
		add_bias(be, y, bias, n, out);
	return rc;
}

int tk_cpu_matmul_forward_packed(tk_backend *be, float *y, const float *x,
				 const float *packed, const float *bias, size_t n,
				 size_t in, size_t out, int accumulate)
{
	return tk_cpu_matmul_forward_packed_as(be, y, x, packed, TK_PACK_F32, bias, n, in, out,
					       accumulate);
}

int tk_cpu_matmul_forward_packed_many(tk_backend *be, const float *x, size_t n, size_t in,
				      const tk_matmul_job *jobs, size_t count)
{
	struct tk_cpu_xwt_job cj[TK_CPU_XWT_MANY] = {{0}};
	if (count > TK_CPU_XWT_MANY)
		return tk_backend_fail(be, TK_KERNEL_EUSAGE, "%zu products at once, more than %d", count,
			       TK_CPU_XWT_MANY);
	int bf16 = 0;
	for (size_t i = 0; i < count; i++)
		bf16 |= jobs[i].form == TK_PACK_BF16_DOT;
	for (size_t i = 0; i < count && bf16; i++) { // a product of its own: one at a time
		int rc = tk_cpu_matmul_forward_packed_as(be, jobs[i].y, x, jobs[i].packed, jobs[i].form,
							 jobs[i].bias, n, in, jobs[i].out, 0);
		if (rc || i + 1 == count)
			return rc;
	}
	for (size_t i = 0; i < count; i++)
		cj[i] = (struct tk_cpu_xwt_job){jobs[i].y, jobs[i].packed, jobs[i].form,
						jobs[i].out};
	int rc = n ? tk_cpu_xwt_packed_many(be, x, n, in, cj, count) : TK_KERNEL_OK;
	for (size_t i = 0; i < count && !rc && n; i++)
		if (jobs[i].bias)
			add_bias(be, jobs[i].y, jobs[i].bias, n, jobs[i].out);
	return rc;
}

size_t tk_cpu_matmul_packed_backward_floats(tk_backend *be, size_t in, size_t out)
{
	(void)be;
	return tk_cpu_xwt_packed_floats(in, out);
}

void tk_cpu_matmul_pack_backward(tk_backend *be, float *packed, const float *w, size_t in,
				 size_t out)
{
	tk_cpu_xw_pack(be, packed, w, in, out);
}

int tk_cpu_matmul_backward_packed(tk_backend *be, float *dx, const float *dy,
				  const float *packed, size_t n, size_t in, size_t out,
				  int accumulate_dx)
{
	// dx (n, in) = dy (n, out) · w (out, in), w packed by tk_cpu_matmul_pack_backward
	if (n == 0 || in == 0)
		return TK_KERNEL_OK;
	return tk_cpu_xwt_packed(be, dx, in, dy, packed, n, in, out, accumulate_dx);
}

int tk_cpu_matmul_backward_packed_as(tk_backend *be, float *dx, const float *dy,
				     const void *packed, int form, size_t n, size_t in, size_t out,
				     int accumulate_dx)
{
	// dx (n, in) = dy (n, out) · w (out, in), w packed by tk_cpu_matmul_pack_as(form)
	if (n == 0 || in == 0)
		return TK_KERNEL_OK;
	if (form == TK_PACK_BF16_DOT)
		return tk_cpu_bf16_xw(be, dx, in, dy, packed, n, in, out, accumulate_dx, 0);
	return tk_cpu_xwt_transposed(be, dx, in, dy, packed, form, n, in, out, accumulate_dx);
}

/* dbias[j] += Σ_i dy[i][j], each column summed by one thread in row order. */
static void bias_backward(tk_backend *be, float *dbias, const float *dy,
			  size_t n, size_t out)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * out >= TK_CPU_PARALLEL_MIN)
	for (size_t j = 0; j < out; j++) {
		float s = 0.0f;
		for (size_t i = 0; i < n; i++)
			s += dy[i * out + j];
		dbias[j] += s;
	}
}

int tk_cpu_matmul_backward(tk_backend *be, float *dx, float *dw, float *dbias,
			   const float *dy, const float *x, const float *w,
			   size_t n, size_t in, size_t out, int accumulate_dx)
{
	// dx (n, in)   dw (out, in)   dbias (out)   dy (n, out)
	if (n == 0)
		return TK_KERNEL_OK;
	if (dx && out == 0 && !accumulate_dx)
		tk_cpu_zero(be, dx, n * in * sizeof *dx);
	if (dx && out > 0) // dx (n, in) = dy (n, out) · w (out, in)
		tk_cpu_gemm(be, 0, 0, n, in, out, dy, out, w, in,
			    accumulate_dx ? 1.0f : 0.0f, dx, in);
	if (dw && out > 0) // dw (out, in) += dyᵀ (out, n) · x (n, in)
		tk_cpu_gemm(be, 1, 0, out, in, n, dy, out, x, in, 1.0f, dw, in);
	if (dbias)
		bias_backward(be, dbias, dy, n, out);
	return TK_KERNEL_OK;
}
