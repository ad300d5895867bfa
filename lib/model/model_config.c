/* Model configuration <-> Hugging Face config.json. */
#include "tk_model.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"

/* Architectures tk runs, with the HF class name written back on export. */
static const struct {
	const char *type, *class_name;
} archs[] = {
	{"llama", "LlamaForCausalLM"},
	{"mistral", "MistralForCausalLM"},
	{"qwen2", "Qwen2ForCausalLM"},
	{"qwen3", "Qwen3ForCausalLM"},
};
#define N_ARCHS (sizeof archs / sizeof *archs)

static const char *arch_class(const char *type)
{
	for (size_t i = 0; i < N_ARCHS; i++)
		if (strcmp(archs[i].type, type) == 0)
			return archs[i].class_name;
	return NULL;
}

static const char *arch_from_class(const char *class_name)
{
	for (size_t i = 0; i < N_ARCHS; i++)
		if (strcmp(archs[i].class_name, class_name) == 0)
			return archs[i].type;
	return NULL;
}

static const cJSON *item(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int is_whole_in(const cJSON *j, int lo, int hi)
{
	return cJSON_IsNumber(j) && j->valuedouble == floor(j->valuedouble) &&
	       j->valuedouble >= lo && j->valuedouble <= hi;
}

/* An integer field: *out untouched when absent or null; an error when it
 * is there but not a whole number in [lo, hi]. */
static int get_int(const cJSON *o, const char *key, int lo, int hi, int *out,
		   const char *what)
{
	const cJSON *j = item(o, key);
	if (!j || cJSON_IsNull(j))
		return TK_OK;
	if (!is_whole_in(j, lo, hi))
		return tk_fail(TK_ECONFIG, "%s: \"%s\" must be a whole number in [%d, %d]",
			       what, key, lo, hi);
	*out = (int)j->valuedouble;
	return TK_OK;
}

/* A float field: a finite number that stays finite as a float (1e39
 * would become inf, pass the checks and be written back as `inf`, which
 * no JSON reader takes). */
static int get_float(const cJSON *o, const char *key, float *out, const char *what)
{
	const cJSON *j = item(o, key);
	if (!j || cJSON_IsNull(j))
		return TK_OK;
	if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble))
		return tk_fail(TK_ECONFIG, "%s: \"%s\" must be a number", what, key);
	if (fabs(j->valuedouble) > FLT_MAX)
		return tk_fail(TK_ECONFIG, "%s: \"%s\" %g is beyond the float range (%g)", what,
			       key, j->valuedouble, (double)FLT_MAX);
	*out = (float)j->valuedouble;
	return TK_OK;
}

static int get_bool(const cJSON *o, const char *key, int *out, const char *what)
{
	const cJSON *j = item(o, key);
	if (!j || cJSON_IsNull(j))
		return TK_OK;
	if (!cJSON_IsBool(j))
		return tk_fail(TK_ECONFIG, "%s: \"%s\" must be true or false", what, key);
	*out = cJSON_IsTrue(j);
	return TK_OK;
}

/* bos/eos: a number, a list of numbers (the first counts) or null. */
static int get_token_id(const cJSON *o, const char *key, int32_t *out, const char *what)
{
	const cJSON *j = item(o, key);
	if (cJSON_IsArray(j))
		j = j->child;
	if (!j || cJSON_IsNull(j))
		return TK_OK;
	if (!is_whole_in(j, -1, 1 << 30))
		return tk_fail(TK_ECONFIG, "%s: \"%s\" must be a token id", what, key);
	*out = (int32_t)j->valuedouble;
	return TK_OK;
}

static int read_architecture(tk_model_config *c, const cJSON *root, const char *what)
{
	const cJSON *type = item(root, "model_type");
	const cJSON *classes = item(root, "architectures");
	const char *name = cJSON_IsString(type) ? type->valuestring : NULL;
	if (!name && cJSON_IsArray(classes) && cJSON_IsString(classes->child))
		name = arch_from_class(classes->child->valuestring);
	if (!name)
		return tk_fail(TK_ECONFIG, "%s: no \"model_type\" naming the architecture", what);
	if (!arch_class(name))
		return tk_fail(TK_ECONFIG, "%s: architecture \"%s\" is not supported "
			       "(tk runs llama, mistral, qwen2 and qwen3)", what, name);
	snprintf(c->architecture, sizeof c->architecture, "%s", name);
	c->attention_bias = strcmp(name, "qwen2") == 0;
	c->qk_norm = strcmp(name, "qwen3") == 0;
	return TK_OK;
}

