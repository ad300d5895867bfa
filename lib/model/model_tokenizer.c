/* The tokenizer in the forms a model file carries it: GGUF's
 * tokenizer.ggml.* metadata and the vocabulary object of a .tkc
 * checkpoint's metadata.  Both are the vocabulary as tk_vocab_spec holds
 * it, so any tokenizer tk loads can be written either way. */
#include "model_internal.h"

#include <stdlib.h>
#include <string.h>

#include "tk_error.h"

/* ---- from GGUF ----------------------------------------------------------- */

static int32_t gguf_id(const tk_gguf *g, const char *key)
{
	int64_t v;
	return tk_gguf_get_int(g, key, &v) == TK_OK && v >= 0 && v < INT32_MAX ? (int32_t)v : -1;
}

static int gguf_types(const tk_gguf *g, const tk_gguf_kv *tokens, int32_t **out)
{
	const tk_gguf_kv *kv = tk_gguf_find_kv(g, "tokenizer.ggml.token_type");
	*out = NULL;
	if (!kv)
		return TK_OK;
	if (kv->type != TK_GGUF_ARRAY || kv->count != tokens->count)
		return tk_fail(TK_EDATA, "%s: tokenizer.ggml.token_type is not an array of %llu "
			       "integers", g->file->path, (unsigned long long)tokens->count);
	int32_t *types = tk_malloc((size_t)kv->count * sizeof *types + 1);
	if (!types)
		return TK_EOSERR;
	for (uint64_t i = 0; i < kv->count; i++)
		types[i] = (int32_t)tk_gguf_array_int(kv, i);
	*out = types;
	return TK_OK;
}

int model_tokenizer_from_gguf(tk_tokenizer **out, const tk_gguf *g)
{
	*out = NULL;
	const tk_gguf_kv *tokens = tk_gguf_find_kv(g, "tokenizer.ggml.tokens");
	const tk_gguf_kv *merges = tk_gguf_find_kv(g, "tokenizer.ggml.merges");
	if (!tokens)
		return TK_OK; /* weights without a vocabulary */
	if (tokens->type != TK_GGUF_ARRAY || tokens->array_type != TK_GGUF_STRING)
		return tk_fail(TK_EDATA, "%s: tokenizer.ggml.tokens is not an array of strings",
			       g->file->path);
	if (merges && (merges->type != TK_GGUF_ARRAY || merges->array_type != TK_GGUF_STRING))
		return tk_fail(TK_EDATA, "%s: tokenizer.ggml.merges is not an array of strings",
			       g->file->path);
	tk_vocab_spec spec = {0};
	int rc = gguf_types(g, tokens, (int32_t **)&spec.token_types);
	if (rc)
		return rc;
	spec.model = "gpt2";
	tk_gguf_get_str(g, "tokenizer.ggml.model", &spec.model);
	tk_gguf_get_str(g, "tokenizer.ggml.pre", &spec.pre);
	tk_gguf_get_str(g, "tokenizer.chat_template", &spec.chat_template);
	spec.n_tokens = (size_t)tokens->count;
	spec.tokens = (const char *const *)tokens->strs;
	spec.token_lens = tokens->str_lens;
	if (merges) {
		spec.n_merges = (size_t)merges->count;
		spec.merges = (const char *const *)merges->strs;
		spec.merge_lens = merges->str_lens;
	}
	spec.bos_id = gguf_id(g, "tokenizer.ggml.bos_token_id");
	spec.eos_id = gguf_id(g, "tokenizer.ggml.eos_token_id");
	spec.pad_id = gguf_id(g, "tokenizer.ggml.padding_token_id");
	tk_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &spec.add_bos);
	rc = tk_tokenizer_from_vocab(out, &spec);
	free((void *)spec.token_types);
	if (rc)
		return tk_fail_context(rc, "%s: ", g->file->path);
	return TK_OK;
}

/* ---- the vocabulary of a loaded tokenizer -------------------------------- */

typedef struct vocab {
	size_t n_tokens, n_merges;
	const char **tokens;   /* into the tokenizer */
	size_t *token_lens;
	int32_t *types;
	char **merges;         /* "left right", owned */
	size_t *merge_lens;
} vocab;

static void vocab_free(vocab *v)
{
	for (size_t i = 0; v->merges && i < v->n_merges; i++)
		free(v->merges[i]);
	free(v->merges);
	free(v->merge_lens);
	free(v->tokens);
	free(v->token_lens);
	free(v->types);
}

