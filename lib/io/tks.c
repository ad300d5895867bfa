/* Token streams (.tks).  Byte layout in man/tk-formats.5; in short, inside
 * the zstd stream, each part is
 *
 *   header  magic[8] version:u32 flags:u32 meta_len:u32 meta[meta_len]
 *   record  "TKSR" flags:u32 n:u64 group:i64 pair_role:i32 meta_len:u32
 *           reward:f64 tokens:i32[n] weights:f32[n] [logprobs:f32[n]]
 *           [advantages:f32[n]] meta[meta_len]          (any number)
 *   trailer "TKSE" reserved:u32 count:u64
 *
 * all little-endian.  The trailer is what tells a complete part from one
 * cut short (zstd alone cannot: a cut at a frame boundary looks whole).
 *
 * The reader never trusts a length before it has the bytes: the first
 * array of a record grows as its data actually arrives, so a corrupt or
 * hostile length costs at most twice the bytes really present. */
#include "base/tk_endian.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_tks.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char TKS_MAGIC[8] = {0x89, 'T', 'K', 'S', '\r', '\n', 0x1a, '\n'};
static const char TAG_RECORD[4] = {'T', 'K', 'S', 'R'};
static const char TAG_TRAILER[4] = {'T', 'K', 'S', 'E'};

enum record_flag {
	HAS_LOGPROBS = 1u << 0,
	HAS_ADVANTAGES = 1u << 1,
	HAS_REWARD = 1u << 2,
	HAS_META = 1u << 3,
	KNOWN_FLAGS = (1u << 4) - 1
};

#define HEADER_SIZE 20     /* magic, version, flags, meta_len */
#define RECORD_FIXED 40    /* tag .. reward */
#define TRAILER_SIZE 16
/* The first array of a record is read in steps of at least this many
 * tokens, doubling: see the comment at the top. */
#define FIRST_STEP ((size_t)1 << 16)

/* ---- records ------------------------------------------------------------ */

void tk_record_init(tk_record *r)
{
	memset(r, 0, sizeof *r);
	r->group = -1;
}

void tk_record_free(tk_record *r)
{
	if (r->capacity)
		free(r->tokens);
	if (r->meta_capacity)
		free(r->meta);
	tk_record_init(r);
}

/* The stream metadata's "vocab_size" when it is a positive integer, else
 * 0 (unknown: tokens are not checked). */
static int64_t vocab_size_of(const cJSON *meta)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, "vocab_size");
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > (double)INT32_MAX + 1 ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return 0;
	return (int64_t)v->valuedouble;
}

/* Parses text (length bytes, no NUL inside) as a JSON object; NULL if it
 * is not one. */
