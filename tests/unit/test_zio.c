/* zstd streams: round trips, concatenated frames, truncation at every byte,
 * corruption, stdin/stdout, and failing outputs. */
#include "tk_error.h"
#include "tk_io.h"
#include "tkt.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *scratch(const char *name)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/zio-%s", tkt_tmpdir(), name);
	return path;
}

/* size bytes, compressible when `text`, else random */
static unsigned char *make_data(size_t size, int text)
{
	unsigned char *p = malloc(size ? size : 1);
	for (size_t i = 0; i < size; i++)
		p[i] = text ? (unsigned char)("the quick brown fox "[i % 20] + (i / 4096) % 3)
			    : (unsigned char)tkt_rand64();
	return p;
}

static int write_file(const char *path, const void *data, size_t size,
		      int level, int threads, size_t piece)
{
	tk_zwriter *w;
	int rc = tk_zwriter_open(&w, path, level, threads);
	if (rc != TK_OK)
		return rc;
	const unsigned char *p = data;
	for (size_t at = 0; at < size; at += piece) {
		size_t n = size - at < piece ? size - at : piece;
		rc = tk_zwriter_write(w, p + at, n);
		if (rc != TK_OK) {
			tk_zwriter_abort(w);
			return rc;
		}
	}
	return tk_zwriter_close(w);
}

/* Reads the whole stream in pieces of `piece` bytes; returns the status
 * and the bytes in *out (malloc'd), their count in *size. */
static int read_file(const char *path, unsigned char **out, size_t *size, size_t piece)
{
	tk_zreader *r;
	*out = NULL;
	*size = 0;
	int rc = tk_zreader_open(&r, path);
	if (rc != TK_OK)
		return rc;
	size_t cap = 1 << 16;
	unsigned char *buf = malloc(cap);
	for (;;) {
		if (*size + piece > cap) {
			cap = 2 * (*size + piece);
			buf = realloc(buf, cap);
		}
		size_t got;
		rc = tk_zreader_read(r, buf + *size, piece, &got);
		if (rc != TK_OK)
			break;
		*size += got;
		if (got < piece) {
			TKT_CHECK(tk_zreader_at_end(r), "short read but not at end");
			break;
		}
	}
	tk_zreader_close(r);
	*out = buf;
	return rc;
}

static unsigned char *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
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

static void test_roundtrip(void)
{
	static const size_t sizes[] = {0, 1, 7, 4096, 131072, 200000, 3 << 20};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		for (int variant = 0; variant < 4; variant++) {
			int text = variant & 1, threads = variant & 2 ? 2 : 1;
			size_t size = sizes[s];
			unsigned char *data = make_data(size, text);
			const char *path = scratch("rt.zst");
			/* pieces of odd sizes cross the gather buffer's edges */
			int rc = write_file(path, data, size, 3, threads, 65537);
			TKT_CHECK(rc == TK_OK, "write %zu: %s", size, tk_error_message());
			unsigned char *back;
			size_t n;
			rc = read_file(path, &back, &n, 1000);
			TKT_CHECK(rc == TK_OK, "read %zu: %s", size, tk_error_message());
			TKT_CHECK(n == size && memcmp(back, data, size) == 0,
				  "size %zu threads %d: got %zu bytes back", size, threads, n);
			free(back);
			free(data);
		}
	}
}

static void test_small_pieces_and_levels(void)
{
	size_t size = 300000;
	unsigned char *data = make_data(size, 1);
	const int levels[] = {-5, 1, 19};
	for (int i = 0; i < 3; i++) {
		const char *path = scratch("levels.zst");
		int rc = write_file(path, data, size, levels[i], 1, 3);
		TKT_CHECK(rc == TK_OK, "level %d: %s", levels[i], tk_error_message());
		unsigned char *back;
		size_t n;
		rc = read_file(path, &back, &n, 1);
		TKT_CHECK(rc == TK_OK && n == size && memcmp(back, data, size) == 0,
			  "level %d: rc %d n %zu", levels[i], rc, n);
		free(back);
	}
	tk_zwriter *w;
	int rc = tk_zwriter_open(&w, scratch("bad-level.zst"), 99, 1);
	TKT_CHECK(rc == TK_EUSAGE && strstr(tk_error_message(), "level"),
		  "rc %d: %s", rc, tk_error_message());
	free(data);
}

