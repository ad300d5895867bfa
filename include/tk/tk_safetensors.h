/* Reader of Hugging Face safetensors files, single or sharded
 * (model.safetensors.index.json).  Files are mapped, never copied: a
 * tensor's data points into the mapping.  Every offset and length of the
 * header is checked against the file size before use.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *  "__metadata__": {..}}, then the data; offsets are relative to its start. */
#ifndef TK_SAFETENSORS_H
#define TK_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tk_mapfile.h"
#include "tk_tkc.h"  /* TK_TENSOR_MAX_DIMS */

typedef struct tk_st_tensor {
	char *name;
	int dtype;                        /* enum tk_dtype: F32, F16 or BF16 */
	int ndim;
	int64_t shape[TK_TENSOR_MAX_DIMS];
	size_t numel;
	size_t nbytes;
	const void *data;                 /* into the mapping; may be unaligned */
	const tk_mapfile *file;           /* the file it lives in */
} tk_st_tensor;

typedef struct tk_safetensors {
	size_t count;
	tk_st_tensor *tensors;            /* (count) in header order, shard by shard */
	size_t n_files;
	tk_mapfile **files;               /* (n_files) */
} tk_safetensors;

/* PATH: a .safetensors file, a model.safetensors.index.json, or a folder
 * holding either (the index wins). */
int tk_safetensors_open(tk_safetensors **out, const char *path);
const tk_st_tensor *tk_safetensors_find(const tk_safetensors *st, const char *name);
void tk_safetensors_close(tk_safetensors *st);  /* safe on NULL */

/* Dtype names as safetensors spells them ("F32", "F16", "BF16"); -1 when
 * tk does not read the type. */
int tk_safetensors_dtype(const char *name);

#endif
