/* Checkpoints: round trips of random tensors of every dtype and rank, and
 * rejection of bad files (magic, version, truncation at every byte and at
 * every frame boundary, flipped bytes, inconsistent sizes, lying lengths). */
#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_tkc.h"
#include "tkt.h"

#include <dirent.h>
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
	snprintf(p, 4096, "%s/tkc-%s", tkt_tmpdir(), name);
	return p;
}

typedef struct {
	char name[64];
	int dtype, ndim;
	int64_t shape[TK_TENSOR_MAX_DIMS];
	size_t nbytes;
	unsigned char *data;
} tensor;

static void random_tensor(tensor *t, int i)
{
	snprintf(t->name, sizeof t->name, "layers.%d.weight", i);
	t->dtype = (int)(tkt_rand64() % TK_DTYPE_COUNT);
	t->ndim = (int)(tkt_rand64() % (TK_TENSOR_MAX_DIMS + 1));
	size_t count = 1;
	for (int d = 0; d < t->ndim; d++) {
		/* small dimensions, so that rank 8 stays small; now and then 0 */
		t->shape[d] = (int64_t)(tkt_rand64() % (t->ndim > 3 ? 3 : 20));
		count *= (size_t)t->shape[d];
	}
	t->nbytes = count * tk_dtype_size(t->dtype);
	t->data = malloc(t->nbytes ? t->nbytes : 1);
	for (size_t b = 0; b < t->nbytes; b++)
		t->data[b] = (unsigned char)tkt_rand64();
}

static int write_tensors(const char *path, const char *meta, const tensor *ts, int n, int threads)
{
	tk_tkc_writer *w;
	int rc = tk_tkc_writer_open(&w, path, meta, threads);
	if (rc != TK_OK)
		return rc;
	for (int i = 0; i < n; i++) {
		rc = tk_tkc_write_tensor(w, ts[i].name, ts[i].dtype, ts[i].ndim, ts[i].shape, ts[i].data);
		if (rc != TK_OK) {
			tk_tkc_writer_abort(w);
			return rc;
		}
	}
	return tk_tkc_writer_close(w);
}

/* 1 when c holds exactly ts[0..n) in order, with meta. */
static int same_checkpoint(const tk_tkc *c, const char *meta, const tensor *ts, int n)
{
	if (strcmp(c->meta_json, meta) != 0 || c->count != (size_t)n)
		return 0;
	for (int i = 0; i < n; i++) {
		const tk_tensor_info *t = &c->tensors[i];
		if (strcmp(t->name, ts[i].name) || t->dtype != ts[i].dtype || t->ndim != ts[i].ndim ||
		    t->nbytes != ts[i].nbytes || (t->nbytes && memcmp(t->data, ts[i].data, t->nbytes)))
			return 0;
		for (int d = 0; d < t->ndim; d++)
			if (t->shape[d] != ts[i].shape[d])
				return 0;
		if (tk_tkc_find(c, ts[i].name) != t)
			return 0;
	}
	return 1;
}

static void free_tensors(tensor *ts, int n)
{
	for (int i = 0; i < n; i++)
		free(ts[i].data);
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
	put(b, "\x89TKC\r\n\x1a\n", 8);
	put32(b, version);
	put32(b, 0);
	put32(b, (uint32_t)strlen(meta));
	put(b, meta, strlen(meta));
}

static void put_tensor_head(buf *b, const char *name, uint32_t dtype, uint32_t ndim,
			    const int64_t *shape, uint64_t nbytes)
{
	put(b, "TKCT", 4);
	put32(b, (uint32_t)strlen(name));
	put32(b, dtype);
	put32(b, ndim);
	put64(b, nbytes);
	for (uint32_t d = 0; d < ndim; d++)
		put64(b, (uint64_t)shape[d]);
	put(b, name, strlen(name));
}

static void put_trailer(buf *b, uint64_t count)
{
	put(b, "TKCE", 4);
	put32(b, 0);
	put64(b, count);
}

