/* Hugging Face folders out of tk: a whole model (transformers) and an
 * adapter (PEFT), each written into an atomic output folder. */
#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_export.h"
#include "tk_io.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int copy_file(const char *from, const char *to)
{
	char *text;
	size_t len;
	int rc = tk_read_text(from, (size_t)256 << 20, &text, &len);
	if (rc)
		return rc;
	rc = tk_write_text(to, text, len);
	free(text);
	return rc;
}

/* The tokenizer files: the source's own when the model came from an HF
 * folder that has them (kept byte for byte), else written from the
 * vocabulary. */
static int write_tokenizer(const tk_model *m, tk_outdir *d)
{
	if (!m->tokenizer)
		return TK_OK;
	if (m->format && strcmp(m->format, "hf") == 0) {
		char from[4096];
		static const char *const names[] = {"tokenizer.json", "tokenizer_config.json"};
		int rc = TK_OK;
		for (int i = 0; i < 2 && !rc; i++) {
			snprintf(from, sizeof from, "%s/%s", m->path, names[i]);
			FILE *probe = fopen(from, "rb");
			if (!probe)
				break;
			fclose(probe);
			rc = copy_file(from, tk_outdir_file(d, names[i]));
		}
		return rc;
	}
	char *json_path = tk_strdup(tk_outdir_file(d, "tokenizer.json"));
	if (!json_path)
		return TK_EOSERR;
	int rc = tk_tokenizer_write_hf(m->tokenizer, json_path,
				       tk_outdir_file(d, "tokenizer_config.json"));
	free(json_path);
	return rc;
}

static int write_generation_config(const tk_model *m, tk_outdir *d)
{
	char text[256];
	snprintf(text, sizeof text, "{\n  \"bos_token_id\": %d,\n  \"eos_token_id\": %d\n}\n",
		 (int)m->config.bos_id, (int)m->config.eos_id);
	return tk_write_text(tk_outdir_file(d, "generation_config.json"), text, strlen(text));
}

static int write_weights(const tk_model *m, const char *path, int dtype)
{
	tk_st_entry *e = tk_calloc(m->n_tensors, sizeof *e);
	if (!e)
		return TK_EOSERR;
	for (size_t i = 0; i < m->n_tensors; i++)
		e[i] = (tk_st_entry){m->tensors[i].name, m->tensors[i].ndim,
				     m->tensors[i].shape, m->tensors[i].data};
	int rc = tk_safetensors_write(path, e, m->n_tensors, dtype, NULL);
	free(e);
	return rc;
}

int tk_export_hf(const tk_model *m, const char *dir, int dtype, int force)
{
	tk_outdir *d;
	int rc = tk_outdir_open(&d, dir, force);
	if (rc)
		return rc;
	char *config = tk_model_config_to_json(&m->config);
	rc = config ? tk_write_text(tk_outdir_file(d, "config.json"), config, strlen(config)) : TK_EOSERR;
	free(config);
	if (!rc)
		rc = write_weights(m, tk_outdir_file(d, "model.safetensors"), dtype);
	if (!rc)
		rc = write_tokenizer(m, d);
	if (!rc)
		rc = write_generation_config(m, d);
	if (rc) {
		tk_outdir_abort(d);
		return rc;
	}
	return tk_outdir_commit(d);
}

/* ---- PEFT ---------------------------------------------------------------- */

static char *peft_config(const tk_lora *l, const char *base_name)
{
	cJSON *o = cJSON_CreateObject(), *targets = cJSON_CreateArray();
	cJSON_AddStringToObject(o, "peft_type", "LORA");
	cJSON_AddStringToObject(o, "task_type", "CAUSAL_LM");
	cJSON_AddStringToObject(o, "base_model_name_or_path", base_name ? base_name : "");
	cJSON_AddNumberToObject(o, "r", l->config.rank);
	cJSON_AddNumberToObject(o, "lora_alpha", l->config.alpha);
	cJSON_AddNumberToObject(o, "lora_dropout", 0.0);
	cJSON_AddStringToObject(o, "bias", "none");
	cJSON_AddBoolToObject(o, "fan_in_fan_out", 0);
	cJSON_AddBoolToObject(o, "inference_mode", 1);
	cJSON_AddBoolToObject(o, "use_rslora", 0);
	cJSON_AddBoolToObject(o, "use_dora", 0);
	cJSON_AddNullToObject(o, "modules_to_save");
	for (int t = 0; t < TK_LORA_N_TARGETS; t++)
		if (l->config.targets & (1u << t))
			cJSON_AddItemToArray(targets, cJSON_CreateString(tk_lora_target_module(t)));
	cJSON_AddItemToObject(o, "target_modules", targets);
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}

enum { NAME_CAP = 160 };

static int peft_weights(const tk_lora *l, const char *path, int dtype)
{
	size_t cap = (size_t)l->n_layers * TK_LORA_N_TARGETS * 2, n = 0;
	tk_st_entry *e = tk_calloc(cap, sizeof *e);
	char *names = tk_calloc(cap, NAME_CAP);
	int64_t *shapes = tk_calloc(cap * 2, sizeof *shapes);
	int rc = e && names && shapes ? TK_OK : TK_EOSERR;
	for (int layer = 0; layer < l->n_layers && !rc; layer++) {
		for (int t = 0; t < TK_LORA_N_TARGETS && !rc; t++) {
			const tk_lora_pair *p = tk_lora_get(l, layer, t);
			for (int which = 0; p && which < 2 && !rc; which++, n++) {
				char *name = names + n * NAME_CAP;
				int64_t *shape = shapes + 2 * n;
				rc = tk_lora_tensor_name(name, NAME_CAP, layer, t, which ? 'B' : 'A');
				shape[0] = which ? (int64_t)p->out : l->config.rank;
				shape[1] = which ? l->config.rank : (int64_t)p->in;
				e[n] = (tk_st_entry){name, 2, shape, which ? p->b : p->a};
			}
		}
	}
	if (!rc)
		rc = tk_safetensors_write(path, e, n, dtype, NULL);
	free(e);
	free(names);
	free(shapes);
	return rc;
}

int tk_export_peft(const tk_lora *l, const char *base_name, const char *dir,
		   int dtype, int force)
{
	tk_outdir *d;
	int rc = tk_outdir_open(&d, dir, force);
	if (rc)
		return rc;
	char *config = peft_config(l, base_name);
	rc = config ? tk_write_text(tk_outdir_file(d, "adapter_config.json"), config, strlen(config)) : TK_EOSERR;
	free(config);
	if (!rc)
		rc = peft_weights(l, tk_outdir_file(d, "adapter_model.safetensors"), dtype);
	if (rc) {
		tk_outdir_abort(d);
		return rc;
	}
	return tk_outdir_commit(d);
}