static int read_rope(tk_model_config *c, const cJSON *root, const char *what)
{
	const cJSON *params = item(root, "rope_parameters");
	const cJSON *scaling = item(root, "rope_scaling");
	int rc = get_float(root, "rope_theta", &c->rope_theta, what);
	if (!rc && cJSON_IsObject(params))
		rc = get_float(params, "rope_theta", &c->rope_theta, what);
	if (rc)
		return rc;
	const cJSON *s = cJSON_IsObject(scaling) ? scaling : cJSON_IsObject(params) ? params : NULL;
	if (!s)
		return TK_OK;
	const cJSON *type = item(s, "rope_type");
	if (!cJSON_IsString(type))
		type = item(s, "type");
	const char *t = cJSON_IsString(type) ? type->valuestring : "default";
	if (strcmp(t, "default") == 0)
		return TK_OK;
	if (strcmp(t, "llama3") != 0)
		return tk_fail(TK_ECONFIG, "%s: RoPE scaling \"%s\" is not supported (tk knows "
			       "default and llama3)", what, t);
	c->rope_type = TK_MODEL_ROPE_LLAMA3;
	if ((rc = get_float(s, "factor", &c->rope_factor, what)) ||
	    (rc = get_float(s, "low_freq_factor", &c->rope_low_freq_factor, what)) ||
	    (rc = get_float(s, "high_freq_factor", &c->rope_high_freq_factor, what)) ||
	    (rc = get_int(s, "original_max_position_embeddings", 1, 1 << 30,
			  &c->rope_original_max_positions, what)))
		return rc;
	return TK_OK;
}

/* Mistral: sliding_window (transformers' default 4096 when the key is
 * absent; null: none).  Qwen2/3: a window only with use_sliding_window, on
 * the layers from max_window_layers on.  A config's explicit layer_types
 * must say the same. */
static int read_window(tk_model_config *c, const cJSON *root, const char *what)
{
	int mistral = strcmp(c->architecture, "mistral") == 0;
	int qwen = strncmp(c->architecture, "qwen", 4) == 0;
	if (!mistral && !qwen)
		return TK_OK;
	int use = mistral, rc;
	c->sliding_window = mistral && !item(root, "sliding_window") ? 4096 : 0;
	c->full_attention_layers = mistral ? 0 : 28; // Qwen2Config's default
	if ((rc = get_bool(root, "use_sliding_window", &use, what)) ||
	    (rc = get_int(root, "sliding_window", 1, 1 << 30, &c->sliding_window, what)) ||
	    (qwen && (rc = get_int(root, "max_window_layers", 0, 100000,
				   &c->full_attention_layers, what))))
		return rc;
	if (qwen && !use)
		c->sliding_window = 0;
	if (!c->sliding_window || c->full_attention_layers > c->n_layers)
		c->full_attention_layers = c->sliding_window ? c->n_layers : 0;
	const cJSON *types = item(root, "layer_types");
	if (!cJSON_IsArray(types))
		return TK_OK;
	int l = 0;
	for (const cJSON *t = types->child; t; t = t->next, l++) {
		int windowed = c->sliding_window && l >= c->full_attention_layers;
		const char *want = windowed ? "sliding_attention" : "full_attention";
		if (!cJSON_IsString(t) || strcmp(t->valuestring, want) != 0)
			return tk_fail(TK_ECONFIG, "%s: layer_types[%d] is not \"%s\" (tk runs a "
				       "sliding window on the layers from max_window_layers on)",
				       what, l, want);
	}
	return TK_OK;
}

static int read_sizes(tk_model_config *c, const cJSON *root, const char *what)
{
	const int big = 1 << 30;
	int rc;
	if ((rc = get_int(root, "num_hidden_layers", 1, 100000, &c->n_layers, what)) ||
	    (rc = get_int(root, "hidden_size", 1, big, &c->hidden, what)) ||
	    (rc = get_int(root, "num_attention_heads", 1, 100000, &c->n_heads, what)) ||
	    (rc = get_int(root, "intermediate_size", 1, big, &c->intermediate, what)) ||
	    (rc = get_int(root, "vocab_size", 1, big, &c->vocab, what)) ||
	    (rc = get_int(root, "max_position_embeddings", 1, big, &c->max_positions, what)))
		return rc;
	c->n_kv_heads = c->n_heads;
	c->head_dim = c->n_heads > 0 ? c->hidden / c->n_heads : 0;
	if ((rc = get_int(root, "num_key_value_heads", 1, 100000, &c->n_kv_heads, what)) ||
	    (rc = get_int(root, "head_dim", 1, 100000, &c->head_dim, what)))
		return rc;
	return TK_OK;
}

