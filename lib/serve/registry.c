/* The models a server holds: base models by name (one engine each, loaded
 * on first use), training clients and sampling sessions by id (serve.h). */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "serve.h"
#include "tk_engine.h"
#include "tk_error.h"
#include "tk_model.h"
#include "tk_train.h"

struct serve_registry {
	const serve_config *config;
	pthread_mutex_t lock;
	serve_base **bases;
	size_t n_bases;
	serve_client **clients;
	size_t n_clients;
	serve_sampler **samplers;
	size_t n_samplers;
};

int serve_registry_open(serve_registry **out, const serve_config *c)
{
	serve_registry *g = tk_calloc(1, sizeof *g);
	if (!g)
		return TK_EOSERR;
	g->config = c;
	pthread_mutex_init(&g->lock, NULL);
	*out = g;
	return 0;
}

void serve_registry_close(serve_registry *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_samplers; i++) {
		serve_sampler *p = g->samplers[i];
		free(p->adapter);
		free(p->path);
		free(p);
	}
	for (size_t i = 0; i < g->n_clients; i++) {
		tk_train_close(g->clients[i]->train);
		tk_lora_free(g->clients[i]->adapter);
		free(g->clients[i]);
	}
	for (size_t i = 0; i < g->n_bases; i++) {
		tk_engine_close(g->bases[i]->engine);
		tk_model_free(g->bases[i]->model);
		free(g->bases[i]->name);
		free(g->bases[i]->path);
		free(g->bases[i]);
	}
	free(g->samplers);
	free(g->clients);
	free(g->bases);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

const serve_config *serve_registry_config(const serve_registry *g)
{
	return g->config;
}

static int is_file_or_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* TK_HOME/models/LAST (a folder) or TK_HOME/models/LAST.*.gguf, LAST the
 * part of a Hugging Face id after its '/'.  malloc'd, or NULL. */
static char *find_in_home(const char *name)
{
	const char *home = getenv("TK_HOME"), *user = getenv("HOME");
	char dir[2048], path[4200];
	if (home && *home)
		snprintf(dir, sizeof dir, "%s/models", home);
	else if (user && *user)
		snprintf(dir, sizeof dir, "%s/.cache/tk/models", user);
	else
		return NULL;
	const char *last = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	if (!*last || strchr(last, '*') || strchr(last, '?') || strchr(last, '['))
		return NULL;
	snprintf(path, sizeof path, "%s/%s", dir, last);
	if (is_file_or_dir(path))
		return strdup(path);
	snprintf(path, sizeof path, "%s/%s.*.gguf", dir, last);
	glob_t gl;
	char *found = NULL;
	if (glob(path, 0, NULL, &gl) == 0 && gl.gl_pathc > 0)
		found = strdup(gl.gl_pathv[0]);
	globfree(&gl);
	return found;
}

/* What name loads from: a --model, a local path, or TK_HOME. */
static char *path_of(const serve_registry *g, const char *name)
{
	for (size_t i = 0; i < g->config->n_models; i++)
		if (!strcmp(g->config->models[i].name, name))
			return strdup(g->config->models[i].path);
	if (is_file_or_dir(name))
		return strdup(name);
	return find_in_home(name);
}

int serve_registry_knows(const serve_registry *g, const char *name)
{
	char *p = path_of(g, name);
	free(p);
	return p != NULL;
}

static serve_base *find_base(serve_registry *g, const char *name)
{
	for (size_t i = 0; i < g->n_bases; i++)
		if (!strcmp(g->bases[i]->name, name))
			return g->bases[i];
	return NULL;
}

/* Loads the model, uploads it into an engine packed for training and
 * sampling, and keeps only its metadata on the host. */
static int base_load(serve *s, serve_base *b)
{
	int rc = tk_model_load(&b->model, b->path);
	if (rc)
		return tk_fail_context(rc, "%s: ", b->path);
	if (!b->model->tokenizer)
		return tk_fail(TK_ECONFIG, "%s: the model has no tokenizer", b->path);
	tk_engine_config ec = {.train = 1, .base = s->config.base_dtype};
	rc = tk_engine_open(&b->engine, s->backend, b->model, &ec);
	if (rc)
		return rc;
	tk_model_drop_weights(b->model);
	return 0;
}

