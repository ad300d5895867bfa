/* The decoder forward on the tiny Llamas: logits against transformers'
 * (tests/fixtures/logits/, scripts/oracle/logits_fixtures.py), greedy
 * generation, LoRA against PEFT, batch invariance bit for bit, adapters
 * saved and loaded, and the errors of a bad run. */
#include "tkt.h"

#include "kernels.h"
#include "tk_error.h"
#include "tk_forward.h"
#include "tk_lora.h"
#include "tk_safetensors.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#include "tk_dtype.h"
#include "tk_gguf.h"
#include "tk_model.h"

#define FIX "tests/fixtures/"
#define VOCAB 512

typedef struct fixture {
	cJSON *json;
	size_t n_prompts;
	int32_t *ids[8];
	size_t len[8];
	float *logits;   // (Σ len, VOCAB)
	size_t rows;
} fixture;

static char *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*size = (size_t)n;
	}
	return buf;
}

static int32_t *id_array(const cJSON *a, size_t *n)
{
	*n = (size_t)cJSON_GetArraySize(a);
	int32_t *ids = malloc((*n + 1) * sizeof *ids);
	size_t i = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, a) ids[i++] = (int32_t)v->valueint;
	return ids;
}

static int fixture_load(fixture *fx, const char *name)
{
	memset(fx, 0, sizeof *fx);
	char path[256];
	size_t size;
	snprintf(path, sizeof path, FIX "logits/%s.json", name);
	char *text = slurp(path, &size);
	fx->json = text ? cJSON_Parse(text) : NULL;
	free(text);
	if (!fx->json)
		return -1;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(fx->json, "prompts")) {
		fx->ids[fx->n_prompts] = id_array(p, &fx->len[fx->n_prompts]);
		fx->n_prompts++;
	}
	snprintf(path, sizeof path, FIX "logits/%s.f32", name);
	fx->logits = (float *)slurp(path, &size);
	fx->rows = size / (VOCAB * sizeof(float));
	return fx->logits ? 0 : -1;
}

static void fixture_free(fixture *fx)
{
	for (size_t i = 0; i < fx->n_prompts; i++)
		free(fx->ids[i]);
	free(fx->logits);
	cJSON_Delete(fx->json);
}

static tk_backend *backend(void)
{
	static tk_backend *be;
	if (!be && tk_backend_open(&be, "cpu", 0))
		return NULL;
	return be;
}

static tk_forward *open_forward(struct tk_model *m, const tk_lora *lora, size_t seqs,
				size_t context, size_t tokens)
{
	tk_forward *f = NULL;
	int rc = tk_forward_open(&f, backend(), m, lora, seqs, context, tokens);
	TKT_CHECK(rc == TK_OK, "tk_forward_open: %s", tk_error_message());
	return f;
}

/* Logits of every position of prompt p run alone in slot 0. */
static int prompt_logits(tk_forward *f, const fixture *fx, size_t p, float *out)
{
	size_t slot = 0;
	tk_forward_clear(f, slot);
	tk_forward_batch b = {1, &slot, &fx->len[p], fx->ids[p], 1};
	return tk_forward_run(f, &b, out);
}

static double max_abs_error(const float *a, const float *b, size_t n)
{
	double worst = 0;
	for (size_t i = 0; i < n; i++)
		worst = fabs((double)a[i] - b[i]) > worst ? fabs((double)a[i] - b[i]) : worst;
	return worst;
}

static void check_oracle(const char *model_dir, const char *fixture_name, const tk_lora *lora,
			 struct tk_model *m)
{
	fixture fx;
	TKT_CHECK(fixture_load(&fx, fixture_name) == 0, "fixture %s", fixture_name);
	tk_forward *f = open_forward(m, lora, 1, 64, 64);
	float *got = malloc(fx.rows * VOCAB * sizeof *got);
	size_t row = 0;
	for (size_t p = 0; f && p < fx.n_prompts; p++) {
		int rc = prompt_logits(f, &fx, p, got + row * VOCAB);
		TKT_CHECK(rc == TK_OK, "%s prompt %zu: %s", model_dir, p, tk_error_message());
		row += fx.len[p];
	}
	TKT_CHECK(row == fx.rows, "rows %zu vs fixture %zu", row, fx.rows);
	TKT_CHECK_CLOSE(got, fx.logits, fx.rows * VOCAB, 1e-4);
	printf("# %s: max abs error %.3g over %zu logits\n", model_dir,
	       max_abs_error(got, fx.logits, fx.rows * VOCAB), fx.rows * VOCAB);
	free(got);
	tk_forward_close(f);
	fixture_free(&fx);
}

