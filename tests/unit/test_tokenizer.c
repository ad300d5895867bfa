/* The tokenizer against ids from Hugging Face tokenizers
 * (scripts/oracle/tokenizer_fixtures.py): the tiny tokenizer, its variants
 * under other pre-tokenizers, and SmolLM2's vocabulary from its GGUF, on
 * every text of tests/fixtures/tokenizer/corpus.jsonl, with and without
 * special-token recognition; then round trips, bad files, long inputs. */
#include "tkt.h"

#include "tk_error.h"
#include "tk_gguf.h"
#include "tk_tokenizer.h"
#include "tokenizer/tokenizer_nfc.h"
#include "base/unicode.h"

#include <cjson/cJSON.h>
#include <time.h>

#define FIX "tests/fixtures/tokenizer/"
#define TINY "tests/fixtures/tiny-tokenizer/"

/* ---- the corpus -------------------------------------------------------- */

struct text {
	char *name;
	char *bytes;
	size_t len;
};
static struct text corpus[512];
static size_t n_corpus;

/* cJSON strings end at a NUL, so the corpus has none (the generator
 * writes \x01 instead). */
static void load_corpus(void)
{
	char *all = tkt_slurp(FIX "corpus.jsonl", NULL);
	if (!all)
		return;
	for (char *line = strtok(all, "\n"); line && n_corpus < 512;
	     line = strtok(NULL, "\n")) {
		cJSON *j = cJSON_Parse(line);
		cJSON *name = cJSON_GetObjectItem(j, "name");
		cJSON *text = cJSON_GetObjectItem(j, "text");
		if (cJSON_IsString(name) && cJSON_IsString(text)) {
			struct text *t = &corpus[n_corpus++];
			t->name = strdup(name->valuestring);
			t->bytes = strdup(text->valuestring);
			t->len = strlen(t->bytes);
		}
		cJSON_Delete(j);
	}
	free(all);
}

/* ---- comparing with the expected ids ----------------------------------- */

static void print_ids(const char *what, const int32_t *ids, size_t n,
		      size_t around)
{
	printf("#   %s:", what);
	size_t from = around > 4 ? around - 4 : 0;
	for (size_t i = from; i < n && i < around + 6; i++)
		printf(" %d", ids[i]);
	printf(" (of %zu)\n", n);
}

/* Checks tok's ids on every corpus text against expected[mode]. */
static void check_ids(const tk_tokenizer *tok, const char *expected_path,
		      const char *mode, unsigned flags)
{
	char *json = tkt_slurp(expected_path, NULL);
	TKT_CHECK(json != NULL, "cannot read %s", expected_path);
	if (!json)
		return;
	cJSON *root = cJSON_Parse(json);
	free(json);
	cJSON *lists = cJSON_GetObjectItem(root, mode);
	TKT_CHECK(cJSON_GetArraySize(lists) == (int)n_corpus,
		  "%s: %d lists for %zu texts", expected_path,
		  cJSON_GetArraySize(lists), n_corpus);
	size_t i = 0, bad = 0, checked = 0;
	cJSON *want;
	cJSON_ArrayForEach(want, lists) {
		if (i >= n_corpus)
			break;
		struct text *t = &corpus[i++];
		tk_tokens got = {0};
		int rc = tk_tokenizer_encode(tok, t->bytes, t->len, flags, &got);
		TKT_CHECK(rc == TK_OK, "%s: %s", t->name, tk_error_message());
		size_t n = (size_t)cJSON_GetArraySize(want), k = 0;
		int32_t *w = calloc(n + 1, sizeof *w);
		cJSON *id;
		cJSON_ArrayForEach(id, want) w[k++] = (int32_t)id->valuedouble;
		size_t diff = 0;
		while (diff < n && diff < got.n && got.ids[diff] == w[diff])
			diff++;
		checked++;
		if (diff < n || got.n != n) {
			if (bad++ < 3) {
				TKT_CHECK(0, "%s [%s] text %s: ids differ at %zu",
					  expected_path, mode, t->name, diff);
				print_ids("want", w, n, diff);
				print_ids("got ", got.ids, got.n, diff);
			}
		}
		free(w);
		tk_tokens_free(&got);
	}
	TKT_CHECK(bad == 0, "%s [%s]: %zu of %zu texts differ", expected_path,
		  mode, bad, checked);
	cJSON_Delete(root);
}

