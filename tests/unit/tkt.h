/* A small unit-test harness printing TAP, so that scripts/run-tests.sh
 * counts C tests and bats tests alike.  Each test is a function; checks
 * record the first failures with file and line and the test goes on.
 *
 *   static void test_roundtrip(void) { TKT_CHECK(x == 1, "x=%d", x); }
 *   (TKT_CHECK always takes a message format after the condition.)
 *   int main(void) { TKT_RUN(test_roundtrip); return tkt_done(); }
 *
 * Tests run from the repository root (fixtures at tests/fixtures/); scratch
 * files go to tkt_tmpdir(), removed by the runner. */
#ifndef TKT_H
#define TKT_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tkt_number, tkt_failed_total, tkt_current_failures;
static const char *tkt_skip_reason;

static inline void tkt_fail_at(const char *file, int line, const char *what,
			       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline void tkt_fail_at(const char *file, int line, const char *what,
			       const char *fmt, ...)
{
	if (tkt_current_failures++ < 5) {
		va_list ap;
		printf("#   %s:%d: %s: ", file, line, what);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
}

#define TKT_CHECK(cond, ...)                                              \
	do {                                                              \
		if (!(cond))                                              \
			tkt_fail_at(__FILE__, __LINE__,                   \
				    "check failed: " #cond, __VA_ARGS__); \
	} while (0)

/* Call from a test to skip it, with the reason printed. */
#define TKT_SKIP(reason) do { tkt_skip_reason = (reason); return; } while (0)

/* Compares two float arrays; reports the worst element. */
#define TKT_CHECK_CLOSE(got, want, n, tol) \
	tkt_check_close(__FILE__, __LINE__, #got, (got), (want), (n), (tol))

static inline void tkt_check_close(const char *file, int line, const char *what,
			    const float *got, const float *want, size_t n,
			    double tol)
{
	double worst = 0;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - (double)want[i]);
		if (d > worst || d != d) {
			worst = d;
			at = i;
			if (d != d)
				break;
		}
	}
	if (!(worst <= tol))
		tkt_fail_at(file, line, "values differ", "%s: max abs error %.3g > %.3g at [%zu]: got %.9g want %.9g",
			    what, worst, tol, at, got[at], want[at]);
}

#define TKT_RUN(fn) tkt_run(#fn, fn)

static inline void tkt_run(const char *name, void (*fn)(void))
{
	tkt_current_failures = 0;
	tkt_skip_reason = NULL;
	fflush(stdout);
	fn();
	tkt_number++;
	if (tkt_current_failures) {
		tkt_failed_total++;
		printf("not ok %d - %s\n", tkt_number, name);
	} else if (tkt_skip_reason) {
		printf("ok %d - %s # SKIP %s\n", tkt_number, name, tkt_skip_reason);
	} else {
		printf("ok %d - %s\n", tkt_number, name);
	}
	fflush(stdout);
}

static inline int tkt_done(void)
{
	printf("1..%d\n", tkt_number);
	return tkt_failed_total ? 3 : 0; /* 3: failures, as opposed to a crash */
}

/* A scratch folder for this test program (TKT_TMPDIR or /tmp). */
static inline const char *tkt_tmpdir(void)
{
	const char *d = getenv("TKT_TMPDIR");
	return d && *d ? d : "/tmp";
}

/* PATH of NAME in the scratch folder, into out. */
static inline const char *tkt_scratch_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tkt_tmpdir(), name);
	return out;
}

/* A whole file, NUL-terminated (malloc'd; NULL when unreadable). */
static inline char *tkt_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t n = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	for (size_t got; buf && (got = fread(buf + n, 1, cap - 1 - n, f)) > 0;) {
		n += got;
		if (n + 1 == cap) {
			char *bigger = realloc(buf, cap *= 2);
			if (!bigger)
				free(buf);
			buf = bigger;
		}
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		if (len)
			*len = n;
	}
	return buf;
}

/* Deterministic pseudo-random numbers for test data (splitmix64). */
static unsigned long long tkt_rng_state = 0x9e3779b97f4a7c15ull;
static inline unsigned long long tkt_rand64(void)
{
	unsigned long long z = (tkt_rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static inline double tkt_uniform(void) { return (tkt_rand64() >> 11) * 0x1.0p-53; }

#endif
