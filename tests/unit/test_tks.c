/* Token streams: round trips (random, empty, 1M-token and 100k small
 * records), concatenation, and rejection of every kind of bad input with
 * a message that says what is wrong. */
#include "tk_error.h"
#include "tk_io.h"
#include "tk_tks.h"
#include "tkt.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

static const char *scratch(const char *name)
{
	static char paths[4][4096];
	static int next;
	char *p = paths[next++ % 4];
	snprintf(p, 4096, "%s/tks-%s", tkt_tmpdir(), name);
	return p;
}

/* ---- building and comparing records ---------------------------------- */

/* A record the test owns (all arrays malloc'd). */
static void random_record(tk_record *r, size_t n, int options)
{
	tk_record_init(r);
	r->n = n;
	r->tokens = malloc((n ? n : 1) * sizeof *r->tokens);
	r->weights = malloc((n ? n : 1) * sizeof *r->weights);
	for (size_t i = 0; i < n; i++) {
		r->tokens[i] = (int32_t)(tkt_rand64() % 50000);
		r->weights[i] = (float)(tkt_rand64() % 3) * 0.5f;
	}
	if (options & 1) {
		r->logprobs = malloc((n ? n : 1) * sizeof(float));
		for (size_t i = 0; i < n; i++)
			r->logprobs[i] = (float)-tkt_uniform() * 10;
	}
	if (options & 2) {
		r->advantages = malloc((n ? n : 1) * sizeof(float));
		for (size_t i = 0; i < n; i++)
			r->advantages[i] = (float)(tkt_uniform() - 0.5);
	}
	if (options & 4) {
		r->has_reward = 1;
		r->reward = tkt_uniform() * 2 - 1;
	}
	if (options & 8) {
		r->meta = malloc(64);
		snprintf(r->meta, 64, "{\"id\": %llu, \"s\": \"x\\u00e9\"}", tkt_rand64() % 1000);
	}
	r->group = options & 16 ? (int64_t)(tkt_rand64() % 1000) : -1;
	r->pair_role = (int32_t)(options >> 5) % 3;
}

static void free_own_record(tk_record *r)
{
	free(r->tokens);
	free(r->weights);
	free(r->logprobs);
	free(r->advantages);
	free(r->meta);
}

static int arrays_equal(const float *a, const float *b, size_t n)
{
	if (!a || !b)
		return a == b;
	return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

static int records_equal(const tk_record *a, const tk_record *b)
{
	if (a->n != b->n || a->group != b->group || a->pair_role != b->pair_role ||
	    a->has_reward != b->has_reward || (a->has_reward && a->reward != b->reward))
		return 0;
	if (a->n && (memcmp(a->tokens, b->tokens, a->n * 4) || memcmp(a->weights, b->weights, a->n * 4)))
		return 0;
	if (!arrays_equal(a->logprobs, b->logprobs, a->n) ||
	    !arrays_equal(a->advantages, b->advantages, a->n))
		return 0;
	if (!a->meta || !b->meta)
		return a->meta == b->meta;
	return strcmp(a->meta, b->meta) == 0;
}

static int write_stream(const char *path, const char *meta, const tk_record *recs,
			size_t count, int threads)
{
	tk_tks_writer *w;
	int rc = tk_tks_writer_open(&w, path, meta, threads);
	if (rc != TK_OK)
		return rc;
	for (size_t i = 0; i < count; i++) {
		rc = tk_tks_write(w, &recs[i]);
		if (rc != TK_OK) {
			tk_tks_writer_abort(w);
			return rc;
		}
	}
	return tk_tks_writer_close(w);
}

/* Reads path whole; returns the final status (TK_END when all is well),
 * checking the records against want[0..nwant) as they come.  *nread:
 * records read. */
static int read_stream(const char *path, const tk_record *want, size_t nwant, size_t *nread)
{
	tk_tks_reader *r;
	*nread = 0;
	int rc = tk_tks_reader_open(&r, path);
	if (rc != TK_OK)
		return rc;
	tk_record rec;
	tk_record_init(&rec);
	int mismatches = 0;
	while ((rc = tk_tks_read(r, &rec)) == TK_OK) {
		if (want && (*nread >= nwant || !records_equal(&rec, &want[*nread])))
			if (mismatches++ < 3)
				TKT_CHECK(0, "%s: record %zu differs", path, *nread);
		++*nread;
	}
	TKT_CHECK(rc != TK_END || tk_tks_reader_count(r) == *nread, "count %llu",
		  (unsigned long long)tk_tks_reader_count(r));
	tk_record_free(&rec);
	tk_tks_reader_close(r);
	return rc;
}

/* ---- raw bytes ------------------------------------------------------- */

typedef struct {
	unsigned char *p;
	size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = 2 * (b->n + n) + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

static void put32(buf *b, uint32_t v)
{
	unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 24)};
	put(b, x, 4);
}

