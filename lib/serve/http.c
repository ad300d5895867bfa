/* The HTTP layer over libmicrohttpd: one thread per connection, a body
 * gathered up to --max-body, the API key checked, then serve_route
 * (serve.h).  Parsing HTTP is the library's, not ours. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "serve.h"
#include "tk_error.h"

struct serve_http {
	struct MHD_Daemon *daemon;
	serve *s;
};

/* A request's body as it arrives. */
typedef struct upload {
	unsigned char *data;
	size_t len, cap;
	int too_large;
} upload;

static enum MHD_Result send_reply(struct MHD_Connection *c, serve_reply *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(r->len, r->body,
								     MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		serve_reply_free(r);
		return MHD_NO;
	}
	r->body = NULL;   /* the response owns it now */
	MHD_add_response_header(resp, "Content-Type", r->type ? r->type : SERVE_JSON);
	enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static int upload_append(upload *u, const char *data, size_t n, size_t max)
{
	if (u->too_large || u->len + n > max) {
		u->too_large = 1;
		return 0;
	}
	if (u->len + n > u->cap) {
		size_t cap = u->cap ? u->cap : 4096;
		while (cap < u->len + n)
			cap *= 2;
		unsigned char *p = realloc(u->data, cap);
		if (!p)
			return -1;
		u->data = p;
		u->cap = cap;
	}
	memcpy(u->data + u->len, data, n);
	u->len += n;
	return 0;
}

/* The key a client sent: X-API-Key, or a bearer token. */
static int key_accepted(const serve *s, struct MHD_Connection *c)
{
	if (!s->config.api_key)
		return 1;
	const char *k = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (!k && auth && !strncmp(auth, "Bearer ", 7))
		k = auth + 7;
	return k && !strcmp(k, s->config.api_key);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	(void)version;
	serve *s = cls;
	upload *u = *con_cls;
	if (!u) {   /* the headers: start gathering the body */
		u = calloc(1, sizeof *u);
		if (!u)
			return MHD_NO;
		*con_cls = u;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (upload_append(u, upload_data, *upload_data_size, s->config.max_body) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	serve_reply r = {0};
	if (u->too_large)
		serve_reply_error(&r, 413, "user", "request body over the server's --max-body "
				  "of %zu bytes; send fewer datums per request", s->config.max_body);
	else if (!key_accepted(s, c))
		serve_reply_error(&r, 401, "user", "API key not accepted by this tk-serve");
	else {
		serve_request q = {
			.method = method, .path = url, .body = u->data, .len = u->len,
			.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"),
			.content_encoding = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
									"Content-Encoding"),
		};
		serve_route(s, &q, &r);
	}
	if (!r.body)
		serve_reply_error(&r, 500, "server", "no reply");
	if (!s->config.quiet && r.status >= 400)
		fprintf(stderr, "tk-serve: %s %s: %d %.*s\n", method, url, r.status,
			(int)(r.len < 300 ? r.len : 300), (const char *)r.body);
	return send_reply(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)c, (void)toe;
	upload *u = *con_cls;
	if (u) {
		free(u->data);
		free(u);
		*con_cls = NULL;
	}
}

/* host:port to a socket address (IPv4 or IPv6). */
static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV}, *ai;
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	int e = getaddrinfo(host, ps, &hints, &ai);
	if (e)
		return tk_fail(TK_EUSAGE, "--host %s: %s", host, gai_strerror(e));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int serve_http_start(serve_http **out, serve *s)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int rc = resolve(s->config.host, s->config.port, &ss, &sl);
	if (rc)
		return rc;
	serve_http *h = tk_calloc(1, sizeof *h);
	if (!h)
		return TK_EOSERR;
	h->s = s;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->daemon = MHD_start_daemon(flags, (uint16_t)s->config.port, NULL, NULL, on_request, s,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
				     MHD_OPTION_END);
	if (!h->daemon) {
		free(h);
		return tk_fail(TK_EOSERR, "cannot listen on %s:%d (in use, or not an address "
			       "of this machine)", s->config.host, s->config.port);
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon,
							     MHD_DAEMON_INFO_BIND_PORT);
	if (di)
		s->config.port = di->port;
	*out = h;
	return 0;
}

void serve_http_stop(serve_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon);
	free(h);
}
