/* Atomic output: write to a temporary name beside the target, fsync, then
 * rename, so that a crash, a full disk or a signal never leaves a half
 * file under the final name. */
#include "tk_error.h"
#include "tk_io.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tk_outfile {
	int fd;
	int is_stdout;   /* written in place: stdout, a device or a FIFO */
	char *final_path;
	char *temp_path;
	struct tk_outfile *next_pending; /* the list of uncommitted files */
};

/* Every file still under its temporary name, so that a process exiting
 * on an error (tk_die) removes them all, whichever code owned them, and no
 * owner has to keep a second pointer to its file for an exit handler. */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static tk_outfile *pending;

static void add_pending(tk_outfile *f)
{
	pthread_mutex_lock(&pending_lock);
	f->next_pending = pending;
	pending = f;
	pthread_mutex_unlock(&pending_lock);
}

/* Takes f off the list; 0 when it was not on it (already discarded). */
static int remove_pending(tk_outfile *f)
{
	int found = 0;
	pthread_mutex_lock(&pending_lock);
	for (tk_outfile **at = &pending; *at; at = &(*at)->next_pending)
		if (*at == f) {
			*at = f->next_pending;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&pending_lock);
	return found;
}

void tk_outfile_discard_pending(void)
{
	pthread_mutex_lock(&pending_lock);
	for (tk_outfile *f = pending; f; f = f->next_pending) {
		if (f->fd >= 0)
			close(f->fd);
		f->fd = -1;
		unlink(f->temp_path);
	}
	pending = NULL;
	pthread_mutex_unlock(&pending_lock);
}

static int temp_path_for(const char *path, char **out)
{
	char *copy = tk_strdup(path), *copy2 = tk_strdup(path);
	if (!copy || !copy2) {
		free(copy);
		free(copy2);
		return TK_EOSERR;
	}
	const char *dir = dirname(copy), *base = basename(copy2);
	size_t n = strlen(dir) + strlen(base) + 32;
	*out = tk_malloc(n);
	if (*out)
		snprintf(*out, n, "%s/.%s.tmp-XXXXXX", dir, base);
	free(copy);
	free(copy2);
	return *out ? TK_OK : TK_EOSERR;
}

int tk_outfile_open(tk_outfile **out, const char *path, int binary)
{
	*out = NULL;
	tk_outfile *f = tk_calloc(1, sizeof *f);
	if (!f)
		return TK_EOSERR;
	f->fd = -1;
	if (strcmp(path, "-") == 0) {
		if (binary && isatty(STDOUT_FILENO)) {
			free(f);
			return tk_fail(TK_EUSAGE, "refusing to write binary data to a terminal (use -o FILE or a pipe)");
		}
		f->fd = STDOUT_FILENO;
		f->is_stdout = 1;
		*out = f;
		return TK_OK;
	}
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		/* a device or FIFO (/dev/null, a named pipe) is written in
		 * place: renaming over it would replace the device */
		f->fd = open(path, O_WRONLY);
		if (f->fd < 0) {
			free(f);
			return tk_fail(TK_ECANTCREAT, "%s: cannot open: %s", path, strerror(errno));
		}
		f->is_stdout = 1;
		f->final_path = tk_strdup(path); /* for messages only */
		*out = f;
		return TK_OK;
	}
	int rc = temp_path_for(path, &f->temp_path);
	if (rc == TK_OK && !(f->final_path = tk_strdup(path)))
		rc = TK_EOSERR;
	if (rc != TK_OK) {
		free(f->temp_path);
		free(f);
		return rc;
	}
	f->fd = mkstemp(f->temp_path);
	if (f->fd < 0) {
		rc = tk_fail(TK_ECANTCREAT, "%s: cannot create: %s", path, strerror(errno));
		free(f->temp_path);
		free(f->final_path);
		free(f);
		return rc;
	}
	/* mkstemp makes 0600; give the file the usual umask-derived mode */
	mode_t mask = umask(0);
	umask(mask);
	fchmod(f->fd, 0666 & ~mask);
	add_pending(f);
	*out = f;
	return TK_OK;
}

