/* Token streams (.tks): the reader (layout in tks.c and man/tk-formats.5).
 * It reads versions 1 and 2 (2 added the per-token top-K).
 *
 * The reader never trusts a length before it has the bytes: the first
 * array of a record, and of its top-K, grows as its data actually arrives,
 * so a corrupt or hostile length costs at most twice the bytes really
 * present. */
#include "base/tk_endian.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tks_internal.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first array of a record is read in steps of at least this many
 * elements, doubling: see the comment at the top. */
#define FIRST_STEP ((size_t)1 << 16)


struct tk_tks_reader {
	tk_zreader *z;
	const char *path;          /* the zreader's display name */
	char *meta;                /* first part's metadata text */
	cJSON *tokenizer;          /* the first "tokenizer" value seen, or NULL */
	unsigned tokenizer_part;   /* the part it came from */
	int64_t vocab_size;        /* this part's; 0 unknown */
	uint32_t version;          /* this part's format version */
	unsigned part;             /* 1-based number of the current part */
	uint64_t count;            /* records read, all parts */
	uint64_t part_count;       /* records read in this part */
	uint64_t offset;           /* decoded bytes consumed */
	int error;                 /* sticky */
	int ended;
	char error_message[512];
};

/* Reads exactly size bytes of `what`; a short read is a truncation. */
static int read_field(tk_tks_reader *r, void *data, size_t size, const char *what)
{
	size_t got;
	int rc = tk_zreader_read(r->z, data, size, &got);
	if (rc != TK_OK)
		return rc;
	r->offset += got;
	if (got < size)
		return tk_fail(TK_EDATA, "%s: truncated: the stream ends inside %s (part %u, byte %" PRIu64 ")",
			       r->path, what, r->part, r->offset);
	return TK_OK;
}

static int read_array4(tk_tks_reader *r, void *data, size_t n, const char *what)
{
	int rc = read_field(r, data, n * 4, what);
	if (rc == TK_OK && !tk_host_is_little_endian())
		tk_swap_elements(data, n * 4, 4);
	return rc;
}

/* Reads one part's fixed header; `first`: the input's first bytes. */
static int read_header(tk_tks_reader *r, int first, uint32_t *meta_len)
{
	unsigned char h[TKS_HEADER_SIZE];
	size_t got;
	uint64_t at = r->offset;
	int rc = tk_zreader_read(r->z, h, sizeof h, &got);
	if (rc != TK_OK)
		return rc;
	r->offset += got;
	if (first && got == 0)
		return tk_fail(TK_EDATA, "%s: empty input, not a token stream (truncated?)", r->path);
	if (memcmp(h, TKS_MAGIC, got < 8 ? got : 8) != 0) {
		const char *why = !first ? "data after the end of a .tks part is not another part"
			: got >= 4 && memcmp(h, "\x89TKC", 4) == 0 ? "a .tkc checkpoint, not a token stream"
			: "not a .tks token stream";
		return tk_fail(TK_EDATA, "%s: bad magic at byte %" PRIu64 ": %s", r->path, at, why);
	}
	if (got < sizeof h)
		return tk_fail(TK_EDATA, "%s: truncated: the stream ends inside the header of part %u",
			       r->path, r->part);
	uint32_t version = tk_get_u32(h + 8), flags = tk_get_u32(h + 12);
	*meta_len = tk_get_u32(h + 16);
	if (version < 1 || version > TK_TKS_VERSION)
		return tk_fail(TK_EDATA, "%s: part %u has format version %" PRIu32 "; this tk reads versions 1 to %d (a newer tk wrote it?)",
			       r->path, r->part, version, TK_TKS_VERSION);
	r->version = version;
	if (flags != 0)
		return tk_fail(TK_EDATA, "%s: part %u has unknown header flags 0x%" PRIx32 " (a newer tk wrote it?)",
			       r->path, r->part, flags);
	if (*meta_len > TK_TKS_MAX_META)
		return tk_fail(TK_EDATA, "%s: part %u metadata length %" PRIu32 " exceeds the %zu-byte limit (corrupt header?)",
			       r->path, r->part, *meta_len, TK_TKS_MAX_META);
	return TK_OK;
}

