/* Model loading: the tiny Llamas from their HF folders against the values
 * transformers saved (expected.json); the same model bit for bit from a
 * GGUF and a .tkc written from it; config JSON both ways; fingerprints;
 * SmolLM2 from its GGUF when present; and models that must be refused. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_gguf.h"
#include "tk_model.h"
#include "tk_safetensors.h"
#include "tkt.h"
#include "model/model_internal.h" /* model_add_tensor: variants of the tiny model */

#define TINY "tests/fixtures/tiny-llama"
#define TINY_TIED "tests/fixtures/tiny-llama-tied"

static void spit(const char *path, const char *text)
{
	/* a new file each time: truncating one makes ext4 flush it at close */
	unlink(path);
	FILE *f = fopen(path, "wb");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void tmp_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tkt_tmpdir(), name);
}

static tk_model *load_ok(const char *path)
{
	tk_model *m = NULL;
	int rc = tk_model_load(&m, path);
	TKT_CHECK(rc == TK_OK, "%s: %s", path, tk_error_message());
	return m;
}

static void check_expected(const tk_model *m, const char *folder)
{
	char path[512];
	snprintf(path, sizeof path, "%s/expected.json", folder);
	char *text = tkt_slurp(path, NULL);
	cJSON *root = text ? cJSON_Parse(text) : NULL;
	free(text);
	TKT_CHECK(root != NULL, "%s", path);
	if (!root)
		return;
	for (const cJSON *e = cJSON_GetObjectItem(root, "tensors")->child; e; e = e->next) {
		const tk_model_tensor *t = tk_model_find(m, e->string);
		TKT_CHECK(t != NULL, "%s missing", e->string);
		if (!t)
			continue;
		const cJSON *idx = cJSON_GetObjectItem(e, "index");
		const cJSON *val = cJSON_GetObjectItem(e, "value");
		for (int i = 0; i < cJSON_GetArraySize(idx); i++) {
			size_t at = (size_t)cJSON_GetArrayItem(idx, i)->valuedouble;
			float want = (float)cJSON_GetArrayItem(val, i)->valuedouble;
			TKT_CHECK(at < t->numel && t->data[at] == want, "%s[%zu] = %.9g, want %.9g",
				  e->string, at, at < t->numel ? t->data[at] : 0.0f, want);
		}
	}
	cJSON_Delete(root);
}

static void test_tiny_from_hf(void)
{
	tk_model *m = load_ok(TINY);
	if (!m)
		return;
	const tk_model_config *c = &m->config;
	TKT_CHECK(!strcmp(c->architecture, "llama") && c->n_layers == 2 && c->hidden == 64 &&
		  c->n_heads == 4 && c->n_kv_heads == 2 && c->head_dim == 16 &&
		  c->intermediate == 128 && c->vocab == 512 && c->max_positions == 256,
		  "config sizes");
	TKT_CHECK(c->rope_theta == 10000.0f && c->rms_norm_eps == 1e-5f &&
		  c->rope_type == TK_MODEL_ROPE_DEFAULT, "config floats");
	TKT_CHECK(!c->tied_embeddings && !c->attention_bias && !c->qk_norm, "flags");
	TKT_CHECK(c->bos_id == 1 && c->eos_id == 2, "bos %d eos %d", c->bos_id, c->eos_id);
	TKT_CHECK(m->n_tensors == 2 * 9 + 3, "%zu tensors", m->n_tensors);
	TKT_CHECK(!strcmp(m->tensors[0].name, "model.embed_tokens.weight"), "first %s",
		  m->tensors[0].name);
	TKT_CHECK(m->tokenizer && tk_tokenizer_vocab_size(m->tokenizer) == 512, "tokenizer");
	TKT_CHECK(!strcmp(m->format, "hf"), "format %s", m->format);
	const tk_model_tensor *emb = tk_model_find(m, "model.embed_tokens.weight");
	TKT_CHECK(emb && !emb->owned, "aligned f32 is mapped, not copied");
	check_expected(m, TINY);
	tk_model_free(m);

	m = load_ok(TINY_TIED);
	if (!m)
		return;
	TKT_CHECK(m->config.tied_embeddings, "tied");
	TKT_CHECK(m->n_tensors == 2 * 9 + 2, "%zu tensors", m->n_tensors);
	TKT_CHECK(tk_model_find(m, "lm_head.weight") == tk_model_find(m, "model.embed_tokens.weight"),
		  "lm_head is the embedding");
	check_expected(m, TINY_TIED);
	tk_model_free(m);
}

