/* The reward program: one child process for the whole run, JSON Lines to
 * its stdin and from its stdout, driven by poll() so that neither side's
 * pipe can fill and stall the other, with a timeout on silence
 * (tk_rl.h, tk-rl(1)). */
#define _GNU_SOURCE
#include "rl_internal.h"

#include "tk_error.h"
#include "tk_io.h"
#include "tk_utf8.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ANSWER ((size_t)1 << 20)
/* Seconds to wait after a step's last answer for a line too many (the
 * answer of a request that an extra line made look answered): long
 * enough for a quick program's last answer, short beside a step. */
#define STRAY_WAIT 0.05

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* poll's timeout in milliseconds, clamped to what an int holds. */
static int poll_ms(double seconds)
{
	double ms = ceil(seconds * 1000);
	return ms <= 0 ? 0 : ms >= INT_MAX ? INT_MAX : (int)ms;
}

/* ---- the protocol ------------------------------------------------------- */

char *tk_rl_request_line(const tk_rl_sample *s)
{
	const tk_rl_prompt *p = s->prompt;
	cJSON *o = cJSON_CreateObject();
	cJSON *id = cJSON_Parse(p->id_json), *msgs = cJSON_Parse(p->messages_json);
	cJSON *meta = p->meta_json ? cJSON_Parse(p->meta_json) : cJSON_CreateObject();
	cJSON_AddItemToObject(o, "id", id ? id : cJSON_CreateNull());
	cJSON_AddNumberToObject(o, "group", (double)s->group);
	cJSON_AddItemToObject(o, "messages", msgs ? msgs : cJSON_CreateArray());
	cJSON_AddStringToObject(o, "text", s->text);
	cJSON_AddBoolToObject(o, "complete", s->complete);
	cJSON_AddItemToObject(o, "meta", meta ? meta : cJSON_CreateObject());
	char *line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!line)
		tk_fail(TK_EOSERR, "out of memory");
	return line;
}

/* At most 60 bytes of what the program said, for a message. */
void rl_excerpt(char *out, size_t cap, const char *line, size_t len)
{
	size_t n = len < 60 ? len : 60, o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)line[i];
		o += (size_t)snprintf(out + o, cap - o, c >= 32 && c < 127 ? "%c" : "\\x%02x", c);
	}
	if (len > n && o + 4 < cap)
		snprintf(out + o, cap - o, "...");
}

static int bad_answer(const char *line, size_t len, const char *what)
{
	char shown[320];
	rl_excerpt(shown, sizeof shown, line, len);
	return tk_fail(TK_EDATA, "answered '%s': %s; each answer is one line "
		       "{\"reward\": NUMBER} (see tk-rl(1))", shown, what);
}

/* The names tk-rl writes under env/all/ itself (cmd/tk-rl.c env_metrics,
 * tk-rl(1)): a program metric of the same name would put the key twice
 * in one metrics line. */
static const char *const own_metrics[] = {
	"reward/total", "reward/std", "correct", "format", "frac_mixed", "frac_all_good",
	"frac_all_bad", "ac_tokens_per_turn", "total_ac_tokens", NULL
};

/* Bytes of a metric name, so that "env/all/NAME" stays a short key. */
#define MAX_METRIC_NAME 200

static int own_metric(const char *name)
{
	for (size_t i = 0; own_metrics[i]; i++)
		if (!strcmp(name, own_metrics[i]))
			return 1;
	return 0;
}

/* Each metric a name that makes a valid, unique JSON key and, when a
 * number, a finite one (JSON has no inf: 1e999 would vanish as null). */
static int check_metrics(const cJSON *metrics, const char *line, size_t len)
{
	char why[400];
	for (const cJSON *m = metrics->child; m; m = m->next) {
		size_t n = strlen(m->string);
		if (!tk_utf8_valid(m->string, n))
			return bad_answer(line, len, "a metric name is not valid UTF-8");
		if (n == 0 || n > MAX_METRIC_NAME) {
			snprintf(why, sizeof why, "a metric name of %zu bytes (1 to %d)", n,
				 MAX_METRIC_NAME);
			return bad_answer(line, len, why);
		}
		if (own_metric(m->string)) {
			snprintf(why, sizeof why, "metric \"%s\" is one tk-rl writes itself "
				 "(env/all/%s); name it otherwise", m->string, m->string);
			return bad_answer(line, len, why);
		}
		if (cJSON_IsNumber(m) && !isfinite(m->valuedouble)) {
			snprintf(why, sizeof why, "metric \"%.200s\" is not finite", m->string);
			return bad_answer(line, len, why);
		}
	}
	return TK_OK;
}

