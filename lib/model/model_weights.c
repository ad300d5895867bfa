/* A model's weights fingerprint (tk_model.h, tk_model_weights_hex): XXH64
 * of its weight files' bytes.  A file is hashed once: the hash is kept in
 * TK_HOME/weight-fingerprints (default ~/.cache/tk) under the file's
 * device, inode, size and modification time, so a 16 GB base is not read
 * again on every load; a file that changes gets a new line. */
#include "base/xxh64.h"
#include "tk_error.h"
#include "tk_mapfile.h"
#include "tk_model.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The cache file's path, or 0 when there is no home for it. */
static int cache_path(char *buf, size_t cap)
{
	const char *home = getenv("TK_HOME"), *user = getenv("HOME");
	int n = home && *home ? snprintf(buf, cap, "%s/weight-fingerprints", home)
	      : user && *user ? snprintf(buf, cap, "%s/.cache/tk/weight-fingerprints", user) : -1;
	return n > 0 && (size_t)n < cap;
}

/* "dev ino size sec nsec" of a file: what the cache is keyed by. */
static int file_key(const char *path, char *key, size_t cap)
{
	struct stat sb;
	if (stat(path, &sb))
		return 0;
	snprintf(key, cap, "%ju %ju %jd %jd %ld", (uintmax_t)sb.st_dev, (uintmax_t)sb.st_ino,
		 (intmax_t)sb.st_size, (intmax_t)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec);
	return 1;
}

static int cache_find(const char *key, uint64_t *hash)
{
	char path[4096], line[8192];
	FILE *f = cache_path(path, sizeof path) ? fopen(path, "r") : NULL;
	if (!f)
		return 0;
	size_t k = strlen(key);
	int found = 0;
	while (!found && fgets(line, sizeof line, f))
		found = !strncmp(line, key, k) && line[k] == ' ' &&
			sscanf(line + k + 1, "%16" SCNx64, hash) == 1;
	fclose(f);
	return found;
}

/* One line appended in one write; a cache that cannot be written is no
 * error (the file is hashed again next time). */
static void cache_add(const char *key, uint64_t hash, const char *file)
{
	char path[4096], line[8192];
	if (!cache_path(path, sizeof path))
		return;
	char *slash = strrchr(path, '/');
	*slash = '\0';
	mkdir(path, 0755);
	*slash = '/';
	int n = snprintf(line, sizeof line, "%s %016" PRIx64 " %s\n", key, hash, file);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		return;
	if (n > 0 && (size_t)n < sizeof line) {
		ssize_t w = write(fd, line, (size_t)n); // a short one leaves a line no key matches
		(void)w;
	}
	close(fd);
}

static int hash_file(const char *path, uint64_t *hash)
{
	char key[256];
	if (!file_key(path, key, sizeof key))
		return tk_fail(TK_ENOINPUT, "%s: cannot stat it to fingerprint its weights", path);
	if (cache_find(key, hash))
		return TK_OK;
	tk_mapfile *m;
	int rc = tk_mapfile_open(&m, path);
	if (rc)
		return rc;
	*hash = tk_xxh64(m->data, m->size, 0);
	tk_mapfile_close(m);
	cache_add(key, *hash, path);
	return TK_OK;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder's .safetensors files, each hashed, in name order; their hashes
 * hashed in turn. */
static int hash_folder(const char *dir, uint64_t *hash)
{
	DIR *d = opendir(dir);
	if (!d)
		return tk_fail(TK_ENOINPUT, "%s: cannot open it to fingerprint its weights", dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = TK_OK;
	for (struct dirent *e; !rc && (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (len < 12 || strcmp(e->d_name + len - 12, ".safetensors"))
			continue;
		if (n == cap) {
			char **p = tk_realloc(names, (cap = cap ? cap * 2 : 8) * sizeof *names);
			rc = p ? TK_OK : TK_EOSERR;
			names = p ? p : names;
		}
		if (!rc && !(names[n++] = tk_strdup(e->d_name)))
			rc = TK_EOSERR;
	}
	closedir(d);
	qsort(names, n, sizeof *names, by_name);
	uint64_t *each = tk_calloc(n ? n : 1, sizeof *each);
	char path[4096];
	for (size_t i = 0; !rc && i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		rc = each ? hash_file(path, &each[i]) : TK_EOSERR;
	}
	if (!rc)
		*hash = tk_xxh64(each, n * sizeof *each, 0);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(each);
	return rc;
}

int tk_model_weights_hex(const tk_model *m, char out[17])
{
	out[0] = '\0';
	if (!m->path)
		return TK_OK;
	struct stat sb;
	if (stat(m->path, &sb))
		return tk_fail(TK_ENOINPUT, "%s: cannot stat it to fingerprint its weights", m->path);
	uint64_t h;
	int rc = S_ISDIR(sb.st_mode) ? hash_folder(m->path, &h) : hash_file(m->path, &h);
	if (!rc)
		snprintf(out, 17, "%016" PRIx64, h);
	return rc;
}
