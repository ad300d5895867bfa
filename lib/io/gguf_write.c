/* A minimal GGUF v3 writer: metadata of the common types and tensors
 * converted from float32 to F32, F16, BF16, Q8_0 or Q4_0.  Everything is laid out at close, so the
 * tensor offsets are known before the first byte is written; the file
 * appears under its name only when complete (tk_outfile). */
#include "tk_gguf.h"

#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_io.h"

#define ALIGN TK_GGUF_DEFAULT_ALIGNMENT
#define CHUNK 4096 /* elements converted per write */

typedef struct pending_tensor {
	char *name;
	int type;
	int ndim;
	uint64_t ne[TK_GGUF_MAX_DIMS];
	size_t numel;
	const float *data;
} pending_tensor;

struct tk_gguf_writer {
	tk_outfile *out;
	unsigned char *meta;   /* serialized metadata pairs */
	size_t meta_len, meta_cap;
	uint64_t n_kv;
	pending_tensor *tensors;
	size_t n_tensors;
	int failed;            /* a set/add call failed: close refuses */
};

static int put(tk_gguf_writer *w, const void *data, size_t n)
{
	if (w->meta_len + n > w->meta_cap) {
		size_t cap = w->meta_cap ? w->meta_cap : 4096;
		while (cap < w->meta_len + n)
			cap *= 2;
		unsigned char *m = tk_realloc(w->meta, cap);
		if (!m) {
			w->failed = 1;
			return TK_EOSERR;
		}
		w->meta = m;
		w->meta_cap = cap;
	}
	memcpy(w->meta + w->meta_len, data, n);
	w->meta_len += n;
	return TK_OK;
}

static void le_bytes(unsigned char *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		b[i] = (unsigned char)v;
}

static int put_uint(tk_gguf_writer *w, uint64_t v, int n)
{
	unsigned char b[8];
	le_bytes(b, v, n);
	return put(w, b, (size_t)n);
}

static int put_string(tk_gguf_writer *w, const char *s, size_t len)
{
	int rc = put_uint(w, len, 8);
	return rc ? rc : put(w, s, len);
}

static int put_key(tk_gguf_writer *w, const char *key, int type)
{
	w->n_kv++;
	int rc = put_string(w, key, strlen(key));
	return rc ? rc : put_uint(w, (uint64_t)type, 4);
}

int tk_gguf_writer_open(tk_gguf_writer **out, const char *path)
{
	*out = NULL;
	tk_gguf_writer *w = tk_calloc(1, sizeof *w);
	if (!w)
		return TK_EOSERR;
	int rc = tk_outfile_open(&w->out, path, 1);
	if (rc) {
		free(w);
		return rc;
	}
	*out = w;
	return TK_OK;
}

int tk_gguf_set_u32(tk_gguf_writer *w, const char *key, uint32_t v)
{
	int rc = put_key(w, key, TK_GGUF_UINT32);
	return rc ? rc : put_uint(w, v, 4);
}

int tk_gguf_set_i32(tk_gguf_writer *w, const char *key, int32_t v)
{
	int rc = put_key(w, key, TK_GGUF_INT32);
	return rc ? rc : put_uint(w, (uint32_t)v, 4);
}

int tk_gguf_set_f32(tk_gguf_writer *w, const char *key, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	int rc = put_key(w, key, TK_GGUF_FLOAT32);
	return rc ? rc : put_uint(w, u, 4);
}

int tk_gguf_set_bool(tk_gguf_writer *w, const char *key, int v)
{
	int rc = put_key(w, key, TK_GGUF_BOOL);
	return rc ? rc : put_uint(w, v ? 1 : 0, 1);
}

int tk_gguf_set_str(tk_gguf_writer *w, const char *key, const char *v)
{
	int rc = put_key(w, key, TK_GGUF_STRING);
	return rc ? rc : put_string(w, v, strlen(v));
}

int tk_gguf_set_str_array(tk_gguf_writer *w, const char *key,
			  const char *const *strs, const size_t *lens, size_t n)
{
	int rc = put_key(w, key, TK_GGUF_ARRAY);
	if (!rc)
		rc = put_uint(w, TK_GGUF_STRING, 4);
	if (!rc)
		rc = put_uint(w, n, 8);
	for (size_t i = 0; i < n && !rc; i++)
		rc = put_string(w, strs[i], lens ? lens[i] : strlen(strs[i]));
	return rc;
}

int tk_gguf_set_i32_array(tk_gguf_writer *w, const char *key, const int32_t *v,
			  size_t n)
{
	int rc = put_key(w, key, TK_GGUF_ARRAY);
	if (!rc)
		rc = put_uint(w, TK_GGUF_INT32, 4);
	if (!rc)
		rc = put_uint(w, n, 8);
	for (size_t i = 0; i < n && !rc; i++)
		rc = put_uint(w, (uint32_t)v[i], 4);
	return rc;
}

static int writable_type(int type)
{
	return type == TK_GGML_F32 || type == TK_GGML_F16 || type == TK_GGML_BF16 ||
	       type == TK_GGML_Q8_0 || type == TK_GGML_Q4_0;
}

