/* The environment program of protocol 2 (tk-rl(1) ENVIRONMENT PROTOCOL):
 * started once, greeted, then asked in batches of numbered requests whose
 * replies name the request they answer, in any order (tk_rl.h). */
#include "rl_internal.h"

#include "tk_error.h"
#include "tk_io.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROTOCOL 2

int tk_rl_env_episodes(tk_rl_env **out, const char *prompts_path, const char *command,
		       double timeout, uint64_t seed)
{
	if (!command || !*command)
		return tk_fail(TK_EUSAGE, "episodes: no environment program");
	if (!(timeout > 0 && timeout <= TK_RL_ENV_TIMEOUT_MAX))
		return tk_fail(TK_EUSAGE, "episodes: the timeout must be in (0, %g] seconds, not %g",
			       TK_RL_ENV_TIMEOUT_MAX, timeout);
	tk_rl_env *e = tk_calloc(1, sizeof *e);
	if (!e)
		return TK_EOSERR;
	e->kind = RL_EPISODES;
	e->seed = seed;
	e->child.to = e->child.from = -1;
	int rc = prompts_path ? rl_prompts_load(&e->prompts, prompts_path, 0) : TK_OK;
	if (!rc)
		rc = rl_child_start(&e->child, "environment program", command, timeout);
	if (!rc)
		rc = rl_env_hello(e);
	if (rc) {
		tk_rl_env_free(e);
		return rc;
	}
	*out = e;
	return TK_OK;
}

/* ---- one batch of requests ---------------------------------------------- */

typedef struct call {
	const tk_rl_env *e;
	cJSON **replies;        /* (n) NULL until answered */
	const char *const *what; /* (n) each request's episode, for messages */
	uint64_t first;         /* req of the first request */
	size_t n;
} call;

static int take_reply(void *ctx, const char *line, size_t len, size_t index)
{
	(void)index;
	call *c = ctx;
	char shown[320];
	rl_excerpt(shown, sizeof shown, line, len);
	cJSON *o = tk_jsonl_parse(line, len);
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(o, "req");
	int rc = TK_OK;
	double r = cJSON_IsNumber(req) ? req->valuedouble : -1;
	if (!cJSON_IsObject(o))
		rc = tk_fail(TK_EDATA, "wrote '%s', not a reply: one JSON object a line, "
			     "{\"req\": N, ...} (tk-rl(1) ENVIRONMENT PROTOCOL)", shown);
	else if (!cJSON_IsNumber(req) || r != floor(r) || r < 0)
		rc = tk_fail(TK_EDATA, "a reply without a request number \"req\": '%s'", shown);
	else if (r < (double)c->first || r >= (double)(c->first + c->n))
		rc = tk_fail(TK_EDATA, "a reply to request %.0f, which is not one of the %zu awaited "
			     "(%" PRIu64 "..%" PRIu64 "): '%s'", r, c->n, c->first,
			     c->first + c->n - 1, shown);
	else if (c->replies[(size_t)(r - (double)c->first)])
		rc = tk_fail(TK_EDATA, "a second reply to request %.0f (episode %s): '%s'", r,
			     c->what[(size_t)(r - (double)c->first)], shown);
	if (rc) {
		cJSON_Delete(o);
		return rc;
	}
	c->replies[(size_t)(r - (double)c->first)] = o;
	return TK_OK;
}

/* reqs[i] numbered and printed back to back. */
static char *number_requests(tk_rl_env *e, cJSON **reqs, size_t n, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		cJSON_DeleteItemFromObjectCaseSensitive(reqs[i], "req");
		cJSON_AddItemToObject(reqs[i], "req", cJSON_CreateNumber((double)(e->next_req + i)));
		char *line = cJSON_PrintUnformatted(reqs[i]);
		int rc = line ? rl_append_line(&buf, len, &cap, line) : TK_EOSERR;
		free(line);
		if (rc) {
			free(buf);
			return NULL;
		}
	}
	return buf;
}

int rl_env_call(tk_rl_env *e, cJSON **reqs, const char *const *what, size_t n, cJSON **replies)
{
	rl_child *ch = &e->child;
	if (ch->failed || ch->pid <= 0)
		return tk_fail(TK_EIO, "environment program '%s' failed earlier", ch->command);
	memset(replies, 0, n * sizeof *replies);
	if (n == 0)
		return TK_OK;
	size_t len;
	char *buf = number_requests(e, reqs, n, &len);
	if (!buf)
		return tk_fail(TK_EOSERR, "out of memory");
	call c = {e, replies, what, e->next_req, n};
	e->next_req += n;
	int rc = rl_child_expect_silence(ch, "between batches of requests", 0);
	if (!rc)
		rc = rl_child_exchange(ch, buf, len, n, take_reply, &c);
	free(buf);
	if (rc)
		for (size_t i = 0; i < n; i++) {
			cJSON_Delete(replies[i]);
			replies[i] = NULL;
		}
	return rc;
}

int rl_env_hello(tk_rl_env *e)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	if (!req)
		return tk_fail(TK_EOSERR, "out of memory");
	cJSON_AddStringToObject(req, "op", "hello");
	cJSON_AddNumberToObject(req, "protocol", PROTOCOL);
	const char *what = "hello";
	int rc = rl_env_call(e, &req, &what, 1, &reply);
	cJSON_Delete(req);
	if (rc)
		return rc;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(reply, "protocol");
	if (!cJSON_IsNumber(v) || v->valuedouble != PROTOCOL) {
		char *shown = cJSON_PrintUnformatted(reply);
		rc = tk_fail(TK_EDATA, "environment program '%s' answered hello with '%.80s': it "
			     "must speak protocol %d, {\"req\": 0, \"protocol\": %d} (tk-rl(1) "
			     "ENVIRONMENT PROTOCOL; a reward program of protocol 1 runs with --env cmd)",
			     e->child.command, shown ? shown : "?", PROTOCOL, PROTOCOL);
		free(shown);
		e->child.failed = 1;
	}
	cJSON_Delete(reply);
	return rc;
}
