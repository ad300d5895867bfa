/* What the libFuzzer harnesses of tests/fuzz/ share: a private scratch
 * folder for readers that want a file, zstd framing for the formats that
 * live inside a zstd stream, and property checks that fail loudly. */
#ifndef TK_FUZZ_HARNESS_H
#define TK_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points, declared here so -Wmissing-prototypes style
 * warnings stay quiet in every harness. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold: prints what broke and aborts, which libFuzzer
 * reports as a crash and saves the input as an artifact. */
#define FUZZ_REQUIRE(cond, ...)                                              \
	do {                                                                 \
		if (!(cond))                                                 \
			fuzz_violation(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

_Noreturn void fuzz_violation(const char *file, int line, const char *cond,
			      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The path of NAME inside this process's scratch folder under $TMPDIR
 * (made on first use, removed at exit); the same string for the same
 * name, valid until exit. */
const char *fuzz_path(const char *name);

/* Writes size bytes as the whole file at path; aborts on failure (the
 * harness, not the library under test, is broken then). */
void fuzz_write_file(const char *path, const void *data, size_t size);

/* Writes data to path as a zstd stream: as it is when it already starts
 * with the zstd frame magic, else compressed into one checksummed frame,
 * so that the fuzzer can steer the bytes a format's reader sees inside
 * the stream (where a mutated compressed byte would mostly fail the
 * checksum) as well as the framing itself. */
void fuzz_write_zstd(const char *path, const void *data, size_t size);

/* A NUL-terminated copy of data (malloc'd; aborts when out of memory). */
char *fuzz_strndup(const void *data, size_t size);

/* Where the fixtures are: $TK_FUZZ_FIXTURES, else tests/fixtures (the
 * harnesses run from the repository root). */
const char *fuzz_fixture(const char *relative);

/* 1 when the two float arrays hold the same values, NaNs of any payload
 * counting as equal (conversions between float widths may quiet them). */
int fuzz_same_floats(const float *a, const float *b, size_t n);

#endif