static void test_concatenated_frames(void)
{
	size_t na = 100000, nb = 5000;
	unsigned char *a = make_data(na, 1), *b = make_data(nb, 0);
	char pa[4096], pb[4096];
	snprintf(pa, sizeof pa, "%s", scratch("a.zst"));
	snprintf(pb, sizeof pb, "%s", scratch("b.zst"));
	TKT_CHECK(write_file(pa, a, na, 3, 1, na) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(write_file(pb, b, nb, 3, 2, nb) == TK_OK, "%s", tk_error_message());
	size_t za = 0, zb = 0;
	unsigned char *ca = slurp(pa, &za), *cb = slurp(pb, &zb);
	unsigned char *cat = malloc(za + zb + za);
	memcpy(cat, ca, za);
	memcpy(cat + za, cb, zb);
	memcpy(cat + za + zb, ca, za);
	spit(scratch("cat.zst"), cat, za + zb + za);
	unsigned char *back;
	size_t n;
	int rc = read_file(scratch("cat.zst"), &back, &n, 777);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	TKT_CHECK(n == na + nb + na && memcmp(back, a, na) == 0 &&
		  memcmp(back + na, b, nb) == 0 && memcmp(back + na + nb, a, na) == 0,
		  "concatenation read back wrong (%zu bytes)", n);
	free(back);
	free(a);
	free(b);
	free(ca);
	free(cb);
	free(cat);
}

static void test_truncated_at_every_byte(void)
{
	size_t size = 3000;
	unsigned char *data = make_data(size, 0);
	TKT_CHECK(write_file(scratch("t.zst"), data, size, 3, 1, size) == TK_OK,
		  "%s", tk_error_message());
	size_t zn = 0;
	unsigned char *z = slurp(scratch("t.zst"), &zn);
	int undetected = 0;
	for (size_t cut = 1; cut < zn; cut++) {
		spit(scratch("cut.zst"), z, cut);
		unsigned char *back;
		size_t n;
		int rc = read_file(scratch("cut.zst"), &back, &n, 4096);
		if (rc != TK_EDATA || !strstr(tk_error_message(), "truncated")) {
			if (undetected++ < 3)
				TKT_CHECK(0, "cut at %zu of %zu: rc %d: %s", cut, zn, rc,
					  tk_error_message());
		}
		free(back);
	}
	TKT_CHECK(undetected == 0, "%d of %zu cuts undetected", undetected, zn - 1);
	free(z);
	free(data);
}

static void test_flipped_bytes(void)
{
	/* compressible text and incompressible bytes, half each */
	size_t size = 2000;
	unsigned char *data = make_data(size, 1), *noise = make_data(size / 2, 0);
	memcpy(data + size / 2, noise, size / 2);
	free(noise);
	TKT_CHECK(write_file(scratch("f.zst"), data, size, 3, 1, size) == TK_OK,
		  "%s", tk_error_message());
	size_t zn = 0;
	unsigned char *z = slurp(scratch("f.zst"), &zn);
	int wrong = 0, harmless = 0;
	for (size_t at = 0; at < zn; at++) {
		for (int bit = 0; bit < 8; bit += 3) {
			z[at] ^= (unsigned char)(1 << bit);
			spit(scratch("flip.zst"), z, zn);
			z[at] ^= (unsigned char)(1 << bit);
			unsigned char *back;
			size_t n;
			int rc = read_file(scratch("flip.zst"), &back, &n, 4096);
			/* an error, or (a flip zstd cannot see, say in the
			 * window size) the right data: never wrong data */
			if (rc == TK_OK && (n != size || memcmp(back, data, size) != 0)) {
				if (wrong++ < 3)
					TKT_CHECK(0, "flip of bit %d at byte %zu gave wrong data", bit, at);
			} else if (rc == TK_OK) {
				harmless++;
			} else {
				TKT_CHECK(rc == TK_EDATA && tk_error_message()[0],
					  "flip at %zu: rc %d: %s", at, rc, tk_error_message());
			}
			free(back);
		}
	}
	TKT_CHECK(wrong == 0, "%d flips gave wrong data", wrong);
	printf("# %d of %zu flips decode to the right data (frame header bits)\n",
	       harmless, 3 * zn);
	free(z);
	free(data);
}

static void test_checksum_message(void)
{
	size_t size = 50000;
	unsigned char *data = make_data(size, 0);
	TKT_CHECK(write_file(scratch("c.zst"), data, size, 1, 1, size) == TK_OK,
		  "%s", tk_error_message());
	size_t zn = 0;
	unsigned char *z = slurp(scratch("c.zst"), &zn);
	/* random data is stored raw: a flip in the middle changes content
	 * only, which the content checksum alone can catch */
	z[zn / 2] ^= 0x10;
	spit(scratch("c.zst"), z, zn);
	unsigned char *back;
	size_t n;
	int rc = read_file(scratch("c.zst"), &back, &n, 4096);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "checksum") &&
		  strstr(tk_error_message(), "c.zst"), "rc %d: %s", rc, tk_error_message());
	free(back);
	free(z);
	free(data);
}

