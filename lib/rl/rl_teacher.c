/* On-policy distillation (tk_rl.h, tk_rl_rollouts_teacher): the teacher
 * scores every token the policy sampled, and the per-token reverse KL
 * estimate q − teacher becomes a penalty on that token's advantage. */
#include "tk_rl.h"

#include "tk_error.h"
#include "tk_eval.h"

#include <stdlib.h>
#include <time.h>

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int tk_rl_rollouts_teacher(struct tk_eval_scorer *teacher, tk_rl_rollout *ro, size_t n,
			   double coef, tk_rl_step_stats *st)
{
	double t0 = seconds(), kl = 0;
	size_t longest = 1, sampled = 0, scored = 0;
	for (size_t i = 0; i < n; i++)
		longest = ro[i].n > longest ? ro[i].n : longest;
	float *lp = tk_calloc(longest, sizeof *lp);
	int rc = lp ? TK_OK : TK_EOSERR;
	for (size_t i = 0; !rc && i < n; i++) {
		rc = tk_eval_scorer_sequence(teacher, ro[i].tokens, ro[i].n, lp);
		scored += ro[i].n;
		for (size_t t = 1; !rc && t < ro[i].n; t++) {
			if (ro[i].mask[t] == 0)
				continue;
			double d = (double)ro[i].sampler[t] - lp[t];
			ro[i].adv[t] -= (float)(coef * d);
			kl += d;
			sampled++;
		}
	}
	free(lp);
	if (rc)
		return tk_fail_context(rc, "--teacher: ");
	st->has_teacher = 1;
	st->teacher_kl = sampled ? kl / (double)sampled : 0;
	st->teacher_tokens += scored;
	st->t_teacher += seconds() - t0;
	return TK_OK;
}
