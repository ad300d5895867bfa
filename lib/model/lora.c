/* LoRA adapters: creation, PEFT names, .tkc save and load (tk_lora.h). */
#include "tk_lora.h"

#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_model.h"
#include "tk_rng.h"
#include "tk_tkc.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const target_names[TK_LORA_N_TARGETS] = {
	"q", "k", "v", "o", "gate", "up", "down",
};
static const char *const target_modules[TK_LORA_N_TARGETS] = {
	"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
};

int tk_lora_target_parse(const char *name)
{
	for (int t = 0; t < TK_LORA_N_TARGETS; t++)
		if (strcmp(name, target_names[t]) == 0 || strcmp(name, target_modules[t]) == 0)
			return t;
	return -1;
}

const char *tk_lora_target_name(int target)
{
	return target >= 0 && target < TK_LORA_N_TARGETS ? target_names[target] : NULL;
}

const char *tk_lora_target_module(int target)
{
	return target >= 0 && target < TK_LORA_N_TARGETS ? target_modules[target] : NULL;
}

static int target_item(const char *item, unsigned *mask)
{
	if (strcmp(item, "all") == 0)
		*mask |= TK_LORA_ALL;
	else if (strcmp(item, "attn") == 0)
		*mask |= TK_LORA_ATTN;
	else if (strcmp(item, "mlp") == 0)
		*mask |= TK_LORA_MLP;
	else if (tk_lora_target_parse(item) >= 0)
		*mask |= 1u << tk_lora_target_parse(item);
	else
		return tk_fail(TK_EUSAGE, "unknown LoRA target \"%s\" (q, k, v, o, gate, up, "
			       "down, attn, mlp or all)", item);
	return TK_OK;
}

int tk_lora_targets_from_list(const char *list, unsigned *mask)
{
	*mask = 0;
	char item[32];
	for (const char *p = list;;) {
		size_t len = strcspn(p, ",");
		if (len == 0 || len >= sizeof item)
			return tk_fail(TK_EUSAGE, "bad LoRA target list \"%s\"", list);
		memcpy(item, p, len);
		item[len] = '\0';
		int rc = target_item(item, mask);
		if (rc)
			return rc;
		if (p[len] == '\0')
			return TK_OK;
		p += len + 1;
	}
}

float tk_lora_scale(const tk_lora_config *c) { return c->alpha / (float)c->rank; }

static const char *target_block(int target)
{
	return target <= TK_LORA_O ? "self_attn" : "mlp";
}

int tk_lora_tensor_name(char *buf, size_t cap, int layer, int target, char which)
{
	int n = snprintf(buf, cap, "base_model.model.model.layers.%d.%s.%s.lora_%c.weight",
			 layer, target_block(target), target_modules[target], which);
	return n > 0 && (size_t)n < cap ? TK_OK : tk_fail(TK_ESOFTWARE, "LoRA name too long");
}

tk_lora_pair *tk_lora_get(const tk_lora *l, int layer, int target)
{
	if (!l || layer < 0 || layer >= l->n_layers || target < 0 || target >= TK_LORA_N_TARGETS)
		return NULL;
	tk_lora_pair *p = &l->pairs[(size_t)layer * TK_LORA_N_TARGETS + (size_t)target];
	return p->a ? p : NULL;
}

/* (in, out) of a target layer in a model of config c. */
static void target_shape(const tk_model_config *c, int target, size_t *in, size_t *out)
{
	size_t hidden = (size_t)c->hidden, q = (size_t)c->n_heads * (size_t)c->head_dim;
	size_t kv = (size_t)c->n_kv_heads * (size_t)c->head_dim, inter = (size_t)c->intermediate;
	switch (target) {
	case TK_LORA_Q: *in = hidden; *out = q; break;
	case TK_LORA_K: case TK_LORA_V: *in = hidden; *out = kv; break;
	case TK_LORA_O: *in = q; *out = hidden; break;
	case TK_LORA_DOWN: *in = inter; *out = hidden; break;
	default: *in = hidden; *out = inter; break;
	}
}

static int check_config(const tk_lora_config *c)
{
	if (c->rank < 1 || c->rank > 65536)
		return tk_fail(TK_EUSAGE, "LoRA rank %d is out of range (1..65536)", c->rank);
	if (!isfinite(c->alpha))
		return tk_fail(TK_EUSAGE, "LoRA alpha is not a finite number");
	if ((c->targets & TK_LORA_ALL) == 0 || (c->targets & ~TK_LORA_ALL))
		return tk_fail(TK_EUSAGE, "LoRA targets: none given, or unknown bits");
	return TK_OK;
}

/* Allocates l->pairs and the block for config c on a model shaped as mc;
 * contents zero. */
