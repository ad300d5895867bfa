/* One episode of protocol 2: its seats' conversations, the requests that
 * carry its turns to the environment program and what the replies
 * change (rl_episode.h, tk-rl(1) ENVIRONMENT PROTOCOL). */
#include "rl_episode.h"

#include "tk_error.h"
#include "tk_io.h"
#include "tk_tokenizer.h"
#include "tk_utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void seat_free(ep_seat *s)
{
	cJSON_Delete(s->messages);
	tk_rl_rollouts_free(s->recs, s->n_recs);
	free(s->held);
	memset(s, 0, sizeof *s);
}

void rl_episode_clear(episode *ep)
{
	for (size_t k = 0; k < RL_MAX_SEATS; k++)
		seat_free(&ep->seat[k]);
	cJSON_Delete(ep->tools);
	cJSON_Delete(ep->metrics);
	tk_tokens_free(&ep->prompt_ids);
	free(ep->tokens);
	free(ep->logprobs);
	ep->tools = ep->metrics = NULL;
	ep->tokens = NULL;
	ep->logprobs = NULL;
	ep->n = ep->turns = ep->n_seats = ep->next = ep->cached = 0;
	ep->sampled = 0;
	ep->cut_reason = NULL;
	ep->state = EP_RESET;
}

void rl_episode_free(episode *ep)
{
	rl_episode_clear(ep);
}

size_t rl_common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
	size_t n = na < nb ? na : nb, i = 0;
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* ---- requests ------------------------------------------------------------ */

static cJSON *request(const char *op, const episode *ep)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "op", op);
	cJSON_AddStringToObject(o, "episode", ep->id);
	return o;
}

static cJSON *prompt_json(const tk_rl_prompt *p)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "id", cJSON_Parse(p->id_json));
	cJSON_AddItemToObject(o, "messages", cJSON_Parse(p->messages_json));
	if (p->answer)
		cJSON_AddStringToObject(o, "answer", p->answer);
	cJSON_AddItemToObject(o, "meta", cJSON_Parse(p->meta_json ? p->meta_json : "{}"));
	return o;
}

cJSON *rl_episode_reset_request(const episode *ep, int test)
{
	cJSON *o = request("reset", ep);
	cJSON_AddNumberToObject(o, "group", (double)ep->group);
	cJSON_AddNumberToObject(o, "index", (double)ep->index);
	cJSON_AddNumberToObject(o, "number", (double)ep->number);
	cJSON_AddStringToObject(o, "split", test ? "test" : "train");
	cJSON_AddNumberToObject(o, "seed", (double)ep->seed);
	if (ep->prompt)
		cJSON_AddItemToObject(o, "prompt", prompt_json(ep->prompt));
	return o;
}

cJSON *rl_episode_close_request(const episode *ep)
{
	cJSON *o = request("close", ep);
	cJSON_AddStringToObject(o, "reason", ep->cut_reason ? ep->cut_reason : "failed");
	return o;
}

/* ---- replies ------------------------------------------------------------- */

#define BAD(...) tk_fail(TK_EDATA, __VA_ARGS__)

/* Messages the program sent: objects with a role and string content. */
static int check_messages(const episode *ep, const cJSON *msgs)
{
	if (!cJSON_IsArray(msgs))
		return BAD("episode %s: \"messages\" is not an array", ep->id);
	const cJSON *m;
	cJSON_ArrayForEach(m, msgs) {
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
		if (!cJSON_IsObject(m) || !cJSON_IsString(role))
			return BAD("episode %s: a message without a \"role\"", ep->id);
		if (!strcmp(role->valuestring, "assistant"))
			return BAD("episode %s: the program sent an assistant message; a seat's "
				   "own turns are added by tk-rl", ep->id);
	}
	return TK_OK;
}

static int append_messages(episode *ep, size_t seat, const cJSON *msgs)
{
	int rc = check_messages(ep, msgs);
	const cJSON *m;
	if (rc)
		return rc;
	if (!ep->seat[seat].messages && !(ep->seat[seat].messages = cJSON_CreateArray()))
		return tk_fail(TK_EOSERR, "out of memory");
	cJSON_ArrayForEach(m, msgs) {
		cJSON *copy = cJSON_Duplicate(m, 1);
		if (!copy || !cJSON_AddItemToArray(ep->seat[seat].messages, copy))
			return tk_fail(TK_EOSERR, "out of memory");
	}
	return TK_OK;
}