static void test_tiny_llama_logits(void)
{
	struct tk_model *m;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-llama") == 0, "%s", tk_error_message());
	check_oracle("tiny-llama", "tiny-llama", NULL, m);
	tk_model_free(m);
}

static void test_tiny_llama_tied_logits(void)
{
	struct tk_model *m;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-llama-tied") == 0, "%s", tk_error_message());
	check_oracle("tiny-llama-tied", "tiny-llama-tied", NULL, m);
	tk_model_free(m);
}

/* Qwen3 (per-head q/k norms) and Mistral (a window of 8 keys, shorter than
 * the longer prompts) against transformers. */
static void test_family_logits(void)
{
	static const char *const families[] = {"tiny-qwen3", "tiny-mistral"};
	for (size_t i = 0; i < 2; i++) {
		struct tk_model *m;
		char dir[64];
		snprintf(dir, sizeof dir, FIX "%s", families[i]);
		TKT_CHECK(tk_model_load(&m, dir) == 0, "%s", tk_error_message());
		check_oracle(families[i], families[i], NULL, m);
		tk_model_free(m);
	}
}

/* The window changes the logits of tokens past it: without it, the
 * prompt of 21 tokens is far from transformers'. */
static void test_window_matters(void)
{
	struct tk_model *m;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-mistral") == 0, "%s", tk_error_message());
	TKT_CHECK(m->config.sliding_window == 8, "window %d", m->config.sliding_window);
	m->config.sliding_window = 0;
	fixture fx;
	TKT_CHECK(fixture_load(&fx, "tiny-mistral") == 0, "fixture");
	tk_forward *f = open_forward(m, NULL, 1, 64, 64);
	float *got = malloc(fx.len[2] * VOCAB * sizeof *got);
	size_t before = fx.len[0] + fx.len[1];
	TKT_CHECK(f && prompt_logits(f, &fx, 2, got) == TK_OK, "%s", tk_error_message());
	double far_first8 = max_abs_error(got, fx.logits + before * VOCAB, 8 * VOCAB);
	double far_rest = max_abs_error(got + 8 * VOCAB, fx.logits + (before + 8) * VOCAB,
					(fx.len[2] - 8) * VOCAB);
	TKT_CHECK(far_first8 < 1e-4 && far_rest > 1e-2, "full attention: first 8 tokens off by "
		  "%.3g, the rest by %.3g", far_first8, far_rest);
	free(got);
	tk_forward_close(f);
	fixture_free(&fx);
	tk_model_free(m);
}

