/* Writes the binary seeds of the fuzz corpora (tests/fuzz/make-seeds.sh
 * calls it): small token streams, checkpoints, GGUF and safetensors files
 * that use every feature of their format the writers have, and a micro
 * model (one layer, hidden size 8, tiny-llama's tokenizer) as a full
 * checkpoint, GGUF and Hugging Face folder.
 *
 *   make_seeds CORPUS_DIR TOKENIZER_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_export.h"
#include "tk_gguf.h"
#include "tk_model.h"
#include "tk_tkc.h"
#include "tk_tks.h"
#include "tk_tokenizer.h"

static const char *corpus;

static void check(int rc, const char *what)
{
	if (rc != TK_OK && rc != TK_END) {
		fprintf(stderr, "make_seeds: %s: %s\n", what, tk_error_message());
		exit(1);
	}
}

static const char *seed_path(const char *target, const char *name)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/%s/%s", corpus, target, name);
	return path;
}

/* Three records: a plain SFT one, one with every optional field of
 * version 1, and one with a top-2 of weights (version 2). */
static void write_tks(void)
{
	int32_t tokens[] = {1, 5, 7, 2, 9, 3};
	float weights[] = {0, 0, 1, 1, 0.5f, 1};
	float logprobs[] = {-0.5f, -1, -2, -0.25f, -3, -0.125f};
	float advantages[] = {0, 0, 1, 1, -1, 0.5f};
	tk_tks_writer *w;
	check(tk_tks_writer_open_level(&w, seed_path("tks", "two-records.tks"),
				       "{\"vocab_size\":16,\"tokenizer\":\"abc\",\"renderer\":\"chatml\"}",
				       1, 3), "tks");
	tk_record r;
	tk_record_init(&r);
	r.n = 4, r.tokens = tokens, r.weights = weights;
	check(tk_tks_write(w, &r), "tks record");
	r.n = 6, r.logprobs = logprobs, r.advantages = advantages, r.group = 3;
	r.pair_role = TK_PAIR_CHOSEN, r.has_reward = 1, r.reward = 0.75;
	r.meta = "{\"id\":1}";
	check(tk_tks_write(w, &r), "tks record");
	int32_t top_ids[] = {-1, -1, 5, 6, 7, -1};
	float top_weights[] = {0, 0, 0.75f, 0.25f, 1, 0};
	tk_record t;
	tk_record_init(&t);
	t.n = 3, t.tokens = tokens, t.weights = weights, t.top_k = 2, t.top_ids = top_ids;
	t.top_values = top_weights, t.top_weights = 1;
	check(tk_tks_write(w, &t), "tks record");
	check(tk_tks_writer_close(w), "tks close");
}

/* One tensor of each dtype, a scalar, an empty one. */
static void write_tkc(void)
{
	float f[6] = {1, -2, 0.5f, 3, 1e-3f, -0.0f};
	uint16_t h[4] = {0x3c00, 0xc000, 0x7e00, 0x0001};
	int32_t i[3] = {-1, 0, 7};
	int64_t shape23[] = {2, 3}, shape4[] = {4}, shape3[] = {3}, shape0[] = {0, 5};
	tk_tkc_writer *w;
	check(tk_tkc_writer_open_level(&w, seed_path("tkc", "dtypes.tkc"),
				       "{\"kind\":\"adapter\",\"step\":3}", 1, 3), "tkc");
	check(tk_tkc_write_tensor(w, "a.f32", TK_F32, 2, shape23, f), "tkc f32");
	check(tk_tkc_write_tensor(w, "b.f16", TK_F16, 1, shape4, h), "tkc f16");
	check(tk_tkc_write_tensor(w, "c.bf16", TK_BF16, 1, shape4, h), "tkc bf16");
	check(tk_tkc_write_tensor(w, "d.i32", TK_I32, 1, shape3, i), "tkc i32");
	check(tk_tkc_write_tensor(w, "scalar", TK_F32, 0, NULL, f), "tkc scalar");
	check(tk_tkc_write_tensor(w, "empty", TK_F32, 2, shape0, f), "tkc empty");
	check(tk_tkc_writer_close(w), "tkc close");
}

