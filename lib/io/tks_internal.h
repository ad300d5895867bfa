/* What the .tks writer (tks.c) and reader (tks_read.c) share: the byte
 * layout's constants and the checks both make.  Private to lib/io. */
#ifndef TK_IO_TKS_INTERNAL_H
#define TK_IO_TKS_INTERNAL_H

#include "tk_tks.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

extern const unsigned char TKS_MAGIC[8];
extern const char TKS_TAG_RECORD[4];
extern const char TKS_TAG_TRAILER[4];

enum tks_record_flag {
	TKS_HAS_LOGPROBS = 1u << 0,
	TKS_HAS_ADVANTAGES = 1u << 1,
	TKS_HAS_REWARD = 1u << 2,
	TKS_HAS_META = 1u << 3,
	TKS_HAS_TOP = 1u << 4,          /* version 2: top-K ids and values */
	TKS_TOP_WEIGHTS = 1u << 5,      /* version 2: the values are weights */
	TKS_FLAGS_V1 = (1u << 4) - 1,
	TKS_FLAGS_V2 = (1u << 6) - 1
};

#define TKS_HEADER_SIZE 20     /* magic, version, flags, meta_len */
#define TKS_RECORD_FIXED 40    /* tag .. reward */
#define TKS_TRAILER_SIZE 16

/* The stream metadata's "vocab_size" when it is a positive integer, else
 * 0 (unknown: tokens are not checked). */
int64_t tks_vocab_size_of(const cJSON *meta);
/* text (length bytes, no NUL inside) as a JSON object; NULL if not one. */
cJSON *tks_parse_object(const char *text, size_t length);
int tks_is_json_object(const char *text, size_t length);
/* Index of the first token outside 0..vocab-1 (vocab 0: any
 * non-negative), or n when all are in; the top-K ids may also be -1. */
size_t tks_first_bad_token(const int32_t *tokens, size_t n, int64_t vocab);
size_t tks_first_bad_top_id(const int32_t *ids, size_t n, int64_t vocab);
/* Index of the first top-K weight that is negative or not finite, or n. */
size_t tks_first_bad_weight(const float *values, size_t n);

#endif