int tk_rl_parse_answer(const char *line, size_t len, tk_rl_score *out)
{
	cJSON *o = tk_jsonl_parse(line, len);
	int rc = TK_OK;
	const cJSON *reward = cJSON_GetObjectItemCaseSensitive(o, "reward");
	const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(o, "metrics");
	const cJSON *correct = cJSON_GetObjectItemCaseSensitive(o, "correct");
	if (!o) {
		char what[256];
		snprintf(what, sizeof what, "%s", tk_error_message());
		rc = bad_answer(line, len, what);
	} else if (!cJSON_IsNumber(reward))
		rc = bad_answer(line, len, "no number \"reward\"");
	else if (!isfinite(reward->valuedouble))
		rc = bad_answer(line, len, "the reward is not finite");
	else if (metrics && !cJSON_IsObject(metrics))
		rc = bad_answer(line, len, "\"metrics\" is not an object");
	else if (metrics && check_metrics(metrics, line, len))
		rc = TK_EDATA;
	else if (correct && !cJSON_IsBool(correct) && !cJSON_IsNumber(correct))
		rc = bad_answer(line, len, "\"correct\" is neither a boolean nor a number");
	if (!rc) {
		out->reward = reward->valuedouble;
		out->correct = !correct ? -1 : cJSON_IsBool(correct) ? cJSON_IsTrue(correct)
								     : correct->valuedouble != 0;
		out->formatted = 1;
		out->metrics_json = metrics ? cJSON_PrintUnformatted(metrics) : NULL;
		if (metrics && !out->metrics_json)
			rc = tk_fail(TK_EOSERR, "out of memory");
	}
	cJSON_Delete(o);
	return rc;
}

/* ---- the process -------------------------------------------------------- */

