/* One decoder layer, written once for every pass that runs it: the KV-cache
 * forward (lib/infer) and training (lib/train), as transformers'
 * LlamaDecoderLayer computes it (Mistral, Qwen2 and Qwen3 are the same
 * layer with q/k/v biases, per-head q/k norms and sliding windows):
 *
 *   x_mid = x_in  + o_proj(attention(rope(qk_norm(q)), rope(qk_norm(k)), v))
 *                                                      over RMSNorm(x_in)
 *   x_out = x_mid + down_proj(silu(gate_proj) · up_proj) over RMSNorm(x_mid)
 *
 * A pass says how it multiplies (packed or compact weights, LoRA, what it
 * keeps for a backward) and how it attends (a KV cache, packed records)
 * through a small table of operations; the order of the work, and so the
 * bits, is here.  The backward exists only in training (lib/train). */
#ifndef TK_DECODER_LAYER_H
#define TK_DECODER_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "model_desc.h"

/* The norm weights of a layer on the backend, and its attention span. */
typedef struct tk_decoder_norms {
	const float *attn, *mlp;       // (C)
	const float *q, *k;            // (D) per head, or NULL (not Qwen3)
} tk_decoder_norms;

/* Where a pass of n tokens reads and writes.  x_in, x_mid and x_out may be
 * one buffer (the forward updates its residual stream in place). */
typedef struct tk_decoder_bufs {
	float *x_in, *x_mid, *x_out;   // (n, C) residual stream
	float *xn;                     // (n, C) normed input of a block
	float *rstd_attn, *rstd_mlp;   // (n) kept for a backward, or NULL
	float *q_pre, *k_pre;          // (n, H, D), (n, KV, D) before the q/k norm (Qwen3)
	float *rstd_q, *rstd_k;        // (n·H), (n·KV) of the q/k norm, or NULL
	float *q, *k, *v;              // (n, H, D), (n, KV, D) after norm and RoPE
	float *att;                    // (n, H, D) attention output
	float *gate, *up, *act;        // (n, I)
	const float *rope;             // (n, D) tk_rope_table of the tokens' positions
} tk_decoder_bufs;

/* Linear layers by enum tk_lora_target; a pass adds its adapter itself. */
typedef struct tk_decoder_ops {
	/* ys[i] = x·Wᵀ (+ bias) (+ LoRA) of linear ts[i] of layer l, i < count
	 * (they share x: q, k, v; gate, up).   ys[i] (n, out_i)   x (n, in) */
	int (*linears)(void *pass, size_t l, const int *ts, float *const *ys, size_t count,
		       const float *x, size_t n);
	/* out = resid + x·Wᵀ (+ LoRA) of linear t (o_proj, down_proj); out may
	 * be resid.   out, resid (n, C)   x (n, in) */
	int (*residual)(void *pass, size_t l, int t, float *out, const float *resid,
			const float *x, size_t n);
	/* att = attention over the keys each token sees (window: 0 or the
	 * number of latest keys).   att, q (n, H, D)   k, v (n, KV, D) */
	int (*attend)(void *pass, size_t l, float *att, const float *q, const float *k,
		      const float *v, size_t n, size_t window);
} tk_decoder_ops;

/* One pass of layer l over n tokens. */
int tk_decoder_layer_forward(tk_backend *be, const tk_model_desc *d, size_t l,
			     const tk_decoder_norms *w, const tk_decoder_ops *ops, void *pass,
			     const tk_decoder_bufs *b, size_t n);

/* The keys a token of layer l sees: 0 (all) or the window. */
size_t tk_decoder_window(const tk_model_desc *d, size_t l);

/* RoPE's inverse frequencies (head_dim / 2) uploaded to the backend: what
 * every pass makes its tk_rope_table from.  NULL with a message on failure. */
float *tk_decoder_inv_freq(tk_backend *be, const tk_model_desc *d);

#endif