static void put64(buf *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b, (uint32_t)(v >> 32));
}

static void put_header(buf *b, uint32_t version, const char *meta)
{
	put(b, "\x89TKS\r\n\x1a\n", 8);
	put32(b, version);
	put32(b, 0);
	put32(b, (uint32_t)strlen(meta));
	put(b, meta, strlen(meta));
}

/* A record's fixed fields for n tokens, no options. */
static void put_record_head(buf *b, uint64_t n, uint32_t flags, uint32_t meta_len)
{
	put(b, "TKSR", 4);
	put32(b, flags);
	put64(b, n);
	put64(b, (uint64_t)-1);
	put32(b, 0);
	put32(b, meta_len);
	put64(b, 0);
}

static void put_trailer(buf *b, uint64_t count)
{
	put(b, "TKSE", 4);
	put32(b, 0);
	put64(b, count);
}

/* Compresses raw bytes into path as one complete zstd frame. */
static void spit(const char *path, const void *data, size_t size);

static void compress_to(const char *path, const void *raw, size_t n)
{
	/* straight through libzstd and stdio: thousands of these would
	 * otherwise spend the test's time in the atomic writer's fsync */
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n);
	void *out = malloc(cap);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	size_t z = ZSTD_compress2(c, out, cap, raw, n);
	TKT_CHECK(!ZSTD_isError(z), "compress_to: %s", ZSTD_getErrorName(z));
	spit(path, out, ZSTD_isError(z) ? 0 : z);
	free(out);
	ZSTD_freeCCtx(c);
}

static unsigned char *decode_file(const char *path, size_t *n)
{
	tk_zreader *r;
	unsigned char *p = malloc(1 << 20);
	*n = 0;
	if (tk_zreader_open(&r, path) == TK_OK) {
		tk_zreader_read(r, p, 1 << 20, n);
		tk_zreader_close(r);
	}
	return p;
}

static unsigned char *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	*size = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
	*size = fread(p, 1, (size_t)n, f);
	fclose(f);
	return p;
}

static void spit(const char *path, const void *data, size_t size)
{
	/* a new file, not a truncated one: ext4 flushes a file truncated
	 * and rewritten at close (auto_da_alloc), which made the loops that
	 * write thousands of cut files crawl */
	unlink(path);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(data, 1, size, f);
		fclose(f);
	}
}

/* Reads path expecting failure with code and a message containing want
 * (and the file's name). */
static void expect_error(const char *path, int code, const char *want, const char *what)
{
	size_t n;
	int rc = read_stream(path, NULL, 0, &n);
	const char *msg = tk_error_message();
	TKT_CHECK(rc == code && strstr(msg, want) && strstr(msg, "tks-"),
		  "%s: rc %d, message \"%s\", wanted %d \"%s\"", what, rc, msg, code, want);
}

/* ---- tests ------------------------------------------------------------ */

#define META "{\"tokenizer\": \"sha256:abc\", \"vocab_size\": 50000, \"renderer\": \"llama3\"}"

static void test_roundtrip_random(void)
{
	size_t count = 600;
	tk_record *recs = calloc(count, sizeof *recs);
	for (size_t i = 0; i < count; i++)
		random_record(&recs[i], i % 7 == 0 ? 0 : tkt_rand64() % 400, (int)(tkt_rand64() % 96));
	for (int threads = 1; threads <= 2; threads++) {
		const char *path = scratch("random.tks");
		int rc = write_stream(path, META, recs, count, threads);
		TKT_CHECK(rc == TK_OK, "write: %s", tk_error_message());
		size_t n;
		rc = read_stream(path, recs, count, &n);
		TKT_CHECK(rc == TK_END && n == count, "threads %d: rc %d, %zu records: %s",
			  threads, rc, n, tk_error_message());
		tk_tks_reader *r;
		TKT_CHECK(tk_tks_reader_open(&r, path) == TK_OK, "%s", tk_error_message());
		TKT_CHECK(strcmp(tk_tks_reader_meta(r), META) == 0, "meta %s", tk_tks_reader_meta(r));
		TKT_CHECK(tk_tks_reader_parts(r) == 1, "parts");
		tk_tks_reader_close(r);
	}
	for (size_t i = 0; i < count; i++)
		free_own_record(&recs[i]);
	free(recs);
}