static int lora_alloc(tk_lora **out, const tk_model_config *mc, const tk_lora_config *c)
{
	*out = NULL;
	int rc = check_config(c);
	if (rc)
		return rc;
	tk_lora *l = tk_calloc(1, sizeof *l);
	if (!l)
		return TK_EOSERR;
	l->config = *c;
	l->n_layers = mc->n_layers;
	l->pairs = tk_calloc((size_t)mc->n_layers * TK_LORA_N_TARGETS, sizeof *l->pairs);
	size_t r = (size_t)c->rank, numel = 0;
	for (int t = 0; t < TK_LORA_N_TARGETS; t++) {
		size_t in, o;
		target_shape(mc, t, &in, &o);
		if (c->targets & (1u << t))
			numel += (size_t)mc->n_layers * r * (in + o);
	}
	l->numel = numel;
	l->data = l->pairs ? tk_calloc(numel ? numel : 1, sizeof *l->data) : NULL;
	if (!l->data) {
		tk_lora_free(l);
		return TK_EOSERR;
	}
	float *next = l->data;
	for (int layer = 0; layer < mc->n_layers; layer++)
		for (int t = 0; t < TK_LORA_N_TARGETS; t++) {
			if (!(c->targets & (1u << t)))
				continue;
			tk_lora_pair *p = &l->pairs[(size_t)layer * TK_LORA_N_TARGETS + (size_t)t];
			target_shape(mc, t, &p->in, &p->out);
			p->a = next;
			next += r * p->in;
			p->b = next;
			next += p->out * r;
		}
	*out = l;
	return TK_OK;
}

static int set_base(tk_lora *l, const tk_model *base)
{
	tk_model_fingerprint_hex(base, l->base_fingerprint);
	int rc = tk_model_weights_hex(base, l->base_weights);
	if (rc)
		return rc;
	l->base_config_json = tk_model_config_to_json(&base->config);
	return l->base_config_json ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}

int tk_lora_create(tk_lora **out, const tk_model *base, const tk_lora_config *c,
		   uint64_t seed)
{
	int rc = lora_alloc(out, &base->config, c);
	if (rc)
		return rc;
	tk_lora *l = *out;
	if ((rc = set_base(l, base))) {
		tk_lora_free(l);
		*out = NULL;
		return rc;
	}
	tk_rng rng;
	tk_rng_seed(&rng, seed);
	for (size_t i = 0; i < (size_t)l->n_layers * TK_LORA_N_TARGETS; i++) {
		tk_lora_pair *p = &l->pairs[i];
		if (!p->a)
			continue;
		double bound = 1.0 / sqrt((double)p->in);
		for (size_t j = 0; j < (size_t)c->rank * p->in; j++)
			p->a[j] = (float)((2.0 * tk_rng_uniform(&rng) - 1.0) * bound);
	}
	return TK_OK;
}

void tk_lora_free(tk_lora *l)
{
	if (!l)
		return;
	free(l->pairs);
	free(l->data);
	free(l->base_config_json);
	free(l);
}

/* ---- saving ------------------------------------------------------------ */

static cJSON *lora_json(const tk_lora_config *c)
{
	cJSON *o = cJSON_CreateObject(), *mods = cJSON_CreateArray();
	if (!o || !mods) {
		cJSON_Delete(o);
		cJSON_Delete(mods);
		return NULL;
	}
	cJSON_AddNumberToObject(o, "r", c->rank);
	cJSON_AddNumberToObject(o, "lora_alpha", c->alpha);
	for (int t = 0; t < TK_LORA_N_TARGETS; t++)
		if (c->targets & (1u << t))
			cJSON_AddItemToArray(mods, cJSON_CreateString(target_modules[t]));
	cJSON_AddItemToObject(o, "target_modules", mods);
	return o;
}

static char *meta_text(const tk_lora *l, const char *extra)
{
	cJSON *o = extra ? cJSON_Parse(extra) : cJSON_CreateObject();
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		tk_fail(TK_EUSAGE, "extra adapter metadata is not a JSON object");
		return NULL;
	}
	static const char *const own[] = {"kind", "base_fingerprint", "base_weights", "lora",
					  "config"};
	for (size_t i = 0; i < sizeof own / sizeof *own; i++)
		cJSON_DeleteItemFromObjectCaseSensitive(o, own[i]);
	cJSON_AddStringToObject(o, "kind", "adapter");
	cJSON_AddStringToObject(o, "base_fingerprint", l->base_fingerprint);
	if (l->base_weights[0])
		cJSON_AddStringToObject(o, "base_weights", l->base_weights);
	cJSON_AddItemToObject(o, "lora", lora_json(&l->config));
	cJSON *config = l->base_config_json ? cJSON_Parse(l->base_config_json) : NULL;
	if (config)
		cJSON_AddItemToObject(o, "config", config);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		tk_fail(TK_EOSERR, "out of memory");
	return text;
}