static void check_roundtrip(const tk_tokenizer *tok, const char *what)
{
	for (size_t i = 0; i < n_corpus; i++) {
		struct text *t = &corpus[i];
		if (strncmp(t->name, "lossy-", 6) == 0 && strcmp(what, "smollm2") == 0)
			continue; /* bytes without a token are dropped */
		tk_tokens ids = {0};
		char *back = NULL;
		size_t len = 0;
		int rc = tk_tokenizer_encode(tok, t->bytes, t->len, TK_ENCODE_SPECIAL, &ids);
		if (!rc)
			rc = tk_tokenizer_decode(tok, ids.ids, ids.n, 0, &back, &len);
		TKT_CHECK(rc == TK_OK && len == t->len && memcmp(back, t->bytes, len) == 0,
			  "%s: decode(encode(%s)) differs", what, t->name);
		free(back);
		tk_tokens_free(&ids);
	}
}

static void check_json_tokenizer(const char *tokenizer, const char *config,
				 const char *expected)
{
	tk_tokenizer *tok;
	int rc = tk_tokenizer_load_json(&tok, tokenizer, config);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	check_ids(tok, expected, "special", TK_ENCODE_SPECIAL);
	check_ids(tok, expected, "plain", 0);
	/* prefix-space adds a space, nfc composes: by design */
	if (!strstr(tokenizer, "prefix-space") && !strstr(tokenizer, "nfc"))
		check_roundtrip(tok, tokenizer);
	tk_tokenizer_free(tok);
}

/* ---- tests -------------------------------------------------------------- */

static void test_tiny_ids(void)
{
	check_json_tokenizer(TINY "tokenizer.json", TINY "tokenizer_config.json",
			     FIX "expected-tiny.json");
}

static void test_variants(void)
{
	const char *names[] = {"llama3", "qwen2", "prefix-space", "digits", "added", "nfc"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char tok[256], exp[256];
		snprintf(tok, sizeof tok, FIX "variant-%s.json", names[i]);
		snprintf(exp, sizeof exp, FIX "expected-variant-%s.json", names[i]);
		check_json_tokenizer(tok, NULL, exp);
	}
}

static void test_tiny_vocab(void)
{
	tk_tokenizer *tok;
	int rc = tk_tokenizer_load_json(&tok, TINY "tokenizer.json",
					TINY "tokenizer_config.json");
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	TKT_CHECK(tk_tokenizer_vocab_size(tok) == 512, "%zu", tk_tokenizer_vocab_size(tok));
	TKT_CHECK(tk_tokenizer_find(tok, "<|im_end|>", 10) == 2, "im_end");
	TKT_CHECK(tk_tokenizer_find(tok, "<|im_start|>", 12) == 1, "im_start");
	TKT_CHECK(tk_tokenizer_bos(tok) == 1 && tk_tokenizer_eos(tok) == 2,
		  "bos %d eos %d", tk_tokenizer_bos(tok), tk_tokenizer_eos(tok));
	TKT_CHECK(tk_tokenizer_is_special(tok, 0) && !tk_tokenizer_is_special(tok, 300), "special");
	TKT_CHECK(tk_tokenizer_chat_template(tok) &&
		  strstr(tk_tokenizer_chat_template(tok), "<|im_start|>"), "chat template");
	TKT_CHECK(strcmp(tk_tokenizer_pre_name(tok), "gpt2") == 0, "%s", tk_tokenizer_pre_name(tok));
	size_t len;
	const char *p = tk_tokenizer_piece(tok, tk_tokenizer_find(tok, " ", 1), &len);
	TKT_CHECK(p && len == 1 && p[0] == ' ', "piece of space");
	p = tk_tokenizer_token_text(tok, tk_tokenizer_find(tok, " ", 1), &len);
	TKT_CHECK(p && len == 2 && memcmp(p, "\xc4\xa0", 2) == 0, "text of space is \\u0120");
	TKT_CHECK(tk_tokenizer_n_merges(tok) == 512 - 256 - 3, "%zu merges", tk_tokenizer_n_merges(tok));

	/* skip-special decoding, bad ids */
	int32_t ids[] = {1, tk_tokenizer_find(tok, "a", 1), 2};
	char *out;
	rc = tk_tokenizer_decode(tok, ids, 3, TK_DECODE_SKIP_SPECIAL, &out, &len);
	TKT_CHECK(rc == TK_OK && len == 1 && out[0] == 'a', "skip special");
	free(out);
	int32_t bad[] = {5, 512};
	rc = tk_tokenizer_decode(tok, bad, 2, 0, &out, &len);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "512"), "%s", tk_error_message());

	/* bos/eos/pad overrides and TK_ENCODE_ADD_BOS */
	TKT_CHECK(tk_tokenizer_set_ids(tok, -2, -2, 0) == TK_OK && tk_tokenizer_pad(tok) == 0 &&
		  tk_tokenizer_bos(tok) == 1, "set_ids");
	TKT_CHECK(tk_tokenizer_set_ids(tok, 600, -2, -2) == TK_EDATA, "id out of range");
	tk_tokens with_bos = {0};
	tk_tokenizer_encode(tok, "a", 1, TK_ENCODE_ADD_BOS, &with_bos);
	TKT_CHECK(with_bos.n == 1, "add_bos_token false: no bos (%zu ids)", with_bos.n);
	tk_tokens_free(&with_bos);

	/* the same file twice: same fingerprint; another pre-tokenizer: not */
	tk_tokenizer *again, *other;
	TKT_CHECK(tk_tokenizer_load_json(&again, TINY "tokenizer.json", NULL) == TK_OK, "again");
	TKT_CHECK(tk_tokenizer_load_json(&other, FIX "variant-llama3.json", NULL) == TK_OK, "other");
	TKT_CHECK(tk_tokenizer_fingerprint(tok) == tk_tokenizer_fingerprint(again), "fingerprint stable");
	TKT_CHECK(tk_tokenizer_fingerprint(tok) != tk_tokenizer_fingerprint(other), "fingerprint differs");
	tk_tokenizer_free(again);
	tk_tokenizer_free(other);
	tk_tokenizer_free(tok);
}

