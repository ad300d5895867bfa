/* A step of episodes (tk_rl_online_batch with an environment of protocol
 * 2): the episodes set up, played (rl_episodes_play.c), their returns
 * centred per group and seat into advantages on every action token, and
 * the records the update trains on; and held-out evaluation (tk_rl.h). */
#include "rl_episode.h"

#include "tk_error.h"
#include "tk_forward.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SLOTS 64

int tk_rl_env_plays_episodes(const tk_rl_env *e)
{
	return e->kind == RL_EPISODES;
}

int rl_episode_prompt(uint64_t k, tk_rl_prompt *p)
{
	char id[32];
	snprintf(id, sizeof id, "%llu", (unsigned long long)k);
	p->id_json = tk_strdup(id);
	p->messages_json = tk_strdup("[]");
	p->meta_json = tk_strdup("{}");
	return p->id_json && p->messages_json && p->meta_json ? TK_OK : TK_EOSERR;
}

/* The environment's seed of episode group k: the same for the episodes of
 * a group, apart for groups and runs (splitmix64 of seed and k). */
static uint64_t group_seed(uint64_t seed, uint64_t k)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull * (k + 1);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (z ^ (z >> 31)) & ((1ull << 53) - 1);   // exact as a JSON number
}

/* ---- the forwards -------------------------------------------------------- */

/* The forward of player, opened at its first turn: a slot for each seat
 * it plays (at most MAX_SLOTS; seats beyond share slots and re-prefill
 * when they take turns about). */
int rl_play_open(rl_play *p, int player)
{
	const tk_rl_online *o = p->o;
	size_t seats = 0;
	for (size_t i = 0; i < p->n; i++)
		for (size_t k = 0; k < p->ep[i].n_seats; k++)
			seats += p->ep[i].seat[k].player == player;
	size_t slots = seats < MAX_SLOTS ? (seats ? seats : 1) : MAX_SLOTS, next = 0;
	// a slot of its own for each seat, whichever seats are still playing
	for (size_t i = 0; i < p->n; i++)
		for (size_t k = 0; k < p->ep[i].n_seats; k++)
			if (p->ep[i].seat[k].player == player)
				p->ep[i].seat[k].slot = next++ % slots;
	int rc = player == RL_POLICY
		 ? o->open_policy(o->ctx, slots, o->episode->max_tokens, &p->f[player])
		 : o->open_partner(o->ctx, slots, o->episode->max_tokens, &p->f[player]);
	p->slots[player] = slots;
	p->slot_owner[player] = tk_calloc(slots, sizeof *p->slot_owner[player]);
	p->slot_seat[player] = tk_calloc(slots, sizeof *p->slot_seat[player]);
	if (!rc && (!p->slot_owner[player] || !p->slot_seat[player]))
		rc = TK_EOSERR;
	return rc;
}

static void close_players(rl_play *p)
{
	const tk_rl_online *o = p->o;
	if (p->f[RL_POLICY] && o->close_policy)
		o->close_policy(o->ctx, p->f[RL_POLICY]);
	else
		tk_forward_close(p->f[RL_POLICY]);
	if (p->f[RL_PARTNER] && o->close_partner)
		o->close_partner(o->ctx, p->f[RL_PARTNER]);
	else
		tk_forward_close(p->f[RL_PARTNER]);
	for (int k = 0; k < RL_PLAYERS; k++) {
		free(p->slot_owner[k]);
		free(p->slot_seat[k]);
	}
}

/* Sets up n episodes: ordinal first + i, in groups of `per`; group g's
 * prompt prompts[g] (NULL: none) and seed group_seed(seed, key0 + g). */
