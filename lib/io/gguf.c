/* GGUF reader: see tk_gguf.h.  Every read goes through a cursor that knows
 * the file size, so a truncated or hostile file ends in an error naming the
 * byte offset, never in a read past the mapping. */
#include "tk_gguf.h"

#include <stdlib.h>
#include <string.h>

#include "tk_error.h"

#define GGUF_MAGIC "GGUF"
#define NAME_MAX_LEN 4096        /* ggml allows 64; keep slack, refuse junk */
#define NUMEL_MAX ((uint64_t)1 << 40)

typedef struct cursor {
	const unsigned char *p;
	size_t pos, size;
	const char *path;
} cursor;

static int truncated(const cursor *c, const char *what)
{
	return tk_fail(TK_EDATA, "%s: truncated at byte %zu of %zu while reading %s",
		       c->path, c->pos, c->size, what);
}

static int take(cursor *c, size_t n, const char *what, const unsigned char **out)
{
	if (n > c->size - c->pos)
		return truncated(c, what);
	*out = c->p + c->pos;
	c->pos += n;
	return TK_OK;
}

static uint64_t le(const unsigned char *b, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static int read_u32(cursor *c, const char *what, uint32_t *out)
{
	const unsigned char *b = NULL;
	int rc = take(c, 4, what, &b);
	if (!rc)
		*out = (uint32_t)le(b, 4);
	return rc;
}

static int read_u64(cursor *c, const char *what, uint64_t *out)
{
	const unsigned char *b = NULL;
	int rc = take(c, 8, what, &b);
	if (!rc)
		*out = le(b, 8);
	return rc;
}

static int read_string(cursor *c, const char *what, char **out, size_t *len)
{
	uint64_t n;
	const unsigned char *b = NULL;
	int rc = read_u64(c, what, &n);
	if (rc)
		return rc;
	if (n > c->size - c->pos)
		return truncated(c, what);
	if ((rc = take(c, (size_t)n, what, &b)))
		return rc;
	char *s = tk_malloc((size_t)n + 1);
	if (!s)
		return TK_EOSERR;
	memcpy(s, b, (size_t)n);
	s[n] = 0;
	*out = s;
	if (len)
		*len = (size_t)n;
	return TK_OK;
}

static size_t scalar_size(int type)
{
	switch (type) {
	case TK_GGUF_UINT8: case TK_GGUF_INT8: case TK_GGUF_BOOL: return 1;
	case TK_GGUF_UINT16: case TK_GGUF_INT16: return 2;
	case TK_GGUF_UINT32: case TK_GGUF_INT32: case TK_GGUF_FLOAT32: return 4;
	case TK_GGUF_UINT64: case TK_GGUF_INT64: case TK_GGUF_FLOAT64: return 8;
	default: return 0;
	}
}

static int64_t scalar_int(int type, const unsigned char *b)
{
	uint64_t v = le(b, (int)scalar_size(type));
	switch (type) {
	case TK_GGUF_INT8: return (int8_t)v;
	case TK_GGUF_INT16: return (int16_t)v;
	case TK_GGUF_INT32: return (int32_t)v;
	default: return (int64_t)v;
	}
}

static double scalar_float(int type, const unsigned char *b)
{
	uint64_t v = le(b, (int)scalar_size(type));
	if (type == TK_GGUF_FLOAT32) {
		uint32_t u = (uint32_t)v;
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	if (type == TK_GGUF_FLOAT64) {
		double d;
		memcpy(&d, &v, 8);
		return d;
	}
	return type == TK_GGUF_UINT64 ? (double)v : (double)scalar_int(type, b);
}

static int read_scalar(cursor *c, tk_gguf_kv *kv)
{
	const unsigned char *b = NULL;
	int rc = take(c, scalar_size(kv->type), kv->key, &b);
	if (rc)
		return rc;
	kv->i = scalar_int(kv->type, b);
	kv->u = le(b, (int)scalar_size(kv->type));
	kv->f = scalar_float(kv->type, b);
	return TK_OK;
}

static int read_string_array(cursor *c, tk_gguf_kv *kv)
{
	/* each string needs at least its 8-byte length */
	if (kv->count > (c->size - c->pos) / 8)
		return truncated(c, kv->key);
	kv->strs = tk_calloc((size_t)kv->count ? (size_t)kv->count : 1, sizeof *kv->strs);
	kv->str_lens = tk_calloc((size_t)kv->count ? (size_t)kv->count : 1, sizeof *kv->str_lens);
	if (!kv->strs || !kv->str_lens)
		return TK_EOSERR;
	for (uint64_t i = 0; i < kv->count; i++) {
		int rc = read_string(c, kv->key, &kv->strs[i], &kv->str_lens[i]);
		if (rc)
			return rc;
	}
	return TK_OK;
}

static int read_array(cursor *c, tk_gguf_kv *kv)
{
	uint32_t et;
	int rc = read_u32(c, kv->key, &et);
	if (!rc)
		rc = read_u64(c, kv->key, &kv->count);
	if (rc)
		return rc;
	kv->array_type = (int)et;
	if (et == TK_GGUF_STRING)
		return read_string_array(c, kv);
	size_t es = scalar_size((int)et);
	if (!es)
		return tk_fail(TK_EDATA, "%s: metadata '%s': arrays of value type %u are not "
			       "supported", c->path, kv->key, et);
	if (kv->count > (c->size - c->pos) / es)
		return truncated(c, kv->key);
	return take(c, (size_t)kv->count * es, kv->key, &kv->array);
}

static int read_kv(cursor *c, tk_gguf_kv *kv)
{
	uint32_t type;
	int rc = read_string(c, "a metadata key", &kv->key, NULL);
	if (rc)
		return rc;
	if ((rc = read_u32(c, kv->key, &type)))
		return rc;
	kv->type = (int)type;
	if (type == TK_GGUF_STRING)
		return read_string(c, kv->key, &kv->str, &kv->len);
	if (type == TK_GGUF_ARRAY)
		return read_array(c, kv);
	if (!scalar_size((int)type))
		return tk_fail(TK_EDATA, "%s: metadata '%s' has unknown value type %u",
			       c->path, kv->key, type);
	return read_scalar(c, kv);
}

/* Names of the ggml types tk does not read, for the error message. */
static const char *other_type_name(uint32_t type)
{
	static const char *const names[] = {
		[9] = "q8_1", [16] = "iq2_xxs", [17] = "iq2_xs", [18] = "iq3_xxs", [19] = "iq1_s",
		[20] = "iq4_nl", [21] = "iq3_s", [22] = "iq2_s", [23] = "iq4_xs",
		[24] = "i8", [25] = "i16", [26] = "i32", [27] = "i64", [28] = "f64",
		[29] = "iq1_m",
	};
	if (type < sizeof names / sizeof *names && names[type])
		return names[type];
	return "unknown";
}

static int tensor_shape(cursor *c, tk_gguf_tensor *t)
{
	uint32_t ndim;
	int rc = read_u32(c, t->name, &ndim);
	if (rc)
		return rc;
	if (ndim < 1 || ndim > TK_GGUF_MAX_DIMS)
		return tk_fail(TK_EDATA, "%s: tensor '%s' has %u dimensions (1 to %d allowed)",
			       c->path, t->name, ndim, TK_GGUF_MAX_DIMS);
	t->ndim = (int)ndim;
	t->numel = 1;
	for (int d = 0; d < TK_GGUF_MAX_DIMS; d++) {
		t->ne[d] = 1;
		if (d < t->ndim && (rc = read_u64(c, t->name, &t->ne[d])))
			return rc;
		if (t->ne[d] == 0 || t->ne[d] > NUMEL_MAX / t->numel)
			return tk_fail(TK_EDATA, "%s: tensor '%s': bad dimension %d (%llu)",
				       c->path, t->name, d, (unsigned long long)t->ne[d]);
		t->numel *= t->ne[d];
	}
	return TK_OK;
}

static int tensor_type(cursor *c, tk_gguf_tensor *t)
{
	uint32_t type;
	int rc = read_u32(c, t->name, &type);
	if (rc)
		return rc;
	size_t be, bb;
	if (!tk_ggml_type_block((int)type, &be, &bb))
		return tk_fail(TK_EDATA, "%s: tensor '%s' has ggml type %u (%s), which tk does "
			       "not read (it reads f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, "
			       "q3_K, q4_K, q5_K, q6_K, q8_K)",
			       c->path, t->name, type, other_type_name(type));
	t->type = (int)type;
	if (t->ne[0] % be)
		return tk_fail(TK_EDATA, "%s: tensor '%s': row of %llu elements is not a whole "
			       "number of %s blocks", c->path, t->name,
			       (unsigned long long)t->ne[0], tk_ggml_type_name(t->type));
	t->nbytes = (size_t)(t->numel / be * bb);
	return TK_OK;
}

static int read_tensor_info(cursor *c, tk_gguf_tensor *t)
{
	size_t len;
	int rc = read_string(c, "a tensor name", &t->name, &len);
	if (!rc && len > NAME_MAX_LEN)
		rc = tk_fail(TK_EDATA, "%s: tensor name of %zu bytes", c->path, len);
	if (!rc)
		rc = tensor_shape(c, t);
	if (!rc)
		rc = tensor_type(c, t);
	if (!rc)
		rc = read_u64(c, t->name, &t->offset);
	return rc;
}

static int read_header(cursor *c, tk_gguf *g, uint64_t *n_tensors, uint64_t *n_kv)
{
	const unsigned char *magic = NULL;
	int rc = take(c, 4, "the magic", &magic);
	if (rc)
		return rc;
	if (memcmp(magic, GGUF_MAGIC, 4) != 0)
		return tk_fail(TK_EDATA, "%s: not a GGUF file (bad magic)", c->path);
	if ((rc = read_u32(c, "the version", &g->version)))
		return rc;
	if (g->version != 2 && g->version != 3)
		return tk_fail(TK_EDATA, "%s: GGUF version %u; tk reads versions 2 and 3%s",
			       c->path, g->version,
			       g->version > 0xffff ? " (a big-endian file?)" : "");
	if ((rc = read_u64(c, "the tensor count", n_tensors)) ||
	    (rc = read_u64(c, "the metadata count", n_kv)))
		return rc;
	/* smallest possible entries: a tensor info is 8+4+8+4+8 bytes, a
	 * metadata pair 8+4+1 */
	size_t left = c->size - c->pos;
	if (*n_tensors > left / 32 || *n_kv > left / 13)
		return tk_fail(TK_EDATA, "%s: %llu tensors and %llu metadata entries cannot fit "
			       "in %zu bytes (truncated?)", c->path,
			       (unsigned long long)*n_tensors, (unsigned long long)*n_kv, c->size);
	return TK_OK;
}

static int read_alignment(tk_gguf *g)
{
	g->alignment = TK_GGUF_DEFAULT_ALIGNMENT;
	int64_t a;
	int rc = tk_gguf_get_int(g, "general.alignment", &a);
	if (rc == TK_END)
		return TK_OK;
	if (rc)
		return rc;
	if (a <= 0 || a > 65536 || (a & (a - 1)))
		return tk_fail(TK_EDATA, "%s: general.alignment %lld is not a power of two "
			       "up to 65536", g->file->path, (long long)a);
	g->alignment = (uint64_t)a;
	return TK_OK;
}

static int place_tensors(tk_gguf *g, size_t info_end)
{
	const char *path = g->file->path;
	uint64_t start = (info_end + g->alignment - 1) / g->alignment * g->alignment;
	if (start > g->file->size && g->n_tensors)
		return tk_fail(TK_EDATA, "%s: truncated before the tensor data", path);
	uint64_t avail = g->file->size > start ? g->file->size - start : 0;
	for (size_t i = 0; i < g->n_tensors; i++) {
		tk_gguf_tensor *t = &g->tensors[i];
		if (t->offset % g->alignment)
			return tk_fail(TK_EDATA, "%s: tensor '%s': offset %llu is not aligned "
				       "to %llu", path, t->name, (unsigned long long)t->offset,
				       (unsigned long long)g->alignment);
		if (t->offset > avail || t->nbytes > avail - t->offset)
			return tk_fail(TK_EDATA, "%s: tensor '%s': data [%llu, +%zu) lies past "
				       "the end of the file (truncated?)", path, t->name,
				       (unsigned long long)(start + t->offset), t->nbytes);
		t->data = g->file->data + start + t->offset;
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->tensors[j].name, t->name) == 0)
				return tk_fail(TK_EDATA, "%s: tensor '%s' appears twice", path,
					       t->name);
	}
	return TK_OK;
}