static void test_not_zstd(void)
{
	spit(scratch("plain.txt"), "hello, world\n", 13);
	unsigned char *back;
	size_t n;
	int rc = read_file(scratch("plain.txt"), &back, &n, 100);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "not zstd") &&
		  strstr(tk_error_message(), "plain.txt"), "rc %d: %s", rc, tk_error_message());
	free(back);
	/* the error sticks: every later read repeats it */
	tk_zreader *r;
	TKT_CHECK(tk_zreader_open(&r, scratch("plain.txt")) == TK_OK, "%s", tk_error_message());
	char buf[8];
	TKT_CHECK(tk_zreader_read_exact(r, buf, 4) == TK_EDATA, "first read");
	TKT_CHECK(tk_zreader_read_exact(r, buf, 4) == TK_EDATA, "second read");
	TKT_CHECK(!tk_zreader_at_end(r), "an error is not the end");
	tk_zreader_close(r);
}

static void test_empty_and_missing(void)
{
	spit(scratch("empty.zst"), "", 0);
	tk_zreader *r;
	TKT_CHECK(tk_zreader_open(&r, scratch("empty.zst")) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_zreader_at_end(r), "empty file is at end");
	char c;
	int rc = tk_zreader_read_exact(r, &c, 1);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "truncated"), "rc %d: %s",
		  rc, tk_error_message());
	tk_zreader_close(r);
	rc = tk_zreader_open(&r, scratch("no-such-file.zst"));
	TKT_CHECK(rc == TK_ENOINPUT && strstr(tk_error_message(), "no-such-file"),
		  "rc %d: %s", rc, tk_error_message());
}

static void test_stdin_stdout(void)
{
	size_t size = 100000;
	unsigned char *data = make_data(size, 1);
	const char *path = scratch("stdout.zst");
	int saved = dup(STDOUT_FILENO);
	fflush(stdout);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	int rc = write_file("-", data, size, 3, 2, 10000);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());

	saved = dup(STDIN_FILENO);
	fd = open(path, O_RDONLY);
	dup2(fd, STDIN_FILENO);
	close(fd);
	clearerr(stdin);
	unsigned char *back;
	size_t n;
	rc = read_file("-", &back, &n, 5000);
	dup2(saved, STDIN_FILENO);
	close(saved);
	clearerr(stdin);
	TKT_CHECK(rc == TK_OK && n == size && memcmp(back, data, size) == 0,
		  "rc %d n %zu: %s", rc, n, tk_error_message());
	free(back);
	free(data);
}

/* Through a pipe fed in small pieces: reads return partial input. */
static void test_pipe(void)
{
	size_t size = 400000;
	unsigned char *data = make_data(size, 0);
	TKT_CHECK(write_file(scratch("pipe.zst"), data, size, 3, 1, size) == TK_OK, "%s",
		  tk_error_message());
	size_t zn = 0;
	unsigned char *z = slurp(scratch("pipe.zst"), &zn);
	int fds[2];
	TKT_CHECK(pipe(fds) == 0, "pipe");
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		close(fds[0]);
		for (size_t at = 0; at < zn; at += 1000) {
			size_t n = zn - at < 1000 ? zn - at : 1000;
			if (write(fds[1], z + at, n) != (ssize_t)n)
				_exit(1);
			if (at % 50000 == 0)
				usleep(1000);
		}
		_exit(0);
	}
	close(fds[1]);
	int saved = dup(STDIN_FILENO);
	dup2(fds[0], STDIN_FILENO);
	close(fds[0]);
	unsigned char *back;
	size_t n;
	int rc = read_file("-", &back, &n, 3000);
	dup2(saved, STDIN_FILENO);
	close(saved);
	clearerr(stdin);
	int status;
	waitpid(child, &status, 0);
	TKT_CHECK(rc == TK_OK && n == size && memcmp(back, data, size) == 0,
		  "rc %d n %zu: %s", rc, n, tk_error_message());
	free(back);
	free(z);
	free(data);
}

