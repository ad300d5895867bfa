/* tk-rl's side of data parallelism: a step's statistics and an update's
 * results summed over the ranks, so that rank 0 logs the whole batch's,
 * and the loss's denominator made the whole batch's. */
#include "tk_dist.h"

#include "tk_error.h"
#include "tk_rl.h"

enum { STEP_FIELDS = 18, UPDATE_FIELDS = 10 };

/* The means of a rank (KL to the base per sample, the teacher's per
 * scored token) travel as sums and are divided again after. */
int tk_dist_sum_rl_step(tk_rl_step_stats *st, double *tokens)
{
	if (tk_dist_size() == 1)
		return TK_OK;
	double x[STEP_FIELDS] = {
		st->reward_sum, st->reward2_sum, st->correct_sum, st->format_sum,
		(double)st->samples, (double)st->correct_known, (double)st->sampled,
		(double)st->dropped, (double)st->groups.groups, (double)st->groups.flat,
		(double)st->groups.all_good, (double)st->groups.all_bad,
		st->teacher_kl * (double)st->teacher_tokens, (double)st->teacher_tokens,
		(double)st->judge_pairs, *tokens, (double)st->judge_ties,
		(double)st->judge_skipped,
	};
	int rc = tk_dist_sum_doubles(x, STEP_FIELDS);
	if (rc)
		return rc;
	st->reward_sum = x[0], st->reward2_sum = x[1], st->correct_sum = x[2];
	st->format_sum = x[3], st->samples = (size_t)x[4], st->correct_known = (size_t)x[5];
	st->sampled = (size_t)x[6], st->dropped = (size_t)x[7];
	st->groups = (tk_rl_group_stats){(size_t)x[8], (size_t)x[9], (size_t)x[10], (size_t)x[11]};
	st->teacher_tokens = (size_t)x[13];
	st->teacher_kl = x[13] > 0 ? x[12] / x[13] : 0;
	st->judge_pairs = (size_t)x[14], st->judge_ties = (size_t)x[16];
	st->judge_skipped = (size_t)x[17];
	*tokens = x[15];
	return TK_OK;
}

int tk_dist_sum_rl_update(tk_rl_update_result *r)
{
	if (tk_dist_size() == 1)
		return TK_OK;
	double x[UPDATE_FIELDS] = {
		r->loss, (double)r->records, (double)r->tokens, (double)r->skipped,
		(double)r->clipped, (double)r->scored, r->kl.diff, r->kl.diff2, r->kl.neg_q,
		(double)r->kl.tokens,
	};
	int rc = tk_dist_sum_doubles(x, UPDATE_FIELDS);
	if (rc)
		return rc;
	*r = (tk_rl_update_result){
		.loss = x[0], .records = (size_t)x[1], .tokens = (size_t)x[2], .skipped = (size_t)x[3],
		.clipped = (size_t)x[4], .scored = (size_t)x[5],
		.kl = {.diff = x[6], .diff2 = x[7], .neg_q = x[8], .tokens = (size_t)x[9]},
	};
	return TK_OK;
}