static void expect_error(const char *path, int code, const char *want, const char *what)
{
	tk_tkc *c = NULL;
	int rc = tk_tkc_read(&c, path);
	const char *msg = tk_error_message();
	TKT_CHECK(rc == code && !c && strstr(msg, want) && strstr(msg, "tkc-"),
		  "%s: rc %d, message \"%s\", wanted %d \"%s\"", what, rc, msg, code, want);
	tk_tkc_free(c);
}

#define META "{\"kind\": \"adapter\", \"step\": 12, \"lora\": {\"rank\": 8}}"

static void test_roundtrip_random(void)
{
	enum { N = 300 };
	tensor ts[N];
	for (int i = 0; i < N; i++)
		random_tensor(&ts[i], i);
	for (int threads = 1; threads <= 2; threads++) {
		const char *path = scratch("random.tkc");
		int rc = write_tensors(path, META, ts, N, threads);
		TKT_CHECK(rc == TK_OK, "write: %s", tk_error_message());
		tk_tkc *c;
		rc = tk_tkc_read(&c, path);
		TKT_CHECK(rc == TK_OK, "read: %s", tk_error_message());
		if (rc == TK_OK) {
			TKT_CHECK(same_checkpoint(c, META, ts, N), "threads %d: checkpoint differs", threads);
			TKT_CHECK(tk_tkc_find(c, "no.such.tensor") == NULL, "found a missing name");
			tk_tkc_free(c);
		}
		char *meta;
		rc = tk_tkc_read_meta(&meta, path);
		TKT_CHECK(rc == TK_OK && strcmp(meta, META) == 0, "read_meta: %s", tk_error_message());
		free(meta);
	}
	free_tensors(ts, N);
}

static void test_empty_and_large(void)
{
	tk_tkc *c;
	TKT_CHECK(write_tensors(scratch("empty.tkc"), NULL, NULL, 0, 1) == TK_OK, "%s", tk_error_message());
	int rc = tk_tkc_read(&c, scratch("empty.tkc"));
	TKT_CHECK(rc == TK_OK && c->count == 0 && strcmp(c->meta_json, "{}") == 0 &&
		  tk_tkc_find(c, "x") == NULL, "%s", tk_error_message());
	if (rc == TK_OK)
		tk_tkc_free(c);
	/* 96 MiB of f32: more than the reader's first chunk, so it grows */
	tensor big = {.name = "embed", .dtype = TK_F32, .ndim = 2, .shape = {6 << 10, 4096}};
	big.nbytes = (size_t)(6 << 10) * 4096 * 4;
	big.data = malloc(big.nbytes);
	float *f = (float *)big.data;
	for (size_t i = 0; i < big.nbytes / 4; i++)
		f[i] = (float)(i % 1000) * 0.25f;
	rc = write_tensors(scratch("big.tkc"), META, &big, 1, 2);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	rc = tk_tkc_read(&c, scratch("big.tkc"));
	TKT_CHECK(rc == TK_OK && same_checkpoint(c, META, &big, 1), "%s", tk_error_message());
	if (rc == TK_OK)
		tk_tkc_free(c);
	free(big.data);
}