static void test_empty_stream_and_records(void)
{
	size_t n;
	TKT_CHECK(write_stream(scratch("none.tks"), NULL, NULL, 0, 1) == TK_OK, "%s", tk_error_message());
	int rc = read_stream(scratch("none.tks"), NULL, 0, &n);
	TKT_CHECK(rc == TK_END && n == 0, "rc %d n %zu: %s", rc, n, tk_error_message());
	tk_record recs[3];
	for (int i = 0; i < 3; i++)
		random_record(&recs[i], 0, i == 1 ? 31 : 0);
	TKT_CHECK(write_stream(scratch("empties.tks"), "{}", recs, 3, 1) == TK_OK, "%s", tk_error_message());
	rc = read_stream(scratch("empties.tks"), recs, 3, &n);
	TKT_CHECK(rc == TK_END && n == 3, "rc %d n %zu: %s", rc, n, tk_error_message());
	for (int i = 0; i < 3; i++)
		free_own_record(&recs[i]);
}

static void test_million_token_record(void)
{
	tk_record recs[3];
	random_record(&recs[0], 5, 0);
	random_record(&recs[1], (size_t)1 << 20, 1 | 2 | 8);
	random_record(&recs[2], 3, 1);
	const char *path = scratch("big.tks");
	int rc = write_stream(path, META, recs, 3, 2);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	size_t n;
	rc = read_stream(path, recs, 3, &n);
	TKT_CHECK(rc == TK_END && n == 3, "rc %d n %zu: %s", rc, n, tk_error_message());
	for (int i = 0; i < 3; i++)
		free_own_record(&recs[i]);
}

static void test_many_small_records(void)
{
	size_t count = 100000;
	tk_record *recs = calloc(count, sizeof *recs);
	for (size_t i = 0; i < count; i++)
		random_record(&recs[i], 1 + tkt_rand64() % 8, i % 5 == 0 ? 4 | 16 : 0);
	const char *path = scratch("small.tks");
	int rc = write_stream(path, META, recs, count, 1);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	size_t n;
	rc = read_stream(path, recs, count, &n);
	TKT_CHECK(rc == TK_END && n == count, "rc %d n %zu: %s", rc, n, tk_error_message());
	for (size_t i = 0; i < count; i++)
		free_own_record(&recs[i]);
	free(recs);
}

static void cat_files(const char *out, const char *const *in, int n)
{
	buf b = {0};
	for (int i = 0; i < n; i++) {
		size_t size;
		unsigned char *p = slurp(in[i], &size);
		put(&b, p, size);
		free(p);
	}
	spit(out, b.p, b.n);
	free(b.p);
}

