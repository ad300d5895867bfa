/* Token streams, version 2: the per-token top-K (ids with logprobs or
 * weights) round trips beside the other fields, a version-1 file written
 * by the version-1 writer (tests/fixtures/tks/v1-two-records.tks) still
 * reads, field for field, alone and concatenated with a version-2 part,
 * and bad top-K data is refused by the writer and the reader, saying
 * what is wrong. */
#include "tk_error.h"
#include "tk_tks.h"
#include "tkt.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define V1_FIXTURE "tests/fixtures/tks/v1-two-records.tks"
#define META "{\"vocab_size\": 100}"

static const char *scratch(const char *name)
{
	static char paths[4][4096];
	static int next;
	return tkt_scratch_path(paths[next++ % 4], 4096, name);
}

/* Reads up to cap records of path into recs (each then owns its
 * arrays); the status of the read that stopped, the count in *n. */
static int read_records(const char *path, tk_record *recs, size_t cap, size_t *n)
{
	tk_tks_reader *r;
	*n = 0;
	int rc = tk_tks_reader_open(&r, path);
	if (rc)
		return rc;
	for (;;) {
		tk_record tmp;
		tk_record_init(&tmp);
		tk_record *rec = *n < cap ? &recs[*n] : &tmp;
		tk_record_init(rec);
		rc = tk_tks_read(r, rec);
		if (rec == &tmp || rc) // a refused read leaves what it allocated in rec
			tk_record_free(rec);
		if (rc)
			break;
		(*n)++;
	}
	tk_tks_reader_close(r);
	return rc == TK_END ? TK_OK : rc;
}

static void free_records(tk_record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tk_record_free(&recs[i]);
}

/* Records with a top-3 of logprobs (one empty slot), a top-2 of weights,
 * and none, in that order. */
static int32_t toks[4] = {3, 9, 27, 81};
static float wts[4] = {0, 1, 1, 0.5f};
static int32_t ids3[12] = {-1, -1, -1, 9, 8, 7, 27, 26, -1, 81, 80, 79};
static float lps3[12] = {0, 0, 0, -0.25f, -1.5f, -3, -0.125f, -2.5f, 0, -1, -1.25f, -1.75f};
static int32_t ids2[8] = {-1, -1, 9, 10, 27, 28, 81, 82};
static float ws2[8] = {0, 0, 0.75f, 0.25f, 1, 0, 0.5f, 0.5f};

static void make_records(tk_record rec[3])
{
	for (int i = 0; i < 3; i++) {
		tk_record_init(&rec[i]);
		rec[i].n = 4;
		rec[i].tokens = toks;
		rec[i].weights = wts;
		rec[i].group = i;
	}
	rec[0].top_k = 3, rec[0].top_ids = ids3, rec[0].top_values = lps3;
	rec[1].top_k = 2, rec[1].top_ids = ids2, rec[1].top_values = ws2, rec[1].top_weights = 1;
	rec[2].logprobs = lps3; // a v1 field beside none of the top-K
}

static int write_records(const char *path, const tk_record *rec, size_t n)
{
	tk_tks_writer *w;
	int rc = tk_tks_writer_open(&w, path, META, 1);
	for (size_t i = 0; rc == TK_OK && i < n; i++)
		rc = tk_tks_write(w, &rec[i]);
	if (rc == TK_OK)
		return tk_tks_writer_close(w);
	tk_tks_writer_abort(w);
	return rc;
}

static void test_top_k_round_trip(void)
{
	tk_record want[3], got[4];
	make_records(want);
	TKT_CHECK(write_records(scratch("top.tks"), want, 3) == TK_OK, "%s", tk_error_message());
	size_t n;
	TKT_CHECK(read_records(scratch("top.tks"), got, 4, &n) == TK_OK && n == 3, "%zu: %s", n,
		  tk_error_message());
	for (size_t i = 0; i < n; i++) {
		TKT_CHECK(got[i].top_k == want[i].top_k && got[i].top_weights == want[i].top_weights,
			  "record %zu: top-%zu (weights %d)", i, got[i].top_k, got[i].top_weights);
		size_t nk = got[i].n * got[i].top_k;
		TKT_CHECK(!nk || (!memcmp(got[i].top_ids, want[i].top_ids, nk * 4) &&
				  !memcmp(got[i].top_values, want[i].top_values, nk * 4)),
			  "record %zu: top-K differs", i);
		TKT_CHECK(!memcmp(got[i].tokens, toks, sizeof toks) && got[i].group == (int64_t)i,
			  "record %zu: tokens or group", i);
		TKT_CHECK((got[i].logprobs != NULL) == (i == 2), "record %zu: logprobs", i);
	}
	TKT_CHECK(got[2].top_values == NULL, "a record without a top-K after one with");
	free_records(got, n);
}

