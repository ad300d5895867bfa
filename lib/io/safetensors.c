/* safetensors reader: see tk_safetensors.h. */
#include "tk_safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_io.h"

/* No real header comes near this; a larger claim is a corrupt file. */
#define HEADER_MAX ((uint64_t)100 << 20)
#define INDEX_MAX ((size_t)64 << 20)

int tk_safetensors_dtype(const char *name)
{
	if (strcmp(name, "F32") == 0)
		return TK_F32;
	if (strcmp(name, "F16") == 0)
		return TK_F16;
	if (strcmp(name, "BF16") == 0)
		return TK_BF16;
	return -1;
}

static int grow_tensors(tk_safetensors *st, size_t more)
{
	tk_st_tensor *t = tk_realloc(st->tensors, (st->count + more) * sizeof *t);
	if (!t)
		return TK_EOSERR;
	st->tensors = t;
	memset(t + st->count, 0, more * sizeof *t);
	return TK_OK;
}

/* A JSON number that is a non-negative integer no larger than max. */
static int json_uint(const cJSON *j, uint64_t max, uint64_t *out)
{
	if (!cJSON_IsNumber(j))
		return 0;
	double v = j->valuedouble;
	if (!(v >= 0) || v > (double)max || v != floor(v))
		return 0;
	*out = (uint64_t)v;
	return 1;
}

static int parse_shape(const char *path, const char *name, const cJSON *shape,
		       tk_st_tensor *t)
{
	if (!cJSON_IsArray(shape))
		return tk_fail(TK_EDATA, "%s: tensor '%s': \"shape\" is not an array", path, name);
	int ndim = cJSON_GetArraySize(shape);
	if (ndim > TK_TENSOR_MAX_DIMS)
		return tk_fail(TK_EDATA, "%s: tensor '%s': %d dimensions (at most %d)",
			       path, name, ndim, TK_TENSOR_MAX_DIMS);
	size_t numel = 1;
	int i = 0;
	for (const cJSON *d = shape->child; d; d = d->next, i++) {
		uint64_t v;
		if (!json_uint(d, (uint64_t)1 << 40, &v))
			return tk_fail(TK_EDATA, "%s: tensor '%s': bad dimension %d in \"shape\"",
				       path, name, i);
		if (v && numel > SIZE_MAX / 4 / v)
			return tk_fail(TK_EDATA, "%s: tensor '%s': shape too large", path, name);
		numel *= (size_t)v;
		t->shape[i] = (int64_t)v;
	}
	t->ndim = ndim;
	t->numel = numel;
	return TK_OK;
}

static int parse_entry(tk_mapfile *f, const cJSON *e, const unsigned char *data,
		       uint64_t data_size, tk_st_tensor *t)
{
	const char *path = f->path, *name = e->string;
	if (!cJSON_IsObject(e))
		return tk_fail(TK_EDATA, "%s: tensor '%s': entry is not an object", path, name);
	const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
	const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
	const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
	if (!cJSON_IsString(dt))
		return tk_fail(TK_EDATA, "%s: tensor '%s': no \"dtype\"", path, name);
	t->dtype = tk_safetensors_dtype(dt->valuestring);
	if (t->dtype < 0)
		return tk_fail(TK_EDATA, "%s: tensor '%s' has dtype %s; tk reads F32, F16 and BF16",
			       path, name, dt->valuestring);
	int rc = parse_shape(path, name, shape, t);
	if (rc)
		return rc;
	uint64_t begin, end;
	if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
	    !json_uint(offs->child, UINT64_MAX >> 12, &begin) ||
	    !json_uint(offs->child->next, UINT64_MAX >> 12, &end))
		return tk_fail(TK_EDATA, "%s: tensor '%s': bad \"data_offsets\"", path, name);
	t->nbytes = t->numel * tk_dtype_size(t->dtype);
	if (begin > end || end > data_size)
		return tk_fail(TK_EDATA, "%s: tensor '%s': data [%llu, %llu) lies outside the "
			       "%llu data bytes (truncated file?)", path, name,
			       (unsigned long long)begin, (unsigned long long)end,
			       (unsigned long long)data_size);
	if (end - begin != t->nbytes)
		return tk_fail(TK_EDATA, "%s: tensor '%s': %llu data bytes for a shape of %zu "
			       "%s elements", path, name, (unsigned long long)(end - begin),
			       t->numel, dt->valuestring);
	t->data = data + begin;
	t->file = f;
	t->name = tk_strdup(name);
	return t->name ? TK_OK : TK_EOSERR;
}

static int parse_header(tk_safetensors *st, tk_mapfile *f, const cJSON *root,
			uint64_t header_end)
{
	if (!cJSON_IsObject(root))
		return tk_fail(TK_EDATA, "%s: header is not a JSON object", f->path);
	size_t n = (size_t)cJSON_GetArraySize(root);
	int rc = grow_tensors(st, n);
	if (rc)
		return rc;
	for (const cJSON *e = root->child; e; e = e->next) {
		if (strcmp(e->string, "__metadata__") == 0)
			continue;
		if (tk_safetensors_find(st, e->string))
			return tk_fail(TK_EDATA, "%s: tensor '%s' appears twice", f->path, e->string);
		rc = parse_entry(f, e, f->data + header_end, f->size - header_end,
				 &st->tensors[st->count]);
		if (rc) {
			free(st->tensors[st->count].name);
			st->tensors[st->count].name = NULL;
			return rc;
		}
		st->count++;
	}
	return TK_OK;
}

