/* Exports: an adapter folded into its base equals W + (alpha/r)·B·A; HF
 * folders load back bit for bit; PEFT folders hold the adapter by PEFT's
 * names; tokenizer.json written from a GGUF vocabulary gives the same
 * tokenizer; output folders appear whole or not at all.
 *
 * With TK_EXPORT_KEEP=DIR set, the adapter and exports are also written
 * to DIR for scripts/oracle/export_check.py. */
#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_gguf.h"
#include "tk_export.h"
#include "tk_safetensors.h"
#include "tkt.h"
#include "tk_forward.h"
#include "kernels.h"

#include <cjson/cJSON.h>

#include <sys/stat.h>
#include <unistd.h>

#define TINY "tests/fixtures/tiny-llama"

static tk_model *load(const char *path)
{
	tk_model *m = NULL;
	int rc = tk_model_load(&m, path);
	TKT_CHECK(rc == TK_OK, "%s: %s", path, tk_error_message());
	return m;
}

/* A rank-4 adapter on every target with B random too, so that folding it
 * changes the weights. */
static tk_lora *random_adapter(const tk_model *m)
{
	tk_lora_config c = {.rank = 4, .alpha = 8, .targets = TK_LORA_ALL};
	tk_lora *l = NULL;
	TKT_CHECK(tk_lora_create(&l, m, &c, 11) == TK_OK, "%s", tk_error_message());
	for (int layer = 0; l && layer < l->n_layers; layer++)
		for (int t = 0; t < TK_LORA_N_TARGETS; t++) {
			tk_lora_pair *p = tk_lora_get(l, layer, t);
			for (size_t i = 0; p && i < p->out * 4; i++)
				p->b[i] = (float)(tkt_uniform() - 0.5) * 0.2f;
		}
	return l;
}

static const char *keep_dir(void)
{
	const char *d = getenv("TK_EXPORT_KEEP");
	return d && *d ? d : NULL;
}

static void test_fold_equals_formula(void)
{
	tk_model *m = load(TINY), *base = load(TINY);
	if (!m || !base)
		return;
	tk_lora *l = random_adapter(m);
	TKT_CHECK(tk_lora_merge_into(m, l) == TK_OK, "%s", tk_error_message());
	const char *name = "model.layers.1.mlp.down_proj.weight";
	const tk_model_tensor *w = tk_model_find(m, name), *w0 = tk_model_find(base, name);
	const tk_lora_pair *p = tk_lora_get(l, 1, TK_LORA_DOWN);
	double worst = 0;
	for (size_t o = 0; o < p->out; o++)
		for (size_t i = 0; i < p->in; i++) {
			double acc = 0;
			for (int k = 0; k < 4; k++)
				acc += (double)p->b[o * 4 + k] * p->a[k * p->in + i];
			double want = w0->data[o * p->in + i] + 2.0 * acc;
			double err = fabs(want - w->data[o * p->in + i]);
			worst = err > worst ? err : worst;
		}
	TKT_CHECK(worst < 1e-6, "worst error %g", worst);
	const tk_model_tensor *norm = tk_model_find(m, "model.norm.weight");
	TKT_CHECK(memcmp(norm->data, tk_model_find(base, "model.norm.weight")->data,
			 norm->numel * 4) == 0, "norms must not change");
	if (keep_dir()) {
		char path[512];
		snprintf(path, sizeof path, "%s/adapter.tkc", keep_dir());
		TKT_CHECK(tk_lora_save(l, path, NULL) == TK_OK, "%s", tk_error_message());
		snprintf(path, sizeof path, "%s/hf", keep_dir());
		TKT_CHECK(tk_export_hf(m, path, TK_F32, 1) == TK_OK, "%s", tk_error_message());
		snprintf(path, sizeof path, "%s/peft", keep_dir());
		TKT_CHECK(tk_export_peft(l, TINY, path, TK_F32, 1) == TK_OK, "%s", tk_error_message());
	}
	tk_lora_free(l);
	tk_model_free(m);
	tk_model_free(base);
}

