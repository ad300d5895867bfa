/* tk-serve: the Tinker HTTP API on tk's engine (man/tk-serve.1).
 *
 * Threads.  libmicrohttpd runs one thread per connection; a handler parses
 * its request, and either answers at once (lifecycle, config, info) or
 * queues a job and answers with a future's id.  One worker thread runs the
 * jobs in arrival order (the SDK sends a training client's requests in
 * seq_id order, one turn at a time), so the engine, trainers and samplers
 * are touched by that thread only.  retrieve_future waits on the futures
 * table's condition variable for a while, then answers try_again.
 *
 * Files: http.c (libmicrohttpd), routes.c (paths to handlers), futures.c,
 * queue.c (the worker), registry.c (base models, training clients,
 * samplers), lifecycle.c (session, config, auth, capabilities), datum.c
 * (datums to a tk batch), pb.c (protobuf bodies), losses.c, train_ops.c,
 * sample_ops.c, openai.c. */
#ifndef TK_SERVE_H
#define TK_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "tk_lora.h"

struct tk_model;
struct tk_engine;
struct tk_train;
struct tk_backend;

/* ---- replies ------------------------------------------------------------------- */

#define SERVE_JSON "application/json"
#define SERVE_PROTO "application/x-protobuf"

typedef struct serve_reply {
	int status;                 /* HTTP status */
	const char *type;           /* content type (static) */
	unsigned char *body;        /* malloc'd */
	size_t len;
} serve_reply;

