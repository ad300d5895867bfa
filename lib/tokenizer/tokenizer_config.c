/* What tokenizer.json gives beyond the vocabulary (its post-processor's
 * bos) and tokenizer_config.json: bos/eos/pad, add_bos_token, chat
 * template. */
#include "tokenizer_internal.h"
#include "tokenizer_json.h"

#include "tk_error.h"

#include <string.h>

/* TemplateProcessing whose single template starts with a special token:
 * that token is bos, added to every encoding. */
void tk_json_post_processor(tk_tokenizer *t, const cJSON *node)
{
	if (!node)
		return;
	if (strcmp(tk_json_type(node), "Sequence") == 0) {
		const cJSON *item;
		cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(node, "processors"))
			tk_json_post_processor(t, item);
		return;
	}
	if (strcmp(tk_json_type(node), "TemplateProcessing") != 0)
		return;
	const cJSON *single = cJSON_GetObjectItemCaseSensitive(node, "single");
	const cJSON *first = cJSON_IsArray(single) ? single->child : NULL;
	const cJSON *sp = cJSON_GetObjectItemCaseSensitive(first, "SpecialToken");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(sp, "id");
	if (!cJSON_IsString(name))
		return;
	int32_t id = tk_tokenizer_find(t, name->valuestring, strlen(name->valuestring));
	if (id >= 0) {
		t->bos = id;
		t->add_bos = 1;
	}
}

/* "bos_token": "<s>" or {"content": "<s>", ...} */
static int32_t config_token(const tk_tokenizer *t, const cJSON *cfg,
			    const char *key, int32_t dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
	if (cJSON_IsObject(v))
		v = cJSON_GetObjectItemCaseSensitive(v, "content");
	if (!cJSON_IsString(v))
		return dflt;
	int32_t id = tk_tokenizer_find(t, v->valuestring, strlen(v->valuestring));
	return id >= 0 ? id : dflt;
}

int tk_json_load_config(tk_tokenizer *t, const char *path)
{
	cJSON *cfg;
	int rc = tk_json_read(&cfg, path);
	if (rc)
		return rc;
	t->bos = config_token(t, cfg, "bos_token", t->bos);
	t->eos = config_token(t, cfg, "eos_token", t->eos);
	t->pad = config_token(t, cfg, "pad_token", t->pad);
	t->add_bos = tk_json_flag(cfg, "add_bos_token", t->add_bos);
	const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
	if (cJSON_IsArray(tpl)) { /* named templates: take "default" */
		const cJSON *item, *found = NULL;
		cJSON_ArrayForEach(item, tpl) {
			const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
			if (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0)
				found = cJSON_GetObjectItemCaseSensitive(item, "template");
		}
		tpl = found;
	}
	if (cJSON_IsString(tpl) && !(t->chat_template = tk_strdup(tpl->valuestring)))
		rc = TK_EOSERR;
	cJSON_Delete(cfg);
	return rc;
}