int rl_child_start(rl_child *c, const char *role, const char *command, double timeout)
{
	int in[2], out[2];
	memset(c, 0, sizeof *c);
	c->to = c->from = -1;
	c->timeout = timeout;
	c->role = role;
	if (!(c->command = tk_strdup(command)))
		return TK_EOSERR;
	if (pipe2(in, O_CLOEXEC))
		return tk_fail(TK_EOSERR, "pipe: %s", strerror(errno));
	if (pipe2(out, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return tk_fail(TK_EOSERR, "pipe: %s", strerror(errno));
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		// its own process group, so a hung program and its children all stop
		setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return tk_fail(TK_EOSERR, "fork: %s", strerror(errno));
	}
	setpgid(pid, pid); // also here: no race with the first kill
	signal(SIGPIPE, SIG_IGN);
	c->pid = pid;
	c->to = in[1];
	c->from = out[0];
	fcntl(c->to, F_SETFL, fcntl(c->to, F_GETFL) | O_NONBLOCK);
	return TK_OK;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Waits up to `seconds` for the program to end; 1 and *status when it did. */
static int reap(rl_child *c, double seconds, int *status)
{
	double until = now() + seconds;
	for (;;) {
		pid_t r = waitpid(c->pid, status, WNOHANG);
		if (r > 0 || (r < 0 && errno != EINTR)) {
			c->pid = 0;  // ended (or, ECHILD, already reaped)
			if (r < 0)
				*status = 0;
			return 1;
		}
		if (now() >= until)
			return 0;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static void kill_group(rl_child *c)
{
	int status;
	if (c->pid <= 0)
		return;
	kill(-c->pid, SIGKILL);
	kill(c->pid, SIGKILL);
	reap(c, 5, &status);
	c->pid = 0;
}

void rl_child_stop(rl_child *c)
{
	int status;
	close_fd(&c->to);   // end of input: a well-behaved program exits now
	if (c->pid > 0 && !reap(c, 1, &status))
		kill_group(c);
	close_fd(&c->from);
	free(c->command);
	free(c->buf);
	memset(c, 0, sizeof *c);
	c->to = c->from = -1;
}

/* The program stopped talking (end of its output or a broken pipe): how
 * it ended, in words. */
static int died(rl_child *c, size_t got, size_t n)
{
	int status = 0;
	c->failed = 1;
	close_fd(&c->to);
	if (c->pid > 0 && !reap(c, 2, &status)) {
		kill_group(c);
		return tk_fail(TK_EIO, "%s '%s' closed its output after %zu of %zu "
			       "answers of this step (it was then stopped)", c->role, c->command,
			       got, n);
	}
	if (WIFSIGNALED(status))
		return tk_fail(TK_EIO, "%s '%s' was killed by signal %d after %zu of "
			       "%zu answers of this step", c->role, c->command, WTERMSIG(status),
			       got, n);
	return tk_fail(TK_EIO, "%s '%s' exited with status %d after %zu of %zu "
		       "answers of this step%s", c->role, c->command, WEXITSTATUS(status), got, n,
		       WEXITSTATUS(status) == 127 ? " (127: command not found?)" : "");
}

static int hung(rl_child *c, size_t got, size_t n)
{
	c->failed = 1;
	kill_group(c);
	return tk_fail(TK_EIO, "%s '%s' gave no answer for %g s (--env-timeout) "
		       "after %zu of %zu answers of this step; it was stopped", c->role, c->command,
		       c->timeout, got, n);
}

int rl_append_line(char **buf, size_t *len, size_t *cap, const char *line)
{
	size_t l = strlen(line);
	if (*len + l + 1 > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (*len + l + 1 > c)
			c *= 2;
		char *b = tk_realloc(*buf, c);
		if (!b)
			return TK_EOSERR;
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *len, line, l);
	(*buf)[*len + l] = '\n';
	*len += l + 1;
	return TK_OK;
}

/* Requests of the step: one line per sample, back to back. */
static char *requests(const tk_rl_sample *s, size_t n, size_t *len)
{
	size_t cap = 0;
	char *buf = NULL;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		char *line = tk_rl_request_line(&s[i]);
		int rc = line ? rl_append_line(&buf, len, &cap, line) : TK_EOSERR;
		free(line);
		if (rc) {
			free(buf);
			return NULL;
		}
	}
	return buf;
}

/* Reads once what the program wrote (the caller knows it is readable);
 * *eof when its output ended. */
static int read_more(rl_child *c, int *eof)
{
	if (c->len + 4096 > c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 8192;
		char *b = tk_realloc(c->buf, cap);
		if (!b)
			return TK_EOSERR;
		c->buf = b;
		c->cap = cap;
	}
	ssize_t r = read(c->from, c->buf + c->len, c->cap - c->len - 1);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? TK_OK : tk_fail(TK_EIO, "reading "
			"the %s: %s", c->role, strerror(errno));
	*eof = r == 0;
	c->len += (size_t)r;
	return TK_OK;
}

static void drop_front(rl_child *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Hands each whole line buffered to take, up to n answers; what is left
 * stays buffered. */
static int take_answers(rl_child *c, rl_take_line take, void *ctx, size_t *got, size_t n)
{
	char *nl;
	while (*got < n && (nl = memchr(c->buf, '\n', c->len))) {
		size_t len = (size_t)(nl - c->buf);
		int empty = tk_jsonl_blank(c->buf, len);
		int rc = empty ? TK_OK : take(ctx, c->buf, len, *got);
		if (rc) {
			c->failed = 1;
			return tk_fail_context(rc, "%s '%s': answer %zu of this step ", c->role,
					       c->command, *got + 1);
		}
		if (!empty)
			rl_excerpt(c->last, sizeof c->last, c->buf, len);
		*got += !empty;
		c->answered += !empty;
		drop_front(c, len + 1);
	}
	if (c->len > MAX_ANSWER) {
		c->failed = 1;
		return bad_answer(c->buf, c->len, "a line longer than 1 MiB");
	}
	return TK_OK;
}

/* Output no request asked for: an error naming it, since keeping it as
 * the next answer would pair every later reward with the wrong sample. */
static int unasked(rl_child *c, const char *when)
{
	size_t at = 0;
	while (at < c->len && tk_jsonl_blank(c->buf + at, 1))
		at++;
	const char *nl = memchr(c->buf + at, '\n', c->len - at);
	size_t len = nl ? (size_t)(nl - (c->buf + at)) : c->len - at;
	char shown[320];
	rl_excerpt(shown, sizeof shown, c->buf + at, len);
	c->failed = 1;
	return tk_fail(TK_EDATA, "%s '%s' wrote a line no request asked for (%s): "
		       "'%s'; it must answer each request with exactly one line (see tk-rl(1))",
		       c->role, c->command, when, shown);
}

/* Between steps the program must be silent: reads what it wrote, or
 * writes within `wait` seconds, and refuses anything but blank lines. */
int rl_child_expect_silence(rl_child *c, const char *when, double wait)
{
	double until = now() + wait;
	for (;;) {
		if (!tk_jsonl_blank(c->buf, c->len))
			return unasked(c, when);
		c->len = 0;
		struct pollfd fd = {c->from, POLLIN, 0};
		int r = poll(&fd, 1, poll_ms(until - now()));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || !(fd.revents & (POLLIN | POLLHUP | POLLERR)))
			return TK_OK;
		int eof = 0, rc = read_more(c, &eof);
		if (rc || eof)
			return rc; // an ended program is reported by the exchange
	}
}

/* All n answers are in: a program that has not yet read every request
 * answered one it never saw, so one of its lines was no answer. */
static int check_all_read(rl_child *c, size_t sent, size_t len, size_t n)
{
	int unread = 0;
	if (sent == len && (ioctl(c->to, FIONREAD, &unread) != 0 || unread == 0))
		return TK_OK;
	c->failed = 1;
	return tk_fail(TK_EDATA, "%s '%s' wrote a line no request asked for (all %zu "
		       "answers of this step came before it read all the requests: a banner? two "
		       "answers to one request?); its last answer was '%s'; it must answer each "
		       "request with exactly one line (see tk-rl(1))", c->role, c->command, n, c->last);
}

static int write_some(rl_child *c, const char *buf, size_t len, size_t *sent)
{
	ssize_t w = write(c->to, buf + *sent, len - *sent);
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? TK_OK : TK_END;
	*sent += (size_t)w;
	return TK_OK;
}

int rl_child_exchange(rl_child *c, const char *req, size_t len, size_t n, rl_take_line take,
		      void *ctx)
{
	size_t sent = 0, got = 0;
	double deadline = now() + c->timeout;
	while (got < n) {
		struct pollfd fds[2] = {{c->from, POLLIN, 0}, {c->to, POLLOUT, 0}};
		nfds_t nfds = sent < len ? 2 : 1;
		double left = deadline - now();
		if (left <= 0)
			return hung(c, got, n);
		int r = poll(fds, nfds, poll_ms(left));
		if (r < 0 && errno != EINTR)
			return tk_fail(TK_EIO, "poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		if (nfds == 2 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)))
			if (write_some(c, req, len, &sent) == TK_END)
				return died(c, got, n);
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			size_t before = got;
			int eof = 0, rc = read_more(c, &eof);
			if (!rc)
				rc = take_answers(c, take, ctx, &got, n);
			if (rc)
				return rc;
			if (eof && got < n)
				return died(c, got, n);
			if (got > before)
				deadline = now() + c->timeout;
		}
	}
	return c->ordered ? check_all_read(c, sent, len, n) : TK_OK;
}

static int take_score(void *ctx, const char *line, size_t len, size_t index)
{
	tk_rl_score *out = ctx;
	return tk_rl_parse_answer(line, len, &out[index]);
}

int rl_child_score(rl_child *c, const tk_rl_sample *s, size_t n, tk_rl_score *out)
{
	if (c->failed || c->pid <= 0)
		return tk_fail(TK_EIO, "%s '%s' failed earlier", c->role, c->command);
	size_t len;
	char *req = requests(s, n, &len);
	if (!req)
		return TK_EOSERR;
	c->ordered = 1;
	int rc = rl_child_expect_silence(c, "before this step's requests", 0);
	if (!rc)
		rc = rl_child_exchange(c, req, len, n, take_score, out);
	if (!rc)
		rc = rl_child_expect_silence(c, "after this step's answers",
					     fmin(STRAY_WAIT, c->timeout));
	free(req);
	if (rc)
		tk_rl_score_free(out, n);
	return rc;
}
