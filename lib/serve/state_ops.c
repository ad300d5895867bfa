/* Checkpoints under tinker:// paths (serve.h): save_weights (a training
 * state: adapter, Adam moments, step), load_weights with or without the
 * optimizer, save_weights_for_sampler (an adapter a sampler attaches) and
 * weights_info.  tinker://RUN/weights/NAME is STATE_DIR/RUN/weights/NAME.tkc
 * (the state), with NAME.adapter.tkc (its weights alone) and NAME.json
 * (base model and LoRA settings) beside it; sampler weights are
 * STATE_DIR/RUN/sampler_weights/NAME.tkc and NAME.json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "serve.h"
#include "tk_engine.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_train.h"

#define SCHEME "tinker://"

static int safe_part(const char *p, size_t n)
{
	if (!n || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\\' || (unsigned char)p[i] < 0x20)
			return 0;
	return 1;
}

/* STATE_DIR/RUN/KIND/NAME: the stem the files add their extensions to. */
char *serve_path_to_file(const serve *s, const char *tp)
{
	if (!tp || strncmp(tp, SCHEME, strlen(SCHEME))) {
		tk_fail(TK_EUSAGE, "%s: not a tinker:// path", tp ? tp : "(none)");
		return NULL;
	}
	const char *rest = tp + strlen(SCHEME);
	for (const char *p = rest, *slash; *p; p = slash + 1) {
		slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!safe_part(p, n)) {
			tk_fail(TK_EUSAGE, "%s: an empty, '.' or '..' part", tp);
			return NULL;
		}
		if (!slash)
			break;
	}
	size_t cap = strlen(s->config.state_dir) + strlen(rest) + 2;
	char *f = malloc(cap);
	if (f)
		snprintf(f, cap, "%s/%s", s->config.state_dir, rest);
	return f;
}

/* mkdir -p of path's folder. */
static int make_parents(char *path)
{
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = 0;
		int rc = mkdir(path, 0777);
		*p = '/';
		if (rc && errno != EEXIST)
			return tk_fail(TK_ECANTCREAT, "%.*s: %s", (int)(p - path), path, strerror(errno));
	}
	return 0;
}

/* base + extension, malloc'd. */
static char *with_ext(const char *base, const char *ext)
{
	size_t n = strlen(base) + strlen(ext) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s", base, ext);
	return p;
}

/* NAME.json: what a client made from this checkpoint needs to know. */
static int write_sidecar(const serve_client *c, const char *file)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "base_model", c->base->name);
	cJSON_AddNumberToObject(o, "lora_rank", c->rank);
	cJSON_AddBoolToObject(o, "train_mlp", c->train_mlp);
	cJSON_AddBoolToObject(o, "train_attn", c->train_attn);
	cJSON_AddNumberToObject(o, "step", (double)tk_train_steps(c->train));
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	char *path = with_ext(file, ".json");
	int rc = text && path ? tk_write_text(path, text, strlen(text))
			      : tk_fail(TK_EOSERR, "out of memory");
	free(text);
	free(path);
	return rc;
}

static cJSON *read_sidecar(const char *file)
{
	char *path = with_ext(file, ".json");
	char *text = NULL;
	size_t len = 0;
	cJSON *o = NULL;
	if (path && !tk_read_text(path, 1 << 20, &text, &len))
		o = cJSON_ParseWithLength(text, len);
	if (path && !o)
		tk_fail(TK_ENOINPUT, "%s: no checkpoint there (or its metadata is unreadable)", path);
	free(text);
	free(path);
	return o;
}

/* The checkpoint's tinker:// path: the name given, or a new one. */
static void checkpoint_path(serve *s, const serve_client *c, const char *kind,
			    const cJSON *in, char *out, size_t cap)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "path");
	char made[48];
	if (!cJSON_IsString(name))
		serve_new_id(s, "ckpt", made, sizeof made);
	snprintf(out, cap, SCHEME "%s/%s/%s", c->id, kind,
		 cJSON_IsString(name) ? name->valuestring : made);
}

