/* Token streams (.tks): records and the writer (the reader is tks_read.c).
 * Byte layout in man/tk-formats.5; in short, inside the zstd stream, each
 * part is
 *
 *   header  magic[8] version:u32 flags:u32 meta_len:u32 meta[meta_len]
 *   record  "TKSR" flags:u32 n:u64 group:i64 pair_role:i32 meta_len:u32
 *           reward:f64 tokens:i32[n] weights:f32[n] [logprobs:f32[n]]
 *           [advantages:f32[n]] [top_k:u32 top_ids:i32[n*top_k]
 *           top_values:f32[n*top_k]] meta[meta_len]   (any number)
 *   trailer "TKSE" reserved:u32 count:u64
 *
 * all little-endian.  The trailer is what tells a complete part from one
 * cut short (zstd alone cannot: a cut at a frame boundary looks whole).
 * Version 2 added the top-K (flags 16 and 32); version 1 reads as before. */
#include "base/tk_endian.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tks_internal.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const unsigned char TKS_MAGIC[8] = {0x89, 'T', 'K', 'S', '\r', '\n', 0x1a, '\n'};
const char TKS_TAG_RECORD[4] = {'T', 'K', 'S', 'R'};
const char TKS_TAG_TRAILER[4] = {'T', 'K', 'S', 'E'};

/* ---- records ------------------------------------------------------------ */

void tk_record_init(tk_record *r)
{
	memset(r, 0, sizeof *r);
	r->group = -1;
}

void tk_record_free(tk_record *r)
{
	if (r->capacity)
		free(r->tokens);
	if (r->meta_capacity)
		free(r->meta);
	if (r->top_capacity)
		free(r->top_ids);
	tk_record_init(r);
}

void tk_record_top_probs(const tk_record *r, size_t i, float *q)
{
	const int32_t *ids = r->top_ids + i * r->top_k;
	const float *v = r->top_values + i * r->top_k;
	double max = -INFINITY, sum = 0.0;
	for (size_t s = 0; s < r->top_k; s++)
		if (ids[s] >= 0 && !r->top_weights && v[s] > max)
			max = v[s];
	for (size_t s = 0; s < r->top_k; s++) {
		double p = ids[s] < 0 || isnan(v[s]) ? 0.0 : r->top_weights ? v[s]
			 : isfinite(max) ? exp((double)v[s] - max) : 0.0;
		q[s] = (float)p;
		sum += p;
	}
	for (size_t s = 0; s < r->top_k; s++)
		q[s] = sum > 0 ? (float)(q[s] / sum) : 0.0f;
}

int64_t tks_vocab_size_of(const cJSON *meta)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, "vocab_size");
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > (double)INT32_MAX + 1 ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return 0;
	return (int64_t)v->valuedouble;
}

cJSON *tks_parse_object(const char *text, size_t length)
{
	if (memchr(text, '\0', length))
		return NULL;
	cJSON *j = cJSON_ParseWithLength(text, length);
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

int tks_is_json_object(const char *text, size_t length)
{
	cJSON *j = tks_parse_object(text, length);
	cJSON_Delete(j);
	return j != NULL;
}

size_t tks_first_bad_token(const int32_t *tokens, size_t n, int64_t vocab)
{
	for (size_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (vocab > 0 && tokens[i] >= vocab))
			return i;
	return n;
}

size_t tks_first_bad_top_id(const int32_t *ids, size_t n, int64_t vocab)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] < -1 || (vocab > 0 && ids[i] >= vocab))
			return i;
	return n;
}

size_t tks_first_bad_weight(const float *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(values[i] >= 0.0f) || values[i] == INFINITY)
			return i;
	return n;
}

/* ---- writer ------------------------------------------------------------- */

struct tk_tks_writer {
	tk_zwriter *z;
	char *path;
	int64_t vocab_size;        /* 0: unknown */
	uint64_t count;            /* records written */
	int error;                 /* sticky */
};

int tk_tks_writer_open(tk_tks_writer **out, const char *path,
		       const char *meta_json, int threads)
{
	return tk_tks_writer_open_level(out, path, meta_json, threads, TK_TKS_LEVEL);
}

