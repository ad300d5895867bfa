/* tokenizer.json: tk_tokenizer_load_json on arbitrary files; a tokenizer
 * it accepts encodes and decodes without fault, and, written back as
 * tokenizer.json (tk_tokenizer_write_hf), loads again to the same
 * fingerprint, vocabulary size and bos/eos/pad. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_export.h"
#include "tk_tokenizer.h"

/* A sample that meets the pre-tokenizers' classes: letters, digits,
 * spaces, punctuation, non-ASCII, a special token's spelling. */
static const char sample[] = "Hello, world! 123 4567  \t\n caf\xc3\xa9 \xe2\x82\xac <|im_end|> x";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

static void encode_decode(const tk_tokenizer *tok, const char *text, size_t len)
{
	size_t vocab = tk_tokenizer_vocab_size(tok);
	for (unsigned flags = 0; flags < 4; flags++) {
		tk_tokens ids = {0};
		if (tk_tokenizer_encode(tok, text, len, flags, &ids) == TK_OK) {
			for (size_t i = 0; i < ids.n; i++)
				FUZZ_REQUIRE(ids.ids[i] >= 0 && (size_t)ids.ids[i] < vocab,
					     "id %d outside the vocabulary of %zu", ids.ids[i], vocab);
			char *out;
			size_t out_len;
			FUZZ_REQUIRE(tk_tokenizer_decode(tok, ids.ids, ids.n, 0, &out, &out_len) == TK_OK,
				     "its own ids do not decode: %s", tk_error_message());
			free(out);
		}
		tk_tokens_free(&ids);
	}
}

static void round_trip(const tk_tokenizer *tok)
{
	const char *json = fuzz_path("copy-tokenizer.json");
	const char *config = fuzz_path("copy-tokenizer_config.json");
	int rc = tk_tokenizer_write_hf(tok, json, config);
	FUZZ_REQUIRE(rc == TK_OK, "writing it back: %s", tk_error_message());
	tk_tokenizer *back;
	rc = tk_tokenizer_load_json(&back, json, config);
	FUZZ_REQUIRE(rc == TK_OK, "the written tokenizer.json does not load: %s",
		     tk_error_message());
	FUZZ_REQUIRE(tk_tokenizer_fingerprint(tok) == tk_tokenizer_fingerprint(back),
		     "the fingerprint changed");
	FUZZ_REQUIRE(tk_tokenizer_vocab_size(tok) == tk_tokenizer_vocab_size(back),
		     "vocabulary of %zu became %zu", tk_tokenizer_vocab_size(tok),
		     tk_tokenizer_vocab_size(back));
	FUZZ_REQUIRE(tk_tokenizer_bos(tok) == tk_tokenizer_bos(back) &&
		     tk_tokenizer_eos(tok) == tk_tokenizer_eos(back) &&
		     tk_tokenizer_pad(tok) == tk_tokenizer_pad(back) &&
		     tk_tokenizer_add_bos(tok) == tk_tokenizer_add_bos(back),
		     "bos/eos/pad/add_bos changed: %d/%d/%d/%d became %d/%d/%d/%d",
		     tk_tokenizer_bos(tok), tk_tokenizer_eos(tok), tk_tokenizer_pad(tok),
		     tk_tokenizer_add_bos(tok), tk_tokenizer_bos(back), tk_tokenizer_eos(back),
		     tk_tokenizer_pad(back), tk_tokenizer_add_bos(back));
	tk_tokenizer_free(back);
	remove(json);
	remove(config);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = fuzz_path("tokenizer.json");
	fuzz_write_file(in, data, size);
	tk_tokenizer *tok;
	if (tk_tokenizer_load_json(&tok, in, NULL) == TK_OK) {
		encode_decode(tok, sample, sizeof sample - 1);
		encode_decode(tok, (const char *)data, size < 512 ? size : 512);
		round_trip(tok);
		tk_tokenizer_free(tok);
	}
	tk_error_clear();
	return 0;
}
