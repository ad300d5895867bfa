#include "tk_run.h"
#include "tk_error.h"
#include "tk_io.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void join(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

/* The files a run writes in its folder (config.json, metrics.jsonl,
 * checkpoints.jsonl, final.tkc, step-NNNNNN.tkc), base[0, n). */
static int run_file(const char *base, size_t n)
{
	static const char *const fixed[] = {"config.json", "metrics.jsonl", "checkpoints.jsonl",
					    "final.tkc", NULL};
	for (size_t i = 0; fixed[i]; i++)
		if (n == strlen(fixed[i]) && strncmp(base, fixed[i], n) == 0)
			return 1;
	size_t digits = 0;
	while (5 + digits < n && isdigit((unsigned char)base[5 + digits]))
		digits++;
	return n > 9 && strncmp(base, "step-", 5) == 0 && digits > 0 && 5 + digits + 4 == n &&
	       strncmp(base + 5 + digits, ".tkc", 4) == 0;
}

/* A run killed while writing a checkpoint or rewriting a log leaves the
 * temporary file (".step-000004.tkc.tmp-XXXXXX") in its folder: the next
 * run removes those, and only those, so the folder holds no stale part. */
static void clear_stale_temporaries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char path[4096];
	struct stat st;
	for (struct dirent *e; (e = readdir(d));) {
		size_t n = tk_temp_name_base(e->d_name, "tmp");
		if (!n || !run_file(e->d_name + 1, n))
			continue;
		join(path, sizeof path, dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			unlink(path);
	}
	closedir(d);
}

int tk_run_open_dir(const char *dir, int resume)
{
	char path[4096];
	if (mkdir(dir, 0777) && errno != EEXIST)
		return tk_fail(TK_ECANTCREAT, "%s: %s", dir, strerror(errno));
	clear_stale_temporaries(dir);
	struct stat sb;
	join(path, sizeof path, dir, "checkpoints.jsonl");
	if (!resume && stat(path, &sb) == 0)
		return tk_fail(TK_ECANTCREAT, "%s already holds a run (checkpoints.jsonl): continue it "
			       "with --resume %s, or write to another folder with -o", dir, dir);
	if (!resume) {
		join(path, sizeof path, dir, "metrics.jsonl");
		remove(path);
	}
	return TK_OK;
}

int tk_run_append(const char *dir, const char *name, const char *line)
{
	char path[4096];
	join(path, sizeof path, dir, name);
	FILE *f = fopen(path, "a");
	if (!f)
		return tk_fail(TK_EIO, "%s: %s", path, strerror(errno));
	/* synced, so that a crash after a step cannot lose a record whose
	 * state file is already in place */
	int bad = fputs(line, f) == EOF || fflush(f) || fsync(fileno(f));
	int err = errno;
	if (fclose(f) && !bad) {
		bad = 1;
		err = errno;
	}
	return bad ? tk_fail(TK_EIO, "%s: %s", path, strerror(err)) : TK_OK;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

void tk_run_catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL); // mpirun passes it on; sbatch --signal=USR1@N sends it
}

int tk_run_stop_signal(void)
{
	return stop_signal;
}
