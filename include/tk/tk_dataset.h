/* A token stream read into memory as an index of training units, for
 * seeded per-epoch shuffles and an exact data position (epoch, index).
 *
 *   tk_dataset *d;
 *   tk_dataset_load(&d, "train.tks", &opts);    // "-": stdin
 *   size_t *order = malloc(d->n_units * sizeof *order);
 *   tk_dataset_order(d, order, seed, epoch, shuffle);
 *   for (size_t i = 0; i < d->n_units; i++) {
 *           const tk_unit *u = &d->units[order[i]];
 *           // records u->first .. u->first + u->count - 1
 *   }
 *
 * A unit is what a batch counts: one record, or for preference data (pairs)
 * a chosen record followed by its rejected one (matched by group id, in
 * the order of the stream).  Loading drops, and counts, the units a
 * trainer cannot use: records longer than max_len tokens, records without
 * any loss weight (weights[1..] all zero), incomplete pairs. */
#ifndef TK_DATASET_H
#define TK_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct tk_unit {
	size_t first, count;    /* records first .. first+count-1 */
	size_t tokens;          /* Σ of their lengths */
} tk_unit;

typedef struct tk_dataset_options {
	size_t max_len;         /* longest record kept; 0: no limit */
	int pairs;              /* units are (chosen, rejected) pairs */
} tk_dataset_options;

typedef struct tk_dataset {
	char *meta_json;        /* the stream's metadata */
	size_t n_records;       /* kept */
	size_t n_tokens;
	int32_t *tokens;        /* (n_tokens) records back to back */
	float *weights;         /* (n_tokens) */
	size_t *starts;         /* (n_records + 1) */
	size_t n_units;
	tk_unit *units;         /* (n_units) */
	/* the records' top-K as distributions (tk_record_top_probs), as wide
	 * as the widest; a record without one, or a narrower one, padded with
	 * id -1, q 0.  top_k 0 (nothing held): no record had one */
	size_t top_k;
	int32_t *top_ids;       /* (n_tokens, top_k) */
	float *top_q;           /* (n_tokens, top_k) */
	/* what loading dropped */
	uint64_t read;          /* records in the stream */
	uint64_t too_long, unweighted, unpaired;
	size_t longest;         /* longest record dropped as too long */
} tk_dataset;

/* Reads the whole stream.  An empty stream, or one where nothing is left
 * after dropping, is not an error here (n_units 0): the caller words it. */
int tk_dataset_load(tk_dataset **out, const char *path, const tk_dataset_options *o);
void tk_dataset_free(tk_dataset *d);  /* safe on NULL */

/* The order of the units in an epoch: 0..n-1, or with shuffle a
 * permutation drawn from (seed, epoch) alone, so any epoch's order can be
 * made again when resuming.   order (n_units) */
void tk_dataset_order(const tk_dataset *d, size_t *order, uint64_t seed,
		      uint64_t epoch, int shuffle);

/* The "tokenizer" fingerprint in the stream's metadata into out (17
 * bytes); 0 when present, TK_END when the stream names none. */
int tk_dataset_tokenizer(const tk_dataset *d, char out[17]);

/* FNV-1a of the kept tokens and weights, as 16 hex digits into out (17
 * bytes): which data a run saw. */
void tk_dataset_fingerprint_hex(const tk_dataset *d, char out[17]);

#endif