/* Checks that part r->part agrees on the tokenizer with the first part
 * that named one. */
static int check_tokenizer(tk_tks_reader *r, const cJSON *meta)
{
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer");
	if (!tok)
		return TK_OK;
	if (!r->tokenizer) {
		r->tokenizer = cJSON_Duplicate(tok, 1);
		r->tokenizer_part = r->part;
		return r->tokenizer ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
	}
	if (cJSON_Compare(tok, r->tokenizer, 1))
		return TK_OK;
	char *a = cJSON_PrintUnformatted(r->tokenizer), *b = cJSON_PrintUnformatted(tok);
	int rc = tk_fail(TK_EDATA, "%s: part %u was made with tokenizer %.100s but part %u with tokenizer %.100s: streams of different tokenizers cannot be mixed",
			 r->path, r->part, b ? b : "?", r->tokenizer_part, a ? a : "?");
	free(a);
	free(b);
	return rc;
}

/* Reads and checks a part's header and metadata. */
static int begin_part(tk_tks_reader *r, int first)
{
	uint32_t meta_len = 0;
	int rc = read_header(r, first, &meta_len);
	if (rc != TK_OK)
		return rc;
	char *text = tk_malloc((size_t)meta_len + 1);
	if (!text)
		return TK_EOSERR;
	rc = read_field(r, text, meta_len, "the metadata");
	text[meta_len] = '\0';
	cJSON *meta = rc == TK_OK ? tks_parse_object(text, meta_len) : NULL;
	if (rc == TK_OK && !meta)
		rc = tk_fail(TK_EDATA, "%s: part %u metadata is not a JSON object: %.60s",
			     r->path, r->part, text);
	if (rc == TK_OK)
		rc = check_tokenizer(r, meta);
	if (rc == TK_OK) {
		r->vocab_size = tks_vocab_size_of(meta);
		r->part_count = 0;
	}
	cJSON_Delete(meta);
	if (rc == TK_OK && first)
		r->meta = text;
	else
		free(text);
	return rc;
}

int tk_tks_reader_open(tk_tks_reader **out, const char *path)
{
	*out = NULL;
	tk_tks_reader *r = tk_calloc(1, sizeof *r);
	if (!r)
		return TK_EOSERR;
	int rc = tk_zreader_open(&r->z, path);
	if (rc == TK_OK) {
		r->path = tk_zreader_path(r->z);
		r->part = 1;
		rc = begin_part(r, 1);
	}
	if (rc != TK_OK) {
		tk_tks_reader_close(r);
		return rc;
	}
	*out = r;
	return TK_OK;
}

const char *tk_tks_reader_meta(const tk_tks_reader *r) { return r->meta; }
uint64_t tk_tks_reader_count(const tk_tks_reader *r) { return r->count; }
unsigned tk_tks_reader_parts(const tk_tks_reader *r) { return r->part; }

/* Points the arrays of rec into its block of `capacity` tokens. */
static void point_arrays(tk_record *rec)
{
	rec->weights = (float *)(rec->tokens + rec->capacity);
}

/* Makes rec's block hold at least `need` tokens, keeping the first `keep`
 * tokens. */
static int reserve_tokens(tk_record *rec, size_t need, size_t keep)
{
	if (need <= rec->capacity)
		return TK_OK;
	if (need > SIZE_MAX / 16)
		return tk_fail(TK_EOSERR, "record of %zu tokens does not fit in memory", need);
	int32_t *block = tk_malloc(need * 16); /* tokens, weights, logprobs, advantages */
	if (!block)
		return TK_EOSERR;
	if (keep)
		memcpy(block, rec->tokens, keep * 4);
	if (rec->capacity)
		free(rec->tokens);
	rec->tokens = block;
	rec->capacity = need;
	point_arrays(rec);
	return TK_OK;
}

/* Reads the n tokens of a record, growing the block only as the data
 * arrives: a corrupt n fails as a truncation, not as a huge allocation. */