static void test_hf_export_loads_back_bitwise(void)
{
	char dir[512];
	tkt_scratch_path(dir, sizeof dir, "hf-out");
	tk_model *m = load(TINY);
	if (!m)
		return;
	TKT_CHECK(tk_export_hf(m, dir, TK_F32, 0) == TK_OK, "%s", tk_error_message());
	tk_model *back = load(dir);
	if (back) {
		TKT_CHECK(tk_model_config_equal(&m->config, &back->config), "configs differ");
		TKT_CHECK(tk_model_fingerprint(m) == tk_model_fingerprint(back), "fingerprints differ");
		TKT_CHECK(back->n_tensors == m->n_tensors, "%zu tensors", back->n_tensors);
		for (size_t i = 0; i < m->n_tensors && i < back->n_tensors; i++)
			TKT_CHECK(memcmp(m->tensors[i].data, back->tensors[i].data,
					 m->tensors[i].numel * 4) == 0, "%s differs", m->tensors[i].name);
	}
	/* the tokenizer files of an HF source are copied byte for byte */
	char copied[600];
	snprintf(copied, sizeof copied, "%s/tokenizer.json", dir);
	char *a = tkt_slurp(TINY "/tokenizer.json", NULL), *b = tkt_slurp(copied, NULL);
	TKT_CHECK(a && b && strcmp(a, b) == 0, "tokenizer.json not copied as it was");
	free(a);
	free(b);
	/* bf16 export: every value within bf16 rounding */
	tkt_scratch_path(dir, sizeof dir, "hf-bf16");
	TKT_CHECK(tk_export_hf(m, dir, TK_BF16, 0) == TK_OK, "%s", tk_error_message());
	tk_model *half = load(dir);
	if (half) {
		const tk_model_tensor *x = tk_model_find(m, "model.embed_tokens.weight");
		const tk_model_tensor *y = tk_model_find(half, "model.embed_tokens.weight");
		TKT_CHECK_CLOSE(y->data, x->data, x->numel, 1e-3);
		tk_model_free(half);
	}
	tk_model_free(back);
	tk_model_free(m);
}

static void test_peft_export_names_and_values(void)
{
	tk_model *m = load(TINY);
	if (!m)
		return;
	tk_lora *l = random_adapter(m);
	char dir[512], file[600];
	tkt_scratch_path(dir, sizeof dir, "peft-out");
	TKT_CHECK(tk_export_peft(l, "tiny-llama", dir, TK_F32, 0) == TK_OK, "%s", tk_error_message());
	snprintf(file, sizeof file, "%s/adapter_model.safetensors", dir);
	tk_safetensors *st = NULL;
	TKT_CHECK(tk_safetensors_open(&st, file) == TK_OK, "%s", tk_error_message());
	if (st) {
		TKT_CHECK(st->count == 2 * 2 * TK_LORA_N_TARGETS, "%zu tensors", st->count);
		const tk_st_tensor *b = tk_safetensors_find(st,
			"base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
		const tk_lora_pair *p = tk_lora_get(l, 1, TK_LORA_V);
		TKT_CHECK(b && b->ndim == 2 && b->shape[0] == 32 && b->shape[1] == 4, "lora_B shape");
		TKT_CHECK(b && memcmp(b->data, p->b, p->out * 4 * 4) == 0, "lora_B values");
		tk_safetensors_close(st);
	}
	snprintf(file, sizeof file, "%s/adapter_config.json", dir);
	char *config = tkt_slurp(file, NULL);
	TKT_CHECK(config && strstr(config, "\"peft_type\":\t\"LORA\"") && strstr(config, "\"r\":\t4") &&
		  strstr(config, "\"down_proj\""), "adapter_config.json:\n%s", config);
	free(config);
	tk_lora_free(l);
	tk_model_free(m);
}

static void test_tokenizer_json_from_gguf_vocabulary(void)
{
	char gguf[512], dir[512];
	tk_model *m = load(TINY);
	if (!m)
		return;
	tkt_scratch_path(gguf, sizeof gguf, "tiny.gguf");
	TKT_CHECK(tk_model_write_gguf(m, gguf, TK_GGML_F32) == TK_OK, "%s", tk_error_message());
	tk_model *g = load(gguf);
	if (!g) {
		tk_model_free(m);
		return;
	}
	tkt_scratch_path(dir, sizeof dir, "from-gguf");
	TKT_CHECK(tk_export_hf(g, dir, TK_F32, 0) == TK_OK, "%s", tk_error_message());
	tk_model *back = load(dir);
	if (back) {
		TKT_CHECK(tk_tokenizer_fingerprint(back->tokenizer) == tk_tokenizer_fingerprint(m->tokenizer),
			  "the written tokenizer.json is another tokenizer");
		const char *text = "Hello  world, 12345 <|im_end|> caf\xc3\xa9\n\n\tx";
		tk_tokens x = {0}, y = {0};
		tk_tokenizer_encode(m->tokenizer, text, strlen(text), TK_ENCODE_SPECIAL, &x);
		tk_tokenizer_encode(back->tokenizer, text, strlen(text), TK_ENCODE_SPECIAL, &y);
		TKT_CHECK(x.n == y.n && memcmp(x.ids, y.ids, x.n * 4) == 0, "ids differ");
		TKT_CHECK(tk_tokenizer_chat_template(back->tokenizer) != NULL, "chat template lost");
		tk_tokens_free(&x);
		tk_tokens_free(&y);
		tk_model_free(back);
	}
	tk_model_free(g);
	tk_model_free(m);
}

/* Every tokenizer variant the tokenizer tests know (pre-tokenizers, NFC,
 * added-token flags) survives tokenizer.json written from its vocabulary. */
static void test_tokenizer_json_variants_round_trip(void)
{
	static const char *const variants[] = {"added", "digits", "llama3", "nfc", "prefix-space", "qwen2"};
	for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
		char src[256], out[512];
		snprintf(src, sizeof src, "tests/fixtures/tokenizer/variant-%s.json", variants[i]);
		tkt_scratch_path(out, sizeof out, "variant-out.json");
		tk_tokenizer *a = NULL, *b = NULL;
		TKT_CHECK(tk_tokenizer_load_json(&a, src, NULL) == TK_OK, "%s", tk_error_message());
		if (!a)
			continue;
		TKT_CHECK(tk_tokenizer_write_hf(a, out, NULL) == TK_OK, "%s", tk_error_message());
		TKT_CHECK(tk_tokenizer_load_json(&b, out, NULL) == TK_OK, "%s: %s", variants[i], tk_error_message());
		TKT_CHECK(b && tk_tokenizer_fingerprint(a) == tk_tokenizer_fingerprint(b),
			  "%s: another tokenizer after the round trip", variants[i]);
		tk_tokenizer_free(a);
		tk_tokenizer_free(b);
	}
}