/* ---- save_weights / save_weights_for_sampler ------------------------------------ */

typedef struct save_job {
	char id[48];
	char path[600];             /* tinker:// */
	int sampler;                /* save_weights_for_sampler */
	int session;                /* ... without a name: answer a sampling session */
} save_job;

/* The trained adapter written to file (and kept in c->adapter). */
static int export_adapter(serve_client *c, const char *file)
{
	int rc = tk_train_export_lora(c->train, c->adapter);
	return rc ? rc : tk_lora_save(c->adapter, file, NULL);
}

static int save_state(serve_client *c, char *file)
{
	char *adapter = with_ext(file, ".adapter.tkc"), *state = with_ext(file, ".tkc");
	int rc = adapter && state ? make_parents(file) : tk_fail(TK_EOSERR, "out of memory");
	if (!rc)
		rc = tk_train_save_state(c->train, state, "{\"tk_serve\": 1}");
	if (!rc)
		rc = export_adapter(c, adapter);
	if (!rc)
		rc = write_sidecar(c, file);
	free(adapter);
	free(state);
	return rc;
}

/* A sampler on a copy of the adapter in file, attached under its path. */
static serve_sampler *attach_sampler(serve *s, serve_base *b, const char *tp, const char *file)
{
	serve_sampler *p = serve_registry_sampler_by_path(s->registry, tp);
	if (p)
		return p;
	tk_lora *a = NULL;
	char *adapter = with_ext(file, ".tkc");
	int rc = !adapter ? tk_fail(TK_EOSERR, "out of memory")
	       : tk_engine_has(b->engine, tp) ? 0 : tk_lora_load(&a, adapter, b->model);
	free(adapter);
	if (!rc && a)
		rc = tk_engine_attach(b->engine, tp, a);
	tk_lora_free(a);
	if (rc || !(p = serve_registry_add_sampler(s->registry)))
		return NULL;
	serve_new_id(s, "sampler", p->id, sizeof p->id);
	p->base = b;
	p->adapter = strdup(tp);
	p->path = strdup(tp);
	return p;
}

/* Sampler weights saved again under a path a sampler already uses: that
 * sampler now samples from the new weights (its engine copy replaced). */
static int refresh_sampler(serve *s, serve_base *b, const char *tp, const char *file)
{
	if (!serve_registry_sampler_by_path(s->registry, tp) || !tk_engine_has(b->engine, tp))
		return 0;
	char *adapter = with_ext(file, ".tkc");
	tk_lora *a = NULL;
	int rc = adapter ? tk_lora_load(&a, adapter, b->model) : tk_fail(TK_EOSERR, "out of memory");
	if (!rc)
		rc = tk_engine_detach(b->engine, tp);
	if (!rc)
		rc = tk_engine_attach(b->engine, tp, a);
	tk_lora_free(a);
	free(adapter);
	return rc;
}