static int write_pair(tk_tkc_writer *w, const tk_lora_pair *p, int layer, int t, int rank)
{
	char name[160];
	int64_t shape_a[2] = {rank, (int64_t)p->in}, shape_b[2] = {(int64_t)p->out, rank};
	int rc = tk_lora_tensor_name(name, sizeof name, layer, t, 'A');
	if (!rc)
		rc = tk_tkc_write_tensor(w, name, TK_F32, 2, shape_a, p->a);
	if (!rc)
		rc = tk_lora_tensor_name(name, sizeof name, layer, t, 'B');
	if (!rc)
		rc = tk_tkc_write_tensor(w, name, TK_F32, 2, shape_b, p->b);
	return rc;
}

int tk_lora_save(const tk_lora *l, const char *path, const char *extra_meta_json)
{
	char *meta = meta_text(l, extra_meta_json);
	if (!meta)
		return TK_EUSAGE;
	tk_tkc_writer *w;
	int rc = tk_tkc_writer_open(&w, path, meta, 1);
	free(meta);
	if (rc)
		return rc;
	for (int layer = 0; layer < l->n_layers && !rc; layer++)
		for (int t = 0; t < TK_LORA_N_TARGETS && !rc; t++) {
			const tk_lora_pair *p = tk_lora_get(l, layer, t);
			if (p)
				rc = write_pair(w, p, layer, t, l->config.rank);
		}
	if (rc) {
		tk_tkc_writer_abort(w);
		return rc;
	}
	return tk_tkc_writer_close(w);
}

/* ---- loading ----------------------------------------------------------- */

static int parse_lora_config(tk_lora_config *c, const cJSON *lj, const char *path)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(lj, "r");
	const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(lj, "lora_alpha");
	const cJSON *mods = cJSON_GetObjectItemCaseSensitive(lj, "target_modules");
	if (!cJSON_IsNumber(r) || !cJSON_IsNumber(alpha) || !cJSON_IsArray(mods))
		return tk_fail(TK_EDATA, "%s: adapter \"lora\" needs r, lora_alpha and "
			       "target_modules", path);
	c->rank = r->valueint;
	c->alpha = (float)alpha->valuedouble;
	c->targets = 0;
	const cJSON *m;
	cJSON_ArrayForEach(m, mods) {
		int t = cJSON_IsString(m) ? tk_lora_target_parse(m->valuestring) : -1;
		if (t < 0)
			return tk_fail(TK_EDATA, "%s: unknown LoRA target module %s", path,
				       cJSON_IsString(m) ? m->valuestring : "(not a string)");
		c->targets |= 1u << t;
	}
	int rc = check_config(c);
	return rc ? tk_fail_context(TK_EDATA, "%s: ", path) : TK_OK;
}

/* Reads kind, fingerprint, lora config and base config from the metadata. */
static int parse_meta(const char *meta_json, const char *path, tk_lora_config *c,
		      char fingerprint[17], tk_model_config *mc, char **config_json)
{
	cJSON *meta = cJSON_Parse(meta_json ? meta_json : "");
	int rc = TK_OK;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(meta, "kind");
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(meta, "base_fingerprint");
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(meta, "config");
	if (!cJSON_IsObject(meta))
		rc = tk_fail(TK_EDATA, "%s: checkpoint metadata is not a JSON object", path);
	else if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "adapter") != 0)
		rc = tk_fail(TK_EDATA, "%s: not a LoRA adapter (kind \"%s\")", path,
			     cJSON_IsString(kind) ? kind->valuestring : "?");
	else if (!cJSON_IsString(fp) || strlen(fp->valuestring) != 16)
		rc = tk_fail(TK_EDATA, "%s: adapter has no base_fingerprint", path);
	else if (!cJSON_IsObject(config))
		rc = tk_fail(TK_EDATA, "%s: adapter has no base model \"config\"", path);
	if (!rc)
		rc = parse_lora_config(c, cJSON_GetObjectItemCaseSensitive(meta, "lora"), path);
	if (!rc) {
		memcpy(fingerprint, fp->valuestring, 17);
		*config_json = cJSON_PrintUnformatted(config);
		rc = *config_json ? tk_model_config_from_json(mc, *config_json, path)
				  : tk_fail(TK_EOSERR, "out of memory");
	}
	cJSON_Delete(meta);
	return rc;
}

