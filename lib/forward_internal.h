/* Private to lib/forward*.c.  The model is read into fwd_desc by
 * forward_model.c, which alone includes tk_model.h; the kernel-facing files
 * include kernels.h (the two headers each define an enum tk_rope_type, so
 * no file may include both). */
#ifndef TK_FORWARD_INTERNAL_H
#define TK_FORWARD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tk_forward.h"
#include "tk_lora.h"

/* The linear layers of a block, in the order of enum tk_lora_target. */
#define FWD_N_LINEAR TK_LORA_N_TARGETS

/* Host pointers to one layer's weights (into the model's tensors). */
typedef struct fwd_layer_host {
	const float *attn_norm, *mlp_norm;       // (C)
	const float *w[FWD_N_LINEAR];            // (out, in) each
	const float *bias[3];                    // q, k, v biases or NULL
	const float *q_norm, *k_norm;            // (D) or NULL (Qwen3)
} fwd_layer_host;

/* What the forward needs of a model, as plain numbers and host pointers. */
typedef struct fwd_desc {
	size_t n_layers, hidden, heads, kv_heads, head_dim, inter, vocab;
	size_t max_positions;
	float eps;
	double rope_theta;
	int rope_llama3;
	double rope_factor, rope_low, rope_high, rope_original;
	int tied;
	const float *embed;                      // (V, C)
	const float *lm_head;                    // (V, C); == embed when tied
	const float *final_norm;                 // (C)
	fwd_layer_host *layers;                  // (n_layers) malloc'd
	char fingerprint[17];
} fwd_desc;

/* Fills d from model (layers malloc'd; free with fwd_desc_free). */
int fwd_describe(fwd_desc *d, const struct tk_model *model);
void fwd_desc_free(fwd_desc *d);

/* (in, out) of linear layer t. */
void fwd_linear_shape(const fwd_desc *d, int t, size_t *in, size_t *out);

/* One layer's weights on the backend. */
typedef struct fwd_layer_dev {
	float *attn_norm, *mlp_norm;             // (C)
	float *w[FWD_N_LINEAR];                  // (out, in)
	float *bias[3];                          // (out) or NULL
	float *q_norm, *k_norm;                  // (D) or NULL
	float *lora_a[FWD_N_LINEAR];             // (r, in) or NULL
	float *lora_b[FWD_N_LINEAR];             // (out, r)
} fwd_layer_dev;

/* The activations of one pass of n <= tokens tokens; L = logit rows. */
typedef struct fwd_arena {
	float *x;          // (n, C) residual stream
	float *xn;         // (n, C) normed input of a block, then its output
	float *q, *att;    // (n, H, D)
	float *k, *v;      // (n, KV, D)
	float *gate, *up, *act; // (n, I)
	float *lora_t;     // (n, r)
	float *lora_u;     // (n, max out)
	float *hsel, *hnorm; // (L, C) rows whose logits are wanted
	float *logits;     // (L, V)
	int32_t *ids, *pos, *kv_row, *cache_row; // (n)
	int32_t *sel;      // (L) rows of x to make logits of
} fwd_arena;

struct tk_forward {
	tk_backend *be;
	fwd_desc d;                // host weight pointers cleared after upload
	size_t seqs, context, tokens;
	float attn_scale;
	int lora_rank;             // 0: no adapter
	float lora_scale;
	/* backend memory */
	float *weights;            // one block: everything below points into it
	float *embed, *lm_head, *final_norm, *inv_freq;
	fwd_layer_dev *layers;     // (n_layers) host array of device pointers
	float *cache;              // (layers, 2, seqs · context, KV, D)
	void *arena_block;
	fwd_arena a;
	size_t memory;
	/* host */
	size_t *lengths;           // (seqs) tokens each slot holds
	int32_t *h_ids, *h_pos, *h_kv_row, *h_cache_row; // (tokens) one pass
	size_t *h_out;             // (tokens) logits row of each token or SIZE_MAX
	int32_t *h_sel;            // (tokens)
};

/* K and V cache of layer l: (seqs · context, KV, D). */
float *fwd_k_cache(const tk_forward *f, size_t l);
float *fwd_v_cache(const tk_forward *f, size_t l);

/* One pass of n tokens already staged in f->a.ids/pos/kv_row/cache_row
 * through every layer, leaving the final residual stream in f->a.x. */
int fwd_layers(tk_forward *f, size_t n);

#endif
