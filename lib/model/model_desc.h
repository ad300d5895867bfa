/* A model as the compute code needs it: plain numbers and host pointers to
 * the weights by their Hugging Face names, read once from a tk_model
 * (lib/model/model_desc.c) and shared by the forward pass and training.  Private
 * to lib/. */
#ifndef TK_MODEL_DESC_H
#define TK_MODEL_DESC_H

#include <stddef.h>

#include "tk_lora.h"

struct tk_model;

/* The linear layers of a block, in the order of enum tk_lora_target. */
#define TK_MODEL_N_LINEAR TK_LORA_N_TARGETS

/* Host pointers to one layer's weights (into the model's tensors). */
typedef struct tk_layer_desc {
	const float *attn_norm, *mlp_norm;       // (C)
	const float *w[TK_MODEL_N_LINEAR];            // (out, in) each
	const float *bias[3];                    // q, k, v biases or NULL
	const float *q_norm, *k_norm;            // (D) or NULL (Qwen3)
	const struct tk_model_tensor *wt[TK_MODEL_N_LINEAR]; // w's tensors (w NULL: deferred)
} tk_layer_desc;

/* What the compute code needs of a model, as plain numbers and host pointers. */
typedef struct tk_model_desc {
	size_t n_layers, hidden, heads, kv_heads, head_dim, inter, vocab;
	size_t max_positions;
	float eps;
	double rope_theta;
	int rope_llama3;
	double rope_factor, rope_low, rope_high, rope_original;
	int tied;
	int qk_norm;                             // layers have q_norm, k_norm (Qwen3)
	size_t window;                           // keys a query sees, or 0: all
	size_t full_attention_layers;            // layers below this: no window
	const float *embed;                      // (V, C)
	const float *lm_head;                    // (V, C); == embed when tied
	const float *final_norm;                 // (C)
	const struct tk_model_tensor *embed_t, *lm_head_t; // their tensors (deferred: data NULL)
	tk_layer_desc *layers;                  // (n_layers) malloc'd
	char fingerprint[17];
} tk_model_desc;

/* Fills d from model (layers malloc'd; free with tk_model_desc_free).  A
 * lazily loaded model's deferred matrices have NULL pointers and their
 * tensors in wt / embed_t / lm_head_t (tk_model_tensor_read). */
int tk_model_desc_read(tk_model_desc *d, const struct tk_model *model);
void tk_model_desc_free(tk_model_desc *d);

/* (in, out) of linear layer t. */
void tk_model_linear_shape(const tk_model_desc *d, int t, size_t *in, size_t *out);

#endif