static void test_concatenated_streams(void)
{
	tk_record recs[6];
	for (int i = 0; i < 6; i++)
		random_record(&recs[i], 10 + (size_t)i, i);
	char a[4096], b[4096], c[4096], d[4096];
	snprintf(a, sizeof a, "%s", scratch("a.tks"));
	snprintf(b, sizeof b, "%s", scratch("b.tks"));
	snprintf(c, sizeof c, "%s", scratch("c.tks"));
	snprintf(d, sizeof d, "%s", scratch("d.tks"));
	TKT_CHECK(write_stream(a, "{\"tokenizer\": \"tokA\"}", recs, 3, 1) == TK_OK, "a");
	TKT_CHECK(write_stream(b, "{\"tokenizer\": \"tokA\", \"source\": \"b\"}", recs + 3, 2, 2) == TK_OK, "b");
	TKT_CHECK(write_stream(c, "{}", recs + 5, 1, 1) == TK_OK, "c: %s", tk_error_message());
	TKT_CHECK(write_stream(d, "{\"tokenizer\": \"tokB\"}", recs, 1, 1) == TK_OK, "d");

	const char *parts[] = {a, b, c, a};
	cat_files(scratch("abca.tks"), parts, 4);
	tk_record want[9];
	memcpy(want, recs, 6 * sizeof *recs);
	memcpy(want + 6, recs, 3 * sizeof *recs);
	size_t n;
	int rc = read_stream(scratch("abca.tks"), want, 9, &n);
	TKT_CHECK(rc == TK_END && n == 9, "rc %d n %zu: %s", rc, n, tk_error_message());
	tk_tks_reader *r;
	TKT_CHECK(tk_tks_reader_open(&r, scratch("abca.tks")) == TK_OK, "%s", tk_error_message());
	tk_record rec;
	tk_record_init(&rec);
	while (tk_tks_read(r, &rec) == TK_OK)
		;
	TKT_CHECK(tk_tks_reader_parts(r) == 4, "parts %u", tk_tks_reader_parts(r));
	TKT_CHECK(strcmp(tk_tks_reader_meta(r), "{\"tokenizer\": \"tokA\"}") == 0, "first meta");
	tk_record_free(&rec);
	tk_tks_reader_close(r);

	/* a different tokenizer: the records before it read, then an error
	 * naming both fingerprints */
	const char *mixed[] = {a, c, d};
	cat_files(scratch("acd.tks"), mixed, 3);
	tk_record before_d[4] = {recs[0], recs[1], recs[2], recs[5]};
	rc = read_stream(scratch("acd.tks"), before_d, 4, &n);
	const char *msg = tk_error_message();
	TKT_CHECK(rc == TK_EDATA && n == 4 && strstr(msg, "tokA") && strstr(msg, "tokB") &&
		  strstr(msg, "part 3") && strstr(msg, "part 1") && strstr(msg, "tokenizer"),
		  "rc %d n %zu: %s", rc, n, msg);

	/* a later part cut short: the earlier parts read, then "truncated" */
	size_t bsize;
	unsigned char *bz = slurp(b, &bsize);
	spit(scratch("bcut.tks"), bz, bsize / 2);
	free(bz);
	const char *cut[] = {a, scratch("bcut.tks")};
	cat_files(scratch("abcut.tks"), cut, 2);
	rc = read_stream(scratch("abcut.tks"), recs, 3, &n);
	TKT_CHECK(rc == TK_EDATA && n == 3 && strstr(tk_error_message(), "truncated"),
		  "rc %d n %zu: %s", rc, n, tk_error_message());
	for (int i = 0; i < 6; i++)
		free_own_record(&recs[i]);
}

/* A small stream of a few records; its compressed bytes in *size. */
static unsigned char *small_stream(const char *path, size_t *size, tk_record *recs, int count)
{
	for (int i = 0; i < count; i++)
		random_record(&recs[i], (size_t)(i * 3), i * 9);
	TKT_CHECK(write_stream(path, META, recs, (size_t)count, 1) == TK_OK, "%s", tk_error_message());
	return slurp(path, size);
}

static void test_wrong_magic_and_version(void)
{
	spit(scratch("text.tks"), "hello\n", 6);
	expect_error(scratch("text.tks"), TK_EDATA, "not zstd", "plain text");
	compress_to(scratch("zhello.tks"), "hello, world, this is not a stream", 34);
	expect_error(scratch("zhello.tks"), TK_EDATA, "magic", "zstd of text");
	buf b = {0};
	put_header(&b, 3, "{}");
	put_trailer(&b, 0);
	compress_to(scratch("v3.tks"), b.p, b.n);
	expect_error(scratch("v3.tks"), TK_EDATA, "version 3", "version 3");
	b.n = 0;
	put_header(&b, 1, "[1, 2]");
	put_trailer(&b, 0);
	compress_to(scratch("meta-array.tks"), b.p, b.n);
	expect_error(scratch("meta-array.tks"), TK_EDATA, "not a JSON object", "meta array");
	/* a .tkc checkpoint is not a token stream */
	b.n = 0;
	put(&b, "\x89TKC\r\n\x1a\n\1\0\0\0\0\0\0\0\2\0\0\0{}", 22);
	compress_to(scratch("ckpt.tks"), b.p, b.n);
	expect_error(scratch("ckpt.tks"), TK_EDATA, "a .tkc checkpoint, not a token stream", "tkc");
	free(b.p);
}

