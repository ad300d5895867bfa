/* GGUF (version 2 and 3), the llama.cpp model file: reader, dequantizer
 * and a minimal writer.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64
 * metadata count; metadata as (string key, u32 value type, value); tensor
 * infos as (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64
 * offset); padding to general.alignment (default 32); the tensor data,
 * offsets relative to its start.  A string is a u64 length then bytes.
 * ne[0] is the fastest-varying dimension: a Hugging Face [out, in] matrix
 * is stored with ne = {in, out}.
 *
 * The reader maps the file and validates every count, length and offset
 * against its size before use; a tensor of a type tk cannot dequantize is
 * an error naming the file and the tensor. */
#ifndef TK_GGUF_H
#define TK_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "tk_mapfile.h"

/* Metadata value types. */
enum tk_gguf_vtype {
	TK_GGUF_UINT8 = 0, TK_GGUF_INT8 = 1, TK_GGUF_UINT16 = 2, TK_GGUF_INT16 = 3,
	TK_GGUF_UINT32 = 4, TK_GGUF_INT32 = 5, TK_GGUF_FLOAT32 = 6, TK_GGUF_BOOL = 7,
	TK_GGUF_STRING = 8, TK_GGUF_ARRAY = 9, TK_GGUF_UINT64 = 10, TK_GGUF_INT64 = 11,
	TK_GGUF_FLOAT64 = 12, TK_GGUF_VTYPE_COUNT
};

/* The ggml tensor types tk reads (others are refused).  The k-quants
 * (Q2_K..Q8_K) come in blocks of 256 elements, the others of 32 (or 1). */
enum tk_ggml_type {
	TK_GGML_F32 = 0, TK_GGML_F16 = 1, TK_GGML_Q4_0 = 2, TK_GGML_Q4_1 = 3,
	TK_GGML_Q5_0 = 6, TK_GGML_Q5_1 = 7, TK_GGML_Q8_0 = 8, TK_GGML_Q2_K = 10,
	TK_GGML_Q3_K = 11, TK_GGML_Q4_K = 12, TK_GGML_Q5_K = 13, TK_GGML_Q6_K = 14,
	TK_GGML_Q8_K = 15, TK_GGML_BF16 = 30
};

#define TK_GGUF_MAX_DIMS 4
#define TK_GGUF_DEFAULT_ALIGNMENT 32

typedef struct tk_gguf_kv {
	char *key;
	int type;              /* enum tk_gguf_vtype */
	/* scalars: integers and bool in i (or u for UINT64), floats in f */
	int64_t i;
	uint64_t u;
	double f;
	char *str;             /* STRING: a NUL-terminated copy (len bytes) */
	size_t len;
	/* ARRAY */
	int array_type;        /* element type */
	uint64_t count;        /* elements */
	char **strs;           /* array of STRING: count NUL-terminated copies */
	size_t *str_lens;      /* (count) their lengths */
	const unsigned char *array; /* array of numbers: the elements in the file */
} tk_gguf_kv;

typedef struct tk_gguf_tensor {
	char *name;
	int type;              /* enum tk_ggml_type */
	int ndim;
	uint64_t ne[TK_GGUF_MAX_DIMS]; /* ne[0] fastest; unused ones are 1 */
	uint64_t numel;
	uint64_t offset;       /* relative to the data section */
	size_t nbytes;
	const void *data;      /* into the mapping */
} tk_gguf_tensor;

typedef struct tk_gguf {
	tk_mapfile *file;
	uint32_t version;
	uint64_t alignment;
	size_t n_kv;
	tk_gguf_kv *kv;        /* (n_kv) in file order */
	size_t n_tensors;
	tk_gguf_tensor *tensors; /* (n_tensors) in file order */
} tk_gguf;

int tk_gguf_open(tk_gguf **out, const char *path);
void tk_gguf_close(tk_gguf *g);  /* safe on NULL */

const tk_gguf_kv *tk_gguf_find_kv(const tk_gguf *g, const char *key);
const tk_gguf_tensor *tk_gguf_find_tensor(const tk_gguf *g, const char *name);

/* Typed lookups: TK_OK and *out set, TK_END when the key is absent, or
 * TK_EDATA (message names the file and key) when it has another type.
 * Integers accept any integer type whose value fits; floats accept
 * FLOAT32 and FLOAT64 (and integers). */
int tk_gguf_get_int(const tk_gguf *g, const char *key, int64_t *out);
int tk_gguf_get_float(const tk_gguf *g, const char *key, double *out);
int tk_gguf_get_bool(const tk_gguf *g, const char *key, int *out);
int tk_gguf_get_str(const tk_gguf *g, const char *key, const char **out);
/* Element i of an array of integers as int64 (0 when not one). */
int64_t tk_gguf_array_int(const tk_gguf_kv *kv, uint64_t i);

/* ---- tensor types and dequantization (lib/io/gguf_dequant.c) ------------- */

/* "f32", "q4_1", "q4_K", ... (ggml's spelling); NULL for a type tk does not
 * read. */
const char *tk_ggml_type_name(int type);
/* Elements per block and bytes per block; 0 when unknown. */
int tk_ggml_type_block(int type, size_t *block_elems, size_t *block_bytes);
/* Converts n elements (a whole number of blocks) at src to float32. */
void tk_ggml_to_f32(int type, const void *src, float *dst, size_t n);
/* A tensor's values in ggml order (ne[0] fastest) as float32. */
int tk_gguf_tensor_to_f32(const tk_gguf *g, const tk_gguf_tensor *t, float *dst);
/* Converts n float32 values (a whole number of blocks) to type: F32, F16,
 * BF16, Q8_0 or Q4_0 (lib/io/gguf_quantize.c); 0 for another type or a
 * partial block. */
int tk_ggml_from_f32(int type, const float *src, void *dst, size_t n);

/* ---- writer (lib/io/gguf_write.c) -----------------------------------------
 * Collects metadata and tensors, then writes the file through an atomic
 * output file on close.  Tensor data is taken as float32 and converted to
 * the stored type (F32, F16, BF16, or quantized to Q8_0 or Q4_0) while
 * writing: the caller keeps the float array alive until close. */
typedef struct tk_gguf_writer tk_gguf_writer;

int tk_gguf_writer_open(tk_gguf_writer **out, const char *path);
int tk_gguf_set_u32(tk_gguf_writer *w, const char *key, uint32_t v);
int tk_gguf_set_i32(tk_gguf_writer *w, const char *key, int32_t v);
int tk_gguf_set_f32(tk_gguf_writer *w, const char *key, float v);
int tk_gguf_set_bool(tk_gguf_writer *w, const char *key, int v);
int tk_gguf_set_str(tk_gguf_writer *w, const char *key, const char *v);
/* lens NULL: NUL-terminated strings. */
int tk_gguf_set_str_array(tk_gguf_writer *w, const char *key,
			  const char *const *strs, const size_t *lens, size_t n);
int tk_gguf_set_i32_array(tk_gguf_writer *w, const char *key,
			  const int32_t *v, size_t n);
/* ne in ggml order (ne[0] fastest); type F32, F16, BF16, Q8_0 or Q4_0
 * (ne[0] a multiple of 32 for the last two). */
int tk_gguf_add_tensor(tk_gguf_writer *w, const char *name, int type, int ndim,
		       const uint64_t *ne, const float *data);
int tk_gguf_writer_close(tk_gguf_writer *w);  /* writes, commits, frees */
void tk_gguf_writer_abort(tk_gguf_writer *w);

#endif
