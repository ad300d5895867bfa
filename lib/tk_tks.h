/* Token streams (.tks): training data as tokens with per-token loss
 * weights, optional per-token arrays and per-record fields.  Byte layout in
 * man/tk-formats.5. */
#ifndef TK_TKS_H
#define TK_TKS_H

#include <stddef.h>
#include <stdint.h>

enum tk_pair_role { TK_PAIR_NONE = 0, TK_PAIR_CHOSEN = 1, TK_PAIR_REJECTED = 2 };

/* One training datum.  weights[i] applies to predicting tokens[i] from the
 * tokens before it.  The reader reuses the arrays between calls; a writer
 * takes them as given.  NULL logprobs/advantages/meta mean "absent". */
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
	size_t capacity;     /* reader's allocation, in tokens */
} tk_record;

void tk_record_init(tk_record *r);      /* empty record, group -1 */
void tk_record_free(tk_record *r);      /* frees arrays owned by a reader */

typedef struct tk_tks_writer tk_tks_writer;
typedef struct tk_tks_reader tk_tks_reader;

/* meta_json: the stream's metadata object as JSON text (tokenizer
 * fingerprint, vocab size, renderer, source, ...); NULL means "{}".
 * threads > 1 compresses in parallel. */
int tk_tks_writer_open(tk_tks_writer **out, const char *path,
		       const char *meta_json, int threads);
int tk_tks_write(tk_tks_writer *w, const tk_record *r);
/* Writes the trailer (record count), commits the file, frees w. */
int tk_tks_writer_close(tk_tks_writer *w);
void tk_tks_writer_abort(tk_tks_writer *w);

/* Reads one or several concatenated streams as one; every part must carry
 * the same "tokenizer" fingerprint in its metadata. */
int tk_tks_reader_open(tk_tks_reader **out, const char *path);
/* The first part's metadata object as JSON text. */
const char *tk_tks_reader_meta(const tk_tks_reader *r);
/* TK_OK with *rec filled, TK_END at the end, or an error (TK_EDATA...). */
int tk_tks_read(tk_tks_reader *r, tk_record *rec);
/* Records read so far (across parts). */
uint64_t tk_tks_reader_count(const tk_tks_reader *r);
void tk_tks_reader_close(tk_tks_reader *r);

#endif