static int grow(void *vp, size_t n)
{
	void ***v = vp;
	void **p = tk_realloc(*v, (n + 1) * sizeof *p);
	if (!p)
		return TK_EOSERR;
	*v = p;
	return 0;
}

serve_base *serve_registry_base(serve *s, const char *name)
{
	serve_registry *g = s->registry;
	pthread_mutex_lock(&g->lock);
	serve_base *b = find_base(g, name);
	pthread_mutex_unlock(&g->lock);
	if (b)
		return b;
	char *path = path_of(g, name);
	if (!path) {
		tk_fail(TK_ENOINPUT, "unknown base model %s: not a --model name, a local path, "
			"nor under TK_HOME/models", name);
		return NULL;
	}
	b = tk_calloc(1, sizeof *b);
	if (!b || !(b->name = strdup(name))) {
		free(b);
		free(path);
		tk_fail(TK_EOSERR, "out of memory");
		return NULL;
	}
	b->path = path;
	if (!s->config.quiet)
		fprintf(stderr, "tk-serve: loading %s from %s\n", name, path);
	int rc = base_load(s, b);
	pthread_mutex_lock(&g->lock);
	if (!rc)
		rc = grow(&g->bases, g->n_bases);
	if (!rc)
		g->bases[g->n_bases++] = b;
	pthread_mutex_unlock(&g->lock);
	if (rc) {
		tk_engine_close(b->engine);
		tk_model_free(b->model);
		free(b->name);
		free(b->path);
		free(b);
		return NULL;
	}
	return b;
}

serve_client *serve_registry_add_client(serve_registry *g)
{
	serve_client *c = tk_calloc(1, sizeof *c);
	if (!c)
		return NULL;
	pthread_mutex_lock(&g->lock);
	int rc = grow(&g->clients, g->n_clients);
	if (!rc)
		g->clients[g->n_clients++] = c;
	pthread_mutex_unlock(&g->lock);
	if (rc) {
		free(c);
		return NULL;
	}
	return c;
}

serve_client *serve_registry_client(serve_registry *g, const char *id)
{
	serve_client *c = NULL;
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; id && i < g->n_clients && !c; i++)
		if (!strcmp(g->clients[i]->id, id))
			c = g->clients[i];
	pthread_mutex_unlock(&g->lock);
	return c;
}

serve_sampler *serve_registry_add_sampler(serve_registry *g)
{
	serve_sampler *p = tk_calloc(1, sizeof *p);
	if (!p)
		return NULL;
	pthread_mutex_lock(&g->lock);
	int rc = grow(&g->samplers, g->n_samplers);
	if (!rc)
		g->samplers[g->n_samplers++] = p;
	pthread_mutex_unlock(&g->lock);
	if (rc) {
		free(p);
		return NULL;
	}
	return p;
}

serve_sampler *serve_registry_sampler(serve_registry *g, const char *id)
{
	serve_sampler *p = NULL;
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; id && i < g->n_samplers && !p; i++)
		if (!strcmp(g->samplers[i]->id, id))
			p = g->samplers[i];
	pthread_mutex_unlock(&g->lock);
	return p;
}

serve_sampler *serve_registry_sampler_by_path(serve_registry *g, const char *path)
{
	serve_sampler *p = NULL;
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; path && i < g->n_samplers && !p; i++)
		if (g->samplers[i]->path && !strcmp(g->samplers[i]->path, path))
			p = g->samplers[i];
	pthread_mutex_unlock(&g->lock);
	return p;
}

cJSON *serve_registry_capabilities(const serve_registry *g)
{
	cJSON *j = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(j, "supported_models");
	for (size_t i = 0; list && i < g->config->n_models; i++) {
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "model_name", g->config->models[i].name);
		cJSON_AddBoolToObject(m, "trainable", 1);
		cJSON_AddBoolToObject(m, "sampleable", 1);
		cJSON_AddItemToArray(list, m);
	}
	return j;
}