static void test_writer_rejects(void)
{
	tk_tkc_writer *w;
	int rc = tk_tkc_writer_open(&w, scratch("bad.tkc"), "not json", 1);
	TKT_CHECK(rc == TK_EUSAGE && strstr(tk_error_message(), "JSON"), "%s", tk_error_message());
	rc = tk_tkc_writer_open(&w, scratch("ok.tkc"), "{}", 1);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	float x[4] = {1, 2, 3, 4};
	int64_t shape[9] = {2, 2, 1, 1, 1, 1, 1, 1, 1}, neg[2] = {2, -2};
	TKT_CHECK(tk_tkc_write_tensor(w, "a", TK_F32, 2, shape, x) == TK_OK, "%s", tk_error_message());
	rc = tk_tkc_write_tensor(w, "a", TK_F32, 2, shape, x);
	TKT_CHECK(rc == TK_EUSAGE && strstr(tk_error_message(), "twice"), "dup: %s", tk_error_message());
	rc = tk_tkc_write_tensor(w, "b", 17, 2, shape, x);
	TKT_CHECK(rc == TK_EUSAGE && strstr(tk_error_message(), "dtype"), "dtype: %s", tk_error_message());
	rc = tk_tkc_write_tensor(w, "b", TK_F32, 9, shape, x);
	TKT_CHECK(rc == TK_EUSAGE && strstr(tk_error_message(), "dimensions"), "ndim: %s", tk_error_message());
	rc = tk_tkc_write_tensor(w, "b", TK_F32, 2, neg, x);
	TKT_CHECK(rc == TK_EUSAGE && strstr(tk_error_message(), "negative"), "neg: %s", tk_error_message());
	rc = tk_tkc_write_tensor(w, "", TK_F32, 2, shape, x);
	TKT_CHECK(rc == TK_EUSAGE && strstr(tk_error_message(), "name"), "name: %s", tk_error_message());
	TKT_CHECK(tk_tkc_write_tensor(w, "scalar", TK_I32, 0, NULL, x) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_tkc_writer_close(w) == TK_OK, "%s", tk_error_message());
	tk_tkc *c;
	rc = tk_tkc_read(&c, scratch("ok.tkc"));
	TKT_CHECK(rc == TK_OK && c->count == 2, "%s", tk_error_message());
	if (rc == TK_OK) {
		const tk_tensor_info *s = tk_tkc_find(c, "scalar");
		TKT_CHECK(s && s->ndim == 0 && s->nbytes == 4 && memcmp(s->data, x, 4) == 0, "scalar");
		tk_tkc_free(c);
	}
}

static void small_checkpoint(const char *path, tensor *ts, int n)
{
	for (int i = 0; i < n; i++) {
		random_tensor(&ts[i], i);
		ts[i].ndim = 1;
		ts[i].shape[0] = 5 + i;
		ts[i].nbytes = (size_t)(5 + i) * tk_dtype_size(ts[i].dtype);
		ts[i].data = realloc(ts[i].data, ts[i].nbytes);
		for (size_t b = 0; b < ts[i].nbytes; b++)
			ts[i].data[b] = (unsigned char)tkt_rand64();
	}
	TKT_CHECK(write_tensors(path, META, ts, n, 1) == TK_OK, "%s", tk_error_message());
}

static void test_truncated(void)
{
	tensor ts[4];
	small_checkpoint(scratch("whole.tkc"), ts, 4);
	size_t size, raw_size;
	unsigned char *z = slurp(scratch("whole.tkc"), &size);
	int bad = 0;
	for (size_t cut = 0; cut < size; cut++) {
		spit(scratch("cut.tkc"), z, cut);
		tk_tkc *c = NULL;
		int rc = tk_tkc_read(&c, scratch("cut.tkc"));
		if ((rc != TK_EDATA || c || !strstr(tk_error_message(), "truncated")) && bad++ < 3)
			TKT_CHECK(0, "cut at %zu of %zu: rc %d: %s", cut, size, rc, tk_error_message());
		tk_tkc_free(c);
	}
	TKT_CHECK(bad == 0, "%d of %zu cuts not reported as truncated", bad, size);
	/* content cut anywhere, as a complete zstd frame */
	unsigned char *raw = decode_file(scratch("whole.tkc"), &raw_size);
	bad = 0;
	for (size_t cut = 0; cut < raw_size; cut++) {
		compress_to(scratch("framecut.tkc"), raw, cut);
		tk_tkc *c = NULL;
		int rc = tk_tkc_read(&c, scratch("framecut.tkc"));
		if ((rc != TK_EDATA || !strstr(tk_error_message(), "truncated")) && bad++ < 3)
			TKT_CHECK(0, "content cut at %zu of %zu: rc %d: %s", cut, raw_size, rc,
				  tk_error_message());
		tk_tkc_free(c);
	}
	TKT_CHECK(bad == 0, "%d of %zu content cuts not reported as truncated", bad, raw_size);
	free(raw);
	free(z);
	free_tensors(ts, 4);
}