static int read_tokens(tk_tks_reader *r, tk_record *rec, size_t n)
{
	size_t have = 0;
	while (have < n) {
		size_t step = have > FIRST_STEP ? have : FIRST_STEP;
		size_t upto = n - have < step ? n : have + step;
		int rc = reserve_tokens(rec, upto, have);
		if (rc == TK_OK)
			rc = read_array4(r, rec->tokens + have, upto - have, "the tokens of a record");
		if (rc != TK_OK)
			return rc;
		have = upto;
	}
	return TK_OK;
}

static int read_meta(tk_tks_reader *r, tk_record *rec, size_t meta_len)
{
	if (meta_len + 1 > rec->meta_capacity) {
		char *m = tk_malloc(meta_len + 1);
		if (!m)
			return TK_EOSERR;
		if (rec->meta_capacity)
			free(rec->meta);
		rec->meta = m;
		rec->meta_capacity = meta_len + 1;
	}
	int rc = read_field(r, rec->meta, meta_len, "the meta of a record");
	if (rc != TK_OK)
		return rc;
	rec->meta[meta_len] = '\0';
	if (!tks_is_json_object(rec->meta, meta_len))
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " meta is not a JSON object: %.60s",
			       r->path, r->count, rec->meta);
	return TK_OK;
}

/* Makes rec's top-K block hold at least `need` ids and as many values,
 * keeping the first `keep` ids. */
static int reserve_top(tk_record *rec, size_t need, size_t keep)
{
	if (need <= rec->top_capacity)
		return TK_OK;
	if (need > SIZE_MAX / 8)
		return tk_fail(TK_EOSERR, "a top-K of %zu entries does not fit in memory", need);
	int32_t *block = tk_malloc(need * 8); /* ids, values */
	if (!block)
		return TK_EOSERR;
	if (keep)
		memcpy(block, rec->top_ids, keep * 4);
	if (rec->top_capacity)
		free(rec->top_ids);
	rec->top_ids = block;
	rec->top_capacity = need;
	return TK_OK;
}

/* Checks the top-K's ids and weights as read. */
static int check_top(tk_tks_reader *r, const tk_record *rec)
{
	size_t nk = rec->n * rec->top_k;
	size_t bad = tks_first_bad_top_id(rec->top_ids, nk, r->vocab_size);
	if (bad < nk)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " token %zu top-K id %d is outside -1..%" PRId64,
			       r->path, r->count, bad / rec->top_k, (int)rec->top_ids[bad],
			       r->vocab_size > 0 ? r->vocab_size - 1 : (int64_t)INT32_MAX);
	bad = rec->top_weights ? tks_first_bad_weight(rec->top_values, nk) : nk;
	if (bad < nk)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " token %zu top-K weight %g is not a finite number >= 0",
			       r->path, r->count, bad / rec->top_k, (double)rec->top_values[bad]);
	return TK_OK;
}

/* Reads a record's top-K when its flags say it has one: K, then the ids
 * growing as they arrive (a corrupt K fails as a truncation), the values. */
static int read_top(tk_tks_reader *r, tk_record *rec, uint32_t flags)
{
	rec->top_k = 0;
	rec->top_weights = 0;
	if (!(flags & TKS_HAS_TOP)) {
		rec->top_values = NULL;
		return TK_OK;
	}
	unsigned char kb[4];
	int rc = read_field(r, kb, sizeof kb, "the top-K of a record");
	if (rc != TK_OK)
		return rc;
	uint32_t k = tk_get_u32(kb);
	if (k < 1 || k > TK_TKS_MAX_TOP_K || rec->n > TK_TKS_MAX_TOKENS / k)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has a top-%" PRIu32 " over %zu tokens (1 to %d, at most %zu entries; corrupt?)",
			       r->path, r->count, k, rec->n, TK_TKS_MAX_TOP_K, TK_TKS_MAX_TOKENS);
	size_t nk = rec->n * k, have = 0;
	while (have < nk) {
		size_t step = have > FIRST_STEP ? have : FIRST_STEP;
		size_t upto = nk - have < step ? nk : have + step;
		rc = reserve_top(rec, upto, have);
		if (rc == TK_OK)
			rc = read_array4(r, rec->top_ids + have, upto - have, "the top-K ids of a record");
		if (rc != TK_OK)
			return rc;
		have = upto;
	}
	rc = reserve_top(rec, nk ? nk : 1, nk);
	if (rc != TK_OK)
		return rc;
	rec->top_k = k;
	rec->top_weights = (flags & TKS_TOP_WEIGHTS) != 0;
	rec->top_values = (float *)(rec->top_ids + rec->top_capacity);
	rc = read_array4(r, rec->top_values, nk, "the top-K values of a record");
	return rc == TK_OK ? check_top(r, rec) : rc;
}

