/* An output folder that appears whole or not at all: built under a
 * temporary name beside its final place, then renamed. */
#define _GNU_SOURCE
#include "tk_error.h"
#include "tk_export.h"
#include "tk_io.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tk_outdir {
	char *final_path;
	char *temp_path;
	int force;
	char file[PATH_MAX];
};

/* Removes a folder of plain files (what an export writes); not recursive
 * beyond one level on purpose: tk never writes deeper. */
static void remove_flat_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return;
	char file[PATH_MAX];
	for (struct dirent *e; (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(file, sizeof file, "%s/%s", path, e->d_name);
		unlink(file);
	}
	closedir(d);
	rmdir(path);
}

static char *sibling_name(const char *path, const char *tag)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	const char *slash = memrchr(path, '/', n);
	int dir_len = slash ? (int)(slash - path) : 0;
	const char *base = slash ? slash + 1 : path;
	int base_len = (int)(path + n - base);
	size_t cap = n + 32;
	char *s = tk_malloc(cap);
	if (s)
		snprintf(s, cap, "%.*s%s.%.*s.%s-XXXXXX", dir_len, path, slash ? "/" : "",
			 base_len, base, tag);
	return s;
}

/* 1 when name is a temporary folder name tk makes for an output named
 * base (".BASE.tmp-XXXXXX", or ".BASE.old-XXXXXX" for --force's old
 * folder). */
static int stale_name(const char *name, const char *base, size_t base_len)
{
	size_t tmp = tk_temp_name_base(name, "tmp"), old = tk_temp_name_base(name, "old");
	size_t n = tmp ? tmp : old;
	return n == base_len && strncmp(name + 1, base, base_len) == 0;
}

/* A killed export leaves its temporary folder beside the output: the
 * next export to the same name removes those (tk's names only, folders
 * only; anything else there is the user's). */
static void clear_stale(const char *path)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	const char *slash = memrchr(path, '/', n);
	const char *base = slash ? slash + 1 : path;
	size_t base_len = (size_t)(path + n - base);
	char dir[PATH_MAX], entry[PATH_MAX];
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct stat st;
	for (struct dirent *e; (e = readdir(d));) {
		if (!stale_name(e->d_name, base, base_len))
			continue;
		if (snprintf(entry, sizeof entry, "%s/%s", dir, e->d_name) >= (int)sizeof entry)
			continue;
		if (lstat(entry, &st) == 0 && S_ISDIR(st.st_mode))
			remove_flat_dir(entry);
	}
	closedir(d);
}

int tk_outdir_open(tk_outdir **out, const char *path, int force)
{
	*out = NULL;
	struct stat st;
	if (!force && stat(path, &st) == 0)
		return tk_fail(TK_ECANTCREAT, "%s: exists (use --force to replace it)", path);
	clear_stale(path);
	tk_outdir *d = tk_calloc(1, sizeof *d);
	if (!d)
		return TK_EOSERR;
	d->force = force;
	d->final_path = tk_strdup(path);
	d->temp_path = sibling_name(path, "tmp");
	if (!d->final_path || !d->temp_path) {
		tk_outdir_abort(d);
		return TK_EOSERR;
	}
	if (!mkdtemp(d->temp_path)) {
		int rc = tk_fail(TK_ECANTCREAT, "%s: cannot create a folder beside it: %s", path,
				 strerror(errno));
		free(d->temp_path);
		d->temp_path = NULL;
		tk_outdir_abort(d);
		return rc;
	}
	chmod(d->temp_path, 0755);
	*out = d;
	return TK_OK;
}

const char *tk_outdir_file(tk_outdir *d, const char *name)
{
	snprintf(d->file, sizeof d->file, "%s/%s", d->temp_path, name);
	return d->file;
}

static void free_outdir(tk_outdir *d)
{
	free(d->final_path);
	free(d->temp_path);
	free(d);
}

int tk_outdir_commit(tk_outdir *d)
{
	int rc = TK_OK;
	char *old = NULL;
	struct stat st;
	if (stat(d->final_path, &st) == 0) {
		/* --force: move the old one aside first, so that the new folder
		 * takes its name in one rename */
		old = sibling_name(d->final_path, "old");
		if (!old || !mkdtemp(old) || rmdir(old) != 0 || rename(d->final_path, old) != 0)
			rc = tk_fail(TK_ECANTCREAT, "%s: cannot move the old folder aside: %s",
				     d->final_path, strerror(errno));
	}
	if (!rc && rename(d->temp_path, d->final_path) != 0) {
		rc = tk_fail(TK_ECANTCREAT, "%s: cannot rename into place: %s", d->final_path,
			     strerror(errno));
		if (old)
			rename(old, d->final_path);
	}
	if (rc)
		remove_flat_dir(d->temp_path);
	else if (old)
		remove_flat_dir(old);
	free(old);
	free_outdir(d);
	return rc;
}

void tk_outdir_abort(tk_outdir *d)
{
	if (!d)
		return;
	if (d->temp_path)
		remove_flat_dir(d->temp_path);
	free_outdir(d);
}