static void test_flipped_bytes(void)
{
	tensor ts[4];
	small_checkpoint(scratch("flip.tkc"), ts, 4);
	size_t size;
	unsigned char *z = slurp(scratch("flip.tkc"), &size);
	int wrong = 0, same = 0;
	for (size_t at = 0; at < size; at++) {
		for (int bit = 0; bit < 8; bit += 4) {
			z[at] ^= (unsigned char)(1 << bit);
			spit(scratch("flipped.tkc"), z, size);
			z[at] ^= (unsigned char)(1 << bit);
			tk_tkc *c = NULL;
			int rc = tk_tkc_read(&c, scratch("flipped.tkc"));
			if (rc == TK_OK && !same_checkpoint(c, META, ts, 4)) {
				if (wrong++ < 3)
					TKT_CHECK(0, "flip of bit %d at byte %zu read wrong data", bit, at);
			} else if (rc == TK_OK) {
				same++;
			} else {
				TKT_CHECK(rc == TK_EDATA && tk_error_message()[0], "flip at %zu: rc %d", at, rc);
			}
			tk_tkc_free(c);
		}
	}
	TKT_CHECK(wrong == 0, "%d flips read wrong data", wrong);
	printf("# %zu flips: %d read the same checkpoint, the rest rejected\n", 2 * size, same);
	/* content flips under a valid checksum: never a crash */
	size_t raw_size;
	unsigned char *raw = decode_file(scratch("flip.tkc"), &raw_size);
	for (size_t at = 0; at < raw_size; at++) {
		raw[at] ^= 0x24;
		compress_to(scratch("rawflip.tkc"), raw, raw_size);
		raw[at] ^= 0x24;
		tk_tkc *c = NULL;
		int rc = tk_tkc_read(&c, scratch("rawflip.tkc"));
		TKT_CHECK(rc == TK_OK || rc == TK_EDATA, "raw flip at %zu: rc %d: %s", at, rc,
			  tk_error_message());
		tk_tkc_free(c);
	}
	free(raw);
	free(z);
	free_tensors(ts, 4);
}

/* Random edits of the content under a valid checksum: a checkpoint or
 * TK_EDATA, never a crash or a wild allocation. */
static void test_random_mutations(void)
{
	tensor ts[4];
	small_checkpoint(scratch("mut.tkc"), ts, 4);
	size_t raw_size;
	unsigned char *raw = decode_file(scratch("mut.tkc"), &raw_size);
	unsigned char *m = malloc(2 * raw_size + 64);
	int rejected = 0, iterations = 800;
	for (int it = 0; it < iterations; it++) {
		memcpy(m, raw, raw_size);
		size_t n = raw_size;
		for (int edits = 1 + (int)(tkt_rand64() % 3); edits > 0 && n > 0; edits--) {
			size_t at = tkt_rand64() % n, len = 1 + tkt_rand64() % 12;
			if (at + len > n)
				len = n - at;
			switch (tkt_rand64() % 3) {
			case 0:
				m[at] = (unsigned char)tkt_rand64();
				break;
			case 1:
				memmove(m + at, m + at + len, n - at - len);
				n -= len;
				break;
			default:
				memmove(m + at + len, m + at, n - at);
				n += len;
				break;
			}
		}
		compress_to(scratch("mutated.tkc"), m, n);
		tk_tkc *c = NULL;
		int rc = tk_tkc_read(&c, scratch("mutated.tkc"));
		if (rc != TK_OK) {
			rejected++;
			TKT_CHECK(rc == TK_EDATA && !c, "mutation %d: rc %d: %s", it, rc, tk_error_message());
		}
		tk_tkc_free(c);
	}
	printf("# %d random mutations: %d rejected\n", iterations, rejected);
	free(m);
	free(raw);
	free_tensors(ts, 4);
}

static long max_rss_kb(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_maxrss;
}