static int parse_config(tk_model_config *c, const cJSON *root, const char *what)
{
	if (!cJSON_IsObject(root))
		return tk_fail(TK_ECONFIG, "%s: not a JSON object", what);
	memset(c, 0, sizeof *c);
	c->rope_theta = 10000.0f;
	c->rms_norm_eps = 1e-6f;
	c->max_positions = 2048;
	c->bos_id = c->eos_id = -1;
	int rc;
	if ((rc = read_architecture(c, root, what)) || (rc = read_sizes(c, root, what)) ||
	    (rc = read_rope(c, root, what)) || (rc = read_window(c, root, what)) ||
	    (rc = get_float(root, "rms_norm_eps", &c->rms_norm_eps, what)) ||
	    (rc = get_bool(root, "tie_word_embeddings", &c->tied_embeddings, what)) ||
	    (rc = get_bool(root, "attention_bias", &c->attention_bias, what)) ||
	    (rc = get_token_id(root, "bos_token_id", &c->bos_id, what)) ||
	    (rc = get_token_id(root, "eos_token_id", &c->eos_id, what)))
		return rc;
	return tk_model_config_validate(c, what);
}

int tk_model_config_from_json(tk_model_config *c, const char *json, const char *what)
{
	cJSON *root = cJSON_Parse(json);
	if (!root)
		return tk_fail(TK_ECONFIG, "%s: not valid JSON", what);
	int rc = parse_config(c, root, what);
	cJSON_Delete(root);
	return rc;
}

int tk_model_config_validate(const tk_model_config *c, const char *what)
{
	if (c->n_layers <= 0 || c->hidden <= 0 || c->n_heads <= 0 || c->intermediate <= 0 ||
	    c->vocab <= 0 || c->head_dim <= 0 || c->n_kv_heads <= 0)
		return tk_fail(TK_ECONFIG, "%s: num_hidden_layers, hidden_size, "
			       "num_attention_heads, intermediate_size and vocab_size must all "
			       "be given and positive", what);
	if (c->n_heads % c->n_kv_heads)
		return tk_fail(TK_ECONFIG, "%s: %d attention heads are not a multiple of %d "
			       "key/value heads", what, c->n_heads, c->n_kv_heads);
	if (c->head_dim % 2)
		return tk_fail(TK_ECONFIG, "%s: head_dim %d is odd (RoPE rotates pairs)",
			       what, c->head_dim);
	if ((int64_t)c->head_dim * c->n_heads > (int64_t)1 << 24)
		return tk_fail(TK_ECONFIG, "%s: heads * head_dim too large", what);
	if (!(c->rms_norm_eps > 0) || !(c->rope_theta > 0))
		return tk_fail(TK_ECONFIG, "%s: rms_norm_eps and rope_theta must be positive",
			       what);
	if (!isfinite(c->rms_norm_eps) || !isfinite(c->rope_theta) || !isfinite(c->rope_factor) ||
	    !isfinite(c->rope_low_freq_factor) || !isfinite(c->rope_high_freq_factor))
		return tk_fail(TK_ECONFIG, "%s: rms_norm_eps, rope_theta and the RoPE scaling "
			       "factors must be finite", what);
	if (c->rope_type == TK_MODEL_ROPE_LLAMA3 &&
	    (!(c->rope_factor > 0) || !(c->rope_low_freq_factor > 0) ||
	     !(c->rope_high_freq_factor > c->rope_low_freq_factor) ||
	     c->rope_original_max_positions <= 0))
		return tk_fail(TK_ECONFIG, "%s: llama3 RoPE scaling needs factor, "
			       "low_freq_factor < high_freq_factor and "
			       "original_max_position_embeddings", what);
	return TK_OK;
}

/* The shortest decimal that reads back as the same float, so that 1e-5
 * stays "1e-05" rather than becoming 9.99999975e-06. */
static cJSON *float_json(float v)
{
	char buf[32];
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			break;
	}
	if (!strpbrk(buf, ".eEn"))
		strcat(buf, ".0"); /* keep it a float for Python */
	return cJSON_CreateRaw(buf);
}

static cJSON *id_json(int32_t id)
{
	return id < 0 ? cJSON_CreateNull() : cJSON_CreateNumber(id);
}

