/* The memory a training run plans, for --max-memory and the plan printed
 * before training: the activations of a pass (the model read as
 * tk_model_desc, then the arena's size table), the base, the trainable
 * weights and their optimizer state, the kernels' working memory. */
#include "train_internal.h"

#include "engine/engine_internal.h"
#include "tk_engine.h"
#include "tk_error.h"
#include "tk_model.h"

#include <string.h>

size_t tk_train_activation_bytes(const tk_model *m, const tk_lora_config *lora,
				 int recompute, size_t tokens)
{
	tk_model_desc d;
	if (tk_model_desc_read(&d, m))
		return 0;
	size_t bytes = tr_arena_bytes(&d, lora ? lora->rank : 0, lora ? lora->targets : 0,
				      recompute, tokens);
	tk_model_desc_free(&d);
	return bytes;
}

/* ---- the memory plan --------------------------------------------------- */

/* Trainable floats: LoRA's A and B of every adapted layer, or (full
 * training) every weight of the model. */
static size_t trainable_floats(const tk_model_desc *d, const tk_model *m,
			       const tk_lora_config *lora)
{
	size_t floats = 0;
	if (!lora) {
		for (size_t i = 0; i < m->n_tensors; i++)
			floats += m->tensors[i].numel;
		return floats;
	}
	for (int t = 0; t < TR_N_LINEAR; t++) {
		size_t in, out;
		tk_model_linear_shape(d, t, &in, &out);
		if (lora->targets >> t & 1)
			floats += (size_t)lora->rank * (in + out) * d->n_layers;
	}
	return floats;
}

/* The kernels' working memory: the fused loss's logits chunk (64 tokens
 * by as much vocabulary as the backend's 16 MiB budget holds), and per
 * thread a product's panel buffer and, over a compact base, its rows of x
 * packed (kernels/cpu/xwt.c); with bf16 products, the backward's W
 * expanded transposed, once (kernels/cpu/xwt_bf16.c). */
static size_t workspace_bytes(const tk_model_desc *d, size_t tokens, int threads, int base)
{
	int compact = base != TK_ENGINE_BASE_F32;
	size_t logits = 64 * d->vocab * sizeof(float), budget = (size_t)16 << 20;
	size_t widest = d->inter > d->hidden ? d->inter : d->hidden;
	size_t steps = widest < 2048 ? widest : 2048; // a panel's rows: k, in chunks of KC
	size_t rows = tokens > steps ? tokens : steps; // or the product's rows' chains
	size_t per_thread = rows * 48 * sizeof(float) + (compact ? tokens * widest * sizeof(float) : 0);
	size_t expanded = base == TK_ENGINE_BASE_BF16_DOT ? widest * d->hidden * 2 : 0;
	return (logits < budget ? logits : budget) + (size_t)(threads > 0 ? threads : 1) * per_thread +
	       expanded;
}

int tk_train_plan_memory(const tk_model *m, const tk_lora_config *lora, int base, int recompute,
			 size_t tokens, int threads, tk_train_memory_plan *out)
{
	tk_model_desc d;
	memset(out, 0, sizeof *out);
	int rc = tk_model_desc_read(&d, m);
	if (rc)
		return rc;
	size_t trainable = trainable_floats(&d, m, lora) * sizeof(float);
	out->base = lora ? tk_engine_plan_bytes(m, base) : 0;
	out->trainable = trainable;
	out->optimizer = 3 * trainable; // gradients and the two moments
	out->activations = tr_arena_bytes(&d, lora ? lora->rank : 0, lora ? lora->targets : 0,
					  recompute, tokens);
	out->workspace = workspace_bytes(&d, tokens, threads, lora ? base : TK_ENGINE_BASE_F32);
	out->tokens = tokens;
	tk_model_desc_free(&d);
	return TK_OK;
}

size_t tk_train_plan_total(const tk_train_memory_plan *p)
{
	return p->base + p->trainable + p->optimizer + p->activations + p->workspace;
}

void tk_train_memory_parts(const tk_train *t, int threads, tk_train_memory_plan *out)
{
	memset(out, 0, sizeof *out);
	out->base = t->e ? tk_engine_memory(t->e) : t->frozen_floats * sizeof(float);
	out->trainable = t->train_floats * sizeof(float);
	out->optimizer = 3 * out->trainable;
	out->activations = tr_arena_bytes(&t->d, t->lora_rank, t->lora_targets, t->recompute,
					  t->max_tokens);
	out->workspace = workspace_bytes(&t->d, t->max_tokens, threads,
					 t->e ? t->e->base : TK_ENGINE_BASE_F32);
	out->tokens = t->max_tokens;
}
