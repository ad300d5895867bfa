/* Loading a model: format detection, the tensor list, the Hugging Face
 * folder, and the check of tensors against the config. */
#include "model_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_io.h"

#define CONFIG_MAX ((size_t)16 << 20)
#define CHUNK 4096

int model_add_tensor(tk_model *m, const char *name, int ndim, const int64_t *shape,
		     float *data, int owned, const char *stored_as)
{
	tk_model_tensor *t = tk_realloc(m->tensors, (m->n_tensors + 1) * sizeof *t);
	char *copy = tk_strdup(name);
	if (!t || !copy) {
		if (t)
			m->tensors = t;
		free(copy);
		if (owned)
			free(data);
		return TK_EOSERR;
	}
	m->tensors = t;
	t += m->n_tensors++;
	memset(t, 0, sizeof *t);
	t->name = copy;
	t->ndim = ndim;
	t->numel = 1;
	for (int d = 0; d < ndim; d++) {
		t->shape[d] = shape[d];
		t->numel *= (size_t)shape[d];
	}
	t->data = data;
	t->owned = owned;
	t->stored_as = stored_as;
	return TK_OK;
}

/* Sort key: the embedding first, then layers in order, then the rest. */
static long order_of(const char *name)
{
	if (strcmp(name, "model.embed_tokens.weight") == 0)
		return -1;
	if (strncmp(name, "model.layers.", 13) == 0)
		return strtol(name + 13, NULL, 10);
	return LONG_MAX;
}

static int compare_tensors(const void *a, const void *b)
{
	const tk_model_tensor *x = a, *y = b;
	long ox = order_of(x->name), oy = order_of(y->name);
	if (ox != oy)
		return ox < oy ? -1 : 1;
	return strcmp(x->name, y->name);
}

void model_sort_tensors(tk_model *m)
{
	if (m->n_tensors > 1)
		qsort(m->tensors, m->n_tensors, sizeof *m->tensors, compare_tensors);
}

const tk_model_tensor *tk_model_find(const tk_model *m, const char *name)
{
	if (m->config.tied_embeddings && strcmp(name, "lm_head.weight") == 0)
		name = "model.embed_tokens.weight";
	for (size_t i = 0; i < m->n_tensors; i++)
		if (strcmp(m->tensors[i].name, name) == 0)
			return &m->tensors[i];
	return NULL;
}

/* ---- checking tensors against the config ------------------------------ */

static int expect(const tk_model *m, const char *name, int ndim, int64_t d0, int64_t d1)
{
	const tk_model_tensor *t = tk_model_find(m, name);
	if (!t)
		return tk_fail(TK_EDATA, "%s: tensor '%s' is missing", m->path, name);
	if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
		char got[64] = "", want[64];
		int n = 0;
		for (int d = 0; d < t->ndim && n < 48; d++)
			n += snprintf(got + n, sizeof got - (size_t)n, "%s%lld", d ? ", " : "",
				      (long long)t->shape[d]);
		if (ndim == 2)
			snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
		else
			snprintf(want, sizeof want, "%lld", (long long)d0);
		return tk_fail(TK_EDATA, "%s: tensor '%s' has shape [%s]; the config implies [%s]",
			       m->path, name, got, want);
	}
	return TK_OK;
}

static int check_layer(const tk_model *m, int l)
{
	const tk_model_config *c = &m->config;
	int64_t h = c->hidden, q = (int64_t)c->n_heads * c->head_dim;
	int64_t kv = (int64_t)c->n_kv_heads * c->head_dim, in = c->intermediate;
	static const char *const qkv[3] = {"q", "k", "v"};
	char name[128];
	int rc = TK_OK;
#define EXPECT(suffix, nd, a, b) \
	(snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix), \
	 rc = rc ? rc : expect(m, name, nd, a, b))
	EXPECT("input_layernorm.weight", 1, h, 0);
	EXPECT("post_attention_layernorm.weight", 1, h, 0);
	EXPECT("self_attn.o_proj.weight", 2, h, q);
	EXPECT("mlp.gate_proj.weight", 2, in, h);
	EXPECT("mlp.up_proj.weight", 2, in, h);
	EXPECT("mlp.down_proj.weight", 2, h, in);
	for (int i = 0; i < 3; i++) {
		char suffix[64];
		snprintf(suffix, sizeof suffix, "self_attn.%s_proj.weight", qkv[i]);
		EXPECT(suffix, 2, i ? kv : q, h);
		snprintf(suffix, sizeof suffix, "self_attn.%s_proj.bias", qkv[i]);
		if (c->attention_bias)
			EXPECT(suffix, 1, i ? kv : q, 0);
	}
	if (c->qk_norm) {
		EXPECT("self_attn.q_norm.weight", 1, c->head_dim, 0);
		EXPECT("self_attn.k_norm.weight", 1, c->head_dim, 0);
	}