static void test_truncated_at_every_byte(void)
{
	tk_record recs[5];
	size_t size;
	unsigned char *z = small_stream(scratch("whole.tks"), &size, recs, 5);
	size_t n;
	TKT_CHECK(read_stream(scratch("whole.tks"), recs, 5, &n) == TK_END && n == 5,
		  "whole: %s", tk_error_message());
	int bad = 0;
	for (size_t cut = 0; cut < size; cut++) {
		spit(scratch("cut.tks"), z, cut);
		int rc = read_stream(scratch("cut.tks"), recs, 5, &n);
		if ((rc != TK_EDATA || !strstr(tk_error_message(), "truncated")) && bad++ < 3)
			TKT_CHECK(0, "cut at %zu of %zu: rc %d: %s", cut, size, rc, tk_error_message());
	}
	TKT_CHECK(bad == 0, "%d of %zu cuts not reported as truncated", bad, size);
	free(z);
	for (int i = 0; i < 5; i++)
		free_own_record(&recs[i]);
}

/* The stream's content cut anywhere and closed as a complete, valid zstd
 * frame: only the format's own trailer can tell. */
static void test_truncated_at_frame_boundary(void)
{
	tk_record recs[5];
	size_t size, raw_size;
	free(small_stream(scratch("whole.tks"), &size, recs, 5));
	unsigned char *raw = decode_file(scratch("whole.tks"), &raw_size);
	TKT_CHECK(raw_size > 100, "decoded %zu bytes", raw_size);
	int bad = 0;
	for (size_t cut = 0; cut < raw_size; cut++) {
		compress_to(scratch("framecut.tks"), raw, cut);
		size_t n;
		int rc = read_stream(scratch("framecut.tks"), recs, 5, &n);
		if ((rc != TK_EDATA || !strstr(tk_error_message(), "truncated")) && bad++ < 3)
			TKT_CHECK(0, "content cut at %zu of %zu: rc %d: %s", cut, raw_size, rc,
				  tk_error_message());
	}
	TKT_CHECK(bad == 0, "%d of %zu cuts not reported as truncated", bad, raw_size);
	/* and as two frames, the second missing: the same */
	buf b = {0};
	size_t half;
	unsigned char *first;
	compress_to(scratch("half.tks"), raw, raw_size / 2);
	first = slurp(scratch("half.tks"), &half);
	put(&b, first, half);
	spit(scratch("half.tks"), b.p, b.n);
	expect_error(scratch("half.tks"), TK_EDATA, "truncated", "first frame only");
	free(first);
	free(b.p);
	free(raw);
	for (int i = 0; i < 5; i++)
		free_own_record(&recs[i]);
}

static void test_flipped_bytes(void)
{
	tk_record recs[5];
	size_t size;
	unsigned char *z = small_stream(scratch("flip.tks"), &size, recs, 5);
	int wrong = 0, unnoticed = 0;
	for (size_t at = 0; at < size; at++) {
		for (int bit = 0; bit < 8; bit += 7) {
			z[at] ^= (unsigned char)(1 << bit);
			spit(scratch("flipped.tks"), z, size);
			z[at] ^= (unsigned char)(1 << bit);
			size_t n;
			int before = tkt_current_failures;
			int rc = read_stream(scratch("flipped.tks"), recs, 5, &n);
			/* read_stream compares: a record that differs fails there */
			if (tkt_current_failures > before)
				wrong++;
			else if (rc == TK_END)
				unnoticed++; /* e.g. the window-size bits: same data */
			else
				TKT_CHECK(rc == TK_EDATA && tk_error_message()[0], "flip at %zu: rc %d", at, rc);
		}
	}
	TKT_CHECK(wrong == 0, "%d flips gave wrong records", wrong);
	printf("# %zu flips: %d read the same records, the rest rejected\n", 2 * size, unnoticed);
	free(z);

	/* flips of the content under a valid checksum (a buggy writer, not
	 * a bad disk): nothing protects the weights, but nothing may crash
	 * or allocate wildly, and structure errors are named */
	size_t raw_size;
	unsigned char *raw = decode_file(scratch("flip.tks"), &raw_size);
	int rejected = 0;
	for (size_t at = 0; at < raw_size; at++) {
		raw[at] ^= 0x41;
		compress_to(scratch("rawflip.tks"), raw, raw_size);
		raw[at] ^= 0x41;
		size_t n;
		int rc = read_stream(scratch("rawflip.tks"), NULL, 0, &n);
		if (rc != TK_END) {
			rejected++;
			TKT_CHECK(rc == TK_EDATA || rc == TK_EOSERR, "raw flip at %zu: rc %d: %s", at, rc,
				  tk_error_message());
		}
	}
	printf("# %zu content flips: %d rejected (the others hit token values or weights)\n",
	       raw_size, rejected);
	free(raw);
	for (int i = 0; i < 5; i++)
		free_own_record(&recs[i]);
}

