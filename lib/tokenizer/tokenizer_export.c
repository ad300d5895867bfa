/* tokenizer.json and tokenizer_config.json as Hugging Face writes them,
 * from a loaded tokenizer: how a model that came from GGUF or .tkc goes
 * back to transformers with the same ids. */
#include "tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_export.h"
#include "tk_io.h"

/* The regexes of the Split pre-tokenizers, as tokenizer.json spells them. */
static const char *const llama3_regex =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const qwen2_regex =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static cJSON *byte_level(int add_prefix_space, int use_regex)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "ByteLevel");
	cJSON_AddBoolToObject(o, "add_prefix_space", add_prefix_space);
	cJSON_AddBoolToObject(o, "trim_offsets", 1);
	cJSON_AddBoolToObject(o, "use_regex", use_regex);
	return o;
}

static cJSON *split(const char *regex)
{
	cJSON *o = cJSON_CreateObject(), *pattern = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "Split");
	cJSON_AddStringToObject(pattern, "Regex", regex);
	cJSON_AddItemToObject(o, "pattern", pattern);
	cJSON_AddStringToObject(o, "behavior", "Isolated");
	cJSON_AddBoolToObject(o, "invert", 0);
	return o;
}

static cJSON *digits(int individual)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "Digits");
	cJSON_AddBoolToObject(o, "individual_digits", individual);
	return o;
}

/* The steps back into pre-tokenizer objects.  The byte-level mapping ends
 * every sequence: with the GPT-2 pattern it does the splitting itself
 * (use_regex), after a Split it only maps bytes. */
static cJSON *pre_tokenizer(const tk_tokenizer *t)
{
	cJSON *seq = cJSON_CreateArray();
	int prefix_space = 0, gpt2 = 0;
	for (size_t i = 0; i < t->n_pre; i++) {
		switch (t->pre[i]) {
		case TK_PRE_DIGITS_ISOLATED: cJSON_AddItemToArray(seq, digits(1)); break;
		case TK_PRE_DIGITS_CONTIGUOUS: cJSON_AddItemToArray(seq, digits(0)); break;
		case TK_PRE_PREFIX_SPACE: prefix_space = 1; break;
		case TK_PRE_GPT2: gpt2 = 1; break;
		case TK_PRE_LLAMA3: cJSON_AddItemToArray(seq, split(llama3_regex)); break;
		case TK_PRE_QWEN2: cJSON_AddItemToArray(seq, split(qwen2_regex)); break;
		}
	}
	cJSON_AddItemToArray(seq, byte_level(prefix_space, gpt2));
	if (cJSON_GetArraySize(seq) == 1) {
		cJSON *only = cJSON_DetachItemFromArray(seq, 0);
		cJSON_Delete(seq);
		return only;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "Sequence");
	cJSON_AddItemToObject(o, "pretokenizers", seq);
	return o;
}

static char *token_string(const tk_tokenizer *t, int32_t id)
{
	size_t len;
	const char *text = tk_tokenizer_token_text(t, id, &len);
	char *s = tk_malloc(len + 1);
	if (s) {
		memcpy(s, text ? text : "", text ? len : 0);
		s[text ? len : 0] = '\0';
	}
	return s;
}

/* The flags an added token was loaded with (all 0 when it came from a
 * vocabulary that has none, like GGUF's). */
static struct tk_added added_flags(const tk_tokenizer *t, int32_t id)
{
	for (size_t i = 0; i < t->n_added; i++)
		if (t->added[i].id == id)
			return t->added[i];
	return (struct tk_added){.id = id};
}

static cJSON *added_tokens(const tk_tokenizer *t)
{
	cJSON *list = cJSON_CreateArray();
	size_t n = tk_tokenizer_vocab_size(t);
	for (size_t id = 0; id < n; id++) {
		int type = t->type[id];
		if (type != TK_TOKEN_CONTROL && type != TK_TOKEN_USER_DEFINED)
			continue;
		struct tk_added flags = added_flags(t, (int32_t)id);
		size_t len;
		const char *piece = tk_tokenizer_piece(t, (int32_t)id, &len);
		char *content = tk_malloc(len + 1);
		if (!content)
			continue;
		memcpy(content, piece, len);
		content[len] = '\0';
		cJSON *a = cJSON_CreateObject();
		cJSON_AddNumberToObject(a, "id", (double)id);
		cJSON_AddStringToObject(a, "content", content);
		cJSON_AddBoolToObject(a, "single_word", flags.single_word);
		cJSON_AddBoolToObject(a, "lstrip", flags.lstrip);
		cJSON_AddBoolToObject(a, "rstrip", flags.rstrip);
		cJSON_AddBoolToObject(a, "normalized", type != TK_TOKEN_CONTROL);
		cJSON_AddBoolToObject(a, "special", type == TK_TOKEN_CONTROL);
		cJSON_AddItemToArray(list, a);
		free(content);
	}
	return list;
}

