/* A model from and to GGUF: llama.cpp's metadata keys (<arch>.block_count,
 * ...), tensor names (blk.N.attn_q.weight) and Llama's q/k row order. */
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"

#define NAME_CAP 160
#define PI 3.14159265358979323846

/* Llama 3's published scaling; GGUF keeps only the resulting per-frequency
 * factors (rope_freqs.weight), so a file without tk's own keys gets these. */
#define LLAMA3_LOW_FREQ_FACTOR 1.0f
#define LLAMA3_HIGH_FREQ_FACTOR 4.0f
#define LLAMA3_ORIGINAL_CONTEXT 8192

int model_gguf_permutes(const char *arch)
{
	return strcmp(arch, "llama") == 0 || strcmp(arch, "mistral") == 0;
}

int model_permute_rows(float *data, size_t rows, size_t cols, int n_head, int to_gguf)
{
	if (n_head <= 0 || rows % (size_t)n_head || (rows / (size_t)n_head) % 2)
		return tk_fail(TK_EDATA, "cannot permute %zu rows into %d heads", rows, n_head);
	float *tmp = tk_malloc(rows * cols * sizeof *tmp + 1);
	if (!tmp)
		return TK_EOSERR;
	size_t hd = rows / (size_t)n_head, half = hd / 2;
	for (size_t h = 0; h < (size_t)n_head; h++)
		for (size_t i = 0; i < half; i++)
			for (size_t j = 0; j < 2; j++) {
				size_t hf = h * hd + j * half + i, gg = h * hd + 2 * i + j;
				size_t dst = to_gguf ? gg : hf, src = to_gguf ? hf : gg;
				memcpy(tmp + dst * cols, data + src * cols, cols * sizeof *tmp);
			}
	memcpy(data, tmp, rows * cols * sizeof *tmp);
	free(tmp);
	return TK_OK;
}

/* ---- config from metadata ----------------------------------------------- */

static int arch_int(const tk_gguf *g, const char *arch, const char *key, int required,
		    int *out)
{
	char full[128];
	snprintf(full, sizeof full, "%s.%s", arch, key);
	int64_t v;
	int rc = tk_gguf_get_int(g, full, &v);
	if (rc == TK_END)
		return required ? tk_fail(TK_EDATA, "%s: metadata '%s' is missing",
					  g->file->path, full) : TK_OK;
	if (rc)
		return rc;
	if (v < 0 || v > (1 << 30))
		return tk_fail(TK_EDATA, "%s: metadata '%s' = %lld is out of range",
			       g->file->path, full, (long long)v);
	*out = (int)v;
	return TK_OK;
}

static int arch_float(const tk_gguf *g, const char *arch, const char *key, float *out)
{
	char full[128];
	snprintf(full, sizeof full, "%s.%s", arch, key);
	double v;
	int rc = tk_gguf_get_float(g, full, &v);
	if (rc == TK_OK)
		*out = (float)v;
	return rc == TK_END ? TK_OK : rc;
}

static int gguf_rope_scaling(tk_model_config *c, const tk_gguf *g, const char *arch)
{
	const char *type = NULL;
	char key[128];
	snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
	tk_gguf_get_str(g, key, &type);
	if (type && strcmp(type, "none") != 0 && strcmp(type, "llama3") != 0)
		return tk_fail(TK_ECONFIG, "%s: RoPE scaling \"%s\" is not supported",
			       g->file->path, type);
	float factor = 0;
	int rc = arch_float(g, "tk", "rope.llama3.factor", &factor);
	const tk_gguf_tensor *freqs = tk_gguf_find_tensor(g, "rope_freqs.weight");
	if (rc || (!factor && !freqs))
		return rc;
	c->rope_type = TK_MODEL_ROPE_LLAMA3;
	c->rope_low_freq_factor = LLAMA3_LOW_FREQ_FACTOR;
	c->rope_high_freq_factor = LLAMA3_HIGH_FREQ_FACTOR;
	c->rope_original_max_positions = LLAMA3_ORIGINAL_CONTEXT;
	arch_int(g, arch, "rope.scaling.original_context_length", 0,
		 &c->rope_original_max_positions);
	if (!factor && freqs && freqs->type == TK_GGML_F32) {
		/* the lowest frequencies are divided by the full factor */
		const unsigned char *f = freqs->data;
		for (uint64_t i = 0; i < freqs->numel; i++) {
			float v;
			memcpy(&v, f + 4 * i, 4); /* the alignment may be 1 */
			factor = v > factor ? v : factor;
		}
	}
	c->rope_factor = factor;
	if ((rc = arch_float(g, "tk", "rope.llama3.low_freq_factor", &c->rope_low_freq_factor)) ||
	    (rc = arch_float(g, "tk", "rope.llama3.high_freq_factor", &c->rope_high_freq_factor)))
		return rc;
	return arch_int(g, "tk", "rope.llama3.original_context_length", 0,
			&c->rope_original_max_positions);
}

