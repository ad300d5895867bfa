/* Replies: JSON bodies and the API's error shape (serve.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

static const char out_of_memory[] = "{\"error\":\"out of memory\",\"category\":\"server\"}";

/* A reply that needs no allocation, for when allocation failed. */
static void reply_static_oom(serve_reply *r)
{
	r->status = 500;
	r->type = SERVE_JSON;
	r->body = malloc(sizeof out_of_memory);
	r->len = r->body ? sizeof out_of_memory - 1 : 0;
	if (r->body)
		memcpy(r->body, out_of_memory, sizeof out_of_memory);
}

void serve_reply_json(serve_reply *r, int status, cJSON *j)
{
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	if (!text) {
		reply_static_oom(r);
		return;
	}
	r->status = status;
	r->type = SERVE_JSON;
	r->body = (unsigned char *)text;
	r->len = strlen(text);
}

void serve_reply_error(serve_reply *r, int status, const char *category, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cJSON *j = cJSON_CreateObject();
	if (!j) {
		reply_static_oom(r);
		return;
	}
	cJSON_AddStringToObject(j, "error", msg);
	cJSON_AddStringToObject(j, "category", category);
	cJSON_AddStringToObject(j, "detail", msg);
	serve_reply_json(r, status, j);
}

void serve_reply_free(serve_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

void serve_new_id(serve *s, const char *prefix, char *out, size_t cap)
{
	pthread_mutex_lock(&s->lock);
	uint64_t n = s->next_id++;
	pthread_mutex_unlock(&s->lock);
	snprintf(out, cap, "%s-%llu", prefix, (unsigned long long)n);
}
