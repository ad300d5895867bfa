/* k-quants (Q2_K..Q8_K) and Q5_0/Q5_1 from GGUF files: every type's
 * values against the gguf Python package's dequantizer, a tiny Llama
 * stored in a mix of them (as a user's Q4_K_M file is) and the same Llama
 * quantized to Q4_K_M by llama.cpp's own quantizer, each against
 * transformers' logits on the dequantized weights, the same bits whatever
 * form the forward packs its weights in, and damaged files refused.
 * Fixtures: scripts/oracle/kquant_fixtures.py and q4km_fixture.py. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kernels.h"
#include "tk_error.h"
#include "tk_forward.h"
#include "tk_gguf.h"
#include "tk_model.h"
#include "tkt.h"

#define FIX "tests/fixtures/"
#define KQUANTS FIX "gguf/kquants.gguf"
#define MODEL FIX "gguf/tiny-kquants.gguf"
#define LLAMA_Q4KM FIX "gguf/tiny-q4km.gguf"
#define VOCAB 512
#define MAX_PROMPTS 8

static cJSON *load_json(const char *path)
{
	char *text = tkt_slurp(path, NULL);
	cJSON *j = text ? cJSON_Parse(text) : NULL;
	free(text);
	return j;
}

static double max_abs_error(const float *a, const float *b, size_t n)
{
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)a[i] - (double)b[i]);
		worst = e > worst ? e : worst;
	}
	return worst;
}

/* One tensor of kquants.gguf against the values gguf-py gave back. */
static void check_type(const tk_gguf *g, const cJSON *e)
{
	const tk_gguf_tensor *t = tk_gguf_find_tensor(g, e->string);
	TKT_CHECK(t != NULL, "%s missing", e->string);
	if (!t)
		return;
	const char *type = cJSON_GetObjectItem(e, "type")->valuestring;
	TKT_CHECK(strcasecmp(tk_ggml_type_name(t->type), type) == 0, "%s: type %s, want %s",
		  t->name, tk_ggml_type_name(t->type), type);
	const cJSON *values = cJSON_GetObjectItem(e, "values");
	size_t n = (size_t)cJSON_GetArraySize(values);
	TKT_CHECK(n == t->numel, "%s: %zu values for %llu elements", t->name, n,
		  (unsigned long long)t->numel);
	float *want = malloc(n * sizeof *want), *got = malloc(t->numel * sizeof *got);
	size_t i = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, values) want[i++] = (float)v->valuedouble;
	TKT_CHECK(tk_gguf_tensor_to_f32(g, t, got) == TK_OK, "%s", tk_error_message());
	TKT_CHECK_CLOSE(got, want, n, 1e-6);
	printf("# %-5s max |err| %.3g over %zu values (oracle: %s)\n", type,
	       max_abs_error(got, want, n), n, cJSON_GetObjectItem(e, "oracle")->valuestring);
	free(want);
	free(got);
}

static void test_values_match_gguf_py(void)
{
	cJSON *expected = load_json(FIX "gguf/kquants.json");
	TKT_CHECK(expected != NULL, "kquants.json");
	tk_gguf *g;
	TKT_CHECK(tk_gguf_open(&g, KQUANTS) == TK_OK, "%s", tk_error_message());
	if (!expected || !g)
		return;
	int seen = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(expected, "tensors")) {
		check_type(g, e);
		seen++;
	}
	TKT_CHECK(seen == 8 && g->n_tensors == 8, "%d expected, %zu in file", seen, g->n_tensors);
	tk_gguf_close(g);
	cJSON_Delete(expected);
}

/* ---- the tiny k-quant Llama ---------------------------------------------- */

typedef struct prompts {
	cJSON *json;
	size_t n;
	int32_t *ids[MAX_PROMPTS];
	size_t len[MAX_PROMPTS];
	size_t rows;      /* Σ len */
	float *logits;    /* (rows, VOCAB): transformers' */
} prompts;

/* name: the fixture's, "tiny-kquants" for logits/tiny-kquants.{json,f32} */
static int prompts_load(prompts *p, const char *name)
{
	char path[256];
	memset(p, 0, sizeof *p);
	snprintf(path, sizeof path, FIX "logits/%s.json", name);
	p->json = load_json(path);
	if (!p->json)
		return -1;
	const cJSON *a;
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(p->json, "prompts")) {
		if (p->n == MAX_PROMPTS)
			return -1;
		size_t n = (size_t)cJSON_GetArraySize(a), i = 0;
		p->ids[p->n] = malloc(n * sizeof(int32_t));
		const cJSON *v;
		cJSON_ArrayForEach(v, a) p->ids[p->n][i++] = (int32_t)v->valueint;
		p->len[p->n++] = n;
		p->rows += n;
	}
	size_t bytes = 0;
	snprintf(path, sizeof path, FIX "logits/%s.f32", name);
	p->logits = (float *)tkt_slurp(path, &bytes);
	return p->logits && bytes == p->rows * VOCAB * sizeof(float) ? 0 : -1;
}

