/* The training forward and backward through the decoder, layer by layer:
 * the forward is the layer of lib/model/decoder_layer.c with PEFT's LoRA
 * (base + (x·Aᵀ)·Bᵀ·scale) and packed-record attention, keeping what the
 * backward needs (tr_saved); the backward recomputes the cheap rest (normed
 * inputs, SwiGLU output), assigns activation gradients and adds parameter
 * gradients. */
#include "train_internal.h"

#include "kernels.h"
#include "model/decoder_layer.h"
#include "tk_error.h"

/* ---- linear layers ----------------------------------------------------- */

/* y = x·Wᵀ (+ bias) (+ scale · t·Bᵀ with t = x·Aᵀ kept in saved_t).
 *   y (n, out)   x (n, in)   saved_t (n, r) */
static int linear_forward(tk_train *t, size_t l, int k, float *y, const float *x,
			  float *saved_t, size_t n, int lora_off)
{
	const tr_layer *p = &t->p[l];
	size_t in, out;
	tk_model_linear_shape(&t->d, k, &in, &out);
	const float *bias = k < 3 ? p->bias[k] : NULL;
	int rc = p->w_packed[k]
			 ? tk_matmul_forward_packed_as(t->be, y, x, p->w_packed[k], p->w_form[k], bias,
						       n, in, out, 0)
			 : tk_matmul_forward(t->be, y, x, p->w[k], bias, n, in, out, 0);
	if (rc || !p->lora_a[k] || lora_off)
		return rc;
	size_t r = (size_t)t->lora_rank;
	rc = tk_matmul_forward(t->be, saved_t, x, p->lora_a[k], NULL, n, in, r, 0);
	if (!rc && t->lora_scale == 1.0f) // alpha = rank: y += t·Bᵀ, the same sum, one pass
		return tk_matmul_forward(t->be, y, saved_t, p->lora_b[k], NULL, n, r, out, 1);
	if (!rc)
		rc = tk_matmul_forward(t->be, t->a.lora_u, saved_t, p->lora_b[k], NULL, n, r,
				       out, 0);
	if (!rc)
		tk_axpy(t->be, y, t->lora_scale, t->a.lora_u, n * out);
	return rc;
}

/* dx = dy·W (+= when accumulate) and the trained gradients of W, bias, A, B.
 *   dx (n, in)   dy (n, out)   x (n, in)   saved_t (n, r) */
static int linear_backward(tk_train *t, size_t l, int k, float *dx, const float *dy,
			   const float *x, const float *saved_t, size_t n, int accumulate)
{
	const tr_layer *p = &t->p[l], *g = &t->g[l];
	size_t in, out;
	tk_model_linear_shape(&t->d, k, &in, &out);
	int rc = TK_OK;
	if (p->w_packed_bwd[k]) // frozen: W's gradients are not wanted
		rc = tk_matmul_backward_packed(t->be, dx, dy, p->w_packed_bwd[k], n, in, out,
					       accumulate);
	else if (p->w_packed[k]) // frozen, held once (a compact base): read transposed
		rc = tk_matmul_backward_packed_as(t->be, dx, dy, p->w_packed[k], p->w_form[k], n,
						  in, out, accumulate);
	else
		rc = tk_matmul_backward(t->be, dx, g->w[k], k < 3 ? g->bias[k] : NULL, dy, x,
					p->w[k], n, in, out, accumulate);
	if (rc || !p->lora_a[k])
		return rc;
	size_t r = (size_t)t->lora_rank;
	const float *dys = dy; // (n, out) scale · dy: dy itself when the scale is 1
	if (t->lora_scale != 1.0f) {
		tk_scale(t->be, t->a.lora_u, dy, t->lora_scale, n * out);
		dys = t->a.lora_u;
	}
	rc = tk_matmul_backward(t->be, t->a.lora_dt, g->lora_b[k], NULL, dys, saved_t,
				p->lora_b[k], n, r, out, 0);
	if (!rc)
		rc = tk_matmul_backward(t->be, dx, g->lora_a[k], NULL, t->a.lora_dt, x,
					p->lora_a[k], n, in, r, 1);
	return rc;
}

/* ---- forward: the layer of lib/model/decoder_layer.c ---------------- */

static int train_linears(void *pass, size_t l, const int *ts, float *const *ys, size_t count,
			 const float *x, size_t n)
{
	tk_train *t = pass;
	int rc = TK_OK;
	for (size_t i = 0; i < count && !rc; i++)
		rc = linear_forward(t, l, ts[i], ys[i], x, t->a.layers[l].lora_t[ts[i]], n,
				    t->lora_off);
	return rc;
}

