/* GGUF reader, dequantizer and writer: metadata of every value type and
 * tensors of every type tk reads against the gguf Python package
 * (tests/fixtures/gguf/), the real SmolLM2 file when present, the writer
 * round trip, and hostile files (unknown type, truncation at every byte,
 * random damage). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_gguf.h"
#include "tkt.h"

#define TYPES "tests/fixtures/gguf/types.gguf"

static unsigned char *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
		buf[n] = 0;
	*size = (size_t)n;
	return buf;
}

static void spit(const char *path, const void *data, size_t n)
{
	/* a new file each time: truncating one makes ext4 flush it at close */
	unlink(path);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(data, 1, n, f);
		fclose(f);
	}
}

static void tmp_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tkt_tmpdir(), name);
}

static cJSON *load_json(const char *path)
{
	size_t n;
	char *text = (char *)slurp(path, &n);
	cJSON *j = text ? cJSON_Parse(text) : NULL;
	free(text);
	return j;
}

static void test_metadata_types(void)
{
	tk_gguf *g;
	int rc = tk_gguf_open(&g, TYPES);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	TKT_CHECK(g->version == 3 && g->alignment == 32, "v%u align %llu", g->version,
		  (unsigned long long)g->alignment);
	static const struct {
		const char *key;
		int64_t want;
	} ints[] = {
		{"test.u8", 200}, {"test.i8", -100}, {"test.u16", 60000}, {"test.i16", -30000},
		{"test.u32", 4000000000ll}, {"test.i32", -2000000000}, {"test.u64", 1ll << 40},
		{"test.i64", -(1ll << 40)},
	};
	for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
		int64_t v = 0;
		rc = tk_gguf_get_int(g, ints[i].key, &v);
		TKT_CHECK(rc == TK_OK && v == ints[i].want, "%s = %lld", ints[i].key, (long long)v);
	}
	double f = 0;
	TKT_CHECK(tk_gguf_get_float(g, "test.f32", &f) == TK_OK && f == 0.15625, "f32 %g", f);
	TKT_CHECK(tk_gguf_get_float(g, "test.f64", &f) == TK_OK && f == 2.718281828459045,
		  "f64 %.17g", f);
	int b = 0;
	TKT_CHECK(tk_gguf_get_bool(g, "test.bool", &b) == TK_OK && b == 1, "bool");
	const char *s = NULL;
	TKT_CHECK(tk_gguf_get_str(g, "test.string", &s) == TK_OK && s &&
		  strcmp(s, "h\xc3\xa9llo w\xc3\xb6rld") == 0, "string %s", s ? s : "(null)");
	TKT_CHECK(tk_gguf_get_str(g, "general.architecture", &s) == TK_OK &&
		  strcmp(s, "llama") == 0, "architecture");
	const tk_gguf_kv *a = tk_gguf_find_kv(g, "test.i32_array");
	const int64_t want_a[5] = {3, -1, 4, -1, 5};
	TKT_CHECK(a && a->type == TK_GGUF_ARRAY && a->count == 5, "i32 array");
	for (uint64_t i = 0; a && i < 5; i++)
		TKT_CHECK(tk_gguf_array_int(a, i) == want_a[i], "[%llu]", (unsigned long long)i);
	const tk_gguf_kv *sa = tk_gguf_find_kv(g, "test.str_array");
	const char *want_s[4] = {"a", "", "\xc4\xa0the", "\xe6\x97\xa5\xe6\x9c\xac"};
	TKT_CHECK(sa && sa->array_type == TK_GGUF_STRING && sa->count == 4, "string array");
	for (uint64_t i = 0; sa && i < 4; i++)
		TKT_CHECK(strcmp(sa->strs[i], want_s[i]) == 0 && sa->str_lens[i] == strlen(want_s[i]),
			  "[%llu] %s", (unsigned long long)i, sa->strs[i]);
	/* typed lookups refuse the wrong type and report absence */
	int64_t v;
	TKT_CHECK(tk_gguf_get_int(g, "test.string", &v) == TK_EDATA, "string as int");
	TKT_CHECK(tk_gguf_get_int(g, "test.none", &v) == TK_END, "absent key");
	tk_gguf_close(g);
}