/* The v1 writer's file: every field as it wrote it. */
static void check_v1_records(const tk_record *r)
{
	static const int32_t t1[5] = {1, 7, 42, 99, 0};
	static const float lp1[5] = {0, -1.25f, -0.5f, -2, -0.125f}, adv1[5] = {0, 0, 0.75f, 0.75f, -1};
	TKT_CHECK(r[0].n == 5 && !memcmp(r[0].tokens, t1, sizeof t1) && r[0].weights[4] == 0.5f,
		  "v1 record 0: tokens, weights");
	TKT_CHECK(r[0].logprobs && !memcmp(r[0].logprobs, lp1, sizeof lp1) && r[0].advantages &&
		  !memcmp(r[0].advantages, adv1, sizeof adv1), "v1 record 0: logprobs, advantages");
	TKT_CHECK(r[0].group == 3 && r[0].has_reward && r[0].reward == 1.5 && r[0].meta &&
		  !strcmp(r[0].meta, "{\"id\":\"a\"}") && r[0].top_k == 0, "v1 record 0: fields");
	TKT_CHECK(r[1].n == 3 && r[1].tokens[2] == 7 && r[1].pair_role == TK_PAIR_CHOSEN &&
		  !r[1].logprobs && !r[1].advantages && !r[1].has_reward && !r[1].meta &&
		  r[1].top_k == 0, "v1 record 1");
}

static void test_version_1_still_reads(void)
{
	tk_record got[4];
	size_t n;
	TKT_CHECK(read_records(V1_FIXTURE, got, 4, &n) == TK_OK && n == 2, "%zu: %s", n,
		  tk_error_message());
	if (n == 2)
		check_v1_records(got);
	free_records(got, n);
	/* a v1 part then a v2 part: one stream of 5 records */
	tk_record want[3];
	make_records(want);
	TKT_CHECK(write_records(scratch("v2part.tks"), want, 3) == TK_OK, "%s", tk_error_message());
	size_t s1 = 0, s2 = 0;
	char *a = tkt_slurp(V1_FIXTURE, &s1), *b = tkt_slurp(scratch("v2part.tks"), &s2);
	FILE *f = fopen(scratch("v1v2.tks"), "wb");
	TKT_CHECK(a && b && f && fwrite(a, 1, s1, f) == s1 && fwrite(b, 1, s2, f) == s2, "cat");
	if (f)
		fclose(f);
	free(a), free(b);
	TKT_CHECK(read_records(scratch("v1v2.tks"), got, 4, &n) == TK_OK && n == 5, "%zu: %s", n,
		  tk_error_message());
	if (n == 5)
		check_v1_records(got);
	TKT_CHECK(n == 5 && got[2].top_k == 3 && got[3].top_k == 2 && got[3].top_weights, "v2 part after v1");
	free_records(got, n < 4 ? n : 4);
}

static void test_writer_refuses_bad_top_k(void)
{
	tk_record rec[3];
	make_records(rec);
	int32_t bad_ids[12];
	memcpy(bad_ids, ids3, sizeof bad_ids);
	bad_ids[7] = 100; // vocab_size 100
	rec[0].top_ids = bad_ids;
	TKT_CHECK(write_records(scratch("bad.tks"), rec, 1) == TK_EUSAGE &&
		  strstr(tk_error_message(), "token 2 top-K id 100 is outside -1..99"), "%s",
		  tk_error_message());
	float bad_w[8];
	memcpy(bad_w, ws2, sizeof bad_w);
	bad_w[5] = -0.5f;
	rec[1].top_values = bad_w;
	TKT_CHECK(write_records(scratch("bad.tks"), rec + 1, 1) == TK_EUSAGE &&
		  strstr(tk_error_message(), "top-K weight -0.5 is not a finite number >= 0"), "%s",
		  tk_error_message());
	rec[1].top_values = ws2;
	rec[1].top_k = TK_TKS_MAX_TOP_K + 1;
	TKT_CHECK(write_records(scratch("bad.tks"), rec + 1, 1) == TK_EUSAGE &&
		  strstr(tk_error_message(), "more than the 1024 allowed"), "%s", tk_error_message());
	TKT_CHECK(access(scratch("bad.tks"), F_OK) != 0, "a refused stream left a file");
}

/* ---- raw streams -------------------------------------------------------- */

typedef struct { unsigned char p[512]; size_t n; } buf;

static void put(buf *b, const void *d, size_t n) { memcpy(b->p + b->n, d, n), b->n += n; }
static void put32(buf *b, uint32_t v)
{
	unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 24)};
	put(b, x, 4);
}
static void putf(buf *b, float f) { uint32_t u; memcpy(&u, &f, 4), put32(b, u); }

/* A part of version `version` holding one 2-token record with flags and
 * then the bytes of `tail` (the top-K), and its trailer, compressed. */