/* A tokenizer.json tokenizer written out as GGUF's vocabulary (what a GGUF
 * writer does with the accessors) loads back with the same fingerprint and
 * the same ids. */
static void check_vocab_roundtrip(const char *path)
{
	tk_tokenizer *a;
	int rc = tk_tokenizer_load_json(&a, path, NULL);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	size_t n = tk_tokenizer_vocab_size(a), m = tk_tokenizer_n_merges(a);
	const char **tokens = calloc(n, sizeof *tokens);
	size_t *lens = calloc(n, sizeof *lens);
	int32_t *types = calloc(n, sizeof *types);
	char **merges = calloc(m + 1, sizeof *merges);
	for (size_t id = 0; id < n; id++) {
		tokens[id] = tk_tokenizer_token_text(a, (int32_t)id, &lens[id]);
		types[id] = tk_tokenizer_token_type(a, (int32_t)id);
	}
	for (size_t r = 0; r < m; r++) {
		int32_t l, rr;
		size_t ll, rl;
		tk_tokenizer_merge(a, r, &l, &rr);
		const char *lt = tk_tokenizer_token_text(a, l, &ll);
		const char *rt = tk_tokenizer_token_text(a, rr, &rl);
		merges[r] = malloc(ll + rl + 2);
		memcpy(merges[r], lt, ll);
		merges[r][ll] = ' ';
		memcpy(merges[r] + ll + 1, rt, rl);
		merges[r][ll + rl + 1] = '\0';
	}
	tk_vocab_spec spec = {.model = "gpt2", .n_tokens = n, .tokens = tokens,
			      .token_lens = lens, .token_types = types, .n_merges = m,
			      .merges = (const char *const *)merges,
			      .pre = tk_tokenizer_pre_name(a), .bos_id = -1,
			      .eos_id = -1, .pad_id = -1};
	tk_tokenizer *b;
	rc = tk_tokenizer_from_vocab(&b, &spec);
	TKT_CHECK(rc == TK_OK, "%s: %s", path, tk_error_message());
	if (!rc) {
		TKT_CHECK(tk_tokenizer_fingerprint(a) == tk_tokenizer_fingerprint(b),
			  "%s: fingerprint changed through the GGUF vocabulary", path);
		for (size_t i = 0; i < n_corpus; i++) {
			tk_tokens x = {0}, y = {0};
			tk_tokenizer_encode(a, corpus[i].bytes, corpus[i].len, TK_ENCODE_SPECIAL, &x);
			tk_tokenizer_encode(b, corpus[i].bytes, corpus[i].len, TK_ENCODE_SPECIAL, &y);
			TKT_CHECK(x.n == y.n && (x.n == 0 || memcmp(x.ids, y.ids, x.n * sizeof *x.ids) == 0),
				  "%s: %s encodes differently", path, corpus[i].name);
			tk_tokens_free(&x);
			tk_tokens_free(&y);
		}
		tk_tokenizer_free(b);
	}
	for (size_t r = 0; r < m; r++)
		free(merges[r]);
	free(merges);
	free(tokens);
	free(lens);
	free(types);
	tk_tokenizer_free(a);
}

