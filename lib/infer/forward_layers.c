/* One pass of n tokens through the decoder layers on the backend: the
 * layer of lib/model/decoder_layer.c, with the products of packed (and
 * compact) weights, each linear layer plus its LoRA update (PEFT's order:
 * base + (x·Aᵀ·Bᵀ)·scale), and attention over the KV cache. */
#include "forward_internal.h"

#include "kernels.h"
#include "model/decoder_layer.h"
#include "tk_error.h"

/* y = x·Wᵀ for an adapter's matrix: packed (an attached copy) or as a
 * trainer holds it (a live adapter), the same bits on a batch-invariant
 * backend.   y (n, out)   x (n, in) */
static int adapter_product(tk_forward *f, float *y, const float *x, const float *w,
			   size_t n, size_t in, size_t out)
{
	return f->adapter->packed ? tk_matmul_forward_packed(f->be, y, x, w, NULL, n, in, out, 0)
				  : tk_matmul_forward(f->be, y, x, w, NULL, n, in, out, 0);
}

/* y += scale · x·Aᵀ·Bᵀ for linear layer t of layer l, when the adapter
 * has it.   y (n, out)   x (n, in) */
static int lora_add(tk_forward *f, size_t l, int t, float *y, const float *x, size_t n)
{
	const engine_adapter *ad = f->adapter;
	size_t at = l * ENGINE_N_LINEAR + (size_t)t;
	if (!ad || !ad->a[at])
		return TK_OK;
	size_t in, out, r = (size_t)ad->rank;
	tk_model_linear_shape(&f->d, t, &in, &out);
	int rc = adapter_product(f, f->a.lora_t, x, ad->a[at], n, in, r);
	if (!rc)
		rc = adapter_product(f, f->a.lora_u, f->a.lora_t, ad->b[at], n, r, out);
	if (!rc)
		tk_axpy(f->be, y, ad->scale, f->a.lora_u, n * out);
	return rc;
}

static int has_lora(const tk_forward *f, size_t l, int t)
{
	return f->adapter && f->adapter->a[l * ENGINE_N_LINEAR + (size_t)t];
}

/* The base products of linears that share x in one go, then the adapters. */
static int linears(void *pass, size_t l, const int *ts, float *const *ys, size_t count,
		   const float *x, size_t n)
{
	tk_forward *f = pass;
	const engine_layer *ld = &f->e->layers[l];
	tk_matmul_job jobs[3] = {{0}};
	size_t in = 0;
	for (size_t i = 0; i < count; i++) {
		size_t out;
		tk_model_linear_shape(&f->d, ts[i], &in, &out);
		jobs[i] = (tk_matmul_job){.y = ys[i], .packed = ld->w[ts[i]], .form = ld->w_form[ts[i]],
					  .bias = ts[i] < 3 ? ld->bias[ts[i]] : NULL, .out = out};
	}
	int rc = tk_matmul_forward_packed_many(f->be, x, n, in, jobs, count);
	for (size_t i = 0; i < count && !rc; i++)
		rc = lora_add(f, l, ts[i], ys[i], x, n);
	return rc;
}

/* x += x_in·Wᵀ (+ LoRA) for linear layer t: the residual stream is updated
 * in place (out == resid).  With an adapter the product goes through
 * a.xn, free by then, so that x + (base + LoRA) keeps PEFT's order. */
static int residual(void *pass, size_t l, int t, float *x, const float *resid,
		    const float *x_in, size_t n)
{
	tk_forward *f = pass;
	const engine_layer *ld = &f->e->layers[l];
	size_t in, out;
	tk_model_linear_shape(&f->d, t, &in, &out);
	if (x != resid)
		return tk_fail(TK_EUSAGE, "forward: the residual stream is updated in place");
	if (!has_lora(f, l, t)) // straight into x: x + chain, the bits of a separate add
		return tk_matmul_forward_packed_as(f->be, x, x_in, ld->w[t], ld->w_form[t], NULL,
						   n, in, out, 1);
	float *scratch = f->a.xn;
	int rc = tk_matmul_forward_packed_as(f->be, scratch, x_in, ld->w[t], ld->w_form[t], NULL,
					     n, in, out, 0);
	if (!rc)
		rc = lora_add(f, l, t, scratch, x_in, n);
	if (!rc)
		tk_add(f->be, x, x, scratch, n * out);
	return rc;
}

/* The new tokens' keys and values go into their cache rows first. */
static int attend(void *pass, size_t l, float *att, const float *q, const float *k,
		  const float *v, size_t n, size_t window)
{
	tk_forward *f = pass;
	const tk_model_desc *d = &f->d;
	float *kc = fwd_k_cache(f, l), *vc = fwd_v_cache(f, l);
	size_t KVD = d->kv_heads * d->head_dim;
	tk_rows_scatter(f->be, kc, k, f->a.cache_row, n, KVD);
	tk_rows_scatter(f->be, vc, v, f->a.cache_row, n, KVD);
	tk_attention_cached_forward(f->be, att, q, kc, vc, f->a.kv_row, f->a.pos, n, d->heads,
				    d->kv_heads, d->head_dim, f->attn_scale, window);
	return TK_OK;
}

static const tk_decoder_ops forward_ops = {linears, residual, attend};

int fwd_layers(tk_forward *f, size_t n)
{
	fwd_arena *a = &f->a;
	const tk_engine *e = f->e;
	// x (n, C) = embedding of ids
	if (f->d.tied)
		tk_embedding_forward_packed(f->be, a->x, a->ids, e->lm_head, e->lm_head_form, n,
					    f->d.hidden, f->d.vocab);
	else
		tk_embedding_forward(f->be, a->x, a->ids, e->embed, n, f->d.hidden, f->d.vocab);
	tk_rope_table(f->be, a->rope, a->pos, e->inv_freq, n, f->d.head_dim);
	// q and k before the q/k norm (Qwen3) in att and k_pre, free until attention
	tk_decoder_bufs b = {
		.x_in = a->x, .x_mid = a->x, .x_out = a->x, .xn = a->xn,
		.q_pre = a->att, .k_pre = a->k_pre, .q = a->q, .k = a->k, .v = a->v,
		.att = a->att, .gate = a->gate, .up = a->up, .act = a->act, .rope = a->rope,
	};
	for (size_t l = 0; l < f->d.n_layers; l++) {
		const engine_layer *ld = &e->layers[l];
		tk_decoder_norms w = {ld->attn_norm, ld->mlp_norm, ld->q_norm, ld->k_norm};
		int rc = tk_decoder_layer_forward(f->be, &f->d, l, &w, &forward_ops, f, &b, n);
		if (rc)
			return rc;
	}
	return TK_OK;
}