static int merge_text(const tk_tokenizer *tok, size_t rank, char **out, size_t *len)
{
	int32_t l, r;
	size_t ll, rl;
	const char *lt = NULL, *rt = NULL;
	if (tk_tokenizer_merge(tok, rank, &l, &r) == TK_OK) {
		lt = tk_tokenizer_token_text(tok, l, &ll);
		rt = tk_tokenizer_token_text(tok, r, &rl);
	}
	if (!lt || !rt)
		return tk_fail(TK_ESOFTWARE, "tokenizer merge %zu cannot be read back", rank);
	char *s = tk_malloc(ll + rl + 2);
	if (!s)
		return TK_EOSERR;
	memcpy(s, lt, ll);
	s[ll] = ' ';
	memcpy(s + ll + 1, rt, rl);
	s[ll + rl + 1] = 0;
	*out = s;
	*len = ll + rl + 1;
	return TK_OK;
}

static int vocab_of(const tk_tokenizer *tok, vocab *v)
{
	memset(v, 0, sizeof *v);
	v->n_tokens = tk_tokenizer_vocab_size(tok);
	v->n_merges = tk_tokenizer_n_merges(tok);
	v->tokens = tk_calloc(v->n_tokens + 1, sizeof *v->tokens);
	v->token_lens = tk_calloc(v->n_tokens + 1, sizeof *v->token_lens);
	v->types = tk_calloc(v->n_tokens + 1, sizeof *v->types);
	v->merges = tk_calloc(v->n_merges + 1, sizeof *v->merges);
	v->merge_lens = tk_calloc(v->n_merges + 1, sizeof *v->merge_lens);
	if (!v->tokens || !v->token_lens || !v->types || !v->merges || !v->merge_lens)
		return TK_EOSERR;
	for (size_t i = 0; i < v->n_tokens; i++) {
		v->tokens[i] = tk_tokenizer_token_text(tok, (int32_t)i, &v->token_lens[i]);
		if (!v->tokens[i]) { /* a hole in the ids: an unused placeholder */
			v->tokens[i] = "";
			v->token_lens[i] = 0;
		}
		v->types[i] = tk_tokenizer_token_type(tok, (int32_t)i);
		if (!v->types[i])
			v->types[i] = TK_TOKEN_UNUSED;
	}
	for (size_t r = 0; r < v->n_merges; r++) {
		int rc = merge_text(tok, r, &v->merges[r], &v->merge_lens[r]);
		if (rc)
			return rc;
	}
	return TK_OK;
}

/* ---- to GGUF ------------------------------------------------------------- */

static int set_id(tk_gguf_writer *w, const char *key, int32_t id)
{
	return id >= 0 ? tk_gguf_set_u32(w, key, (uint32_t)id) : TK_OK;
}

int model_tokenizer_to_gguf(const tk_tokenizer *tok, tk_gguf_writer *w)
{
	vocab v;
	int rc = vocab_of(tok, &v);
	const char *pre = tk_tokenizer_pre_name(tok);
	const char *tmpl = tk_tokenizer_chat_template(tok);
	if (!rc)
		rc = tk_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
	if (!rc)
		rc = tk_gguf_set_str(w, "tokenizer.ggml.pre", pre ? pre : "default");
	if (!rc)
		rc = tk_gguf_set_str_array(w, "tokenizer.ggml.tokens", v.tokens, v.token_lens,
					   v.n_tokens);
	if (!rc)
		rc = tk_gguf_set_i32_array(w, "tokenizer.ggml.token_type", v.types, v.n_tokens);
	if (!rc)
		rc = tk_gguf_set_str_array(w, "tokenizer.ggml.merges",
					   (const char *const *)v.merges, v.merge_lens, v.n_merges);
	if (!rc)
		rc = set_id(w, "tokenizer.ggml.bos_token_id", tk_tokenizer_bos(tok));
	if (!rc)
		rc = set_id(w, "tokenizer.ggml.eos_token_id", tk_tokenizer_eos(tok));
	if (!rc)
		rc = set_id(w, "tokenizer.ggml.padding_token_id", tk_tokenizer_pad(tok));
	if (!rc)
		rc = tk_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", tk_tokenizer_add_bos(tok));
	if (!rc && tmpl)
		rc = tk_gguf_set_str(w, "tokenizer.chat_template", tmpl);
	vocab_free(&v);
	return rc;
}

/* ---- to and from a JSON object (.tkc metadata) --------------------------- */

/* Token texts may hold any byte but NUL: cJSON strings carry them as is. */
static cJSON *string_array(const char *const *s, const size_t *lens, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++) {
		char *copy = tk_malloc(lens[i] + 1);
		if (!copy) {
			cJSON_Delete(a);
			return NULL;
		}
		memcpy(copy, s[i], lens[i]);
		copy[lens[i]] = 0;
		cJSON_AddItemToArray(a, cJSON_CreateString(copy));
		free(copy);
	}
	return a;
}