/* A JSON reply (takes and frees j); 500 when it cannot be printed. */
void serve_reply_json(serve_reply *r, int status, cJSON *j);
/* The API's error shape: {"error": msg, "category": category, "detail": msg}. */
void serve_reply_error(serve_reply *r, int status, const char *category,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void serve_reply_free(serve_reply *r);

/* ---- configuration ------------------------------------------------------------ */

typedef struct serve_model_arg {
	char *name;                 /* as clients name it ("HuggingFaceTB/SmolLM2-...") */
	char *path;                 /* what tk_model_load reads */
} serve_model_arg;

typedef struct serve_config {
	const char *host;
	int port;
	const char *api_key;        /* NULL: any key */
	const char *state_dir;      /* where tinker:// paths live */
	const char *backend;
	int threads;
	serve_model_arg *models;
	size_t n_models;
	size_t max_tokens;          /* tokens of one training pass */
	size_t max_body;            /* bytes of one request body */
	size_t max_queue;           /* jobs waiting; more get 429 */
	double lora_alpha;
	int base_dtype;             /* enum tk_engine_base */
	int quiet;
} serve_config;

/* ---- futures (futures.c) ------------------------------------------------------ */

typedef struct serve_futures serve_futures;

int serve_futures_open(serve_futures **out);
void serve_futures_close(serve_futures *f);
/* A new pending future; its id ("fut-N") written to id (cap >= 32). */
int serve_futures_add(serve_futures *f, char *id, size_t cap);
/* Settles a future with r (taken).  A failure is a reply whose status is not
 * 200: the retrieve answers {"error", "category"} for it. */
void serve_futures_settle(serve_futures *f, const char *id, serve_reply *r);
/* Waits up to wait_ms for id: its reply copied into r, or try_again; 404
 * for an unknown id.  A settled future is kept until the server exits (the
 * SDK may ask again after a lost answer). */
void serve_futures_retrieve(serve_futures *f, const char *id, int wait_ms, serve_reply *r);
/* Waits for id to settle (however long) and copies its reply as it was
 * settled, status and all. */
int serve_futures_wait(serve_futures *f, const char *id, serve_reply *r);
/* Fails every pending future with msg (shutdown). */
void serve_futures_fail_pending(serve_futures *f, const char *msg);

/* ---- the worker (queue.c) ----------------------------------------------------- */

typedef struct serve serve;
typedef struct serve_job serve_job;
typedef void (*serve_job_fn)(serve *s, void *ctx, serve_reply *r);
typedef void (*serve_job_free)(void *ctx);

typedef struct serve_queue serve_queue;

int serve_queue_open(serve_queue **out, serve *s);
/* Stops taking jobs, finishes the one running, fails the rest. */
void serve_queue_stop(serve_queue *q);
/* Stops (if not yet) and frees. */
void serve_queue_close(serve_queue *q);
/* Queues fn(ctx) and writes the future's id; free_ctx(ctx) after it ran.
 * On failure ctx is freed and a reply is written to r. */
int serve_queue_submit(serve *s, serve_job_fn fn, serve_job_free free_ctx, void *ctx,
		       serve_reply *r);

/* Queues fn(ctx) and waits for its reply (calls the SDK does not poll). */
int serve_queue_run(serve *s, serve_job_fn fn, serve_job_free free_ctx, void *ctx,
		    serve_reply *r);

/* ---- models (registry.c) ------------------------------------------------------ */

typedef struct serve_base {
	char *name;
	char *path;
	struct tk_model *model;     /* config, tokenizer, fingerprint (weights dropped) */
	struct tk_engine *engine;   /* NULL until first used */
} serve_base;

typedef struct serve_client {  /* a training client: a LoRA trainer on a base */
	char id[48];
	serve_base *base;
	struct tk_train *train;
	tk_lora *adapter;           /* the shapes and config exports copy into */
	int rank;
	int train_mlp, train_attn, train_unembed;
	uint64_t seed;
} serve_client;

typedef struct serve_sampler {
	char id[48];
	serve_base *base;
	char *adapter;              /* attached name on the engine; NULL: the base */
	char *path;                 /* tinker:// path it was made from, or NULL */
} serve_sampler;

typedef struct serve_registry serve_registry;

int serve_registry_open(serve_registry **out, const serve_config *c);
void serve_registry_close(serve_registry *g);
/* A base by a client's name or a local path; NULL when the server cannot
 * load it (a message recorded).  Loads it (worker thread only). */
serve_base *serve_registry_base(serve *s, const char *name);
/* Whether a name is one the server knows without loading (handlers). */
int serve_registry_knows(const serve_registry *g, const char *name);
const serve_config *serve_registry_config(const serve_registry *g);
serve_client *serve_registry_add_client(serve_registry *g);
serve_client *serve_registry_client(serve_registry *g, const char *id);
serve_sampler *serve_registry_add_sampler(serve_registry *g);
serve_sampler *serve_registry_sampler(serve_registry *g, const char *id);
/* The sampler already made from a tinker:// path, or NULL. */
serve_sampler *serve_registry_sampler_by_path(serve_registry *g, const char *path);
/* capabilities: {"supported_models": [...]} */
cJSON *serve_registry_capabilities(const serve_registry *g);

/* ---- forward_backward requests (pb.c, datum.c) ------------------------------ */

/* One datum: model_input x (n) and per-position inputs; position i predicts
 * target[i] from x[0..i].  tk trains on a sequence, so target must be x
 * shifted by one: tokens = x then target[n-1]. */
typedef struct serve_datum {
	int32_t *tokens;            /* (n + 1) */
	size_t n;
	float *weights;             /* (n) or NULL: "weights" */
	float *logprobs;            /* (n) or NULL: "logprobs" (the sampler's) */
	float *advantages;          /* (n) or NULL: "advantages" */
} serve_datum;

typedef struct serve_fb {
	char *model_id;
	int64_t seq_id;
	char *loss_fn;
	int forward_only;
	/* loss_fn_config: the numbers given, NaN when not */
	double clip_low, clip_high, beta;
	serve_datum *data;
	size_t n_data;
} serve_fb;

void serve_fb_free(serve_fb *fb);
/* Decodes a ForwardBackwardRequest (protobuf); 400's message in err. */
int serve_fb_from_proto(serve_fb *fb, const unsigned char *body, size_t len,
			char *err, size_t cap);

/* What a forward_backward gives back: per datum the logprobs of its
 * targets and each position's loss, and the metrics. */
typedef struct serve_fb_out {
	size_t n_data;
	const size_t *lengths;      /* (n_data) positions of each datum */
	const float *logprobs;      /* (Σ lengths) */
	const float *elementwise;   /* (Σ lengths) or NULL */
	double loss_sum;
} serve_fb_out;

/* ForwardBackwardOutput as protobuf into r. */
void serve_fb_out_reply(const serve_fb_out *o, serve_reply *r);

/* A sampled sequence, and SampleResponse as protobuf. */
typedef struct serve_seq {
	int32_t *tokens;
	float *logprobs;            /* NULL: not asked */
	size_t n;
	int stop;                   /* 1: a stop ended it, 0: length */
} serve_seq;

void serve_sample_reply(const serve_seq *seqs, size_t n, const float *prompt_logprobs,
			size_t prompt_len, serve_reply *r);

/* ---- the server --------------------------------------------------------------- */

struct serve {
	serve_config config;
	serve_futures *futures;
	serve_queue *queue;
	serve_registry *registry;
	struct tk_backend *backend;
	struct serve_http *http;
	pthread_mutex_t lock;       /* ids below */
	uint64_t next_id;
	char session_id[48];
};

/* A fresh id with a prefix ("model-3"), unique within this server. */
void serve_new_id(serve *s, const char *prefix, char *out, size_t cap);

/* ---- running (server.c) ------------------------------------------------------- */

/* Opens the backend, the worker and the listener; the URL it listens on is
 * printed on stderr ("tk-serve: listening on http://HOST:PORT"). */
int serve_open(serve **out, const serve_config *c);
/* Stops listening, finishes the running job, fails those waiting, frees
 * everything; saved checkpoints stay on disk. */
void serve_close(serve *s);

/* train_ops.c: a client's trainer, adapter and description */
int serve_client_open(serve *s, serve_client *c);
int serve_client_new_adapter(serve *s, serve_client *c);
void serve_client_describe(const serve_client *c, cJSON *o);

/* ---- checkpoint paths --------------------------------------------------------- */

/* tinker://RUN/KIND/NAME -> STATE_DIR/RUN/KIND/NAME, the stem of its files
 * (NAME.tkc, NAME.json, ...); NULL (message
 * recorded) for a path outside the scheme or with "..". malloc'd. */
char *serve_path_to_file(const serve *s, const char *tinker_path);

/* ---- handlers ------------------------------------------------------------------ */

typedef struct serve_request {
	const char *method;
	const char *path;
	const unsigned char *body;
	size_t len;
	const char *content_type;
	const char *content_encoding;
} serve_request;

/* routes.c: answers one request (any thread). */
void serve_route(serve *s, const serve_request *q, serve_reply *r);

/* lifecycle.c */
void serve_healthz(serve *s, const cJSON *in, serve_reply *r);
void serve_client_config(serve *s, const cJSON *in, serve_reply *r);
void serve_dynamic_config(serve *s, const cJSON *in, serve_reply *r);
void serve_create_session(serve *s, const cJSON *in, serve_reply *r);
void serve_heartbeat(serve *s, const cJSON *in, serve_reply *r);
void serve_auth_token(serve *s, const cJSON *in, serve_reply *r);
void serve_capabilities(serve *s, const cJSON *in, serve_reply *r);
void serve_telemetry(serve *s, const cJSON *in, serve_reply *r);
void serve_empty_ok(serve *s, const cJSON *in, serve_reply *r);

/* train_ops.c */
void serve_create_model(serve *s, const cJSON *in, serve_reply *r);
void serve_get_info(serve *s, const cJSON *in, serve_reply *r);
void serve_optim_step(serve *s, const cJSON *in, serve_reply *r);
void serve_save_weights(serve *s, const cJSON *in, serve_reply *r);
void serve_save_for_sampler(serve *s, const cJSON *in, serve_reply *r);
void serve_load_weights(serve *s, const cJSON *in, serve_reply *r);
void serve_weights_info(serve *s, const cJSON *in, serve_reply *r);
/* forward_backward: a protobuf (or JSON) body */
void serve_forward_backward(serve *s, const serve_request *q, serve_reply *r);

/* sample_ops.c */
void serve_create_sampling_session(serve *s, const cJSON *in, serve_reply *r);
void serve_get_sampler(serve *s, const char *id, serve_reply *r);
void serve_asample(serve *s, const cJSON *in, serve_reply *r);

/* openai.c */
void serve_openai_completions(serve *s, const cJSON *in, int chat, serve_reply *r);

/* http.c */
typedef struct serve_http serve_http;
int serve_http_start(serve_http **out, serve *s);
void serve_http_stop(serve_http *h);

#endif