static void prompts_free(prompts *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->ids[i]);
	free(p->logits);
	cJSON_Delete(p->json);
}

/* Logits of every position of every prompt, each run alone in slot 0 of a
 * forward of `seqs` slots (few slots: compact forms; many: float32). */
static float *all_logits(tk_backend *be, const tk_model *m, const prompts *p, size_t seqs)
{
	tk_forward *f = NULL;
	int rc = tk_forward_open(&f, be, m, NULL, seqs, 64, 64);
	TKT_CHECK(rc == TK_OK, "tk_forward_open: %s", tk_error_message());
	float *out = malloc(p->rows * VOCAB * sizeof *out);
	size_t row = 0, slot = 0;
	for (size_t i = 0; f && out && i < p->n; i++) {
		tk_forward_clear(f, slot);
		tk_forward_batch b = {1, &slot, &p->len[i], p->ids[i], 1};
		rc = tk_forward_run(f, &b, out + row * VOCAB);
		TKT_CHECK(rc == TK_OK, "prompt %zu: %s", i, tk_error_message());
		row += p->len[i];
	}
	tk_forward_close(f);
	return out;
}

/* The model at path and a cpu backend; 0 (after a failed check) when
 * either cannot be opened. */
static int open_model(const char *path, tk_model **m, tk_backend **be)
{
	*m = NULL, *be = NULL;
	TKT_CHECK(tk_model_load(m, path) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_backend_open(be, "cpu", 0) == TK_OK, "%s", tk_error_message());
	return *m && *be;
}

static void close_model(tk_model *m, tk_backend *be)
{
	tk_backend_close(be);
	tk_model_free(m);
}

static void check_stored_as(const tk_model *m, const char *name, const char *want)
{
	const tk_model_tensor *t = tk_model_find(m, name);
	TKT_CHECK(t && t->stored_as && strcmp(t->stored_as, want) == 0, "%s stored as %s, want %s",
		  name, t && t->stored_as ? t->stored_as : "?", want);
}

/* The logits of `model` (fixture `name`) within 1e-4 of transformers', and
 * the same bits from the compact and the float32 forward. */
static void check_logits(const tk_model *m, tk_backend *be, const char *name)
{
	prompts p;
	TKT_CHECK(prompts_load(&p, name) == 0, "logits/%s fixture", name);
	if (!p.logits) {
		prompts_free(&p);
		return;
	}
	float *compact = all_logits(be, m, &p, 1);
	float *wide = all_logits(be, m, &p, TK_FORWARD_COMPACT_SLOTS + 1);
	size_t n = p.rows * VOCAB;
	TKT_CHECK_CLOSE(compact, p.logits, n, 1e-4);
	printf("# %s: max |err| %.3g against transformers over %zu logits\n", name,
	       max_abs_error(compact, p.logits, n), n);
	/* the form the weights are held in changes memory, never the bits */
	TKT_CHECK(memcmp(compact, wide, n * sizeof *compact) == 0,
		  "compact and float32 forwards differ by %.3g", max_abs_error(compact, wide, n));
	free(compact);
	free(wide);
	prompts_free(&p);
}

static void test_model_logits_match_transformers(void)
{
	tk_model *m;
	tk_backend *be;
	if (!open_model(MODEL, &m, &be))
		return;
	check_stored_as(m, "model.embed_tokens.weight", "q4_K");
	check_stored_as(m, "model.layers.0.mlp.down_proj.weight", "q6_K");
	check_stored_as(m, "model.layers.1.self_attn.q_proj.weight", "q2_K");
	check_stored_as(m, "model.layers.1.self_attn.o_proj.weight", "q8_K");
	check_stored_as(m, "model.layers.1.mlp.up_proj.weight", "q5_1");
	check_logits(m, be, "tiny-kquants");
	close_model(m, be);
}

/* A file as users download them: llama.cpp's quantizer chose each
 * tensor's type (Q4_K, and Q6_K where Q4_K_M spends more bits) and fitted
 * the blocks' scales to the weights. */
