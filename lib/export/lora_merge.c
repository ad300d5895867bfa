/* Folding an adapter into its base: W += (alpha / r) · B·A, computed in
 * double per element so that the merged weights are the exact product
 * rounded once. */
#include "tk_error.h"
#include "tk_export.h"

#include <stdio.h>

static const char *target_block(int target)
{
	return target <= TK_LORA_O ? "self_attn" : "mlp";
}

// W: (out, in) += scale * B (out, r) · A (r, in)
static void fold_pair(float *w, const tk_lora_pair *p, int rank, double scale)
{
	#pragma omp parallel for schedule(static)
	for (size_t o = 0; o < p->out; o++) {
		const float *b = p->b + o * (size_t)rank;
		float *row = w + o * p->in;
		for (size_t i = 0; i < p->in; i++) {
			double acc = 0;
			for (int k = 0; k < rank; k++)
				acc += (double)b[k] * (double)p->a[(size_t)k * p->in + i];
			row[i] = (float)((double)row[i] + scale * acc);
		}
	}
}

int tk_lora_merge_into(tk_model *m, const tk_lora *l)
{
	if (l->n_layers != m->config.n_layers)
		return tk_fail(TK_EDATA, "adapter has %d layers, the model %d", l->n_layers,
			       m->config.n_layers);
	double scale = tk_lora_scale(&l->config);
	char name[128];
	for (int layer = 0; layer < l->n_layers; layer++) {
		for (int t = 0; t < TK_LORA_N_TARGETS; t++) {
			const tk_lora_pair *p = tk_lora_get(l, layer, t);
			if (!p)
				continue;
			snprintf(name, sizeof name, "model.layers.%d.%s.%s.weight", layer,
				 target_block(t), tk_lora_target_module(t));
			tk_model_tensor *w = (tk_model_tensor *)tk_model_find(m, name);
			if (!w || w->ndim != 2 || (size_t)w->shape[0] != p->out ||
			    (size_t)w->shape[1] != p->in)
				return tk_fail(TK_EDATA, "%s: missing or not shaped [%zu, %zu] for the adapter",
					       name, p->out, p->in);
			fold_pair(w->data, p, l->config.rank, scale);
			w->stored_as = "f32";
		}
	}
	return TK_OK;
}
