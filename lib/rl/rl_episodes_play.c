/* The rounds of a step's episodes: every live episode whose seat to move
 * is played by a model gets its turn sampled in one batch per model, each
 * (episode, seat) in a KV slot of its own that keeps its conversation
 * between turns; then one batch of requests carries all the turns to the
 * environment program (rl_episode.h). */
#include "rl_episode.h"

#include "tk_error.h"
#include "tk_forward.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sends one request per episode that make() builds one for (NULL: none)
 * and hands each reply to apply; a reply with "error" fails its episode
 * instead (but to a close: the episode is over either way). */
typedef int (*make_fn)(rl_play *p, episode *ep, cJSON **req);
typedef int (*apply_fn)(rl_play *p, episode *ep, const cJSON *reply);

static int exchange(rl_play *p, make_fn make, apply_fn apply)
{
	cJSON **reqs = tk_calloc(p->n ? p->n : 1, sizeof *reqs);
	cJSON **replies = tk_calloc(p->n ? p->n : 1, sizeof *replies);
	const char **what = tk_calloc(p->n ? p->n : 1, sizeof *what);
	size_t *of = tk_calloc(p->n ? p->n : 1, sizeof *of), m = 0;
	int rc = reqs && replies && what && of ? TK_OK : TK_EOSERR;
	for (size_t i = 0; !rc && i < p->n; i++) {
		cJSON *req = NULL;
		rc = make(p, &p->ep[i], &req);
		if (req)
			of[m] = i, what[m] = p->ep[i].id, reqs[m++] = req;
	}
	p->requests += m;
	double t0 = now();
	if (!rc)
		rc = rl_env_call(p->env, reqs, what, m, replies);
	p->t_env += now() - t0;
	for (size_t j = 0; !rc && j < m; j++) {
		episode *ep = &p->ep[of[j]];
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(replies[j], "error");
		if (cJSON_IsString(err) && ep->state != EP_CUT)
			rl_episode_failed(ep, err->valuestring, p->o->episode->retry);
		else if ((rc = apply(p, ep, replies[j])) && rc != TK_EUSAGE)
			rc = tk_fail_context(rc, "environment program '%s': ", p->env->child.command);
	}
	for (size_t j = 0; j < m; j++) {
		cJSON_Delete(reqs[j]);
		cJSON_Delete(replies ? replies[j] : NULL);
	}
	free(reqs);
	free(replies);
	free(what);
	free(of);
	return rc;
}

/* ---- resets -------------------------------------------------------------- */

static int make_reset(rl_play *p, episode *ep, cJSON **req)
{
	if (ep->state != EP_RESET)
		return TK_OK;
	rl_episode_clear(ep);
	ep->attempts++;
	*req = rl_episode_reset_request(ep, p->test);
	return *req ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}

static int apply_reset(rl_play *p, episode *ep, const cJSON *reply)
{
	int rc = rl_episode_apply_reset(ep, reply);
	if (!rc && ep->seat[ep->next].player == RL_PARTNER && !p->o->open_partner)
		rc = tk_fail(TK_EUSAGE, "episode %s: seat %zu is the partner's, and no --partner "
			     "was given", ep->id, ep->next);
	return rc;
}

/* ---- closes -------------------------------------------------------------- */

static int make_close(rl_play *p, episode *ep, cJSON **req)
{
	(void)p;
	if (ep->state != EP_CUT)
		return TK_OK;
	*req = rl_episode_close_request(ep);
	return *req ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}

static int apply_close(rl_play *p, episode *ep, const cJSON *reply)
{
	(void)p, (void)reply;
	ep->state = EP_CLOSED;
	return TK_OK;
}

/* ---- turns --------------------------------------------------------------- */

static int make_step(rl_play *p, episode *ep, cJSON **req)
{
	if (ep->state != EP_LIVE || !ep->sampled)
		return TK_OK;
	ep->sampled = 0;
	*req = rl_episode_step_request(ep, p->o->renderer, tk_renderer_tokenizer(p->o->renderer));
	return *req ? TK_OK : tk_fail_context(TK_EDATA, "episode %s: ", ep->id);
}

static void cut(episode *ep, const char *reason)
{
	ep->state = EP_CUT;
	ep->cut_reason = reason;
}

static int apply_step(rl_play *p, episode *ep, const cJSON *reply)
{
	int rc = rl_episode_apply_step(ep, reply);
	if (rc || ep->state != EP_LIVE)
		return rc;
	if (p->o->episode->max_turns && ep->turns >= p->o->episode->max_turns)
		cut(ep, "max_turns");
	else if (ep->seat[ep->next].player == RL_PARTNER && !p->o->open_partner)
		rc = tk_fail(TK_EUSAGE, "episode %s: seat %zu is the partner's, and no --partner "
			     "was given", ep->id, ep->next);
	return rc;
}

/* The slot of ep's moving seat, and how much of its prompt it holds. */
static size_t slot_for(rl_play *p, int player, episode *ep)
{
	ep_seat *s = &ep->seat[ep->next];
	size_t slot = s->slot % p->slots[player];
	ep->cached = 0;
	if (p->slot_owner[player][slot] == ep && p->slot_seat[player][slot] == ep->next) {
		size_t held = tk_forward_length(p->f[player], slot);
		size_t same = rl_common_prefix(s->held, s->n_held, ep->prompt_ids.ids, ep->prompt_ids.n);
		ep->cached = same < held ? same : held;
		if (ep->cached >= ep->prompt_ids.n)
			ep->cached = ep->prompt_ids.n - 1;
	}
	p->slot_owner[player][slot] = ep;
	p->slot_seat[player][slot] = ep->next;
	return slot;
}

