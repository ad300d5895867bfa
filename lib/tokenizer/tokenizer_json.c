/* Loading a Hugging Face tokenizer.json: the BPE model, added tokens,
 * normalizer and pre-tokenizer (tokenizer_config.c adds the
 * post-processor's bos and tokenizer_config.json).  Anything that would change the ids and that tk does not
 * implement is refused with a message naming the file, rather than
 * silently tokenized differently. */
#include "tokenizer_internal.h"
#include "tokenizer_json.h"

#include "tk_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tk_json_read(cJSON **out, const char *path)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return tk_fail(TK_ENOINPUT, "%s: %s", path, strerror(errno));
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 65536 + 1 > cap) {
			cap = cap ? 2 * cap : 1 << 20;
			char *b = tk_realloc(buf, cap);
			if (!b) {
				free(buf);
				fclose(f);
				return TK_EOSERR;
			}
			buf = b;
		}
		size_t got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		free(buf);
		return tk_fail(TK_EIO, "%s: read error", path);
	}
	buf[len] = '\0';
	const char *end = NULL;
	*out = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!*out) {
		size_t at = end ? (size_t)(end - buf) : 0;
		size_t line = 1;
		for (size_t i = 0; i < at && i < len; i++)
			line += buf[i] == '\n';
		free(buf);
		return tk_fail(TK_EDATA, "%s:%zu: invalid JSON (near byte %zu)",
			       path, line, at);
	}
	free(buf);
	return TK_OK;
}

int tk_json_flag(const cJSON *obj, const char *key, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v);
	return dflt;
}

const char *tk_json_type(const cJSON *obj)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "type");
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* ---- the pre-tokenizer ------------------------------------------------- */

static const struct {
	const char *regex;
	uint8_t step;
} known_patterns[] = {
	{"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
	 TK_PRE_GPT2},
	{"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
	 TK_PRE_GPT2},
	{"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
	 TK_PRE_LLAMA3},
	{"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
	 TK_PRE_QWEN2},
};

static int add_step(tk_tokenizer *t, uint8_t step, const char *path)
{
	if (t->n_pre == TK_PRE_MAX_STEPS)
		return tk_fail(TK_EDATA, "%s: pre_tokenizer has too many steps",
			       path);
	t->pre[t->n_pre++] = step;
	return TK_OK;
}

static int parse_split(tk_tokenizer *t, const cJSON *node, const char *path)
{
	const cJSON *pat = cJSON_GetObjectItemCaseSensitive(node, "pattern");
	const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
	const cJSON *behavior = cJSON_GetObjectItemCaseSensitive(node, "behavior");
	if (!cJSON_IsString(re))
		return tk_fail(TK_EDATA, "%s: Split pre-tokenizer without a Regex pattern is not supported",
			       path);
	if (!cJSON_IsString(behavior) ||
	    strcmp(behavior->valuestring, "Isolated") != 0 ||
	    tk_json_flag(node, "invert", 0))
		return tk_fail(TK_EDATA, "%s: Split pre-tokenizer: only behavior Isolated without invert is supported",
			       path);
	for (size_t i = 0; i < sizeof known_patterns / sizeof known_patterns[0]; i++)
		if (strcmp(re->valuestring, known_patterns[i].regex) == 0)
			return add_step(t, known_patterns[i].step, path);
	return tk_fail(TK_EDATA, "%s: Split pattern %.200s is not one tk knows (GPT-2, Llama-3, Qwen2)",
		       path, re->valuestring);
}

static int parse_pre(tk_tokenizer *t, const cJSON *node, const char *path)
{
	if (!node || cJSON_IsNull(node))
		return TK_OK;
	const char *type = tk_json_type(node);
	int rc = TK_OK;
	if (strcmp(type, "Sequence") == 0) {
		const cJSON *item;
		cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(node, "pretokenizers"))
			if ((rc = parse_pre(t, item, path)))
				return rc;
		return TK_OK;
	}
	if (strcmp(type, "ByteLevel") == 0) {
		if (tk_json_flag(node, "add_prefix_space", 1))
			rc = add_step(t, TK_PRE_PREFIX_SPACE, path);
		if (!rc && tk_json_flag(node, "use_regex", 1))
			rc = add_step(t, TK_PRE_GPT2, path);
		return rc;
	}
	if (strcmp(type, "Digits") == 0)
		return add_step(t, tk_json_flag(node, "individual_digits", 0) ?
				   TK_PRE_DIGITS_ISOLATED : TK_PRE_DIGITS_CONTIGUOUS,
				path);
	if (strcmp(type, "Split") == 0)
		return parse_split(t, node, path);
	return tk_fail(TK_EDATA, "%s: pre_tokenizer type \"%s\" is not supported",
		       path, type);
}

