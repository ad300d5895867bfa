/* GGUF: the reader, its typed lookups and dequantizers, and the model
 * loader on arbitrary files; and, for every file read, read → write →
 * read keeps the metadata and F32/F16/BF16 tensors the writer can
 * express, in order, with the same values. */
#include "harness.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_gguf.h"
#include "tk_model.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

static float *tensor_values(const tk_gguf *g, const tk_gguf_tensor *t)
{
	float *v = malloc(t->numel ? t->numel * sizeof *v : 1);
	FUZZ_REQUIRE(v != NULL, "out of memory for %llu elements", (unsigned long long)t->numel);
	if (tk_gguf_tensor_to_f32(g, t, v)) {
		free(v);
		return NULL;
	}
	return v;
}

/* Every lookup on every key, the way the model loader asks. */
static void look_up_all(const tk_gguf *g)
{
	for (size_t i = 0; i < g->n_kv; i++) {
		const tk_gguf_kv *kv = &g->kv[i];
		int64_t n;
		double f;
		int b;
		const char *s;
		FUZZ_REQUIRE(tk_gguf_find_kv(g, kv->key) != NULL, "key '%s' not found", kv->key);
		tk_gguf_get_int(g, kv->key, &n);
		tk_gguf_get_float(g, kv->key, &f);
		tk_gguf_get_bool(g, kv->key, &b);
		tk_gguf_get_str(g, kv->key, &s);
		if (kv->type == TK_GGUF_ARRAY)
			for (uint64_t k = 0; k < kv->count; k++)
				tk_gguf_array_int(kv, k);
	}
	for (size_t i = 0; i < g->n_tensors; i++) {
		const tk_gguf_tensor *t = &g->tensors[i];
		FUZZ_REQUIRE(tk_gguf_find_tensor(g, t->name) != NULL, "tensor '%s' not found", t->name);
		free(tensor_values(g, t));
	}
}

/* Whether the writer can say this pair as the reader gave it. */
static int writable_kv(const tk_gguf_kv *kv)
{
	/* the writer lays its tensors out at its own (the default) alignment */
	if (!strcmp(kv->key, "general.alignment"))
		return 0;
	switch (kv->type) {
	case TK_GGUF_UINT32: case TK_GGUF_INT32: case TK_GGUF_FLOAT32: case TK_GGUF_BOOL:
		return 1;
	case TK_GGUF_STRING:
		return strlen(kv->str) == kv->len;
	case TK_GGUF_ARRAY:
		return kv->array_type == TK_GGUF_STRING || kv->array_type == TK_GGUF_INT32;
	}
	return 0;
}

static int writable_tensor(const tk_gguf_tensor *t)
{
	return (t->type == TK_GGML_F32 || t->type == TK_GGML_F16 || t->type == TK_GGML_BF16) &&
	       t->ndim >= 1;
}

static void write_kv(tk_gguf_writer *w, const tk_gguf_kv *kv)
{
	int rc = TK_OK;
	switch (kv->type) {
	case TK_GGUF_UINT32: rc = tk_gguf_set_u32(w, kv->key, (uint32_t)kv->u); break;
	case TK_GGUF_INT32: rc = tk_gguf_set_i32(w, kv->key, (int32_t)kv->i); break;
	case TK_GGUF_FLOAT32: rc = tk_gguf_set_f32(w, kv->key, (float)kv->f); break;
	case TK_GGUF_BOOL: rc = tk_gguf_set_bool(w, kv->key, kv->i != 0); break;
	case TK_GGUF_STRING: rc = tk_gguf_set_str(w, kv->key, kv->str); break;
	case TK_GGUF_ARRAY:
		if (kv->array_type == TK_GGUF_STRING) {
			rc = tk_gguf_set_str_array(w, kv->key, (const char *const *)kv->strs,
						   kv->str_lens, (size_t)kv->count);
		} else {
			int32_t *v = malloc(kv->count ? (size_t)kv->count * sizeof *v : 1);
			FUZZ_REQUIRE(v != NULL, "out of memory");
			for (uint64_t k = 0; k < kv->count; k++)
				v[k] = (int32_t)tk_gguf_array_int(kv, k);
			rc = tk_gguf_set_i32_array(w, kv->key, v, (size_t)kv->count);
			free(v);
		}
		break;
	}
	FUZZ_REQUIRE(rc == TK_OK, "the writer refuses key '%s': %s", kv->key, tk_error_message());
}

