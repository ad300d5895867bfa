/* Encoding arbitrary bytes with the fixture tokenizers.  With tiny-llama's
 * (byte-level BPE, every byte in the vocabulary, no normalizer: the case
 * tk_tokenizer.h promises a round trip for) decode(encode(x)) == x with
 * and without special tokens recognised, special ids appear only when
 * asked for, and every id is in the vocabulary.  The Llama-3 and Qwen3
 * fixtures (other pre-tokenizer patterns, NFC) must only not fault. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_tokenizer.h"

static tk_tokenizer *tiny, *llama3, *qwen3;

static tk_tokenizer *load(const char *dir)
{
	char json[4096], config[4096];
	snprintf(json, sizeof json, "%s", fuzz_fixture(dir));
	snprintf(config, sizeof config, "%s", json);
	strncat(json, "/tokenizer.json", sizeof json - strlen(json) - 1);
	strncat(config, "/tokenizer_config.json", sizeof config - strlen(config) - 1);
	tk_tokenizer *tok;
	if (tk_tokenizer_load_json(&tok, json, config)) {
		fprintf(stderr, "fuzz_encode: %s\n", tk_error_message());
		exit(1);
	}
	return tok;
}

static int every_byte_has_a_token(const tk_tokenizer *tok)
{
	for (int b = 0; b < 256; b++) {
		char c = (char)b;
		if (tk_tokenizer_find(tok, &c, 1) < 0)
			return 0;
	}
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	tiny = load("tiny-llama");
	llama3 = load("render/tiny-llama3");
	qwen3 = load("render/tiny-qwen3");
	if (!every_byte_has_a_token(tiny)) {
		fprintf(stderr, "fuzz_encode: tiny-llama's tokenizer lacks a byte; the round trip "
			"property does not apply\n");
		exit(1);
	}
	return 0;
}

static void require_round_trip(const char *text, size_t len, unsigned flags)
{
	tk_tokens ids = {0};
	FUZZ_REQUIRE(tk_tokenizer_encode(tiny, text, len, flags, &ids) == TK_OK, "encode: %s",
		     tk_error_message());
	size_t vocab = tk_tokenizer_vocab_size(tiny);
	for (size_t i = 0; i < ids.n; i++) {
		FUZZ_REQUIRE(ids.ids[i] >= 0 && (size_t)ids.ids[i] < vocab, "id %d", ids.ids[i]);
		FUZZ_REQUIRE((flags & TK_ENCODE_SPECIAL) || !tk_tokenizer_is_special(tiny, ids.ids[i]),
			     "special id %d from text without TK_ENCODE_SPECIAL", ids.ids[i]);
	}
	char *out;
	size_t out_len;
	FUZZ_REQUIRE(tk_tokenizer_decode(tiny, ids.ids, ids.n, 0, &out, &out_len) == TK_OK,
		     "decode: %s", tk_error_message());
	FUZZ_REQUIRE(out_len == len && !memcmp(out, text, len),
		     "flags %u: %zu bytes decode to %zu different ones", flags, len, out_len);
	free(out);
	tk_tokens_free(&ids);
}

static void encode_decode(const tk_tokenizer *tok, const char *text, size_t len)
{
	tk_tokens ids = {0};
	FUZZ_REQUIRE(tk_tokenizer_encode(tok, text, len, TK_ENCODE_SPECIAL | TK_ENCODE_ADD_BOS,
					 &ids) == TK_OK, "encode: %s", tk_error_message());
	char *out;
	size_t out_len;
	FUZZ_REQUIRE(tk_tokenizer_decode(tok, ids.ids, ids.n, TK_DECODE_SKIP_SPECIAL, &out,
					 &out_len) == TK_OK, "decode: %s", tk_error_message());
	free(out);
	tk_tokens_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	require_round_trip(text, size, 0);
	require_round_trip(text, size, TK_ENCODE_SPECIAL);
	encode_decode(llama3, text, size);
	encode_decode(qwen3, text, size);
	tk_error_clear();
	return 0;
}
