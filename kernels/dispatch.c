/* The public names of kernels.h, each a call through the backend's table
 * (backend_ops.h) with the same arguments.  A kernel that fails leaves its
 * message in the backend; it is passed on to lib's error recorder here
 * (tk_backend_report), so lib reads it as before. */
#include "backend_ops.h"

/* ---- Memory ------------------------------------------------------------ */

int tk_backend_sync(tk_backend *be)
{
	return tk_backend_report(be, be->ops->sync(be));
}

void *tk_backend_alloc(tk_backend *be, size_t bytes)
{
	void *p = be->ops->alloc(be, bytes);
	if (!p)
		tk_backend_report(be, TK_KERNEL_ENOMEM);
	return p;
}

void tk_backend_free(tk_backend *be, void *p) { be->ops->free(be, p); }

void tk_backend_zero(tk_backend *be, void *p, size_t bytes) { be->ops->zero(be, p, bytes); }

void tk_copy_to_device(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	be->ops->copy_to_device(be, dst, src, bytes);
}

void tk_copy_to_host(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	be->ops->copy_to_host(be, dst, src, bytes);
}

void tk_copy_on_device(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	be->ops->copy_on_device(be, dst, src, bytes);
}

/* ---- Linear layers ------------------------------------------------------- */

int tk_matmul_forward(tk_backend *be, float *y, const float *x, const float *w,
		      const float *bias, size_t n, size_t in, size_t out, int accumulate)
{
	return tk_backend_report(be, be->ops->matmul_forward(be, y, x, w, bias, n, in, out,
							     accumulate));
}

size_t tk_matmul_packed_floats(tk_backend *be, size_t in, size_t out)
{
	return be->ops->matmul_packed_floats(be, in, out);
}

void tk_matmul_pack(tk_backend *be, float *packed, const float *w, size_t in, size_t out)
{
	be->ops->matmul_pack(be, packed, w, in, out);
}

int tk_matmul_forward_packed(tk_backend *be, float *y, const float *x, const float *packed,
			     const float *bias, size_t n, size_t in, size_t out, int accumulate)
{
	return tk_backend_report(be, be->ops->matmul_forward_packed(be, y, x, packed, bias, n,
								    in, out, accumulate));
}

int tk_matmul_pack_form(tk_backend *be, const float *w, size_t in, size_t out)
{
	return be->ops->matmul_pack_form(be, w, in, out);
}

const char *tk_matmul_pack_form_name(int form)
{
	switch (form) {
	case TK_PACK_F32: return "f32";
	case TK_PACK_BF16: return "bf16";
	case TK_PACK_Q8: return "q8";
	case TK_PACK_Q4: return "q4";
	case TK_PACK_BF16_DOT: return "bf16-dot";
	case TK_PACK_Q4S: return "q4s";
	case TK_PACK_Q4K: return "q4k";
	case TK_PACK_Q8K: return "q8k";
	default: return "?";
	}
}

size_t tk_matmul_packed_bytes(tk_backend *be, int form, size_t in, size_t out)
{
	return be->ops->matmul_packed_bytes(be, form, in, out);
}

int tk_matmul_pack_as(tk_backend *be, void *packed, int form, const float *w, size_t in,
		      size_t out)
{
	return be->ops->matmul_pack_as(be, packed, form, w, in, out);
}

int tk_matmul_forward_packed_as(tk_backend *be, float *y, const float *x, const void *packed,
				int form, const float *bias, size_t n, size_t in, size_t out,
				int accumulate)
{
	return tk_backend_report(be, be->ops->matmul_forward_packed_as(be, y, x, packed, form,
								       bias, n, in, out,
								       accumulate));
}

int tk_matmul_forward_packed_many(tk_backend *be, const float *x, size_t n, size_t in,
				  const tk_matmul_job *jobs, size_t count)
{
	return tk_backend_report(be, be->ops->matmul_forward_packed_many(be, x, n, in, jobs,
									 count));
}

size_t tk_matmul_packed_backward_floats(tk_backend *be, size_t in, size_t out)
{
	return be->ops->matmul_packed_backward_floats(be, in, out);
}

void tk_matmul_pack_backward(tk_backend *be, float *packed, const float *w, size_t in,
			     size_t out)
{
	be->ops->matmul_pack_backward(be, packed, w, in, out);
}

int tk_matmul_backward_packed(tk_backend *be, float *dx, const float *dy, const float *packed,
			      size_t n, size_t in, size_t out, int accumulate_dx)
{
	return tk_backend_report(be, be->ops->matmul_backward_packed(be, dx, dy, packed, n, in,
								     out, accumulate_dx));
}

