/* The safetensors writer: 8-byte header length, JSON header padded with
 * spaces to a multiple of 8 (as the reference implementation does, so
 * that data starts aligned), then the tensors back to back. */
#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_export.h"
#include "tk_io.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *st_dtype_name(int dtype)
{
	return dtype == TK_F32 ? "F32" : dtype == TK_F16 ? "F16" : dtype == TK_BF16 ? "BF16" : NULL;
}

static size_t numel_of(const tk_st_entry *e)
{
	size_t n = 1;
	for (int d = 0; d < e->ndim; d++)
		n *= (size_t)e->shape[d];
	return n;
}

static char *build_header(const tk_st_entry *entries, size_t n, int dtype,
			  const char *metadata_json, size_t *len)
{
	cJSON *h = cJSON_CreateObject();
	cJSON *meta = cJSON_Parse(metadata_json ? metadata_json : "{\"format\":\"pt\"}");
	if (!h || !meta) {
		cJSON_Delete(h);
		cJSON_Delete(meta);
		return NULL;
	}
	cJSON_AddItemToObject(h, "__metadata__", meta);
	size_t offset = 0;
	for (size_t i = 0; i < n; i++) {
		cJSON *t = cJSON_AddObjectToObject(h, entries[i].name);
		cJSON *shape = cJSON_AddArrayToObject(t, "shape");
		cJSON *offsets = cJSON_AddArrayToObject(t, "data_offsets");
		cJSON_AddStringToObject(t, "dtype", st_dtype_name(dtype));
		for (int d = 0; d < entries[i].ndim; d++)
			cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)entries[i].shape[d]));
		size_t bytes = numel_of(&entries[i]) * tk_dtype_size(dtype);
		cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset));
		cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(offset + bytes)));
		offset += bytes;
	}
	char *text = cJSON_PrintUnformatted(h);
	cJSON_Delete(h);
	if (!text)
		return NULL;
	size_t raw = strlen(text), padded = (raw + 7) & ~(size_t)7;
	char *out = realloc(text, padded + 1);
	if (!out) {
		free(text);
		return NULL;
	}
	memset(out + raw, ' ', padded - raw);
	out[padded] = '\0';
	*len = padded;
	return out;
}

enum { CHUNK = 1 << 16 }; /* floats converted at a time */

/* Converts and writes one tensor through buf (CHUNK * 4 bytes). */
static int write_tensor(tk_outfile *f, const tk_st_entry *e, int dtype, void *buf)
{
	size_t n = numel_of(e), size = tk_dtype_size(dtype);
	for (size_t i = 0; i < n; i += CHUNK) {
		size_t k = n - i < CHUNK ? n - i : CHUNK;
		tk_dtype_from_f32(dtype, e->data + i, buf, k);
		int rc = tk_outfile_write(f, buf, k * size);
		if (rc)
			return rc;
	}
	return TK_OK;
}

int tk_safetensors_write(const char *path, const tk_st_entry *entries, size_t n,
			 int dtype, const char *metadata_json)
{
	if (!st_dtype_name(dtype))
		return tk_fail(TK_EUSAGE, "%s: safetensors are written as f32, f16 or bf16", path);
	size_t header_len = 0;
	char *header = build_header(entries, n, dtype, metadata_json, &header_len);
	if (!header)
		return tk_fail(TK_EOSERR, "%s: cannot build the header", path);
	void *buf = tk_malloc((size_t)CHUNK * 4);
	tk_outfile *f = NULL;
	int rc = buf ? tk_outfile_open(&f, path, 1) : TK_EOSERR;
	if (rc) {
		free(header);
		free(buf);
		return rc;
	}
	unsigned char len_le[8];
	for (int i = 0; i < 8; i++)
		len_le[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
	rc = tk_outfile_write(f, len_le, 8);
	if (!rc)
		rc = tk_outfile_write(f, header, header_len);
	free(header);
	for (size_t i = 0; i < n && !rc; i++)
		rc = write_tensor(f, &entries[i], dtype, buf);
	free(buf);
	if (rc) {
		tk_outfile_abort(f);
		return rc;
	}
	return tk_outfile_commit(f);
}