/* Same config, tensor names, shapes and bits; the same fingerprint. */
static void check_same_model(const tk_model *a, const tk_model *b, int exact)
{
	TKT_CHECK(tk_model_config_equal(&a->config, &b->config), "configs differ");
	TKT_CHECK(a->n_tensors == b->n_tensors, "%zu vs %zu tensors", a->n_tensors, b->n_tensors);
	for (size_t i = 0; i < a->n_tensors && i < b->n_tensors; i++) {
		const tk_model_tensor *x = &a->tensors[i], *y = &b->tensors[i];
		TKT_CHECK(!strcmp(x->name, y->name), "[%zu] %s vs %s", i, x->name, y->name);
		TKT_CHECK(x->ndim == y->ndim && x->numel == y->numel &&
			  !memcmp(x->shape, y->shape, sizeof x->shape), "%s shape", x->name);
		if (exact && x->numel == y->numel)
			TKT_CHECK(!memcmp(x->data, y->data, x->numel * sizeof(float)),
				  "%s: bits differ", x->name);
	}
	TKT_CHECK(tk_model_fingerprint(a) == tk_model_fingerprint(b), "fingerprints differ");
}

static void roundtrip_gguf(const char *folder, const char *name)
{
	char path[512];
	tmp_path(path, sizeof path, name);
	tk_model *hf = load_ok(folder), *gg = NULL;
	if (!hf)
		return;
	int rc = tk_model_write_gguf(hf, path, TK_GGML_F32);
	TKT_CHECK(rc == TK_OK, "write: %s", tk_error_message());
	if (!rc)
		gg = load_ok(path);
	if (gg) {
		TKT_CHECK(!strcmp(gg->format, "gguf"), "format");
		check_same_model(hf, gg, 1);
		/* q/k went through llama.cpp's row order and back */
		const tk_model_tensor *q = tk_model_find(gg, "model.layers.1.self_attn.q_proj.weight");
		TKT_CHECK(q && q->owned, "a permuted tensor is a copy");
	}
	tk_model_free(gg);
	/* the file really holds llama.cpp's order: row 1 of head 0 is HF row 8 */
	tk_gguf *g;
	if (!rc && tk_gguf_open(&g, path) == TK_OK) {
		const tk_gguf_tensor *t = tk_gguf_find_tensor(g, "blk.0.attn_q.weight");
		const tk_model_tensor *q = tk_model_find(hf, "model.layers.0.self_attn.q_proj.weight");
		TKT_CHECK(t && !memcmp((const float *)t->data + 64, q->data + 8 * 64, 64 * sizeof(float)),
			  "GGUF q rows are not interleaved");
		tk_gguf_close(g);
	}
	tk_model_free(hf);
}

static void test_tiny_gguf_roundtrip(void)
{
	roundtrip_gguf(TINY, "tiny.gguf");
	roundtrip_gguf(TINY_TIED, "tiny-tied.gguf");
}

