/* The futures table: a job's reply kept under its id until the server
 * exits, and retrieve_future's wait for it (serve.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"
#include "tk_error.h"

typedef struct future {
	int settled;
	serve_reply reply;
} future;

struct serve_futures {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	future *v;                  /* (n) index = the number in "fut-N" */
	size_t n, cap;
};

int serve_futures_open(serve_futures **out)
{
	serve_futures *f = tk_calloc(1, sizeof *f);
	if (!f)
		return TK_EOSERR;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->changed, NULL);
	*out = f;
	return 0;
}

void serve_futures_close(serve_futures *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		serve_reply_free(&f->v[i].reply);
	free(f->v);
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int serve_futures_add(serve_futures *f, char *id, size_t cap)
{
	pthread_mutex_lock(&f->lock);
	if (f->n == f->cap) {
		size_t cap2 = f->cap ? 2 * f->cap : 64;
		future *v = tk_realloc(f->v, cap2 * sizeof *v);
		if (!v) {
			pthread_mutex_unlock(&f->lock);
			return TK_EOSERR;
		}
		f->v = v;
		f->cap = cap2;
	}
	memset(&f->v[f->n], 0, sizeof f->v[f->n]);
	snprintf(id, cap, "fut-%zu", f->n);
	f->n++;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* The index of "fut-N", or SIZE_MAX. */
static size_t future_index(const serve_futures *f, const char *id)
{
	if (!id || strncmp(id, "fut-", 4) || !id[4])
		return SIZE_MAX;
	char *end;
	errno = 0;
	unsigned long long i = strtoull(id + 4, &end, 10);
	if (errno || *end || i >= f->n)
		return SIZE_MAX;
	return (size_t)i;
}

void serve_futures_settle(serve_futures *f, const char *id, serve_reply *r)
{
	pthread_mutex_lock(&f->lock);
	size_t i = future_index(f, id);
	if (i != SIZE_MAX && !f->v[i].settled) {
		f->v[i].reply = *r;
		f->v[i].settled = 1;
		memset(r, 0, sizeof *r);
		pthread_cond_broadcast(&f->changed);
	}
	pthread_mutex_unlock(&f->lock);
	serve_reply_free(r);
}

/* What retrieve_future answers for a settled future: the result itself, or
 * for a failed job the SDK's RequestFailedResponse shape (HTTP 200). */
static void answer_settled(const serve_reply *done, serve_reply *r)
{
	if (done->status == 200) {
		r->status = 200;
		r->type = done->type;
		r->len = done->len;
		r->body = malloc(done->len ? done->len : 1);
		if (!r->body) {
			serve_reply_error(r, 500, "server", "out of memory copying a result");
			return;
		}
		memcpy(r->body, done->body, done->len);
		return;
	}
	cJSON *in = cJSON_ParseWithLength((const char *)done->body, done->len);
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(in, "error");
	const cJSON *cat = cJSON_GetObjectItemCaseSensitive(in, "category");
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "error", cJSON_IsString(msg) ? msg->valuestring : "failed");
	cJSON_AddStringToObject(out, "category",
				cJSON_IsString(cat) ? cat->valuestring : "server");
	cJSON_Delete(in);
	serve_reply_json(r, 200, out);
}

static void deadline_after(struct timespec *t, int ms)
{
	clock_gettime(CLOCK_REALTIME, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

void serve_futures_retrieve(serve_futures *f, const char *id, int wait_ms, serve_reply *r)
{
	struct timespec until;
	deadline_after(&until, wait_ms);
	pthread_mutex_lock(&f->lock);
	size_t i = future_index(f, id);
	if (i == SIZE_MAX) {
		pthread_mutex_unlock(&f->lock);
		serve_reply_error(r, 404, "user", "no future with request_id %s", id ? id : "(none)");
		return;
	}
	while (!f->v[i].settled)
		if (pthread_cond_timedwait(&f->changed, &f->lock, &until) == ETIMEDOUT)
			break;
	if (f->v[i].settled) {
		answer_settled(&f->v[i].reply, r);
		pthread_mutex_unlock(&f->lock);
		return;
	}
	pthread_mutex_unlock(&f->lock);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "type", "try_again");
	cJSON_AddStringToObject(j, "request_id", id);
	cJSON_AddStringToObject(j, "queue_state", "active");
	serve_reply_json(r, 200, j);
}

int serve_futures_wait(serve_futures *f, const char *id, serve_reply *r)
{
	pthread_mutex_lock(&f->lock);
	size_t i = future_index(f, id);
	while (i != SIZE_MAX && !f->v[i].settled)
		pthread_cond_wait(&f->changed, &f->lock);
	serve_reply copy = {0};
	if (i != SIZE_MAX) {
		copy = f->v[i].reply;
		copy.body = malloc(copy.len ? copy.len : 1);
		if (copy.body)
			memcpy(copy.body, f->v[i].reply.body, copy.len);
	}
	pthread_mutex_unlock(&f->lock);
	if (i == SIZE_MAX || !copy.body) {
		serve_reply_error(r, 500, "server", "lost the result of %s", id);
		return TK_ESOFTWARE;
	}
	*r = copy;
	return 0;
}

void serve_futures_fail_pending(serve_futures *f, const char *msg)
{
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n; i++) {
		if (f->v[i].settled)
			continue;
		serve_reply_error(&f->v[i].reply, 503, "server", "%s", msg);
		f->v[i].settled = 1;
	}
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}