static const char *raw_stream(const char *name, uint32_t version, uint32_t flags,
			      const buf *tail)
{
	buf b = {.n = 0};
	put(&b, "\x89TKS\r\n\x1a\n", 8);
	put32(&b, version), put32(&b, 0), put32(&b, 19), put(&b, "{\"vocab_size\": 100}", 19);
	put(&b, "TKSR", 4), put32(&b, flags), put32(&b, 2), put32(&b, 0);
	put32(&b, UINT32_MAX), put32(&b, UINT32_MAX), put32(&b, 0), put32(&b, 0);
	put32(&b, 0), put32(&b, 0);
	put32(&b, 5), put32(&b, 6), putf(&b, 0), putf(&b, 1);
	put(&b, tail->p, tail->n);
	put(&b, "TKSE", 4), put32(&b, 0), put32(&b, 1), put32(&b, 0);
	unsigned char z[1024];
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	size_t zn = ZSTD_compress2(c, z, sizeof z, b.p, b.n);
	ZSTD_freeCCtx(c);
	const char *path = scratch(name);
	FILE *f = fopen(path, "wb");
	TKT_CHECK(!ZSTD_isError(zn) && f && fwrite(z, 1, zn, f) == zn, "writing %s", name);
	if (f)
		fclose(f);
	return path;
}

static void expect_refused(const char *path, const char *want)
{
	tk_record got[2];
	size_t n;
	int rc = read_records(path, got, 2, &n);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), want), "%s: rc %d \"%s\", wanted \"%s\"",
		  path, rc, tk_error_message(), want);
	free_records(got, n);
}

static void test_reader_refuses_bad_top_k(void)
{
	buf top = {.n = 0}; // K = 1: ids -1, 7; logprobs 0, -0.5
	put32(&top, 1), put32(&top, UINT32_MAX), put32(&top, 7), putf(&top, 0), putf(&top, -0.5f);
	tk_record got[2];
	size_t n;
	TKT_CHECK(read_records(raw_stream("ok.tks", 2, 16, &top), got, 2, &n) == TK_OK && n == 1 &&
		  got[0].top_k == 1 && got[0].top_ids[1] == 7 && got[0].top_values[1] == -0.5f,
		  "a good hand-made top-K: %s", tk_error_message());
	free_records(got, n);
	expect_refused(raw_stream("v1flag.tks", 1, 16, &top), "unknown flags 0x10 for format version 1");
	expect_refused(raw_stream("wflag.tks", 2, 32, &(buf){.n = 0}), "weights flag but no top-K");
	buf bad = top;
	memcpy(bad.p + 8, "\x64\0\0\0", 4); // id 100
	expect_refused(raw_stream("id.tks", 2, 16, &bad), "top-K id 100 is outside -1..99");
	bad = top;
	memcpy(bad.p, "\0\0\0\0", 4); // K = 0
	expect_refused(raw_stream("k0.tks", 2, 16, &bad), "has a top-0 over 2 tokens");
	bad = top;
	memcpy(bad.p, "\0\0\0\x10", 4); // K = 2^28: fails as what it is, no huge allocation
	expect_refused(raw_stream("khuge.tks", 2, 16, &bad), "has a top-268435456");
	bad = top;
	memcpy(bad.p, "\xff\xff\0\0", 4); // K = 65535 > the limit
	expect_refused(raw_stream("kbig.tks", 2, 16, &bad), "top-65535");
	expect_refused(raw_stream("negw.tks", 2, 16 | 32, &top), "token 1 top-K weight -0.5");
}

/* The round trip's stream cut at every byte from its first record on:
 * each cut is refused (the top-K's lengths included), none crashes. */
static void test_cut_top_k_refused(void)
{
	tk_record rec[3];
	make_records(rec);
	TKT_CHECK(write_records(scratch("whole.tks"), rec, 3) == TK_OK, "%s", tk_error_message());
	size_t zn;
	char *z = tkt_slurp(scratch("whole.tks"), &zn);
	unsigned char raw[4096], out[8192];
	size_t n = z ? ZSTD_decompress(raw, sizeof raw, z, zn) : 0;
	free(z);
	TKT_CHECK(!ZSTD_isError(n) && n > 100, "decoding the stream");
	size_t refused = 0, tried = 0;
	for (size_t cut = 39; !ZSTD_isError(n) && cut < n; cut++, tried++) {
		ZSTD_CCtx *c = ZSTD_createCCtx();
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
		size_t on = ZSTD_compress2(c, out, sizeof out, raw, cut);
		ZSTD_freeCCtx(c);
		FILE *f = fopen(scratch("cut.tks"), "wb");
		if (!f || ZSTD_isError(on) || fwrite(out, 1, on, f) != on)
			break;
		fclose(f);
		tk_record got[3];
		size_t k;
		int rc = read_records(scratch("cut.tks"), got, 3, &k);
		refused += rc == TK_EDATA && strstr(tk_error_message(), "truncated");
		free_records(got, k < 3 ? k : 3);
	}
	TKT_CHECK(tried > 100 && refused == tried, "%zu of %zu cuts refused as truncated", refused,
		  tried);
}

int main(void)
{
	TKT_RUN(test_top_k_round_trip);
	TKT_RUN(test_version_1_still_reads);
	TKT_RUN(test_writer_refuses_bad_top_k);
	TKT_RUN(test_reader_refuses_bad_top_k);
	TKT_RUN(test_cut_top_k_refused);
	return tkt_done();
}
