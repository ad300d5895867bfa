/* The decoder layer's forward, once (decoder_layer.h). */
#include "decoder_layer.h"

#include "tk_error.h"

#include <stdlib.h>

size_t tk_decoder_window(const tk_model_desc *d, size_t l)
{
	return l >= d->full_attention_layers ? d->window : 0;
}

/* q and k as attention takes them: per-head RMSNorm (Qwen3) from the
 * pre-norm copies, then the rotation, in place. */
static void rotate_qk(tk_backend *be, const tk_model_desc *d, const tk_decoder_norms *w,
		      const tk_decoder_bufs *b, size_t n)
{
	size_t H = d->heads, KV = d->kv_heads, D = d->head_dim;
	if (w->q) {
		tk_rmsnorm_forward(be, b->q, b->rstd_q, b->q_pre, w->q, n * H, D, d->eps);
		tk_rmsnorm_forward(be, b->k, b->rstd_k, b->k_pre, w->k, n * KV, D, d->eps);
	}
	tk_rope_forward_table(be, b->q, b->q, b->rope, n, H, D);
	tk_rope_forward_table(be, b->k, b->k, b->rope, n, KV, D);
}

static int attention_block(tk_backend *be, const tk_model_desc *d, size_t l,
			   const tk_decoder_norms *w, const tk_decoder_ops *ops, void *pass,
			   const tk_decoder_bufs *b, size_t n)
{
	tk_rmsnorm_forward(be, b->xn, b->rstd_attn, b->x_in, w->attn, n, d->hidden, d->eps);
	static const int qkv[3] = {TK_LORA_Q, TK_LORA_K, TK_LORA_V};
	float *const qkv_out[3] = {w->q ? b->q_pre : b->q, w->q ? b->k_pre : b->k, b->v};
	int rc = ops->linears(pass, l, qkv, qkv_out, 3, b->xn, n);
	if (rc)
		return rc;
	rotate_qk(be, d, w, b, n);
	rc = ops->attend(pass, l, b->att, b->q, b->k, b->v, n, tk_decoder_window(d, l));
	return rc ? rc : ops->residual(pass, l, TK_LORA_O, b->x_mid, b->x_in, b->att, n);
}

static int mlp_block(tk_backend *be, const tk_model_desc *d, size_t l,
		     const tk_decoder_norms *w, const tk_decoder_ops *ops, void *pass,
		     const tk_decoder_bufs *b, size_t n)
{
	tk_rmsnorm_forward(be, b->xn, b->rstd_mlp, b->x_mid, w->mlp, n, d->hidden, d->eps);
	static const int gate_up[2] = {TK_LORA_GATE, TK_LORA_UP};
	float *const gate_up_out[2] = {b->gate, b->up};
	int rc = ops->linears(pass, l, gate_up, gate_up_out, 2, b->xn, n);
	if (rc)
		return rc;
	tk_swiglu_forward(be, b->act, b->gate, b->up, n * d->inter);
	return ops->residual(pass, l, TK_LORA_DOWN, b->x_out, b->x_mid, b->act, n);
}

int tk_decoder_layer_forward(tk_backend *be, const tk_model_desc *d, size_t l,
			     const tk_decoder_norms *w, const tk_decoder_ops *ops, void *pass,
			     const tk_decoder_bufs *b, size_t n)
{
	int rc = attention_block(be, d, l, w, ops, pass, b, n);
	return rc ? rc : mlp_block(be, d, l, w, ops, pass, b, n);
}

float *tk_decoder_inv_freq(tk_backend *be, const tk_model_desc *d)
{
	size_t half = d->head_dim / 2;
	float *host = tk_malloc((half ? half : 1) * sizeof *host);
	float *dev = host ? tk_backend_alloc(be, (half ? half : 1) * sizeof *dev) : NULL;
	if (dev) {
		struct tk_rope_scaling s = {
			TK_ROPE_LLAMA3, d->rope_factor, d->rope_low, d->rope_high,
			d->rope_original,
		};
		tk_rope_inv_freq(host, d->head_dim, d->rope_theta, d->rope_llama3 ? &s : NULL);
		tk_copy_to_device(be, dev, host, half * sizeof *host);
	}
	free(host);
	return dev;
}