static void check_tensor_values(const tk_gguf *g, const cJSON *e, const char *values_key,
				size_t start)
{
	const tk_gguf_tensor *t = tk_gguf_find_tensor(g, e->string);
	TKT_CHECK(t != NULL, "%s missing", e->string);
	if (!t)
		return;
	const char *type = cJSON_GetObjectItem(e, "type")->valuestring;
	TKT_CHECK(strcmp(tk_ggml_type_name(t->type), type) == 0, "%s: type %s, want %s",
		  e->string, tk_ggml_type_name(t->type), type);
	const cJSON *ne = cJSON_GetObjectItem(e, "ne");
	for (int d = 0; d < cJSON_GetArraySize(ne); d++)
		TKT_CHECK(t->ne[d] == (uint64_t)cJSON_GetArrayItem(ne, d)->valuedouble,
			  "%s ne[%d]", e->string, d);
	float *got = malloc((size_t)t->numel * sizeof *got);
	TKT_CHECK(tk_gguf_tensor_to_f32(g, t, got) == TK_OK, "%s", tk_error_message());
	const cJSON *vals = cJSON_GetObjectItem(e, values_key);
	size_t n = (size_t)cJSON_GetArraySize(vals);
	float *want = malloc(n * sizeof *want + 1);
	size_t i = 0;
	for (const cJSON *v = vals->child; v; v = v->next)
		want[i++] = (float)v->valuedouble;
	TKT_CHECK(start + n <= t->numel, "%s: sample past the end", e->string);
	if (start + n <= t->numel)
		TKT_CHECK_CLOSE(got + start, want, n, 1e-6);
	free(want);
	free(got);
}

static void test_tensor_types(void)
{
	tk_gguf *g;
	cJSON *expected = load_json("tests/fixtures/gguf/types.json");
	TKT_CHECK(expected != NULL, "types.json");
	int rc = tk_gguf_open(&g, TYPES);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc || !expected) {
		cJSON_Delete(expected);
		return;
	}
	int seen = 0;
	for (const cJSON *e = cJSON_GetObjectItem(expected, "tensors")->child; e; e = e->next) {
		check_tensor_values(g, e, "values", 0);
		seen++;
	}
	TKT_CHECK(seen == 6 && g->n_tensors == 6, "%d expected, %zu in file", seen, g->n_tensors);
	cJSON_Delete(expected);
	tk_gguf_close(g);
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

static void test_smollm2_dequantized(void)
{
	char buf[1024];
	const char *path = smollm2_path(buf, sizeof buf);
	if (!path)
		TKT_SKIP("SmolLM2 GGUF absent (scripts/get-model.sh smollm2-135m-instruct)");
	cJSON *expected = load_json("tests/fixtures/gguf/smollm2-sample.json");
	tk_gguf *g;
	int rc = tk_gguf_open(&g, path);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc || !expected) {
		cJSON_Delete(expected);
		return;
	}
	TKT_CHECK(g->n_tensors == 272, "%zu tensors", g->n_tensors);
	int types_seen = 0;
	for (const cJSON *e = cJSON_GetObjectItem(expected, "tensors")->child; e; e = e->next) {
		size_t start = (size_t)cJSON_GetObjectItem(e, "start")->valuedouble;
		check_tensor_values(g, e, "values", start);
		check_tensor_values(g, e, "head", 0);
		types_seen++;
	}
	TKT_CHECK(types_seen >= 3, "%d tensors sampled", types_seen);
	const tk_gguf_kv *tokens = tk_gguf_find_kv(g, "tokenizer.ggml.tokens");
	TKT_CHECK(tokens && tokens->count == 49152 && strcmp(tokens->strs[0], "<|endoftext|>") == 0,
		  "vocabulary");
	cJSON_Delete(expected);
	tk_gguf_close(g);
}