static void test_vocab_roundtrip(void)
{
	check_vocab_roundtrip(TINY "tokenizer.json");
	check_vocab_roundtrip(FIX "variant-llama3.json");
	check_vocab_roundtrip(FIX "variant-nfc.json");
}

/* ---- SmolLM2 from its GGUF ----------------------------------------------- */

static const char *smollm2_path(char *buf, size_t cap)
{
	const char *home = getenv("TK_HOME");
	if (home && *home)
		snprintf(buf, cap, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", home);
	else
		snprintf(buf, cap, "%s/.cache/tk/models/SmolLM2-135M-Instruct.Q4_1.gguf",
			 getenv("HOME") ? getenv("HOME") : "");
	FILE *f = fopen(buf, "rb");
	if (!f)
		return NULL;
	fclose(f);
	return buf;
}

static int load_gguf_tokenizer(tk_tokenizer **out, const char *path)
{
	tk_gguf *g;
	int rc = tk_gguf_open(&g, path);
	if (rc)
		return rc;
	const tk_gguf_kv *tokens = tk_gguf_find_kv(g, "tokenizer.ggml.tokens");
	const tk_gguf_kv *merges = tk_gguf_find_kv(g, "tokenizer.ggml.merges");
	const tk_gguf_kv *types = tk_gguf_find_kv(g, "tokenizer.ggml.token_type");
	if (!tokens || !merges || !types) {
		tk_gguf_close(g);
		return tk_fail(TK_EDATA, "%s: no tokenizer.ggml vocabulary", path);
	}
	int32_t *tt = malloc(types->count * sizeof *tt);
	for (uint64_t i = 0; i < types->count; i++)
		tt[i] = (int32_t)tk_gguf_array_int(types, i);
	tk_vocab_spec spec = {0};
	int64_t v;
	spec.model = "gpt2";
	tk_gguf_get_str(g, "tokenizer.ggml.pre", &spec.pre);
	tk_gguf_get_str(g, "tokenizer.chat_template", &spec.chat_template);
	spec.n_tokens = tokens->count;
	spec.tokens = (const char *const *)tokens->strs;
	spec.token_lens = tokens->str_lens;
	spec.token_types = tt;
	spec.n_merges = merges->count;
	spec.merges = (const char *const *)merges->strs;
	spec.merge_lens = merges->str_lens;
	spec.bos_id = tk_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &v) ? -1 : (int32_t)v;
	spec.eos_id = tk_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &v) ? -1 : (int32_t)v;
	spec.pad_id = tk_gguf_get_int(g, "tokenizer.ggml.padding_token_id", &v) ? -1 : (int32_t)v;
	rc = tk_tokenizer_from_vocab(out, &spec);
	free(tt);
	tk_gguf_close(g);
	return rc;
}

static void test_smollm2_ids(void)
{
	char buf[1024];
	const char *path = smollm2_path(buf, sizeof buf);
	if (!path)
		TKT_SKIP("SmolLM2 GGUF not in $TK_HOME/models (run scripts/get-model.sh smollm2-135m-instruct)");
	tk_tokenizer *tok;
	int rc = load_gguf_tokenizer(&tok, path);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	TKT_CHECK(tk_tokenizer_vocab_size(tok) == 49152, "%zu", tk_tokenizer_vocab_size(tok));
	TKT_CHECK(strcmp(tk_tokenizer_pre_name(tok), "smollm") == 0, "%s", tk_tokenizer_pre_name(tok));
	TKT_CHECK(tk_tokenizer_find(tok, "<|im_end|>", 10) == 2, "im_end");
	TKT_CHECK(tk_tokenizer_eos(tok) == 2, "eos %d", tk_tokenizer_eos(tok));
	/* "12345": one token per digit */
	tk_tokens ids = {0};
	tk_tokenizer_encode(tok, "12345", 5, 0, &ids);
	TKT_CHECK(ids.n == 5, "12345 -> %zu tokens", ids.n);
	tk_tokens_free(&ids);
	check_ids(tok, FIX "expected-smollm2.json", "special", TK_ENCODE_SPECIAL);
	check_ids(tok, FIX "expected-smollm2.json", "plain", 0);
	check_roundtrip(tok, "smollm2");
	tk_tokenizer_free(tok);
}

/* ---- Unicode classes ------------------------------------------------------ */

