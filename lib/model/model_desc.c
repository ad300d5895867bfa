/* Reads what the compute code needs out of a tk_model: numbers and host
 * pointers to the weights by their HF names.  tk_model_load has already
 * checked every tensor's presence and shape (tk_model_check). */
#include "model_desc.h"

#include "tk_error.h"
#include "tk_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const tk_model_tensor *find(const tk_model *m, int layer, const char *suffix)
{
	char name[160];
	if (layer < 0)
		snprintf(name, sizeof name, "%s", suffix);
	else
		snprintf(name, sizeof name, "model.layers.%d.%s", layer, suffix);
	return tk_model_find(m, name);
}

static const float *tensor(const tk_model *m, int layer, const char *suffix)
{
	const tk_model_tensor *t = find(m, layer, suffix);
	return t ? t->data : NULL;
}

static const char *const linear_names[TK_MODEL_N_LINEAR] = {
	"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
	"self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
	"mlp.down_proj.weight",
};
static const char *const bias_names[3] = {
	"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias",
};

static int describe_layer(tk_layer_desc *l, const tk_model *m, int i)
{
	l->attn_norm = tensor(m, i, "input_layernorm.weight");
	l->mlp_norm = tensor(m, i, "post_attention_layernorm.weight");
	int ok = l->attn_norm && l->mlp_norm;
	for (int t = 0; t < TK_MODEL_N_LINEAR; t++) {
		l->wt[t] = find(m, i, linear_names[t]);
		l->w[t] = l->wt[t] ? l->wt[t]->data : NULL;
		ok &= l->wt[t] && (l->w[t] || l->wt[t]->deferred);
	}
	for (int t = 0; t < 3 && m->config.attention_bias; t++)
		ok &= (l->bias[t] = tensor(m, i, bias_names[t])) != NULL;
	if (m->config.qk_norm) {
		l->q_norm = tensor(m, i, "self_attn.q_norm.weight");
		l->k_norm = tensor(m, i, "self_attn.k_norm.weight");
		ok &= l->q_norm && l->k_norm;
	}
	return ok ? TK_OK : tk_fail(TK_EDATA, "%s: layer %d lacks a weight", m->path, i);
}

static void describe_numbers(tk_model_desc *d, const tk_model_config *c)
{
	d->n_layers = (size_t)c->n_layers;
	d->hidden = (size_t)c->hidden;
	d->heads = (size_t)c->n_heads;
	d->kv_heads = (size_t)c->n_kv_heads;
	d->head_dim = (size_t)c->head_dim;
	d->inter = (size_t)c->intermediate;
	d->vocab = (size_t)c->vocab;
	d->max_positions = (size_t)c->max_positions;
	d->eps = c->rms_norm_eps;
	d->rope_theta = c->rope_theta;
	d->rope_llama3 = c->rope_type == TK_MODEL_ROPE_LLAMA3;
	d->rope_factor = c->rope_factor;
	d->rope_low = c->rope_low_freq_factor;
	d->rope_high = c->rope_high_freq_factor;
	d->rope_original = c->rope_original_max_positions;
	d->tied = c->tied_embeddings;
	d->qk_norm = c->qk_norm;
	d->window = (size_t)c->sliding_window;
	d->full_attention_layers = (size_t)c->full_attention_layers;
}

int tk_model_desc_read(tk_model_desc *d, const tk_model *m)
{
	memset(d, 0, sizeof *d);
	describe_numbers(d, &m->config);
	tk_model_fingerprint_hex(m, d->fingerprint);
	d->embed_t = find(m, -1, "model.embed_tokens.weight");
	d->lm_head_t = find(m, -1, "lm_head.weight");
	d->embed = d->embed_t ? d->embed_t->data : NULL;
	d->lm_head = d->lm_head_t ? d->lm_head_t->data : NULL;
	d->final_norm = tensor(m, -1, "model.norm.weight");
	if (!d->embed_t || !d->lm_head_t || !d->final_norm)
		return tk_fail(TK_EDATA, "%s: embedding, lm_head or final norm missing", m->path);
	d->layers = tk_calloc(d->n_layers ? d->n_layers : 1, sizeof *d->layers);
	if (!d->layers)
		return TK_EOSERR;
	for (int i = 0; i < m->config.n_layers; i++) {
		int rc = describe_layer(&d->layers[i], m, i);
		if (rc) {
			tk_model_desc_free(d);
			return rc;
		}
	}
	return TK_OK;
}

void tk_model_desc_free(tk_model_desc *d)
{
	free(d->layers);
	d->layers = NULL;
}

void tk_model_linear_shape(const tk_model_desc *d, int t, size_t *in, size_t *out)
{
	size_t q = d->heads * d->head_dim, kv = d->kv_heads * d->head_dim;
	switch (t) {
	case TK_LORA_Q: *in = d->hidden; *out = q; break;
	case TK_LORA_K: case TK_LORA_V: *in = d->hidden; *out = kv; break;
	case TK_LORA_O: *in = q; *out = d->hidden; break;
	case TK_LORA_DOWN: *in = d->inter; *out = d->hidden; break;
	default: *in = d->hidden; *out = d->inter; break;
	}
}
