/* The tokenizer: byte-level BPE exactly as Hugging Face `tokenizers` runs
 * it, loaded from a tokenizer.json (+ tokenizer_config.json) or from the
 * vocabulary a GGUF file carries (tokenizer.ggml.*).
 *
 *   tk_tokenizer *tok;
 *   if (tk_tokenizer_load_json(&tok, "m/tokenizer.json",
 *                              "m/tokenizer_config.json"))
 *           die(tk_error_message());
 *   tk_tokens ids = {0};
 *   tk_tokenizer_encode(tok, text, len, TK_ENCODE_SPECIAL, &ids);
 *   ...
 *   tk_tokens_free(&ids);
 *   tk_tokenizer_free(tok);
 *
 * A loaded tokenizer is immutable (except tk_tokenizer_set_ids, to be
 * called before sharing it): encode and decode may run on many threads at
 * once with the same tokenizer.
 *
 * Pre-tokenizers understood: ByteLevel (add_prefix_space, use_regex with
 * the GPT-2 pattern), Split with the GPT-2, Llama-3 and Qwen2 patterns
 * (behavior Isolated), Digits (individual_digits or not) and Sequence of
 * these; GGUF names ("gpt2"/"default", "llama-bpe"/"llama3", "qwen2",
 * "smollm", ...) map to the same.  The patterns are hand-written scanners
 * whose Unicode classes cover all of Unicode (lib/base/unicode_table.c).
 * Normalizers: none or NFC (Qwen2; a GGUF "qwen2" vocabulary gets NFC too,
 * as its original tokenizer.json has it).  Added tokens: special or not,
 * lstrip, rstrip, single_word; BPE ignore_merges (Llama-3).  Anything else
 * that would change the ids (another model type, normalizer or pattern,
 * byte_fallback) is refused at load with a message naming the file. */
#ifndef TK_TOKENIZER_H
#define TK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tk_tokenizer tk_tokenizer;

/* Token types as GGUF's tokenizer.ggml.token_type stores them. */
enum tk_token_type {
	TK_TOKEN_NORMAL = 1,
	TK_TOKEN_UNKNOWN = 2,
	TK_TOKEN_CONTROL = 3,      /* special token (<|im_end|>) */
	TK_TOKEN_USER_DEFINED = 4, /* added, not special */
	TK_TOKEN_UNUSED = 5,
	TK_TOKEN_BYTE = 6
};

/* What GGUF metadata gives; the GGUF reader fills it and calls
 * tk_tokenizer_from_vocab, which copies everything it keeps. */
typedef struct tk_vocab_spec {
	const char *model;          /* tokenizer.ggml.model: only "gpt2" (byte-level BPE) */
	size_t n_tokens;
	const char *const *tokens;  /* tokenizer.ggml.tokens, byte-level text ("Ġthe") */
	const size_t *token_lens;   /* lengths in bytes; NULL: NUL-terminated */
	const int32_t *token_types; /* enum tk_token_type per token; NULL: all normal */
	size_t n_merges;
	const char *const *merges;  /* tokenizer.ggml.merges: "Ġ t" */
	const size_t *merge_lens;   /* NULL: NUL-terminated */
	const char *pre;            /* tokenizer.ggml.pre; NULL means "default" */
	int32_t bos_id, eos_id, pad_id; /* -1 when absent */
	int add_bos;                /* tokenizer.ggml.add_bos_token */
	const char *chat_template;  /* tokenizer.chat_template, or NULL */
} tk_vocab_spec;

/* Loads tokenizer.json; config_path (tokenizer_config.json) may be NULL.
 * From the config come the chat template, bos/eos/pad tokens and
 * add_bos_token.  Errors name the file. */
int tk_tokenizer_load_json(tk_tokenizer **out, const char *tokenizer_json_path,
			   const char *config_path);
int tk_tokenizer_from_vocab(tk_tokenizer **out, const tk_vocab_spec *spec);
void tk_tokenizer_free(tk_tokenizer *tok);

/* Overrides bos/eos/pad ids (e.g. from a model's config.json); -1 clears
 * one, -2 keeps it as it is.  Ids out of range give TK_EDATA. */
int tk_tokenizer_set_ids(tk_tokenizer *tok, int32_t bos, int32_t eos,
			 int32_t pad);

/* ---- encoding ---------------------------------------------------------- */

