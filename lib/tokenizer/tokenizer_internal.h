/* What the tokenizer's files share: the loaded tables, the hash maps
 * behind them, and the stages of encoding.  Not a public header. */
#ifndef TK_TOKENIZER_INTERNAL_H
#define TK_TOKENIZER_INTERNAL_H

#include "tk_tokenizer.h"

#include <stddef.h>
#include <stdint.h>

/* ---- a map from byte strings to ids (open addressing) ----------------- */
struct tk_strmap {
	uint32_t *slots; /* id + 1, 0 = empty */
	size_t mask;
	const char *arena;              /* strings live here, at off[id] */
	const uint32_t *off, *len;
};

uint64_t tk_hash_bytes(const void *data, size_t n);
int tk_strmap_init(struct tk_strmap *m, size_t capacity, const char *arena,
		   const uint32_t *off, const uint32_t *len);
/* Adds id unless a string equal to its string is already there. */
void tk_strmap_add(struct tk_strmap *m, int32_t id);
int32_t tk_strmap_get(const struct tk_strmap *m, const char *s, size_t n);
void tk_strmap_free(struct tk_strmap *m);

/* ---- merges: (left id, right id) -> rank and result ------------------- */
struct tk_merge_slot {
	uint64_t key;   /* left << 32 | right; UINT64_MAX = empty */
	uint32_t rank;
	int32_t result;
};
struct tk_mergemap {
	struct tk_merge_slot *slots;
	size_t mask;
};

int tk_mergemap_init(struct tk_mergemap *m, size_t n_merges);
void tk_mergemap_put(struct tk_mergemap *m, int32_t left, int32_t right,
		     uint32_t rank, int32_t result);
static inline const struct tk_merge_slot *
tk_mergemap_get(const struct tk_mergemap *m, int32_t left, int32_t right)
{
	uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
	size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & m->mask;
	for (;;) {
		const struct tk_merge_slot *s = &m->slots[i];
		if (s->key == key)
			return s;
		if (s->key == UINT64_MAX)
			return NULL;
		i = (i + 1) & m->mask;
	}
}
void tk_mergemap_free(struct tk_mergemap *m);

/* ---- the pre-tokenizer: a list of splitting steps --------------------- */
enum tk_pre_step {
	TK_PRE_DIGITS_ISOLATED,   /* Digits(individual_digits=true) */
	TK_PRE_DIGITS_CONTIGUOUS, /* Digits(individual_digits=false) */
	TK_PRE_PREFIX_SPACE,      /* ByteLevel(add_prefix_space=true) */
	TK_PRE_GPT2,              /* the GPT-2 pattern */
	TK_PRE_LLAMA3,            /* the Llama-3 pattern */
	TK_PRE_QWEN2              /* the Qwen2 pattern (single digits) */
};
#define TK_PRE_MAX_STEPS 8

/* Calls sink on every piece of s[0..n) the steps cut. */
typedef int (*tk_piece_sink)(void *ctx, const unsigned char *s, size_t n);
int tk_pretokenize(const uint8_t *steps, size_t n_steps,
		   const unsigned char *s, size_t n, tk_piece_sink sink,
		   void *ctx);
/* The end of the pattern's match at s[i] (i < n). */
size_t tk_pattern_match(int pattern, const unsigned char *s, size_t n,
			size_t i);

/* ---- byte-level mapping (GPT-2's bytes_to_unicode) -------------------- */
/* The code point byte b is written as in a vocabulary ("Ġ" for ' '). */
uint32_t tk_byte_to_cp(unsigned b);
/* The byte a code point stands for, or -1 if it is none of the 256. */
int tk_cp_to_byte(uint32_t cp);
/* Decodes byte-level text into raw bytes (out has room for n); returns the
 * length, or (size_t)-1 when a character is not one of the 256. */
size_t tk_bytelevel_decode(const char *text, size_t n, char *out);

/* ---- the tokenizer ----------------------------------------------------- */
struct tk_added {
	int32_t id;
	uint32_t off, len; /* content, in the piece arena */
	uint8_t special, lstrip, rstrip, single_word;
};

struct tk_tokenizer {
	size_t n_vocab;
	/* per id: the text as stored ("Ġthe") and the raw piece (" the") */
	char *text;   /* arena: grows by appending, so offsets stay valid */
	size_t text_used, text_cap, piece_used, piece_cap;
	uint32_t *text_off, *text_len;
	char *piece;  /* arena */
	uint32_t *piece_off, *piece_len;
	uint8_t *type; /* enum tk_token_type */
	struct tk_strmap piece_map; /* raw bytes -> id */

	int32_t byte_id[256]; /* the one-byte token of each byte, -1 if none */
	/* per id: 1 when BPE of its piece gives exactly this token, so that a
	 * pre-token found whole in the vocabulary needs no merging (most
	 * words of real text) */
	uint8_t *whole;
	int32_t unk_id;

	size_t n_merges;
	int32_t *merge_pairs; /* (left, right) by rank */
	struct tk_mergemap merges;
	int ignore_merges;

	struct tk_added *added;
	size_t n_added;
	uint8_t added_first[256]; /* bit 0: some token starts with this byte,
				     bit 1: some non-special one does */

	uint8_t pre[TK_PRE_MAX_STEPS];
	size_t n_pre;
	int nfc; /* normalizer NFC before pre-tokenizing */

	int32_t bos, eos, pad;
	int add_bos;
	char *chat_template;
	uint64_t fingerprint;
};

/* A tokenizer under construction: the loaders fill vocab, merges and
 * added tokens through these, then tk_tokenizer_finish builds the maps. */
int tk_tokenizer_alloc(tk_tokenizer **out, size_t n_vocab);
/* Sets id's stored text (byte-level form); piece decoded from it. */
int tk_tokenizer_set_token(tk_tokenizer *t, int32_t id, const char *text,
			   size_t len, int type);
/* Builds the piece map, byte table, added-token list and fingerprint;
 * flags gives lstrip/rstrip/single_word of added tokens by id. */
int tk_tokenizer_finish(tk_tokenizer *t);
int tk_tokenizer_finish_with(tk_tokenizer *t, const struct tk_added *flags,
			     size_t n_flags);
/* Adds merge `rank` (left + right); errors name where (what). */
int tk_tokenizer_add_merges(tk_tokenizer *t, size_t n_merges,
			    int (*get)(void *ctx, size_t i, const char **a,
				       size_t *alen, const char **b,
				       size_t *blen),
			    void *ctx, const char *what);
/* Parses a GGUF pre-tokenizer name into steps. */
int tk_pre_from_name(tk_tokenizer *t, const char *name);

/* BPE of one pre-token, appending ids. */
struct tk_bpe_scratch {
	int32_t *id;
	int32_t *prev, *next;
	uint32_t *rank;
	void *heap;
	size_t cap, heap_cap;
};
int tk_bpe(const tk_tokenizer *t, struct tk_bpe_scratch *sc,
	   const unsigned char *s, size_t n, tk_tokens *out);
void tk_bpe_scratch_free(struct tk_bpe_scratch *sc);
/* Fills t->whole (after the merges and byte table are in place). */
int tk_bpe_find_whole(tk_tokenizer *t);

#endif
