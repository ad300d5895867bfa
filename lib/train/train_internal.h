/* Private to lib/train*.c.  The model is read into a tk_model_desc
 * (lib/model/model_desc.h) once, at open. */
#ifndef TK_TRAIN_INTERNAL_H
#define TK_TRAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tk_lora.h"
#include "tk_train.h"

#include "engine/engine_internal.h"
#include "model/model_desc.h"

/* The linear layers of a block, in the order of enum tk_lora_target. */
#define TR_N_LINEAR TK_MODEL_N_LINEAR

#define TR_NAME_MAX 128

/* One tensor of the model or adapter: where it lives in its block. */
typedef struct tr_tensor {
	char name[TR_NAME_MAX];     /* HF name, or PEFT name for LoRA */
	int ndim;
	int64_t shape[2];
	size_t numel;
	int trainable;              /* in the trained block (else frozen) */
	size_t offset;              /* floats into its block */
	const float *host;          /* source at open; NULL afterwards */
	float **param, **grad;      /* the device pointers to set */
} tr_tensor;

/* One layer's weights on the backend (params) or their gradients (grads:
 * NULL where frozen). */
typedef struct tr_layer {
	float *attn_norm, *mlp_norm;           // (C)
	float *w[TR_N_LINEAR];                // (out, in)
	void *w_packed[TR_N_LINEAR];          // w packed (frozen base only) or NULL
	int w_form[TR_N_LINEAR];              // w_packed's enum tk_pack_form
	float *w_packed_bwd[TR_N_LINEAR];     // w packed for dy·w, or NULL
	float *bias[3];                        // (out) q, k, v or NULL
	float *q_norm, *k_norm;                // (D) or NULL (Qwen3)
	float *lora_a[TR_N_LINEAR];           // (r, in) or NULL
	float *lora_b[TR_N_LINEAR];           // (out, r)
} tr_layer;

/* What a layer's forward keeps for its backward (n tokens). */
typedef struct tr_saved {
	float *x_in;                           // (n, C) residual entering the layer
	float *rstd1;                          // (n) of the attention norm
	float *q, *att;                        // (n, H, D) q after RoPE, attention output
	float *k, *v;                          // (n, KV, D) k after RoPE
	float *q_pre, *k_pre;                  // (n, H, D), (n, KV, D) before the q/k norm, or NULL
	float *rstd_q, *rstd_k;                // (n·H), (n·KV) of the q/k norm, or NULL
	float *lse;                            // (n, H)
	float *x_mid;                          // (n, C) residual after attention
	float *rstd2;                          // (n) of the MLP norm
	float *gate, *up;                      // (n, I) before SwiGLU
	float *lora_t[TR_N_LINEAR];           // (n, r) x·Aᵀ of each adapted layer
} tr_saved;

/* The activation arena for n <= max_tokens tokens. */
typedef struct tr_arena {
	tr_saved *layers;                      // (n_layers) host array
	float *x_out;                          // (n, C) residual after the last layer
	float *rstd_f;                         // (n)
	float *h;                              // (n, C) final norm output
	/* scratch shared by every layer */
	float *xn, *dx, *dxn;                  // (n, C)
	float *dq, *datt;                      // (n, H, D)
	float *dk, *dv;                        // (n, KV, D)
	float *dk_pre;                         // (n, KV, D) through the k norm (Qwen3) or NULL
	float *act, *dact, *dgate, *dup;       // (n, I)
	float *lora_dt;                        // (n, r)
	float *lora_u;                         // (n, max out)
	float *coef, *loss, *logprob;          // (n)
	float *rope;                           // (n, D) tk_rope_table of pos
	int32_t *ids, *pos, *target;           // (n)
	int32_t *cu;                           // (n + 1)
} tr_arena;

struct tk_train {
	tk_backend *be;
	tk_engine *e;                  // the frozen base (LoRA), or NULL (full)
	int owns_engine;
	engine_adapter *live;          // the adapter as the engine lends it
	tk_model_desc d;
	int full;
	int lora_rank;                 // 0 with .full
	float lora_scale;
	unsigned lora_targets;
	float attn_scale;
	size_t max_tokens;
	int recompute;                 // layers share one set of saved activations
	size_t n_records;              // of the pass being run
	int lora_off;                  // the pass skips the adapter (DPO reference)
	int64_t step;
	/* tensors */
	size_t n_tensors;
	tr_tensor *tensors;            // (n_tensors)
	size_t frozen_floats, train_floats;
	float *frozen;                 // block of frozen weights
	float *param, *grad, *m, *v;   // (train_floats) each, same layout
	float *sumsq;                  // (1) grad norm accumulator
	/* device pointers into the blocks */
	float *embed, *lm_head, *final_norm, *inv_freq;
	const void *embed_packed;      // tied on an engine: the table in lm_head
	int embed_form;
	const void *lm_head_packed;    // the engine's (LoRA), or NULL
	const void *lm_head_packed_bwd; // the engine's, for dh, or NULL
	int lm_head_form;              // theirs: TK_PACK_F32 or TK_PACK_BF16_DOT
	int dot;                       // a bf16-dot base: the attention backward in bf16 too
	float *d_embed, *d_lm_head, *d_final_norm; // NULL when frozen
	tr_layer *p, *g;               // (n_layers) each
	/* activations */
	void *arena_block;
	tr_arena a;
	size_t memory;
	/* host staging */
	int32_t *h_ids, *h_pos, *h_target, *h_cu;  // (max_tokens (+1))
	float *h_coef, *h_loss, *h_logprob;        // (max_tokens)
	double *h_ref, *h_pi;                      // (max_tokens) per record
	float *h_fn_logprob, *h_fn_dloss;          // (max_tokens) a loss function's
};

/* lib/train/train.c: the activation arena's bytes for a model, an adapter's rank
 * and targets (rank 0: full training) and a pass of tokens. */
size_t tr_arena_bytes(const tk_model_desc *d, int rank, unsigned targets, int recompute,
		      size_t tokens);

/* lib/train/train.c: the tensor table by name. */
const tr_tensor *tr_find(const tk_train *t, const char *name);

/* lib/train/train_layers.c: one pass of the staged batch (ids, pos, cu in the
 * arena) to the final hidden state a.h; with lora_off the adapter is
 * skipped (the DPO reference). */
int tr_forward(tk_train *t, size_t n, size_t n_records, int lora_off);
/* From dh (n, C) in a.dx back to every trainable gradient (+=). */
int tr_backward(tk_train *t, size_t n, size_t n_records);

/* lib/train/train_soft.c: a batch's soft targets on the backend, as
 * tk_cross_entropy_soft_fused takes them (k = soft->k + 1 slots a
 * position: the data's token with hard_weight, then the top-K). */
typedef struct tr_soft {
	int32_t *ids;                          // (n, k) on the backend
	float *q;                              // (n, k)
	size_t k;
} tr_soft;
int tr_soft_stage(tk_train *t, const tk_train_batch *b, const tk_train_soft *soft, tr_soft *s);
void tr_soft_free(tk_train *t, tr_soft *s);  /* safe on a zeroed one */

#endif
