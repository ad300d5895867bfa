/* Private to lib/forward*.c.  The model is read into a tk_model_desc
 * (lib/model/model_desc.h) once, at open. */
#ifndef TK_FORWARD_INTERNAL_H
#define TK_FORWARD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tk_forward.h"
#include "tk_lora.h"

#include "model/model_desc.h"

/* The linear layers of a block, in the order of enum tk_lora_target. */
#define FWD_N_LINEAR TK_MODEL_N_LINEAR


/* One layer's weights on the backend. */
typedef struct fwd_layer_dev {
	float *attn_norm, *mlp_norm;             // (C)
	void *w[FWD_N_LINEAR];                   // (out, in), packed in w_form
	int w_form[FWD_N_LINEAR];                // enum tk_pack_form
	float *bias[3];                          // (out) or NULL
	float *q_norm, *k_norm;                  // (D) or NULL
	float *lora_a[FWD_N_LINEAR];             // (r, in) packed, or NULL
	float *lora_b[FWD_N_LINEAR];             // (out, r) packed
} fwd_layer_dev;

/* The activations of one pass of n <= tokens tokens; L = logit rows. */
typedef struct fwd_arena {
	float *x;          // (n, C) residual stream
	float *xn;         // (n, C) normed input of a block, then its output
	float *q, *att;    // (n, H, D)
	float *k, *v;      // (n, KV, D)
	float *k_pre;      // (n, KV, D) k before the q/k norm (Qwen3), else 1 float
	float *gate, *up, *act; // (n, I)
	float *lora_t;     // (n, r)
	float *lora_u;     // (n, max out)
	float *hsel, *hnorm; // (L, C) rows whose logits are wanted
	float *logits;     // (L, V)
	float *rope;       // (n, D) each token's cos and sin (tk_rope_table)
	int32_t *ids, *pos, *kv_row, *cache_row; // (n)
	int32_t *sel;      // (L) rows of x to make logits of
} fwd_arena;

struct tk_forward {
	tk_backend *be;
	tk_model_desc d;                // host weight pointers cleared after upload
	size_t seqs, context, tokens;
	float attn_scale;
	int lora_rank;             // 0: no adapter
	float lora_scale;
	/* backend memory */
	void *weights;             // one block: everything below points into it
	float *embed;              // NULL when tied: looked up in lm_head
	void *lm_head;             // packed in lm_head_form
	int lm_head_form;          // enum tk_pack_form
	float *final_norm, *inv_freq;
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