/* Random edits of the content (bytes set, runs deleted or repeated),
 * recompressed with a valid checksum: the reader must answer with records
 * or TK_EDATA, never crash, hang or allocate wildly (ASan watches). */
static void test_random_mutations(void)
{
	tk_record recs[6];
	size_t size, raw_size;
	free(small_stream(scratch("mut.tks"), &size, recs, 6));
	unsigned char *raw = decode_file(scratch("mut.tks"), &raw_size);
	unsigned char *m = malloc(2 * raw_size + 64);
	int rejected = 0, iterations = 1500;
	for (int it = 0; it < iterations; it++) {
		memcpy(m, raw, raw_size);
		size_t n = raw_size;
		for (int edits = 1 + (int)(tkt_rand64() % 4); edits > 0; edits--) {
			size_t at = tkt_rand64() % n, len = 1 + tkt_rand64() % 16;
			if (at + len > n)
				len = n - at;
			switch (tkt_rand64() % 4) {
			case 0: /* a random byte */
				m[at] = (unsigned char)tkt_rand64();
				break;
			case 1: /* an extreme byte in a length field's high half */
				m[at] = tkt_rand64() & 1 ? 0xff : 0x7f;
				break;
			case 2: /* a run deleted */
				memmove(m + at, m + at + len, n - at - len);
				n -= len;
				break;
			default: /* a run repeated */
				memmove(m + at + len, m + at, n - at);
				n += len;
				break;
			}
			if (n == 0)
				break;
		}
		compress_to(scratch("mutated.tks"), m, n);
		size_t got;
		int rc = read_stream(scratch("mutated.tks"), NULL, 0, &got);
		if (rc != TK_END) {
			rejected++;
			TKT_CHECK(rc == TK_EDATA && tk_error_message()[0], "mutation %d: rc %d: %s", it, rc,
				  tk_error_message());
		}
	}
	printf("# %d random mutations: %d rejected\n", iterations, rejected);
	free(m);
	free(raw);
	for (int i = 0; i < 6; i++)
		free_own_record(&recs[i]);
}

static long max_rss_kb(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_maxrss;
}

static void test_lengths_exceed_file(void)
{
	long rss_before = max_rss_kb();
	buf b = {0};
	/* a record that claims 2^30 tokens (4 GiB) and holds 3 */
	put_header(&b, 1, "{}");
	put_record_head(&b, (uint64_t)1 << 30, 0, 0);
	put32(&b, 1);
	put32(&b, 2);
	put32(&b, 3);
	compress_to(scratch("liar.tks"), b.p, b.n);
	expect_error(scratch("liar.tks"), TK_EDATA, "truncated", "2^30 tokens");
	long grown = max_rss_kb() - rss_before;
	TKT_CHECK(grown < 64 * 1024, "reading a lying length grew the memory by %ld KiB", grown);
	/* beyond the limit: rejected before reading on */
	b.n = 0;
	put_header(&b, 1, "{}");
	put_record_head(&b, (uint64_t)1 << 40, 0, 0);
	compress_to(scratch("huge.tks"), b.p, b.n);
	expect_error(scratch("huge.tks"), TK_EDATA, "allowed", "2^40 tokens");
	/* stream metadata and record meta lengths */
	b.n = 0;
	put(&b, "\x89TKS\r\n\x1a\n\1\0\0\0\0\0\0\0\xff\xff\xff\xff{}", 22);
	compress_to(scratch("bigmeta.tks"), b.p, b.n);
	expect_error(scratch("bigmeta.tks"), TK_EDATA, "limit", "meta length 4G");
	b.n = 0;
	put_header(&b, 1, "{}");
	put_record_head(&b, 0, 8, 0x7fffffff);
	compress_to(scratch("bigrecmeta.tks"), b.p, b.n);
	expect_error(scratch("bigrecmeta.tks"), TK_EDATA, "limit", "record meta 2G");
	b.n = 0;
	put_header(&b, 1, "{}");
	put_record_head(&b, 0, 8, 1000);
	put(&b, "{}", 2);
	compress_to(scratch("shortmeta.tks"), b.p, b.n);
	expect_error(scratch("shortmeta.tks"), TK_EDATA, "truncated", "record meta short");
	free(b.p);
}

