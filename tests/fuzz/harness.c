#define _XOPEN_SOURCE 700
#include "harness.h"

#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

void fuzz_violation(const char *file, int line, const char *cond, const char *fmt, ...)
{
	fprintf(stderr, "\n==fuzz== property violated at %s:%d: %s\n==fuzz== ", file, line, cond);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static char scratch[4096];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void remove_scratch(void)
{
	if (scratch[0])
		nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_scratch(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(scratch, sizeof scratch, "%s/tk-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch)) {
		perror(scratch);
		abort();
	}
	atexit(remove_scratch);
}

/* Paths handed out so far: each name gets one, valid for the whole run. */
#define MAX_PATHS 32
static struct {
	char *name, *path;
} paths[MAX_PATHS];

const char *fuzz_path(const char *name)
{
	if (!scratch[0])
		make_scratch();
	size_t i = 0;
	for (; i < MAX_PATHS && paths[i].name; i++)
		if (!strcmp(paths[i].name, name))
			return paths[i].path;
	size_t len = strlen(scratch) + strlen(name) + 2;
	if (i == MAX_PATHS || !(paths[i].name = strdup(name)) || !(paths[i].path = malloc(len))) {
		fprintf(stderr, "fuzz_path: out of room for '%s'\n", name);
		abort();
	}
	snprintf(paths[i].path, len, "%s/%s", scratch, name);
	return paths[i].path;
}

void fuzz_write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) {
		perror(path);
		abort();
	}
}

static int starts_with_zstd_magic(const unsigned char *data, size_t size)
{
	static const unsigned char magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
	return size >= 4 && memcmp(data, magic, 4) == 0;
}

void fuzz_write_zstd(const char *path, const void *data, size_t size)
{
	if (starts_with_zstd_magic(data, size)) {
		fuzz_write_file(path, data, size);
		return;
	}
	size_t cap = ZSTD_compressBound(size);
	void *frame = malloc(cap);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	if (!frame || !cctx) {
		fprintf(stderr, "fuzz_write_zstd: out of memory\n");
		abort();
	}
	// the readers insist on checksummed frames, as tk writes them
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	size_t n = ZSTD_compress2(cctx, frame, cap, data, size);
	if (ZSTD_isError(n)) {
		fprintf(stderr, "fuzz_write_zstd: %s\n", ZSTD_getErrorName(n));
		abort();
	}
	fuzz_write_file(path, frame, n);
	ZSTD_freeCCtx(cctx);
	free(frame);
}

char *fuzz_strndup(const void *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s) {
		fprintf(stderr, "fuzz_strndup: out of memory\n");
		abort();
	}
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

const char *fuzz_fixture(const char *relative)
{
	static char path[4096];
	const char *root = getenv("TK_FUZZ_FIXTURES");
	snprintf(path, sizeof path, "%s/%s", root && *root ? root : "tests/fixtures", relative);
	if (access(path, R_OK)) {
		fprintf(stderr, "fuzz: fixture %s not found (run from the repository root "
			"or set TK_FUZZ_FIXTURES)\n", path);
		exit(1);
	}
	return path;
}

int fuzz_same_floats(const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&a[i], &b[i], sizeof a[i]) && !(isnan(a[i]) && isnan(b[i])))
			return 0;
	return 1;
}