static int train_residual(void *pass, size_t l, int k, float *out, const float *resid,
			  const float *x, size_t n)
{
	tk_train *t = pass;
	int rc = linear_forward(t, l, k, out, x, t->a.layers[l].lora_t[k], n, t->lora_off);
	if (!rc)
		tk_add(t->be, out, out, resid, n * t->d.hidden);
	return rc;
}

static int train_attend(void *pass, size_t l, float *att, const float *q, const float *k,
			const float *v, size_t n, size_t window)
{
	tk_train *t = pass;
	const tk_model_desc *d = &t->d;
	return tk_attention_packed_forward(t->be, att, t->a.layers[l].lse, q, k, v, t->a.cu,
					   t->n_records, n, d->heads, d->kv_heads, d->head_dim,
					   t->attn_scale, window);
}

static const tk_decoder_ops train_ops = {train_linears, train_residual, train_attend};

/* Layer l's forward, keeping what its backward needs in a.layers[l]. */
static int layer_forward(tk_train *t, size_t l, size_t n, float *out)
{
	tr_saved *s = &t->a.layers[l];
	const tr_layer *p = &t->p[l];
	tk_decoder_norms w = {p->attn_norm, p->mlp_norm, p->q_norm, p->k_norm};
	tk_decoder_bufs b = {
		.x_in = s->x_in, .x_mid = s->x_mid, .x_out = out, .xn = t->a.xn,
		.rstd_attn = s->rstd1, .rstd_mlp = s->rstd2,
		.q_pre = s->q_pre, .k_pre = s->k_pre, .rstd_q = s->rstd_q, .rstd_k = s->rstd_k,
		.q = s->q, .k = s->k, .v = s->v, .att = s->att,
		.gate = s->gate, .up = s->up, .act = t->a.act, .rope = t->a.rope,
	};
	return tk_decoder_layer_forward(t->be, &t->d, l, &w, &train_ops, t, &b, n);
}

int tr_forward(tk_train *t, size_t n, size_t n_records, int lora_off)
{
	const tk_model_desc *d = &t->d;
	tr_arena *a = &t->a;
	t->n_records = n_records;
	t->lora_off = lora_off;
	// x (n, C) = embedding of ids, straight into layer 0's input
	if (t->embed)
		tk_embedding_forward(t->be, a->layers[0].x_in, a->ids, t->embed, n, d->hidden,
				     d->vocab);
	else
		tk_embedding_forward_packed(t->be, a->layers[0].x_in, a->ids, t->embed_packed,
					    t->embed_form, n, d->hidden, d->vocab);
	// the rotation's angles, for every layer's forward and backward
	tk_rope_table(t->be, a->rope, a->pos, t->inv_freq, n, d->head_dim);
	for (size_t l = 0; l < d->n_layers; l++) {
		float *out = l + 1 < d->n_layers ? a->layers[l + 1].x_in : a->x_out;
		int rc = layer_forward(t, l, n, out);
		if (rc)
			return rc;
	}
	tk_rmsnorm_forward(t->be, a->h, a->rstd_f, a->x_out, t->final_norm, n, d->hidden,
			   d->eps);
	return TK_OK;
}

/* ---- backward ---------------------------------------------------------- */

/* dx: gradient of the layer's output in, of x_mid out. */
static int mlp_backward(tk_train *t, size_t l, size_t n)
{
	const tk_model_desc *d = &t->d;
	tr_saved *s = &t->a.layers[l];
	tr_arena *a = &t->a;
	size_t C = d->hidden, I = d->inter;
	tk_swiglu_forward(t->be, a->act, s->gate, s->up, n * I); // recomputed
	int rc = linear_backward(t, l, TK_LORA_DOWN, a->dact, a->dx, a->act,
				 s->lora_t[TK_LORA_DOWN], n, 0);
	if (rc)
		return rc;
	tk_swiglu_backward(t->be, a->dgate, a->dup, a->dact, s->gate, s->up, n * I);
	tk_rmsnorm_forward(t->be, a->xn, NULL, s->x_mid, t->p[l].mlp_norm, n, C, d->eps);
	rc = linear_backward(t, l, TK_LORA_GATE, a->dxn, a->dgate, a->xn,
			     s->lora_t[TK_LORA_GATE], n, 0);
	if (!rc)
		rc = linear_backward(t, l, TK_LORA_UP, a->dxn, a->dup, a->xn,
				     s->lora_t[TK_LORA_UP], n, 1);
	if (!rc) // the residual passes dx through; the norm's part is added
		tk_rmsnorm_backward(t->be, a->dx, t->g[l].mlp_norm, a->dxn, s->x_mid,
				    t->p[l].mlp_norm, s->rstd2, n, C, 1);
	return rc;
}

