/* The training dataset index: what loading keeps and drops, preference
 * pairs, seeded per-epoch orders, the tokenizer fingerprint. */
#include "tkt.h"

#include "tk_dataset.h"
#include "tk_error.h"
#include "tk_tks.h"

#include <stdint.h>

static char path[4096];

/* Writes records of the given lengths; weight 0 everywhere for the
 * lengths listed in zero[], pair roles from roles[] (0 none) with group
 * ids from groups[]. */
static void write_stream(const size_t *len, size_t n, const int *zero, const int *roles,
			 const int64_t *groups)
{
	snprintf(path, sizeof path, "%s/train-data.tks", tkt_tmpdir());
	tk_tks_writer *w;
	TKT_CHECK(tk_tks_writer_open(&w, path, "{\"tokenizer\": \"00112233aabbccdd\"}", 1) == 0,
		  "%s", tk_error_message());
	int32_t tokens[64];
	float weights[64];
	for (size_t r = 0; r < n; r++) {
		for (size_t i = 0; i < len[r]; i++) {
			tokens[i] = (int32_t)(r * 10 + i);
			weights[i] = zero && zero[r] ? 0 : 1;
		}
		tk_record rec;
		tk_record_init(&rec);
		rec.n = len[r];
		rec.tokens = tokens;
		rec.weights = weights;
		rec.pair_role = roles ? roles[r] : 0;
		rec.group = groups ? groups[r] : -1;
		TKT_CHECK(tk_tks_write(w, &rec) == 0, "%s", tk_error_message());
	}
	TKT_CHECK(tk_tks_writer_close(w) == 0, "%s", tk_error_message());
}

static void test_keeps_and_drops(void)
{
	size_t len[5] = {5, 40, 6, 3, 7};
	int zero[5] = {0, 0, 1, 0, 0};
	write_stream(len, 5, zero, NULL, NULL);
	tk_dataset_options o = {32, 0};
	tk_dataset *d;
	TKT_CHECK(tk_dataset_load(&d, path, &o) == 0, "%s", tk_error_message());
	TKT_CHECK(d->read == 5 && d->n_records == 3 && d->n_units == 3, "kept %zu of %llu",
		  d->n_records, (unsigned long long)d->read);
	TKT_CHECK(d->too_long == 1 && d->longest == 40 && d->unweighted == 1, "dropped");
	TKT_CHECK(d->n_tokens == 15 && d->starts[3] == 15, "tokens %zu", d->n_tokens);
	TKT_CHECK(d->tokens[5] == 30 && d->units[1].tokens == 3, "record 3 second");
	char fp[17];
	TKT_CHECK(tk_dataset_tokenizer(d, fp) == 0 && strcmp(fp, "00112233aabbccdd") == 0,
		  "fingerprint %s", fp);
	tk_dataset_free(d);
}

static void test_pairs(void)
{
	size_t len[5] = {4, 5, 3, 4, 6};
	int roles[5] = {1, 2, 1, 1, 2};
	int64_t groups[5] = {0, 0, 1, 2, 2};
	write_stream(len, 5, NULL, roles, groups);
	tk_dataset_options o = {0, 1};
	tk_dataset *d;
	TKT_CHECK(tk_dataset_load(&d, path, &o) == 0, "%s", tk_error_message());
	TKT_CHECK(d->n_units == 2 && d->unpaired == 1, "pairs %zu, unpaired %llu", d->n_units,
		  (unsigned long long)d->unpaired);
	TKT_CHECK(d->units[0].first == 0 && d->units[0].count == 2 && d->units[0].tokens == 9,
		  "first pair");
	TKT_CHECK(d->units[1].first == 3 && d->units[1].tokens == 10, "second pair");
	tk_dataset_free(d);
}

static void test_orders(void)
{
	size_t len[40];
	for (int i = 0; i < 40; i++)
		len[i] = 2 + (size_t)i % 5;
	write_stream(len, 40, NULL, NULL, NULL);
	tk_dataset_options o = {0, 0};
	tk_dataset *d;
	TKT_CHECK(tk_dataset_load(&d, path, &o) == 0, "%s", tk_error_message());
	size_t a[40], b[40], c[40], seen[40] = {0};
	tk_dataset_order(d, a, 7, 0, 1);
	tk_dataset_order(d, b, 7, 0, 1);
	tk_dataset_order(d, c, 7, 1, 1);
	TKT_CHECK(memcmp(a, b, sizeof a) == 0, "same seed and epoch, same order");
	TKT_CHECK(memcmp(a, c, sizeof a) != 0, "another epoch, another order");
	for (int i = 0; i < 40; i++)
		seen[a[i]]++;
	int perm = 1, identity = 1;
	for (int i = 0; i < 40; i++) {
		perm &= seen[i] == 1;
		identity &= a[i] == (size_t)i;
	}
	TKT_CHECK(perm && !identity, "a shuffled permutation");
	tk_dataset_order(d, a, 7, 3, 0);
	for (int i = 0; i < 40; i++)
		TKT_CHECK(a[i] == (size_t)i, "no shuffle keeps the order");
	tk_dataset_free(d);
}

static void test_empty_and_missing(void)
{
	write_stream(NULL, 0, NULL, NULL, NULL);
	tk_dataset_options o = {0, 0};
	tk_dataset *d;
	TKT_CHECK(tk_dataset_load(&d, path, &o) == 0, "%s", tk_error_message());
	TKT_CHECK(d->read == 0 && d->n_units == 0, "empty");
	tk_dataset_free(d);
	TKT_CHECK(tk_dataset_load(&d, "/nonexistent/x.tks", &o) == TK_ENOINPUT && !d, "missing");
}

int main(void)
{
	TKT_RUN(test_keeps_and_drops);
	TKT_RUN(test_pairs);
	TKT_RUN(test_orders);
	TKT_RUN(test_empty_and_missing);
	return tkt_done();
}