static int play(rl_play *p, size_t n, size_t per, uint64_t first, uint64_t key0,
		const tk_rl_prompt *prompts, const char *label)
{
	p->ep = tk_calloc(n ? n : 1, sizeof *p->ep);
	if (!p->ep)
		return TK_EOSERR;
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		episode *ep = &p->ep[i];
		ep->group = i / per;
		ep->index = i % per;
		ep->ordinal = first + i;
		ep->number = (p->test ? key0 : first) + i;
		ep->seed = group_seed(p->env->seed ^ (p->test ? 0x7e57ull << 48 : 0), key0 + ep->group);
		ep->prompt = prompts ? &prompts[ep->group] : NULL;
		snprintf(ep->id, sizeof ep->id, "%s-g%zu-e%zu", label, ep->group, ep->index);
		ep->state = EP_RESET;
	}
	int rc = rl_episodes_play(p);
	close_players(p);
	return rc;
}

static void free_play(rl_play *p)
{
	for (size_t i = 0; p->ep && i < p->n; i++)
		rl_episode_free(&p->ep[i]);
	free(p->ep);
}

/* ---- returns, stats ------------------------------------------------------ */

static int finished(const episode *ep)
{
	return ep->state == EP_DONE || ep->state == EP_CLOSED;
}

/* Groups with fewer finished episodes than the limit lose them all. */
static void drop_short_groups(rl_play *p, tk_rl_episode_stats *es)
{
	size_t min = p->o->episode->min_episodes;
	for (size_t i = 0; i < p->n;) {
		size_t j = i, done = 0;
		while (j < p->n && p->ep[j].group == p->ep[i].group)
			done += finished(&p->ep[j++]);
		for (size_t k = i; done < min && k < j; k++)
			if (finished(&p->ep[k])) {
				p->ep[k].state = EP_FAILED;
				p->ep[k].failure[0] = '\0';
				es->dropped++;
			}
		i = j;
	}
}

static void add_metrics(cJSON *sums, const cJSON *m)
{
	const cJSON *item;
	cJSON_ArrayForEach(item, m) {
		cJSON *sum = cJSON_GetObjectItemCaseSensitive(sums, item->string);
		if (sum)
			cJSON_SetNumberValue(sum, sum->valuedouble + item->valuedouble);
		else
			cJSON_AddNumberToObject(sums, item->string, item->valuedouble);
	}
}

/* An episode's returns (the overflow reward for the policy's seats when
 * the token budget ended it) and counts, into st. */
static void count_episode(rl_play *p, episode *ep, tk_rl_step_stats *st)
{
	tk_rl_episode_stats *es = &st->ep;
	int overflow = ep->state == EP_CLOSED && !strcmp(ep->cut_reason, "max_tokens");
	es->episodes++;
	es->cut_turns += ep->state == EP_CLOSED && !overflow;
	es->cut_tokens += overflow;
	es->seats = ep->n_seats > es->seats ? ep->n_seats : es->seats;
	for (size_t k = 0; k < ep->n_seats; k++) {
		ep_seat *s = &ep->seat[k];
		if (overflow && s->player == RL_POLICY)
			s->ret = p->o->episode->overflow_reward;
		es->seat_reward[k] += s->ret;
		es->seat_reward2[k] += s->ret * s->ret;
		es->seat_n[k]++;
		if (s->player != RL_POLICY)
			continue;
		es->turns += s->turns;
		es->tool_calls += s->tool_calls;
		st->reward_sum += s->ret;
		st->reward2_sum += s->ret * s->ret;
		st->samples++;
	}
	if (ep->metrics)
		add_metrics(st->program_metrics, ep->metrics);
}

static void count_all(rl_play *p, tk_rl_step_stats *st)
{
	if (!p->test)
		drop_short_groups(p, &st->ep);
	for (size_t i = 0; i < p->n; i++) {
		if (finished(&p->ep[i]))
			count_episode(p, &p->ep[i], st);
		else if (p->ep[i].state == EP_FAILED && p->ep[i].failure[0]) {
			st->ep.failed++;
			snprintf(st->ep.failure, sizeof st->ep.failure, "episode %s: %s",
				 p->ep[i].id, p->ep[i].failure);
		}
	}
	st->ep.prefilled += p->prefilled;
	st->ep.prompt_tokens += p->prompt_tokens;
	st->sampled += p->sampled;
}