static void test_unicode_classes(void)
{
	static const struct {
		uint32_t cp;
		int cls; /* letter 1, number 2, space 4 */
	} facts[] = {
		{'a', 1}, {'Z', 1}, {'5', 2}, {' ', 4}, {'\t', 4}, {'_', 0}, {'!', 0},
		{0x00E9, 1},  /* e acute */
		{0x00BD, 2},  /* one half: No */
		{0x00A0, 4},  /* no-break space */
		{0x0085, 4},  /* next line */
		{0x0301, 0},  /* combining acute: a mark, not a letter */
		{0x0663, 2},  /* Arabic-Indic three */
		{0x216B, 2},  /* Roman numeral twelve: Nl */
		{0x200B, 0},  /* zero width space: not White_Space */
		{0x3000, 4},  /* ideographic space */
		{0x2028, 4},  /* line separator */
		{0x4E2D, 1},  /* CJK */
		{0x30A2, 1},  /* katakana A */
		{0xAC00, 1},  /* hangul */
		{0x1F600, 0}, /* emoji */
		{0x1C89, 1},  /* Unicode 16 letter, as tokenizers' Oniguruma has it */
		{0x10D40, 2}, /* Unicode 16 digit */
		{0x11DE0, 0}, /* a digit to Rust's is_numeric only (Digits) */
		{0x20000, 1}, /* CJK extension B */
		{0x10FFFF, 0},
		{0x110041, 0}, /* an invalid byte as tk_utf8_next reports it */
	};
	for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++)
		TKT_CHECK((tk_unicode_class(facts[i].cp) & 7) == facts[i].cls,
			  "U+%04X: class %d, want %d", facts[i].cp,
			  tk_unicode_class(facts[i].cp) & 7, facts[i].cls);
	TKT_CHECK(tk_unicode_class('7') & TK_UC_DIGIT, "7 is a digit");
	TKT_CHECK(tk_unicode_class(0x0663) & TK_UC_DIGIT, "Arabic-Indic 3 is a digit");
	TKT_CHECK(tk_unicode_class(0x11DE0) & TK_UC_DIGIT, "U+11DE0 is a digit to Digits");
	/* the binary search finds every range at both ends, and nothing
	 * between ranges */
	for (size_t i = 0; i < tk_unicode_n_ranges; i++) {
		const struct tk_unicode_range *r = &tk_unicode_ranges[i];
		TKT_CHECK(r->first >= 128 || tk_unicode_class(r->first) == r->cls,
			  "ascii U+%04X", r->first);
		TKT_CHECK(tk_unicode_class_of(r->first) == r->cls &&
			  tk_unicode_class_of(r->last) == r->cls, "range %zu", i);
		if (i + 1 < tk_unicode_n_ranges) {
			TKT_CHECK(r->last < tk_unicode_ranges[i + 1].first, "ranges overlap at %zu", i);
			if (r->last + 1 < tk_unicode_ranges[i + 1].first)
				TKT_CHECK(tk_unicode_class_of(r->last + 1) == 0, "gap after %zu", i);
		}
	}
	/* UTF-8 decoding: valid, overlong, surrogate, truncated */
	size_t len;
	TKT_CHECK(tk_utf8_next((const unsigned char *)"\xe4\xb8\xad", 3, &len) == 0x4E2D && len == 3, "CJK");
	TKT_CHECK(tk_utf8_next((const unsigned char *)"\xf0\x9f\x98\x80", 4, &len) == 0x1F600 && len == 4, "emoji");
	TKT_CHECK(tk_utf8_next((const unsigned char *)"\xc0\xaf", 2, &len) > 0x10FFFF && len == 1, "overlong");
	TKT_CHECK(tk_utf8_next((const unsigned char *)"\xed\xa0\x80", 3, &len) > 0x10FFFF && len == 1, "surrogate");
	TKT_CHECK(tk_utf8_next((const unsigned char *)"\xe4\xb8", 2, &len) > 0x10FFFF && len == 1, "truncated");
}