static size_t argmax(const float *x, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* Greedy decoding of all prompts at once, one slot each. */
static void check_greedy(const char *dir)
{
	struct tk_model *m;
	TKT_CHECK(tk_model_load(&m, dir) == 0, "%s", tk_error_message());
	fixture fx;
	TKT_CHECK(fixture_load(&fx, dir + strlen(FIX)) == 0, "fixture");
	size_t n = fx.n_prompts, slots[8], counts[8], total = 0;
	tk_forward *f = open_forward(m, NULL, n, 64, 64);
	int32_t ids[64 * 8];
	for (size_t i = 0; i < n; i++) {
		slots[i] = i;
		counts[i] = fx.len[i];
		memcpy(ids + total, fx.ids[i], fx.len[i] * sizeof *ids);
		total += fx.len[i];
	}
	float *logits = malloc(n * VOCAB * sizeof *logits);
	int32_t got[8][32];
	tk_forward_batch b = {n, slots, counts, ids, 0};
	for (int step = 0; f && step < 32; step++) {
		int rc = tk_forward_run(f, &b, logits);
		TKT_CHECK(rc == TK_OK, "step %d: %s", step, tk_error_message());
		for (size_t i = 0; i < n; i++) {
			got[i][step] = ids[i] = (int32_t)argmax(logits + i * VOCAB, VOCAB);
			counts[i] = 1;
		}
	}
	const cJSON *g = cJSON_GetObjectItem(fx.json, "greedy");
	for (size_t i = 0; f && i < n; i++)
		for (int s = 0; s < 32; s++) {
			int want = cJSON_GetArrayItem(cJSON_GetArrayItem(g, (int)i), s)->valueint;
			TKT_CHECK(got[i][s] == want, "%s prompt %zu token %d: %d, transformers %d",
				  dir, i, s, got[i][s], want);
		}
	free(logits);
	tk_forward_close(f);
	fixture_free(&fx);
	tk_model_free(m);
}

static void test_greedy_matches_generate(void)
{
	check_greedy(FIX "tiny-llama");
	check_greedy(FIX "tiny-llama-tied");
	check_greedy(FIX "tiny-qwen3");
	check_greedy(FIX "tiny-mistral"); // decode steps 25-53 only see the last 8
}

/* ---- batch invariance ---------------------------------------------------- */

/* Decodes `steps` tokens of a fixed sequence in slot 0, with `others`
 * other sequences (of other lengths) in the same runs, through passes of
 * at most `pass` tokens; keeps slot 0's logits of every step. */
static void decode_with_company(struct tk_model *m, size_t others, size_t pass,
				int steps, float *out)
{
	tk_forward *f = open_forward(m, NULL, 1 + others, 64, pass);
	if (!f)
		return;
	size_t slots[8], counts[8], total = 0;
	int32_t ids[256];
	for (size_t i = 0; i <= others; i++) {
		slots[i] = i;
		counts[i] = i == 0 ? 9 : 3 + 4 * i;
		for (size_t j = 0; j < counts[i]; j++)
			ids[total++] = (int32_t)((j * 31 + i * 7 + 3) % VOCAB);
	}
	float *logits = malloc((1 + others) * VOCAB * sizeof *logits);
	tk_forward_batch b = {1 + others, slots, counts, ids, 0};
	for (int s = 0; s < steps; s++) {
		TKT_CHECK(tk_forward_run(f, &b, logits) == TK_OK, "%s", tk_error_message());
		memcpy(out + (size_t)s * VOCAB, logits, VOCAB * sizeof *out);
		for (size_t i = 0; i <= others; i++) {
			ids[i] = (int32_t)((s * 13 + i * 5 + 1) % VOCAB);
			counts[i] = 1;
		}
	}
	free(logits);
	tk_forward_close(f);
}

static void test_batch_invariance(void)
{
	struct tk_model *m;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-llama") == 0, "%s", tk_error_message());
	enum { STEPS = 6 };
	float *alone = malloc(STEPS * VOCAB * sizeof *alone);
	float *other = malloc(STEPS * VOCAB * sizeof *other);
	decode_with_company(m, 0, 64, STEPS, alone);
	const size_t company[][2] = {{3, 64}, {5, 64}, {5, 4}, {0, 2}, {7, 33}};
	for (size_t c = 0; c < sizeof company / sizeof *company; c++) {
		decode_with_company(m, company[c][0], company[c][1], STEPS, other);
		TKT_CHECK(memcmp(alone, other, STEPS * VOCAB * sizeof *alone) == 0,
			  "slot 0's logits differ with %zu others, passes of %zu",
			  company[c][0], company[c][1]);
	}
	free(alone);
	free(other);
	tk_model_free(m);
}

/* Prefill at once gives the bits of token-by-token decoding, and a forked
 * slot continues exactly as the original. */
static void test_prefill_decode_fork_agree(void)
{
	struct tk_model *m;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-llama") == 0, "%s", tk_error_message());
	fixture fx;
	TKT_CHECK(fixture_load(&fx, "tiny-llama") == 0, "fixture");
	size_t p = 2, n = fx.len[p], slot = 0, one = 1;
	tk_forward *f = open_forward(m, NULL, 2, 64, 64);
	float *all = malloc(n * VOCAB * sizeof *all), *step = malloc(VOCAB * sizeof *step);
	TKT_CHECK(f && prompt_logits(f, &fx, p, all) == TK_OK, "prefill");
	tk_forward_clear(f, 0);
	for (size_t i = 0; i < n; i++) {
		tk_forward_batch b = {1, &slot, &one, fx.ids[p] + i, 0};
		TKT_CHECK(tk_forward_run(f, &b, step) == TK_OK, "decode %zu", i);
		TKT_CHECK(memcmp(step, all + i * VOCAB, VOCAB * sizeof *step) == 0,
			  "position %zu: decode and prefill differ", i);
	}
	tk_forward_fork(f, 1, 0);
	TKT_CHECK(tk_forward_length(f, 1) == n, "fork length %zu", tk_forward_length(f, 1));
	float *a = malloc(2 * VOCAB * sizeof *a);
	size_t slots[2] = {0, 1}, counts[2] = {1, 1};
	int32_t next[2] = {77, 77};
	tk_forward_batch b = {2, slots, counts, next, 0};
	TKT_CHECK(tk_forward_run(f, &b, a) == TK_OK, "after fork");
	TKT_CHECK(memcmp(a, a + VOCAB, VOCAB * sizeof *a) == 0, "forked slot differs");
	free(a);
	free(all);
	free(step);
	tk_forward_close(f);
	fixture_free(&fx);
	tk_model_free(m);
}

/* ---- LoRA ---------------------------------------------------------------- */

static tk_lora *fixture_adapter(struct tk_model *m)
{
	tk_lora_config c = {4, 8.0f, TK_LORA_ALL};
	tk_lora *l = NULL;
	TKT_CHECK(tk_lora_create(&l, m, &c, 1) == TK_OK, "%s", tk_error_message());
	tk_safetensors *st = NULL;
	TKT_CHECK(tk_safetensors_open(&st, FIX "logits/tiny-llama-lora.safetensors") == 0,
		  "%s", tk_error_message());
	for (int layer = 0; l && st && layer < l->n_layers; layer++)
		for (int t = 0; t < TK_LORA_N_TARGETS; t++) {
			tk_lora_pair *p = tk_lora_get(l, layer, t);
			char name[160];
			for (int w = 0; w < 2; w++) {
				tk_lora_tensor_name(name, sizeof name, layer, t, w ? 'B' : 'A');
				const tk_st_tensor *s = tk_safetensors_find(st, name);
				size_t numel = w ? p->out * 4 : 4 * p->in;
				TKT_CHECK(s && s->numel == numel, "%s", name);
				if (s && s->numel == numel)
					memcpy(w ? p->b : p->a, s->data, numel * sizeof(float));
			}
		}
	tk_safetensors_close(st);
	return l;
}

static void test_lora_matches_peft(void)
{
	struct tk_model *m;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-llama") == 0, "%s", tk_error_message());
	tk_lora *l = fixture_adapter(m);
	check_oracle("tiny-llama + LoRA", "tiny-llama-lora", l, m);
	tk_lora_free(l);
	tk_model_free(m);
}

static void test_lora_save_load(void)
{
	struct tk_model *m, *other;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-llama") == 0, "%s", tk_error_message());
	TKT_CHECK(tk_model_load(&other, FIX "tiny-llama-tied") == 0, "%s", tk_error_message());
	tk_lora *l = fixture_adapter(m), *back = NULL;
	char path[512];
	snprintf(path, sizeof path, "%s/adapter.tkc", tkt_tmpdir());
	int rc = tk_lora_save(l, path, "{\"step\": 12, \"kind\": \"overridden\"}");
	TKT_CHECK(rc == TK_OK, "save: %s", tk_error_message());
	rc = tk_lora_load(&back, path, m);
	TKT_CHECK(rc == TK_OK, "load: %s", tk_error_message());
	TKT_CHECK(back && back->config.rank == 4 && back->config.alpha == 8.0f &&
		  back->config.targets == TK_LORA_ALL, "config back");
	TKT_CHECK(back && back->numel == l->numel &&
		  memcmp(back->data, l->data, l->numel * sizeof *l->data) == 0, "tensors back");
	tk_lora_free(back);
	back = NULL;
	rc = tk_lora_load(&back, path, other);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "another base model"),
		  "other base: rc %d %s", rc, tk_error_message());
	TKT_CHECK(back == NULL, "nothing returned");
	/* a fresh adapter (B = 0) changes nothing */
	tk_lora *fresh = NULL;
	tk_lora_config c = {2, 4.0f, TK_LORA_ATTN};
	TKT_CHECK(tk_lora_create(&fresh, m, &c, 3) == TK_OK, "%s", tk_error_message());
	fixture fx;
	fixture_load(&fx, "tiny-llama");
	tk_forward *f = open_forward(m, fresh, 1, 64, 64);
	float *got = malloc(fx.len[1] * VOCAB * sizeof *got);
	TKT_CHECK(f && prompt_logits(f, &fx, 1, got) == TK_OK, "fresh adapter run");
	TKT_CHECK_CLOSE(got, fx.logits + fx.len[0] * VOCAB, fx.len[1] * VOCAB, 1e-4);
	free(got);
	tk_forward_close(f);
	fixture_free(&fx);
	tk_lora_free(fresh);
	tk_lora_free(l);
	tk_model_free(other);
	tk_model_free(m);
}

