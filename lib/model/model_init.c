/* A model with random weights from a config: for tests, benchmarks and
 * training from scratch.  The initialisation is transformers' for Llama:
 * every matrix and the embedding ~ N(0, 0.02²), biases 0, norm weights 1. */
#include "model_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_rng.h"

#define INIT_STD 0.02

enum init_kind { INIT_NORMAL, INIT_ZERO, INIT_ONE };

static int add_random(tk_model *m, tk_rng *rng, const char *name, int ndim,
		      int64_t d0, int64_t d1, int kind)
{
	int64_t shape[2] = {d0, d1};
	size_t n = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
	float *data = tk_malloc(n * sizeof *data);
	if (!data)
		return TK_EOSERR;
	for (size_t i = 0; i < n; i++)
		data[i] = kind == INIT_ONE ? 1.0f
			: kind == INIT_ZERO ? 0.0f : (float)(INIT_STD * tk_rng_normal(rng));
	return model_add_tensor(m, name, ndim, shape, data, 1, "f32");
}

static int add_layer(tk_model *m, tk_rng *rng, int l)
{
	const tk_model_config *c = &m->config;
	int64_t h = c->hidden, q = (int64_t)c->n_heads * c->head_dim;
	int64_t kv = (int64_t)c->n_kv_heads * c->head_dim, in = c->intermediate;
	char name[128];
	int rc = TK_OK;
#define ADD(suffix, nd, a, b, kind) \
	(snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix), \
	 rc = rc ? rc : add_random(m, rng, name, nd, a, b, kind))
	ADD("self_attn.q_proj.weight", 2, q, h, INIT_NORMAL);
	ADD("self_attn.k_proj.weight", 2, kv, h, INIT_NORMAL);
	ADD("self_attn.v_proj.weight", 2, kv, h, INIT_NORMAL);
	if (c->attention_bias) {
		ADD("self_attn.q_proj.bias", 1, q, 0, INIT_ZERO);
		ADD("self_attn.k_proj.bias", 1, kv, 0, INIT_ZERO);
		ADD("self_attn.v_proj.bias", 1, kv, 0, INIT_ZERO);
	}
	if (c->qk_norm) {
		ADD("self_attn.q_norm.weight", 1, c->head_dim, 0, INIT_ONE);
		ADD("self_attn.k_norm.weight", 1, c->head_dim, 0, INIT_ONE);
	}
	ADD("self_attn.o_proj.weight", 2, h, q, INIT_NORMAL);
	ADD("mlp.gate_proj.weight", 2, in, h, INIT_NORMAL);
	ADD("mlp.up_proj.weight", 2, in, h, INIT_NORMAL);
	ADD("mlp.down_proj.weight", 2, h, in, INIT_NORMAL);
	ADD("input_layernorm.weight", 1, h, 0, INIT_ONE);
	ADD("post_attention_layernorm.weight", 1, h, 0, INIT_ONE);
#undef ADD
	return rc;
}

static int add_all(tk_model *m, uint64_t seed)
{
	const tk_model_config *c = &m->config;
	tk_rng rng;
	tk_rng_seed(&rng, seed);
	int rc = add_random(m, &rng, "model.embed_tokens.weight", 2, c->vocab, c->hidden, INIT_NORMAL);
	for (int l = 0; l < c->n_layers && !rc; l++)
		rc = add_layer(m, &rng, l);
	if (!rc)
		rc = add_random(m, &rng, "model.norm.weight", 1, c->hidden, 0, INIT_ONE);
	if (!rc && !c->tied_embeddings)
		rc = add_random(m, &rng, "lm_head.weight", 2, c->vocab, c->hidden, INIT_NORMAL);
	return rc;
}

int tk_model_init_random(tk_model **out, const tk_model_config *config,
			 tk_tokenizer *tokenizer, uint64_t seed)
{
	*out = NULL;
	int rc = tk_model_config_validate(config, "config");
	if (rc)
		return rc;
	if (tokenizer && tk_tokenizer_vocab_size(tokenizer) > (size_t)config->vocab)
		return tk_fail(TK_ECONFIG, "config: vocab_size %d is smaller than the tokenizer's %zu tokens",
			       config->vocab, tk_tokenizer_vocab_size(tokenizer));
	tk_model *m = tk_calloc(1, sizeof *m);
	tk_model_source *src = tk_calloc(1, sizeof *src);
	char *path = tk_strdup("(random init)");
	if (!m || !src || !path) {
		free(m);
		free(src);
		free(path);
		return TK_EOSERR;
	}
	m->config = *config;
	m->source = src;
	m->path = path;
	m->format = "init";
	rc = add_all(m, seed);
	if (!rc)
		model_sort_tensors(m);
	if (!rc)
		rc = tk_model_check(m);
	if (rc) {
		tk_model_free(m);
		return rc;
	}
	m->tokenizer = tokenizer; /* owned from here on */
	*out = m;
	return TK_OK;
}