/* ---- bad files ----------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void expect_error(const char *path, const char *json, int code,
			 const char *needle)
{
	write_file(path, json);
	tk_tokenizer *tok = (tk_tokenizer *)1;
	int rc = tk_tokenizer_load_json(&tok, path, NULL);
	TKT_CHECK(rc == code, "%s: rc %d want %d (%s)", json, rc, code, tk_error_message());
	TKT_CHECK(tok == NULL, "out not cleared");
	TKT_CHECK(strstr(tk_error_message(), path) != NULL, "message does not name the file: %s",
		  tk_error_message());
	TKT_CHECK(strstr(tk_error_message(), needle) != NULL, "message lacks \"%s\": %s", needle,
		  tk_error_message());
}

static void test_bad_files(void)
{
	char path[512];
	snprintf(path, sizeof path, "%s/bad-tokenizer.json", tkt_tmpdir());
	expect_error(path, "{\"model\": {\"vocab\": {\"a\": 0,", TK_EDATA, "invalid JSON");
	expect_error(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2},"
		     " \"merges\": [\"a b\", \"a c\"]}}", TK_EDATA, "token \"c\" is not in the vocabulary");
	expect_error(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1},"
		     " \"merges\": [\"a b\"]}}", TK_EDATA, "token \"ab\"");
	expect_error(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1},"
		     " \"merges\": [[\"a\"]]}}", TK_EDATA, "merge 0");
	expect_error(path, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", TK_EDATA, "Unigram");
	expect_error(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		     " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\d+\"},"
		     " \"behavior\": \"Isolated\", \"invert\": false}}", TK_EDATA, "Split pattern");
	expect_error(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}",
		     TK_EDATA, "no valid id");
	expect_error(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		     " \"normalizer\": {\"type\": \"NFKC\"}}", TK_EDATA, "NFKC");
	snprintf(path, sizeof path, "%s/no-such-dir/tokenizer.json", tkt_tmpdir());
	tk_tokenizer *tok;
	int rc = tk_tokenizer_load_json(&tok, path, NULL);
	TKT_CHECK(rc == TK_ENOINPUT && strstr(tk_error_message(), path), "%s", tk_error_message());

	/* GGUF vocabularies */
	const char *tokens[] = {"a", "b"};
	const char *merges[] = {"a b"};
	tk_vocab_spec spec = {.model = "gpt2", .n_tokens = 2, .tokens = tokens,
			      .n_merges = 1, .merges = merges, .pre = "smollm",
			      .bos_id = -1, .eos_id = -1, .pad_id = -1};
	rc = tk_tokenizer_from_vocab(&tok, &spec);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "\"ab\""), "%s", tk_error_message());
	spec.n_merges = 0;
	spec.pre = "no-such-pre";
	rc = tk_tokenizer_from_vocab(&tok, &spec);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "no-such-pre"), "%s", tk_error_message());
	spec.pre = NULL;
	spec.model = "llama";
	rc = tk_tokenizer_from_vocab(&tok, &spec);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "llama"), "%s", tk_error_message());
}

/* Truncated and mutated copies of a good tokenizer.json load or fail
 * cleanly (a crash or leak shows under make asan). */
static void test_mutated_json(void)
{
	size_t len;
	char *good = tkt_slurp(TINY "tokenizer.json", &len);
	TKT_CHECK(good != NULL, "read");
	if (!good)
		return;
	char path[512];
	snprintf(path, sizeof path, "%s/mutated-tokenizer.json", tkt_tmpdir());
	char *buf = malloc(len + 1);
	int failed = 0, loaded = 0;
	for (int round = 0; round < 300; round++) {
		memcpy(buf, good, len);
		size_t n = len;
		if (round < 100) {
			n = (size_t)(tkt_rand64() % len);
		} else {
			int edits = 1 + (int)(tkt_rand64() % 4);
			for (int e = 0; e < edits; e++)
				buf[tkt_rand64() % len] = "\"{}[],:0123456789 \\a\x80"[tkt_rand64() % 20];
		}
		FILE *f = fopen(path, "wb");
		if (!f)
			break;
		fwrite(buf, 1, n, f);
		fclose(f);
		tk_tokenizer *tok;
		int rc = tk_tokenizer_load_json(&tok, path, NULL);
		if (rc) {
			failed++;
			TKT_CHECK(strstr(tk_error_message(), path) != NULL,
				  "round %d: message does not name the file: %s", round, tk_error_message());
			continue;
		}
		loaded++;
		tk_tokens ids = {0};
		rc = tk_tokenizer_encode(tok, "Hello <|im_end|> world 123", 25, TK_ENCODE_SPECIAL, &ids);
		TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
		tk_tokens_free(&ids);
		tk_tokenizer_free(tok);
	}
	printf("# %d mutated files refused, %d loaded\n", failed, loaded);
	free(buf);
	free(good);
}

/* ---- long inputs --------------------------------------------------------- */

/* CPU time of this process: a loaded machine (tests run in parallel)
 * does not make a linear encoder look quadratic. */
static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#if defined(__SANITIZE_ADDRESS__)
#define TIME_LIMIT 10.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TIME_LIMIT 10.0
#endif
#endif
#ifndef TIME_LIMIT
#define TIME_LIMIT 1.0
#endif

