/* Environments: prompts from a JSON Lines file in seeded passes, the math
 * environment's grading, and the dispatch every environment goes through
 * (tk_rl.h). */
#include "rl_internal.h"

#include "tk_error.h"
#include "tk_eval.h"
#include "tk_io.h"
#include "tk_rng.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROMPTS_FILE ((size_t)1 << 30)

void tk_rl_prompt_free(tk_rl_prompt *p)
{
	free(p->id_json);
	free(p->messages_json);
	free(p->answer);
	free(p->meta_json);
	memset(p, 0, sizeof *p);
}

/* ---- one line ----------------------------------------------------------- */

/* Each message an object with a role tk knows and string content. */
static int check_messages(const cJSON *msgs)
{
	if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
		return tk_fail(TK_EDATA, "\"messages\" is not a non-empty array");
	const cJSON *m;
	cJSON_ArrayForEach(m, msgs) {
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
		const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
		if (!cJSON_IsString(role) || tk_role_parse(role->valuestring) < 0)
			return tk_fail(TK_EDATA, "a message without a known \"role\" (system, user, "
				       "assistant)");
		if (!cJSON_IsString(content))
			return tk_fail(TK_EDATA, "a message whose \"content\" is not a string");
	}
	return TK_OK;
}

/* The conversation of a line: "messages", or "prompt" / "question" text
 * as one user message.  A final assistant message is the reference
 * answer when the line has no "answer". */
static cJSON *take_messages(cJSON *line, cJSON **reference)
{
	cJSON *msgs = cJSON_DetachItemFromObjectCaseSensitive(line, "messages");
	*reference = NULL;
	if (msgs) {
		if (check_messages(msgs)) {
			cJSON_Delete(msgs);
			return NULL;
		}
		cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
		if (strcmp(role->valuestring, "assistant") == 0 && cJSON_GetArraySize(msgs) > 1) {
			cJSON *m = cJSON_DetachItemFromArray(msgs, cJSON_GetArraySize(msgs) - 1);
			*reference = cJSON_DetachItemFromObjectCaseSensitive(m, "content");
			cJSON_Delete(m);
		}
		return msgs;
	}
	cJSON *text = cJSON_DetachItemFromObjectCaseSensitive(line, "prompt");
	if (!text)
		text = cJSON_DetachItemFromObjectCaseSensitive(line, "question");
	if (!cJSON_IsString(text)) {
		cJSON_Delete(text);
		tk_fail(TK_EDATA, "no \"messages\" array, nor a \"prompt\" (or \"question\") string");
		return NULL;
	}
	msgs = cJSON_CreateArray();
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddItemToObject(m, "content", text);
	cJSON_AddItemToArray(msgs, m);
	return msgs;
}

/* "answer" as text: a string as it is, a number printed. */
static char *answer_text(const cJSON *a)
{
	if (cJSON_IsString(a))
		return tk_strdup(a->valuestring);
	if (cJSON_IsNumber(a)) {
		char buf[64];
		snprintf(buf, sizeof buf, "%.17g", a->valuedouble);
		return tk_strdup(buf);
	}
	return NULL;
}

static char *print_json(const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	if (!s)
		tk_fail(TK_EOSERR, "out of memory");
	return s;
}

static int parse_prompt(tk_rl_prompt *p, const char *text, size_t len, uint64_t number,
			int need_answer)
{
	cJSON *line = tk_jsonl_parse(text, len);
	if (!line)
		return TK_EDATA;
	cJSON *reference, *msgs = take_messages(line, &reference);
	int rc = msgs ? TK_OK : TK_EDATA;
	const cJSON *answer = cJSON_GetObjectItemCaseSensitive(line, "answer");
	if (!rc && !answer && reference) {
		cJSON_AddItemToObject(line, "answer", reference);
		reference = NULL;
	}
	answer = cJSON_GetObjectItemCaseSensitive(line, "answer");
	if (!rc && answer && !cJSON_IsString(answer) && !cJSON_IsNumber(answer))
		rc = tk_fail(TK_EDATA, "\"answer\" is neither a string nor a number");
	if (!rc && need_answer && !answer)
		rc = tk_fail(TK_EDATA, "no \"answer\" to grade against");
	cJSON *id = cJSON_DetachItemFromObjectCaseSensitive(line, "id");
	if (!rc) {
		p->answer = answer ? answer_text(answer) : NULL;
		p->messages_json = print_json(msgs);
		p->meta_json = print_json(line);
		p->id_json = id ? print_json(id) : NULL;
		if (!id && (p->id_json = tk_malloc(24)))
			snprintf(p->id_json, 24, "%" PRIu64, number);
		if (!p->messages_json || !p->meta_json || !p->id_json || (answer && !p->answer))
			rc = TK_EOSERR;
	}
	cJSON_Delete(id);
	cJSON_Delete(reference);
	cJSON_Delete(msgs);
	cJSON_Delete(line);
	return rc;
}

