/* Training clients: create_model, get_info, forward / forward_backward and
 * optim_step as jobs on the worker (serve.h).  A client is a LoRA trainer
 * on its base's engine, its adapter live under the client's id. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "serve_losses.h"
#include "tk_engine.h"
#include "tk_error.h"
#include "tk_model.h"
#include "tk_train.h"

/* ---- create_model --------------------------------------------------------------- */

typedef struct create_job {
	char *base;
	serve_client *c;
} create_job;

static void create_job_free(void *ctx)
{
	create_job *j = ctx;
	free(j->base);
	free(j);
}

/* Opens c's trainer from its adapter (made or loaded). */
int serve_client_open(serve *s, serve_client *c)
{
	tk_train_config tc = {.full = 0, .max_tokens = s->config.max_tokens};
	int rc = tk_train_open_engine(&c->train, c->base->engine, c->adapter, c->id, &tc, 0);
	if (rc)
		return tk_fail_context(rc, "%s: ", c->id);
	return 0;
}

/* A new adapter for c's settings (rank, seed, layers). */
int serve_client_new_adapter(serve *s, serve_client *c)
{
	unsigned targets = (c->train_attn ? TK_LORA_ATTN : 0) | (c->train_mlp ? TK_LORA_MLP : 0);
	if (!targets)
		return tk_fail(TK_EUSAGE, "lora_config: train_attn and train_mlp are both false; "
			       "tk-serve trains LoRA on the attention and MLP projections");
	tk_lora_config lc = {.rank = c->rank, .alpha = (float)s->config.lora_alpha,
			     .targets = targets};
	return tk_lora_create(&c->adapter, c->base->model, &lc, c->seed);
}

static void create_run(serve *s, void *ctx, serve_reply *r)
{
	create_job *j = ctx;
	serve_client *c = j->c;
	if (!(c->base = serve_registry_base(s, j->base))) {
		serve_reply_error(r, 404, "user", "%s", tk_error_message());
		return;
	}
	int rc = serve_client_new_adapter(s, c);
	if (!rc)
		rc = serve_client_open(s, c);
	if (rc) {
		serve_reply_error(r, rc == TK_EUSAGE ? 400 : 500, rc == TK_EUSAGE ? "user" : "server",
				  "create_model: %s", tk_error_message());
		return;
	}
	if (c->train_unembed && !s->config.quiet)
		fprintf(stderr, "tk-serve: %s: train_unembed asked for; tk's LoRA adapts the "
			"attention and MLP projections only, the unembedding stays frozen\n", c->id);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "model_id", c->id);
	cJSON_AddStringToObject(o, "type", "create_model");
	serve_reply_json(r, 200, o);
}

