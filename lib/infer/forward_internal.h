/* Private to lib/forward*.c.  The model is read into a tk_model_desc
 * (lib/model/model_desc.h) once, at open. */
#ifndef TK_FORWARD_INTERNAL_H
#define TK_FORWARD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tk_forward.h"
#include "tk_lora.h"

#include "engine/engine_internal.h"
#include "model/model_desc.h"

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
	tk_engine *e;              // the weights: borrowed, or the forward's own
	int owns_engine;
	engine_adapter *adapter;   // NULL: the bare base
	tk_model_desc d;           // the engine's numbers (no host weights)
	size_t seqs, context, tokens;
	float attn_scale;
	/* backend memory */
	float *cache;              // (layers, 2, seqs · context, KV, D)
	void *arena_block;
	fwd_arena a;
	size_t memory;             // cache and arena (and an owned engine)
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