static void test_dev_full(void)
{
	if (access("/dev/full", W_OK) != 0)
		TKT_SKIP("no /dev/full");
	size_t size = 1 << 20;
	unsigned char *data = make_data(size, 0);
	int rc = write_file("/dev/full", data, size, 1, 1, 4096);
	TKT_CHECK(rc == TK_EIO && strstr(tk_error_message(), "write failed"),
		  "rc %d: %s", rc, tk_error_message());
	/* a tiny stream fails at close instead */
	rc = write_file("/dev/full", data, 10, 1, 1, 10);
	TKT_CHECK(rc == TK_EIO, "small: rc %d: %s", rc, tk_error_message());
	free(data);
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

static void test_unwritable_output(void)
{
	const char *dir = tkt_tmpdir();
	int before = count_temp_files(dir);
	/* the final name is a folder: the rename fails at commit */
	char path[4096];
	snprintf(path, sizeof path, "%s/zio-a-folder", dir);
	mkdir(path, 0755);
	unsigned char data[100] = {0};
	int rc = write_file(path, data, sizeof data, 3, 1, sizeof data);
	struct stat st;
	TKT_CHECK(rc == TK_ECANTCREAT && strstr(tk_error_message(), "zio-a-folder"),
		  "rc %d: %s", rc, tk_error_message());
	TKT_CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "folder replaced");
	TKT_CHECK(count_temp_files(dir) == before, "temporary file left behind");
	rmdir(path);
	/* a missing folder: nothing can be created */
	snprintf(path, sizeof path, "%s/no-such-dir/out.zst", dir);
	rc = write_file(path, data, sizeof data, 3, 1, sizeof data);
	TKT_CHECK(rc == TK_ECANTCREAT, "rc %d: %s", rc, tk_error_message());
	TKT_CHECK(stat(path, &st) != 0, "file exists");
	/* an aborted writer leaves nothing under the final name */
	snprintf(path, sizeof path, "%s/zio-aborted.zst", dir);
	tk_zwriter *w;
	TKT_CHECK(tk_zwriter_open(&w, path, 3, 1) == TK_OK, "%s", tk_error_message());
	tk_zwriter_write(w, data, sizeof data);
	tk_zwriter_abort(w);
	TKT_CHECK(stat(path, &st) != 0, "aborted file exists");
	TKT_CHECK(count_temp_files(dir) == before, "temporary file left behind");
	if (geteuid() != 0) {
		/* a read-only folder (root could write there anyway) */
		snprintf(path, sizeof path, "%s/zio-ro", dir);
		mkdir(path, 0555);
		char file[4200];
		snprintf(file, sizeof file, "%s/out.zst", path);
		rc = write_file(file, data, sizeof data, 3, 1, sizeof data);
		TKT_CHECK(rc == TK_ECANTCREAT, "rc %d: %s", rc, tk_error_message());
		TKT_CHECK(stat(file, &st) != 0 && count_temp_files(path) == 0, "file left");
		rmdir(path);
	}
}

int main(void)
{
	TKT_RUN(test_roundtrip);
	TKT_RUN(test_small_pieces_and_levels);
	TKT_RUN(test_concatenated_frames);
	TKT_RUN(test_truncated_at_every_byte);
	TKT_RUN(test_flipped_bytes);
	TKT_RUN(test_checksum_message);
	TKT_RUN(test_not_zstd);
	TKT_RUN(test_empty_and_missing);
	TKT_RUN(test_stdin_stdout);
	TKT_RUN(test_pipe);
	TKT_RUN(test_dev_full);
	TKT_RUN(test_unwritable_output);
	return tkt_done();
}