static int player_named(const cJSON *name)
{
	if (!cJSON_IsString(name))
		return -1;
	return !strcmp(name->valuestring, "policy") ? RL_POLICY
	       : !strcmp(name->valuestring, "partner") ? RL_PARTNER : -1;
}

static int take_seats(episode *ep, const cJSON *seats)
{
	if (!seats) {
		ep->n_seats = 1;
		ep->seat[0].player = RL_POLICY;
		return TK_OK;
	}
	int n = cJSON_GetArraySize(seats);
	if (!cJSON_IsArray(seats) || n < 1 || n > RL_MAX_SEATS)
		return BAD("episode %s: \"seats\" is an array of 1 to %d players", ep->id, RL_MAX_SEATS);
	for (int k = 0; k < n; k++) {
		int p = player_named(cJSON_GetArrayItem(seats, k));
		if (p < 0)
			return BAD("episode %s: seat %d is played by \"policy\" or \"partner\"", ep->id, k);
		ep->seat[k].player = p;
	}
	ep->n_seats = (size_t)n;
	return TK_OK;
}

/* "seat": the one to move next (dflt when absent). */
static int take_next(episode *ep, const cJSON *reply, size_t dflt)
{
	const cJSON *seat = cJSON_GetObjectItemCaseSensitive(reply, "seat");
	if (!seat) {
		ep->next = dflt;
		return TK_OK;
	}
	double v = cJSON_IsNumber(seat) ? seat->valuedouble : -1;
	if (v < 0 || v != floor(v) || v >= (double)ep->n_seats)
		return BAD("episode %s: \"seat\" is a seat number below %zu", ep->id, ep->n_seats);
	ep->next = (size_t)v;
	return TK_OK;
}

static int take_metrics(episode *ep, const cJSON *reply)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(reply, "metrics"), *item;
	if (!m)
		return TK_OK;
	if (!cJSON_IsObject(m))
		return BAD("episode %s: \"metrics\" is not an object", ep->id);
	cJSON_ArrayForEach(item, m)
		if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
			return BAD("episode %s: metric \"%s\" is not a finite number", ep->id,
				   item->string);
	cJSON_Delete(ep->metrics);
	return (ep->metrics = cJSON_Duplicate(m, 1)) ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}

int rl_episode_apply_reset(episode *ep, const cJSON *reply)
{
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(reply, "messages");
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(reply, "tools");
	int rc = take_seats(ep, cJSON_GetObjectItemCaseSensitive(reply, "seats"));
	if (!rc)
		rc = take_next(ep, reply, 0);
	if (!rc && tools && !cJSON_IsArray(tools))
		rc = BAD("episode %s: \"tools\" is not an array", ep->id);
	if (!rc && tools && !(ep->tools = cJSON_Duplicate(tools, 1)))
		rc = tk_fail(TK_EOSERR, "out of memory");
	if (!rc && !msgs && !ep->prompt)
		rc = BAD("episode %s: the reset's reply has no \"messages\"", ep->id);
	cJSON *from_prompt = NULL;
	if (!rc && (!msgs || cJSON_GetArraySize(msgs) == 0) && ep->prompt)
		msgs = from_prompt = cJSON_Parse(ep->prompt->messages_json);
	if (!rc)
		rc = append_messages(ep, ep->next, msgs);
	cJSON_Delete(from_prompt);
	if (!rc && cJSON_GetArraySize(ep->seat[ep->next].messages) == 0)
		rc = BAD("episode %s: it starts with no message", ep->id);
	if (!rc)
		rc = take_metrics(ep, reply);
	if (!rc)
		ep->state = EP_LIVE;
	return rc;
}

static int number_or(const cJSON *reply, const char *key, double dflt, double *v)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(reply, key);
	*v = dflt;
	if (!x)
		return 1;
	if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
		return 0;
	*v = x->valuedouble;
	return 1;
}

static int take_rewards(episode *ep, const cJSON *reply, size_t mover)
{
	double r;
	if (!number_or(reply, "reward", 0, &r))
		return BAD("episode %s: \"reward\" is not a finite number", ep->id);
	const cJSON *all = cJSON_GetObjectItemCaseSensitive(reply, "rewards");
	if (all && (!cJSON_IsArray(all) || (size_t)cJSON_GetArraySize(all) != ep->n_seats))
		return BAD("episode %s: \"rewards\" is an array of one number a seat (%zu)", ep->id,
			   ep->n_seats);
	for (size_t k = 0; all && k < ep->n_seats; k++) {
		const cJSON *x = cJSON_GetArrayItem(all, (int)k);
		if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
			return BAD("episode %s: rewards[%zu] is not a finite number", ep->id, k);
	}
	ep->seat[mover].ret += r;
	for (size_t k = 0; all && k < ep->n_seats; k++)
		ep->seat[k].ret += cJSON_GetArrayItem(all, (int)k)->valuedouble;
	return TK_OK;
}