static cJSON *parse_object(const char *text, size_t length)
{
	if (memchr(text, '\0', length))
		return NULL;
	cJSON *j = cJSON_ParseWithLength(text, length);
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

static int is_json_object(const char *text, size_t length)
{
	cJSON *j = parse_object(text, length);
	cJSON_Delete(j);
	return j != NULL;
}

/* Index of the first token outside 0..vocab-1, or n when all are in. */
static size_t first_bad_token(const int32_t *tokens, size_t n, int64_t vocab)
{
	for (size_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (vocab > 0 && tokens[i] >= vocab))
			return i;
	return n;
}

/* ---- writer ------------------------------------------------------------- */

struct tk_tks_writer {
	tk_zwriter *z;
	char *path;
	int64_t vocab_size;        /* 0: unknown */
	uint64_t count;            /* records written */
	int error;                 /* sticky */
};

int tk_tks_writer_open(tk_tks_writer **out, const char *path,
		       const char *meta_json, int threads)
{
	return tk_tks_writer_open_level(out, path, meta_json, threads, TK_TKS_LEVEL);
}

static int write_header(tk_tks_writer *w, const char *meta, size_t meta_len)
{
	unsigned char h[HEADER_SIZE];
	memcpy(h, TKS_MAGIC, 8);
	tk_put_u32(h + 8, TK_TKS_VERSION);
	tk_put_u32(h + 12, 0);
	tk_put_u32(h + 16, (uint32_t)meta_len);
	int rc = tk_zwriter_write(w->z, h, sizeof h);
	if (rc == TK_OK)
		rc = tk_zwriter_write(w->z, meta, meta_len);
	return rc;
}

int tk_tks_writer_open_level(tk_tks_writer **out, const char *path,
			     const char *meta_json, int threads, int level)
{
	*out = NULL;
	const char *meta = meta_json ? meta_json : "{}";
	size_t meta_len = strlen(meta);
	if (meta_len > TK_TKS_MAX_META)
		return tk_fail(TK_EUSAGE, "%s: stream metadata is %zu bytes, more than the %zu allowed",
			       path, meta_len, TK_TKS_MAX_META);
	cJSON *j = parse_object(meta, meta_len);
	if (!j)
		return tk_fail(TK_EUSAGE, "%s: stream metadata is not a JSON object: %.60s",
			       path, meta);
	tk_tks_writer *w = tk_calloc(1, sizeof *w);
	if (!w || !(w->path = tk_strdup(path))) {
		cJSON_Delete(j);
		free(w);
		return TK_EOSERR;
	}
	w->vocab_size = vocab_size_of(j);
	cJSON_Delete(j);
	int rc = tk_zwriter_open(&w->z, path, level, threads);
	if (rc == TK_OK)
		rc = write_header(w, meta, meta_len);
	if (rc != TK_OK) {
		tk_tks_writer_abort(w);
		return rc;
	}
	*out = w;
	return TK_OK;
}

/* Writes n 4-byte elements little-endian. */
static int write_array4(tk_tks_writer *w, const void *data, size_t n)
{
	if (tk_host_is_little_endian())
		return tk_zwriter_write(w->z, data, n * 4);
	unsigned char chunk[4096];
	const unsigned char *p = data;
	for (size_t done = 0; done < n;) {
		size_t k = n - done < sizeof chunk / 4 ? n - done : sizeof chunk / 4;
		memcpy(chunk, p + 4 * done, 4 * k);
		tk_swap_elements(chunk, k * 4, 4);
		int rc = tk_zwriter_write(w->z, chunk, 4 * k);
		if (rc != TK_OK)
			return rc;
		done += k;
	}
	return TK_OK;
}

static int check_record(const tk_tks_writer *w, const tk_record *r, size_t meta_len)
{
	uint64_t at = w->count;
	if (r->n > TK_TKS_MAX_TOKENS)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " has %zu tokens, more than the %zu allowed",
			       w->path, at, r->n, TK_TKS_MAX_TOKENS);
	if (r->n > 0 && (!r->tokens || !r->weights))
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " has %zu tokens but no token or weight array",
			       w->path, at, r->n);
	if (r->pair_role < TK_PAIR_NONE || r->pair_role > TK_PAIR_REJECTED)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " has pair role %d (0 none, 1 chosen, 2 rejected)",
			       w->path, at, (int)r->pair_role);
	if (r->meta && meta_len > TK_TKS_MAX_RECORD_META)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " meta is %zu bytes, more than the %zu allowed",
			       w->path, at, meta_len, TK_TKS_MAX_RECORD_META);
	if (r->meta && !is_json_object(r->meta, meta_len))
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " meta is not a JSON object: %.60s",
			       w->path, at, r->meta);
	size_t bad = r->n ? first_bad_token(r->tokens, r->n, w->vocab_size) : 0;
	if (bad < r->n)
		return tk_fail(TK_EUSAGE, "%s: record %" PRIu64 " token %zu is %d, outside the vocabulary 0..%" PRId64,
			       w->path, at, bad, (int)r->tokens[bad],
			       w->vocab_size > 0 ? w->vocab_size - 1 : (int64_t)INT32_MAX);
	return TK_OK;
}

static void encode_fixed(unsigned char *p, const tk_record *r, size_t meta_len)
{
	uint32_t flags = (r->logprobs ? HAS_LOGPROBS : 0) | (r->advantages ? HAS_ADVANTAGES : 0) |
			 (r->has_reward ? HAS_REWARD : 0) | (r->meta ? HAS_META : 0);
	double reward = r->has_reward ? r->reward : 0.0;
	uint64_t reward_bits;
	memcpy(&reward_bits, &reward, 8);
	memcpy(p, TAG_RECORD, 4);
	tk_put_u32(p + 4, flags);
	tk_put_u64(p + 8, r->n);
	tk_put_u64(p + 16, (uint64_t)r->group);
	tk_put_u32(p + 24, (uint32_t)r->pair_role);
	tk_put_u32(p + 28, (uint32_t)meta_len);
	tk_put_u64(p + 32, reward_bits);
}

int tk_tks_write(tk_tks_writer *w, const tk_record *r)
{
	if (w->error)
		return w->error;
	size_t meta_len = r->meta ? strlen(r->meta) : 0;
	int rc = check_record(w, r, meta_len);
	if (rc != TK_OK)
		return rc; /* the caller's mistake: the stream is still good */
	unsigned char fixed[RECORD_FIXED];
	encode_fixed(fixed, r, meta_len);
	rc = tk_zwriter_write(w->z, fixed, sizeof fixed);
	if (rc == TK_OK)
		rc = write_array4(w, r->tokens, r->n);
	if (rc == TK_OK)
		rc = write_array4(w, r->weights, r->n);
	if (rc == TK_OK && r->logprobs)
		rc = write_array4(w, r->logprobs, r->n);
	if (rc == TK_OK && r->advantages)
		rc = write_array4(w, r->advantages, r->n);
	if (rc == TK_OK && r->meta)
		rc = tk_zwriter_write(w->z, r->meta, meta_len);
	if (rc != TK_OK)
		return w->error = rc;
	w->count++;
	return TK_OK;
}

