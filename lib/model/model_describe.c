/* tk-merge --info: a model described for people, one "key: value" per
 * line (easy to grep), then the tensors. */
#include "tk_model.h"

#include <stdio.h>

static const char *yes_no(int v)
{
	return v ? "yes" : "no";
}

static void describe_config(const tk_model_config *c, FILE *out)
{
	fprintf(out, "architecture: %s\n", c->architecture);
	fprintf(out, "layers: %d\n", c->n_layers);
	fprintf(out, "hidden: %d\n", c->hidden);
	fprintf(out, "heads: %d\n", c->n_heads);
	fprintf(out, "kv heads: %d\n", c->n_kv_heads);
	fprintf(out, "head dim: %d\n", c->head_dim);
	fprintf(out, "intermediate: %d\n", c->intermediate);
	fprintf(out, "vocab: %d\n", c->vocab);
	fprintf(out, "max positions: %d\n", c->max_positions);
	fprintf(out, "rope theta: %g\n", (double)c->rope_theta);
	if (c->rope_type == TK_MODEL_ROPE_LLAMA3)
		fprintf(out, "rope scaling: llama3 (factor %g, low freq factor %g, high freq "
			"factor %g, original max positions %d)\n", (double)c->rope_factor,
			(double)c->rope_low_freq_factor, (double)c->rope_high_freq_factor,
			c->rope_original_max_positions);
	else
		fprintf(out, "rope scaling: none\n");
	fprintf(out, "rms norm eps: %g\n", (double)c->rms_norm_eps);
	fprintf(out, "tied embeddings: %s\n", yes_no(c->tied_embeddings));
	fprintf(out, "attention bias: %s\n", yes_no(c->attention_bias));
	fprintf(out, "qk norm: %s\n", yes_no(c->qk_norm));
	if (c->sliding_window)
		fprintf(out, "sliding window: %d keys, layers %d-%d\n", c->sliding_window,
			c->full_attention_layers, c->n_layers - 1);
	fprintf(out, "bos id: %d\n", c->bos_id);
	fprintf(out, "eos id: %d\n", c->eos_id);
}

static void describe_tokenizer(const tk_tokenizer *tok, FILE *out)
{
	if (!tok) {
		fprintf(out, "tokenizer: none\n");
		return;
	}
	const char *pre = tk_tokenizer_pre_name(tok);
	fprintf(out, "tokenizer: byte-level BPE, pre-tokenizer %s, vocab %zu, %zu merges\n",
		pre ? pre : "default", tk_tokenizer_vocab_size(tok), tk_tokenizer_n_merges(tok));
	fprintf(out, "chat template: %s\n", tk_tokenizer_chat_template(tok) ? "yes" : "no");
}

static void describe_tensor(const tk_model_tensor *t, FILE *out)
{
	fprintf(out, "  %-48s %-5s [", t->name, t->stored_as ? t->stored_as : "f32");
	for (int d = 0; d < t->ndim; d++)
		fprintf(out, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
	fprintf(out, "]\n");
}

void tk_model_describe(const tk_model *m, FILE *out)
{
	char hex[17];
	size_t params = 0;
	for (size_t i = 0; i < m->n_tensors; i++)
		params += m->tensors[i].numel;
	tk_model_fingerprint_hex(m, hex);
	fprintf(out, "model: %s\n", m->path);
	fprintf(out, "format: %s\n", m->format);
	describe_config(&m->config, out);
	describe_tokenizer(m->tokenizer, out);
	fprintf(out, "parameters: %zu\n", params);
	fprintf(out, "fingerprint: %s\n", hex);
	fprintf(out, "tensors: %zu\n", m->n_tensors);
	for (size_t i = 0; i < m->n_tensors; i++)
		describe_tensor(&m->tensors[i], out);
}