/* ---- the step's rollouts -------------------------------------------------- */

/* Where each record of b->ro comes from: key[i] its group and seat (the
 * advantage's group), item[i] its episode seat, of `items`. */
typedef struct rec_index {
	int64_t *key;
	size_t *item;
	size_t items;
} rec_index;

/* The policy seats' records moved into b->ro, each with its seat's return
 * as reward; ix says whose they are. */
static int take_records(rl_play *p, tk_rl_batch *b, rec_index *ix)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		for (size_t k = 0; finished(&p->ep[i]) && k < p->ep[i].n_seats; k++)
			n += p->ep[i].seat[k].player == RL_POLICY ? p->ep[i].seat[k].n_recs : 0;
	b->ro = tk_calloc(n ? n : 1, sizeof *b->ro);
	ix->key = tk_calloc(n ? n : 1, sizeof *ix->key);
	ix->item = tk_calloc(n ? n : 1, sizeof *ix->item);
	if (!b->ro || !ix->key || !ix->item)
		return TK_EOSERR;
	for (size_t i = 0; i < p->n; i++)
		for (size_t k = 0; finished(&p->ep[i]) && k < p->ep[i].n_seats; k++) {
			ep_seat *s = &p->ep[i].seat[k];
			for (size_t r = 0; s->player == RL_POLICY && r < s->n_recs; r++) {
				ix->key[b->n] = (int64_t)(p->ep[i].group * TK_RL_MAX_SEATS + k);
				ix->item[b->n] = ix->items;
				s->recs[r].reward = s->ret;
				s->recs[r].text = tk_strdup(p->ep[i].id);
				b->ro[b->n++] = s->recs[r];
			}
			ix->items += s->player == RL_POLICY && s->n_recs;
			free(s->recs);
			s->recs = NULL;
			s->n_recs = 0;
		}
	for (size_t i = 0; i < b->n; i++)
		if (!b->ro[i].text)
			return TK_EOSERR;
	return TK_OK;
}

/* Advantages per (group, seat): one return per episode seat, however
 * many records its turns made, on every token it sampled. */
static int advantages(const tk_rl_online *o, tk_rl_batch *b, const rec_index *ix,
		      tk_rl_step_stats *st)
{
	size_t m = ix->items ? ix->items : 1;
	double *ret = tk_calloc(m, sizeof *ret), *adv = tk_calloc(m, sizeof *adv);
	int64_t *grp = tk_calloc(m, sizeof *grp);
	int rc = ret && adv && grp ? TK_OK : TK_EOSERR;
	for (size_t i = 0; !rc && i < b->n; i++)
		ret[ix->item[i]] = b->ro[i].reward, grp[ix->item[i]] = ix->key[i];
	if (!rc)
		rc = tk_rl_advantages(ret, grp, ix->items, o->scale_by_std, adv, &st->groups);
	for (size_t i = 0; !rc && i < b->n; i++)
		for (size_t t = 0; t < b->ro[i].n; t++)
			b->ro[i].adv[t] = b->ro[i].mask[t] != 0 ? (float)adv[ix->item[i]] : 0.0f;
	free(ret), free(adv), free(grp);
	return rc;
}

static int flat_key(const tk_rl_rollout *ro, const int64_t *key, size_t n, size_t i)
{
	for (size_t j = 0; j < n; j++)
		if (key[j] == key[i] && ro[j].reward != ro[i].reward)
			return 0;
	return 1;
}