#undef EXPECT
	return rc;
}

int tk_model_check(const tk_model *m)
{
	const tk_model_config *c = &m->config;
	int rc = expect(m, "model.embed_tokens.weight", 2, c->vocab, c->hidden);
	if (!rc)
		rc = expect(m, "model.norm.weight", 1, c->hidden, 0);
	if (!rc)
		rc = expect(m, "lm_head.weight", 2, c->vocab, c->hidden);
	for (int l = 0; l < c->n_layers && !rc; l++)
		rc = check_layer(m, l);
	return rc;
}

/* ---- Hugging Face folder ------------------------------------------------ */

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = tk_malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int exists(const char *path)
{
	struct stat sb;
	return path && stat(path, &sb) == 0;
}

/* A safetensors tensor as float32: its mapping when already aligned f32,
 * else a converted copy (read through a bounce buffer, since the data may
 * be unaligned). */
static int st_to_f32(const tk_st_tensor *t, float **out, int *owned)
{
	if (t->dtype == TK_F32 && ((uintptr_t)t->data & 3) == 0) {
		*out = (float *)(uintptr_t)t->data;
		*owned = 0;
		return TK_OK;
	}
	float *dst = tk_malloc(t->numel ? t->numel * sizeof *dst : 1);
	if (!dst)
		return TK_EOSERR;
	size_t es = tk_dtype_size(t->dtype);
	uint32_t bounce[CHUNK];
	for (size_t i = 0; i < t->numel; i += CHUNK) {
		size_t n = t->numel - i < CHUNK ? t->numel - i : CHUNK;
		memcpy(bounce, (const unsigned char *)t->data + i * es, n * es);
		tk_dtype_to_f32(t->dtype, bounce, dst + i, n);
	}
	*out = dst;
	*owned = 1;
	return TK_OK;
}

static int hf_tensors(tk_model *m)
{
	const tk_safetensors *st = m->source->st;
	for (size_t i = 0; i < st->count; i++) {
		const tk_st_tensor *t = &st->tensors[i];
		if (m->config.tied_embeddings && strcmp(t->name, "lm_head.weight") == 0)
			continue; /* a tied copy: the embedding serves */
		float *data;
		int owned, rc = st_to_f32(t, &data, &owned);
		if (!rc)
			rc = model_add_tensor(m, t->name, t->ndim, t->shape, data, owned,
					      tk_dtype_name(t->dtype));
		if (rc)
			return rc;
	}
	return TK_OK;
}

static int hf_tokenizer(tk_model *m, const char *dir)
{
	char *tj = join(dir, "tokenizer.json"), *tc = join(dir, "tokenizer_config.json");
	int rc = TK_OK;
	if (!tj || !tc)
		rc = TK_EOSERR;
	else if (exists(tj))
		rc = tk_tokenizer_load_json(&m->tokenizer, tj, exists(tc) ? tc : NULL);
	free(tj);
	free(tc);
	if (rc || !m->tokenizer)
		return rc;
	if (m->config.bos_id < 0)
		m->config.bos_id = tk_tokenizer_bos(m->tokenizer);
	if (m->config.eos_id < 0)
		m->config.eos_id = tk_tokenizer_eos(m->tokenizer);
	return TK_OK;
}