/* tk_model_load_meta: the same config, tokenizer and fingerprint as a full
 * load, from every format, without a weight. */
static void test_load_meta_matches_full_load(void)
{
	char gguf[512], tkc[512];
	tk_model *m = load(TINY);
	if (!m)
		return;
	tkt_scratch_path(gguf, sizeof gguf, "meta.gguf");
	tkt_scratch_path(tkc, sizeof tkc, "meta.tkc");
	TKT_CHECK(tk_model_write_gguf(m, gguf, TK_GGML_F32) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_model_write_tkc(m, tkc) == TK_OK, "%s", tk_error_message());
	const char *paths[3] = {TINY, gguf, tkc};
	for (int i = 0; i < 3; i++) {
		tk_model *meta = NULL;
		TKT_CHECK(tk_model_load_meta(&meta, paths[i]) == TK_OK, "%s: %s", paths[i], tk_error_message());
		if (!meta)
			continue;
		TKT_CHECK(meta->n_tensors == 0, "%s: %zu tensors read", paths[i], meta->n_tensors);
		TKT_CHECK(meta->tokenizer != NULL, "%s: no tokenizer", paths[i]);
		TKT_CHECK(tk_model_config_equal(&meta->config, &m->config), "%s: config differs", paths[i]);
		TKT_CHECK(tk_model_fingerprint(meta) == tk_model_fingerprint(m), "%s: fingerprint differs", paths[i]);
		tk_model_free(meta);
	}
	tk_model_free(m);
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void test_outdir_whole_or_nothing(void)
{
	char dir[512], marker[600];
	tkt_scratch_path(dir, sizeof dir, "outdir");
	tk_outdir *d = NULL;
	TKT_CHECK(tk_outdir_open(&d, dir, 0) == TK_OK, "%s", tk_error_message());
	FILE *f = fopen(tk_outdir_file(d, "a.txt"), "w");
	if (f)
		fclose(f);
	TKT_CHECK(!exists(dir), "final folder visible before commit");
	tk_outdir_abort(d);
	TKT_CHECK(!exists(dir), "aborted folder exists");
	TKT_CHECK(tk_outdir_open(&d, dir, 0) == TK_OK, "%s", tk_error_message());
	f = fopen(tk_outdir_file(d, "old.txt"), "w");
	if (f)
		fclose(f);
	TKT_CHECK(tk_outdir_commit(d) == TK_OK, "%s", tk_error_message());
	int rc = tk_outdir_open(&d, dir, 0);
	TKT_CHECK(rc == TK_ECANTCREAT && strstr(tk_error_message(), "--force"), "rc=%d %s", rc,
		  tk_error_message());
	TKT_CHECK(tk_outdir_open(&d, dir, 1) == TK_OK, "%s", tk_error_message());
	f = fopen(tk_outdir_file(d, "new.txt"), "w");
	if (f)
		fclose(f);
	TKT_CHECK(tk_outdir_commit(d) == TK_OK, "%s", tk_error_message());
	snprintf(marker, sizeof marker, "%s/new.txt", dir);
	TKT_CHECK(exists(marker), "new folder not in place");
	snprintf(marker, sizeof marker, "%s/old.txt", dir);
	TKT_CHECK(!exists(marker), "old folder's files kept");
}

/* All logits of ids through tk's forward (what tk-sample runs). */
static float *tk_logits(const tk_model *m, const tk_lora *l, const int32_t *ids, size_t n)
{
	tk_backend *be = NULL;
	tk_forward *f = NULL;
	float *out = malloc(n * (size_t)m->config.vocab * sizeof *out);
	size_t slot = 0;
	tk_forward_batch b = {1, &slot, &n, ids, 1};
	int rc = tk_backend_open(&be, "cpu", 1);
	if (!rc)
		rc = tk_forward_open(&f, be, m, l, 1, 64, 64);
	if (!rc)
		rc = tk_forward_run(f, &b, out);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	tk_forward_close(f);
	tk_backend_close(be);
	if (rc) {
		free(out);
		return NULL;
	}
	return out;
}

/* PEFT (base + the adapter) is the reference; tk with the adapter applied
 * on the fly and tk on the model with it folded in must both match it. */
static void test_logits_match_peft(void)
{
	char *json = tkt_slurp("tests/fixtures/export/peft_logits.json", NULL);
	cJSON *fx = json ? cJSON_Parse(json) : NULL;
	free(json);
	tk_model *m = load(TINY), *merged = load(TINY);
	tk_lora *l = NULL;
	TKT_CHECK(fx && m && merged, "fixture or model missing");
	if (!fx || !m || !merged)
		goto done;
	int rc = tk_lora_load(&l, "tests/fixtures/export/adapter.tkc", m);
	TKT_CHECK(rc == TK_OK, "%s (regenerate with scripts/oracle/export_check.py)", tk_error_message());
	if (rc)
		goto done;
	TKT_CHECK(tk_lora_merge_into(merged, l) == TK_OK, "%s", tk_error_message());
	const cJSON *prompt;
	cJSON_ArrayForEach(prompt, cJSON_GetObjectItem(fx, "prompts")) {
		const cJSON *toks = cJSON_GetObjectItem(prompt, "tokens"), *rows = cJSON_GetObjectItem(prompt, "logits");
		size_t n = (size_t)cJSON_GetArraySize(toks), vocab = (size_t)m->config.vocab, k = 0;
		int32_t ids[64];
		float *want = malloc(n * vocab * sizeof *want);
		const cJSON *v, *row;
		cJSON_ArrayForEach(v, toks) ids[k++] = (int32_t)v->valueint;
		k = 0;
		cJSON_ArrayForEach(row, rows) cJSON_ArrayForEach(v, row) want[k++] = (float)v->valuedouble;
		float *on_the_fly = tk_logits(m, l, ids, n);
		float *folded = tk_logits(merged, NULL, ids, n);
		if (on_the_fly)
			TKT_CHECK_CLOSE(on_the_fly, want, n * vocab, 1e-4);
		if (folded)
			TKT_CHECK_CLOSE(folded, want, n * vocab, 1e-4);
		free(on_the_fly);
		free(folded);
		free(want);
	}
done:
	cJSON_Delete(fx);
	tk_lora_free(l);
	tk_model_free(m);
	tk_model_free(merged);
}

int main(void)
{
	TKT_RUN(test_fold_equals_formula);
	TKT_RUN(test_hf_export_loads_back_bitwise);
	TKT_RUN(test_peft_export_names_and_values);
	TKT_RUN(test_tokenizer_json_from_gguf_vocabulary);
	TKT_RUN(test_tokenizer_json_variants_round_trip);
	TKT_RUN(test_load_meta_matches_full_load);
	TKT_RUN(test_outdir_whole_or_nothing);
	TKT_RUN(test_logits_match_peft);
	return tkt_done();
}