static int open_shard(tk_safetensors *st, const char *path)
{
	tk_mapfile **files = tk_realloc(st->files, (st->n_files + 1) * sizeof *files);
	if (!files)
		return TK_EOSERR;
	st->files = files;
	tk_mapfile *f;
	int rc = tk_mapfile_open(&f, path);
	if (rc)
		return rc;
	st->files[st->n_files++] = f;
	if (f->size < 8)
		return tk_fail(TK_EDATA, "%s: %zu bytes: too short for a safetensors file "
			       "(truncated?)", path, f->size);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | f->data[i];
	if (n > f->size - 8)
		return tk_fail(TK_EDATA, "%s: header length %llu runs past the end of the "
			       "%zu-byte file (truncated or not safetensors)", path,
			       (unsigned long long)n, f->size);
	if (n > HEADER_MAX)
		return tk_fail(TK_EDATA, "%s: header length %llu is implausibly large",
			       path, (unsigned long long)n);
	cJSON *root = cJSON_ParseWithLength((const char *)f->data + 8, (size_t)n);
	if (!root)
		return tk_fail(TK_EDATA, "%s: header is not valid JSON", path);
	rc = parse_header(st, f, root, 8 + n);
	cJSON_Delete(root);
	return rc;
}

/* Shard names are plain file names next to the index. */
static int shard_path(const char *index, const char *name, char **out)
{
	if (!*name || strchr(name, '/') || strcmp(name, "..") == 0)
		return tk_fail(TK_EDATA, "%s: bad shard file name '%s'", index, name);
	const char *slash = strrchr(index, '/');
	size_t dir = slash ? (size_t)(slash - index + 1) : 0;
	char *p = tk_malloc(dir + strlen(name) + 1);
	if (!p)
		return TK_EOSERR;
	memcpy(p, index, dir);
	strcpy(p + dir, name);
	*out = p;
	return TK_OK;
}

static int shard_opened(const tk_safetensors *st, const char *path)
{
	for (size_t i = 0; i < st->n_files; i++)
		if (strcmp(st->files[i]->path, path) == 0)
			return 1;
	return 0;
}

/* Every name of the weight map must be in the shard the map names. */
static int check_weight_map(const tk_safetensors *st, const char *index, const cJSON *map)
{
	for (const cJSON *e = map->child; e; e = e->next) {
		const tk_st_tensor *t = tk_safetensors_find(st, e->string);
		const char *slash = t ? strrchr(t->file->path, '/') : NULL;
		const char *base = t ? (slash ? slash + 1 : t->file->path) : NULL;
		if (!t || strcmp(base, e->valuestring) != 0)
			return tk_fail(TK_EDATA, "%s: tensor '%s' is not in shard %s", index,
				       e->string, e->valuestring);
	}
	return TK_OK;
}

static int open_index(tk_safetensors *st, const char *index)
{
	char *text = NULL;
	int rc = tk_read_text(index, INDEX_MAX, &text, NULL);
	if (rc)
		return rc;
	cJSON *root = cJSON_Parse(text);
	free(text);
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
	if (!cJSON_IsObject(map)) {
		cJSON_Delete(root);
		return tk_fail(TK_EDATA, "%s: no \"weight_map\" object", index);
	}
	for (const cJSON *e = map->child; e && !rc; e = e->next) {
		char *path = NULL;
		if (!cJSON_IsString(e))
			rc = tk_fail(TK_EDATA, "%s: weight_map entry '%s' is not a file name",
				     index, e->string);
		else if (!(rc = shard_path(index, e->valuestring, &path)) &&
			 !shard_opened(st, path))
			rc = open_shard(st, path);
		free(path);
	}
	if (!rc)
		rc = check_weight_map(st, index, map);
	cJSON_Delete(root);
	return rc;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int open_folder(tk_safetensors *st, const char *dir)
{
	size_t n = strlen(dir);
	char *p = tk_malloc(n + 64);
	if (!p)
		return TK_EOSERR;
	struct stat sb;
	snprintf(p, n + 64, "%s/model.safetensors.index.json", dir);
	int rc;
	if (stat(p, &sb) == 0) {
		rc = open_index(st, p);
	} else {
		snprintf(p, n + 64, "%s/model.safetensors", dir);
		if (stat(p, &sb) == 0)
			rc = open_shard(st, p);
		else
			rc = tk_fail(TK_ENOINPUT, "%s: no model.safetensors or "
				     "model.safetensors.index.json in this folder", dir);
	}
	free(p);
	return rc;
}

int tk_safetensors_open(tk_safetensors **out, const char *path)
{
	*out = NULL;
	tk_safetensors *st = tk_calloc(1, sizeof *st);
	if (!st)
		return TK_EOSERR;
	struct stat sb;
	int rc;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		rc = open_folder(st, path);
	else if (ends_with(path, ".index.json"))
		rc = open_index(st, path);
	else
		rc = open_shard(st, path);
	if (rc) {
		tk_safetensors_close(st);
		return rc;
	}
	*out = st;
	return TK_OK;
}

const tk_st_tensor *tk_safetensors_find(const tk_safetensors *st, const char *name)
{
	for (size_t i = 0; i < st->count; i++)
		if (strcmp(st->tensors[i].name, name) == 0)
			return &st->tensors[i];
	return NULL;
}

void tk_safetensors_close(tk_safetensors *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->count; i++)
		free(st->tensors[i].name);
	free(st->tensors);
	for (size_t i = 0; i < st->n_files; i++)
		tk_mapfile_close(st->files[i]);
	free(st->files);
	free(st);
}
