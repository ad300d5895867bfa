/* Checkpoints (.tkc).  Byte layout in man/tk-formats.5; in short, inside
 * one zstd stream:
 *
 *   header  magic[8] version:u32 flags:u32 meta_len:u32 meta[meta_len]
 *   tensor  "TKCT" name_len:u32 dtype:u32 ndim:u32 nbytes:u64
 *           shape:i64[ndim] name[name_len] data[nbytes]     (any number)
 *   trailer "TKCE" reserved:u32 count:u64
 *
 * all little-endian.  The writer streams each tensor straight into the
 * compressor; the reader loads the whole checkpoint, checking every length
 * before it trusts it and growing each tensor's buffer only as its bytes
 * arrive, so a corrupt length fails as a truncation, not as a huge
 * allocation. */
#include "tk_dtype.h"
#include "base/tk_endian.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_tkc.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char TKC_MAGIC[8] = {0x89, 'T', 'K', 'C', '\r', '\n', 0x1a, '\n'};
static const char TAG_TENSOR[4] = {'T', 'K', 'C', 'T'};
static const char TAG_TRAILER[4] = {'T', 'K', 'C', 'E'};

#define HEADER_SIZE 20      /* magic, version, flags, meta_len */
#define TENSOR_FIXED 24     /* tag, name_len, dtype, ndim, nbytes */
#define TRAILER_SIZE 16
/* A tensor's buffer starts at most this big and doubles as data arrives. */
#define FIRST_CHUNK ((size_t)64 << 20)

/* ---- shared checks ----------------------------------------------------- */

/* Elements of a tensor, or -1 when a dimension is negative or the product
 * exceeds TK_TKC_MAX_BYTES worth of bytes. */
static int64_t element_count(int ndim, const int64_t *shape, size_t dtype_size)
{
	uint64_t count = 1;
	for (int d = 0; d < ndim; d++) {
		if (shape[d] < 0)
			return -1;
		if (shape[d] == 0)
			count = 0; /* still check the other dimensions' signs */
		else if (count > TK_TKC_MAX_BYTES / dtype_size / (uint64_t)shape[d])
			return -1;
		else
			count *= (uint64_t)shape[d];
	}
	return (int64_t)count;
}

static int valid_name(const char *name, size_t len)
{
	return len > 0 && len <= TK_TKC_MAX_NAME && !memchr(name, '\0', len);
}

static int is_json_object(const char *text, size_t len)
{
	if (memchr(text, '\0', len))
		return 0;
	cJSON *j = cJSON_ParseWithLength(text, len);
	int ok = j && cJSON_IsObject(j);
	cJSON_Delete(j);
	return ok;
}

/* ---- name index: open addressing over tensors[i].name ------------------- */

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Slot of name in the index (holding index+1 of its tensor), or of the
 * empty slot where it would go. */