static int json_bool(const cJSON *o, const char *key, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

void serve_create_model(serve *s, const cJSON *in, serve_reply *r)
{
	const cJSON *base = cJSON_GetObjectItemCaseSensitive(in, "base_model");
	const cJSON *lora = cJSON_GetObjectItemCaseSensitive(in, "lora_config");
	const cJSON *rank = cJSON_GetObjectItemCaseSensitive(lora, "rank");
	const cJSON *seed = cJSON_GetObjectItemCaseSensitive(lora, "seed");
	if (!cJSON_IsString(base) || !cJSON_IsNumber(rank) || rank->valuedouble < 1 ||
	    rank->valuedouble > 4096) {
		serve_reply_error(r, 400, "user", "create_model: base_model and lora_config.rank "
				  "(1 to 4096) are needed; tk-serve trains LoRA adapters only");
		return;
	}
	if (!serve_registry_knows(s->registry, base->valuestring)) {
		serve_reply_error(r, 404, "user", "create_model: unknown base model %s (give it "
				  "with --model NAME=PATH)", base->valuestring);
		return;
	}
	create_job *j = calloc(1, sizeof *j);
	serve_client *c = j ? serve_registry_add_client(s->registry) : NULL;
	if (!c || !(j->base = strdup(base->valuestring))) {
		free(j);
		serve_reply_error(r, 500, "server", "out of memory");
		return;
	}
	const cJSON *sid = cJSON_GetObjectItemCaseSensitive(in, "session_id");
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(in, "model_seq_id");
	if (cJSON_IsString(sid) && cJSON_IsNumber(seq))   /* the id the SDK derives too */
		snprintf(c->id, sizeof c->id, "%s:train:%d", sid->valuestring, seq->valueint);
	else
		serve_new_id(s, "model", c->id, sizeof c->id);
	c->rank = rank->valueint;
	c->seed = cJSON_IsNumber(seed) ? (uint64_t)seed->valuedouble : 0;
	c->train_attn = json_bool(lora, "train_attn", 1);
	c->train_mlp = json_bool(lora, "train_mlp", 1);
	c->train_unembed = json_bool(lora, "train_unembed", 1);
	j->c = c;
	serve_queue_submit(s, create_run, create_job_free, j, r);
}

/* ---- get_info ------------------------------------------------------------------- */

/* The client's settings as get_info and weights_info give them. */
void serve_client_describe(const serve_client *c, cJSON *o)
{
	cJSON_AddBoolToObject(o, "is_lora", 1);
	cJSON_AddNumberToObject(o, "lora_rank", c->rank);
	cJSON_AddBoolToObject(o, "train_unembed", 0);
	cJSON_AddBoolToObject(o, "train_mlp", c->train_mlp);
	cJSON_AddBoolToObject(o, "train_attn", c->train_attn);
}

void serve_get_info(serve *s, const cJSON *in, serve_reply *r)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "model_id");
	serve_client *c = serve_registry_client(s->registry, cJSON_GetStringValue(id));
	if (!c || !c->train) {
		serve_reply_error(r, 404, "user", "get_info: no training client %s",
				  cJSON_IsString(id) ? id->valuestring : "(none)");
		return;
	}
	cJSON *o = cJSON_CreateObject(), *md = cJSON_AddObjectToObject(o, "model_data");
	cJSON_AddStringToObject(o, "type", "get_info");
	cJSON_AddStringToObject(o, "model_id", c->id);
	cJSON_AddStringToObject(o, "model_name", c->base->name);
	serve_client_describe(c, o);
	cJSON_AddStringToObject(md, "arch", c->base->model->config.architecture);
	cJSON_AddStringToObject(md, "model_name", c->base->name);
	/* The tokenizer transformers loads is the one of the name the client gave
	 * (tk-serve(1), TOKENIZER). */
	cJSON_AddStringToObject(md, "tokenizer_id", c->base->name);
	serve_reply_json(r, 200, o);
}

/* ---- forward / forward_backward ---------------------------------------------------- */

typedef struct fb_job {
	serve_fb fb;
	serve_loss loss;
} fb_job;

static void fb_job_free(void *ctx)
{
	fb_job *j = ctx;
	serve_fb_free(&j->fb);
	free(j);
}

static void fb_run(serve *s, void *ctx, serve_reply *r)
{
	fb_job *j = ctx;
	serve_client *c = serve_registry_client(s->registry, j->fb.model_id);
	if (!c || !c->train) {
		serve_reply_error(r, 404, "user", "forward_backward: no training client %s",
				  j->fb.model_id);
		return;
	}
	size_t total = 0, *lengths = malloc(j->fb.n_data * sizeof *lengths);
	for (size_t i = 0; lengths && i < j->fb.n_data; i++)
		total += lengths[i] = j->fb.data[i].n;
	float *lp = lengths ? malloc(total * sizeof *lp) : NULL;
	float *el = lp ? malloc(total * sizeof *el) : NULL;
	char err[600];
	double loss = 0;
	if (!el)
		serve_reply_error(r, 500, "server", "out of memory for %zu outputs", total);
	else if (serve_loss_run(c->train, s->config.max_tokens, &j->fb, &j->loss, lp, el, &loss,
				err, sizeof err))
		serve_reply_error(r, 400, "user", "forward_backward: %s", err);
	else {
		serve_fb_out out = {j->fb.n_data, lengths, lp, el, loss};
		serve_fb_out_reply(&out, r);
	}
	free(el);
	free(lp);
	free(lengths);
}

