/* Paths to handlers: the calls tinker 0.38.0 makes (man/tk-serve.1 lists
 * them), JSON bodies parsed here; forward_backward reads its own
 * (protobuf) body. */
#include <stdio.h>
#include <string.h>

#include "serve.h"

typedef void (*json_handler)(serve *s, const cJSON *in, serve_reply *r);

typedef struct route {
	const char *method;
	const char *path;
	json_handler fn;
} route;

static const route routes[] = {
	{"GET", "/api/v1/healthz", serve_healthz},
	{"GET", "/api/v1/get_server_capabilities", serve_capabilities},
	{"POST", "/api/v1/client/config", serve_client_config},
	{"POST", "/api/v1/client/dynamic_config", serve_dynamic_config},
	{"POST", "/api/v1/auth/token", serve_auth_token},
	{"POST", "/api/v1/create_session", serve_create_session},
	{"POST", "/api/v1/session_heartbeat", serve_heartbeat},
	{"POST", "/api/v1/telemetry", serve_telemetry},
	{"POST", "/api/v1/cancel_future", serve_empty_ok},
	{"POST", "/api/v1/create_model", serve_create_model},
	{"POST", "/api/v1/get_info", serve_get_info},
	{"POST", "/api/v1/optim_step", serve_optim_step},
	{"POST", "/api/v1/save_weights", serve_save_weights},
	{"POST", "/api/v1/save_weights_for_sampler", serve_save_for_sampler},
	{"POST", "/api/v1/load_weights", serve_load_weights},
	{"POST", "/api/v1/weights_info", serve_weights_info},
	{"POST", "/api/v1/create_sampling_session", serve_create_sampling_session},
	{"POST", "/api/v1/asample", serve_asample},
};

static void retrieve_future(serve *s, const cJSON *in, serve_reply *r)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "request_id");
	if (!cJSON_IsString(id)) {
		serve_reply_error(r, 400, "user", "retrieve_future: request_id (a string) is needed");
		return;
	}
	/* Long enough that a step is usually answered in one poll, well under
	 * the SDK's 45 s read timeout. */
	serve_futures_retrieve(s->futures, id->valuestring, 20000, r);
}

static void route_json(serve *s, const serve_request *q, json_handler fn, serve_reply *r)
{
	cJSON *in = q->len ? cJSON_ParseWithLength((const char *)q->body, q->len)
			   : cJSON_CreateObject();
	if (!in || !cJSON_IsObject(in)) {
		cJSON_Delete(in);
		serve_reply_error(r, 400, "user", "%s: the body is not a JSON object", q->path);
		return;
	}
	fn(s, in, r);
	cJSON_Delete(in);
}

static int is_path(const serve_request *q, const char *method, const char *path)
{
	return !strcmp(q->method, method) && !strcmp(q->path, path);
}

void serve_route(serve *s, const serve_request *q, serve_reply *r)
{
	if (is_path(q, "POST", "/api/v1/forward_backward")) {
		serve_forward_backward(s, q, r);
		return;
	}
	if (is_path(q, "POST", "/api/v1/retrieve_future")) {
		route_json(s, q, retrieve_future, r);
		return;
	}
	if (is_path(q, "POST", "/v1/completions") || is_path(q, "POST", "/v1/chat/completions")) {
		cJSON *in = cJSON_ParseWithLength((const char *)q->body, q->len);
		if (!cJSON_IsObject(in))
			serve_reply_error(r, 400, "user", "%s: the body is not a JSON object", q->path);
		else
			serve_openai_completions(s, in, strstr(q->path, "/chat/") != NULL, r);
		cJSON_Delete(in);
		return;
	}
	const char *samplers = "/api/v1/samplers/";
	if (!strcmp(q->method, "GET") && !strncmp(q->path, samplers, strlen(samplers))) {
		serve_get_sampler(s, q->path + strlen(samplers), r);
		return;
	}
	if (!strcmp(q->method, "POST") && !strncmp(q->path, "/api/v1/sessions/", 17) &&
	    strstr(q->path, "/finish")) {
		route_json(s, q, serve_empty_ok, r);
		return;
	}
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (is_path(q, routes[i].method, routes[i].path)) {
			route_json(s, q, routes[i].fn, r);
			return;
		}
	serve_reply_error(r, 404, "user", "tk-serve does not serve %s %s (see tk-serve(1))",
			  q->method, q->path);
}