int model_load_hf(tk_model *m, const char *dir)
{
	char *config_path = join(dir, "config.json"), *text = NULL;
	if (!config_path)
		return TK_EOSERR;
	int rc = exists(config_path) ? tk_read_text(config_path, CONFIG_MAX, &text, NULL) :
		 tk_fail(TK_ENOINPUT, "%s: no config.json: not a Hugging Face model folder", dir);
	if (!rc)
		rc = tk_model_config_from_json(&m->config, text, config_path);
	free(text);
	free(config_path);
	if (!rc && !m->source->meta_only)
		rc = tk_safetensors_open(&m->source->st, dir);
	if (!rc && !m->source->meta_only)
		rc = hf_tensors(m);
	if (!rc)
		rc = hf_tokenizer(m, dir);
	return rc;
}

/* ---- entry points ------------------------------------------------------- */

enum { FORMAT_HF, FORMAT_GGUF, FORMAT_TKC };

static int detect_format(const char *path, int *format)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		return tk_fail(TK_ENOINPUT, "%s: no such file or folder", path);
	if (S_ISDIR(sb.st_mode)) {
		*format = FORMAT_HF;
		return TK_OK;
	}
	unsigned char magic[4] = {0};
	FILE *f = fopen(path, "rb");
	if (!f)
		return tk_fail(TK_ENOINPUT, "%s: cannot open", path);
	size_t got = fread(magic, 1, 4, f);
	fclose(f);
	if (got == 4 && memcmp(magic, "GGUF", 4) == 0)
		*format = FORMAT_GGUF;
	else if (got == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f &&
		 magic[3] == 0xfd)
		*format = FORMAT_TKC; /* a zstd frame: tk's checkpoint container */
	else
		return tk_fail(TK_EDATA, "%s: not a model: expected a Hugging Face folder, "
			       "a .gguf file or a .tkc checkpoint", path);
	return TK_OK;
}

static int load(tk_model *m, const char *path)
{
	int format = FORMAT_HF, rc = detect_format(path, &format);
	if (rc)
		return rc;
	if (format == FORMAT_HF) {
		m->format = "hf";
		rc = model_load_hf(m, path);
	} else if (format == FORMAT_GGUF) {
		m->format = "gguf";
		rc = model_load_gguf(m, path);
	} else {
		m->format = "tkc";
		rc = model_load_tkc(m, path);
	}
	if (rc || m->source->meta_only)
		return rc;
	model_sort_tensors(m);
	return tk_model_check(m);
}

static int load_model(tk_model **out, const char *path, int meta_only, int lazy)
{
	*out = NULL;
	tk_model *m = tk_calloc(1, sizeof *m);
	if (!m)
		return TK_EOSERR;
	m->source = tk_calloc(1, sizeof *m->source);
	m->path = tk_strdup(path);
	if (m->source)
		m->source->meta_only = meta_only, m->source->lazy = lazy;
	int rc = m->source && m->path ? load(m, path) : TK_EOSERR;
	if (rc) {
		tk_model_free(m);
		return rc;
	}
	*out = m;
	return TK_OK;
}

int tk_model_load(tk_model **out, const char *path)
{
	return load_model(out, path, 0, 0);
}

int tk_model_load_lazy(tk_model **out, const char *path)
{
	return load_model(out, path, 0, 1);
}

int tk_model_tensor_read(const tk_model *m, const tk_model_tensor *t, float *dst)
{
	if (t->data) {
		memcpy(dst, t->data, t->numel * sizeof *dst);
		return TK_OK;
	}
	if (!t->deferred)
		return tk_fail(TK_EUSAGE, "%s: tensor '%s' holds no values", m->path, t->name);
	return model_gguf_read(m, t, dst);
}

int tk_model_load_meta(tk_model **out, const char *path)
{
	return load_model(out, path, 1, 0);
}

void tk_model_drop_weights(tk_model *m)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		free(m->tensors[i].name);
		if (m->tensors[i].owned)
			free(m->tensors[i].data);
	}
	free(m->tensors);
	m->tensors = NULL;
	m->n_tensors = 0;
}

void tk_model_free(tk_model *m)
{
	if (!m)
		return;
	tk_model_drop_weights(m);
	if (m->tokenizer)
		tk_tokenizer_free(m->tokenizer);
	if (m->source) {
		tk_safetensors_close(m->source->st);
		tk_gguf_close(m->source->gguf);
		if (m->source->tkc)
			tk_tkc_free(m->source->tkc);
		free(m->source);
	}
	free(m->path);
	free(m);
}