int tk_tks_writer_close(tk_tks_writer *w)
{
	int rc = w->error;
	if (rc == TK_OK) {
		unsigned char t[TRAILER_SIZE];
		memcpy(t, TAG_TRAILER, 4);
		tk_put_u32(t + 4, 0);
		tk_put_u64(t + 8, w->count);
		rc = tk_zwriter_write(w->z, t, sizeof t);
	}
	if (rc == TK_OK)
		rc = tk_zwriter_close(w->z);
	else
		tk_zwriter_abort(w->z);
	free(w->path);
	free(w);
	return rc;
}

void tk_tks_writer_abort(tk_tks_writer *w)
{
	if (!w)
		return;
	tk_zwriter_abort(w->z);
	free(w->path);
	free(w);
}

/* ---- reader ------------------------------------------------------------- */

struct tk_tks_reader {
	tk_zreader *z;
	const char *path;          /* the zreader's display name */
	char *meta;                /* first part's metadata text */
	cJSON *tokenizer;          /* the first "tokenizer" value seen, or NULL */
	unsigned tokenizer_part;   /* the part it came from */
	int64_t vocab_size;        /* this part's; 0 unknown */
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
	unsigned char h[HEADER_SIZE];
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
	if (version != TK_TKS_VERSION)
		return tk_fail(TK_EDATA, "%s: part %u has format version %" PRIu32 "; this tk reads version %d (a newer tk wrote it?)",
			       r->path, r->part, version, TK_TKS_VERSION);
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
	cJSON *meta = rc == TK_OK ? parse_object(text, meta_len) : NULL;
	if (rc == TK_OK && !meta)
		rc = tk_fail(TK_EDATA, "%s: part %u metadata is not a JSON object: %.60s",
			     r->path, r->part, text);
	if (rc == TK_OK)
		rc = check_tokenizer(r, meta);
	if (rc == TK_OK) {
		r->vocab_size = vocab_size_of(meta);
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
	if (!is_json_object(rec->meta, meta_len))
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " meta is not a JSON object: %.60s",
			       r->path, r->count, rec->meta);
	return TK_OK;
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
	if (*flags & ~(uint32_t)KNOWN_FLAGS)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has unknown flags 0x%" PRIx32 " (corrupt, or a newer tk wrote it?)",
			       r->path, r->count, *flags);
	if (n > TK_TKS_MAX_TOKENS)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " claims %" PRIu64 " tokens, more than the %zu allowed (corrupt length?)",
			       r->path, r->count, n, TK_TKS_MAX_TOKENS);
	if (role > TK_PAIR_REJECTED)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has pair role %" PRIu32 " (0 none, 1 chosen, 2 rejected)",
			       r->path, r->count, role);
	if (!(*flags & HAS_META) && *meta_len != 0)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has a meta length but no meta flag (corrupt?)",
			       r->path, r->count);
	if (*meta_len > TK_TKS_MAX_RECORD_META)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " meta length %zu exceeds the %zu-byte limit (corrupt length?)",
			       r->path, r->count, *meta_len, TK_TKS_MAX_RECORD_META);
	rec->n = (size_t)n;
	rec->group = (int64_t)tk_get_u64(p + 16);
	rec->pair_role = (int32_t)role;
	rec->has_reward = (*flags & HAS_REWARD) != 0;
	memcpy(&rec->reward, &reward_bits, 8);
	if (!rec->has_reward)
		rec->reward = 0;
	return TK_OK;
}

/* Reads a record's fields after its tag into rec. */
static int read_record(tk_tks_reader *r, tk_record *rec)
{
	unsigned char p[RECORD_FIXED];
	int rc = read_field(r, p + 4, RECORD_FIXED - 4, "the fields of a record");
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
	if (rc == TK_OK && (flags & HAS_LOGPROBS))
		rc = read_array4(r, lp, rec->n, "the logprobs of a record");
	if (rc == TK_OK && (flags & HAS_ADVANTAGES))
		rc = read_array4(r, adv, rec->n, "the advantages of a record");
	rec->logprobs = flags & HAS_LOGPROBS ? lp : NULL;
	rec->advantages = flags & HAS_ADVANTAGES ? adv : NULL;
	if (rc == TK_OK && (flags & HAS_META)) {
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
	size_t bad = first_bad_token(rec->tokens, rec->n, r->vocab_size);
	if (bad < rec->n)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " token %zu is %d, outside the vocabulary 0..%" PRId64,
			       r->path, r->count, bad, (int)rec->tokens[bad],
			       r->vocab_size > 0 ? r->vocab_size - 1 : (int64_t)INT32_MAX);
	return TK_OK;
}

/* After a part's trailer tag: checks the record count it declares. */
static int end_part(tk_tks_reader *r)
{
	unsigned char t[TRAILER_SIZE];
	int rc = read_field(r, t + 4, TRAILER_SIZE - 4, "the trailer");
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
		if (memcmp(tag, TAG_RECORD, 4) == 0) {
			rc = read_record(r, rec);
			if (rc == TK_OK) {
				r->count++;
				r->part_count++;
			}
			return rc;
		}
		if (memcmp(tag, TAG_TRAILER, 4) != 0)
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