void serve_forward_backward(serve *s, const serve_request *q, serve_reply *r)
{
	if (q->content_encoding && *q->content_encoding && strcmp(q->content_encoding, "identity")) {
		serve_reply_error(r, 415, "user", "forward_backward: Content-Encoding %s not "
				  "served (tk-serve asks the SDK for uncompressed bodies)",
				  q->content_encoding);
		return;
	}
	fb_job *j = calloc(1, sizeof *j);
	char err[600];
	if (!j) {
		serve_reply_error(r, 500, "server", "out of memory");
		return;
	}
	if (serve_fb_from_proto(&j->fb, q->body, q->len, err, sizeof err) ||
	    serve_loss_parse(j->fb.loss_fn, &j->fb, &j->loss, err, sizeof err)) {
		fb_job_free(j);
		serve_reply_error(r, 400, "user", "%s", err);
		return;
	}
	if (!serve_registry_client(s->registry, j->fb.model_id)) {
		serve_reply_error(r, 404, "user", "forward_backward: no training client %s",
				  j->fb.model_id);
		fb_job_free(j);
		return;
	}
	serve_queue_submit(s, fb_run, fb_job_free, j, r);
}

/* ---- optim_step ------------------------------------------------------------------ */

typedef struct optim_job {
	char id[48];
	tk_train_adamw adam;
	double clip;
} optim_job;

static void optim_run(serve *s, void *ctx, serve_reply *r)
{
	optim_job *j = ctx;
	serve_client *c = serve_registry_client(s->registry, j->id);
	if (!c || !c->train) {
		serve_reply_error(r, 404, "user", "optim_step: no training client %s", j->id);
		return;
	}
	double norm = 0;
	int rc = tk_train_optim_step(c->train, &j->adam, j->clip, &norm);
	if (rc) {
		serve_reply_error(r, rc == TK_EDATA ? 400 : 500, rc == TK_EDATA ? "user" : "server",
				  "optim_step: %s", tk_error_message());
		return;
	}
	cJSON *o = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(o, "metrics");
	cJSON_AddNumberToObject(m, "grad_norm:mean", norm);
	cJSON_AddNumberToObject(m, "step:max", (double)tk_train_steps(c->train));
	serve_reply_json(r, 200, o);
}

static double num_or(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

void serve_optim_step(serve *s, const cJSON *in, serve_reply *r)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "model_id");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "adam_params");
	if (!cJSON_IsString(id) || !cJSON_IsObject(p)) {
		serve_reply_error(r, 400, "user", "optim_step: model_id and adam_params are needed "
				  "(tk-serve's optimizer is Adam)");
		return;
	}
	if (!serve_registry_client(s->registry, id->valuestring)) {
		serve_reply_error(r, 404, "user", "optim_step: no training client %s",
				  id->valuestring);
		return;
	}
	optim_job *j = calloc(1, sizeof *j);
	if (!j) {
		serve_reply_error(r, 500, "server", "out of memory");
		return;
	}
	snprintf(j->id, sizeof j->id, "%s", id->valuestring);
	/* AdamParams' defaults in tinker 0.38.0 */
	j->adam = (tk_train_adamw){num_or(p, "learning_rate", 1e-4), num_or(p, "beta1", 0.9),
				   num_or(p, "beta2", 0.95), num_or(p, "eps", 1e-12),
				   num_or(p, "weight_decay", 0)};
	j->clip = num_or(p, "grad_clip_norm", 0);
	if (!(j->adam.lr >= 0 && j->adam.beta1 >= 0 && j->adam.beta1 < 1 && j->adam.beta2 >= 0 &&
	      j->adam.beta2 < 1 && j->adam.eps > 0 && j->clip >= 0)) {
		free(j);
		serve_reply_error(r, 400, "user", "optim_step: adam_params out of range");
		return;
	}
	serve_queue_submit(s, optim_run, free, j, r);
}
