/* An online RL step's data (tk_rl.h): the step's prompts, groups of
 * samples from the policy, their scores, advantages and KL penalty, and
 * the records the update trains on. */
#include "rl_episode.h"

#include "tk_dist.h"
#include "tk_error.h"
#include "tk_forward.h"
#include "tk_sampler.h"
#include "tk_tokenizer.h"

#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The policy's forward: every sequence of the step fits its context.
 * first: the number in the run of the batch's first prompt (its draws'
 * streams follow from it, whatever rank samples them). */
static int sample(const tk_rl_online *o, uint64_t first, tk_rl_batch *b, size_t *sampled)
{
	size_t longest = 0, n = b->prompts.n * o->group_size;
	for (size_t g = 0; g < b->prompts.n; g++)
		longest = b->prompts.ids[g].n > longest ? b->prompts.ids[g].n : longest;
	size_t context = longest + o->room.max_tokens;
	context = context < o->room.positions ? context : o->room.positions;
	tk_forward *f;
	int rc = o->open_policy(o->ctx, n < 64 ? n : 64, context, &f);
	if (rc)
		return rc;
	rc = tk_rl_rollouts_sample(f, o->gen, o->renderer, o->cut, o->n_cut, b->prompts.ids,
				   b->prompts.n, o->group_size, first, &b->ro, sampled);
	if (o->close_policy)
		o->close_policy(o->ctx, f);
	else
		tk_forward_close(f);
	if (!rc)
		b->n = n;
	return rc;
}

/* Advantages, the KL penalty, the teacher's, the records. */
static int prepare(const tk_rl_online *o, tk_rl_batch *b, tk_rl_step_stats *st)
{
	int rc = tk_rl_rollouts_advantages(b->ro, b->n, o->scale_by_std, st);
	if (!rc && o->kl_coef > 0 && o->ref_train)
		rc = tk_rl_rollouts_kl_base(o->ref_train, o->ref_micro, b->ro, b->n, o->kl_coef, st);
	else if (!rc && o->kl_coef > 0 && o->ref)
		rc = tk_rl_rollouts_kl(o->ref, b->ro, b->n, o->kl_coef, st);
	if (!rc && o->teacher)
		rc = tk_rl_rollouts_teacher(o->teacher, b->ro, b->n, o->teacher_coef, st);
	if (rc)
		return rc;
	b->recs = tk_rl_rollouts_records(b->ro, b->n, o->group_size, o->drop_flat, &b->kept,
					 &b->tokens, st);
	// several ranks: the whole batch's statistics and denominator (tk_dist.h)
	return b->recs ? tk_dist_sum_rl_step(st, &b->tokens) : TK_EOSERR;
}

/* Data parallelism: this rank's groups of the step, whole (a group's
 * advantages need only its own rewards).  What needs the whole batch at
 * once is refused for now (man/tk-dist.7). */
static int share_groups(const tk_rl_online *o, size_t *first, size_t *count)
{
	tk_dist_share(o->groups, first, count);
	if (tk_dist_size() == 1)
		return TK_OK;
	if (o->groups < (size_t)tk_dist_size())
		return tk_fail(TK_EUSAGE, "--groups %zu is fewer than the %d ranks: each rank "
			       "samples whole groups", o->groups, tk_dist_size());
	if (o->kl_coef > 0)
		return tk_fail(TK_EUSAGE, "--kl-coef centres the penalty on the batch's mean: not "
			       "yet with several ranks");
	return TK_OK;
}

int tk_rl_online_batch(const tk_rl_online *o, int64_t step, tk_rl_batch *b,
		       tk_rl_step_stats *st)
{
	*b = (tk_rl_batch){0};
	if (tk_rl_env_plays_episodes(o->env))
		return o->episode ? rl_episodes_batch(o, step, b, st)
				  : tk_fail(TK_EUSAGE, "episodes need their limits (tk_rl_online.episode)");
	if (tk_rl_env_plays_episodes(o->env) && tk_dist_size() > 1)
		return tk_fail(TK_EUSAGE, "episodes (environment protocol 2) run on one rank for now");
	double t0 = now();
	size_t g0, groups;
	int rc = share_groups(o, &g0, &groups);
	uint64_t first = (uint64_t)(step - 1) * o->groups + g0;
	if (!rc)
		rc = tk_rl_prompts_load(o->env, o->renderer, first, groups, &o->room, &b->prompts);
	if (!rc)
		rc = sample(o, first, b, &st->sampled);
	double t1 = now();
	if (!rc)
		rc = tk_rl_rollouts_score(o->env, b->prompts.p, b->ro, b->n, st);
	if (!rc && o->judge) // the judge's rewards; the environment's stay in the metrics
		rc = tk_rl_rollouts_judge(o->judge, b->prompts.p, b->ro, b->n, o->group_size, st);
	st->t_sample = t1 - t0;
	st->t_score = now() - t1;
	return rc ? rc : prepare(o, b, st);
}

void tk_rl_batch_free(tk_rl_batch *b)
{
	free(b->recs);
	tk_rl_rollouts_free(b->ro, b->n);
	tk_rl_prompts_free(&b->prompts);
	*b = (tk_rl_batch){0};
}
