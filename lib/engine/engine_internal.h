/* Private to libtk: the engine's weights as the forward and the trainer
 * read them (include/tk/tk_engine.h). */
#ifndef TK_ENGINE_INTERNAL_H
#define TK_ENGINE_INTERNAL_H

#include <stddef.h>

#include "model/model_desc.h"
#include "tk_engine.h"

#define ENGINE_N_LINEAR TK_MODEL_N_LINEAR
#define ENGINE_NAME_MAX 64

/* One layer of the base on the backend. */
typedef struct engine_layer {
	float *attn_norm, *mlp_norm;             // (C)
	float *q_norm, *k_norm;                  // (D) or NULL (Qwen3)
	float *bias[3];                          // (out) or NULL
	void *w[ENGINE_N_LINEAR];                // (out, in) packed in w_form
	int w_form[ENGINE_N_LINEAR];             // enum tk_pack_form
	float *w_bwd[ENGINE_N_LINEAR];           // packed for dx = dy·W, or NULL
} engine_layer;

/* An adapter: attached (a packed copy the engine owns) or live (a
 * trainer's weights, plain (r, in) and (out, r) matrices). */
typedef struct engine_adapter {
	char name[ENGINE_NAME_MAX];
	int rank;
	float scale;
	int packed;                              // a, b packed for the product
	float **a, **b;                          // (n_layers · N) each, NULL where none
	void *block;                             // what an attached copy owns
	size_t bytes;
	int borrowed;                            // forwards reading it now
	struct engine_adapter *next;
} engine_adapter;

struct tk_engine {
	tk_backend *be;
	tk_model_desc d;                         // host weight pointers cleared after open
	int train, compact;
	int base;                                // with train: enum tk_engine_base
	void *block;                             // every base weight
	size_t memory;
	float *embed;                            // (V, C), or NULL when tied (read in lm_head)
	void *lm_head;                           // packed in lm_head_form
	int lm_head_form;
	void *lm_head_bwd;                       // packed for dh (f32, or in bf16
						 // Wᵀ: lm_head_form bf16-dot), or NULL
	float *final_norm, *inv_freq;
	engine_layer *layers;                    // (n_layers)
	engine_adapter *adapters;
};

/* The adapter of that name, or NULL. */
engine_adapter *engine_adapter_find(const tk_engine *e, const char *name);
/* A live adapter of `rank` whose device pointers the trainer fills in
 * a[l·N + t], b[...] (NULL where a target has none). */
int engine_adapter_live(tk_engine *e, const char *name, int rank, float scale,
			engine_adapter **out);
/* Removes an adapter whatever it is (a trainer's at close). */
void engine_adapter_remove(tk_engine *e, engine_adapter *a);

#endif