static int write_header(tk_tks_writer *w, const char *meta, size_t meta_len)
{
	unsigned char h[TKS_HEADER_SIZE];
	memcpy(h, TKS_MAGIC, 8);
	tk_put_u32(h + 8, TK_TKS_VERSION);
	tk_put_u32(h + 12, 0);
	tk_put_u32(h + 16, (uint32_t)meta_len);
	int rc = tk_zwriter_write(w->z, h, sizeof h);
	if (rc == TK_OK)
		rc = tk_zwriter_write(w->z, meta, meta_len);
	return rc;
}

int tk_tks_writer_open_level(tk_tks_writer **out, const char *path,
			     const char *meta_json, int threads, int level)
{
	*out = NULL;
	const char *meta = meta_json ? meta_json : "{}";
	size_t meta_len = strlen(meta);
	if (meta_len > TK_TKS_MAX_META)
		return tk_fail(TK_EUSAGE, "%s: stream metadata is %zu bytes, more than the %zu allowed",
			       path, meta_len, TK_TKS_MAX_META);
	cJSON *j = tks_parse_object(meta, meta_len);
	if (!j)
		return tk_fail(TK_EUSAGE, "%s: stream metadata is not a JSON object: %.60s",
			       path, meta);
	tk_tks_writer *w = tk_calloc(1, sizeof *w);
	if (!w || !(w->path = tk_strdup(path))) {
		cJSON_Delete(j);
		free(w);
		return TK_EOSERR;
	}
	w->vocab_size = tks_vocab_size_of(j);
	cJSON_Delete(j);
	int rc = tk_zwriter_open(&w->z, path, level, threads);
	if (rc == TK_OK)
		rc = write_header(w, meta, meta_len);
	if (rc != TK_OK) {
		tk_tks_writer_abort(w);
		return rc;
	}
	*out = w;
	return TK_OK;
}

/* Writes n 4-byte elements little-endian. */
static int write_array4(tk_tks_writer *w, const void *data, size_t n)
{
	if (tk_host_is_little_endian())
		return tk_zwriter_write(w->z, data, n * 4);
	unsigned char chunk[4096];
	const unsigned char *p = data;
	for (size_t done = 0; done < n;) {
		size_t k = n - done < sizeof chunk / 4 ? n - done : sizeof chunk / 4;
		memcpy(chunk, p + 4 * done, 4 * k);
		tk_swap_elements(chunk, k * 4, 4);
		int rc = tk_zwriter_write(w->z, chunk, 4 * k);
		if (rc != TK_OK)
			return rc;
		done += k;
	}
	return TK_OK;
}

/* The top-K of a record, when it has one: K, the ids and the values. */
static int check_top(const tk_tks_writer *w, const tk_record *r)
{
	uint64_t at = w->count;
	if (!r->top_k)
		return TK_OK;
	if (r->top_k > TK_TKS_MAX_TOP_K)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " has a top-%zu, more than the %d allowed",
			       w->path, at, r->top_k, TK_TKS_MAX_TOP_K);
	if (r->n > TK_TKS_MAX_TOKENS / r->top_k)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " has %zu x %zu top-K entries, more than the %zu allowed",
			       w->path, at, r->n, r->top_k, TK_TKS_MAX_TOKENS);
	size_t nk = r->n * r->top_k;
	if (nk && (!r->top_ids || !r->top_values))
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " has a top-%zu but no id or value array",
			       w->path, at, r->top_k);
	size_t bad = tks_first_bad_top_id(r->top_ids, nk, w->vocab_size);
	if (bad < nk)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " token %zu top-K id %d is outside -1..%" PRId64,
			       w->path, at, bad / r->top_k, (int)r->top_ids[bad],
			       w->vocab_size > 0 ? w->vocab_size - 1 : (int64_t)INT32_MAX);
	bad = r->top_weights ? tks_first_bad_weight(r->top_values, nk) : nk;
	if (bad < nk)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " token %zu top-K weight %g is not a finite number >= 0",
			       w->path, at, bad / r->top_k, (double)r->top_values[bad]);
	return TK_OK;
}