int rl_episode_apply_step(episode *ep, const cJSON *reply)
{
	size_t mover = ep->next;
	const cJSON *done = cJSON_GetObjectItemCaseSensitive(reply, "done");
	int rc = take_rewards(ep, reply, mover);
	if (!rc && !cJSON_IsBool(done))
		rc = BAD("episode %s: the reply has no boolean \"done\"", ep->id);
	if (!rc)
		rc = take_metrics(ep, reply);
	if (rc || cJSON_IsTrue(done)) {
		if (!rc)
			ep->state = EP_DONE;
		return rc;
	}
	if ((rc = take_next(ep, reply, mover)))
		return rc;
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(reply, "messages");
	if (msgs)
		rc = append_messages(ep, ep->next, msgs);
	else if (ep->next != mover)
		rc = BAD("episode %s: seat %zu moves next with no \"messages\" to answer", ep->id,
			 ep->next);
	return rc;
}

void rl_episode_failed(episode *ep, const char *why, int retry)
{
	snprintf(ep->failure, sizeof ep->failure, "%s", why);
	ep->state = retry && ep->attempts < 2 ? EP_RESET : EP_FAILED;
}

/* ---- turns --------------------------------------------------------------- */

int rl_episode_render(episode *ep, const tk_renderer *r)
{
	cJSON *line = cJSON_CreateObject();
	if (!line)
		return tk_fail(TK_EOSERR, "out of memory");
	cJSON_AddItemReferenceToObject(line, "messages", ep->seat[ep->next].messages);
	if (ep->tools)
		cJSON_AddItemReferenceToObject(line, "tools", ep->tools);
	char *text = cJSON_PrintUnformatted(line);
	cJSON_Delete(line);
	if (!text)
		return tk_fail(TK_EOSERR, "out of memory");
	tk_chat chat = {0};
	tk_rendered rd = {0};
	int rc = tk_chat_parse(&chat, text, strlen(text));
	if (!rc)
		rc = tk_render_chat(r, &chat, TK_RENDER_GENERATION_PROMPT, &rd);
	if (rc)
		rc = tk_fail_context(rc, "episode %s, seat %zu: ", ep->id, ep->next);
	else {
		tk_tokens_free(&ep->prompt_ids);
		ep->prompt_ids = rd.ids;
		rd.ids = (tk_tokens){0};
	}
	tk_rendered_free(&rd);
	tk_chat_free(&chat);
	free(text);
	return rc;
}

static int grow(tk_rl_rollout *ro, size_t n)
{
	int32_t *t = tk_realloc(ro->tokens, n * sizeof *t);
	if (t)
		ro->tokens = t;
	float *m = tk_realloc(ro->mask, n * sizeof *m);
	if (m)
		ro->mask = m;
	float *q = tk_realloc(ro->sampler, n * sizeof *q);
	if (q)
		ro->sampler = q;
	float *a = tk_realloc(ro->adv, n * sizeof *a);
	if (a)
		ro->adv = a;
	return t && m && q && a ? TK_OK : TK_EOSERR;
}

/* Appends tokens (n) to ro, trained (with their logprobs) or not. */
static int extend(tk_rl_rollout *ro, const int32_t *tokens, const float *logprobs, size_t n)
{
	if (grow(ro, ro->n + n))
		return TK_EOSERR;
	memcpy(ro->tokens + ro->n, tokens, n * sizeof *tokens);
	for (size_t i = 0; i < n; i++) {
		ro->mask[ro->n + i] = logprobs ? 1.0f : 0.0f;
		ro->sampler[ro->n + i] = logprobs ? logprobs[i] : 0.0f;
		ro->adv[ro->n + i] = 0.0f;
	}
	ro->n += n;
	return TK_OK;
}

/* The turn's record: the last one when this prompt extends it token for
 * token (the turns merge), else a new one. */