/* Q4_0 and Q8_0 blocks built by hand: scale 0.5 (f16 0x3800). */
static void test_block_layouts(void)
{
	unsigned char q8[34], q4[18], q41[20];
	float out[32];
	q8[0] = 0x00, q8[1] = 0x38;
	for (int j = 0; j < 32; j++)
		q8[2 + j] = (unsigned char)(int8_t)(j - 16);
	tk_ggml_to_f32(TK_GGML_Q8_0, q8, out, 32);
	for (int j = 0; j < 32; j++)
		TKT_CHECK(out[j] == 0.5f * (float)(j - 16), "q8_0[%d] = %g", j, out[j]);
	q4[0] = 0x00, q4[1] = 0x38;
	for (int j = 0; j < 16; j++)
		q4[2 + j] = (unsigned char)(j | (15 - j) << 4);
	tk_ggml_to_f32(TK_GGML_Q4_0, q4, out, 32);
	for (int j = 0; j < 16; j++)
		TKT_CHECK(out[j] == 0.5f * (float)(j - 8) && out[16 + j] == 0.5f * (float)(7 - j),
			  "q4_0[%d] = %g, [%d] = %g", j, out[j], 16 + j, out[16 + j]);
	q41[0] = 0x00, q41[1] = 0x38, q41[2] = 0x00, q41[3] = 0xbc; /* m = -1 */
	memcpy(q41 + 4, q4 + 2, 16);
	tk_ggml_to_f32(TK_GGML_Q4_1, q41, out, 32);
	for (int j = 0; j < 16; j++)
		TKT_CHECK(out[j] == 0.5f * (float)j - 1 && out[16 + j] == 0.5f * (float)(15 - j) - 1,
			  "q4_1[%d] = %g", j, out[j]);
}

static void test_writer_roundtrip(void)
{
	char path[512];
	tmp_path(path, sizeof path, "written.gguf");
	float a[2 * 3] = {1, -2, 3.5f, 0.1f, -1e-3f, 65504};
	float b[40];
	for (int i = 0; i < 40; i++)
		b[i] = (float)(i - 20) / 7.0f;
	tk_gguf_writer *w;
	TKT_CHECK(tk_gguf_writer_open(&w, path) == TK_OK, "%s", tk_error_message());
	const char *strs[3] = {"x", "", "yz"};
	const int32_t ints[3] = {-7, 0, 7};
	tk_gguf_set_str(w, "general.architecture", "llama");
	tk_gguf_set_u32(w, "k.u32", 123456);
	tk_gguf_set_i32(w, "k.i32", -5);
	tk_gguf_set_f32(w, "k.f32", 0.25f);
	tk_gguf_set_bool(w, "k.bool", 1);
	tk_gguf_set_str_array(w, "k.strs", strs, NULL, 3);
	tk_gguf_set_i32_array(w, "k.ints", ints, 3);
	const uint64_t ne_a[2] = {3, 2}, ne_b[1] = {40};
	tk_gguf_add_tensor(w, "a", TK_GGML_F32, 2, ne_a, a);
	tk_gguf_add_tensor(w, "b16", TK_GGML_F16, 1, ne_b, b);
	tk_gguf_add_tensor(w, "bb16", TK_GGML_BF16, 1, ne_b, b);
	TKT_CHECK(tk_gguf_add_tensor(w, "q", TK_GGML_Q4_K, 1, ne_b, b) == TK_EUSAGE, "q4_K write");
	TKT_CHECK(tk_gguf_writer_close(w) != TK_OK, "close after a failed add must fail");
	TKT_CHECK(access(path, F_OK) != 0, "a failed writer left %s", path);

	TKT_CHECK(tk_gguf_writer_open(&w, path) == TK_OK, "%s", tk_error_message());
	tk_gguf_set_str(w, "general.architecture", "llama");
	tk_gguf_set_u32(w, "k.u32", 123456);
	tk_gguf_set_i32(w, "k.i32", -5);
	tk_gguf_set_f32(w, "k.f32", 0.25f);
	tk_gguf_set_bool(w, "k.bool", 1);
	tk_gguf_set_str_array(w, "k.strs", strs, NULL, 3);
	tk_gguf_set_i32_array(w, "k.ints", ints, 3);
	tk_gguf_add_tensor(w, "a", TK_GGML_F32, 2, ne_a, a);
	tk_gguf_add_tensor(w, "b16", TK_GGML_F16, 1, ne_b, b);
	tk_gguf_add_tensor(w, "bb16", TK_GGML_BF16, 1, ne_b, b);
	TKT_CHECK(tk_gguf_writer_close(w) == TK_OK, "%s", tk_error_message());

	tk_gguf *g;
	int rc = tk_gguf_open(&g, path);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	int64_t v;
	double f;
	int bo;
	TKT_CHECK(tk_gguf_get_int(g, "k.u32", &v) == TK_OK && v == 123456, "u32");
	TKT_CHECK(tk_gguf_get_int(g, "k.i32", &v) == TK_OK && v == -5, "i32");
	TKT_CHECK(tk_gguf_get_float(g, "k.f32", &f) == TK_OK && f == 0.25, "f32");
	TKT_CHECK(tk_gguf_get_bool(g, "k.bool", &bo) == TK_OK && bo, "bool");
	const tk_gguf_kv *kv = tk_gguf_find_kv(g, "k.strs");
	TKT_CHECK(kv && kv->count == 3 && !strcmp(kv->strs[2], "yz") && !kv->str_lens[1], "strs");
	kv = tk_gguf_find_kv(g, "k.ints");
	TKT_CHECK(kv && kv->count == 3 && tk_gguf_array_int(kv, 0) == -7, "ints");
	const tk_gguf_tensor *ta = tk_gguf_find_tensor(g, "a");
	TKT_CHECK(ta && ta->ndim == 2 && ta->ne[0] == 3 && ta->ne[1] == 2 &&
		  !memcmp(ta->data, a, sizeof a), "tensor a");
	float got[40], want[40];
	const tk_gguf_tensor *t16 = tk_gguf_find_tensor(g, "b16");
	const tk_gguf_tensor *tb16 = tk_gguf_find_tensor(g, "bb16");
	TKT_CHECK(t16 && tb16, "half tensors");
	if (t16 && tb16) {
		for (int i = 0; i < 40; i++)
			want[i] = tk_f16_to_f32(tk_f32_to_f16(b[i]));
		tk_gguf_tensor_to_f32(g, t16, got);
		TKT_CHECK_CLOSE(got, want, 40, 0);
		for (int i = 0; i < 40; i++)
			want[i] = tk_bf16_to_f32(tk_f32_to_bf16(b[i]));
		tk_gguf_tensor_to_f32(g, tb16, got);
		TKT_CHECK_CLOSE(got, want, 40, 0);
	}
	tk_gguf_close(g);
}