/* ---- the file ----------------------------------------------------------- */

static int add_line(rl_prompts *ps, size_t *cap, const char *line, size_t len, uint64_t number,
		    int need_answer)
{
	if (ps->n == *cap) {
		size_t c = *cap ? 2 * *cap : 256;
		tk_rl_prompt *v = tk_realloc(ps->v, c * sizeof *v);
		if (!v)
			return TK_EOSERR;
		ps->v = v;
		*cap = c;
	}
	tk_rl_prompt *p = &ps->v[ps->n];
	memset(p, 0, sizeof *p);
	int rc = parse_prompt(p, line, len, number, need_answer);
	if (rc) {
		tk_rl_prompt_free(p);
		return rc;
	}
	ps->n++;
	return TK_OK;
}

int rl_prompts_load(rl_prompts *ps, const char *path, int need_answer)
{
	char *text;
	size_t size, cap = 0;
	memset(ps, 0, sizeof *ps);
	ps->pass = UINT64_MAX;
	int rc = tk_read_text(path, MAX_PROMPTS_FILE, &text, &size);
	if (rc)
		return rc;
	uint64_t number = 0;
	for (size_t at = 0; !rc && at < size;) {
		const char *nl = memchr(text + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - (text + at)) : size - at;
		number++;
		if (!tk_jsonl_blank(text + at, len))
			rc = add_line(ps, &cap, text + at, len, number, need_answer);
		if (rc)
			rc = tk_fail_context(rc, "%s:%" PRIu64 ": ", path, number);
		at += len + 1;
	}
	free(text);
	if (!rc && ps->n == 0)
		rc = tk_fail(TK_EDATA, "%s: no prompts in the file", path);
	if (!rc && !(ps->order = tk_calloc(ps->n, sizeof *ps->order)))
		rc = TK_EOSERR;
	if (rc)
		rl_prompts_free(ps);
	return rc;
}

void rl_prompts_free(rl_prompts *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		tk_rl_prompt_free(&ps->v[i]);
	free(ps->v);
	free(ps->order);
	memset(ps, 0, sizeof *ps);
}

/* Fisher-Yates from (seed, pass) alone. */
static void make_order(rl_prompts *ps, uint64_t seed, uint64_t pass)
{
	tk_rng rng;
	tk_rng_seed(&rng, seed ^ (0x9e3779b97f4a7c15ull * (pass + 1)));
	for (size_t i = 0; i < ps->n; i++)
		ps->order[i] = i;
	for (size_t i = ps->n; i > 1; i--) {
		size_t j = (size_t)tk_rng_below(&rng, i);
		size_t t = ps->order[i - 1];
		ps->order[i - 1] = ps->order[j];
		ps->order[j] = t;
	}
	ps->pass = pass;
}

static char *dup_or_null(const char *s, int *rc)
{
	char *d = s ? tk_strdup(s) : NULL;
	if (s && !d)
		*rc = TK_EOSERR;
	return d;
}

int rl_prompts_get(rl_prompts *ps, uint64_t seed, uint64_t k, tk_rl_prompt *out)
{
	uint64_t pass = k / ps->n;
	if (ps->pass != pass)
		make_order(ps, seed, pass);
	const tk_rl_prompt *p = &ps->v[ps->order[k % ps->n]];
	int rc = TK_OK;
	out->id_json = dup_or_null(p->id_json, &rc);
	out->messages_json = dup_or_null(p->messages_json, &rc);
	out->answer = dup_or_null(p->answer, &rc);
	out->meta_json = dup_or_null(p->meta_json, &rc);
	if (rc)
		tk_rl_prompt_free(out);
	return rc;
}

/* ---- math --------------------------------------------------------------- */

static int math_score(const tk_rl_env *e, const tk_rl_sample *s, tk_rl_score *out)
{
	char *got = NULL, *want = NULL;
	int rc = tk_eval_extract(e->task, s->text, &got);
	if (!rc && s->prompt->answer)
		rc = tk_eval_reference(e->task, s->prompt->answer, &want);
	if (!rc) {
		out->formatted = got != NULL;
		out->correct = got && want && tk_eval_equal(e->task, got, want);
		out->reward = out->correct;
	}
	free(got);
	free(want);
	return rc;
}

/* ---- dispatch ----------------------------------------------------------- */

static tk_rl_env *new_env(int kind, uint64_t seed)
{
	tk_rl_env *e = tk_calloc(1, sizeof *e);
	if (e) {
		e->kind = kind;
		e->seed = seed;
		e->child.to = e->child.from = -1;
	}
	return e;
}

