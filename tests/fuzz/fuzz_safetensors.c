/* safetensors: the reader on arbitrary files, every tensor converted to
 * float32, and, for every file read, read → write → read gives the same
 * names, shapes and values (written in the file's dtype when its tensors
 * share one, else as F32, which holds every F16 and BF16 value). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_export.h"
#include "tk_safetensors.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

/* The tensor's values as float32.  Its data may lie unaligned in the
 * mapping (tk_safetensors.h) and tk_dtype_to_f32 loads whole elements, so
 * the bytes are copied out first, as the model loader does. */
static float *tensor_values(const tk_st_tensor *t)
{
	float *v = malloc(t->numel ? t->numel * sizeof *v : 1);
	void *aligned = malloc(t->nbytes ? t->nbytes : 1);
	FUZZ_REQUIRE(v && aligned, "out of memory for %zu elements", t->numel);
	if (t->nbytes)
		memcpy(aligned, t->data, t->nbytes);
	tk_dtype_to_f32(t->dtype, aligned, v, t->numel);
	free(aligned);
	return v;
}

/* What the reader promises of a file it accepted. */
static void require_sane(const tk_safetensors *st)
{
	for (size_t i = 0; i < st->count; i++) {
		const tk_st_tensor *t = &st->tensors[i];
		FUZZ_REQUIRE(t->dtype == TK_F32 || t->dtype == TK_F16 || t->dtype == TK_BF16,
			     "tensor '%s': dtype %d", t->name, t->dtype);
		FUZZ_REQUIRE(t->nbytes == t->numel * tk_dtype_size(t->dtype),
			     "tensor '%s': %zu bytes for %zu elements", t->name, t->nbytes, t->numel);
		FUZZ_REQUIRE(t->nbytes == 0 || ((const unsigned char *)t->data >= t->file->data &&
						(const unsigned char *)t->data + t->nbytes <=
							t->file->data + t->file->size),
			     "tensor '%s' lies outside its file", t->name);
		FUZZ_REQUIRE(tk_safetensors_find(st, t->name) != NULL, "tensor '%s' not found",
			     t->name);
	}
}

static int common_dtype(const tk_safetensors *st)
{
	for (size_t i = 1; i < st->count; i++)
		if (st->tensors[i].dtype != st->tensors[0].dtype)
			return TK_F32;
	return st->count ? st->tensors[0].dtype : TK_F32;
}

static void round_trip(const tk_safetensors *st)
{
	const char *path = fuzz_path("copy.safetensors");
	tk_st_entry *entries = calloc(st->count + 1, sizeof *entries);
	float **values = calloc(st->count + 1, sizeof *values);
	FUZZ_REQUIRE(entries && values, "out of memory");
	for (size_t i = 0; i < st->count; i++) {
		const tk_st_tensor *t = &st->tensors[i];
		values[i] = tensor_values(t);
		entries[i] = (tk_st_entry){t->name, t->ndim, t->shape, values[i]};
	}
	int rc = tk_safetensors_write(path, entries, st->count, common_dtype(st), NULL);
	FUZZ_REQUIRE(rc == TK_OK, "the writer refuses what the reader gave: %s", tk_error_message());
	tk_safetensors *back;
	FUZZ_REQUIRE(tk_safetensors_open(&back, path) == TK_OK, "rereading the copy: %s",
		     tk_error_message());
	FUZZ_REQUIRE(back->count == st->count, "%zu tensors became %zu", st->count, back->count);
	for (size_t i = 0; i < st->count; i++) {
		const tk_st_tensor *a = &st->tensors[i], *b = &back->tensors[i];
		FUZZ_REQUIRE(!strcmp(a->name, b->name), "tensor '%s' became '%s'", a->name, b->name);
		FUZZ_REQUIRE(a->ndim == b->ndim && !memcmp(a->shape, b->shape,
							     (size_t)a->ndim * sizeof *a->shape),
			     "tensor '%s': shape differs", a->name);
		float *v = tensor_values(b);
		FUZZ_REQUIRE(fuzz_same_floats(values[i], v, a->numel), "tensor '%s': values differ",
			     a->name);
		free(v);
	}
	tk_safetensors_close(back);
	for (size_t i = 0; i < st->count; i++)
		free(values[i]);
	free(values);
	free(entries);
	remove(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = fuzz_path("in.safetensors");
	fuzz_write_file(in, data, size);
	tk_safetensors *st;
	if (tk_safetensors_open(&st, in) == TK_OK) {
		require_sane(st);
		round_trip(st);
		tk_safetensors_close(st);
	}
	tk_error_clear();
	return 0;
}