static tk_rl_rollout *turn_record(episode *ep, ep_seat *s)
{
	tk_rl_rollout *last = s->n_recs ? &s->recs[s->n_recs - 1] : NULL;
	if (last && last->n <= ep->prompt_ids.n &&
	    rl_common_prefix(last->tokens, last->n, ep->prompt_ids.ids, ep->prompt_ids.n) == last->n)
		return last;
	tk_rl_rollout *recs = tk_realloc(s->recs, (s->n_recs + 1) * sizeof *recs);
	if (!recs)
		return NULL;
	s->recs = recs;
	last = &recs[s->n_recs++];
	memset(last, 0, sizeof *last);
	last->group = ep->group;
	return last;
}

static int train_turn(episode *ep, ep_seat *s)
{
	tk_rl_rollout *ro = turn_record(ep, s);
	if (!ro)
		return TK_EOSERR;
	size_t from = ro->n;
	int rc = extend(ro, ep->prompt_ids.ids + from, NULL, ep->prompt_ids.n - from);
	if (!rc)
		rc = extend(ro, ep->tokens, ep->logprobs, ep->n);
	if (!rc && from == 0)
		ro->n_prompt = ep->prompt_ids.n;
	return rc ? tk_fail(TK_EOSERR, "out of memory") : TK_OK;
}

int rl_episode_keep_turn(episode *ep, int train)
{
	ep_seat *s = &ep->seat[ep->next];
	int rc = train ? train_turn(ep, s) : TK_OK;
	int32_t *held = rc ? NULL : tk_realloc(s->held, (ep->prompt_ids.n + ep->n + 1) * sizeof *held);
	if (!held)
		return rc ? rc : tk_fail(TK_EOSERR, "out of memory");
	memcpy(held, ep->prompt_ids.ids, ep->prompt_ids.n * sizeof *held);
	memcpy(held + ep->prompt_ids.n, ep->tokens, ep->n * sizeof *held);
	s->held = held;
	s->n_held = ep->prompt_ids.n + ep->n;
	s->turns++;
	ep->turns++;
	return TK_OK;
}

/* The completion decoded, its final stop token left out, as valid UTF-8
 * (a turn cut inside a character would otherwise break the JSON line). */
static char *raw_text(const episode *ep, const tk_tokenizer *tok)
{
	size_t n = ep->n - (ep->finish == TK_FINISH_STOP && ep->n > 0);
	char *text = NULL, *valid;
	size_t len;
	if (tk_tokenizer_decode(tok, ep->tokens, n, 0, &text, &len))
		return NULL;
	valid = tk_utf8_valid_copy(text, len);
	free(text);
	return valid;
}

/* The message's strings as valid UTF-8, for the program and the renderer. */
static int make_valid(cJSON *item)
{
	for (cJSON *c = item->child; c; c = c->next)
		if (make_valid(c))
			return TK_EOSERR;
	if (!cJSON_IsString(item) || tk_utf8_valid(item->valuestring, strlen(item->valuestring)))
		return TK_OK;
	char *valid = tk_utf8_valid_copy(item->valuestring, strlen(item->valuestring));
	if (!valid)
		return TK_EOSERR;
	free(item->valuestring);
	item->valuestring = valid;
	return TK_OK;
}

cJSON *rl_episode_step_request(episode *ep, const tk_renderer *r, const tk_tokenizer *tok)
{
	tk_response resp = {0};
	char *message = NULL, *text = raw_text(ep, tok);
	int rc = text ? tk_render_parse_response(r, ep->tokens, ep->n, &resp) : TK_EOSERR;
	if (!rc)
		rc = tk_response_message_json(&resp, &message);
	cJSON *msg = rc ? NULL : cJSON_Parse(message), *o = NULL;
	if (msg && make_valid(msg)) {
		cJSON_Delete(msg);
		msg = NULL;
	}
	ep_seat *s = &ep->seat[ep->next];
	if (msg) {
		const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
		s->tool_calls += (size_t)cJSON_GetArraySize(calls);
		o = request("step", ep);
		cJSON_AddNumberToObject(o, "seat", (double)ep->next);
		cJSON_AddNumberToObject(o, "turn", (double)ep->turns);
		cJSON_AddItemToObject(o, "message", cJSON_Duplicate(msg, 1));
		cJSON_AddStringToObject(o, "text", text);
		cJSON_AddStringToObject(o, "finish", ep->finish == TK_FINISH_STOP ? "stop" : "length");
		cJSON_AddItemToArray(s->messages, msg);
	}
	tk_response_free(&resp);
	free(message);
	free(text);
	return o;
}