static int check_record(const tk_tks_writer *w, const tk_record *r, size_t meta_len)
{
	uint64_t at = w->count;
	if (r->n > TK_TKS_MAX_TOKENS)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " has %zu tokens, more than the %zu allowed",
			       w->path, at, r->n, TK_TKS_MAX_TOKENS);
	if (r->n > 0 && (!r->tokens || !r->weights))
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " has %zu tokens but no token or weight array",
			       w->path, at, r->n);
	if (r->pair_role < TK_PAIR_NONE || r->pair_role > TK_PAIR_REJECTED)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " has pair role %d (0 none, 1 chosen, 2 rejected)",
			       w->path, at, (int)r->pair_role);
	if (r->meta && meta_len > TK_TKS_MAX_RECORD_META)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " meta is %zu bytes, more than the %zu allowed",
			       w->path, at, meta_len, TK_TKS_MAX_RECORD_META);
	if (r->meta && !tks_is_json_object(r->meta, meta_len))
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " meta is not a JSON object: %.60s",
			       w->path, at, r->meta);
	size_t bad = r->n ? tks_first_bad_token(r->tokens, r->n, w->vocab_size) : 0;
	if (bad < r->n)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " token %zu is %d, outside the vocabulary 0..%" PRId64,
			       w->path, at, bad, (int)r->tokens[bad],
			       w->vocab_size > 0 ? w->vocab_size - 1 : (int64_t)INT32_MAX);
	return check_top(w, r);
}

static void encode_fixed(unsigned char *p, const tk_record *r, size_t meta_len)
{
	uint32_t flags = (r->logprobs ? TKS_HAS_LOGPROBS : 0) |
			 (r->advantages ? TKS_HAS_ADVANTAGES : 0) | (r->has_reward ? TKS_HAS_REWARD : 0) |
			 (r->meta ? TKS_HAS_META : 0) | (r->top_k ? TKS_HAS_TOP : 0) |
			 (r->top_k && r->top_weights ? TKS_TOP_WEIGHTS : 0);
	double reward = r->has_reward ? r->reward : 0.0;
	uint64_t reward_bits;
	memcpy(&reward_bits, &reward, 8);
	memcpy(p, TKS_TAG_RECORD, 4);
	tk_put_u32(p + 4, flags);
	tk_put_u64(p + 8, r->n);
	tk_put_u64(p + 16, (uint64_t)r->group);
	tk_put_u32(p + 24, (uint32_t)r->pair_role);
	tk_put_u32(p + 28, (uint32_t)meta_len);
	tk_put_u64(p + 32, reward_bits);
}

static int write_top(tk_tks_writer *w, const tk_record *r)
{
	unsigned char k[4];
	tk_put_u32(k, (uint32_t)r->top_k);
	int rc = tk_zwriter_write(w->z, k, sizeof k);
	if (rc == TK_OK)
		rc = write_array4(w, r->top_ids, r->n * r->top_k);
	if (rc == TK_OK)
		rc = write_array4(w, r->top_values, r->n * r->top_k);
	return rc;
}

int tk_tks_write(tk_tks_writer *w, const tk_record *r)
{
	if (w->error)
		return w->error;
	size_t meta_len = r->meta ? strlen(r->meta) : 0;
	int rc = check_record(w, r, meta_len);
	if (rc != TK_OK)
		return rc; /* the caller's mistake: the stream is still good */
	unsigned char fixed[TKS_RECORD_FIXED];
	encode_fixed(fixed, r, meta_len);
	rc = tk_zwriter_write(w->z, fixed, sizeof fixed);
	if (rc == TK_OK)
		rc = write_array4(w, r->tokens, r->n);
	if (rc == TK_OK)
		rc = write_array4(w, r->weights, r->n);
	if (rc == TK_OK && r->logprobs)
		rc = write_array4(w, r->logprobs, r->n);
	if (rc == TK_OK && r->advantages)
		rc = write_array4(w, r->advantages, r->n);
	if (rc == TK_OK && r->top_k)
		rc = write_top(w, r);
	if (rc == TK_OK && r->meta)
		rc = tk_zwriter_write(w->z, r->meta, meta_len);
	if (rc != TK_OK)
		return w->error = rc;
	w->count++;
	return TK_OK;
}

int tk_tks_writer_close(tk_tks_writer *w)
{
	int rc = w->error;
	if (rc == TK_OK) {
		unsigned char t[TKS_TRAILER_SIZE];
		memcpy(t, TKS_TAG_TRAILER, 4);
		tk_put_u32(t + 4, 0);
		tk_put_u64(t + 8, w->count);
		rc = tk_zwriter_write(w->z, t, sizeof t);
	}
	if (rc == TK_OK)
		rc = tk_zwriter_close(w->z);
	else
		tk_zwriter_abort(w->z);
	free(w->path);
	free(w);
	return rc;
}

void tk_tks_writer_abort(tk_tks_writer *w)
{
	if (!w)
		return;
	tk_zwriter_abort(w->z);
	free(w->path);
	free(w);
}

