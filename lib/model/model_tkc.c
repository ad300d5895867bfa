/* A full model in a .tkc checkpoint: the metadata carries the config (HF
 * config.json form) and the tokenizer's vocabulary; the tensors are the
 * weights under their HF names.  Layout of the metadata in tk_model.h. */
#include "model_internal.h"

#include <stdlib.h>
#include <string.h>

#include "tk_dtype.h"
#include "tk_error.h"

static int tkc_config(tk_model *m, const cJSON *meta, const char *path)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(meta, "kind");
	if (cJSON_IsString(kind) && strcmp(kind->valuestring, "full") != 0)
		return tk_fail(TK_EDATA, "%s: a \"%s\" checkpoint, not a full model (load its "
			       "base model and apply it)", path, kind->valuestring);
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(meta, "config");
	if (!cJSON_IsObject(config))
		return tk_fail(TK_EDATA, "%s: no model \"config\" in the checkpoint metadata", path);
	char *text = cJSON_PrintUnformatted(config);
	if (!text)
		return tk_fail(TK_EOSERR, "out of memory");
	int rc = tk_model_config_from_json(&m->config, text, path);
	free(text);
	return rc;
}

static int tkc_tensor(tk_model *m, const tk_tensor_info *t, const char *path)
{
	if (t->dtype != TK_F32 && t->dtype != TK_F16 && t->dtype != TK_BF16)
		return tk_fail(TK_EDATA, "%s: tensor '%s' is %s, not a float weight", path,
			       t->name, tk_dtype_name(t->dtype) ? tk_dtype_name(t->dtype) : "?");
	size_t numel = 1;
	for (int d = 0; d < t->ndim; d++)
		numel *= (size_t)t->shape[d];
	if (t->dtype == TK_F32 && ((uintptr_t)t->data & 3) == 0)
		return model_add_tensor(m, t->name, t->ndim, t->shape, t->data, 0, "f32");
	float *data = tk_malloc(numel * sizeof *data + 1);
	if (!data)
		return TK_EOSERR;
	tk_dtype_to_f32(t->dtype, t->data, data, numel);
	return model_add_tensor(m, t->name, t->ndim, t->shape, data, 1, tk_dtype_name(t->dtype));
}

int model_load_tkc(tk_model *m, const char *path)
{
	char *meta_only_json = NULL;
	int rc = m->source->meta_only ? tk_tkc_read_meta(&meta_only_json, path)
				      : tk_tkc_read(&m->source->tkc, path);
	if (rc)
		return rc;
	const tk_tkc *c = m->source->tkc;
	cJSON *meta = cJSON_Parse(c ? (c->meta_json ? c->meta_json : "") : meta_only_json);
	free(meta_only_json);
	if (!cJSON_IsObject(meta))
		rc = tk_fail(TK_EDATA, "%s: checkpoint metadata is not a JSON object", path);
	if (!rc)
		rc = tkc_config(m, meta, path);
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer");
	if (!rc && tok)
		rc = model_tokenizer_from_json(&m->tokenizer, tok, path);
	cJSON_Delete(meta);
	for (size_t i = 0; !rc && c && i < c->count; i++)
		rc = tkc_tensor(m, &c->tensors[i], path);
	return rc;
}

char *tk_model_tkc_meta(const tk_model *m)
{
	char *config_text = tk_model_config_to_json(&m->config);
	cJSON *config = config_text ? cJSON_Parse(config_text) : NULL;
	free(config_text);
	cJSON *tok = m->tokenizer ? model_tokenizer_to_json(m->tokenizer) : NULL;
	if (!config || (m->tokenizer && !tok)) {
		cJSON_Delete(config);
		cJSON_Delete(tok);
		tk_fail(TK_EOSERR, "out of memory building checkpoint metadata");
		return NULL;
	}
	char hex[17];
	tk_model_fingerprint_hex(m, hex);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", "full");
	cJSON_AddItemToObject(o, "config", config);
	cJSON_AddStringToObject(o, "fingerprint", hex);
	if (tok)
		cJSON_AddItemToObject(o, "tokenizer", tok);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		tk_fail(TK_EOSERR, "out of memory printing checkpoint metadata");
	return text;
}

int tk_model_write_tkc(const tk_model *m, const char *path)
{
	char *meta = tk_model_tkc_meta(m);
	if (!meta)
		return TK_EOSERR;
	tk_tkc_writer *w;
	int rc = tk_tkc_writer_open(&w, path, meta, 1);
	free(meta);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		const tk_model_tensor *t = &m->tensors[i];
		rc = tk_tkc_write_tensor(w, t->name, TK_F32, t->ndim, t->shape, t->data);
	}
	if (rc) {
		tk_tkc_writer_abort(w);
		return rc;
	}
	return tk_tkc_writer_close(w);
}