static void time_encode(const tk_tokenizer *tok, const char *what, const char *text,
			size_t len)
{
	tk_tokens ids = {0};
	double t0 = seconds();
	int rc = tk_tokenizer_encode(tok, text, len, 0, &ids);
	double dt = seconds() - t0;
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	TKT_CHECK(dt < TIME_LIMIT, "%s: %zu bytes took %.2f s of CPU", what, len, dt);
	printf("# %s: %zu bytes -> %zu ids in %.3f s of CPU\n", what, len, ids.n, dt);
	char *back = NULL;
	size_t blen = 0;
	rc = tk_tokenizer_decode(tok, ids.ids, ids.n, 0, &back, &blen);
	TKT_CHECK(rc == TK_OK && blen == len && memcmp(back, text, len) == 0,
		  "%s: round trip", what);
	free(back);
	tk_tokens_free(&ids);
}

static void test_long_inputs(void)
{
	tk_tokenizer *tok;
	int rc = tk_tokenizer_load_json(&tok, FIX "variant-llama3.json", NULL);
	tk_tokenizer *gpt2;
	rc |= tk_tokenizer_load_json(&gpt2, TINY "tokenizer.json", NULL);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	size_t n = 1 << 20;
	char *text = malloc(n);
	for (size_t i = 0; i < n; i++) /* letters that merge in varied ways */
		text[i] = "thequickbrownfoxjumpsoverthelazydog"[(i * 7 + i / 13) % 35];
	time_encode(gpt2, "1 MiB word (gpt2)", text, n);
	time_encode(tok, "1 MiB word (llama3)", text, n);
	memset(text, ' ', n);
	time_encode(gpt2, "1 MiB of spaces (gpt2)", text, n);
	time_encode(tok, "1 MiB of spaces (llama3)", text, n);
	memset(text, '\n', n);
	time_encode(tok, "1 MiB of newlines (llama3)", text, n);
	for (size_t i = 0; i < n; i++)
		text[i] = "0123456789"[i % 10];
	time_encode(gpt2, "1 MiB of digits (gpt2)", text, n);
	free(text);
	tk_tokenizer_free(tok);
	tk_tokenizer_free(gpt2);
}

/* NFC against Python's unicodedata: every character that decomposes or
 * combines, random mark sequences, a long run of marks. */
static void test_nfc(void)
{
	char *all = tkt_slurp(FIX "nfc.jsonl", NULL);
	TKT_CHECK(all != NULL, "cannot read nfc.jsonl");
	if (!all)
		return;
	size_t cases = 0, bad = 0;
	for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *j = cJSON_Parse(line);
		const char *in = cJSON_GetStringValue(cJSON_GetObjectItem(j, "in"));
		const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(j, "nfc"));
		unsigned char *got = NULL;
		size_t len = 0;
		if (in && want) {
			cases++;
			int rc = tk_nfc((const unsigned char *)in, strlen(in), &got, &len);
			if (rc || len != strlen(want) || memcmp(got, want, len) != 0)
				if (bad++ < 3)
					TKT_CHECK(0, "NFC of \"%s\": got \"%.*s\" want \"%s\"", in,
						  (int)len, got ? (const char *)got : "", want);
		}
		free(got);
		cJSON_Delete(j);
	}
	free(all);
	TKT_CHECK(cases > 500 && bad == 0, "%zu of %zu NFC cases differ", bad, cases);
	/* invalid bytes pass through; no quadratic reordering */
	unsigned char *got;
	size_t len;
	TKT_CHECK(tk_nfc((const unsigned char *)"e\xff\xcc\x81", 4, &got, &len) == TK_OK &&
		  len == 4 && memcmp(got, "e\xff\xcc\x81", 4) == 0, "invalid byte");
	free(got);
	size_t n = 1 << 20;
	unsigned char *marks = malloc(n);
	for (size_t i = 0; i + 1 < n; i += 2) { /* U+0301 (230), U+0323 (220) */
		marks[i] = 0xCC;
		marks[i + 1] = (i / 2) % 2 ? 0x81 : 0xA3;
	}
	double t0 = seconds();
	TKT_CHECK(tk_nfc(marks, n, &got, &len) == TK_OK && len == n, "marks");
	TKT_CHECK(seconds() - t0 < TIME_LIMIT, "1 MiB of marks took %.2f s", seconds() - t0);
	free(got);
	free(marks);
}

/* Invalid UTF-8 is kept as bytes: it round-trips. */
static void test_invalid_utf8(void)
{
	tk_tokenizer *tok;
	int rc = tk_tokenizer_load_json(&tok, TINY "tokenizer.json", NULL);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	const char text[] = "ok \xff\xfe \xe4\xb8 bad \xc0\xaf end \xed\xa0\x80 \xf4\x90\x80\x80";
	time_encode(tok, "invalid UTF-8", text, sizeof text - 1);
	tk_tokenizer_free(tok);
}

