/* One pass of n tokens through the decoder layers, on the backend:
 *   x += o_proj(attention(rope(q), rope(k), v))   over RMSNorm(x)
 *   x += down_proj(silu(gate_proj) · up_proj)     over RMSNorm(x)
 * as transformers' LlamaDecoderLayer computes it, each linear layer plus
 * its LoRA update (PEFT's order: base + (x·Aᵀ·Bᵀ)·scale). */
#include "forward_internal.h"

#include "kernels.h"
#include "tk_error.h"

/* y = x·Wᵀ (+ bias) (+ scale · x·Aᵀ·Bᵀ) for linear layer t of ld.
 *   y (n, out)   x (n, in) */
static int linear(tk_forward *f, const fwd_layer_dev *ld, int t, float *y,
		  const float *x, size_t n)
{
	size_t in, out;
	tk_model_linear_shape(&f->d, t, &in, &out);
	const float *bias = t < 3 ? ld->bias[t] : NULL;
	int rc = tk_matmul_forward_packed(f->be, y, x, ld->w[t], bias, n, in, out, 0);
	if (rc || !ld->lora_a[t])
		return rc;
	size_t r = (size_t)f->lora_rank;
	rc = tk_matmul_forward_packed(f->be, f->a.lora_t, x, ld->lora_a[t], NULL, n, in, r, 0);
	if (!rc)
		rc = tk_matmul_forward_packed(f->be, f->a.lora_u, f->a.lora_t, ld->lora_b[t], NULL,
				       n, r, out, 0);
	if (!rc)
		tk_axpy(f->be, y, f->lora_scale, f->a.lora_u, n * out);
	return rc;
}

static int attention_block(tk_forward *f, size_t l, size_t n)
{
	const tk_model_desc *d = &f->d;
	const fwd_layer_dev *ld = &f->layers[l];
	fwd_arena *a = &f->a;
	size_t C = d->hidden, H = d->heads, KV = d->kv_heads, D = d->head_dim;
	tk_rmsnorm_forward(f->be, a->xn, NULL, a->x, ld->attn_norm, n, C, d->eps);
	int rc = linear(f, ld, TK_LORA_Q, a->q, a->xn, n);
	if (!rc)
		rc = linear(f, ld, TK_LORA_K, a->k, a->xn, n);
	if (!rc)
		rc = linear(f, ld, TK_LORA_V, a->v, a->xn, n);
	if (rc)
		return rc;
	if (ld->q_norm) { // Qwen3: RMSNorm of each head before the rotation, via att
		tk_rmsnorm_forward(f->be, a->att, NULL, a->q, ld->q_norm, n * H, D, d->eps);
		tk_rope_forward(f->be, a->q, a->att, a->pos, f->inv_freq, n, H, D);
		tk_rmsnorm_forward(f->be, a->att, NULL, a->k, ld->k_norm, n * KV, D, d->eps);
		tk_rope_forward(f->be, a->k, a->att, a->pos, f->inv_freq, n, KV, D);
	} else {
		tk_rope_forward(f->be, a->q, a->q, a->pos, f->inv_freq, n, H, D);
		tk_rope_forward(f->be, a->k, a->k, a->pos, f->inv_freq, n, KV, D);
	}
	float *kc = fwd_k_cache(f, l), *vc = fwd_v_cache(f, l);
	tk_rows_scatter(f->be, kc, a->k, a->cache_row, n, KV * D);
	tk_rows_scatter(f->be, vc, a->v, a->cache_row, n, KV * D);
	tk_attention_cached_forward(f->be, a->att, a->q, kc, vc, a->kv_row, a->pos, n, H,
				    KV, D, f->attn_scale);
	rc = linear(f, ld, TK_LORA_O, a->xn, a->att, n);
	if (!rc)
		tk_add(f->be, a->x, a->x, a->xn, n * C);
	return rc;
}

static int mlp_block(tk_forward *f, size_t l, size_t n)
{
	const tk_model_desc *d = &f->d;
	const fwd_layer_dev *ld = &f->layers[l];
	fwd_arena *a = &f->a;
	size_t C = d->hidden;
	tk_rmsnorm_forward(f->be, a->xn, NULL, a->x, ld->mlp_norm, n, C, d->eps);
	int rc = linear(f, ld, TK_LORA_GATE, a->gate, a->xn, n);
	if (!rc)
		rc = linear(f, ld, TK_LORA_UP, a->up, a->xn, n);
	if (rc)
		return rc;
	tk_swiglu_forward(f->be, a->act, a->gate, a->up, n * d->inter);
	rc = linear(f, ld, TK_LORA_DOWN, a->xn, a->act, n);
	if (!rc)
		tk_add(f->be, a->x, a->x, a->xn, n * C);
	return rc;
}

int fwd_layers(tk_forward *f, size_t n)
{
	// x (n, C) = embedding of ids
	tk_embedding_forward(f->be, f->a.x, f->a.ids, f->embed, n, f->d.hidden, f->d.vocab);
	for (size_t l = 0; l < f->d.n_layers; l++) {
		int rc = attention_block(f, l, n);
		if (!rc)
			rc = mlp_block(f, l, n);
		if (rc)
			return rc;
	}
	return TK_OK;
}