static void test_structure_errors(void)
{
	buf b = {0};
	/* trailer count disagrees */
	put_header(&b, 1, "{}");
	put_record_head(&b, 0, 0, 0);
	put_trailer(&b, 2);
	compress_to(scratch("count.tks"), b.p, b.n);
	expect_error(scratch("count.tks"), TK_EDATA, "declares 2 records but 1", "count");
	/* unknown record flags */
	b.n = 0;
	put_header(&b, 1, "{}");
	put_record_head(&b, 0, 1u << 9, 0);
	put_trailer(&b, 1);
	compress_to(scratch("flags.tks"), b.p, b.n);
	expect_error(scratch("flags.tks"), TK_EDATA, "unknown flags", "flags");
	/* a token outside the declared vocabulary */
	b.n = 0;
	put_header(&b, 1, "{\"vocab_size\": 10}");
	put_record_head(&b, 2, 0, 0);
	put32(&b, 3);
	put32(&b, 10);
	put32(&b, 0);
	put32(&b, 0);
	put_trailer(&b, 1);
	compress_to(scratch("vocab.tks"), b.p, b.n);
	expect_error(scratch("vocab.tks"), TK_EDATA, "outside the vocabulary", "vocab");
	/* garbage after a complete part */
	b.n = 0;
	put_header(&b, 1, "{}");
	put_trailer(&b, 0);
	put(&b, "garbage!garbage!garbage!", 24);
	compress_to(scratch("garbage.tks"), b.p, b.n);
	expect_error(scratch("garbage.tks"), TK_EDATA, "magic", "garbage after part");
	/* an unknown tag */
	b.n = 0;
	put_header(&b, 1, "{}");
	put(&b, "XXXXXXXXXXXXXXXX", 16);
	compress_to(scratch("tag.tks"), b.p, b.n);
	expect_error(scratch("tag.tks"), TK_EDATA, "expected a record", "tag");
	/* the error sticks: a second read repeats it, not a new confusion */
	tk_tks_reader *r;
	TKT_CHECK(tk_tks_reader_open(&r, scratch("tag.tks")) == TK_OK, "%s", tk_error_message());
	tk_record rec;
	tk_record_init(&rec);
	TKT_CHECK(tk_tks_read(r, &rec) == TK_EDATA, "first read");
	tk_error_clear();
	TKT_CHECK(tk_tks_read(r, &rec) == TK_EDATA && strstr(tk_error_message(), "expected a record"),
		  "second read: %s", tk_error_message());
	tk_record_free(&rec);
	tk_tks_reader_close(r);
	/* bad pair role, record meta that is not JSON */
	b.n = 0;
	put_header(&b, 1, "{}");
	put(&b, "TKSR", 4);
	put32(&b, 0);
	put64(&b, 0);
	put64(&b, 0);
	put32(&b, 7);
	put32(&b, 0);
	put64(&b, 0);
	put_trailer(&b, 1);
	compress_to(scratch("role.tks"), b.p, b.n);
	expect_error(scratch("role.tks"), TK_EDATA, "pair role", "role");
	b.n = 0;
	put_header(&b, 1, "{}");
	put_record_head(&b, 0, 8, 3);
	put(&b, "{x}", 3);
	put_trailer(&b, 1);
	compress_to(scratch("recmeta.tks"), b.p, b.n);
	expect_error(scratch("recmeta.tks"), TK_EDATA, "not a JSON object", "record meta");
	free(b.p);
}

static void test_writer_rejects_bad_input(void)
{
	tk_tks_writer *w;
	int rc = tk_tks_writer_open(&w, scratch("bad.tks"), "{\"a\": ", 1);
	TKT_CHECK(rc == TK_EUSAGE && strstr(tk_error_message(), "JSON"), "rc %d: %s", rc,
		  tk_error_message());
	struct stat st;
	TKT_CHECK(stat(scratch("bad.tks"), &st) != 0, "file created");
	rc = tk_tks_writer_open(&w, scratch("ok.tks"), "{\"vocab_size\": 100}", 1);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	tk_record r;
	random_record(&r, 4, 0);
	TKT_CHECK(tk_tks_write(w, &r) == TK_EUSAGE && strstr(tk_error_message(), "vocabulary"),
		  "token beyond vocab: %s", tk_error_message());
	for (int i = 0; i < 4; i++)
		r.tokens[i] = i;
	r.pair_role = 9;
	TKT_CHECK(tk_tks_write(w, &r) == TK_EUSAGE && strstr(tk_error_message(), "pair role"),
		  "role: %s", tk_error_message());
	r.pair_role = TK_PAIR_CHOSEN;
	r.meta = strdup("not json");
	TKT_CHECK(tk_tks_write(w, &r) == TK_EUSAGE && strstr(tk_error_message(), "JSON"),
		  "meta: %s", tk_error_message());
	free(r.meta);
	r.meta = strdup("{\"ok\": true}");
	/* the rejections left the stream good */
	TKT_CHECK(tk_tks_write(w, &r) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_tks_writer_close(w) == TK_OK, "%s", tk_error_message());
	size_t n;
	rc = read_stream(scratch("ok.tks"), &r, 1, &n);
	TKT_CHECK(rc == TK_END && n == 1, "rc %d: %s", rc, tk_error_message());
	free_own_record(&r);
}

