#include "tk_run.h"
#include "tk_error.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void join(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

int tk_run_open_dir(const char *dir, int resume)
{
	char path[4096];
	if (mkdir(dir, 0777) && errno != EEXIST)
		return tk_fail(TK_ECANTCREAT, "%s: %s", dir, strerror(errno));
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
	if (!f || fputs(line, f) == EOF || fflush(f) || fclose(f))
		return tk_fail(TK_EIO, "%s: %s", path, strerror(errno));
	return TK_OK;
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
}

int tk_run_stop_signal(void)
{
	return stop_signal;
}