static size_t index_slot(const size_t *slots, size_t cap, const tk_tensor_info *tensors,
			 const char *name)
{
	size_t i = (size_t)hash_name(name) & (cap - 1);
	while (slots[i] && strcmp(tensors[slots[i] - 1].name, name) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

/* Adds tensors[count-1] to the index, growing it to stay at most half
 * full.  TK_EOSERR when out of memory. */
static int index_add(size_t **slots, size_t *cap, const tk_tensor_info *tensors, size_t count)
{
	if (2 * count > *cap) {
		size_t new_cap = *cap ? 2 * *cap : 64;
		size_t *grown = tk_calloc(new_cap, sizeof *grown);
		if (!grown)
			return TK_EOSERR;
		for (size_t i = 0; i + 1 < count; i++)
			grown[index_slot(grown, new_cap, tensors, tensors[i].name)] = i + 1;
		free(*slots);
		*slots = grown;
		*cap = new_cap;
	}
	(*slots)[index_slot(*slots, *cap, tensors, tensors[count - 1].name)] = count;
	return TK_OK;
}

static int index_has(const size_t *slots, size_t cap, const tk_tensor_info *tensors,
		     const char *name)
{
	return cap && slots[index_slot(slots, cap, tensors, name)] != 0;
}

/* ---- writer ------------------------------------------------------------- */

struct tk_tkc_writer {
	tk_zwriter *z;
	char *path;
	tk_tensor_info *written;   /* (count) names only, for duplicates */
	size_t count, capacity;
	size_t *slots;             /* (slot_cap) name index over written */
	size_t slot_cap;
	int error;                 /* sticky */
};

static void writer_free(tk_tkc_writer *w)
{
	for (size_t i = 0; i < w->count; i++)
		free(w->written[i].name);
	free(w->written);
	free(w->slots);
	free(w->path);
	free(w);
}

int tk_tkc_writer_open(tk_tkc_writer **out, const char *path,
		       const char *meta_json, int threads)
{
	return tk_tkc_writer_open_level(out, path, meta_json, threads, TK_TKC_LEVEL);
}

int tk_tkc_writer_open_level(tk_tkc_writer **out, const char *path,
			     const char *meta_json, int threads, int level)
{
	*out = NULL;
	const char *meta = meta_json ? meta_json : "{}";
	size_t meta_len = strlen(meta);
	if (meta_len > TK_TKC_MAX_META)
		return tk_fail(TK_EUSAGE, "%s: checkpoint metadata is %zu bytes, more than the %zu allowed",
			       path, meta_len, TK_TKC_MAX_META);
	if (!is_json_object(meta, meta_len))
		return tk_fail(TK_EUSAGE, "%s: checkpoint metadata is not a JSON object: %.60s", path, meta);
	tk_tkc_writer *w = tk_calloc(1, sizeof *w);
	if (!w)
		return TK_EOSERR;
	if (!(w->path = tk_strdup(path))) {
		writer_free(w);
		return TK_EOSERR;
	}
	int rc = tk_zwriter_open(&w->z, path, level, threads);
	if (rc != TK_OK) {
		writer_free(w);
		return rc;
	}
	unsigned char h[HEADER_SIZE];
	memcpy(h, TKC_MAGIC, 8);
	tk_put_u32(h + 8, TK_TKC_VERSION);
	tk_put_u32(h + 12, 0);
	tk_put_u32(h + 16, (uint32_t)meta_len);
	rc = tk_zwriter_write(w->z, h, sizeof h);
	if (rc == TK_OK)
		rc = tk_zwriter_write(w->z, meta, meta_len);
	if (rc != TK_OK) {
		tk_tkc_writer_abort(w);
		return rc;
	}
	*out = w;
	return TK_OK;
}

/* Checks a tensor's description; its byte count in *nbytes. */
static int check_tensor(const tk_tkc_writer *w, const char *name, int dtype, int ndim,
			const int64_t *shape, size_t *nbytes)
{
	size_t size = tk_dtype_size(dtype);
	if (!name || !valid_name(name, strlen(name)))
		return tk_fail(TK_EUSAGE, "%s: tensor name must be 1..%d bytes", w->path, TK_TKC_MAX_NAME);
	if (size == 0)
		return tk_fail(TK_EUSAGE, "%s: tensor %s: unknown dtype %d", w->path, name, dtype);
	if (ndim < 0 || ndim > TK_TENSOR_MAX_DIMS || (ndim > 0 && !shape))
		return tk_fail(TK_EUSAGE, "%s: tensor %s: %d dimensions (0..%d allowed)",
			       w->path, name, ndim, TK_TENSOR_MAX_DIMS);
	int64_t count = element_count(ndim, shape, size);
	if (count < 0)
		return tk_fail(TK_EUSAGE, "%s: tensor %s: shape has a negative dimension or exceeds %" PRIu64 " bytes",
			       w->path, name, (uint64_t)TK_TKC_MAX_BYTES);
	if (index_has(w->slots, w->slot_cap, w->written, name))
		return tk_fail(TK_EUSAGE, "%s: tensor %s written twice", w->path, name);
	*nbytes = (size_t)count * size;
	return TK_OK;
}

static int remember_name(tk_tkc_writer *w, const char *name)
{
	if (w->count == w->capacity) {
		size_t cap = w->capacity ? 2 * w->capacity : 64;
		tk_tensor_info *grown = tk_realloc(w->written, cap * sizeof *grown);
		if (!grown)
			return TK_EOSERR;
		w->written = grown;
		w->capacity = cap;
	}
	tk_tensor_info *t = &w->written[w->count];
	memset(t, 0, sizeof *t);
	if (!(t->name = tk_strdup(name)))
		return TK_EOSERR;
	w->count++;
	return index_add(&w->slots, &w->slot_cap, w->written, w->count);
}

static int write_data(tk_tkc_writer *w, const void *data, size_t nbytes, size_t elem)
{
	if (tk_host_is_little_endian() || elem == 1)
		return tk_zwriter_write(w->z, data, nbytes);
	unsigned char chunk[4096];
	const unsigned char *p = data;
	for (size_t done = 0; done < nbytes;) {
		size_t k = nbytes - done < sizeof chunk ? nbytes - done : sizeof chunk;
		memcpy(chunk, p + done, k);
		tk_swap_elements(chunk, k, elem);
		int rc = tk_zwriter_write(w->z, chunk, k);
		if (rc != TK_OK)
			return rc;
		done += k;
	}
	return TK_OK;
}

int tk_tkc_write_tensor(tk_tkc_writer *w, const char *name, int dtype,
			int ndim, const int64_t *shape, const void *data)
{
	if (w->error)
		return w->error;
	size_t nbytes = 0;
	int rc = check_tensor(w, name, dtype, ndim, shape, &nbytes);
	if (rc != TK_OK)
		return rc; /* the caller's mistake: the file is still good */
	if (nbytes > 0 && !data)
		return tk_fail(TK_EUSAGE, "%s: tensor %s has no data", w->path, name);
	size_t name_len = strlen(name);
	unsigned char fixed[TENSOR_FIXED + 8 * TK_TENSOR_MAX_DIMS];
	memcpy(fixed, TAG_TENSOR, 4);
	tk_put_u32(fixed + 4, (uint32_t)name_len);
	tk_put_u32(fixed + 8, (uint32_t)dtype);
	tk_put_u32(fixed + 12, (uint32_t)ndim);
	tk_put_u64(fixed + 16, nbytes);
	for (int d = 0; d < ndim && d < TK_TENSOR_MAX_DIMS; d++) // checked; the bound tells the compiler
		tk_put_u64(fixed + TENSOR_FIXED + 8 * d, (uint64_t)shape[d]);
	rc = remember_name(w, name);
	if (rc == TK_OK)
		rc = tk_zwriter_write(w->z, fixed, TENSOR_FIXED + 8 * (size_t)ndim);
	if (rc == TK_OK)
		rc = tk_zwriter_write(w->z, name, name_len);
	if (rc == TK_OK)
		rc = write_data(w, data, nbytes, tk_dtype_size(dtype));
	if (rc != TK_OK)
		w->error = rc;
	return rc;
}

int tk_tkc_writer_close(tk_tkc_writer *w)
{
	int rc = w->error;
	if (rc == TK_OK) {
		unsigned char t[TRAILER_SIZE];
		memcpy(t, TAG_TRAILER, 4);
		tk_put_u32(t + 4, 0);
		tk_put_u64(t + 8, w->count);
		rc = tk_zwriter_write(w->z, t, sizeof t);
	}
	if (rc == TK_OK)
		rc = tk_zwriter_close(w->z);
	else
		tk_zwriter_abort(w->z);
	writer_free(w);
	return rc;
}

void tk_tkc_writer_abort(tk_tkc_writer *w)
{
	if (!w)
		return;
	tk_zwriter_abort(w->z);
	writer_free(w);
}

/* ---- reader ------------------------------------------------------------- */

typedef struct {
	tk_zreader *z;
	const char *path;
	uint64_t offset;          /* decoded bytes consumed */
} reader;

static int read_field(reader *r, void *data, size_t size, const char *what, const char *name)
{
	size_t got;
	int rc = tk_zreader_read(r->z, data, size, &got);
	if (rc != TK_OK)
		return rc;
	r->offset += got;
	if (got < size)
		return tk_fail(TK_EDATA, "%s: truncated: the checkpoint ends inside %s%s%s (byte %" PRIu64 ")",
			       r->path, what, name ? " of tensor " : "", name ? name : "", r->offset);
	return TK_OK;
}

static int read_header(reader *r, char **meta)
{
	unsigned char h[HEADER_SIZE];
	size_t got;
	int rc = tk_zreader_read(r->z, h, sizeof h, &got);
	if (rc != TK_OK)
		return rc;
	r->offset += got;
	if (got == 0)
		return tk_fail(TK_EDATA, "%s: empty input, not a checkpoint (truncated?)", r->path);
	if (memcmp(h, TKC_MAGIC, got < 8 ? got : 8) != 0)
		return tk_fail(TK_EDATA, "%s: bad magic: %s", r->path,
			       got >= 4 && memcmp(h, "\x89TKS", 4) == 0 ? "a .tks token stream, not a checkpoint"
									 : "not a .tkc checkpoint");
	if (got < sizeof h)
		return tk_fail(TK_EDATA, "%s: truncated: the checkpoint ends inside its header", r->path);
	uint32_t version = tk_get_u32(h + 8), flags = tk_get_u32(h + 12), meta_len = tk_get_u32(h + 16);
	if (version != TK_TKC_VERSION)
		return tk_fail(TK_EDATA, "%s: checkpoint format version %" PRIu32 "; this tk reads version %d (a newer tk wrote it?)",
			       r->path, version, TK_TKC_VERSION);
	if (flags != 0)
		return tk_fail(TK_EDATA, "%s: unknown header flags 0x%" PRIx32 " (a newer tk wrote it?)", r->path, flags);
	if (meta_len > TK_TKC_MAX_META)
		return tk_fail(TK_EDATA, "%s: metadata length %" PRIu32 " exceeds the %zu-byte limit (corrupt header?)",
			       r->path, meta_len, TK_TKC_MAX_META);
	*meta = tk_malloc((size_t)meta_len + 1);
	if (!*meta)
		return TK_EOSERR;
	rc = read_field(r, *meta, meta_len, "the metadata", NULL);
	if (rc != TK_OK)
		return rc;
	(*meta)[meta_len] = '\0';
	if (!is_json_object(*meta, meta_len))
		return tk_fail(TK_EDATA, "%s: metadata is not a JSON object: %.60s", r->path, *meta);
	return TK_OK;
}

/* Reads nbytes of tensor data into a buffer grown as they arrive. */
static int read_data(reader *r, const char *name, size_t nbytes, void **out)
{
	size_t cap = nbytes < FIRST_CHUNK ? nbytes : FIRST_CHUNK, have = 0;
	unsigned char *p = tk_malloc(cap);
	if (!p)
		return TK_EOSERR;
	for (;;) {
		int rc = read_field(r, p + have, cap - have, "the data", name);
		if (rc != TK_OK) {
			free(p);
			return rc;
		}
		have = cap;
		if (have == nbytes)
			break;
		cap = nbytes - cap < cap ? nbytes : 2 * cap;
		unsigned char *grown = tk_realloc(p, cap);
		if (!grown) {
			free(p);
			return TK_EOSERR;
		}
		p = grown;
	}
	*out = p;
	return TK_OK;
}

/* Reads one tensor after its tag into t (t->name and t->data owned). */
static int read_tensor(reader *r, tk_tensor_info *t, size_t index)
{
	unsigned char f[TENSOR_FIXED];
	int rc = read_field(r, f + 4, TENSOR_FIXED - 4, "a tensor header", NULL);
	if (rc != TK_OK)
		return rc;
	uint32_t name_len = tk_get_u32(f + 4), dtype = tk_get_u32(f + 8), ndim = tk_get_u32(f + 12);
	uint64_t nbytes = tk_get_u64(f + 16);
	if (name_len == 0 || name_len > TK_TKC_MAX_NAME)
		return tk_fail(TK_EDATA, "%s: tensor %zu name length %" PRIu32 " is outside 1..%d (corrupt?)",
			       r->path, index, name_len, TK_TKC_MAX_NAME);
	if (ndim > TK_TENSOR_MAX_DIMS)
		return tk_fail(TK_EDATA, "%s: tensor %zu has %" PRIu32 " dimensions, more than %d (corrupt?)",
			       r->path, index, ndim, TK_TENSOR_MAX_DIMS);
	unsigned char shape[8 * TK_TENSOR_MAX_DIMS];
	rc = read_field(r, shape, 8 * (size_t)ndim, "a tensor shape", NULL);
	if (rc != TK_OK)
		return rc;
	if (!(t->name = tk_malloc((size_t)name_len + 1)))
		return TK_EOSERR;
	rc = read_field(r, t->name, name_len, "a tensor name", NULL);
	if (rc != TK_OK)
		return rc;
	t->name[name_len] = '\0';
	if (!valid_name(t->name, name_len))
		return tk_fail(TK_EDATA, "%s: tensor %zu name holds a NUL byte (corrupt?)", r->path, index);
	size_t size = tk_dtype_size((int)dtype);
	if (size == 0)
		return tk_fail(TK_EDATA, "%s: tensor %s has unknown dtype %" PRIu32 " (a newer tk wrote it?)",
			       r->path, t->name, dtype);
	t->dtype = (int)dtype;
	t->ndim = (int)ndim;
	for (uint32_t d = 0; d < ndim; d++)
		t->shape[d] = (int64_t)tk_get_u64(shape + 8 * d);
	int64_t count = element_count(t->ndim, t->shape, size);
	if (count < 0)
		return tk_fail(TK_EDATA, "%s: tensor %s has a negative or oversized shape (corrupt?)", r->path, t->name);
	if (nbytes != (uint64_t)count * size)
		return tk_fail(TK_EDATA, "%s: tensor %s declares %" PRIu64 " bytes but its %s shape needs %" PRIu64 " (corrupt?)",
			       r->path, t->name, nbytes, tk_dtype_name(t->dtype), (uint64_t)count * size);
	t->nbytes = (size_t)nbytes;
	rc = read_data(r, t->name, t->nbytes, &t->data);
	if (rc == TK_OK && !tk_host_is_little_endian())
		tk_swap_elements(t->data, t->nbytes, size);
	return rc;
}

static int add_tensor_slot(tk_tkc *c, size_t *capacity)
{
	if (c->count < *capacity)
		return TK_OK;
	size_t cap = *capacity ? 2 * *capacity : 64;
	tk_tensor_info *grown = tk_realloc(c->tensors, cap * sizeof *grown);
	if (!grown)
		return TK_EOSERR;
	c->tensors = grown;
	*capacity = cap;
	return TK_OK;
}

/* After the trailer tag: the count must match and nothing may follow. */
static int read_trailer(reader *r, const tk_tkc *c)
{
	unsigned char t[TRAILER_SIZE];
	int rc = read_field(r, t + 4, TRAILER_SIZE - 4, "the trailer", NULL);
	if (rc != TK_OK)
		return rc;
	if (tk_get_u32(t + 4) != 0 || tk_get_u64(t + 8) != c->count)
		return tk_fail(TK_EDATA, "%s: trailer declares %" PRIu64 " tensors but %zu were read (corrupt?)",
			       r->path, tk_get_u64(t + 8), c->count);
	if (!tk_zreader_at_end(r->z)) {
		unsigned char extra;
		rc = read_field(r, &extra, 1, "data after the trailer", NULL);
		return rc != TK_OK ? rc : tk_fail(TK_EDATA, "%s: data after the end of the checkpoint (byte %" PRIu64 ")",
					 r->path, r->offset - 1);
	}
	return TK_OK;
}

static int read_body(reader *r, tk_tkc *c)
{
	size_t capacity = 0;
	for (;;) {
		char tag[4];
		size_t got;
		int rc = tk_zreader_read(r->z, tag, 4, &got);
		if (rc != TK_OK)
			return rc;
		r->offset += got;
		if (got == 0)
			return tk_fail(TK_EDATA, "%s: truncated: the checkpoint ends after %zu tensors without its trailer (an interrupted writer?)",
				       r->path, c->count);
		if (got < 4)
			return tk_fail(TK_EDATA, "%s: truncated: the checkpoint ends inside a tag", r->path);
		if (memcmp(tag, TAG_TRAILER, 4) == 0)
			return read_trailer(r, c);
		if (memcmp(tag, TAG_TENSOR, 4) != 0)
			return tk_fail(TK_EDATA, "%s: expected a tensor or the trailer at byte %" PRIu64 " (corrupt?)",
				       r->path, r->offset - 4);
		rc = add_tensor_slot(c, &capacity);
		if (rc != TK_OK)
			return rc;
		tk_tensor_info *t = &c->tensors[c->count];
		memset(t, 0, sizeof *t);
		c->count++; /* counted now so that tk_tkc_free frees its parts */
		rc = read_tensor(r, t, c->count - 1);
		if (rc != TK_OK)
			return rc;
		if (index_has(c->index, c->index_size, c->tensors, t->name))
			return tk_fail(TK_EDATA, "%s: tensor %s appears twice", r->path, t->name);
		rc = index_add(&c->index, &c->index_size, c->tensors, c->count);
		if (rc != TK_OK)
			return rc;
	}
}

int tk_tkc_read(tk_tkc **out, const char *path)
{
	*out = NULL;
	tk_tkc *c = tk_calloc(1, sizeof *c);
	if (!c)
		return TK_EOSERR;
	reader r = {0};
	int rc = tk_zreader_open(&r.z, path);
	if (rc == TK_OK) {
		r.path = tk_zreader_path(r.z);
		rc = read_header(&r, &c->meta_json);
	}
	if (rc == TK_OK)
		rc = read_body(&r, c);
	tk_zreader_close(r.z);
	if (rc != TK_OK) {
		tk_tkc_free(c);
		return rc;
	}
	*out = c;
	return TK_OK;
}

int tk_tkc_read_meta(char **meta_json, const char *path)
{
	*meta_json = NULL;
	reader r = {0};
	int rc = tk_zreader_open(&r.z, path);
	if (rc == TK_OK) {
		r.path = tk_zreader_path(r.z);
		rc = read_header(&r, meta_json);
	}
	tk_zreader_close(r.z);
	if (rc != TK_OK) {
		free(*meta_json);
		*meta_json = NULL;
	}
	return rc;
}

const tk_tensor_info *tk_tkc_find(const tk_tkc *c, const char *name)
{
	if (!c->index_size)
		return NULL;
	size_t slot = c->index[index_slot(c->index, c->index_size, c->tensors, name)];
	return slot ? &c->tensors[slot - 1] : NULL;
}

void tk_tkc_free(tk_tkc *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->count; i++) {
		free(c->tensors[i].name);
		free(c->tensors[i].data);
	}
	free(c->tensors);
	free(c->index);
	free(c->meta_json);
	free(c);
}
