/* The worker: one thread runs the queued jobs in arrival order, so the
 * engine and its trainers are only ever touched by it (serve.h). */
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "tk_error.h"

struct serve_job {
	serve_job_fn fn;
	serve_job_free free_ctx;
	void *ctx;
	char future[32];
	serve_job *next;
};

struct serve_queue {
	serve *s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t ready;
	serve_job *head, *tail;
	size_t queued;              /* jobs waiting */
	int stopping;
	int joined;                 /* the worker has been joined */
};

static void job_free(serve_job *j)
{
	if (j->free_ctx)
		j->free_ctx(j->ctx);
	free(j);
}

static serve_job *queue_take(serve_queue *q)
{
	pthread_mutex_lock(&q->lock);
	while (!q->head && !q->stopping)
		pthread_cond_wait(&q->ready, &q->lock);
	serve_job *j = q->stopping ? NULL : q->head;
	if (j) {
		q->head = j->next;
		q->queued--;
		if (!q->head)
			q->tail = NULL;
	}
	pthread_mutex_unlock(&q->lock);
	return j;
}

static void *worker_main(void *arg)
{
	serve_queue *q = arg;
	serve_job *j;
	while ((j = queue_take(q))) {
		serve_reply r = {0};
		tk_error_clear();
		j->fn(q->s, j->ctx, &r);
		if (!r.body)
			serve_reply_error(&r, 500, "server", "the job gave no result");
		serve_futures_settle(q->s->futures, j->future, &r);
		job_free(j);
	}
	return NULL;
}

int serve_queue_open(serve_queue **out, serve *s)
{
	serve_queue *q = tk_calloc(1, sizeof *q);
	if (!q)
		return TK_EOSERR;
	q->s = s;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->ready, NULL);
	if (pthread_create(&q->thread, NULL, worker_main, q)) {
		pthread_cond_destroy(&q->ready);
		pthread_mutex_destroy(&q->lock);
		free(q);
		return tk_fail(TK_EOSERR, "cannot start the worker thread");
	}
	*out = q;
	return 0;
}

void serve_queue_stop(serve_queue *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	int joined = q->joined;
	q->stopping = q->joined = 1;
	pthread_cond_broadcast(&q->ready);
	serve_job *rest = q->head;
	q->head = q->tail = NULL;
	q->queued = 0;
	pthread_mutex_unlock(&q->lock);
	if (!joined)
		pthread_join(q->thread, NULL);   /* the running job finishes */
	for (serve_job *j = rest, *next; j; j = next) {
		next = j->next;
		serve_reply r = {0};
		serve_reply_error(&r, 503, "server", "tk-serve shut down before running this request");
		serve_futures_settle(q->s->futures, j->future, &r);
		job_free(j);
	}
}

void serve_queue_close(serve_queue *q)
{
	if (!q)
		return;
	serve_queue_stop(q);
	pthread_cond_destroy(&q->ready);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* {"request_id": id} — the SDK's UntypedAPIFuture. */
static void reply_future(serve_reply *r, const char *id)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "request_id", id);
	serve_reply_json(r, 200, j);
}

int serve_queue_submit(serve *s, serve_job_fn fn, serve_job_free free_ctx, void *ctx,
		       serve_reply *r)
{
	serve_queue *q = s->queue;
	serve_job *j = tk_calloc(1, sizeof *j);
	if (!j || serve_futures_add(s->futures, j->future, sizeof j->future)) {
		free(j);
		if (free_ctx)
			free_ctx(ctx);
		serve_reply_error(r, 500, "server", "out of memory queueing a request");
		return TK_EOSERR;
	}
	j->fn = fn;
	j->free_ctx = free_ctx;
	j->ctx = ctx;
	char id[32];   /* the worker may run and free j once it is queued */
	memcpy(id, j->future, sizeof id);
	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		pthread_mutex_unlock(&q->lock);
		serve_reply stop = {0};
		serve_reply_error(&stop, 503, "server", "tk-serve is shutting down");
		serve_futures_settle(s->futures, j->future, &stop);
		job_free(j);
		serve_reply_error(r, 503, "server", "tk-serve is shutting down");
		return TK_ETEMPFAIL;
	}
	if (q->queued >= s->config.max_queue) {
		/* the SDK backs off and sends it again */
		pthread_mutex_unlock(&q->lock);
		serve_reply full = {0};
		serve_reply_error(&full, 429, "server", "queue full");
		serve_futures_settle(s->futures, j->future, &full);
		job_free(j);
		serve_reply_error(r, 429, "server", "tk-serve has %zu requests queued "
				  "(--max-queue): try again", s->config.max_queue);
		return TK_ETEMPFAIL;
	}
	q->queued++;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	pthread_cond_signal(&q->ready);
	pthread_mutex_unlock(&q->lock);
	reply_future(r, id);
	return 0;
}

int serve_queue_run(serve *s, serve_job_fn fn, serve_job_free free_ctx, void *ctx,
		    serve_reply *r)
{
	serve_reply fut = {0};
	if (serve_queue_submit(s, fn, free_ctx, ctx, &fut)) {
		*r = fut;
		return TK_ETEMPFAIL;
	}
	cJSON *f = cJSON_ParseWithLength((const char *)fut.body, fut.len);
	serve_reply_free(&fut);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "request_id"));
	if (!id) {
		cJSON_Delete(f);
		serve_reply_error(r, 500, "server", "a queued job without a future");
		return TK_ESOFTWARE;
	}
	int done = serve_futures_wait(s->futures, id, r);
	cJSON_Delete(f);
	return done;
}