/* Metadata of every type the writer has, three tensor types. */
static void write_gguf(void)
{
	static const float f[8] = {1, -2, 0.5f, 3, 1e-3f, -0.0f, 65504, 7};
	static const char *const strs[] = {"a", "bc", ""};
	static const int32_t ints[] = {1, -2, 3};
	uint64_t ne2[] = {4, 2}, ne1[] = {8};
	tk_gguf_writer *w;
	check(tk_gguf_writer_open(&w, seed_path("gguf", "kinds.gguf")), "gguf");
	check(tk_gguf_set_str(w, "general.architecture", "llama"), "gguf");
	check(tk_gguf_set_u32(w, "llama.block_count", 1), "gguf");
	check(tk_gguf_set_i32(w, "x.i32", -5), "gguf");
	check(tk_gguf_set_f32(w, "llama.rope.freq_base", 10000), "gguf");
	check(tk_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1), "gguf");
	check(tk_gguf_set_str_array(w, "x.strs", strs, NULL, 3), "gguf");
	check(tk_gguf_set_i32_array(w, "x.ints", ints, 3), "gguf");
	check(tk_gguf_add_tensor(w, "t.f32", TK_GGML_F32, 2, ne2, f), "gguf");
	check(tk_gguf_add_tensor(w, "t.f16", TK_GGML_F16, 1, ne1, f), "gguf");
	check(tk_gguf_add_tensor(w, "t.bf16", TK_GGML_BF16, 2, ne2, f), "gguf");
	check(tk_gguf_writer_close(w), "gguf close");
}

static void write_safetensors(void)
{
	static const float f[6] = {1, -2, 0.5f, 3, 1e-3f, -0.0f};
	static const int64_t shape23[] = {2, 3}, shape6[] = {6};
	const tk_st_entry e[] = {{"w", 2, shape23, f}, {"b", 1, shape6, f}, {"s", 0, NULL, f}};
	check(tk_safetensors_write(seed_path("safetensors", "f32.safetensors"), e, 3, TK_F32, NULL), "st");
	check(tk_safetensors_write(seed_path("safetensors", "f16.safetensors"), e, 2, TK_F16,
				   "{\"format\":\"pt\",\"note\":\"x\"}"), "st");
	check(tk_safetensors_write(seed_path("safetensors", "bf16.safetensors"), e, 1, TK_BF16, NULL), "st");
}

static void write_micro_model(const char *tokenizer_dir, const char *hf_dir)
{
	char json[4096], config[4096];
	snprintf(json, sizeof json, "%s/tokenizer.json", tokenizer_dir);
	snprintf(config, sizeof config, "%s/tokenizer_config.json", tokenizer_dir);
	tk_tokenizer *tok;
	check(tk_tokenizer_load_json(&tok, json, config), "tokenizer");
	tk_model_config c = {.architecture = "llama", .n_layers = 1, .hidden = 8, .n_heads = 2,
			     .n_kv_heads = 1, .head_dim = 4, .intermediate = 8,
			     .vocab = (int)tk_tokenizer_vocab_size(tok), .max_positions = 64,
			     .rope_theta = 10000, .rms_norm_eps = 1e-5f, .tied_embeddings = 1,
			     .bos_id = 1, .eos_id = 2};
	check(tk_model_config_validate(&c, "micro"), "config");
	tk_model *m;
	check(tk_model_init_random(&m, &c, tok, 7), "model");
	check(tk_model_write_tkc(m, seed_path("tkc", "micro-full.tkc")), "micro tkc");
	check(tk_model_write_gguf(m, seed_path("gguf", "micro-f16.gguf"), TK_GGML_F16), "micro gguf");
	check(tk_export_hf(m, hf_dir, TK_BF16, 1), "micro hf");
	tk_model_free(m);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: make_seeds CORPUS_DIR TOKENIZER_DIR HF_SCRATCH_DIR\n");
		return 64;
	}
	corpus = argv[1];
	write_tks();
	write_tkc();
	write_gguf();
	write_safetensors();
	write_micro_model(argv[2], argv[3]);
	return 0;
}