static int records(const tk_rl_online *o, tk_rl_batch *b, const int64_t *key,
		   tk_rl_step_stats *st)
{
	b->recs = tk_calloc(b->n ? b->n : 1, sizeof *b->recs);
	if (!b->recs)
		return TK_EOSERR;
	for (size_t i = 0; i < b->n; i++) {
		const tk_rl_rollout *ro = &b->ro[i];
		size_t acts = 0;
		for (size_t t = 0; t < ro->n; t++)
			acts += ro->mask[t] != 0;
		st->ep.ob_tokens += ro->n - acts;
		if (o->drop_flat && flat_key(b->ro, key, b->n, i)) {
			st->dropped++;
			continue;
		}
		b->recs[b->kept++] = (tk_rl_record){ro->tokens, ro->n, ro->mask, ro->sampler, ro->adv};
		b->tokens += (double)acts;
	}
	return TK_OK;
}

static int group_prompts(tk_rl_env *env, uint64_t first, size_t n, tk_rl_prompts *out)
{
	out->n = n;
	out->p = tk_calloc(n ? n : 1, sizeof *out->p);
	out->ids = tk_calloc(n ? n : 1, sizeof *out->ids);
	int rc = out->p && out->ids ? TK_OK : TK_EOSERR;
	for (size_t g = 0; !rc && g < n; g++)
		rc = tk_rl_env_prompt(env, first + g, &out->p[g]);
	return rc;
}

int rl_episodes_batch(const tk_rl_online *o, int64_t step, tk_rl_batch *b, tk_rl_step_stats *st)
{
	uint64_t first_group = (uint64_t)(step - 1) * o->groups;
	size_t n = o->groups * o->group_size;
	rl_play p = {.o = o, .env = o->env};
	rec_index ix = {0};
	char label[32];
	snprintf(label, sizeof label, "s%lld", (long long)step);
	int rc = group_prompts(o->env, first_group, o->groups, &b->prompts);
	if (!rc)
		rc = play(&p, n, o->group_size, (uint64_t)(step - 1) * n, first_group,
			  tk_rl_env_size(o->env) ? b->prompts.p : NULL, label);
	st->t_sample = p.t_sample;
	st->t_score = p.t_env;
	if (!rc) {
		count_all(&p, st);
		rc = take_records(&p, b, &ix);
	}
	if (!rc)
		rc = advantages(o, b, &ix, st);
	if (!rc && o->kl_coef > 0 && o->ref_train)
		rc = tk_rl_rollouts_kl_base(o->ref_train, o->ref_micro, b->ro, b->n, o->kl_coef, st);
	else if (!rc && o->kl_coef > 0 && o->ref)
		rc = tk_rl_rollouts_kl(o->ref, b->ro, b->n, o->kl_coef, st);
	if (!rc)
		rc = records(o, b, ix.key, st);
	free(ix.key);
	free(ix.item);
	free_play(&p);
	return rc;
}

/* ---- held-out episodes ---------------------------------------------------- */

int tk_rl_evaluate(const tk_rl_online *o, size_t n, tk_rl_eval_result *res, tk_rl_step_stats *st)
{
	size_t chunk = o->groups * o->group_size;
	int rc = tk_rl_env_plays_episodes(o->env) ? TK_OK
		 : tk_fail(TK_EUSAGE, "evaluation plays episodes: an environment of protocol 2");
	for (size_t done = 0; !rc && done < n; done += chunk) {
		size_t m = n - done < chunk ? n - done : chunk;
		rl_play p = {.o = o, .env = o->env, .test = 1};
		char label[32];
		snprintf(label, sizeof label, "t%zu", done);
		rc = play(&p, m, 1, (1ull << 40) + done, done, NULL, label);
		if (!rc)
			count_all(&p, st);
		st->t_sample += p.t_sample;
		st->t_score += p.t_env;
		free_play(&p);
	}
	double k = (double)st->samples;
	res->n = st->samples;
	res->mean = k > 0 ? st->reward_sum / k : 0;
	double var = k > 1 ? (st->reward2_sum - k * res->mean * res->mean) / (k - 1) : 0;
	res->stderr_mean = k > 1 ? sqrt(fmax(var, 0) / k) : 0;
	return rc;
}