static void test_tiny_gguf_f16(void)
{
	char path[512];
	tmp_path(path, sizeof path, "tiny-f16.gguf");
	tk_model *hf = load_ok(TINY), *gg = NULL;
	if (!hf)
		return;
	TKT_CHECK(tk_model_write_gguf(hf, path, TK_GGML_F16) == TK_OK, "%s", tk_error_message());
	gg = load_ok(path);
	if (gg) {
		check_same_model(hf, gg, 0);
		const tk_model_tensor *a = tk_model_find(hf, "model.layers.0.mlp.up_proj.weight");
		const tk_model_tensor *b = tk_model_find(gg, "model.layers.0.mlp.up_proj.weight");
		TKT_CHECK(b && !strcmp(b->stored_as, "f16"), "stored as %s", b ? b->stored_as : "?");
		float *want = malloc(a->numel * sizeof *want);
		for (size_t i = 0; i < a->numel; i++)
			want[i] = tk_f16_to_f32(tk_f32_to_f16(a->data[i]));
		TKT_CHECK_CLOSE(b->data, want, a->numel, 0);
		free(want);
		const tk_model_tensor *n = tk_model_find(gg, "model.norm.weight");
		TKT_CHECK(n && !strcmp(n->stored_as, "f32"), "norms stay f32");
	}
	tk_model_free(gg);
	tk_model_free(hf);
}

static void test_tiny_tkc_roundtrip(void)
{
	const char *folders[2] = {TINY, TINY_TIED};
	for (int i = 0; i < 2; i++) {
		char path[512];
		tmp_path(path, sizeof path, i ? "tiny-tied.tkc" : "tiny.tkc");
		tk_model *hf = load_ok(folders[i]), *ck = NULL;
		if (!hf)
			return;
		int rc = tk_model_write_tkc(hf, path);
		TKT_CHECK(rc == TK_OK, "write: %s", tk_error_message());
		if (!rc)
			ck = load_ok(path);
		if (ck) {
			TKT_CHECK(!strcmp(ck->format, "tkc"), "format");
			check_same_model(hf, ck, 1);
		}
		tk_model_free(ck);
		tk_model_free(hf);
	}
}

/* The tiny model re-saved in BF16 (how most real checkpoints ship), with
 * a header whose odd length leaves every tensor unaligned. */
static void write_bf16_copy(const char *dir)
{
	tk_safetensors *st;
	if (tk_safetensors_open(&st, TINY "/model.safetensors"))
		return;
	cJSON *h = cJSON_CreateObject();
	size_t total = 0;
	for (size_t i = 0; i < st->count; i++)
		total += st->tensors[i].numel * 2;
	uint16_t *data = malloc(total + 2);
	size_t off = 0;
	for (size_t i = 0; i < st->count; i++) {
		const tk_st_tensor *t = &st->tensors[i];
		cJSON *e = cJSON_AddObjectToObject(h, t->name);
		cJSON_AddStringToObject(e, "dtype", "BF16");
		cJSON *shape = cJSON_AddArrayToObject(e, "shape");
		for (int d = 0; d < t->ndim; d++)
			cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
		cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
		cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off * 2));
		cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + t->numel) * 2));
		for (size_t k = 0; k < t->numel; k++) {
			float v;
			memcpy(&v, (const char *)t->data + 4 * k, 4);
			data[off + k] = tk_f32_to_bf16(v);
		}
		off += t->numel;
	}
	char *text = cJSON_PrintUnformatted(h);
	size_t n = strlen(text) | 1;
	char path[1024];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	FILE *f = fopen(path, "wb");
	for (int i = 0; i < 8; i++)
		fputc((int)((uint64_t)n >> (8 * i)) & 0xff, f);
	fputs(text, f);
	if (n > strlen(text))
		fputc(' ', f);
	fwrite(data, 2, off, f);
	fclose(f);
	free(text);
	free(data);
	cJSON_Delete(h);
	tk_safetensors_close(st);
	char *config = tkt_slurp(TINY "/config.json", NULL);
	snprintf(path, sizeof path, "%s/config.json", dir);
	spit(path, config);
	free(config);
}