size_t tk_temp_name_base(const char *name, const char *tag)
{
	size_t n = strlen(name), t = strlen(tag);
	/* "." BASE "." TAG "-" XXXXXX, BASE not empty */
	if (name[0] != '.' || n < 1 + 1 + 1 + t + 1 + 6)
		return 0;
	const char *suffix = name + n - (1 + t + 1 + 6);
	if (suffix[0] != '.' || strncmp(suffix + 1, tag, t) != 0 || suffix[1 + t] != '-')
		return 0;
	for (const char *x = suffix + 1 + t + 1; *x; x++)
		if (!isalnum((unsigned char)*x))
			return 0;
	return (size_t)(suffix - (name + 1));
}

const char *tk_outfile_path(const tk_outfile *f)
{
	return f->final_path ? f->final_path : "(stdout)";
}

int tk_outfile_write(tk_outfile *f, const void *data, size_t size)
{
	const char *p = data;
	while (size > 0) {
		ssize_t n = write(f->fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return tk_fail(TK_EIO, "%s: write failed: %s", tk_outfile_path(f),
				       n < 0 ? strerror(errno) : "no progress");
		p += n;
		size -= (size_t)n;
	}
	return TK_OK;
}

static void free_outfile(tk_outfile *f)
{
	free(f->temp_path);
	free(f->final_path);
	free(f);
}

static void sync_parent_dir(const char *path)
{
	char *copy = tk_strdup(path);
	if (!copy)
		return;
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd); /* best effort: the rename is already done */
		close(dfd);
	}
	free(copy);
}

int tk_outfile_commit(tk_outfile *f)
{
	int rc = TK_OK;
	if (f->is_stdout) {
		/* nothing to rename; a device or FIFO opened here is closed */
		if (f->fd != STDOUT_FILENO && close(f->fd) != 0)
			rc = tk_fail(TK_EIO, "output: close failed: %s", strerror(errno));
		free_outfile(f);
		return rc;
	}
	if (!remove_pending(f)) {
		/* tk_outfile_discard_pending already removed the file */
		rc = tk_fail(TK_EIO, "%s: discarded before commit", f->final_path);
		free_outfile(f);
		return rc;
	}
	if (fsync(f->fd) != 0 && errno != EINVAL)
		rc = tk_fail(TK_EIO, "%s: fsync failed: %s", f->final_path, strerror(errno));
	if (close(f->fd) != 0 && rc == TK_OK)
		rc = tk_fail(TK_EIO, "%s: close failed: %s", f->final_path, strerror(errno));
	f->fd = -1;
	if (rc == TK_OK && rename(f->temp_path, f->final_path) != 0)
		rc = tk_fail(TK_ECANTCREAT, "%s: cannot rename into place: %s",
			     f->final_path, strerror(errno));
	if (rc != TK_OK)
		unlink(f->temp_path);
	else
		sync_parent_dir(f->final_path);
	free_outfile(f);
	return rc;
}

void tk_outfile_abort(tk_outfile *f)
{
	if (!f)
		return;
	if (!f->is_stdout) {
		if (remove_pending(f)) {
			close(f->fd);
			unlink(f->temp_path);
		}
	} else if (f->fd != STDOUT_FILENO) {
		close(f->fd);
	}
	free_outfile(f);
}

int tk_open_input(FILE **out, const char *path)
{
	if (strcmp(path, "-") == 0) {
		*out = stdin;
		return TK_OK;
	}
	*out = fopen(path, "rb");
	if (!*out)
		return tk_fail(TK_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(*out), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(*out);
		*out = NULL;
		return tk_fail(TK_ENOINPUT, "%s: is a folder, not a file", path);
	}
	return TK_OK;
}

void tk_close_input(FILE *f)
{
	if (f && f != stdin)
		fclose(f);
}