int tk_matmul_backward_packed_as(tk_backend *be, float *dx, const float *dy, const void *packed,
				 int form, size_t n, size_t in, size_t out, int accumulate_dx)
{
	return tk_backend_report(be, be->ops->matmul_backward_packed_as(be, dx, dy, packed, form, n,
									in, out, accumulate_dx));
}

int tk_matmul_backward(tk_backend *be, float *dx, float *dw, float *dbias, const float *dy,
		       const float *x, const float *w, size_t n, size_t in, size_t out,
		       int accumulate_dx)
{
	return tk_backend_report(be, be->ops->matmul_backward(be, dx, dw, dbias, dy, x, w, n, in,
							      out, accumulate_dx));
}

void tk_embedding_forward(tk_backend *be, float *y, const int32_t *tokens, const float *table,
			  size_t n, size_t c, size_t vocab)
{
	be->ops->embedding_forward(be, y, tokens, table, n, c, vocab);
}

void tk_embedding_forward_packed(tk_backend *be, float *y, const int32_t *tokens,
				 const void *packed, int form, size_t n, size_t c, size_t vocab)
{
	be->ops->embedding_forward_packed(be, y, tokens, packed, form, n, c, vocab);
}

void tk_embedding_backward(tk_backend *be, float *dtable, const float *dy,
			   const int32_t *tokens, size_t n, size_t c, size_t vocab)
{
	be->ops->embedding_backward(be, dtable, dy, tokens, n, c, vocab);
}

void tk_rows_gather(tk_backend *be, float *dst, const float *src, const int32_t *rows,
		    size_t n, size_t width)
{
	be->ops->rows_gather(be, dst, src, rows, n, width);
}

void tk_rows_scatter(tk_backend *be, float *dst, const float *src, const int32_t *rows,
		     size_t n, size_t width)
{
	be->ops->rows_scatter(be, dst, src, rows, n, width);
}

/* ---- Normalization and rotary embedding ---------------------------------- */

void tk_rmsnorm_forward(tk_backend *be, float *y, float *rstd, const float *x, const float *w,
			size_t n, size_t c, float eps)
{
	be->ops->rmsnorm_forward(be, y, rstd, x, w, n, c, eps);
}

void tk_rmsnorm_backward(tk_backend *be, float *dx, float *dw, const float *dy, const float *x,
			 const float *w, const float *rstd, size_t n, size_t c, int accumulate)
{
	be->ops->rmsnorm_backward(be, dx, dw, dy, x, w, rstd, n, c, accumulate);
}

void tk_rope_forward(tk_backend *be, float *y, const float *x, const int32_t *pos,
		     const float *inv_freq, size_t n, size_t heads, size_t head_dim)
{
	be->ops->rope_forward(be, y, x, pos, inv_freq, n, heads, head_dim);
}

void tk_rope_backward(tk_backend *be, float *dx, const float *dy, const int32_t *pos,
		      const float *inv_freq, size_t n, size_t heads, size_t head_dim)
{
	be->ops->rope_backward(be, dx, dy, pos, inv_freq, n, heads, head_dim);
}

void tk_rope_table(tk_backend *be, float *table, const int32_t *pos, const float *inv_freq,
		   size_t n, size_t head_dim)
{
	be->ops->rope_table(be, table, pos, inv_freq, n, head_dim);
}

void tk_rope_forward_table(tk_backend *be, float *y, const float *x, const float *table,
			   size_t n, size_t heads, size_t head_dim)
{
	be->ops->rope_forward_table(be, y, x, table, n, heads, head_dim);
}

void tk_rope_backward_table(tk_backend *be, float *dx, const float *dy, const float *table,
			    size_t n, size_t heads, size_t head_dim)
{
	be->ops->rope_backward_table(be, dx, dy, table, n, heads, head_dim);
}

/* ---- Attention ------------------------------------------------------------ */

void tk_attention_cached_forward(tk_backend *be, float *out, const float *q,
				 const float *k_cache, const float *v_cache,
				 const int32_t *kv_row, const int32_t *pos, size_t n, size_t heads,
				 size_t kv_heads, size_t d, float scale, size_t window)
{
	be->ops->attention_cached_forward(be, out, q, k_cache, v_cache, kv_row, pos, n, heads,
					  kv_heads, d, scale, window);
}

