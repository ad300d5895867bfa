/* Token streams (.tks): training data as tokens with per-token loss
 * weights, optional per-token arrays and per-record fields.  Byte layout in
 * man/tk-formats.5. */
#ifndef TK_TKS_H
#define TK_TKS_H

#include <stddef.h>
#include <stdint.h>

enum tk_pair_role { TK_PAIR_NONE = 0, TK_PAIR_CHOSEN = 1, TK_PAIR_REJECTED = 2 };

/* Format version written (see man/tk-formats.5); versions 1 (without the
 * top-K) and 2 are read. */
#define TK_TKS_VERSION 2
/* Limits a reader enforces before it allocates anything. */
#define TK_TKS_MAX_TOKENS ((size_t)1 << 31)        /* tokens in one record */
#define TK_TKS_MAX_META ((size_t)16 << 20)         /* stream metadata, bytes */
#define TK_TKS_MAX_RECORD_META ((size_t)1 << 20)   /* record meta, bytes */
#define TK_TKS_MAX_TOP_K 1024                      /* top-K alternatives per token */
/* Default zstd level of tk_tks_writer_open. */
#define TK_TKS_LEVEL 3

/* One training datum.  weights[i] applies to predicting tokens[i] from the
 * tokens before it.  NULL logprobs/advantages/meta mean "absent".
 *
 * Top-K targets (a teacher's distribution, for distillation): with top_k
 * > 0, row i of top_ids and top_values (top_k entries each) holds the
 * alternatives for predicting tokens[i], like weights[i]: ids of the
 * vocabulary, −1 for an empty slot (its value is ignored), and their
 * logprobs, or non-negative weights when top_weights is set.  top_k 0
 * means absent.
 *
 * Ownership: a record filled by tk_tks_read owns its arrays (capacity > 0:
 * one block that tokens points to, the other arrays inside it; meta its
 * own buffer when meta_capacity > 0; the top-K one block that top_ids
 * points to when top_capacity > 0); the next read reuses them and
 * tk_record_free frees them.  A record a caller fills for tk_tks_write
 * keeps the capacities 0 and its arrays stay the caller's. */
typedef struct tk_record {
	size_t n;            /* number of tokens */
	int32_t *tokens;     /* (n) */
	float *weights;      /* (n) */
	float *logprobs;     /* (n) sampler's logprob of each token, or NULL */
	float *advantages;   /* (n) RL advantage of each token, or NULL */
	int64_t group;       /* sample group or preference pair id; -1 none */
	int32_t pair_role;   /* enum tk_pair_role */
	int has_reward;
	double reward;
	char *meta;          /* small JSON object as text, or NULL */
	size_t top_k;        /* top-K alternatives per token; 0: none */
	int32_t *top_ids;    /* (n, top_k) ids, -1: empty slot */
	float *top_values;   /* (n, top_k) logprobs, or weights with top_weights */
	int top_weights;     /* top_values are weights >= 0, not logprobs */
	size_t capacity;     /* reader's allocation, in tokens */
	size_t meta_capacity;/* reader's allocation for meta, in bytes */
	size_t top_capacity; /* reader's allocation for the top-K, in entries */
} tk_record;

void tk_record_init(tk_record *r);      /* empty record, group -1 */
void tk_record_free(tk_record *r);      /* frees arrays owned by a reader */
/* Row i of r's top-K as a distribution, q (top_k): a softmax over the
 * filled slots' logprobs (a teacher's distribution renormalised to its
 * top K), or the weights over their sum; 0 in empty slots, and all 0 when
 * no slot holds any probability. */
void tk_record_top_probs(const tk_record *r, size_t i, float *q);

typedef struct tk_tks_writer tk_tks_writer;
typedef struct tk_tks_reader tk_tks_reader;

/* meta_json: the stream's metadata object as JSON text; NULL means "{}".
 * Known keys: "tokenizer" (fingerprint, any JSON value: parts of a
 * concatenated stream must agree on it), "vocab_size" (integer: every
 * token must be below it), "renderer", "source".  threads > 1 compresses
 * in parallel.  TK_EUSAGE when meta_json is not a JSON object. */
int tk_tks_writer_open(tk_tks_writer **out, const char *path,
		       const char *meta_json, int threads);
/* The same with a zstd level (1..19; negative: faster, larger). */
int tk_tks_writer_open_level(tk_tks_writer **out, const char *path,
			     const char *meta_json, int threads, int level);
/* Checks r (lengths, pair role, meta a JSON object, tokens within
 * 0..vocab_size-1 when the metadata names "vocab_size", top-K ids within
 * -1..vocab_size-1 and weights >= 0) and appends it. */
int tk_tks_write(tk_tks_writer *w, const tk_record *r);
/* Writes the trailer (record count), commits the file, frees w. */
int tk_tks_writer_close(tk_tks_writer *w);
void tk_tks_writer_abort(tk_tks_writer *w);

/* Reads one or several concatenated streams as one ("-": stdin), in
 * memory bounded by the largest record.  Parts that both carry a
 * "tokenizer" fingerprint must carry the same one.  Opening reads and
 * checks the first header (magic, version, metadata). */
int tk_tks_reader_open(tk_tks_reader **out, const char *path);
/* The first part's metadata object as JSON text. */
const char *tk_tks_reader_meta(const tk_tks_reader *r);
/* TK_OK with *rec filled, TK_END at the end, or an error (TK_EDATA...). */
int tk_tks_read(tk_tks_reader *r, tk_record *rec);
/* Records read so far (across parts). */
uint64_t tk_tks_reader_count(const tk_tks_reader *r);
/* Parts begun so far (1 after open; more for concatenated streams). */
unsigned tk_tks_reader_parts(const tk_tks_reader *r);
void tk_tks_reader_close(tk_tks_reader *r);

#endif