static void save_run(serve *s, void *ctx, serve_reply *r)
{
	save_job *j = ctx;
	serve_client *c = serve_registry_client(s->registry, j->id);
	if (!c || !c->train) {
		serve_reply_error(r, 404, "user", "save: no training client %s", j->id);
		return;
	}
	char *file = serve_path_to_file(s, j->path);
	int rc = file ? 0 : TK_EUSAGE;
	if (!rc && j->sampler) {
		char *adapter = with_ext(file, ".tkc");
		rc = adapter ? make_parents(file) : tk_fail(TK_EOSERR, "out of memory");
		if (!rc)
			rc = export_adapter(c, adapter);
		free(adapter);
		if (!rc)
			rc = write_sidecar(c, file);
	} else if (!rc)
		rc = save_state(c, file);
	if (!rc && j->sampler)
		rc = refresh_sampler(s, c->base, j->path, file);
	serve_sampler *p = !rc && j->session ? attach_sampler(s, c->base, j->path, file) : NULL;
	free(file);
	if (rc || (j->session && !p)) {
		serve_reply_error(r, rc == TK_EUSAGE ? 400 : 500, rc == TK_EUSAGE ? "user" : "server",
				  "save %s: %s", j->path, tk_error_message());
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", j->path);
	if (p)
		cJSON_AddStringToObject(o, "sampling_session_id", p->id);
	cJSON_AddStringToObject(o, "type", j->sampler ? "save_weights_for_sampler" : "save_weights");
	serve_reply_json(r, 200, o);
}

static void save_submit(serve *s, const cJSON *in, int sampler, serve_reply *r)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "model_id");
	serve_client *c = serve_registry_client(s->registry, cJSON_GetStringValue(id));
	if (!c) {
		serve_reply_error(r, 404, "user", "save: no training client %s",
				  cJSON_IsString(id) ? id->valuestring : "(none)");
		return;
	}
	save_job *j = calloc(1, sizeof *j);
	if (!j) {
		serve_reply_error(r, 500, "server", "out of memory");
		return;
	}
	snprintf(j->id, sizeof j->id, "%s", c->id);
	j->sampler = sampler;
	j->session = sampler && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(in, "path"));
	checkpoint_path(s, c, sampler ? "sampler_weights" : "weights", in, j->path, sizeof j->path);
	char *file = serve_path_to_file(s, j->path);
	if (!file) {
		free(j);
		serve_reply_error(r, 400, "user", "save: %s", tk_error_message());
		return;
	}
	free(file);
	serve_queue_submit(s, save_run, free, j, r);
}

void serve_save_weights(serve *s, const cJSON *in, serve_reply *r)
{
	save_submit(s, in, 0, r);
}

void serve_save_for_sampler(serve *s, const cJSON *in, serve_reply *r)
{
	save_submit(s, in, 1, r);
}

/* The sampler of a tinker:// sampler path, loaded if need be (worker). */
serve_sampler *serve_sampler_for_path(serve *s, const char *tp)
{
	serve_sampler *p = serve_registry_sampler_by_path(s->registry, tp);
	if (p)
		return p;
	char *file = serve_path_to_file(s, tp);
	cJSON *meta = file ? read_sidecar(file) : NULL;
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "base_model"));
	serve_base *b = name ? serve_registry_base(s, name) : NULL;
	if (meta && !name)
		tk_fail(TK_EDATA, "%s: metadata without base_model", tp);
	p = b ? attach_sampler(s, b, tp, file) : NULL;
	cJSON_Delete(meta);
	free(file);
	return p;
}

/* ---- load_weights ------------------------------------------------------------------ */

typedef struct load_job {
	char id[48];
	char path[600];
	int optimizer;
	int create;                 /* a new client from the checkpoint */
} load_job;

/* A client's trainer reopened from the checkpoint: with the optimizer, the
 * whole state; without, the adapter's weights with fresh moments, step 0. */
static int load_into(serve *s, serve_client *c, const char *file, int optimizer)
{
	char *adapter = with_ext(file, ".adapter.tkc");
	tk_lora *a = NULL;
	int rc = adapter ? tk_lora_load(&a, adapter, c->base->model) : TK_EOSERR;
	free(adapter);
	if (rc)
		return rc;
	tk_train_close(c->train);
	c->train = NULL;
	tk_lora_free(c->adapter);
	c->adapter = a;
	rc = serve_client_open(s, c);
	char *state = optimizer ? with_ext(file, ".tkc") : NULL;
	if (!rc && optimizer)
		rc = state ? tk_train_load_state(c->train, state, NULL) : TK_EOSERR;
	free(state);
	return rc;
}

/* The client of a load_weights that creates one: its settings from the
 * checkpoint's metadata. */
static int client_from_meta(serve *s, serve_client *c, const cJSON *meta)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "base_model"));
	const cJSON *rank = cJSON_GetObjectItemCaseSensitive(meta, "lora_rank");
	if (!name || !cJSON_IsNumber(rank))
		return tk_fail(TK_EDATA, "checkpoint metadata without base_model and lora_rank");
	if (!(c->base = serve_registry_base(s, name)))
		return TK_ENOINPUT;
	c->rank = rank->valueint;
	c->train_mlp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "train_mlp"));
	c->train_attn = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "train_attn"));
	return 0;
}