static int count_temp_files(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += strstr(e->d_name, ".tmp-") != NULL;
	if (d)
		closedir(d);
	return n;
}

static void test_failing_outputs(void)
{
	tk_record r;
	random_record(&r, 100000, 0);
	if (access("/dev/full", W_OK) == 0) {
		int rc = write_stream("/dev/full", "{}", &r, 1, 1);
		TKT_CHECK(rc == TK_EIO && strstr(tk_error_message(), "/dev/full"), "rc %d: %s", rc,
			  tk_error_message());
		tk_record empty;
		tk_record_init(&empty);
		rc = write_stream("/dev/full", "{}", &empty, 1, 2);
		TKT_CHECK(rc == TK_EIO, "small: rc %d: %s", rc, tk_error_message());
	}
	const char *dir = tkt_tmpdir();
	int before = count_temp_files(dir);
	const char *folder = scratch("folder.tks");
	mkdir(folder, 0755);
	int rc = write_stream(folder, "{}", &r, 1, 1);
	struct stat st;
	TKT_CHECK(rc == TK_ECANTCREAT, "rc %d: %s", rc, tk_error_message());
	TKT_CHECK(stat(folder, &st) == 0 && S_ISDIR(st.st_mode), "folder replaced");
	TKT_CHECK(count_temp_files(dir) == before, "temporary file left behind");
	rmdir(folder);
	char missing[4096];
	snprintf(missing, sizeof missing, "%s/no-such-dir/x.tks", dir);
	rc = write_stream(missing, "{}", &r, 1, 1);
	TKT_CHECK(rc == TK_ECANTCREAT && stat(missing, &st) != 0, "rc %d: %s", rc, tk_error_message());
	/* an aborted writer leaves nothing */
	tk_tks_writer *w;
	TKT_CHECK(tk_tks_writer_open(&w, scratch("aborted.tks"), "{}", 1) == TK_OK, "open");
	tk_tks_write(w, &r);
	tk_tks_writer_abort(w);
	TKT_CHECK(stat(scratch("aborted.tks"), &st) != 0 && count_temp_files(dir) == before,
		  "aborted file left");
	free_own_record(&r);
}

static void test_stdin(void)
{
	tk_record recs[4];
	size_t size;
	free(small_stream(scratch("stdin.tks"), &size, recs, 4));
	int saved = dup(STDIN_FILENO);
	int fd = open(scratch("stdin.tks"), O_RDONLY);
	dup2(fd, STDIN_FILENO);
	close(fd);
	clearerr(stdin);
	size_t n;
	int rc = read_stream("-", recs, 4, &n);
	dup2(saved, STDIN_FILENO);
	close(saved);
	clearerr(stdin);
	TKT_CHECK(rc == TK_END && n == 4, "rc %d n %zu: %s", rc, n, tk_error_message());
	for (int i = 0; i < 4; i++)
		free_own_record(&recs[i]);
}

int main(void)
{
	TKT_RUN(test_roundtrip_random);
	TKT_RUN(test_empty_stream_and_records);
	TKT_RUN(test_million_token_record);
	TKT_RUN(test_many_small_records);
	TKT_RUN(test_concatenated_streams);
	TKT_RUN(test_wrong_magic_and_version);
	TKT_RUN(test_truncated_at_every_byte);
	TKT_RUN(test_truncated_at_frame_boundary);
	TKT_RUN(test_flipped_bytes);
	TKT_RUN(test_random_mutations);
	TKT_RUN(test_lengths_exceed_file);
	TKT_RUN(test_structure_errors);
	TKT_RUN(test_writer_rejects_bad_input);
	TKT_RUN(test_failing_outputs);
	TKT_RUN(test_stdin);
	return tkt_done();
}