/* Random bytes (invalid UTF-8, half special tokens, runs of spaces) never
 * fail to encode and decode back to themselves: every byte has a token. */
static void test_random_bytes(void)
{
	const char *paths[] = {TINY "tokenizer.json", FIX "variant-llama3.json",
			       FIX "variant-qwen2.json", FIX "variant-digits.json"};
	const char *bits[] = {"<|im_end|>", "<|im_", " ", "  ", "\n", "\r\n", "'s",
			      "'LL", "7", "42", "\xe4\xb8\xad", "\xf0\x9f\x98", "\xff",
			      "\xc3\xa9", "a", "Hello", "\t", "\xe3\x80\x80"};
	char buf[512];
	for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
		tk_tokenizer *tok;
		int rc = tk_tokenizer_load_json(&tok, paths[p], NULL);
		TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
		if (rc)
			continue;
		for (int round = 0; round < 400; round++) {
			size_t n = 0;
			while (n < 400) {
				if (tkt_uniform() < 0.3) {
					buf[n++] = (char)(tkt_rand64() & 0xFF);
				} else {
					const char *b = bits[tkt_rand64() % (sizeof bits / sizeof bits[0])];
					size_t l = strlen(b);
					memcpy(buf + n, b, l);
					n += l;
				}
				if (tkt_uniform() < 0.05)
					break;
			}
			tk_tokens ids = {0};
			char *back = NULL;
			size_t len = 0;
			unsigned flags = round % 2 ? TK_ENCODE_SPECIAL : 0;
			rc = tk_tokenizer_encode(tok, buf, n, flags, &ids);
			if (!rc)
				rc = tk_tokenizer_decode(tok, ids.ids, ids.n, 0, &back, &len);
			TKT_CHECK(rc == TK_OK && len == n && memcmp(back, buf, n) == 0,
				  "%s: round %d: random bytes do not round-trip", paths[p], round);
			free(back);
			tk_tokens_free(&ids);
		}
		tk_tokenizer_free(tok);
	}
}

/* One tokenizer, many threads: the same ids as one thread. */
static void test_threads(void)
{
	tk_tokenizer *tok;
	int rc = tk_tokenizer_load_json(&tok, TINY "tokenizer.json", NULL);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	size_t *want = calloc(n_corpus, sizeof *want), *got = calloc(n_corpus, sizeof *got);
	for (size_t i = 0; i < n_corpus; i++) {
		tk_tokens ids = {0};
		tk_tokenizer_encode(tok, corpus[i].bytes, corpus[i].len, TK_ENCODE_SPECIAL, &ids);
		for (size_t k = 0; k < ids.n; k++)
			want[i] = want[i] * 31 + (size_t)ids.ids[k] + 1;
		tk_tokens_free(&ids);
	}
	#pragma omp parallel for num_threads(4) schedule(dynamic, 1)
	for (size_t j = 0; j < 8 * n_corpus; j++) {
		size_t i = j % n_corpus;
		tk_tokens ids = {0};
		tk_tokenizer_encode(tok, corpus[i].bytes, corpus[i].len, TK_ENCODE_SPECIAL, &ids);
		size_t h = 0;
		for (size_t k = 0; k < ids.n; k++)
			h = h * 31 + (size_t)ids.ids[k] + 1;
		if (h != want[i])
			got[i] = 1;
		tk_tokens_free(&ids);
	}
	size_t bad = 0;
	for (size_t i = 0; i < n_corpus; i++)
		bad += got[i];
	TKT_CHECK(bad == 0, "%zu texts encoded differently on several threads", bad);
	free(want);
	free(got);
	tk_tokenizer_free(tok);
}

int main(void)
{
	load_corpus();
	TKT_RUN(test_unicode_classes);
	TKT_RUN(test_tiny_vocab);
	TKT_RUN(test_tiny_ids);
	TKT_RUN(test_variants);
	TKT_RUN(test_vocab_roundtrip);
	TKT_RUN(test_smollm2_ids);
	TKT_RUN(test_bad_files);
	TKT_RUN(test_mutated_json);
	TKT_RUN(test_long_inputs);
	TKT_RUN(test_invalid_utf8);
	TKT_RUN(test_nfc);
	TKT_RUN(test_random_bytes);
	TKT_RUN(test_threads);
	for (size_t i = 0; i < n_corpus; i++) {
		free(corpus[i].name);
		free(corpus[i].bytes);
	}
	return tkt_done();
}
