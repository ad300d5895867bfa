/* One pass of n tokens through the decoder layers, on the backend:
 *   x += o_proj(attention(rope(q), rope(k), v))   over RMSNorm(x)
 *   x += down_proj(silu(gate_proj) · up_proj)     over RMSNorm(x)
 * as transformers' LlamaDecoderLayer computes it, each linear layer plus
 * its LoRA update (PEFT's order: base + (x·Aᵀ·Bᵀ)·scale). */
#include "forward_internal.h"

#include "kernels.h"
#include "tk_error.h"

/* y += scale · x·Aᵀ·Bᵀ for linear layer t of ld, when it has an adapter.
 *   y (n, out)   x (n, in) */
static int lora_add(tk_forward *f, const fwd_layer_dev *ld, int t, float *y,
		    const float *x, size_t n)
{
	if (!ld->lora_a[t])
		return TK_OK;
	size_t in, out, r = (size_t)f->lora_rank;
	tk_model_linear_shape(&f->d, t, &in, &out);
	int rc = tk_matmul_forward_packed(f->be, f->a.lora_t, x, ld->lora_a[t], NULL, n, in, r, 0);
	if (!rc)
		rc = tk_matmul_forward_packed(f->be, f->a.lora_u, f->a.lora_t, ld->lora_b[t], NULL,
					      n, r, out, 0);
	if (!rc)
		tk_axpy(f->be, y, f->lora_scale, f->a.lora_u, n * out);
	return rc;
}

/* ys[i] = x·Wᵀ (+ bias) (+ scale · x·Aᵀ·Bᵀ) for the linear layers ts[i]
 * of ld, which share their input: the base products in one go.
 *   ys[i] (n, out_i)   x (n, in) */
static int linears(tk_forward *f, const fwd_layer_dev *ld, const int *ts, float *const *ys,
		   size_t count, const float *x, size_t n)
{
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
		rc = lora_add(f, ld, ts[i], ys[i], x, n);
	return rc;
}

/* x += x_in·Wᵀ (+ LoRA) for linear layer t (o_proj, down_proj: the
 * residual add); scratch (n, out) holds the product when there is an
 * adapter, so that x + (base + LoRA) keeps PEFT's order. */
static int linear_residual(tk_forward *f, const fwd_layer_dev *ld, int t, float *x,
			   float *scratch, const float *x_in, size_t n)
{
	size_t in, out;
	tk_model_linear_shape(&f->d, t, &in, &out);
	if (!ld->lora_a[t]) // straight into x: x + chain, the bits of a separate add
		return tk_matmul_forward_packed_as(f->be, x, x_in, ld->w[t], ld->w_form[t], NULL,
						   n, in, out, 1);
	int rc = tk_matmul_forward_packed_as(f->be, scratch, x_in, ld->w[t], ld->w_form[t], NULL,
					     n, in, out, 0);
	if (!rc)
		rc = lora_add(f, ld, t, scratch, x_in, n);
	if (!rc)
		tk_add(f->be, x, x, scratch, n * out);
	return rc;
}

static int attention_block(tk_forward *f, size_t l, size_t n)
{
	const tk_model_desc *d = &f->d;
	const fwd_layer_dev *ld = &f->layers[l];
	fwd_arena *a = &f->a;
	size_t C = d->hidden, H = d->heads, KV = d->kv_heads, D = d->head_dim;
	tk_rmsnorm_forward(f->be, a->xn, NULL, a->x, ld->attn_norm, n, C, d->eps);
	static const int qkv[3] = {TK_LORA_Q, TK_LORA_K, TK_LORA_V};
	float *const qkv_out[3] = {a->q, a->k, a->v};
	int rc = linears(f, ld, qkv, qkv_out, 3, a->xn, n);
	if (rc)
		return rc;
	if (ld->q_norm) { // Qwen3: RMSNorm of each head before the rotation, via att
		tk_rmsnorm_forward(f->be, a->att, NULL, a->q, ld->q_norm, n * H, D, d->eps);
		tk_rope_forward_table(f->be, a->q, a->att, a->rope, n, H, D);
		tk_rmsnorm_forward(f->be, a->att, NULL, a->k, ld->k_norm, n * KV, D, d->eps);
		tk_rope_forward_table(f->be, a->k, a->att, a->rope, n, KV, D);
	} else {
		tk_rope_forward_table(f->be, a->q, a->q, a->rope, n, H, D);
		tk_rope_forward_table(f->be, a->k, a->k, a->rope, n, KV, D);
	}
	float *kc = fwd_k_cache(f, l), *vc = fwd_v_cache(f, l);
	tk_rows_scatter(f->be, kc, a->k, a->cache_row, n, KV * D);
	tk_rows_scatter(f->be, vc, a->v, a->cache_row, n, KV * D);
	tk_attention_cached_forward(f->be, a->att, a->q, kc, vc, a->kv_row, a->pos, n, H,
				    KV, D, f->attn_scale);
	return linear_residual(f, ld, TK_LORA_O, a->x, a->xn, a->att, n);
}

static int mlp_block(tk_forward *f, size_t l, size_t n)
{
	const tk_model_desc *d = &f->d;
	const fwd_layer_dev *ld = &f->layers[l];
	fwd_arena *a = &f->a;
	size_t C = d->hidden;
	tk_rmsnorm_forward(f->be, a->xn, NULL, a->x, ld->mlp_norm, n, C, d->eps);
	static const int gate_up[2] = {TK_LORA_GATE, TK_LORA_UP};
	float *const gate_up_out[2] = {a->gate, a->up};
	int rc = linears(f, ld, gate_up, gate_up_out, 2, a->xn, n);
	if (rc)
		return rc;
	tk_swiglu_forward(f->be, a->act, a->gate, a->up, n * d->inter);
	return linear_residual(f, ld, TK_LORA_DOWN, a->x, a->xn, a->act, n);
}

int fwd_layers(tk_forward *f, size_t n)
{
	// x (n, C) = embedding of ids
	if (f->d.tied)
		tk_embedding_forward_packed(f->be, f->a.x, f->a.ids, f->lm_head, f->lm_head_form, n,
					    f->d.hidden, f->d.vocab);
	else
		tk_embedding_forward(f->be, f->a.x, f->a.ids, f->embed, n, f->d.hidden, f->d.vocab);
	tk_rope_table(f->be, f->a.rope, f->a.pos, f->inv_freq, n, f->d.head_dim);
	for (size_t l = 0; l < f->d.n_layers; l++) {
		int rc = attention_block(f, l, n);
		if (!rc)
			rc = mlp_block(f, l, n);
		if (rc)
			return rc;
	}
	return TK_OK;
}