static void expect_error(const char *path, const char *needle)
{
	tk_gguf *g = NULL;
	int rc = tk_gguf_open(&g, path);
	TKT_CHECK(rc != TK_OK && g == NULL, "%s opened", path);
	TKT_CHECK(strstr(tk_error_message(), path) != NULL, "message does not name the file: %s",
		  tk_error_message());
	if (needle)
		TKT_CHECK(strstr(tk_error_message(), needle) != NULL, "'%s' not in: %s", needle,
			  tk_error_message());
	if (!rc)
		tk_gguf_close(g);
}

/* One tensor "x", no metadata: the type field sits at byte 45. */
static void write_one_tensor(const char *path, uint32_t type)
{
	float x[32] = {0};
	const uint64_t ne = 32;
	tk_gguf_writer *w;
	if (tk_gguf_writer_open(&w, path))
		return;
	tk_gguf_add_tensor(w, "x", TK_GGML_F32, 1, &ne, x);
	tk_gguf_writer_close(w);
	size_t n;
	unsigned char *buf = slurp(path, &n);
	for (int i = 0; i < 4; i++)
		buf[45 + i] = (unsigned char)(type >> (8 * i));
	spit(path, buf, n);
	free(buf);
}

static void test_unknown_tensor_type(void)
{
	char path[512];
	tmp_path(path, sizeof path, "unknown-type.gguf");
	write_one_tensor(path, 16);
	expect_error(path, "tensor 'x' has ggml type 16 (iq2_xxs)");
	/* a type tk reads, but 32 elements are not one of its 256-element blocks */
	write_one_tensor(path, TK_GGML_Q4_K);
	expect_error(path, "tensor 'x': row of 32 elements is not a whole number of q4_K blocks");
	write_one_tensor(path, 1000);
	expect_error(path, "'x'");
	write_one_tensor(path, TK_GGML_F32);
	tk_gguf *g;
	TKT_CHECK(tk_gguf_open(&g, path) == TK_OK, "unpatched: %s", tk_error_message());
	tk_gguf_close(g);
}