static int gguf_sizes(tk_model_config *c, const tk_gguf *g, const char *arch)
{
	int rc;
	if ((rc = arch_int(g, arch, "block_count", 1, &c->n_layers)) ||
	    (rc = arch_int(g, arch, "embedding_length", 1, &c->hidden)) ||
	    (rc = arch_int(g, arch, "feed_forward_length", 1, &c->intermediate)) ||
	    (rc = arch_int(g, arch, "attention.head_count", 1, &c->n_heads)))
		return rc;
	c->n_kv_heads = c->n_heads;
	c->head_dim = c->n_heads ? c->hidden / c->n_heads : 0;
	c->max_positions = 2048;
	if ((rc = arch_int(g, arch, "attention.head_count_kv", 0, &c->n_kv_heads)) ||
	    (rc = arch_int(g, arch, "attention.key_length", 0, &c->head_dim)) ||
	    (rc = arch_int(g, arch, "context_length", 0, &c->max_positions)))
		return rc;
	const tk_gguf_tensor *embd = tk_gguf_find_tensor(g, "token_embd.weight");
	const tk_gguf_kv *tokens = tk_gguf_find_kv(g, "tokenizer.ggml.tokens");
	if (embd && embd->ndim == 2 && embd->ne[1] <= (1u << 30))
		c->vocab = (int)embd->ne[1];
	else if (tokens && tokens->count <= (1u << 30))
		c->vocab = (int)tokens->count;
	return arch_int(g, arch, "vocab_size", 0, &c->vocab);
}

static int gguf_config(tk_model_config *c, const tk_gguf *g)
{
	const char *arch = NULL;
	if (tk_gguf_get_str(g, "general.architecture", &arch) != TK_OK)
		return tk_fail(TK_EDATA, "%s: no general.architecture", g->file->path);
	if (strcmp(arch, "llama") && strcmp(arch, "qwen2") && strcmp(arch, "qwen3"))
		return tk_fail(TK_ECONFIG, "%s: architecture \"%s\" is not supported (tk runs "
			       "llama, qwen2 and qwen3)", g->file->path, arch);
	memset(c, 0, sizeof *c);
	snprintf(c->architecture, sizeof c->architecture, "%s", arch);
	c->rope_theta = 10000.0f;
	c->rms_norm_eps = 1e-6f;
	int rc;
	if ((rc = gguf_sizes(c, g, arch)) ||
	    (rc = arch_float(g, arch, "rope.freq_base", &c->rope_theta)) ||
	    (rc = arch_float(g, arch, "attention.layer_norm_rms_epsilon", &c->rms_norm_eps)) ||
	    (rc = gguf_rope_scaling(c, g, arch)))
		return rc;
	c->tied_embeddings = !tk_gguf_find_tensor(g, "output.weight");
	c->attention_bias = tk_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
	c->qk_norm = tk_gguf_find_tensor(g, "blk.0.attn_q_norm.weight") != NULL;
	int64_t id;
	c->bos_id = c->eos_id = -1;
	if (tk_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &id) == TK_OK && id < INT32_MAX)
		c->bos_id = (int32_t)id;
	if (tk_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &id) == TK_OK && id < INT32_MAX)
		c->eos_id = (int32_t)id;
	return tk_model_config_validate(c, g->file->path);
}

/* ---- tensors -------------------------------------------------------------- */

/* Heads of a q or k projection stored in llama.cpp's row order; 0 if none. */
static int permuted_heads(const tk_model_config *c, const char *hf_name)
{
	if (!model_gguf_permutes(c->architecture))
		return 0;
	const char *dot = strrchr(hf_name, '.');
	size_t n = dot ? (size_t)(dot - hf_name) : 0;
	if (n >= 7 && strncmp(hf_name + n - 7, ".q_proj", 7) == 0)
		return c->n_heads;
	if (n >= 7 && strncmp(hf_name + n - 7, ".k_proj", 7) == 0)
		return c->n_kv_heads;
	return 0;
}