int tk_attention_packed_forward(tk_backend *be, float *out, float *lse, const float *q,
				const float *k, const float *v, const int32_t *cu_seqlens,
				size_t n_records, size_t n, size_t heads, size_t kv_heads,
				size_t d, float scale, size_t window)
{
	return tk_backend_report(be, be->ops->attention_packed_forward(
					     be, out, lse, q, k, v, cu_seqlens, n_records, n, heads,
					     kv_heads, d, scale, window));
}

int tk_attention_packed_backward(tk_backend *be, float *dq, float *dk, float *dv,
				 const float *dout, const float *q, const float *k,
				 const float *v, const float *out, const float *lse,
				 const int32_t *cu_seqlens, size_t n_records, size_t n,
				 size_t heads, size_t kv_heads, size_t d, float scale,
				 size_t window, int form)
{
	return tk_backend_report(be, be->ops->attention_packed_backward(
					     be, dq, dk, dv, dout, q, k, v, out, lse, cu_seqlens,
					     n_records, n, heads, kv_heads, d, scale, window, form));
}

/* ---- Elementwise ---------------------------------------------------------- */

void tk_swiglu_forward(tk_backend *be, float *out, const float *gate, const float *up, size_t n)
{
	be->ops->swiglu_forward(be, out, gate, up, n);
}

void tk_swiglu_backward(tk_backend *be, float *dgate, float *dup, const float *dout,
			const float *gate, const float *up, size_t n)
{
	be->ops->swiglu_backward(be, dgate, dup, dout, gate, up, n);
}

void tk_softmax_forward(tk_backend *be, float *y, const float *x, size_t n, size_t c)
{
	be->ops->softmax_forward(be, y, x, n, c);
}

void tk_softmax_backward(tk_backend *be, float *dx, const float *dy, const float *y, size_t n,
			 size_t c)
{
	be->ops->softmax_backward(be, dx, dy, y, n, c);
}

void tk_add(tk_backend *be, float *y, const float *a, const float *b, size_t n)
{
	be->ops->add(be, y, a, b, n);
}

void tk_axpy(tk_backend *be, float *y, float alpha, const float *x, size_t n)
{
	be->ops->axpy(be, y, alpha, x, n);
}

void tk_scale(tk_backend *be, float *y, const float *x, float alpha, size_t n)
{
	be->ops->scale(be, y, x, alpha, n);
}

/* ---- Loss and optimizer ---------------------------------------------------- */

int tk_cross_entropy_fused(tk_backend *be, float *loss, float *logprob, float *dh, float *dw,
			   const float *h, const float *w, const void *w_packed,
			   const void *w_packed_backward, int form, const int32_t *target,
			   const float *weight, size_t n, size_t c, size_t vocab)
{
	return tk_backend_report(be, be->ops->cross_entropy_fused(be, loss, logprob, dh, dw, h, w,
								  w_packed, w_packed_backward, form,
								  target, weight, n, c, vocab));
}

int tk_cross_entropy_soft_fused(tk_backend *be, float *loss, float *dh, float *dw,
				const float *h, const float *w, const void *w_packed,
				const void *w_packed_backward, int form, const int32_t *ids,
				const float *q, size_t k, const float *weight, size_t n, size_t c,
				size_t vocab)
{
	return tk_backend_report(be, be->ops->cross_entropy_soft_fused(be, loss, dh, dw, h, w,
								       w_packed, w_packed_backward,
								       form, ids, q, k, weight, n, c,
								       vocab));
}

int tk_logsumexp_forward(tk_backend *be, float *lse, const float *logits, size_t n,
			 size_t vocab)
{
	return tk_backend_report(be, be->ops->logsumexp_forward(be, lse, logits, n, vocab));
}

void tk_adamw_step(tk_backend *be, float *param, const float *grad, float *m, float *v,
		   size_t n, const struct tk_adamw *opt, int64_t step)
{
	be->ops->adamw_step(be, param, grad, m, v, n, opt, step);
}

int tk_sumsq(tk_backend *be, float *acc, const float *x, size_t n)
{
	return tk_backend_report(be, be->ops->sumsq(be, acc, x, n));
}

void tk_clip_by_norm(tk_backend *be, float *x, size_t n, const float *sumsq, float max_norm)
{
	be->ops->clip_by_norm(be, x, n, sumsq, max_norm);
}

int tk_allreduce_sum(tk_backend *be, float *x, size_t n)
{
	return tk_backend_report(be, be->ops->allreduce_sum(be, x, n));
}
