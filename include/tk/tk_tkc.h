/* Checkpoints (.tkc): JSON metadata plus named tensors, zstd-compressed.
 * Byte layout in man/tk-formats.5. */
#ifndef TK_TKC_H
#define TK_TKC_H

#include <stddef.h>
#include <stdint.h>

#define TK_TENSOR_MAX_DIMS 8

/* Format version written and read (see man/tk-formats.5). */
#define TK_TKC_VERSION 1
/* Limits a reader enforces before it allocates anything. */
#define TK_TKC_MAX_META ((size_t)16 << 20)          /* metadata, bytes */
#define TK_TKC_MAX_NAME 4096                        /* tensor name, bytes */
#define TK_TKC_MAX_BYTES ((uint64_t)1 << 40)        /* one tensor's data */
/* Default zstd level of tk_tkc_writer_open. */
#define TK_TKC_LEVEL 3

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
/* The same with a zstd level (1..19; negative: faster, larger). */
int tk_tkc_writer_open_level(tk_tkc_writer **out, const char *path,
			     const char *meta_json, int threads, int level);
/* Appends one tensor: name 1..TK_TKC_MAX_NAME bytes, unique in the file;
 * dtype an enum tk_dtype; ndim 0 (a scalar) .. TK_TENSOR_MAX_DIMS; data
 * product(shape) elements in host order (stored little-endian).  A
 * rejected tensor (TK_EUSAGE) leaves the file good. */
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
	size_t *index;                 /* (index_size) private: name lookup */
	size_t index_size;
} tk_tkc;

/* Reads and checks the whole checkpoint ("-": stdin): magic, version,
 * metadata, every tensor (dtype, shape, nbytes = product(shape) * dtype
 * size, unique names), the trailer, and the zstd checksum. */
int tk_tkc_read(tk_tkc **out, const char *path);
/* Reads only the header's metadata (malloc'd text), without the tensors
 * (so without the checksum, which covers the whole stream). */
int tk_tkc_read_meta(char **meta_json, const char *path);
/* The tensor called name, or NULL. */
const tk_tensor_info *tk_tkc_find(const tk_tkc *c, const char *name);
void tk_tkc_free(tk_tkc *c);

#endif