int tk_rl_env_math(tk_rl_env **out, const char *prompts_path, int task, uint64_t seed)
{
	if (task != TK_EVAL_NUMBER && task != TK_EVAL_BOXED)
		return tk_fail(TK_EUSAGE, "math: grading is by number or boxed answer");
	tk_rl_env *e = new_env(RL_MATH, seed);
	if (!e)
		return TK_EOSERR;
	e->task = task;
	int rc = rl_prompts_load(&e->prompts, prompts_path, 1);
	if (rc) {
		free(e);
		return rc;
	}
	*out = e;
	return TK_OK;
}

int tk_rl_env_prompts(tk_rl_env **out, const char *prompts_path, uint64_t seed)
{
	tk_rl_env *e = new_env(RL_PROMPTS, seed);
	if (!e)
		return TK_EOSERR;
	int rc = rl_prompts_load(&e->prompts, prompts_path, 0);
	if (rc) {
		free(e);
		return rc;
	}
	*out = e;
	return TK_OK;
}

int tk_rl_env_arithmetic(tk_rl_env **out, const tk_rl_arith_config *c)
{
	if (c->digits < 1 || c->digits > 9)
		return tk_fail(TK_EUSAGE, "arithmetic: digits must be 1..9, not %d", c->digits);
	if (!c->ops || (c->ops & ~(unsigned)(TK_RL_ADD | TK_RL_SUB | TK_RL_MUL)))
		return tk_fail(TK_EUSAGE, "arithmetic: no operation chosen");
	tk_rl_env *e = new_env(RL_ARITHMETIC, c->seed);
	if (!e)
		return TK_EOSERR;
	e->arith = *c;
	*out = e;
	return TK_OK;
}

int tk_rl_env_cmd(tk_rl_env **out, const char *prompts_path, const char *command,
		  double timeout, uint64_t seed)
{
	if (!command || !*command)
		return tk_fail(TK_EUSAGE, "cmd: no reward program");
	if (!(timeout > 0 && timeout <= TK_RL_ENV_TIMEOUT_MAX))
		return tk_fail(TK_EUSAGE, "cmd: the timeout must be in (0, %g] seconds, not %g",
			       TK_RL_ENV_TIMEOUT_MAX, timeout);
	tk_rl_env *e = new_env(RL_CMD, seed);
	if (!e)
		return TK_EOSERR;
	int rc = rl_prompts_load(&e->prompts, prompts_path, 0);
	if (!rc)
		rc = rl_child_start(&e->child, "reward program", command, timeout);
	if (rc) {
		rl_prompts_free(&e->prompts);
		free(e);
		return rc;
	}
	*out = e;
	return TK_OK;
}

void tk_rl_env_free(tk_rl_env *e)
{
	if (!e)
		return;
	rl_child_stop(&e->child);
	rl_prompts_free(&e->prompts);
	free(e);
}

const char *tk_rl_env_name(const tk_rl_env *e)
{
	static const char *const names[] = {"arithmetic", "math", "cmd", "episodes", "prompts"};
	return names[e->kind];
}

size_t tk_rl_env_size(const tk_rl_env *e)
{
	return e->prompts.n;
}

int tk_rl_env_prompt(tk_rl_env *e, uint64_t k, tk_rl_prompt *p)
{
	memset(p, 0, sizeof *p);
	if (e->kind == RL_ARITHMETIC)
		return rl_arith_prompt(e, k, p);
	if (e->kind == RL_EPISODES && e->prompts.n == 0)
		return rl_episode_prompt(k, p);
	return rl_prompts_get(&e->prompts, e->seed, k, p);
}

int tk_rl_env_score(tk_rl_env *e, const tk_rl_sample *s, size_t n, tk_rl_score *out)
{
	memset(out, 0, n * sizeof *out);
	if (e->kind == RL_CMD)
		return rl_child_score(&e->child, s, n, out);
	if (e->kind == RL_EPISODES)
		return tk_fail(TK_EUSAGE, "an environment of episodes plays turns; it does not "
			       "score single completions");
	for (size_t i = 0; i < n; i++)
		out[i].correct = -1; // prompts: nothing graded (a teacher or judge rewards)
	for (size_t i = 0; e->kind != RL_PROMPTS && i < n; i++) {
		int rc = e->kind == RL_ARITHMETIC ? rl_arith_score(e, &s[i], &out[i])
						  : math_score(e, &s[i], &out[i]);
		if (rc)
			return rc;
	}
	return TK_OK;
}

void tk_rl_score_free(tk_rl_score *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		free(s[i].metrics_json);
		s[i].metrics_json = NULL;
	}
}