/* Decodes and checks a record's fixed fields (after its tag). */
static int decode_fixed(tk_tks_reader *r, const unsigned char *p, tk_record *rec,
			uint32_t *flags, size_t *meta_len)
{
	*flags = tk_get_u32(p + 4);
	uint64_t n = tk_get_u64(p + 8);
	uint32_t role = tk_get_u32(p + 24);
	*meta_len = tk_get_u32(p + 28);
	uint64_t reward_bits = tk_get_u64(p + 32);
	uint32_t known = r->version >= 2 ? TKS_FLAGS_V2 : TKS_FLAGS_V1;
	if (*flags & ~known)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has unknown flags 0x%" PRIx32 " for format version %" PRIu32 " (corrupt, or a newer tk wrote it?)",
			       r->path, r->count, *flags, r->version);
	if ((*flags & TKS_TOP_WEIGHTS) && !(*flags & TKS_HAS_TOP))
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has the top-K weights flag but no top-K (corrupt?)",
			       r->path, r->count);
	if (n > TK_TKS_MAX_TOKENS)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " claims %" PRIu64 " tokens, more than the %zu allowed (corrupt length?)",
			       r->path, r->count, n, TK_TKS_MAX_TOKENS);
	if (role > TK_PAIR_REJECTED)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has pair role %" PRIu32 " (0 none, 1 chosen, 2 rejected)",
			       r->path, r->count, role);
	if (!(*flags & TKS_HAS_META) && *meta_len != 0)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has a meta length but no meta flag (corrupt?)",
			       r->path, r->count);
	if (*meta_len > TK_TKS_MAX_RECORD_META)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " meta length %zu exceeds the %zu-byte limit (corrupt length?)",
			       r->path, r->count, *meta_len, TK_TKS_MAX_RECORD_META);
	rec->n = (size_t)n;
	rec->group = (int64_t)tk_get_u64(p + 16);
	rec->pair_role = (int32_t)role;
	rec->has_reward = (*flags & TKS_HAS_REWARD) != 0;
	memcpy(&rec->reward, &reward_bits, 8);
	if (!rec->has_reward)
		rec->reward = 0;
	return TK_OK;
}

/* Reads a record's fields after its tag into rec. */
static int read_record(tk_tks_reader *r, tk_record *rec)
{
	unsigned char p[TKS_RECORD_FIXED];
	int rc = read_field(r, p + 4, TKS_RECORD_FIXED - 4, "the fields of a record");
	uint32_t flags = 0;
	size_t meta_len = 0;
	if (rc == TK_OK)
		rc = decode_fixed(r, p, rec, &flags, &meta_len);
	if (rc == TK_OK)
		rc = read_tokens(r, rec, rec->n);
	if (rc == TK_OK)
		rc = reserve_tokens(rec, 1, 0); /* even an empty record owns a block */
	if (rc != TK_OK)
		return rc;
	float *lp = rec->weights + rec->capacity, *adv = lp + rec->capacity;
	rc = read_array4(r, rec->weights, rec->n, "the weights of a record");
	if (rc == TK_OK && (flags & TKS_HAS_LOGPROBS))
		rc = read_array4(r, lp, rec->n, "the logprobs of a record");
	if (rc == TK_OK && (flags & TKS_HAS_ADVANTAGES))
		rc = read_array4(r, adv, rec->n, "the advantages of a record");
	rec->logprobs = flags & TKS_HAS_LOGPROBS ? lp : NULL;
	rec->advantages = flags & TKS_HAS_ADVANTAGES ? adv : NULL;
	if (rc == TK_OK)
		rc = read_top(r, rec, flags);
	if (rc == TK_OK && (flags & TKS_HAS_META)) {
		rc = read_meta(r, rec, meta_len);
	} else {
		/* no field is left to hold an unused buffer: free it */
		if (rec->meta_capacity)
			free(rec->meta);
		rec->meta = NULL;
		rec->meta_capacity = 0;
	}
	if (rc != TK_OK)
		return rc;
	size_t bad = tks_first_bad_token(rec->tokens, rec->n, r->vocab_size);
	if (bad < rec->n)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " token %zu is %d, outside the vocabulary 0..%" PRId64,
			       r->path, r->count, bad, (int)rec->tokens[bad],
			       r->vocab_size > 0 ? r->vocab_size - 1 : (int64_t)INT32_MAX);
	return TK_OK;
}