static int gguf_tensor(tk_model *m, const tk_gguf *g, const tk_gguf_tensor *t)
{
	char name[NAME_CAP];
	if (strcmp(t->name, "rope_freqs.weight") == 0)
		return TK_OK; /* folded into config.rope_* */
	if (!tk_model_name_from_gguf(t->name, name, sizeof name))
		snprintf(name, sizeof name, "%s", t->name);
	int64_t shape[TK_GGUF_MAX_DIMS];
	for (int d = 0; d < t->ndim; d++)
		shape[d] = (int64_t)t->ne[t->ndim - 1 - d];
	int heads = permuted_heads(&m->config, name);
	if (t->type == TK_GGML_F32 && !heads && ((uintptr_t)t->data & 3) == 0)
		return model_add_tensor(m, name, t->ndim, shape, (float *)(uintptr_t)t->data,
					0, "f32");
	if (m->source->lazy) { // read when wanted (model_gguf_read)
		int rc = model_add_tensor(m, name, t->ndim, shape, NULL, 0,
					  tk_ggml_type_name(t->type));
		if (!rc)
			m->tensors[m->n_tensors - 1].deferred = t;
		return rc;
	}
	float *data = tk_malloc((size_t)t->numel * sizeof *data);
	if (!data)
		return TK_EOSERR;
	int rc = tk_gguf_tensor_to_f32(g, t, data);
	if (!rc && heads)
		rc = model_permute_rows(data, (size_t)shape[0], (size_t)(t->numel / shape[0]),
					heads, 0);
	if (rc) {
		free(data);
		return tk_fail_context(rc, "%s: tensor '%s': ", g->file->path, t->name);
	}
	return model_add_tensor(m, name, t->ndim, shape, data, 1, tk_ggml_type_name(t->type));
}

int model_gguf_read(const tk_model *m, const tk_model_tensor *mt, float *dst)
{
	const tk_gguf *g = m->source->gguf;
	const tk_gguf_tensor *t = mt->deferred;
	int heads = permuted_heads(&m->config, mt->name);
	int rc = tk_gguf_tensor_to_f32(g, t, dst);
	if (!rc && heads)
		rc = model_permute_rows(dst, (size_t)mt->shape[0], mt->numel / (size_t)mt->shape[0],
					heads, 0);
	return rc ? tk_fail_context(rc, "%s: tensor '%s': ", g->file->path, t->name) : TK_OK;
}

int model_load_gguf(tk_model *m, const char *path)
{
	int rc = tk_gguf_open(&m->source->gguf, path);
	const tk_gguf *g = m->source->gguf;
	if (!rc)
		rc = gguf_config(&m->config, g);
	for (size_t i = 0; !rc && !m->source->meta_only && i < g->n_tensors; i++)
		rc = gguf_tensor(m, g, &g->tensors[i]);
	if (!rc)
		rc = model_tokenizer_from_gguf(&m->tokenizer, g);
	return rc;
}

/* ---- writing -------------------------------------------------------------- */

/* Llama 3's per-frequency divisors, as llama.cpp reads them from
 * rope_freqs.weight. */
static float *llama3_rope_freqs(const tk_model_config *c)
{
	int n = c->head_dim / 2;
	float *f = tk_malloc((size_t)n * sizeof *f);
	if (!f)
		return NULL;
	double low_wavelen = c->rope_original_max_positions / c->rope_low_freq_factor;
	double high_wavelen = c->rope_original_max_positions / c->rope_high_freq_factor;
	for (int i = 0; i < n; i++) {
		double freq = 1.0 / pow(c->rope_theta, 2.0 * i / c->head_dim);
		double wavelen = 2 * PI / freq;
		if (wavelen < high_wavelen) {
			f[i] = 1.0f;
		} else if (wavelen > low_wavelen) {
			f[i] = c->rope_factor;
		} else {
			double smooth = (c->rope_original_max_positions / wavelen -
					 c->rope_low_freq_factor) /
					(c->rope_high_freq_factor - c->rope_low_freq_factor);
			f[i] = (float)(1.0 / ((1 - smooth) / c->rope_factor + smooth));
		}
	}
	return f;
}

static int write_config(tk_gguf_writer *w, const tk_model_config *c, int type)
{
	/* llama.cpp's file types: all f32, mostly f16, bf16, q8_0 or q4_0 */
	uint32_t file_type = type == TK_GGML_F32 ? 0 : type == TK_GGML_F16 ? 1 :
			     type == TK_GGML_Q8_0 ? 7 : type == TK_GGML_Q4_0 ? 2 : 32;
	const char *arch = strcmp(c->architecture, "mistral") == 0 ? "llama" : c->architecture;
	char key[128];
	int rc = tk_gguf_set_str(w, "general.architecture", arch);
	if (!rc)
		rc = tk_gguf_set_str(w, "general.name", "tk model");
	if (!rc)
		rc = tk_gguf_set_u32(w, "general.file_type", file_type);
#define U32(k, v) (rc = rc ? rc : (snprintf(key, sizeof key, "%s.%s", arch, k), \
				   tk_gguf_set_u32(w, key, (uint32_t)(v))))