static void test_bf16_folder(void)
{
	char dir[512];
	tmp_path(dir, sizeof dir, "tiny-bf16");
	mkdir(dir, 0755);
	write_bf16_copy(dir);
	tk_model *a = load_ok(TINY), *b = load_ok(dir);
	if (a && b) {
		TKT_CHECK(b->tokenizer == NULL, "no tokenizer.json: no tokenizer");
		TKT_CHECK(b->n_tensors == a->n_tensors, "%zu tensors", b->n_tensors);
		for (size_t i = 0; i < a->n_tensors && i < b->n_tensors; i++) {
			const tk_model_tensor *x = &a->tensors[i], *y = &b->tensors[i];
			TKT_CHECK(y->owned && !strcmp(y->stored_as, "bf16"), "%s", y->name);
			float *want = malloc(x->numel * sizeof *want);
			for (size_t k = 0; k < x->numel; k++)
				want[k] = tk_bf16_to_f32(tk_f32_to_bf16(x->data[k]));
			TKT_CHECK_CLOSE(y->data, want, x->numel, 0);
			free(want);
		}
	}
	tk_model_free(a);
	tk_model_free(b);
}

static void test_config_json(void)
{
	tk_model *m = load_ok(TINY);
	if (!m)
		return;
	char *text = tk_model_config_to_json(&m->config);
	TKT_CHECK(text && strstr(text, "\"rms_norm_eps\":\t1e-05"), "eps spelled: %s", text);
	tk_model_config c;
	TKT_CHECK(tk_model_config_from_json(&c, text, "round trip") == TK_OK, "%s",
		  tk_error_message());
	TKT_CHECK(tk_model_config_equal(&c, &m->config), "config changed in a round trip");
	free(text);
	tk_model_free(m);

	/* Llama 3 scaling, as transformers 4 and 5 write it */
	const char *v4 = "{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"hidden_size\":64,"
		"\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":512,"
		"\"rope_theta\":500000.0,\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
		"\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
		"\"original_max_position_embeddings\":8192},\"tie_word_embeddings\":true,"
		"\"eos_token_id\":[128001,128009]}";
	const char *v5 = "{\"architectures\":[\"LlamaForCausalLM\"],\"num_hidden_layers\":2,"
		"\"hidden_size\":64,\"num_attention_heads\":4,\"intermediate_size\":128,"
		"\"vocab_size\":512,\"rope_parameters\":{\"rope_type\":\"llama3\","
		"\"rope_theta\":500000.0,\"factor\":8.0,\"low_freq_factor\":1.0,"
		"\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192},"
		"\"tie_word_embeddings\":true,\"eos_token_id\":128001}";
	tk_model_config a, b;
	TKT_CHECK(tk_model_config_from_json(&a, v4, "v4") == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_model_config_from_json(&b, v5, "v5") == TK_OK, "%s", tk_error_message());
	TKT_CHECK(a.rope_type == TK_MODEL_ROPE_LLAMA3 && a.rope_factor == 8 && a.rope_high_freq_factor == 4 &&
		  a.rope_original_max_positions == 8192 && a.rope_theta == 500000 &&
		  a.eos_id == 128001 && a.n_kv_heads == 4 && a.head_dim == 16, "llama3 config");
	TKT_CHECK(tk_model_config_equal(&a, &b), "transformers 4 and 5 forms differ");
	text = tk_model_config_to_json(&a);
	TKT_CHECK(tk_model_config_from_json(&b, text, "llama3 round trip") == TK_OK &&
		  tk_model_config_equal(&a, &b), "llama3 round trip: %s", text);
	free(text);

	const char *qwen2 = "{\"model_type\":\"qwen2\",\"num_hidden_layers\":1,\"hidden_size\":64,"
		"\"num_attention_heads\":4,\"num_key_value_heads\":2,\"intermediate_size\":128,"
		"\"vocab_size\":512}";
	TKT_CHECK(tk_model_config_from_json(&a, qwen2, "qwen2") == TK_OK && a.attention_bias &&
		  !a.qk_norm, "qwen2 has q/k/v bias");
	const char *qwen3 = "{\"model_type\":\"qwen3\",\"num_hidden_layers\":1,\"hidden_size\":64,"
		"\"num_attention_heads\":4,\"head_dim\":32,\"intermediate_size\":128,"
		"\"vocab_size\":512}";
	TKT_CHECK(tk_model_config_from_json(&a, qwen3, "qwen3") == TK_OK && a.qk_norm &&
		  !a.attention_bias && a.head_dim == 32, "qwen3 has q/k norm");

	static const struct {
		const char *json, *needle;
	} bad[] = {
		{"{\"model_type\":\"gpt2\"}", "gpt2"},
		{"{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"hidden_size\":64,"
		 "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":512,"
		 "\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4}}", "yarn"},
		{"{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"hidden_size\":64,"
		 "\"num_attention_heads\":4,\"num_key_value_heads\":3,\"intermediate_size\":128,"
		 "\"vocab_size\":512}", "multiple"},
		{"{\"model_type\":\"llama\",\"num_hidden_layers\":-2}", "num_hidden_layers"},
		{"{\"model_type\":\"llama\",\"hidden_size\":\"64\"}", "hidden_size"},
		{"{\"model_type\":\"llama\"}", "positive"},
		{"[]", "not a JSON object"},
		{"{", "not valid JSON"},
		/* finite as a double, inf as a float */
		{"{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"hidden_size\":64,"
		 "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":512,"
		 "\"rms_norm_eps\":1e39}", "\"rms_norm_eps\" 1e+39 is beyond the float range"},
		{"{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"hidden_size\":64,"
		 "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":512,"
		 "\"rope_parameters\":{\"rope_theta\":-4e38}}", "\"rope_theta\" -4e+38 is beyond"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = tk_model_config_from_json(&a, bad[i].json, "bad.json");
		TKT_CHECK(rc == TK_ECONFIG && strstr(tk_error_message(), "bad.json") &&
			  strstr(tk_error_message(), bad[i].needle), "case %zu: rc %d: %s", i, rc,
			  tk_error_message());
	}
}

/* Validation, for configs that come from elsewhere than config.json
 * (GGUF, --init, code): infinities are refused as well as zeros. */
static void test_config_validate_finite(void)
{
	tk_model *m = load_ok(TINY);
	if (!m)
		return;
	tk_model_config c = m->config;
	TKT_CHECK(tk_model_config_validate(&c, "ok") == TK_OK, "%s", tk_error_message());
	c.rms_norm_eps = INFINITY;
	TKT_CHECK(tk_model_config_validate(&c, "eps") == TK_ECONFIG &&
		  strstr(tk_error_message(), "eps: rms_norm_eps, rope_theta and the RoPE scaling "
			 "factors must be finite"), "%s", tk_error_message());
	c = m->config;
	c.rope_theta = INFINITY;
	TKT_CHECK(tk_model_config_validate(&c, "theta") == TK_ECONFIG, "inf rope_theta passed");
	c = m->config;
	c.rope_factor = NAN;
	TKT_CHECK(tk_model_config_validate(&c, "factor") == TK_ECONFIG, "NaN factor passed");
	tk_model_free(m);
}

static void test_fingerprint(void)
{
	tk_model *m = load_ok(TINY), *t = load_ok(TINY_TIED);
	if (!m || !t) {
		tk_model_free(m);
		tk_model_free(t);
		return;
	}
	char hex[17];
	tk_model_fingerprint_hex(m, hex);
	TKT_CHECK(strlen(hex) == 16 && strspn(hex, "0123456789abcdef") == 16, "hex %s", hex);
	uint64_t f = tk_model_fingerprint(m);
	TKT_CHECK(f != tk_model_fingerprint(t), "tied and untied share a fingerprint");
	m->config.rope_theta = 10001.0f;
	TKT_CHECK(f != tk_model_fingerprint(m), "rope theta does not count");
	m->config.rope_theta = 10000.0f;
	TKT_CHECK(f == tk_model_fingerprint(m), "fingerprint not stable");
	tk_model_free(m);
	tk_model_free(t);
}

static void test_describe(void)
{
	tk_model *m = load_ok(TINY_TIED);
	if (!m)
		return;
	char path[512];
	tmp_path(path, sizeof path, "describe.txt");
	FILE *f = fopen(path, "w");
	tk_model_describe(m, f);
	fclose(f);
	char *text = tkt_slurp(path, NULL);
	const char *lines[] = {"architecture: llama\n", "layers: 2\n", "hidden: 64\n",
			       "heads: 4\n", "kv heads: 2\n", "intermediate: 128\n", "vocab: 512\n",
			       "tied embeddings: yes\n", "tokenizer: byte-level BPE",
			       "fingerprint: ", "model.layers.1.mlp.down_proj.weight"};
	for (size_t i = 0; text && i < sizeof lines / sizeof *lines; i++)
		TKT_CHECK(strstr(text, lines[i]) != NULL, "no '%s' in:\n%s", lines[i], text);
	free(text);
	tk_model_free(m);
}

static const char *smollm2_path(char *buf, size_t cap)
{
	const char *home = getenv("TK_HOME"), *user = getenv("HOME");
	if (home && *home)
		snprintf(buf, cap, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", home);
	else
		snprintf(buf, cap, "%s/.cache/tk/models/SmolLM2-135M-Instruct.Q4_1.gguf",
			 user ? user : "");
	return access(buf, R_OK) == 0 ? buf : NULL;
}

/* HF row r of head h sits at GGUF row h*hd + 2*(r % (hd/2)) + r / (hd/2). */
static void test_smollm2(void)
{
	char buf[1024];
	const char *path = smollm2_path(buf, sizeof buf);
	if (!path)
		TKT_SKIP("SmolLM2 GGUF absent (scripts/get-model.sh smollm2-135m-instruct)");
	tk_model *m = load_ok(path);
	tk_gguf *g = NULL;
	if (!m || tk_gguf_open(&g, path)) {
		tk_model_free(m);
		return;
	}
	const tk_model_config *c = &m->config;
	TKT_CHECK(c->n_layers == 30 && c->hidden == 576 && c->n_heads == 9 && c->n_kv_heads == 3 &&
		  c->intermediate == 1536 && c->vocab == 49152 && c->tied_embeddings &&
		  c->head_dim == 64, "SmolLM2 config");
	TKT_CHECK(m->tokenizer && tk_tokenizer_vocab_size(m->tokenizer) == 49152, "tokenizer");
	const tk_gguf_tensor *gk = tk_gguf_find_tensor(g, "blk.4.attn_k.weight");
	const tk_model_tensor *k = tk_model_find(m, "model.layers.4.self_attn.k_proj.weight");
	float *raw = malloc((size_t)gk->numel * sizeof *raw);
	tk_gguf_tensor_to_f32(g, gk, raw);
	const size_t hd = 64, cols = 576;
	for (size_t r = 0; r < 3 * hd; r++) {
		size_t h = r / hd, i = r % hd;
		size_t gr = h * hd + 2 * (i % (hd / 2)) + i / (hd / 2);
		if (memcmp(k->data + r * cols, raw + gr * cols, cols * sizeof *raw) != 0) {
			TKT_CHECK(0, "k_proj row %zu is not GGUF row %zu", r, gr);
			break;
		}
	}
	free(raw);
	tk_gguf_close(g);
	tk_model_free(m);
}

static void expect_load_error(const char *path, const char *needle)
{
	tk_model *m = NULL;
	int rc = tk_model_load(&m, path);
	TKT_CHECK(rc != TK_OK && m == NULL, "%s loaded", path);
	TKT_CHECK(strstr(tk_error_message(), path) != NULL, "message does not name %s: %s", path,
		  tk_error_message());
	if (needle)
		TKT_CHECK(strstr(tk_error_message(), needle) != NULL, "'%s' not in: %s", needle,
			  tk_error_message());
	tk_model_free(m);
}

static void test_bad_models(void)
{
	char dir[512], file[1024], cwd[512];
	tmp_path(dir, sizeof dir, "bad-model");
	mkdir(dir, 0755);
	expect_load_error(dir, "config.json");
	expect_load_error("tests/fixtures/no-such-model", "no such");
	/* the config wants more layers than the weights hold */
	char *config = tkt_slurp(TINY "/config.json", NULL);
	char *at = config ? strstr(config, "\"num_hidden_layers\": 2") : NULL;
	TKT_CHECK(at != NULL, "fixture config");
	if (!at)
		return;
	at[strlen("\"num_hidden_layers\": ")] = '3';
	snprintf(file, sizeof file, "%s/config.json", dir);
	spit(file, config);
	snprintf(file, sizeof file, "%s/model.safetensors", dir);
	TKT_CHECK(getcwd(cwd, sizeof cwd) != NULL, "cwd");
	char target[1024];
	snprintf(target, sizeof target, "%s/" TINY "/model.safetensors", cwd);
	TKT_CHECK(symlink(target, file) == 0, "symlink");
	expect_load_error(dir, "model.layers.2.input_layernorm.weight");
	/* hidden size disagreeing with the weights */
	at[strlen("\"num_hidden_layers\": ")] = '2';
	char *h = strstr(config, "\"hidden_size\": 64");
	h[strlen("\"hidden_size\": ")] = '8';
	snprintf(file, sizeof file, "%s/config.json", dir);
	spit(file, config);
	expect_load_error(dir, "shape");
	free(config);
	/* a file that is no model */
	snprintf(file, sizeof file, "%s/notes.txt", dir);
	spit(file, "hello");
	expect_load_error(file, "not a model");
}

static void add_random(tk_model *m, const char *fmt, int layer, int64_t n)
{
	char name[128];
	snprintf(name, sizeof name, fmt, layer);
	float *data = malloc((size_t)n * sizeof *data);
	for (int64_t i = 0; i < n; i++)
		data[i] = (float)(tkt_uniform() - 0.5);
	TKT_CHECK(model_add_tensor(m, name, 1, &n, data, 1, "f32") == TK_OK, "%s", name);
}

/* Turns the tiny Llama into the other families and Llama 3 scaling, then
 * checks each survives GGUF: Qwen2 biases, Qwen3 q/k norms (neither
 * permuted), Llama 3 RoPE scaling (tk's keys plus rope_freqs.weight). */
static void test_variants_through_gguf(void)
{
	for (int variant = 0; variant < 3; variant++) {
		tk_model *m = load_ok(TINY), *back = NULL;
		if (!m)
			return;
		tk_model_config *c = &m->config;
		int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
		for (int l = 0; l < c->n_layers; l++) {
			if (variant == 0) {
				add_random(m, "model.layers.%d.self_attn.q_proj.bias", l, q);
				add_random(m, "model.layers.%d.self_attn.k_proj.bias", l, kv);
				add_random(m, "model.layers.%d.self_attn.v_proj.bias", l, kv);
			} else if (variant == 1) {
				add_random(m, "model.layers.%d.self_attn.q_norm.weight", l, c->head_dim);
				add_random(m, "model.layers.%d.self_attn.k_norm.weight", l, c->head_dim);
			}
		}
		if (variant == 0) {
			strcpy(c->architecture, "qwen2");
			c->attention_bias = 1;
		} else if (variant == 1) {
			strcpy(c->architecture, "qwen3");
			c->qk_norm = 1;
		} else {
			c->rope_type = TK_MODEL_ROPE_LLAMA3;
			c->rope_factor = 8;
			c->rope_low_freq_factor = 1;
			c->rope_high_freq_factor = 4;
			c->rope_original_max_positions = 64;
		}
		model_sort_tensors(m);
		TKT_CHECK(tk_model_check(m) == TK_OK, "variant %d: %s", variant, tk_error_message());
		char path[512];
		tmp_path(path, sizeof path, "variant.gguf");
		TKT_CHECK(tk_model_write_gguf(m, path, TK_GGML_F32) == TK_OK, "%s", tk_error_message());
		back = load_ok(path);
		if (back) {
			check_same_model(m, back, 1);
			TKT_CHECK(!strcmp(back->config.architecture, c->architecture), "arch %s",
				  back->config.architecture);
		}
		tk_gguf *g;
		if (tk_gguf_open(&g, path) == TK_OK) {
			const tk_gguf_tensor *t = tk_gguf_find_tensor(g, "blk.0.attn_q.weight");
			const tk_model_tensor *hq = tk_model_find(m, "model.layers.0.self_attn.q_proj.weight");
			int same = t && !memcmp(t->data, hq->data, hq->numel * sizeof(float));
			TKT_CHECK(same == (variant < 2), "variant %d: q rows %s", variant,
				  same ? "not permuted" : "permuted");
			TKT_CHECK((tk_gguf_find_tensor(g, "rope_freqs.weight") != NULL) == (variant == 2),
				  "rope_freqs.weight");
			tk_gguf_close(g);
		}
		tk_model_free(back);
		tk_model_free(m);
	}
}

/* A damaged GGUF of the tiny model (metadata, vocabulary, tensor infos):
 * loading fails cleanly or yields a model that passes its own checks. */
static void test_damaged_gguf(void)
{
	char path[512], bad[512];
	tmp_path(path, sizeof path, "fuzz-src.gguf");
	tmp_path(bad, sizeof bad, "fuzz.gguf");
	tk_model *m = load_ok(TINY);
	if (!m || tk_model_write_gguf(m, path, TK_GGML_F16)) {
		tk_model_free(m);
		return;
	}
	tk_model_free(m);
	tk_gguf *g;
	if (tk_gguf_open(&g, path))
		return;
	size_t header = (size_t)((const unsigned char *)g->tensors[0].data - g->file->data);
	size_t size = g->file->size;
	unsigned char *orig = malloc(size), *copy = malloc(size);
	memcpy(orig, g->file->data, size);
	tk_gguf_close(g);
	int loaded = 0;
	for (int round = 0; round < 400; round++) {
		memcpy(copy, orig, size);
		size_t n = size;
		if (round % 4 == 0) {
			n = tkt_rand64() % size; /* truncated */
		} else {
			for (int k = 0; k < 1 + round % 3; k++)
				copy[tkt_rand64() % header] = (unsigned char)tkt_rand64();
		}
		unlink(bad); /* anew: a truncated file is flushed at close */
		FILE *f = fopen(bad, "wb");
		fwrite(copy, 1, n, f);
		fclose(f);
		if (tk_model_load(&m, bad) == TK_OK) {
			loaded++;
			TKT_CHECK(tk_model_check(m) == TK_OK, "round %d", round);
			tk_model_free(m);
		} else {
			TKT_CHECK(strstr(tk_error_message(), bad) != NULL, "round %d: %s", round,
				  tk_error_message());
		}
	}
	TKT_CHECK(loaded < 400, "every damaged file loaded");
	free(orig);
	free(copy);
}

int main(void)
{
	TKT_RUN(test_tiny_from_hf);
	TKT_RUN(test_tiny_gguf_roundtrip);
	TKT_RUN(test_tiny_gguf_f16);
	TKT_RUN(test_tiny_tkc_roundtrip);
	TKT_RUN(test_bf16_folder);
	TKT_RUN(test_variants_through_gguf);
	TKT_RUN(test_config_json);
	TKT_RUN(test_config_validate_finite);
	TKT_RUN(test_fingerprint);
	TKT_RUN(test_describe);
	TKT_RUN(test_smollm2);
	TKT_RUN(test_bad_models);
	TKT_RUN(test_damaged_gguf);
	return tkt_done();
}
