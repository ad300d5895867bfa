/* Checkpoints (.tkc): JSON metadata plus named tensors, zstd-compressed.
 * Byte layout in man/tk-formats.5. */
#ifndef TK_TKC_H
#define TK_TKC_H

#include <stddef.h>
#include <stdint.h>

#define TK_TENSOR_MAX_DIMS 8

typedef struct tk_tensor_info {
	char *name;
	int dtype;                     /* enum tk_dtype */
	int ndim;
	int64_t shape[TK_TENSOR_MAX_DIMS];
	size_t nbytes;                 /* product(shape) * dtype size */
	void *data;                    /* owned by the checkpoint */
} tk_tensor_info;

typedef struct tk_tkc_writer tk_tkc_writer;

/* meta_json: metadata object as JSON text (model config, LoRA config, base
 * fingerprint, step, optimizer settings, RNG state, data position, kind). */
int tk_tkc_writer_open(tk_tkc_writer **out, const char *path,
		       const char *meta_json, int threads);
int tk_tkc_write_tensor(tk_tkc_writer *w, const char *name, int dtype,
			int ndim, const int64_t *shape, const void *data);
/* Writes the trailer (tensor count), commits the file, frees w. */
int tk_tkc_writer_close(tk_tkc_writer *w);
void tk_tkc_writer_abort(tk_tkc_writer *w);

/* A checkpoint read whole into memory. */
typedef struct tk_tkc {
	char *meta_json;
	size_t count;
	tk_tensor_info *tensors;       /* (count), in file order */
} tk_tkc;

int tk_tkc_read(tk_tkc **out, const char *path);
const tk_tensor_info *tk_tkc_find(const tk_tkc *c, const char *name);
void tk_tkc_free(tk_tkc *c);

#endif
