/* A tokenizer from a model or a tokenizer's files (tokenizer_source.h). */
#include "cli/tokenizer_source.h"

#include "tk_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_tokenizer_folder(const char *path)
{
	struct stat sb;
	char p[4096];
	if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
		return 0;
	snprintf(p, sizeof p, "%s/config.json", path);
	if (access(p, F_OK) == 0)
		return 0;
	snprintf(p, sizeof p, "%s/tokenizer.json", path);
	return access(p, F_OK) == 0;
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);
	return n >= k && !strcmp(s + n - k, tail);
}

/* tokenizer.json (at json) with the tokenizer_config.json beside it. */
static int load_tokenizer_json(tk_tokenizer_source *l, const char *json)
{
	char config[4096];
	const char *slash = strrchr(json, '/');
	int dir = slash ? (int)(slash - json + 1) : 0;
	snprintf(config, sizeof config, "%.*stokenizer_config.json", dir, json);
	int rc = tk_tokenizer_load_json(&l->own_tok, json,
					access(config, F_OK) == 0 ? config : NULL);
	l->tok = l->own_tok;
	return rc;
}

/* A model (tk_model_load), or only a tokenizer: a folder holding
 * tokenizer.json and tokenizer_config.json, or a tokenizer.json.  All
 * tk-render needs is the tokenizer, its chat template and the
 * fingerprints (the model's when there is a model). */
int tk_tokenizer_source_load(tk_tokenizer_source *l, const char *path)
{
	memset(l, 0, sizeof *l);
	int rc;
	if (is_tokenizer_folder(path)) {
		char json[4096];
		snprintf(json, sizeof json, "%s/tokenizer.json", path);
		rc = load_tokenizer_json(l, json);
	} else if (ends_with(path, ".json")) {
		rc = load_tokenizer_json(l, path);
	} else {
		rc = tk_model_load_meta(&l->model, path); // no weights: only tokenizing
		if (!rc && !l->model->tokenizer)
			rc = tk_fail(TK_ECONFIG, "%s: the model has no tokenizer", path);
		if (!rc) {
			l->tok = l->model->tokenizer;
			tk_model_fingerprint_hex(l->model, l->model_fp);
		}
	}
	if (rc)
		return rc;
	snprintf(l->tok_fp, sizeof l->tok_fp, "%016" PRIx64, tk_tokenizer_fingerprint(l->tok));
	return TK_OK;
}

void tk_tokenizer_source_free(tk_tokenizer_source *l)
{
	tk_model_free(l->model);
	tk_tokenizer_free(l->own_tok);
}