/* The normalizers tk runs: none, NFC, or a Sequence of those. */
static int parse_normalizer(int *nfc, const cJSON *node, const char *path)
{
	if (!node || cJSON_IsNull(node))
		return TK_OK;
	const char *type = tk_json_type(node);
	if (strcmp(type, "NFC") == 0) {
		*nfc = 1;
		return TK_OK;
	}
	if (strcmp(type, "Sequence") == 0) {
		const cJSON *item;
		cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(node, "normalizers")) {
			int rc = parse_normalizer(nfc, item, path);
			if (rc)
				return rc;
		}
		return TK_OK;
	}
	return tk_fail(TK_EDATA, "%s: normalizer \"%s\" is not supported (only NFC)",
		       path, type);
}

/* ---- vocabulary, added tokens, merges ---------------------------------- */

static int check_model(const cJSON *model, const char *path)
{
	const char *type = tk_json_type(model);
	if (!cJSON_IsObject(model) || (*type && strcmp(type, "BPE") != 0))
		return tk_fail(TK_EDATA, "%s: model type \"%s\" is not supported (only byte-level BPE)",
			       path, type);
	if (tk_json_flag(model, "byte_fallback", 0))
		return tk_fail(TK_EDATA, "%s: BPE byte_fallback is not supported",
			       path);
	const char *keys[] = {"continuing_subword_prefix", "end_of_word_suffix"};
	for (int k = 0; k < 2; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, keys[k]);
		if (cJSON_IsString(v) && v->valuestring[0])
			return tk_fail(TK_EDATA, "%s: BPE %s is not supported",
				       path, keys[k]);
	}
	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(model, "vocab")) ||
	    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(model, "merges")))
		return tk_fail(TK_EDATA, "%s: model has no vocab object or merges array",
			       path);
	return TK_OK;
}

static int token_id(const cJSON *v, int64_t *id)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > INT32_MAX / 2 || v->valuedouble != (double)(int64_t)v->valuedouble)
		return 0;
	*id = (int64_t)v->valuedouble;
	return 1;
}

static int count_ids(const cJSON *vocab, const cJSON *added, size_t *n,
		     const char *path)
{
	int64_t max = -1, id;
	const cJSON *item;
	cJSON_ArrayForEach(item, vocab) {
		if (!token_id(item, &id))
			return tk_fail(TK_EDATA, "%s: vocab entry \"%.100s\" has no valid id",
				       path, item->string);
		max = id > max ? id : max;
	}
	cJSON_ArrayForEach(item, added) {
		if (!token_id(cJSON_GetObjectItemCaseSensitive(item, "id"), &id) ||
		    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(item, "content")))
			return tk_fail(TK_EDATA, "%s: added token without a valid id and content",
				       path);
		max = id > max ? id : max;
	}
	if (max < 0)
		return tk_fail(TK_EDATA, "%s: empty vocabulary", path);
	/* ids are dense in every real vocabulary: a wild one is an error, not
	 * a gigabyte of empty slots */
	size_t entries = (size_t)cJSON_GetArraySize(vocab) + (size_t)cJSON_GetArraySize(added);
	if ((size_t)max >= entries + 65536)
		return tk_fail(TK_EDATA, "%s: token id %lld is far beyond the %zu tokens listed",
			       path, (long long)max, entries);
	*n = (size_t)max + 1;
	return TK_OK;
}

static int load_vocab(tk_tokenizer *t, const cJSON *vocab, const cJSON *added,
		      struct tk_added *flags, size_t *n_flags, const char *path)
{
	const cJSON *item;
	int64_t id = 0;
	int rc;
	/* added tokens first: their content wins over a vocab entry */
	uint8_t *seen = tk_calloc(t->n_vocab, 1);
	if (!seen)
		return TK_EOSERR;
	cJSON_ArrayForEach(item, added) {
		token_id(cJSON_GetObjectItemCaseSensitive(item, "id"), &id);
		const char *content = cJSON_GetObjectItemCaseSensitive(item, "content")->valuestring;
		int special = tk_json_flag(item, "special", 0);
		rc = tk_tokenizer_set_token(t, (int32_t)id, content, strlen(content),
					    special ? TK_TOKEN_CONTROL : TK_TOKEN_USER_DEFINED);
		if (rc) {
			free(seen);
			return tk_fail_context(rc, "%s: ", path);
		}
		seen[id] = 1;
		struct tk_added *f = &flags[(*n_flags)++];
		f->id = (int32_t)id;
		f->special = (uint8_t)special;
		f->lstrip = (uint8_t)tk_json_flag(item, "lstrip", 0);
		f->rstrip = (uint8_t)tk_json_flag(item, "rstrip", 0);
		f->single_word = (uint8_t)tk_json_flag(item, "single_word", 0);
	}
	cJSON_ArrayForEach(item, vocab) {
		token_id(item, &id);
		if (seen[id]++)
			continue;
		rc = tk_tokenizer_set_token(t, (int32_t)id, item->string,
					    strlen(item->string), TK_TOKEN_NORMAL);
		if (rc) {
			free(seen);
			return tk_fail_context(rc, "%s: ", path);
		}
	}
	for (size_t i = 0; i < t->n_vocab; i++)
		if (!seen[i])
			t->type[i] = TK_TOKEN_UNUSED;
	free(seen);
	return TK_OK;
}

