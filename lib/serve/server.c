/* A server's life: backend, registry, futures, worker, listener; and the
 * orderly end on SIGTERM (serve.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "tk_backend.h"
#include "tk_error.h"

int serve_open(serve **out, const serve_config *c)
{
	serve *s = tk_calloc(1, sizeof *s);
	if (!s)
		return TK_EOSERR;
	s->config = *c;
	pthread_mutex_init(&s->lock, NULL);
	int rc = tk_backend_open(&s->backend, c->backend, c->threads);
	if (!rc)
		rc = serve_registry_open(&s->registry, &s->config);
	if (!rc)
		rc = serve_futures_open(&s->futures);
	if (!rc)
		rc = serve_queue_open(&s->queue, s);
	if (!rc)
		rc = serve_http_start(&s->http, s);
	if (rc) {
		serve_close(s);
		return rc;
	}
	fprintf(stderr, "tk-serve: listening on http://%s%s%s:%d\n", strchr(c->host, ':') ? "[" : "",
		c->host, strchr(c->host, ':') ? "]" : "", s->config.port);
	fflush(stderr);
	*out = s;
	return 0;
}

void serve_close(serve *s)
{
	if (!s)
		return;
	serve_queue_stop(s->queue);            /* the running job finishes, the rest fail */
	if (s->futures)
		serve_futures_fail_pending(s->futures, "tk-serve shut down");
	serve_http_stop(s->http);               /* waiters get their answers first */
	serve_queue_close(s->queue);
	serve_registry_close(s->registry);
	serve_futures_close(s->futures);
	tk_backend_close(s->backend);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