/* A growable array of token ids; zero-initialise, free with
 * tk_tokens_free.  Encoding appends to it. */
typedef struct tk_tokens {
	int32_t *ids;
	size_t n, cap;
} tk_tokens;

int tk_tokens_push(tk_tokens *t, int32_t id);
void tk_tokens_free(tk_tokens *t);

enum tk_encode_flags {
	/* Recognise special tokens (<|im_end|>) written in the text.  Without
	 * it they are split as ordinary text; added tokens that are not
	 * special are always recognised (as `tokenizers` does with
	 * encode_special_tokens=True). */
	TK_ENCODE_SPECIAL = 1u << 0,
	/* Prepend bos when the tokenizer asks for it (add_bos_token). */
	TK_ENCODE_ADD_BOS = 1u << 1
};

/* Encodes text[0..len) (UTF-8; invalid bytes are kept as bytes) and
 * appends the ids to out.  A byte the vocabulary has no token for (SmolLM2
 * lacks 0x04, 0xF1, 0xFF and a few more) becomes the unknown token when
 * tokenizer.json names one and is dropped otherwise, as in tokenizers. */
int tk_tokenizer_encode(const tk_tokenizer *tok, const char *text,
			size_t len, unsigned flags, tk_tokens *out);

/* ---- decoding ---------------------------------------------------------- */

enum tk_decode_flags {
	TK_DECODE_SKIP_SPECIAL = 1u << 0 /* leave out special tokens */
};

/* Decodes ids into bytes: *out is malloc'd, NUL-terminated, *out_len
 * excludes the NUL.  The bytes may be invalid UTF-8 where the ids cut a
 * character (the caller decides how to show them).  Unknown ids give
 * TK_EDATA. */
int tk_tokenizer_decode(const tk_tokenizer *tok, const int32_t *ids, size_t n,
			unsigned flags, char **out, size_t *out_len);

/* ---- the vocabulary ---------------------------------------------------- */

/* Number of ids (largest id + 1, added tokens included). */
size_t tk_tokenizer_vocab_size(const tk_tokenizer *tok);
/* The raw bytes a token decodes to (its content for added tokens); NULL
 * for an id out of range.  Valid as long as tok. */
const char *tk_tokenizer_piece(const tk_tokenizer *tok, int32_t id,
			       size_t *len);
/* The token's text as the vocabulary stores it ("Ġthe"), for writers of
 * tokenizer.json / GGUF; NULL when out of range. */
const char *tk_tokenizer_token_text(const tk_tokenizer *tok, int32_t id,
				    size_t *len);
/* enum tk_token_type of id (0 when out of range). */
int tk_tokenizer_token_type(const tk_tokenizer *tok, int32_t id);
int tk_tokenizer_is_special(const tk_tokenizer *tok, int32_t id);
/* The id whose piece is exactly bytes[0..len): an added/special token by
 * its content ("<|im_end|>") first, then a vocabulary token; -1 if none. */
int32_t tk_tokenizer_find(const tk_tokenizer *tok, const char *bytes,
			  size_t len);
/* Merges in rank order, as the ids of their two halves. */
size_t tk_tokenizer_n_merges(const tk_tokenizer *tok);
int tk_tokenizer_merge(const tk_tokenizer *tok, size_t rank, int32_t *left,
		       int32_t *right);

int32_t tk_tokenizer_bos(const tk_tokenizer *tok); /* -1 when none */
int32_t tk_tokenizer_eos(const tk_tokenizer *tok);
int32_t tk_tokenizer_pad(const tk_tokenizer *tok);
int tk_tokenizer_add_bos(const tk_tokenizer *tok);

/* The pre-tokenizer by its GGUF name ("gpt2", "llama-bpe", "qwen2",
 * "smollm"), for tk-merge --info and GGUF writers. */
const char *tk_tokenizer_pre_name(const tk_tokenizer *tok);
/* The chat template from tokenizer_config.json / GGUF, or NULL. */
const char *tk_tokenizer_chat_template(const tk_tokenizer *tok);

/* A 64-bit hash of what decides the ids: vocabulary texts and kinds,
 * merges, pre-tokenizer and its options.  The same tokenizer loaded from
 * tokenizer.json or from GGUF has the same fingerprint. */
uint64_t tk_tokenizer_fingerprint(const tk_tokenizer *tok);

#endif