static void load_run(serve *s, void *ctx, serve_reply *r)
{
	load_job *j = ctx;
	serve_client *c = serve_registry_client(s->registry, j->id);
	char *file = serve_path_to_file(s, j->path);
	cJSON *meta = file ? read_sidecar(file) : NULL;
	int rc = meta ? 0 : TK_ENOINPUT;
	if (!rc && j->create && !c->base)
		rc = client_from_meta(s, c, meta);
	if (!rc && !c->base)
		rc = tk_fail(TK_EUSAGE, "no training client %s", j->id);
	if (!rc)
		rc = load_into(s, c, file, j->optimizer);
	cJSON_Delete(meta);
	free(file);
	if (rc) {
		int user = rc == TK_ENOINPUT || rc == TK_EUSAGE || rc == TK_EDATA;
		serve_reply_error(r, user ? 400 : 500, user ? "user" : "server",
				  "load_weights %s: %s", j->path, tk_error_message());
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", j->path);
	cJSON_AddStringToObject(o, "model_id", c->id);
	cJSON_AddStringToObject(o, "type", "load_weights");
	serve_reply_json(r, 200, o);
}

void serve_load_weights(serve *s, const cJSON *in, serve_reply *r)
{
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(in, "path");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "model_id");
	const cJSON *sid = cJSON_GetObjectItemCaseSensitive(in, "session_id");
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(in, "model_seq_id");
	load_job *j = calloc(1, sizeof *j);
	if (!j) {
		serve_reply_error(r, 500, "server", "out of memory");
		return;
	}
	j->optimizer = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "optimizer"));
	int ok = cJSON_IsString(path) && strlen(path->valuestring) < sizeof j->path;
	if (ok && cJSON_IsString(id)) {
		ok = serve_registry_client(s->registry, id->valuestring) != NULL;
		snprintf(j->id, sizeof j->id, "%s", id->valuestring);
	} else if (ok && cJSON_IsString(sid) && cJSON_IsNumber(seq)) {
		serve_client *c = serve_registry_add_client(s->registry);
		ok = c != NULL;
		if (c) {
			snprintf(c->id, sizeof c->id, "%s:train:%d", sid->valuestring, seq->valueint);
			snprintf(j->id, sizeof j->id, "%s", c->id);
			j->create = 1;
		}
	} else
		ok = 0;
	if (!ok) {
		free(j);
		serve_reply_error(r, cJSON_IsString(id) ? 404 : 400, "user", "load_weights: a path and "
				  "a known model_id (or session_id and model_seq_id) are needed");
		return;
	}
	snprintf(j->path, sizeof j->path, "%s", path->valuestring);
	serve_queue_submit(s, load_run, free, j, r);
}

/* weights_info: what a checkpoint was made from (answered at once). */
void serve_weights_info(serve *s, const cJSON *in, serve_reply *r)
{
	const char *tp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "tinker_path"));
	char *file = serve_path_to_file(s, tp);
	cJSON *meta = file ? read_sidecar(file) : NULL;
	free(file);
	if (!meta) {
		serve_reply_error(r, 404, "user", "weights_info: %s", tk_error_message());
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *base = cJSON_GetObjectItemCaseSensitive(meta, "base_model");
	cJSON_AddStringToObject(o, "base_model", cJSON_IsString(base) ? base->valuestring : "");
	cJSON_AddBoolToObject(o, "is_lora", 1);
	cJSON *rank = cJSON_GetObjectItemCaseSensitive(meta, "lora_rank");
	cJSON_AddNumberToObject(o, "lora_rank", cJSON_IsNumber(rank) ? rank->valuedouble : 0);
	cJSON_AddBoolToObject(o, "train_unembed", 0);
	cJSON_AddBoolToObject(o, "train_mlp",
			      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "train_mlp")));
	cJSON_AddBoolToObject(o, "train_attn",
			      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "train_attn")));
	cJSON_Delete(meta);
	serve_reply_json(r, 200, o);
}