/* Merges come as "a b" (older files) or ["a", "b"]. */
struct merges_ctx {
	const cJSON *arr;
	const cJSON *cursor;
	size_t cursor_i;
	const char *path;
};

static int get_merge(void *vctx, size_t i, const char **a, size_t *alen,
		     const char **b, size_t *blen)
{
	struct merges_ctx *c = vctx;
	/* walk the linked list sequentially instead of cJSON_GetArrayItem */
	if (!c->cursor || c->cursor_i != i) {
		c->cursor = cJSON_GetArrayItem(c->arr, (int)i);
		c->cursor_i = i;
	}
	const cJSON *m = c->cursor;
	c->cursor = m ? m->next : NULL;
	c->cursor_i = i + 1;
	if (cJSON_IsString(m)) {
		const char *sp = strchr(m->valuestring, ' ');
		if (!sp || strchr(sp + 1, ' '))
			return tk_fail(TK_EDATA, "%s: merge %zu (\"%.100s\") is not two tokens separated by one space",
				       c->path, i, m->valuestring);
		*a = m->valuestring;
		*alen = (size_t)(sp - m->valuestring);
		*b = sp + 1;
		*blen = strlen(sp + 1);
		return TK_OK;
	}
	if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
	    cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
		*a = m->child->valuestring;
		*alen = strlen(*a);
		*b = m->child->next->valuestring;
		*blen = strlen(*b);
		return TK_OK;
	}
	return tk_fail(TK_EDATA, "%s: merge %zu is neither \"a b\" nor [\"a\", \"b\"]",
		       c->path, i);
}

static int build(tk_tokenizer **out, const cJSON *root, const char *path)
{
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
	const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
	const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
	int nfc = 0, rc = check_model(model, path);
	if (rc)
		return rc;
	if ((rc = parse_normalizer(&nfc, norm, path)))
		return rc;
	const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
	size_t n_vocab = 0;
	if ((rc = count_ids(vocab, added, &n_vocab, path)) ||
	    (rc = tk_tokenizer_alloc(out, n_vocab)))
		return rc;
	tk_tokenizer *t = *out;
	size_t n_flags = 0;
	struct tk_added *flags = tk_calloc((size_t)cJSON_GetArraySize(added) + 1,
					   sizeof *flags);
	if (!flags)
		return TK_EOSERR;
	const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
	struct merges_ctx mc = {merges, NULL, 0, path};
	t->ignore_merges = tk_json_flag(model, "ignore_merges", 0);
	t->nfc = nfc;
	if (!(rc = load_vocab(t, vocab, added, flags, &n_flags, path)) &&
	    !(rc = parse_pre(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), path)) &&
	    !(rc = tk_tokenizer_add_merges(t, (size_t)cJSON_GetArraySize(merges),
					   get_merge, &mc, path)))
		rc = tk_tokenizer_finish_with(t, flags, n_flags);
	free(flags);
	if (rc)
		return rc;
	const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
	if (cJSON_IsString(unk))
		t->unk_id = tk_tokenizer_find(t, unk->valuestring, strlen(unk->valuestring));
	tk_json_post_processor(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"));
	return TK_OK;
}

int tk_tokenizer_load_json(tk_tokenizer **out, const char *tokenizer_json_path,
			   const char *config_path)
{
	*out = NULL;
	cJSON *root;
	int rc = tk_json_read(&root, tokenizer_json_path);
	if (rc)
		return rc;
	tk_tokenizer *t = NULL;
	rc = build(&t, root, tokenizer_json_path);
	cJSON_Delete(root);
	if (!rc && config_path)
		rc = tk_json_load_config(t, config_path);
	if (rc) {
		tk_tokenizer_free(t);
		return rc;
	}
	*out = t;
	return TK_OK;
}