/* After a part's trailer tag: checks the record count it declares. */
static int end_part(tk_tks_reader *r)
{
	unsigned char t[TKS_TRAILER_SIZE];
	int rc = read_field(r, t + 4, TKS_TRAILER_SIZE - 4, "the trailer");
	if (rc != TK_OK)
		return rc;
	uint64_t declared = tk_get_u64(t + 8);
	if (tk_get_u32(t + 4) != 0)
		return tk_fail(TK_EDATA, "%s: part %u trailer is malformed (corrupt?)", r->path, r->part);
	if (declared != r->part_count)
		return tk_fail(TK_EDATA, "%s: part %u trailer declares %" PRIu64 " records but %" PRIu64 " were read (corrupt?)",
			       r->path, r->part, declared, r->part_count);
	return TK_OK;
}

/* Reads the next record, crossing part boundaries. */
static int read_next(tk_tks_reader *r, tk_record *rec)
{
	for (;;) {
		char tag[4];
		size_t got;
		int rc = tk_zreader_read(r->z, tag, 4, &got);
		if (rc != TK_OK)
			return rc;
		r->offset += got;
		if (got == 0)
			return tk_fail(TK_EDATA, "%s: truncated: part %u ends after %" PRIu64 " records without its trailer (an interrupted writer?)",
				       r->path, r->part, r->part_count);
		if (got < 4)
			return tk_fail(TK_EDATA, "%s: truncated: the stream ends inside a record tag (part %u, byte %" PRIu64 ")",
				       r->path, r->part, r->offset);
		if (memcmp(tag, TKS_TAG_RECORD, 4) == 0) {
			rc = read_record(r, rec);
			if (rc == TK_OK) {
				r->count++;
				r->part_count++;
			}
			return rc;
		}
		if (memcmp(tag, TKS_TAG_TRAILER, 4) != 0)
			return tk_fail(TK_EDATA, "%s: expected a record or the trailer at byte %" PRIu64 " of part %u, found bytes %02x %02x %02x %02x (corrupt?)",
				       r->path, r->offset - 4, r->part, (unsigned char)tag[0],
				       (unsigned char)tag[1], (unsigned char)tag[2], (unsigned char)tag[3]);
		rc = end_part(r);
		if (rc != TK_OK)
			return rc;
		if (tk_zreader_at_end(r->z))
			return TK_END;
		r->part++;
		rc = begin_part(r, 0);
		if (rc != TK_OK)
			return rc;
	}
}

int tk_tks_read(tk_tks_reader *r, tk_record *rec)
{
	if (r->error)
		return tk_fail(r->error, "%s", r->error_message);
	if (r->ended)
		return TK_END;
	int rc = read_next(r, rec);
	if (rc == TK_END) {
		r->ended = 1;
	} else if (rc != TK_OK) {
		/* later calls repeat the error, not a confusing second one */
		r->error = rc;
		snprintf(r->error_message, sizeof r->error_message, "%s", tk_error_message());
	}
	return rc;
}

void tk_tks_reader_close(tk_tks_reader *r)
{
	if (!r)
		return;
	tk_zreader_close(r->z);
	cJSON_Delete(r->tokenizer);
	free(r->meta);
	free(r);
}