/* dq, dk (after RoPE's backward) through the per-head q/k norms (Qwen3):
 * the gradients of q and k as the projections made them, in *dq, *dk. */
static void qk_norm_backward(tk_train *t, size_t l, size_t n, float **dq, float **dk)
{
	const tk_model_desc *d = &t->d;
	tr_saved *s = &t->a.layers[l];
	tr_arena *a = &t->a;
	size_t H = d->heads, KV = d->kv_heads, D = d->head_dim;
	// datt is free once attention's backward has run
	tk_rmsnorm_backward(t->be, a->datt, t->g[l].q_norm, a->dq, s->q_pre, t->p[l].q_norm,
			    s->rstd_q, n * H, D, 0);
	tk_rmsnorm_backward(t->be, a->dk_pre, t->g[l].k_norm, a->dk, s->k_pre, t->p[l].k_norm,
			    s->rstd_k, n * KV, D, 0);
	*dq = a->datt, *dk = a->dk_pre;
}

/* dx: gradient of x_mid in, of x_in out. */
static int attention_backward(tk_train *t, size_t l, size_t n, size_t nr)
{
	const tk_model_desc *d = &t->d;
	tr_saved *s = &t->a.layers[l];
	tr_arena *a = &t->a;
	size_t C = d->hidden, H = d->heads, KV = d->kv_heads, D = d->head_dim;
	int rc = linear_backward(t, l, TK_LORA_O, a->datt, a->dx, s->att,
				 s->lora_t[TK_LORA_O], n, 0);
	if (!rc)
		rc = tk_attention_packed_backward(t->be, a->dq, a->dk, a->dv, a->datt, s->q,
						  s->k, s->v, s->att, s->lse, a->cu, nr, n,
						  H, KV, D, t->attn_scale, tk_decoder_window(d, l),
						  t->dot ? TK_PACK_BF16_DOT : TK_PACK_F32);
	if (rc)
		return rc;
	tk_rope_backward_table(t->be, a->dq, a->dq, a->rope, n, H, D);
	tk_rope_backward_table(t->be, a->dk, a->dk, a->rope, n, KV, D);
	float *dq = a->dq, *dk = a->dk;
	if (t->p[l].q_norm)
		qk_norm_backward(t, l, n, &dq, &dk);
	tk_rmsnorm_forward(t->be, a->xn, NULL, s->x_in, t->p[l].attn_norm, n, C, d->eps);
	rc = linear_backward(t, l, TK_LORA_Q, a->dxn, dq, a->xn, s->lora_t[TK_LORA_Q], n, 0);
	if (!rc)
		rc = linear_backward(t, l, TK_LORA_K, a->dxn, dk, a->xn,
				     s->lora_t[TK_LORA_K], n, 1);
	if (!rc)
		rc = linear_backward(t, l, TK_LORA_V, a->dxn, a->dv, a->xn,
				     s->lora_t[TK_LORA_V], n, 1);
	if (!rc)
		tk_rmsnorm_backward(t->be, a->dx, t->g[l].attn_norm, a->dxn, s->x_in,
				    t->p[l].attn_norm, s->rstd1, n, C, 1);
	return rc;
}

int tr_backward(tk_train *t, size_t n, size_t n_records)
{
	const tk_model_desc *d = &t->d;
	tr_arena *a = &t->a;
	t->n_records = n_records;
	t->lora_off = 0; // recomputed layers are the policy's
	// dh (n, C) arrives in dxn
	tk_rmsnorm_backward(t->be, a->dx, t->d_final_norm, a->dxn, a->x_out, t->final_norm,
			    a->rstd_f, n, d->hidden, 0);
	for (size_t l = d->n_layers; l-- > 0;) {
		int rc = TK_OK;
		if (t->recompute) // refill the shared activations; the output is not needed
			rc = layer_forward(t, l, n, a->dxn);
		if (!rc)
			rc = mlp_backward(t, l, n);
		if (!rc)
			rc = attention_backward(t, l, n, n_records);
		if (rc)
			return rc;
	}
	if (t->d_embed)
		tk_embedding_backward(t->be, t->d_embed, a->dx, a->ids, n, d->hidden, d->vocab);
	return TK_OK;
}