static int parse(tk_gguf *g)
{
	cursor c = {g->file->data, 0, g->file->size, g->file->path};
	uint64_t n_tensors = 0, n_kv = 0;
	int rc = read_header(&c, g, &n_tensors, &n_kv);
	if (rc)
		return rc;
	g->kv = tk_calloc((size_t)n_kv + 1, sizeof *g->kv);
	g->tensors = tk_calloc((size_t)n_tensors + 1, sizeof *g->tensors);
	if (!g->kv || !g->tensors)
		return TK_EOSERR;
	for (; g->n_kv < n_kv; g->n_kv++)
		if ((rc = read_kv(&c, &g->kv[g->n_kv]))) {
			g->n_kv++; /* free what it holds */
			return rc;
		}
	for (; g->n_tensors < n_tensors; g->n_tensors++)
		if ((rc = read_tensor_info(&c, &g->tensors[g->n_tensors]))) {
			g->n_tensors++;
			return rc;
		}
	if ((rc = read_alignment(g)))
		return rc;
	return place_tensors(g, c.pos);
}

int tk_gguf_open(tk_gguf **out, const char *path)
{
	*out = NULL;
	tk_gguf *g = tk_calloc(1, sizeof *g);
	if (!g)
		return TK_EOSERR;
	int rc = tk_mapfile_open(&g->file, path);
	if (!rc)
		rc = parse(g);
	if (rc) {
		tk_gguf_close(g);
		return rc;
	}
	*out = g;
	return TK_OK;
}