typedef struct turn_batch {
	rl_play *p;
	episode **ep;           /* (n) whose turn each request is */
} turn_batch;

static int keep_result(void *ctx, size_t i, const tk_gen_result *g)
{
	episode *ep = ((turn_batch *)ctx)->ep[i];
	free(ep->tokens);
	free(ep->logprobs);
	ep->tokens = tk_malloc((g->n ? g->n : 1) * sizeof *ep->tokens);
	ep->logprobs = tk_malloc((g->n ? g->n : 1) * sizeof *ep->logprobs);
	if (!ep->tokens || !ep->logprobs)
		return tk_fail(TK_EOSERR, "out of memory");
	if (g->n) {
		memcpy(ep->tokens, g->tokens, g->n * sizeof *ep->tokens);
		memcpy(ep->logprobs, g->logprobs, g->n * sizeof *ep->logprobs);
	}
	ep->n = g->n;
	ep->finish = g->finish;
	ep->sampled = 1;
	return TK_OK;
}

/* The stream of an episode's turn: the same draws on a resumed step. */
static uint64_t turn_stream(const episode *ep)
{
	return (ep->ordinal << 24) ^ ((uint64_t)ep->attempts << 20) ^ (ep->turns << 4) ^ ep->next;
}

/* 1 when tk_generate runs ep's prompt with the request before it, the
 * same prompt (tk_sampler.h: a shared prefill). */
static int shares_prefill(const tk_gen_request *reqs, size_t m, const episode *ep)
{
	const tk_gen_request *last = m ? &reqs[m - 1] : NULL;
	return last && ep->cached == 0 && last->cached == 0 &&
	       last->prompt_len == ep->prompt_ids.n &&
	       !memcmp(last->prompt, ep->prompt_ids.ids, ep->prompt_ids.n * sizeof *last->prompt);
}

/* Renders the turns of player's seats; an episode whose next prompt
 * leaves no room ends (EP_CUT, "max_tokens"). */
static int prepare_turns(rl_play *p, int player, tk_gen_request *reqs, episode **who, size_t *m)
{
	*m = 0;
	for (size_t i = 0; i < p->n; i++) {
		episode *ep = &p->ep[i];
		if (ep->state != EP_LIVE || ep->seat[ep->next].player != player)
			continue;
		int rc = rl_episode_render(ep, p->o->renderer);
		if (rc)
			return rc;
		if (ep->prompt_ids.n + 1 >= p->o->episode->max_tokens) {
			cut(ep, "max_tokens");
			continue;
		}
		size_t slot = slot_for(p, player, ep);
		reqs[*m] = (tk_gen_request){.prompt = ep->prompt_ids.ids,
					    .prompt_len = ep->prompt_ids.n,
					    .stream = turn_stream(ep), .slot = slot,
					    .cached = ep->cached};
		p->prefilled += shares_prefill(reqs, *m, ep) ? 0 : ep->prompt_ids.n - ep->cached;
		p->prompt_tokens += ep->prompt_ids.n;
		who[(*m)++] = ep;
	}
	return TK_OK;
}

static int wants_turn(const rl_play *p, int player)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->ep[i].state == EP_LIVE && p->ep[i].seat[p->ep[i].next].player == player)
			return 1;
	return 0;
}

static int sample_turns(rl_play *p, int player)
{
	tk_gen_request *reqs = tk_calloc(p->n ? p->n : 1, sizeof *reqs);
	episode **who = tk_calloc(p->n ? p->n : 1, sizeof *who);
	size_t m = 0;
	int rc = reqs && who ? TK_OK : TK_EOSERR;
	if (!rc && !p->f[player] && wants_turn(p, player))
		rc = rl_play_open(p, player);
	if (!rc && p->f[player])
		rc = prepare_turns(p, player, reqs, who, &m);
	if (!rc && m) {
		tk_gen_options g = *p->o->gen;
		g.batch = p->slots[player];
		g.logprobs = 1;
		g.pinned = 1;
		turn_batch tb = {p, who};
		rc = tk_generate(p->f[player], &g, reqs, m, keep_result, &tb);
	}
	for (size_t j = 0; !rc && j < m; j++) {
		rc = rl_episode_keep_turn(who[j], player == RL_POLICY && !p->test);
		p->sampled += player == RL_POLICY ? who[j]->n : 0;
	}
	free(reqs);
	free(who);
	return rc;
}

static size_t count(const rl_play *p, int state)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += p->ep[i].state == state;
	return n;
}

/* One round: resets due, every model's turns, the environment's replies,
 * and the closes of episodes tk-rl ended. */
static int round_once(rl_play *p)
{
	int rc = exchange(p, make_reset, apply_reset);
	double t0 = now();
	for (int player = 0; !rc && player < RL_PLAYERS; player++)
		rc = sample_turns(p, player);
	p->t_sample += now() - t0;
	if (!rc)
		rc = exchange(p, make_step, apply_step);
	if (!rc && count(p, EP_CUT))
		rc = exchange(p, make_close, apply_close);
	return rc;
}

int rl_episodes_play(rl_play *p)
{
	int rc = TK_OK;
	while (!rc && (count(p, EP_LIVE) || count(p, EP_RESET))) {
		size_t before = p->requests;
		rc = round_once(p);
		if (!rc && p->requests == before)
			rc = tk_fail(TK_ESOFTWARE, "episodes: a round with nothing to do");
	}
	return rc;
}
