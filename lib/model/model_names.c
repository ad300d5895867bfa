/* Tensor names: GGUF (llama.cpp) <-> Hugging Face. */
#include "tk_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *gguf, *hf;
} global_names[] = {
	{"token_embd.weight", "model.embed_tokens.weight"},
	{"output_norm.weight", "model.norm.weight"},
	{"output.weight", "lm_head.weight"},
};

static const struct {
	const char *gguf, *hf;
} layer_names[] = {
	{"attn_norm.weight", "input_layernorm.weight"},
	{"ffn_norm.weight", "post_attention_layernorm.weight"},
	{"attn_q.weight", "self_attn.q_proj.weight"},
	{"attn_k.weight", "self_attn.k_proj.weight"},
	{"attn_v.weight", "self_attn.v_proj.weight"},
	{"attn_q.bias", "self_attn.q_proj.bias"},
	{"attn_k.bias", "self_attn.k_proj.bias"},
	{"attn_v.bias", "self_attn.v_proj.bias"},
	{"attn_output.weight", "self_attn.o_proj.weight"},
	{"attn_q_norm.weight", "self_attn.q_norm.weight"},
	{"attn_k_norm.weight", "self_attn.k_norm.weight"},
	{"ffn_gate.weight", "mlp.gate_proj.weight"},
	{"ffn_up.weight", "mlp.up_proj.weight"},
	{"ffn_down.weight", "mlp.down_proj.weight"},
};

#define COUNT(a) (sizeof a / sizeof *a)

/* "PREFIX<layer>.REST": the layer number and where REST starts. */
static const char *split_layer(const char *name, const char *prefix, long *layer)
{
	size_t n = strlen(prefix);
	if (strncmp(name, prefix, n) != 0 || name[n] < '0' || name[n] > '9')
		return NULL;
	char *end;
	*layer = strtol(name + n, &end, 10);
	if (*end != '.' || *layer < 0 || *layer > 1000000)
		return NULL;
	return end + 1;
}

static int map_name(const char *name, char *out, size_t cap, int to_hf)
{
	for (size_t i = 0; i < COUNT(global_names); i++) {
		const char *from = to_hf ? global_names[i].gguf : global_names[i].hf;
		const char *to = to_hf ? global_names[i].hf : global_names[i].gguf;
		if (strcmp(name, from) == 0)
			return snprintf(out, cap, "%s", to) < (int)cap;
	}
	long layer;
	const char *rest = split_layer(name, to_hf ? "blk." : "model.layers.", &layer);
	if (!rest)
		return 0;
	for (size_t i = 0; i < COUNT(layer_names); i++) {
		const char *from = to_hf ? layer_names[i].gguf : layer_names[i].hf;
		const char *to = to_hf ? layer_names[i].hf : layer_names[i].gguf;
		if (strcmp(rest, from) == 0)
			return snprintf(out, cap, to_hf ? "model.layers.%ld.%s" : "blk.%ld.%s",
					layer, to) < (int)cap;
	}
	return 0;
}

int tk_model_name_from_gguf(const char *gguf, char *hf, size_t cap)
{
	return map_name(gguf, hf, cap, 1);
}

int tk_model_name_to_gguf(const char *hf, char *gguf, size_t cap)
{
	return map_name(hf, gguf, cap, 0);
}