static cJSON *bpe_model(const tk_tokenizer *t)
{
	cJSON *m = cJSON_CreateObject(), *vocab = cJSON_CreateObject();
	cJSON *merges = cJSON_CreateArray();
	cJSON_AddStringToObject(m, "type", "BPE");
	cJSON_AddNullToObject(m, "dropout");
	cJSON_AddNullToObject(m, "unk_token");
	cJSON_AddNullToObject(m, "continuing_subword_prefix");
	cJSON_AddNullToObject(m, "end_of_word_suffix");
	cJSON_AddBoolToObject(m, "fuse_unk", 0);
	cJSON_AddBoolToObject(m, "byte_fallback", 0);
	cJSON_AddBoolToObject(m, "ignore_merges", t->ignore_merges);
	size_t n = tk_tokenizer_vocab_size(t);
	for (size_t id = 0; id < n; id++) {
		char *s = token_string(t, (int32_t)id);
		if (s)
			cJSON_AddNumberToObject(vocab, s, (double)id);
		free(s);
	}
	for (size_t r = 0; r < tk_tokenizer_n_merges(t); r++) {
		int32_t left, right;
		if (tk_tokenizer_merge(t, r, &left, &right))
			continue;
		char *a = token_string(t, left), *b = token_string(t, right);
		const char *pair[2] = {a ? a : "", b ? b : ""};
		cJSON_AddItemToArray(merges, cJSON_CreateStringArray(pair, 2));
		free(a);
		free(b);
	}
	cJSON_AddItemToObject(m, "vocab", vocab);
	cJSON_AddItemToObject(m, "merges", merges);
	return m;
}

static cJSON *tokenizer_json(const tk_tokenizer *t)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "version", "1.0");
	cJSON_AddNullToObject(o, "truncation");
	cJSON_AddNullToObject(o, "padding");
	cJSON_AddItemToObject(o, "added_tokens", added_tokens(t));
	if (t->nfc) {
		cJSON *nfc = cJSON_CreateObject();
		cJSON_AddStringToObject(nfc, "type", "NFC");
		cJSON_AddItemToObject(o, "normalizer", nfc);
	} else {
		cJSON_AddNullToObject(o, "normalizer");
	}
	cJSON_AddItemToObject(o, "pre_tokenizer", pre_tokenizer(t));
	cJSON_AddNullToObject(o, "post_processor");
	cJSON_AddItemToObject(o, "decoder", byte_level(1, 1));
	cJSON_AddItemToObject(o, "model", bpe_model(t));
	return o;
}

static void add_token_text(cJSON *o, const char *key, const tk_tokenizer *t, int32_t id)
{
	size_t len;
	const char *piece = id >= 0 ? tk_tokenizer_piece(t, id, &len) : NULL;
	char *s = piece ? tk_malloc(len + 1) : NULL;
	if (s) {
		memcpy(s, piece, len);
		s[len] = '\0';
		cJSON_AddStringToObject(o, key, s);
	} else {
		cJSON_AddNullToObject(o, key);
	}
	free(s);
}

static cJSON *tokenizer_config(const tk_tokenizer *t)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "tokenizer_class", "PreTrainedTokenizerFast");
	add_token_text(o, "bos_token", t, t->bos);
	add_token_text(o, "eos_token", t, t->eos);
	add_token_text(o, "pad_token", t, t->pad);
	cJSON_AddBoolToObject(o, "add_bos_token", t->add_bos);
	cJSON_AddBoolToObject(o, "clean_up_tokenization_spaces", 0);
	cJSON_AddNumberToObject(o, "model_max_length", 131072);
	if (t->chat_template)
		cJSON_AddStringToObject(o, "chat_template", t->chat_template);
	return o;
}

static int write_json(cJSON *o, const char *path)
{
	char *text = o ? cJSON_Print(o) : NULL;
	cJSON_Delete(o);
	if (!text)
		return tk_fail(TK_EOSERR, "%s: cannot build the JSON", path);
	size_t len = strlen(text);
	char *line = realloc(text, len + 2);
	if (!line) {
		free(text);
		return tk_fail(TK_EOSERR, "%s: out of memory", path);
	}
	memcpy(line + len, "\n", 2);
	int rc = tk_write_text(path, line, len + 1);
	free(line);
	return rc;
}

int tk_tokenizer_write_hf(const tk_tokenizer *tok, const char *json_path,
			  const char *config_path)
{
	int rc = write_json(tokenizer_json(tok), json_path);
	if (!rc && config_path)
		rc = write_json(tokenizer_config(tok), config_path);
	return rc;
}