static void test_lora_targets(void)
{
	unsigned mask;
	TKT_CHECK(tk_lora_targets_from_list("q,v", &mask) == 0 && mask == 0x5u, "q,v %x", mask);
	TKT_CHECK(tk_lora_targets_from_list("attn,down_proj", &mask) == 0 && mask == 0x4fu, "%x", mask);
	TKT_CHECK(tk_lora_targets_from_list("all", &mask) == 0 && mask == TK_LORA_ALL, "%x", mask);
	TKT_CHECK(tk_lora_targets_from_list("q,,v", &mask) == TK_EUSAGE, "empty item");
	TKT_CHECK(tk_lora_targets_from_list("qq", &mask) == TK_EUSAGE, "unknown");
	char name[160];
	tk_lora_tensor_name(name, sizeof name, 3, TK_LORA_UP, 'B');
	TKT_CHECK(strcmp(name, "base_model.model.model.layers.3.mlp.up_proj.lora_B.weight") == 0,
		  "%s", name);
}

/* ---- errors -------------------------------------------------------------- */

/* Rows 0..rows of w (n, k) made exactly Q4_1 (ggml's dequantization of
 * their quantization). */
static void make_q4_rows(float *w, size_t rows, size_t k)
{
	for (size_t b = 0; b < rows * k / 32; b++) {
		float *v = w + b * 32, lo = v[0], hi = v[0];
		for (int t = 1; t < 32; t++)
			lo = v[t] < lo ? v[t] : lo, hi = v[t] > hi ? v[t] : hi;
		uint16_t d = tk_f32_to_f16((hi - lo) / 15.0f), m = tk_f32_to_f16(lo);
		float df = tk_f16_to_f32(d), mf = tk_f16_to_f32(m);
		unsigned char raw[20];
		memcpy(raw, &d, 2), memcpy(raw + 2, &m, 2);
		for (int j = 0; j < 16; j++) {
			int q[2];
			for (int h = 0; h < 2; h++) {
				float e = (v[j + 16 * h] - mf) / df;
				q[h] = e < 0.0f ? 0 : e > 15.0f ? 15 : (int)(e + 0.5f);
			}
			raw[4 + j] = (unsigned char)(q[0] | q[1] << 4);
		}
		tk_ggml_to_f32(TK_GGML_Q4_1, raw, v, 32);
	}
}