static cJSON *rope_scaling_json(const tk_model_config *c, int with_theta)
{
	cJSON *s = cJSON_CreateObject();
	if (with_theta)
		cJSON_AddItemToObject(s, "rope_theta", float_json(c->rope_theta));
	if (c->rope_type != TK_MODEL_ROPE_LLAMA3) {
		cJSON_AddStringToObject(s, "rope_type", "default");
		return s;
	}
	cJSON_AddStringToObject(s, "rope_type", "llama3");
	cJSON_AddItemToObject(s, "factor", float_json(c->rope_factor));
	cJSON_AddItemToObject(s, "low_freq_factor", float_json(c->rope_low_freq_factor));
	cJSON_AddItemToObject(s, "high_freq_factor", float_json(c->rope_high_freq_factor));
	cJSON_AddNumberToObject(s, "original_max_position_embeddings",
				c->rope_original_max_positions);
	return s;
}

/* Written for the architectures that know a window, null when there is
 * none: a Mistral config without the key would mean 4096 to transformers. */
static void add_window_json(cJSON *o, const tk_model_config *c)
{
	if (strcmp(c->architecture, "mistral") == 0) {
		cJSON_AddItemToObject(o, "sliding_window", c->sliding_window ?
				      cJSON_CreateNumber(c->sliding_window) : cJSON_CreateNull());
	} else if (c->sliding_window) {
		cJSON_AddBoolToObject(o, "use_sliding_window", 1);
		cJSON_AddNumberToObject(o, "sliding_window", c->sliding_window);
		cJSON_AddNumberToObject(o, "max_window_layers", c->full_attention_layers);
	}
}

char *tk_model_config_to_json(const tk_model_config *c)
{
	cJSON *o = cJSON_CreateObject();
	const char *cls = arch_class(c->architecture);
	cJSON *classes = cJSON_AddArrayToObject(o, "architectures");
	cJSON_AddItemToArray(classes, cJSON_CreateString(cls ? cls : "LlamaForCausalLM"));
	cJSON_AddStringToObject(o, "model_type", c->architecture);
	cJSON_AddNumberToObject(o, "num_hidden_layers", c->n_layers);
	cJSON_AddNumberToObject(o, "hidden_size", c->hidden);
	cJSON_AddNumberToObject(o, "num_attention_heads", c->n_heads);
	cJSON_AddNumberToObject(o, "num_key_value_heads", c->n_kv_heads);
	cJSON_AddNumberToObject(o, "head_dim", c->head_dim);
	cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate);
	cJSON_AddNumberToObject(o, "vocab_size", c->vocab);
	cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_positions);
	cJSON_AddItemToObject(o, "rms_norm_eps", float_json(c->rms_norm_eps));
	cJSON_AddItemToObject(o, "rope_theta", float_json(c->rope_theta));
	cJSON_AddItemToObject(o, "rope_scaling", c->rope_type == TK_MODEL_ROPE_LLAMA3 ?
			      rope_scaling_json(c, 0) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "rope_parameters", rope_scaling_json(c, 1));
	cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tied_embeddings);
	cJSON_AddBoolToObject(o, "attention_bias", c->attention_bias);
	add_window_json(o, c);
	cJSON_AddItemToObject(o, "bos_token_id", id_json(c->bos_id));
	cJSON_AddItemToObject(o, "eos_token_id", id_json(c->eos_id));
	cJSON_AddStringToObject(o, "hidden_act", "silu");
	cJSON_AddStringToObject(o, "torch_dtype", "float32");
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	if (!text)
		tk_fail(TK_EOSERR, "out of memory printing a model config");
	return text;
}

int tk_model_config_equal(const tk_model_config *a, const tk_model_config *b)
{
	return strcmp(a->architecture, b->architecture) == 0 &&
	       a->n_layers == b->n_layers && a->hidden == b->hidden &&
	       a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads &&
	       a->head_dim == b->head_dim && a->intermediate == b->intermediate &&
	       a->vocab == b->vocab && a->max_positions == b->max_positions &&
	       a->rope_theta == b->rope_theta && a->rope_type == b->rope_type &&
	       a->rope_factor == b->rope_factor &&
	       a->rope_low_freq_factor == b->rope_low_freq_factor &&
	       a->rope_high_freq_factor == b->rope_high_freq_factor &&
	       a->rope_original_max_positions == b->rope_original_max_positions &&
	       a->rms_norm_eps == b->rms_norm_eps &&
	       a->tied_embeddings == b->tied_embeddings &&
	       a->attention_bias == b->attention_bias && a->qk_norm == b->qk_norm &&
	       a->sliding_window == b->sliding_window &&
	       a->full_attention_layers == b->full_attention_layers &&
	       a->bos_id == b->bos_id && a->eos_id == b->eos_id;
}
