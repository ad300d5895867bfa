/* Checkpoints (.tkc): the reader on arbitrary streams (the input as a
 * zstd stream, or as the bytes inside one: see fuzz_write_zstd), the
 * metadata-only reader and a model's metadata loader on the same file,
 * and, for every checkpoint read whole, read → write → read gives the
 * same metadata and tensors. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_model.h"
#include "tk_tkc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

static void require_same_tensor(const tk_tensor_info *a, const tk_tensor_info *b)
{
	FUZZ_REQUIRE(!strcmp(a->name, b->name), "tensor '%s' became '%s'", a->name, b->name);
	FUZZ_REQUIRE(a->dtype == b->dtype && a->ndim == b->ndim && a->nbytes == b->nbytes,
		     "tensor '%s': dtype/ndim/nbytes differ", a->name);
	FUZZ_REQUIRE(!memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof *a->shape),
		     "tensor '%s': shape differs", a->name);
	FUZZ_REQUIRE(!a->nbytes || !memcmp(a->data, b->data, a->nbytes), "tensor '%s': data differs",
		     a->name);
}

/* What tk_tkc_read promises of a checkpoint it accepted. */
static void require_sane(const tk_tkc *c)
{
	FUZZ_REQUIRE(c->meta_json != NULL, "no metadata");
	for (size_t i = 0; i < c->count; i++) {
		const tk_tensor_info *t = &c->tensors[i];
		FUZZ_REQUIRE(t->ndim >= 0 && t->ndim <= TK_TENSOR_MAX_DIMS, "ndim %d", t->ndim);
		FUZZ_REQUIRE(tk_tkc_find(c, t->name) == t, "tk_tkc_find('%s') is not that tensor",
			     t->name);
	}
}

static void write_copy(const tk_tkc *c, const char *path)
{
	tk_tkc_writer *w;
	int rc = tk_tkc_writer_open_level(&w, path, c->meta_json, 1, 1);
	FUZZ_REQUIRE(rc == TK_OK, "the writer refuses the metadata the reader gave: %s",
		     tk_error_message());
	for (size_t i = 0; i < c->count; i++) {
		const tk_tensor_info *t = &c->tensors[i];
		rc = tk_tkc_write_tensor(w, t->name, t->dtype, t->ndim, t->shape, t->data);
		FUZZ_REQUIRE(rc == TK_OK, "the writer refuses tensor '%s' the reader gave: %s",
			     t->name, tk_error_message());
	}
	rc = tk_tkc_writer_close(w);
	FUZZ_REQUIRE(rc == TK_OK, "closing the writer: %s", tk_error_message());
}

static void round_trip(const tk_tkc *c)
{
	const char *path = fuzz_path("copy.tkc");
	write_copy(c, path);
	tk_tkc *back;
	FUZZ_REQUIRE(tk_tkc_read(&back, path) == TK_OK, "rereading the copy: %s", tk_error_message());
	FUZZ_REQUIRE(!strcmp(c->meta_json, back->meta_json), "metadata '%s' became '%s'",
		     c->meta_json, back->meta_json);
	FUZZ_REQUIRE(c->count == back->count, "%zu tensors became %zu", c->count, back->count);
	for (size_t i = 0; i < c->count; i++)
		require_same_tensor(&c->tensors[i], &back->tensors[i]);
	tk_tkc_free(back);
	remove(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = fuzz_path("in.tkc");
	fuzz_write_zstd(in, data, size);
	tk_tkc *c;
	if (tk_tkc_read(&c, in) == TK_OK) {
		require_sane(c);
		char *meta;
		FUZZ_REQUIRE(tk_tkc_read_meta(&meta, in) == TK_OK,
			     "the whole checkpoint reads but its metadata alone does not: %s",
			     tk_error_message());
		FUZZ_REQUIRE(!strcmp(meta, c->meta_json), "tk_tkc_read_meta differs from tk_tkc_read");
		free(meta);
		round_trip(c);
		tk_tkc_free(c);
	}
	/* a "full" checkpoint's metadata carries a config and a vocabulary */
	tk_model *m;
	if (tk_model_load(&m, in) == TK_OK)
		tk_model_free(m);
	tk_error_clear();
	return 0;
}
