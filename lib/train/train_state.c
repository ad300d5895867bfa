/* State checkpoints (kind "state"): the trained tensors by name and both
 * AdamW moments ("optim.m." / "optim.v." + name), so that a resumed run
 * continues bit for bit; and copying the trained adapter back to the host
 * for tk_lora_save. */
#include "train_internal.h"

#include "kernels.h"
#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_tkc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {"kind": "state", "training": "lora"|"full", "step": N, ...extra}. */
static char *state_meta(const tk_train *t, const char *extra)
{
	cJSON *o = extra ? cJSON_Parse(extra) : cJSON_CreateObject();
	if (!o || !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		tk_fail(TK_EUSAGE, "train: state metadata is not a JSON object");
		return NULL;
	}
	cJSON_DeleteItemFromObject(o, "kind");
	cJSON_DeleteItemFromObject(o, "training");
	cJSON_DeleteItemFromObject(o, "step");
	cJSON_AddStringToObject(o, "kind", "state");
	cJSON_AddStringToObject(o, "training", t->full ? "full" : "lora");
	cJSON_AddNumberToObject(o, "step", (double)t->step);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		tk_fail(TK_EOSERR, "train: out of memory for state metadata");
	return s;
}

static int write_tensor(tk_tkc_writer *w, const tk_train *t, const tr_tensor *x,
			const char *prefix, const float *block, float *host)
{
	char name[TR_NAME_MAX + 16];
	snprintf(name, sizeof name, "%s%s", prefix, x->name);
	tk_copy_to_host(t->be, host, block + x->offset, x->numel * sizeof *host);
	return tk_tkc_write_tensor(w, name, TK_F32, x->ndim, x->shape, host);
}

static size_t largest(const tk_train *t)
{
	size_t n = 1;
	for (size_t i = 0; i < t->n_tensors; i++)
		n = t->tensors[i].numel > n ? t->tensors[i].numel : n;
	return n;
}

int tk_train_save_state(const tk_train *t, const char *path, const char *extra_meta_json)
{
	char *meta = state_meta(t, extra_meta_json);
	float *host = tk_malloc(largest(t) * sizeof *host);
	tk_tkc_writer *w = NULL;
	int rc = !meta || !host ? TK_EOSERR : tk_tkc_writer_open(&w, path, meta, 1);
	static const char *const prefix[3] = {"", "optim.m.", "optim.v."};
	const float *blocks[3] = {t->param, t->m, t->v};
	for (int b = 0; b < 3 && !rc; b++)
		for (size_t i = 0; i < t->n_tensors && !rc; i++)
			if (t->tensors[i].trainable)
				rc = write_tensor(w, t, &t->tensors[i], prefix[b], blocks[b], host);
	if (rc)
		tk_tkc_writer_abort(w);
	else
		rc = tk_tkc_writer_close(w);
	free(meta);
	free(host);
	return rc;
}

static int read_tensor(tk_train *t, const tk_tkc *c, const tr_tensor *x,
		       const char *prefix, float *block, const char *path)
{
	char name[TR_NAME_MAX + 16];
	snprintf(name, sizeof name, "%s%s", prefix, x->name);
	const tk_tensor_info *ti = tk_tkc_find(c, name);
	if (!ti)
		return tk_fail(TK_EDATA, "%s: state lacks %s (another model or adapter "
			       "shape?)", path, name);
	if (ti->dtype != TK_F32 || ti->nbytes != x->numel * sizeof(float))
		return tk_fail(TK_EDATA, "%s: %s has %zu bytes, not %zu f32", path, name,
			       ti->nbytes, x->numel);
	tk_copy_to_device(t->be, block + x->offset, ti->data, ti->nbytes);
	return TK_OK;
}

static int read_meta(tk_train *t, const tk_tkc *c, const char *path)
{
	cJSON *o = cJSON_Parse(c->meta_json);
	const cJSON *kind = cJSON_GetObjectItem(o, "kind");
	const cJSON *training = cJSON_GetObjectItem(o, "training");
	const cJSON *step = cJSON_GetObjectItem(o, "step");
	int rc = TK_OK;
	if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "state") != 0)
		rc = tk_fail(TK_EDATA, "%s: not a state checkpoint", path);
	else if (!cJSON_IsString(training) ||
		 strcmp(training->valuestring, t->full ? "full" : "lora") != 0)
		rc = tk_fail(TK_EDATA, "%s: state of %s training, this run is %s", path,
			     cJSON_IsString(training) ? training->valuestring : "unknown",
			     t->full ? "full" : "lora");
	else if (!cJSON_IsNumber(step) || step->valuedouble < 0)
		rc = tk_fail(TK_EDATA, "%s: state has no step", path);
	else
		t->step = (int64_t)step->valuedouble;
	cJSON_Delete(o);
	return rc;
}

int tk_train_load_state(tk_train *t, const char *path, char **meta)
{
	if (meta)
		*meta = NULL;
	tk_tkc *c = NULL;
	int rc = tk_tkc_read(&c, path);
	if (!rc)
		rc = read_meta(t, c, path);
	static const char *const prefix[3] = {"", "optim.m.", "optim.v."};
	float *blocks[3] = {t->param, t->m, t->v};
	for (int b = 0; b < 3 && !rc; b++)
		for (size_t i = 0; i < t->n_tensors && !rc; i++)
			if (t->tensors[i].trainable)
				rc = read_tensor(t, c, &t->tensors[i], prefix[b], blocks[b], path);
	if (!rc && meta && !(*meta = tk_strdup(c->meta_json)))
		rc = TK_EOSERR;
	if (!rc)
		tk_train_zero_grad(t);
	tk_tkc_free(c);
	return rc;
}

int tk_train_export_lora(const tk_train *t, tk_lora *l)
{
	if (t->full || l->config.rank != t->lora_rank || l->config.targets != t->lora_targets ||
	    l->n_layers != (int)t->d.n_layers)
		return tk_fail(TK_EUSAGE, "train: the adapter does not have the trained shape");
	for (int layer = 0; layer < l->n_layers; layer++)
		for (int k = 0; k < TR_N_LINEAR; k++) {
			tk_lora_pair *p = tk_lora_get(l, layer, k);
			if (!p)
				continue;
			size_t r = (size_t)t->lora_rank;
			tk_copy_to_host(t->be, p->a, t->p[layer].lora_a[k], r * p->in * sizeof(float));
			tk_copy_to_host(t->be, p->b, t->p[layer].lora_b[k], p->out * r * sizeof(float));
		}
	return TK_OK;
}