void tk_gguf_close(tk_gguf *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_kv; i++) {
		tk_gguf_kv *kv = &g->kv[i];
		free(kv->key);
		free(kv->str);
		for (uint64_t j = 0; kv->strs && j < kv->count; j++)
			free(kv->strs[j]);
		free(kv->strs);
		free(kv->str_lens);
	}
	free(g->kv);
	for (size_t i = 0; i < g->n_tensors; i++)
		free(g->tensors[i].name);
	free(g->tensors);
	tk_mapfile_close(g->file);
	free(g);
}

const tk_gguf_kv *tk_gguf_find_kv(const tk_gguf *g, const char *key)
{
	for (size_t i = 0; i < g->n_kv; i++)
		if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0)
			return &g->kv[i];
	return NULL;
}

const tk_gguf_tensor *tk_gguf_find_tensor(const tk_gguf *g, const char *name)
{
	for (size_t i = 0; i < g->n_tensors; i++)
		if (g->tensors[i].name && strcmp(g->tensors[i].name, name) == 0)
			return &g->tensors[i];
	return NULL;
}

/* ---- typed metadata lookups -------------------------------------------- */

static int is_int_type(int type)
{
	return type == TK_GGUF_UINT8 || type == TK_GGUF_INT8 || type == TK_GGUF_UINT16 ||
	       type == TK_GGUF_INT16 || type == TK_GGUF_UINT32 || type == TK_GGUF_INT32 ||
	       type == TK_GGUF_UINT64 || type == TK_GGUF_INT64;
}

