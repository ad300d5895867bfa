/* The calls around the work, answered locally: health, the client's
 * feature flags, sessions and heartbeats, the token exchange, telemetry,
 * capabilities (serve.h). */
#include <string.h>

#include "serve.h"

void serve_healthz(serve *s, const cJSON *in, serve_reply *r)
{
	(void)s, (void)in;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "status", "ok");
	serve_reply_json(r, 200, j);
}

/* The flags tinker 0.38.0 reads (ClientConfigResponse): API keys sent as
 * they are (no JWT exchange), plain httpx, uncompressed protobuf bodies,
 * one forward_backward chunk after another (arrival = seq_id order), custom
 * losses computed by the SDK (its forward + forward_backward path). */
void serve_client_config(serve *s, const cJSON *in, serve_reply *r)
{
	(void)s, (void)in;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "pjwt_auth_enabled", 0);
	cJSON_AddStringToObject(j, "credential_default_source", "api_key");
	cJSON_AddBoolToObject(j, "use_pyqwest_transport", 0);
	cJSON_AddBoolToObject(j, "proto_compress_fwdbwd", 0);
	cJSON_AddBoolToObject(j, "parallel_fwdbwd_chunks", 0);
	cJSON_AddBoolToObject(j, "sample_use_retrieve_futures", 0);
	cJSON_AddBoolToObject(j, "custom_loss_server_side", 0);
	cJSON_AddBoolToObject(j, "sample_join_sampling_session", 0);
	serve_reply_json(r, 200, j);
}

void serve_dynamic_config(serve *s, const cJSON *in, serve_reply *r)
{
	(void)s, (void)in;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "refresh_interval_sec", 3600);
	cJSON_AddBoolToObject(j, "sample_cancel_enabled", 0);
	serve_reply_json(r, 200, j);
}

void serve_create_session(serve *s, const cJSON *in, serve_reply *r)
{
	(void)in;
	char id[48];
	serve_new_id(s, "session", id, sizeof id);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "type", "create_session");
	cJSON_AddStringToObject(j, "session_id", id);
	serve_reply_json(r, 200, j);
}

void serve_heartbeat(serve *s, const cJSON *in, serve_reply *r)
{
	(void)s, (void)in;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "type", "session_heartbeat");
	serve_reply_json(r, 200, j);
}

/* Only asked for with pjwt_auth_enabled, which this server never sets; a
 * token that is not a JWT makes the SDK send its key as it is. */
void serve_auth_token(serve *s, const cJSON *in, serve_reply *r)
{
	(void)s, (void)in;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "jwt", "tk-serve-local");
	serve_reply_json(r, 200, j);
}

void serve_capabilities(serve *s, const cJSON *in, serve_reply *r)
{
	(void)in;
	serve_reply_json(r, 200, serve_registry_capabilities(s->registry));
}

/* The SDK's telemetry: accepted and dropped (nothing leaves the machine). */
void serve_telemetry(serve *s, const cJSON *in, serve_reply *r)
{
	(void)s, (void)in;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "status", "accepted");
	serve_reply_json(r, 200, j);
}

void serve_empty_ok(serve *s, const cJSON *in, serve_reply *r)
{
	(void)s, (void)in;
	serve_reply_json(r, 200, cJSON_CreateObject());
}
