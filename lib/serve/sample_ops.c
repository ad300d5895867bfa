/* Sampling clients: sessions on a base or on saved sampler weights, and
 * asample through lib/infer's generator on the engine (serve.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "serve_sample.h"
#include "tk_engine.h"
#include "tk_error.h"
#include "tk_forward.h"
#include "tk_model.h"
#include "tk_sampler.h"
#include "tk_tokenizer.h"

/* ---- sessions ------------------------------------------------------------------ */

typedef struct session_job {
	char *base;                 /* a base model's name, or NULL */
	char *path;                 /* a tinker:// sampler path, or NULL */
} session_job;

static void session_job_free(void *ctx)
{
	session_job *j = ctx;
	free(j->base);
	free(j->path);
	free(j);
}

static void session_run(serve *s, void *ctx, serve_reply *r)
{
	session_job *j = ctx;
	serve_sampler *p = NULL;
	if (j->path)
		p = serve_sampler_for_path(s, j->path);
	else {
		serve_base *b = serve_registry_base(s, j->base);
		if (b && (p = serve_registry_add_sampler(s->registry))) {
			serve_new_id(s, "sampler", p->id, sizeof p->id);
			p->base = b;
		}
	}
	if (!p) {
		serve_reply_error(r, 404, "user", "create_sampling_session: %s", tk_error_message());
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "create_sampling_session");
	cJSON_AddStringToObject(o, "sampling_session_id", p->id);
	serve_reply_json(r, 200, o);
}

/* Answered at once; the model is loaded in the worker, in arrival order. */
void serve_create_sampling_session(serve *s, const cJSON *in, serve_reply *r)
{
	const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "model_path"));
	const char *base = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "base_model"));
	if (!path && !base) {
		serve_reply_error(r, 400, "user", "create_sampling_session: model_path or base_model "
				  "is needed");
		return;
	}
	if (!path && !serve_registry_knows(s->registry, base)) {
		serve_reply_error(r, 404, "user", "create_sampling_session: unknown base model %s",
				  base);
		return;
	}
	session_job *j = calloc(1, sizeof *j);
	if (!j || (path && !(j->path = strdup(path))) || (!path && !(j->base = strdup(base)))) {
		if (j)
			session_job_free(j);
		serve_reply_error(r, 500, "server", "out of memory");
		return;
	}
	/* The SDK waits for this answer, not a future: run it and wait. */
	serve_queue_run(s, session_run, session_job_free, j, r);
}

void serve_get_sampler(serve *s, const char *id, serve_reply *r)
{
	serve_sampler *p = serve_registry_sampler(s->registry, id);
	if (!p || !p->base) {
		serve_reply_error(r, 404, "user", "no sampling session %s", id);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "sampler_id", p->id);
	cJSON_AddStringToObject(o, "base_model", p->base->name);
	if (p->path)
		cJSON_AddStringToObject(o, "model_path", p->path);
	serve_reply_json(r, 200, o);
}

/* ---- asample -------------------------------------------------------------------- */

static void sample_run(serve *s, void *ctx, serve_reply *r)
{
	serve_sample_req *q = ctx;
	serve_sampler *p = NULL;
	if (q->path)
		p = serve_sampler_for_path(s, q->path);
	else if (q->session)
		p = serve_registry_sampler(s->registry, q->session);
	else if (q->base) {
		serve_base *b = serve_registry_base(s, q->base);
		static serve_sampler bare;   /* the bare base: no adapter (worker only) */
		if (b) {
			bare.base = b;
			p = &bare;
		}
	}
	if (!p || !p->base) {
		serve_reply_error(r, 404, "user", "asample: no such sampler (%s)",
				  *tk_error_message() ? tk_error_message() : "unknown session");
		return;
	}
	serve_seq *seqs = NULL;
	float *prompt_lp = NULL;
	char err[600];
	int rc = serve_sample_run(s, p, q, &seqs, &prompt_lp, err, sizeof err);
	if (rc)
		serve_reply_error(r, rc == TK_EUSAGE || rc == TK_EDATA ? 400 : 500,
				  rc == TK_EUSAGE || rc == TK_EDATA ? "user" : "server", "asample: %s",
				  err);
	else
		serve_sample_reply(seqs, q->n, prompt_lp, q->prompt_len, r);
	serve_seqs_free(seqs, q->n);
	free(prompt_lp);
}

/* The SDK stamps each sequence with an id given at submission
 * (UntypedAPIFuture.sample_sequence_ids): "FUTURE/i". */
static void add_sequence_ids(serve_reply *r, size_t n)
{
	cJSON *f = cJSON_ParseWithLength((const char *)r->body, r->len);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "request_id"));
	cJSON *ids = id ? cJSON_AddArrayToObject(f, "sample_sequence_ids") : NULL;
	for (size_t i = 0; ids && i < n; i++) {
		char seq[64];
		snprintf(seq, sizeof seq, "%s/%zu", id, i);
		cJSON_AddItemToArray(ids, cJSON_CreateString(seq));
	}
	if (!ids) {
		cJSON_Delete(f);
		return;   /* the reply stays as it was */
	}
	serve_reply_free(r);
	serve_reply_json(r, 200, f);
}

void serve_asample(serve *s, const cJSON *in, serve_reply *r)
{
	serve_sample_req *q = calloc(1, sizeof *q);
	char err[600];
	if (!q) {
		serve_reply_error(r, 500, "server", "out of memory");
		return;
	}
	if (serve_sample_parse(in, q, err, sizeof err)) {
		serve_sample_req_free(q);
		serve_reply_error(r, 400, "user", "asample: %s", err);
		return;
	}
	if (q->session && !serve_registry_sampler(s->registry, q->session)) {
		serve_reply_error(r, 404, "user", "asample: no sampling session %s", q->session);
		serve_sample_req_free(q);
		return;
	}
	size_t n = q->n;
	if (serve_queue_submit(s, sample_run, serve_sample_req_free, q, r))
		return;
	add_sequence_ids(r, n);
}