static int wrong_type(const tk_gguf *g, const char *key, const char *want)
{
	return tk_fail(TK_EDATA, "%s: metadata '%s' is not %s", g->file->path, key, want);
}

int tk_gguf_get_int(const tk_gguf *g, const char *key, int64_t *out)
{
	const tk_gguf_kv *kv = tk_gguf_find_kv(g, key);
	if (!kv)
		return TK_END;
	if (!is_int_type(kv->type) || (kv->type == TK_GGUF_UINT64 && kv->u > INT64_MAX))
		return wrong_type(g, key, "an integer");
	*out = kv->i;
	return TK_OK;
}

int tk_gguf_get_float(const tk_gguf *g, const char *key, double *out)
{
	const tk_gguf_kv *kv = tk_gguf_find_kv(g, key);
	if (!kv)
		return TK_END;
	if (!is_int_type(kv->type) && kv->type != TK_GGUF_FLOAT32 &&
	    kv->type != TK_GGUF_FLOAT64)
		return wrong_type(g, key, "a number");
	*out = kv->f;
	return TK_OK;
}

int tk_gguf_get_bool(const tk_gguf *g, const char *key, int *out)
{
	const tk_gguf_kv *kv = tk_gguf_find_kv(g, key);
	if (!kv)
		return TK_END;
	if (kv->type != TK_GGUF_BOOL)
		return wrong_type(g, key, "a boolean");
	*out = kv->i != 0;
	return TK_OK;
}

int tk_gguf_get_str(const tk_gguf *g, const char *key, const char **out)
{
	const tk_gguf_kv *kv = tk_gguf_find_kv(g, key);
	if (!kv)
		return TK_END;
	if (kv->type != TK_GGUF_STRING)
		return wrong_type(g, key, "a string");
	*out = kv->str;
	return TK_OK;
}

int64_t tk_gguf_array_int(const tk_gguf_kv *kv, uint64_t i)
{
	if (kv->type != TK_GGUF_ARRAY || !is_int_type(kv->array_type) || i >= kv->count)
		return 0;
	size_t es = scalar_size(kv->array_type);
	return scalar_int(kv->array_type, kv->array + i * es);
}