static void test_truncated_everywhere(void)
{
	size_t size;
	unsigned char *buf = slurp(TYPES, &size);
	tk_gguf *g;
	if (!buf || tk_gguf_open(&g, TYPES))
		return;
	size_t data_end = 0;
	for (size_t i = 0; i < g->n_tensors; i++) {
		size_t end = (size_t)((const unsigned char *)g->tensors[i].data - g->file->data) +
			     g->tensors[i].nbytes;
		data_end = end > data_end ? end : data_end;
	}
	tk_gguf_close(g);
	char path[512];
	tmp_path(path, sizeof path, "cut.gguf");
	int failures_named = 0;
	for (size_t cut = 0; cut < size; cut++) {
		spit(path, buf, cut);
		int rc = tk_gguf_open(&g, path);
		if (rc == TK_OK) {
			TKT_CHECK(cut >= data_end, "cut at %zu of %zu opened", cut, size);
			tk_gguf_close(g);
		} else {
			failures_named += strstr(tk_error_message(), path) != NULL;
			TKT_CHECK(cut < data_end, "cut at %zu (after the data) failed: %s", cut,
				  tk_error_message());
		}
	}
	TKT_CHECK(failures_named == (int)data_end, "%d of %zu messages name the file",
		  failures_named, data_end);
	free(buf);
}

static void test_bad_headers(void)
{
	size_t size;
	unsigned char *buf = slurp(TYPES, &size);
	if (!buf)
		return;
	char path[512];
	tmp_path(path, sizeof path, "bad.gguf");
	unsigned char *copy = malloc(size);
	static const struct {
		size_t at;
		unsigned char byte;
		const char *needle;
	} cases[] = {
		{0, 'X', "bad magic"},
		{4, 1, "version 1"},
		{7, 3, "big-endian"},
		{15, 0x7f, "cannot fit"},  /* tensor count */
		{23, 0x7f, "cannot fit"},  /* metadata count */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		memcpy(copy, buf, size);
		copy[cases[i].at] = cases[i].byte;
		spit(path, copy, size);
		expect_error(path, cases[i].needle);
	}
	free(copy);
	free(buf);
	/* an alignment that is not a power of two */
	tk_gguf_writer *w;
	float x[32] = {0};
	const uint64_t ne = 32;
	if (tk_gguf_writer_open(&w, path))
		return;
	tk_gguf_set_u32(w, "general.alignment", 24);
	tk_gguf_add_tensor(w, "x", TK_GGML_F32, 1, &ne, x);
	tk_gguf_writer_close(w);
	expect_error(path, "general.alignment");
}

/* Random damage anywhere: an error or a valid parse, never a crash; when a
 * damaged file parses, dequantizing all of it stays in bounds. */
static void test_fuzzed(void)
{
	size_t size;
	unsigned char *buf = slurp(TYPES, &size);
	if (!buf)
		return;
	char path[512];
	tmp_path(path, sizeof path, "fuzz.gguf");
	unsigned char *copy = malloc(size);
	int opened = 0;
	for (int round = 0; round < 1000; round++) {
		memcpy(copy, buf, size);
		int hits = 1 + (int)(tkt_rand64() % 4);
		for (int k = 0; k < hits; k++) {
			size_t at = tkt_rand64() % (size < 1200 ? size : 1200); /* the header */
			copy[at] = (unsigned char)tkt_rand64();
		}
		spit(path, copy, size);
		tk_gguf *g;
		if (tk_gguf_open(&g, path) != TK_OK)
			continue;
		opened++;
		for (size_t i = 0; i < g->n_tensors; i++) {
			float *out = malloc((size_t)g->tensors[i].numel * sizeof *out);
			if (out)
				tk_gguf_tensor_to_f32(g, &g->tensors[i], out);
			free(out);
		}
		tk_gguf_close(g);
	}
	TKT_CHECK(opened < 1000, "every damaged file parsed");
	free(copy);
	free(buf);
}

int main(void)
{
	TKT_RUN(test_metadata_types);
	TKT_RUN(test_tensor_types);
	TKT_RUN(test_smollm2_dequantized);
	TKT_RUN(test_block_layouts);
	TKT_RUN(test_writer_roundtrip);
	TKT_RUN(test_unknown_tensor_type);
	TKT_RUN(test_truncated_everywhere);
	TKT_RUN(test_bad_headers);
	TKT_RUN(test_fuzzed);
	return tkt_done();
}