static void test_bad_files(void)
{
	spit(scratch("text.tkc"), "{\"not\": \"a checkpoint\"}", 23);
	expect_error(scratch("text.tkc"), TK_EDATA, "not zstd", "text");
	buf b = {0};
	put(&b, "\x89TKS\r\n\x1a\n\1\0\0\0\0\0\0\0\2\0\0\0{}", 22);
	compress_to(scratch("stream.tkc"), b.p, b.n);
	expect_error(scratch("stream.tkc"), TK_EDATA, "a .tks token stream, not a checkpoint", "a .tks");
	b.n = 0;
	put_header(&b, 3, "{}");
	put_trailer(&b, 0);
	compress_to(scratch("v3.tkc"), b.p, b.n);
	expect_error(scratch("v3.tkc"), TK_EDATA, "version 3", "version");

	int64_t shape[2] = {3, 4};
	/* nbytes disagrees with shape * dtype size */
	b.n = 0;
	put_header(&b, 1, "{}");
	put_tensor_head(&b, "w", TK_F16, 2, shape, 48);
	for (int i = 0; i < 48; i++)
		put(&b, "x", 1);
	put_trailer(&b, 1);
	compress_to(scratch("nbytes.tkc"), b.p, b.n);
	expect_error(scratch("nbytes.tkc"), TK_EDATA, "needs 24", "nbytes");
	b.n = 0;
	put_header(&b, 1, "{}");
	put_tensor_head(&b, "w", 9, 2, shape, 48);
	compress_to(scratch("dtype.tkc"), b.p, b.n);
	expect_error(scratch("dtype.tkc"), TK_EDATA, "dtype", "dtype");
	b.n = 0;
	put_header(&b, 1, "{}");
	int64_t shape9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 12};
	put_tensor_head(&b, "w", TK_F32, 9, shape9, 48);
	compress_to(scratch("ndim.tkc"), b.p, b.n);
	expect_error(scratch("ndim.tkc"), TK_EDATA, "dimensions", "ndim");
	int64_t neg[2] = {-3, -4};
	b.n = 0;
	put_header(&b, 1, "{}");
	put_tensor_head(&b, "w", TK_F32, 2, neg, 48);
	compress_to(scratch("neg.tkc"), b.p, b.n);
	expect_error(scratch("neg.tkc"), TK_EDATA, "negative", "negative shape");
	/* duplicate names */
	b.n = 0;
	put_header(&b, 1, "{}");
	for (int k = 0; k < 2; k++) {
		put_tensor_head(&b, "w", TK_I32, 1, shape, 12);
		put(&b, "abcdefghijkl", 12);
	}
	put_trailer(&b, 2);
	compress_to(scratch("dup.tkc"), b.p, b.n);
	expect_error(scratch("dup.tkc"), TK_EDATA, "twice", "duplicate");
	/* trailer count, data after the trailer */
	b.n = 0;
	put_header(&b, 1, "{}");
	put_trailer(&b, 5);
	compress_to(scratch("count.tkc"), b.p, b.n);
	expect_error(scratch("count.tkc"), TK_EDATA, "declares 5", "count");
	b.n = 0;
	put_header(&b, 1, "{}");
	put_trailer(&b, 0);
	put(&b, "more", 4);
	compress_to(scratch("after.tkc"), b.p, b.n);
	expect_error(scratch("after.tkc"), TK_EDATA, "after the end", "after trailer");
	b.n = 0;
	put_header(&b, 1, "{\"a\": }");
	put_trailer(&b, 0);
	compress_to(scratch("meta.tkc"), b.p, b.n);
	expect_error(scratch("meta.tkc"), TK_EDATA, "JSON", "meta");

	/* lengths beyond the file: a 16 GiB tensor that holds 100 bytes */
	long rss = max_rss_kb();
	int64_t huge[2] = {1 << 16, 1 << 16};
	b.n = 0;
	put_header(&b, 1, "{}");
	put_tensor_head(&b, "w", TK_F32, 2, huge, (uint64_t)1 << 34);
	for (int i = 0; i < 100; i++)
		put(&b, "z", 1);
	compress_to(scratch("liar.tkc"), b.p, b.n);
	expect_error(scratch("liar.tkc"), TK_EDATA, "truncated", "16 GiB tensor");
	long grown = max_rss_kb() - rss;
	TKT_CHECK(grown < 100 * 1024, "a lying length grew the memory by %ld KiB", grown);
	int64_t beyond[3] = {1 << 20, 1 << 20, 1 << 20};
	b.n = 0;
	put_header(&b, 1, "{}");
	put_tensor_head(&b, "w", TK_F32, 3, beyond, (uint64_t)1 << 62);
	compress_to(scratch("beyond.tkc"), b.p, b.n);
	expect_error(scratch("beyond.tkc"), TK_EDATA, "oversized", "2^62 bytes");
	b.n = 0;
	put(&b, "\x89TKC\r\n\x1a\n\1\0\0\0\0\0\0\0\xff\xff\xff\x7f", 20);
	compress_to(scratch("bigmeta.tkc"), b.p, b.n);
	expect_error(scratch("bigmeta.tkc"), TK_EDATA, "limit", "meta length");
	b.n = 0;
	put_header(&b, 1, "{}");
	put(&b, "TKCT\xff\xff\xff\xff\0\0\0\0\1\0\0\0", 16);
	put64(&b, 4);
	compress_to(scratch("bigname.tkc"), b.p, b.n);
	expect_error(scratch("bigname.tkc"), TK_EDATA, "name length", "name length");
	free(b.p);
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
	tensor t;
	random_tensor(&t, 0);
	t.ndim = 1;
	t.dtype = TK_I32;
	t.shape[0] = 1 << 18;
	t.nbytes = (size_t)4 << 18;
	t.data = realloc(t.data, t.nbytes);
	memset(t.data, 7, t.nbytes);
	if (access("/dev/full", W_OK) == 0) {
		int rc = write_tensors("/dev/full", "{}", &t, 1, 1);
		TKT_CHECK(rc == TK_EIO, "rc %d: %s", rc, tk_error_message());
		rc = write_tensors("/dev/full", "{}", NULL, 0, 1);
		TKT_CHECK(rc == TK_EIO, "empty: rc %d: %s", rc, tk_error_message());
	}
	const char *dir = tkt_tmpdir();
	int before = count_temp_files(dir);
	const char *folder = scratch("folder.tkc");
	mkdir(folder, 0755);
	int rc = write_tensors(folder, "{}", &t, 1, 2);
	struct stat st;
	TKT_CHECK(rc == TK_ECANTCREAT && stat(folder, &st) == 0 && S_ISDIR(st.st_mode),
		  "rc %d: %s", rc, tk_error_message());
	TKT_CHECK(count_temp_files(dir) == before, "temporary file left behind");
	rmdir(folder);
	/* an existing checkpoint survives a failed rewrite */
	TKT_CHECK(write_tensors(scratch("keep.tkc"), META, &t, 1, 1) == TK_OK, "%s", tk_error_message());
	tk_tkc_writer *w;
	TKT_CHECK(tk_tkc_writer_open(&w, scratch("keep.tkc"), "{}", 1) == TK_OK, "open");
	tk_tkc_writer_abort(w);
	tk_tkc *c;
	rc = tk_tkc_read(&c, scratch("keep.tkc"));
	TKT_CHECK(rc == TK_OK && same_checkpoint(c, META, &t, 1), "%s", tk_error_message());
	if (rc == TK_OK)
		tk_tkc_free(c);
	TKT_CHECK(count_temp_files(dir) == before, "temporary file left behind");
	free(t.data);
}

int main(void)
{
	TKT_RUN(test_roundtrip_random);
	TKT_RUN(test_empty_and_large);
	TKT_RUN(test_writer_rejects);
	TKT_RUN(test_truncated);
	TKT_RUN(test_flipped_bytes);
	TKT_RUN(test_random_mutations);
	TKT_RUN(test_bad_files);
	TKT_RUN(test_failing_outputs);
	return tkt_done();
}