#define F32(k, v) (rc = rc ? rc : (snprintf(key, sizeof key, "%s.%s", arch, k), \
				   tk_gguf_set_f32(w, key, (v))))
	U32("block_count", c->n_layers);
	U32("context_length", c->max_positions);
	U32("embedding_length", c->hidden);
	U32("feed_forward_length", c->intermediate);
	U32("attention.head_count", c->n_heads);
	U32("attention.head_count_kv", c->n_kv_heads);
	U32("attention.key_length", c->head_dim);
	U32("attention.value_length", c->head_dim);
	U32("rope.dimension_count", c->head_dim);
	U32("vocab_size", c->vocab);
	F32("rope.freq_base", c->rope_theta);
	F32("attention.layer_norm_rms_epsilon", c->rms_norm_eps);
#undef U32
#undef F32
	if (!rc && c->rope_type == TK_MODEL_ROPE_LLAMA3) {
		rc = tk_gguf_set_f32(w, "tk.rope.llama3.factor", c->rope_factor);
		if (!rc)
			rc = tk_gguf_set_f32(w, "tk.rope.llama3.low_freq_factor",
					     c->rope_low_freq_factor);
		if (!rc)
			rc = tk_gguf_set_f32(w, "tk.rope.llama3.high_freq_factor",
					     c->rope_high_freq_factor);
		if (!rc)
			rc = tk_gguf_set_u32(w, "tk.rope.llama3.original_context_length",
					     (uint32_t)c->rope_original_max_positions);
	}
	return rc;
}

/* Copies the writer needs kept alive until it closes. */
typedef struct keep {
	float **p;
	size_t n;
} keep;

static float *kept_copy(keep *k, const float *src, size_t n)
{
	float **p = tk_realloc(k->p, (k->n + 1) * sizeof *p);
	if (!p)
		return NULL;
	k->p = p;
	float *copy = tk_malloc(n * sizeof *copy + 1);
	if (copy) {
		memcpy(copy, src, n * sizeof *copy);
		k->p[k->n++] = copy;
	}
	return copy;
}

static int write_tensor(tk_gguf_writer *w, const tk_model *m, const tk_model_tensor *t,
			int type, keep *k)
{
	char name[NAME_CAP];
	if (!tk_model_name_to_gguf(t->name, name, sizeof name))
		return TK_OK; /* not a weight llama.cpp knows */
	uint64_t ne[TK_GGUF_MAX_DIMS];
	for (int d = 0; d < t->ndim; d++)
		ne[d] = (uint64_t)t->shape[t->ndim - 1 - d];
	const float *data = t->data;
	int heads = permuted_heads(&m->config, t->name);
	if (heads) {
		float *copy = kept_copy(k, t->data, t->numel);
		if (!copy)
			return TK_EOSERR;
		int rc = model_permute_rows(copy, (size_t)t->shape[0],
					    t->numel / (size_t)t->shape[0], heads, 1);
		if (rc)
			return rc;
		data = copy;
	}
	size_t block = 1, bytes;
	tk_ggml_type_block(type, &block, &bytes);
	/* norms (and a matrix whose rows are not whole blocks) stay float32 */
	int stored = t->ndim == 1 || ne[0] % block ? TK_GGML_F32 : type;
	return tk_gguf_add_tensor(w, name, stored, t->ndim, ne, data);
}

static int write_model(tk_gguf_writer *w, const tk_model *m, int type, keep *k)
{
	int rc = write_config(w, &m->config, type);
	if (!rc && m->tokenizer)
		rc = model_tokenizer_to_gguf(m->tokenizer, w);
	for (size_t i = 0; !rc && i < m->n_tensors; i++)
		rc = write_tensor(w, m, &m->tensors[i], type, k);
	if (!rc && m->config.rope_type == TK_MODEL_ROPE_LLAMA3) {
		float *f = llama3_rope_freqs(&m->config);
		uint64_t ne = (uint64_t)m->config.head_dim / 2;
		float *kept = f ? kept_copy(k, f, (size_t)ne) : NULL;
		free(f);
		rc = kept ? tk_gguf_add_tensor(w, "rope_freqs.weight", TK_GGML_F32, 1, &ne, kept) :
		     TK_EOSERR;
	}
	return rc;
}

int tk_model_write_gguf(const tk_model *m, const char *path, int type)
{
	tk_gguf_writer *w;
	int rc = tk_gguf_writer_open(&w, path);
	if (rc)
		return rc;
	keep k = {0};
	rc = write_model(w, m, type, &k);
	if (rc)
		tk_gguf_writer_abort(w);
	else
		rc = tk_gguf_writer_close(w);
	for (size_t i = 0; i < k.n; i++)
		free(k.p[i]);
	free(k.p);
	return rc;
}