cJSON *model_tokenizer_to_json(const tk_tokenizer *tok)
{
	vocab v;
	if (vocab_of(tok, &v)) {
		vocab_free(&v);
		return NULL;
	}
	cJSON *o = cJSON_CreateObject();
	const char *pre = tk_tokenizer_pre_name(tok);
	const char *tmpl = tk_tokenizer_chat_template(tok);
	cJSON_AddStringToObject(o, "model", "gpt2");
	cJSON_AddStringToObject(o, "pre", pre ? pre : "default");
	cJSON_AddItemToObject(o, "tokens", string_array(v.tokens, v.token_lens, v.n_tokens));
	cJSON_AddItemToObject(o, "token_types", cJSON_CreateIntArray(v.types, (int)v.n_tokens));
	cJSON_AddItemToObject(o, "merges", string_array((const char *const *)v.merges,
							v.merge_lens, v.n_merges));
	cJSON_AddNumberToObject(o, "bos_id", tk_tokenizer_bos(tok));
	cJSON_AddNumberToObject(o, "eos_id", tk_tokenizer_eos(tok));
	cJSON_AddNumberToObject(o, "pad_id", tk_tokenizer_pad(tok));
	cJSON_AddBoolToObject(o, "add_bos", tk_tokenizer_add_bos(tok));
	if (tmpl)
		cJSON_AddStringToObject(o, "chat_template", tmpl);
	vocab_free(&v);
	return o;
}

static int json_strings(const cJSON *a, const char *key, const char ***out, size_t *n,
			const char *what)
{
	if (!cJSON_IsArray(a))
		return tk_fail(TK_EDATA, "%s: tokenizer \"%s\" is not an array", what, key);
	*n = (size_t)cJSON_GetArraySize(a);
	const char **s = tk_calloc(*n + 1, sizeof *s);
	if (!s)
		return TK_EOSERR;
	size_t i = 0;
	for (const cJSON *e = a->child; e; e = e->next, i++) {
		if (!cJSON_IsString(e)) {
			free(s);
			return tk_fail(TK_EDATA, "%s: tokenizer \"%s\"[%zu] is not a string",
				       what, key, i);
		}
		s[i] = e->valuestring;
	}
	*out = s;
	return TK_OK;
}

static int32_t json_id(const cJSON *o, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(j) && j->valuedouble >= 0 && j->valuedouble < INT32_MAX ?
	       (int32_t)j->valuedouble : -1;
}

static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(j) ? j->valuestring : NULL;
}

static int json_types(const cJSON *o, size_t n, int32_t **out, const char *what)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "token_types");
	*out = NULL;
	if (!a)
		return TK_OK;
	if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n)
		return tk_fail(TK_EDATA, "%s: tokenizer \"token_types\" does not match the tokens",
			       what);
	int32_t *t = tk_malloc(n * sizeof *t + 1);
	if (!t)
		return TK_EOSERR;
	size_t i = 0;
	for (const cJSON *e = a->child; e; e = e->next)
		t[i++] = cJSON_IsNumber(e) ? (int32_t)e->valuedouble : 0;
	*out = t;
	return TK_OK;
}

int model_tokenizer_from_json(tk_tokenizer **out, const cJSON *o, const char *what)
{
	*out = NULL;
	if (!cJSON_IsObject(o))
		return tk_fail(TK_EDATA, "%s: \"tokenizer\" is not an object", what);
	tk_vocab_spec spec = {0};
	const char **tokens = NULL, **merges = NULL;
	int32_t *types = NULL;
	int rc = json_strings(cJSON_GetObjectItemCaseSensitive(o, "tokens"), "tokens", &tokens,
			      &spec.n_tokens, what);
	if (!rc)
		rc = json_strings(cJSON_GetObjectItemCaseSensitive(o, "merges"), "merges",
				  &merges, &spec.n_merges, what);
	if (!rc)
		rc = json_types(o, spec.n_tokens, &types, what);
	if (!rc) {
		spec.model = json_str(o, "model") ? json_str(o, "model") : "gpt2";
		spec.pre = json_str(o, "pre");
		spec.chat_template = json_str(o, "chat_template");
		spec.tokens = tokens;
		spec.merges = merges;
		spec.token_types = types;
		spec.bos_id = json_id(o, "bos_id");
		spec.eos_id = json_id(o, "eos_id");
		spec.pad_id = json_id(o, "pad_id");
		spec.add_bos = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "add_bos"));
		rc = tk_tokenizer_from_vocab(out, &spec);
		if (rc)
			tk_fail_context(rc, "%s: ", what);
	}
	free(tokens);
	free(merges);
	free(types);
	return rc;
}