static void test_llama_cpp_q4_k_m(void)
{
	tk_model *m;
	tk_backend *be;
	if (!open_model(LLAMA_Q4KM, &m, &be))
		return;
	check_stored_as(m, "model.layers.0.self_attn.q_proj.weight", "q4_K");
	check_stored_as(m, "lm_head.weight", "q6_K");
	/* every matrix fits its k-quant's compact form: the quantizer's
	 * scales are what the fitting expects */
	size_t matrices = 0;
	for (size_t i = 0; i < m->n_tensors; i++) {
		const tk_model_tensor *t = &m->tensors[i];
		if (t->ndim != 2)
			continue;
		int want = !strcmp(t->stored_as, "q4_K") ? TK_PACK_Q4K : TK_PACK_Q8K;
		int form = tk_matmul_pack_form(be, t->data, (size_t)t->shape[1], (size_t)t->shape[0]);
		TKT_CHECK(form == want, "%s (%s): form %s", t->name, t->stored_as,
			  tk_matmul_pack_form_name(form));
		matrices++;
	}
	TKT_CHECK(matrices == 16, "%zu matrices", matrices);
	check_logits(m, be, "tiny-q4km");
	close_model(m, be);
}

/* The forms the forward may hold each type's values in: those that give
 * every value back exactly.  Q5_0 (d·(q-16), q-16 in -16..15) and Q8_0 are
 * Q8 blocks; the k-quants' scales are float32 products (d·scale) that the
 * f16 scales of Q4 and Q8 do not hold: Q4_K takes Q4K, and Q2_K, Q3_K,
 * Q5_K, Q6_K and Q8_K (and Q5_1, whose 32 levels are more than Q4's) take
 * Q8K, with float32 scales. */
static void test_compact_forms(void)
{
	tk_model *m;
	tk_backend *be;
	if (!open_model(MODEL, &m, &be))
		return;
	static const struct {
		const char *name;
		int form;
	} cases[] = {
		{"model.layers.1.mlp.gate_proj.weight", TK_PACK_Q8},  /* q5_0 */
		{"model.layers.1.mlp.down_proj.weight", TK_PACK_Q8},  /* q8_0 */
		{"model.layers.0.mlp.up_proj.weight", TK_PACK_Q4K},       /* q4_K */
		{"model.layers.0.mlp.down_proj.weight", TK_PACK_Q8K},     /* q6_K */
		{"model.layers.1.self_attn.q_proj.weight", TK_PACK_Q8K},  /* q2_K */
		{"model.layers.1.self_attn.k_proj.weight", TK_PACK_Q8K},  /* q3_K */
		{"model.layers.1.self_attn.v_proj.weight", TK_PACK_Q8K},  /* q5_K */
		{"model.layers.1.mlp.up_proj.weight", TK_PACK_Q8K},       /* q5_1 */
		{"model.layers.1.self_attn.o_proj.weight", TK_PACK_Q8K},  /* q8_K */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const tk_model_tensor *t = tk_model_find(m, cases[i].name);
		TKT_CHECK(t != NULL, "%s", cases[i].name);
		if (!t)
			continue;
		int form = tk_matmul_pack_form(be, t->data, (size_t)t->shape[1],
					       (size_t)t->shape[0]);
		TKT_CHECK(form == cases[i].form, "%s (%s): form %s, want %s", t->name,
			  t->stored_as, tk_matmul_pack_form_name(form),
			  tk_matmul_pack_form_name(cases[i].form));
	}
	close_model(m, be);
}

/* A file cut inside any tensor's data is refused, naming the file. */
static void test_truncated_data(void)
{
	size_t size = 0;
	char *buf = tkt_slurp(KQUANTS, &size);
	tk_gguf *g = NULL;
	TKT_CHECK(buf && tk_gguf_open(&g, KQUANTS) == TK_OK, "%s", tk_error_message());
	if (!buf || !g)
		return;
	char path[512];
	tkt_scratch_path(path, sizeof path, "kquants-cut.gguf");
	for (size_t i = 0; i < g->n_tensors; i++) {
		const tk_gguf_tensor *t = &g->tensors[i];
		size_t end = (size_t)((const unsigned char *)t->data - g->file->data) + t->nbytes;
		FILE *f = fopen(path, "wb");
		TKT_CHECK(f && fwrite(buf, 1, end - 1, f) == end - 1, "writing %s", path);
		if (f)
			fclose(f);
		tk_gguf *cut = NULL;
		TKT_CHECK(tk_gguf_open(&cut, path) == TK_EDATA && !cut, "%s cut opened", t->name);
		TKT_CHECK(strstr(tk_error_message(), path) && strstr(tk_error_message(), "truncated"),
			  "%s", tk_error_message());
	}
	remove(path);
	tk_gguf_close(g);
	free(buf);
}

int main(void)
{
	TKT_RUN(test_values_match_gguf_py);
	TKT_RUN(test_model_logits_match_transformers);
	TKT_RUN(test_llama_cpp_q4_k_m);
	TKT_RUN(test_compact_forms);
	TKT_RUN(test_truncated_data);
	return tkt_done();
}