static int check_tensor(tk_gguf_writer *w, const char *name, int type, int ndim,
			const uint64_t *ne)
{
	size_t block = 1, bytes;
	int rc = TK_OK;
	if (!writable_type(type))
		rc = tk_fail(TK_EUSAGE, "%s: tensor '%s': the GGUF writer stores f32, f16, "
			     "bf16, q8_0 or q4_0 only", tk_outfile_path(w->out), name);
	else if (ndim < 1 || ndim > TK_GGUF_MAX_DIMS)
		rc = tk_fail(TK_EUSAGE, "tensor '%s': %d dimensions", name, ndim);
	else if (tk_ggml_type_block(type, &block, &bytes) && ne[0] % block)
		rc = tk_fail(TK_EUSAGE, "%s: tensor '%s': rows of %llu values are not whole "
			     "%s blocks of %zu", tk_outfile_path(w->out), name,
			     (unsigned long long)ne[0], tk_ggml_type_name(type), block);
	w->failed |= rc != TK_OK;
	return rc;
}

int tk_gguf_add_tensor(tk_gguf_writer *w, const char *name, int type, int ndim,
		       const uint64_t *ne, const float *data)
{
	int rc = check_tensor(w, name, type, ndim, ne);
	if (rc)
		return rc;
	pending_tensor *t = tk_realloc(w->tensors, (w->n_tensors + 1) * sizeof *t);
	if (!t) {
		w->failed = 1;
		return TK_EOSERR;
	}
	w->tensors = t;
	t += w->n_tensors;
	memset(t, 0, sizeof *t);
	if (!(t->name = tk_strdup(name))) {
		w->failed = 1;
		return TK_EOSERR;
	}
	t->type = type;
	t->ndim = ndim;
	t->numel = 1;
	for (int d = 0; d < ndim; d++) {
		t->ne[d] = ne[d];
		t->numel *= (size_t)ne[d];
	}
	t->data = data;
	w->n_tensors++;
	return TK_OK;
}

static size_t padded(size_t n)
{
	return (n + ALIGN - 1) / ALIGN * ALIGN;
}

static size_t tensor_bytes(const pending_tensor *t)
{
	size_t block = 1, bytes = 4;
	tk_ggml_type_block(t->type, &block, &bytes);
	return t->numel / block * bytes;
}

/* The header and tensor infos go into the metadata buffer behind the
 * pairs; returns the start of that tail. */
static int append_infos(tk_gguf_writer *w)
{
	uint64_t offset = 0;
	for (size_t i = 0; i < w->n_tensors; i++) {
		const pending_tensor *t = &w->tensors[i];
		int rc = put_string(w, t->name, strlen(t->name));
		if (!rc)
			rc = put_uint(w, (uint64_t)t->ndim, 4);
		for (int d = 0; d < t->ndim && !rc; d++)
			rc = put_uint(w, t->ne[d], 8);
		if (!rc)
			rc = put_uint(w, (uint64_t)t->type, 4);
		if (!rc)
			rc = put_uint(w, offset, 8);
		if (rc)
			return rc;
		offset += padded(tensor_bytes(t));
	}
	return TK_OK;
}

static int write_zeros(tk_outfile *out, size_t n)
{
	static const unsigned char zeros[ALIGN];
	return n ? tk_outfile_write(out, zeros, n) : TK_OK;
}

static int write_tensor(tk_outfile *out, const pending_tensor *t)
{
	if (t->type == TK_GGML_F32)
		return tk_outfile_write(out, t->data, t->numel * 4);
	/* CHUNK is a whole number of blocks, and 2 bytes a value hold the
	 * largest of the other types (Q8_0: 34 bytes for 32) */
	unsigned char buf[CHUNK * 2];
	size_t block = 1, bytes = 2;
	tk_ggml_type_block(t->type, &block, &bytes);
	for (size_t i = 0; i < t->numel; i += CHUNK) {
		size_t n = t->numel - i < CHUNK ? t->numel - i : CHUNK;
		tk_ggml_from_f32(t->type, t->data + i, buf, n);
		int rc = tk_outfile_write(out, buf, n / block * bytes);
		if (rc)
			return rc;
	}
	return TK_OK;
}

static int write_all(tk_gguf_writer *w)
{
	unsigned char head[24];
	memcpy(head, "GGUF", 4);
	le_bytes(head + 4, 3, 4);
	le_bytes(head + 8, w->n_tensors, 8);
	le_bytes(head + 16, w->n_kv, 8);
	int rc = append_infos(w);
	if (!rc)
		rc = tk_outfile_write(w->out, head, sizeof head);
	if (!rc)
		rc = tk_outfile_write(w->out, w->meta, w->meta_len);
	if (!rc)
		rc = write_zeros(w->out, padded(24 + w->meta_len) - (24 + w->meta_len));
	for (size_t i = 0; i < w->n_tensors && !rc; i++) {
		size_t n = tensor_bytes(&w->tensors[i]);
		rc = write_tensor(w->out, &w->tensors[i]);
		if (!rc)
			rc = write_zeros(w->out, padded(n) - n);
	}
	return rc;
}

static void free_writer(tk_gguf_writer *w)
{
	for (size_t i = 0; i < w->n_tensors; i++)
		free(w->tensors[i].name);
	free(w->tensors);
	free(w->meta);
	free(w);
}

int tk_gguf_writer_close(tk_gguf_writer *w)
{
	int rc = w->failed ? tk_fail(TK_ESOFTWARE, "%s: an earlier GGUF write call failed",
				     tk_outfile_path(w->out)) : write_all(w);
	if (rc)
		tk_outfile_abort(w->out);
	else
		rc = tk_outfile_commit(w->out);
	free_writer(w);
	return rc;
}

void tk_gguf_writer_abort(tk_gguf_writer *w)
{
	if (!w)
		return;
	tk_outfile_abort(w->out);
	free_writer(w);
}