static int read_tensor(float *dst, const tk_tkc *ckpt, const char *name,
		       int64_t rows, int64_t cols, const char *path)
{
	const tk_tensor_info *t = tk_tkc_find(ckpt, name);
	if (!t)
		return tk_fail(TK_EDATA, "%s: adapter tensor %s is missing", path, name);
	if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)
		return tk_fail(TK_EDATA, "%s: adapter tensor %s should be [%lld, %lld]", path,
			       name, (long long)rows, (long long)cols);
	if (t->dtype != TK_F32 && t->dtype != TK_F16 && t->dtype != TK_BF16)
		return tk_fail(TK_EDATA, "%s: adapter tensor %s is not a float tensor", path, name);
	tk_dtype_to_f32(t->dtype, t->data, dst, (size_t)(rows * cols));
	return TK_OK;
}

static int read_pairs(tk_lora *l, const tk_tkc *ckpt, const char *path)
{
	char name[160];
	int64_t r = l->config.rank;
	size_t expected = 0;
	for (int layer = 0; layer < l->n_layers; layer++)
		for (int t = 0; t < TK_LORA_N_TARGETS; t++) {
			tk_lora_pair *p = tk_lora_get(l, layer, t);
			if (!p)
				continue;
			expected += 2;
			int rc = tk_lora_tensor_name(name, sizeof name, layer, t, 'A');
			if (!rc)
				rc = read_tensor(p->a, ckpt, name, r, (int64_t)p->in, path);
			if (!rc)
				rc = tk_lora_tensor_name(name, sizeof name, layer, t, 'B');
			if (!rc)
				rc = read_tensor(p->b, ckpt, name, (int64_t)p->out, r, path);
			if (rc)
				return rc;
		}
	if (ckpt->count != expected)
		return tk_fail(TK_EDATA, "%s: adapter holds %zu tensors, its config implies %zu",
			       path, ckpt->count, expected);
	return TK_OK;
}

static int accept_other_base;

void tk_lora_accept_other_base(int yes)
{
	accept_other_base = yes;
}

/* The "base_weights" of the metadata, when it has them (newer adapters). */
static void read_base_weights(const char *meta_json, tk_lora *l)
{
	cJSON *meta = cJSON_Parse(meta_json ? meta_json : "");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(meta, "base_weights");
	if (cJSON_IsString(w) && strlen(w->valuestring) == 16)
		memcpy(l->base_weights, w->valuestring, 17);
	cJSON_Delete(meta);
}

/* Other weights of the same shape: a merged, re-trained or re-quantized
 * base.  Refused, naming both, unless accepted; then the adapter is taken
 * as this base's. */
static int check_weights(tk_lora *l, const tk_model *base, const char *path)
{
	char hex[17];
	int rc = l->base_weights[0] ? tk_model_weights_hex(base, hex) : TK_OK;
	if (rc || !l->base_weights[0] || !hex[0] || !strcmp(hex, l->base_weights))
		return rc;
	if (!accept_other_base)
		return tk_fail(TK_EDATA, "%s: adapter was trained on other base weights (%s; "
			       "this model's, %s, are %s): the same shape and tokenizer, other "
			       "values (a merged or re-quantized base?); --accept-base uses it "
			       "anyway", path, l->base_weights, base->path, hex);
	l->other_base = 1;
	memcpy(l->base_weights, hex, sizeof hex);
	return TK_OK;
}

static int check_base(tk_lora *l, const tk_model_config *mc, const tk_model *base,
		      const char *path)
{
	char hex[17];
	tk_model_fingerprint_hex(base, hex);
	if (strcmp(hex, l->base_fingerprint) != 0)
		return tk_fail(TK_EDATA, "%s: adapter was trained on another base model "
			       "(fingerprint %s, this model %s)", path, l->base_fingerprint, hex);
	if (!tk_model_config_equal(mc, &base->config))
		return tk_fail(TK_EDATA, "%s: adapter's base config differs from the model's", path);
	return check_weights(l, base, path);
}

int tk_lora_load(tk_lora **out, const char *path, const tk_model *base)
{
	*out = NULL;
	tk_tkc *ckpt;
	int rc = tk_tkc_read(&ckpt, path);
	if (rc)
		return rc;
	tk_lora_config c;
	tk_model_config mc;
	char fp[17], *config_json = NULL;
	tk_lora *l = NULL;
	rc = parse_meta(ckpt->meta_json, path, &c, fp, &mc, &config_json);
	if (!rc)
		rc = lora_alloc(&l, &mc, &c);
	if (!rc) {
		memcpy(l->base_fingerprint, fp, sizeof fp);
		read_base_weights(ckpt->meta_json, l);
		l->base_config_json = config_json;
		config_json = NULL;
		if (base)
			rc = check_base(l, &mc, base, path);
	}
	if (!rc)
		rc = read_pairs(l, ckpt, path);
	free(config_json);
	tk_tkc_free(ckpt);
	if (rc) {
		tk_lora_free(l);
		return rc;
	}
	*out = l;
	return TK_OK;
}