/* A small-batch forward guesses a matrix's compact form from its first
 * rows; when a later row does not fit, it packs the matrix again in the
 * form that holds all of it: the same logits as float32 panels. */
static void test_compact_guess_refused(void)
{
	struct tk_model *m;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-llama") == 0, "%s", tk_error_message());
	tk_model_tensor *head = (tk_model_tensor *)tk_model_find(m, "lm_head.weight");
	size_t k = (size_t)head->shape[1], n = (size_t)head->shape[0];
	float *w = malloc(n * k * sizeof *w);
	memcpy(w, head->data, n * k * sizeof *w);
	make_q4_rows(w, 64, k);
	if (head->owned)
		free(head->data);
	head->data = w, head->owned = 1;
	TKT_CHECK(tk_matmul_pack_form(backend(), w, k, 64) == TK_PACK_Q4 &&
		  tk_matmul_pack_form(backend(), w, k, n) == TK_PACK_F32,
		  "the first 64 rows are Q4, the whole matrix is not");
	int32_t ids[5] = {1, 17, 300, 42, 9};
	size_t slot = 0, count = 5;
	tk_forward_batch b = {1, &slot, &count, ids, 1};
	float *small = malloc(5 * VOCAB * sizeof *small), *large = malloc(5 * VOCAB * sizeof *large);
	tk_forward *f = open_forward(m, NULL, 1, 16, 8);
	TKT_CHECK(f && tk_forward_run(f, &b, small) == TK_OK, "%s", tk_error_message());
	tk_forward_close(f);
	f = open_forward(m, NULL, TK_FORWARD_COMPACT_SLOTS + 1, 16, 8);
	TKT_CHECK(f && tk_forward_run(f, &b, large) == TK_OK, "%s", tk_error_message());
	tk_forward_close(f);
	TKT_CHECK(memcmp(small, large, 5 * VOCAB * sizeof *small) == 0,
		  "1 slot (guess refused) and 9 slots (float32) give different logits");
	free(small), free(large);
	tk_model_free(m);
}