static int same_kv(const tk_gguf_kv *a, const tk_gguf_kv *b)
{
	if (strcmp(a->key, b->key) || a->type != b->type)
		return 0;
	switch (a->type) {
	case TK_GGUF_STRING:
		return a->len == b->len && !memcmp(a->str, b->str, a->len);
	case TK_GGUF_BOOL: /* any non-zero byte reads as true, and is written as 1 */
		return (a->i != 0) == (b->i != 0);
	case TK_GGUF_FLOAT32: {
		float x = (float)a->f, y = (float)b->f;
		return fuzz_same_floats(&x, &y, 1);
	}
	case TK_GGUF_ARRAY:
		if (a->array_type != b->array_type || a->count != b->count)
			return 0;
		for (uint64_t k = 0; k < a->count; k++) {
			if (a->array_type == TK_GGUF_STRING
				    ? a->str_lens[k] != b->str_lens[k] ||
					      memcmp(a->strs[k], b->strs[k], a->str_lens[k])
				    : tk_gguf_array_int(a, k) != tk_gguf_array_int(b, k))
				return 0;
		}
		return 1;
	}
	return a->u == b->u;
}

/* Values of the writable tensors, kept alive until the writer closes. */
typedef struct copied {
	float **values;
	size_t n;
} copied;

static void write_copy(const tk_gguf *g, const char *path, copied *keep)
{
	tk_gguf_writer *w;
	FUZZ_REQUIRE(tk_gguf_writer_open(&w, path) == TK_OK, "%s", tk_error_message());
	for (size_t i = 0; i < g->n_kv; i++)
		if (writable_kv(&g->kv[i]))
			write_kv(w, &g->kv[i]);
	keep->values = calloc(g->n_tensors + 1, sizeof *keep->values);
	FUZZ_REQUIRE(keep->values != NULL, "out of memory");
	for (size_t i = 0; i < g->n_tensors; i++) {
		const tk_gguf_tensor *t = &g->tensors[i];
		if (!writable_tensor(t))
			continue;
		float *v = tensor_values(g, t);
		FUZZ_REQUIRE(v != NULL, "tensor '%s' read but does not convert: %s", t->name,
			     tk_error_message());
		keep->values[keep->n++] = v;
		int rc = tk_gguf_add_tensor(w, t->name, t->type, t->ndim, t->ne, v);
		FUZZ_REQUIRE(rc == TK_OK, "the writer refuses tensor '%s': %s", t->name,
			     tk_error_message());
	}
	FUZZ_REQUIRE(tk_gguf_writer_close(w) == TK_OK, "closing the writer: %s",
		     tk_error_message());
}

/* a: the original tensor and its values; b: the copy's, in file h. */
static void require_same_tensor(const tk_gguf_tensor *a, const float *a_values, const tk_gguf *h,
				const tk_gguf_tensor *b)
{
	FUZZ_REQUIRE(!strcmp(a->name, b->name), "tensor '%s' became '%s'", a->name, b->name);
	FUZZ_REQUIRE(a->type == b->type && a->ndim == b->ndim &&
		     !memcmp(a->ne, b->ne, sizeof a->ne), "tensor '%s': type or shape differs",
		     a->name);
	float *v = tensor_values(h, b);
	FUZZ_REQUIRE(v != NULL, "the copy's tensor '%s' does not convert: %s", b->name,
		     tk_error_message());
	FUZZ_REQUIRE(fuzz_same_floats(a_values, v, (size_t)a->numel), "tensor '%s': values differ",
		     a->name);
	free(v);
}

static void round_trip(const tk_gguf *g)
{
	const char *path = fuzz_path("copy.gguf");
	copied keep = {0};
	write_copy(g, path, &keep);
	tk_gguf *h;
	FUZZ_REQUIRE(tk_gguf_open(&h, path) == TK_OK, "rereading the copy: %s", tk_error_message());
	size_t k = 0;
	for (size_t i = 0; i < g->n_kv; i++) {
		if (!writable_kv(&g->kv[i]))
			continue;
		FUZZ_REQUIRE(k < h->n_kv && same_kv(&g->kv[i], &h->kv[k]),
			     "key '%s' did not come back as written", g->kv[i].key);
		k++;
	}
	FUZZ_REQUIRE(k == h->n_kv, "%zu keys written, %zu read back", k, h->n_kv);
	k = 0;
	for (size_t i = 0; i < g->n_tensors; i++) {
		if (!writable_tensor(&g->tensors[i]))
			continue;
		FUZZ_REQUIRE(k < h->n_tensors, "tensor '%s' missing", g->tensors[i].name);
		require_same_tensor(&g->tensors[i], keep.values[k], h, &h->tensors[k]);
		k++;
	}
	FUZZ_REQUIRE(k == h->n_tensors, "%zu tensors written, %zu read back", k, h->n_tensors);
	tk_gguf_close(h);
	for (size_t i = 0; i < keep.n; i++)
		free(keep.values[i]);
	free(keep.values);
	remove(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = fuzz_path("in.gguf");
	fuzz_write_file(in, data, size);
	tk_gguf *g;
	if (tk_gguf_open(&g, in) == TK_OK) {
		look_up_all(g);
		round_trip(g);
		tk_gguf_close(g);
	}
	/* the config and vocabulary from llama.* / tokenizer.ggml.* keys */
	tk_model *m;
	if (tk_model_load(&m, in) == TK_OK)
		tk_model_free(m);
	tk_error_clear();
	return 0;
}
