/* Token streams (.tks): the reader on arbitrary streams (the input as a
 * zstd stream, or as the bytes inside one: see fuzz_write_zstd), and, for
 * every single-part stream it accepts, read → write → read gives the same
 * metadata and the same records. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_tks.h"

/* Enough records to reach every branch; a stream holding more is read
 * only this far (a test, not a converter). */
#define MAX_RECORDS 4096

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

static int same_optional(const float *a, const float *b, size_t n)
{
	if (!a || !b)
		return a == b;
	return memcmp(a, b, n * sizeof *a) == 0;
}

static void require_same_record(const tk_record *a, const tk_record *b, size_t index)
{
	FUZZ_REQUIRE(a->n == b->n, "record %zu: %zu tokens became %zu", index, a->n, b->n);
	FUZZ_REQUIRE(!a->n || !memcmp(a->tokens, b->tokens, a->n * sizeof *a->tokens),
		     "record %zu: tokens differ", index);
	FUZZ_REQUIRE(!a->n || !memcmp(a->weights, b->weights, a->n * sizeof *a->weights),
		     "record %zu: weights differ", index);
	FUZZ_REQUIRE(same_optional(a->logprobs, b->logprobs, a->n), "record %zu: logprobs differ", index);
	FUZZ_REQUIRE(same_optional(a->advantages, b->advantages, a->n),
		     "record %zu: advantages differ", index);
	FUZZ_REQUIRE(a->group == b->group && a->pair_role == b->pair_role,
		     "record %zu: group/pair role differ", index);
	FUZZ_REQUIRE(a->has_reward == b->has_reward &&
		     (!a->has_reward || !memcmp(&a->reward, &b->reward, sizeof a->reward)),
		     "record %zu: reward differs", index);
	FUZZ_REQUIRE(a->top_k == b->top_k && a->top_weights == b->top_weights,
		     "record %zu: top-%zu (weights %d) became top-%zu (weights %d)", index, a->top_k,
		     a->top_weights, b->top_k, b->top_weights);
	size_t nk = a->n * a->top_k;
	FUZZ_REQUIRE(!nk || (!memcmp(a->top_ids, b->top_ids, nk * sizeof *a->top_ids) &&
			     !memcmp(a->top_values, b->top_values, nk * sizeof *a->top_values)),
		     "record %zu: top-K ids or values differ", index);
	FUZZ_REQUIRE((!a->meta && !b->meta) || (a->meta && b->meta && !strcmp(a->meta, b->meta)),
		     "record %zu: meta '%s' became '%s'", index, a->meta ? a->meta : "(none)",
		     b->meta ? b->meta : "(none)");
}

/* Reads the stream at path to its end or its first error; whether the
 * whole stream was good in *good, its parts in *parts. */
static void read_all(const char *path, int *good, unsigned *parts)
{
	tk_tks_reader *r;
	*good = 0;
	if (tk_tks_reader_open(&r, path))
		return;
	FUZZ_REQUIRE(tk_tks_reader_meta(r) != NULL, "an open reader has no metadata");
	tk_record rec;
	tk_record_init(&rec);
	size_t count = 0;
	int rc;
	while (count < MAX_RECORDS && (rc = tk_tks_read(r, &rec)) == TK_OK) {
		FUZZ_REQUIRE(rec.n == 0 || (rec.tokens && rec.weights), "a record without arrays");
		FUZZ_REQUIRE(!rec.top_k || rec.n == 0 || (rec.top_ids && rec.top_values),
			     "a top-%zu without arrays", rec.top_k);
		count++;
	}
	*good = count < MAX_RECORDS && rc == TK_END;
	FUZZ_REQUIRE(tk_tks_reader_count(r) == count, "count %llu, read %zu",
		     (unsigned long long)tk_tks_reader_count(r), count);
	*parts = tk_tks_reader_parts(r);
	tk_record_free(&rec);
	tk_tks_reader_close(r);
}

/* Writes what the reader gives for in into out; the writer must take
 * every record the reader accepted. */
static void copy_stream(const char *in, const char *out)
{
	tk_tks_reader *r;
	FUZZ_REQUIRE(tk_tks_reader_open(&r, in) == TK_OK, "reopening: %s", tk_error_message());
	tk_tks_writer *w;
	int rc = tk_tks_writer_open_level(&w, out, tk_tks_reader_meta(r), 1, 1);
	FUZZ_REQUIRE(rc == TK_OK, "the writer refuses the metadata the reader gave: %s",
		     tk_error_message());
	tk_record rec;
	tk_record_init(&rec);
	while ((rc = tk_tks_read(r, &rec)) == TK_OK) {
		/* the writer's records keep their arrays: hand it a borrowed view */
		tk_record view = rec;
		view.capacity = view.meta_capacity = view.top_capacity = 0;
		rc = tk_tks_write(w, &view);
		FUZZ_REQUIRE(rc == TK_OK, "the writer refuses a record the reader gave: %s",
			     tk_error_message());
	}
	FUZZ_REQUIRE(rc == TK_END, "second read failed: %s", tk_error_message());
	tk_record_free(&rec);
	tk_tks_reader_close(r);
	rc = tk_tks_writer_close(w);
	FUZZ_REQUIRE(rc == TK_OK, "closing the writer: %s", tk_error_message());
}

static void require_same_streams(const char *a_path, const char *b_path)
{
	tk_tks_reader *a, *b;
	FUZZ_REQUIRE(tk_tks_reader_open(&a, a_path) == TK_OK, "%s", tk_error_message());
	FUZZ_REQUIRE(tk_tks_reader_open(&b, b_path) == TK_OK, "rereading the copy: %s",
		     tk_error_message());
	FUZZ_REQUIRE(!strcmp(tk_tks_reader_meta(a), tk_tks_reader_meta(b)),
		     "metadata '%s' became '%s'", tk_tks_reader_meta(a), tk_tks_reader_meta(b));
	tk_record ra, rb;
	tk_record_init(&ra);
	tk_record_init(&rb);
	for (size_t i = 0;; i++) {
		int rc_a = tk_tks_read(a, &ra), rc_b = tk_tks_read(b, &rb);
		FUZZ_REQUIRE(rc_a == rc_b, "record %zu: status %d, copy's %d (%s)", i, rc_a, rc_b,
			     tk_error_message());
		if (rc_a != TK_OK)
			break;
		require_same_record(&ra, &rb, i);
	}
	tk_record_free(&ra);
	tk_record_free(&rb);
	tk_tks_reader_close(a);
	tk_tks_reader_close(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = fuzz_path("in.tks");
	fuzz_write_zstd(in, data, size);
	int good;
	unsigned parts = 0;
	read_all(in, &good, &parts);
	/* a concatenation is read as one stream but may mix metadata the
	 * writer, holding the first part's only, would judge differently */
	if (good && parts == 1) {
		const char *out = fuzz_path("copy.tks");
		copy_stream(in, out);
		require_same_streams(in, out);
		remove(out);
	}
	tk_error_clear();
	return 0;
}
