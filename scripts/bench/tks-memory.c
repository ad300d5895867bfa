/* Helper of scripts/bench/tks-memory.sh: writes or reads a large token
 * stream and reports time, throughput and peak resident memory.
 *
 *   tks-memory write PATH TOKENS RECORD_TOKENS THREADS LEVEL
 *   tks-memory read PATH
 *
 * Both print "tokens=N records=N seconds=S MB/s=X peak_rss_mb=M
 * checksum=C"; the checksum (over tokens and weights) must agree between
 * the two, which shows the data came back whole. */
#include "tk_error.h"
#include "tk_tks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double peak_rss_mb(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

/* A running checksum of a record's tokens and weights. */
static uint64_t mix(uint64_t h, const tk_record *r)
{
	for (size_t i = 0; i < r->n; i++) {
		uint32_t w;
		memcpy(&w, &r->weights[i], 4);
		h = (h ^ (uint32_t)r->tokens[i]) * 0x100000001b3ull;
		h = (h ^ w) * 0x100000001b3ull;
	}
	return h;
}

static void report(uint64_t tokens, uint64_t records, double seconds, uint64_t h)
{
	/* the data: 4-byte token and 4-byte weight per token */
	double mb = (double)tokens * 8 / 1e6;
	printf("tokens=%llu records=%llu seconds=%.1f MB/s=%.0f peak_rss_mb=%.1f checksum=%016llx\n",
	       (unsigned long long)tokens, (unsigned long long)records, seconds,
	       mb / (seconds > 0 ? seconds : 1), peak_rss_mb(), (unsigned long long)h);
}

static int fail(const char *what)
{
	fprintf(stderr, "tks-memory: %s: %s\n", what, tk_error_message());
	return 1;
}

static int bench_write(const char *path, uint64_t total, size_t per_record, int threads, int level)
{
	tk_tks_writer *w;
	if (tk_tks_writer_open_level(&w, path, "{\"tokenizer\": \"bench\", \"vocab_size\": 50000, \"source\": \"tks-memory\"}",
				     threads, level) != TK_OK)
		return fail("open");
	tk_record r;
	tk_record_init(&r);
	r.tokens = malloc(per_record * sizeof *r.tokens);
	r.weights = malloc(per_record * sizeof *r.weights);
	if (!r.tokens || !r.weights)
		return fail("out of memory");
	uint64_t state = 88172645463325252ull, h = 1469598103934665603ull, records = 0;
	double t0 = now();
	for (uint64_t done = 0; done < total; done += r.n) {
		r.n = total - done < per_record ? (size_t)(total - done) : per_record;
		/* tokens from a xorshift generator; weights 0 over a prompt
		 * of a quarter of the record, then 1, as rendered chats are */
		for (size_t i = 0; i < r.n; i++) {
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			r.tokens[i] = (int32_t)(state % 50000);
			r.weights[i] = i < r.n / 4 ? 0.0f : 1.0f;
		}
		r.group = (int64_t)records;
		h = mix(h, &r);
		if (tk_tks_write(w, &r) != TK_OK) {
			tk_tks_writer_abort(w);
			return fail("write");
		}
		records++;
	}
	if (tk_tks_writer_close(w) != TK_OK)
		return fail("close");
	report(total, records, now() - t0, h);
	free(r.tokens);
	free(r.weights);
	return 0;
}

static int bench_read(const char *path)
{
	tk_tks_reader *rd;
	if (tk_tks_reader_open(&rd, path) != TK_OK)
		return fail("open");
	tk_record r;
	tk_record_init(&r);
	uint64_t h = 1469598103934665603ull, tokens = 0;
	double t0 = now();
	int rc;
	while ((rc = tk_tks_read(rd, &r)) == TK_OK) {
		h = mix(h, &r);
		tokens += r.n;
	}
	if (rc != TK_END)
		return fail("read");
	report(tokens, tk_tks_reader_count(rd), now() - t0, h);
	tk_record_free(&r);
	tk_tks_reader_close(rd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && strcmp(argv[1], "write") == 0)
		return bench_write(argv[2], strtoull(argv[3], NULL, 10), (size_t)strtoull(argv[4], NULL, 10),
				   atoi(argv[5]), atoi(argv[6]));
	if (argc == 3 && strcmp(argv[1], "read") == 0)
		return bench_read(argv[2]);
	fprintf(stderr, "usage: tks-memory write PATH TOKENS RECORD_TOKENS THREADS LEVEL\n"
			"       tks-memory read PATH\n");
	return 64;
}