static void test_bad_runs(void)
{
	struct tk_model *m;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-llama") == 0, "%s", tk_error_message());
	tk_forward *f = NULL;
	TKT_CHECK(tk_forward_open(&f, backend(), m, NULL, 1, 1000, 8) == TK_EUSAGE,
		  "context beyond max_positions");
	f = open_forward(m, NULL, 2, 8, 4);
	float *logits = malloc(2 * VOCAB * sizeof *logits);
	size_t slot = 0, bad_slot = 2, count = 3, nine = 9;
	int32_t ids[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, bad[3] = {1, 512, 3};
	tk_forward_batch b = {1, &bad_slot, &count, ids, 0};
	TKT_CHECK(tk_forward_run(f, &b, logits) == TK_EUSAGE, "slot out of range");
	b = (tk_forward_batch){1, &slot, &count, bad, 0};
	TKT_CHECK(tk_forward_run(f, &b, logits) == TK_EUSAGE, "token out of vocab");
	b = (tk_forward_batch){1, &slot, &nine, ids, 0};
	TKT_CHECK(tk_forward_run(f, &b, logits) == TK_EUSAGE &&
		  strstr(tk_error_message(), "longer than the context"), "%s", tk_error_message());
	TKT_CHECK(tk_forward_length(f, 0) == 0, "a refused run changes nothing");
	size_t slots[2] = {0, 0}, counts[2] = {1, 1};
	b = (tk_forward_batch){2, slots, counts, ids, 0};
	TKT_CHECK(tk_forward_run(f, &b, logits) == TK_EUSAGE, "slot twice");
	free(logits);
	tk_forward_close(f);
	tk_model_free(m);
}

int main(void)
{
	TKT_RUN(test_tiny_llama_logits);
	TKT_RUN(test_tiny_llama_tied_logits);
	TKT_RUN(test_family_logits);
	TKT_RUN(test_window_matters);
	TKT_RUN(test_greedy_matches_generate);
	TKT_RUN(test_batch_invariance);
	TKT_RUN(test_prefill_decode_fork_agree);
	TKT_RUN(test_lora_matches_peft);
	TKT_RUN(test_lora_save_load);
	TKT_RUN(test_lora_targets);
	TKT_RUN(test_compact_guess_refused);
	TKT_RUN(test_bad_runs);
	tk_backend_close(backend());
	return tkt_done();
}
