/* The policy losses and their gradients, group advantages, the KL penalty
 * and the sampler/trainer consistency sums (tk_rl.h).  Everything is in
 * double: these are a few numbers per token. */
#include "tk_rl.h"

#include "tk_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const loss_names[TK_RL_N_LOSSES] = {"is", "ppo", "cispo", "dro", "pg"};

int tk_rl_loss_parse(const char *name)
{
	for (int k = 0; k < TK_RL_N_LOSSES; k++)
		if (strcmp(name, loss_names[k]) == 0)
			return k;
	return -1;
}

const char *tk_rl_loss_name(int kind)
{
	return kind >= 0 && kind < TK_RL_N_LOSSES ? loss_names[kind] : "?";
}

int tk_rl_loss_needs_logprobs(int kind)
{
	return kind != TK_RL_PG;
}

static double clamp(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/* PPO: −min(r·A, clip(r)·A).  Where the clipped term is the smaller one
 * the loss does not depend on p and its gradient is 0. */
static double ppo(const tk_rl_loss_params *lp, double r, double adv, double *grad)
{
	double plain = r * adv, clipped = clamp(r, lp->clip_low, lp->clip_high) * adv;
	if (plain <= clipped) {
		*grad = -plain;
		return -plain;
	}
	*grad = 0;
	return -clipped;
}

double tk_rl_token_loss(const tk_rl_loss_params *lp, double p, double q, double adv,
			double *grad)
{
	double r = exp(p - q);
	switch (lp->kind) {
	case TK_RL_IS:
		*grad = -r * adv;
		return -r * adv;
	case TK_RL_PPO:
		return ppo(lp, r, adv, grad);
	case TK_RL_CISPO: {
		double c = clamp(r, lp->clip_low, lp->clip_high);
		*grad = -c * adv;
		return -c * adv * p;
	}
	case TK_RL_DRO:
		*grad = -(adv - lp->dro_beta * (p - q));
		return -(adv * p - 0.5 * lp->dro_beta * (p - q) * (p - q));
	default: // TK_RL_PG
		*grad = -adv;
		return -adv * p;
	}
}

int tk_rl_token_clipped(const tk_rl_loss_params *lp, double p, double q, double adv)
{
	double r = exp(p - q);
	if (lp->kind == TK_RL_PPO) // the clipped term is the smaller: no gradient
		return (adv > 0 && r > lp->clip_high) || (adv < 0 && r < lp->clip_low);
	if (lp->kind == TK_RL_CISPO)
		return r > lp->clip_high || r < lp->clip_low;
	return 0;
}

/* ---- advantages --------------------------------------------------------- */

/* Index of each sample's group among the distinct ids, in first-seen
 * order; returns the number of groups.  n² at worst, n is one step. */
static size_t group_index(const int64_t *group, size_t n, size_t *index, int64_t *ids)
{
	size_t groups = 0;
	for (size_t i = 0; i < n; i++) {
		size_t g = 0;
		while (g < groups && ids[g] != group[i])
			g++;
		if (g == groups)
			ids[groups++] = group[i];
		index[i] = g;
	}
	return groups;
}

/* Per group: count, mean, std, whether all rewards are equal. */
typedef struct group_moments {
	double n, sum, sum2, min, max;
} group_moments;

static void count_flat(const group_moments *m, size_t groups, tk_rl_group_stats *stats)
{
	*stats = (tk_rl_group_stats){.groups = groups};
	for (size_t g = 0; g < groups; g++) {
		if (m[g].min != m[g].max)
			continue;
		stats->flat++;
		stats->all_good += m[g].max > 0;
		stats->all_bad += m[g].max <= 0;
	}
}

int tk_rl_advantages(const double *reward, const int64_t *group, size_t n, int scale_by_std,
		     double *adv, tk_rl_group_stats *stats)
{
	size_t *index = tk_calloc(n ? n : 1, sizeof *index);
	int64_t *ids = tk_calloc(n ? n : 1, sizeof *ids);
	group_moments *m = tk_calloc(n ? n : 1, sizeof *m);
	if (!index || !ids || !m) {
		free(index);
		free(ids);
		free(m);
		return TK_EOSERR;
	}
	size_t groups = group_index(group, n, index, ids);
	for (size_t i = 0; i < n; i++) {
		group_moments *g = &m[index[i]];
		if (g->n == 0)
			g->min = g->max = reward[i];
		g->n++;
		g->sum += reward[i];
		g->min = fmin(g->min, reward[i]);
		g->max = fmax(g->max, reward[i]);
	}
	for (size_t i = 0; i < n; i++) {
		group_moments *g = &m[index[i]];
		double d = reward[i] - g->sum / g->n;
		g->sum2 += d * d;
	}
	for (size_t i = 0; i < n; i++) {
		const group_moments *g = &m[index[i]];
		double d = reward[i] - g->sum / g->n;
		if (g->min == g->max)
			d = 0;
		else if (scale_by_std)
			d /= sqrt(g->sum2 / g->n) + 1e-6;
		adv[i] = d;
	}
	if (stats)
		count_flat(m, groups, stats);
	free(index);
	free(ids);
	free(m);
	return TK_OK;
}

/* ---- KL ----------------------------------------------------------------- */

double tk_rl_kl_penalty(const float *q, const float *base, const float *mask, size_t n,
			double coef, float *adv)
{
	double sum = 0;
	size_t count = 0;
	for (size_t t = 0; t < n; t++)
		if (!mask || mask[t] != 0) {
			sum += (double)q[t] - (double)base[t];
			count++;
		}
	if (count == 0)
		return 0;
	double mean = sum / (double)count;
	for (size_t t = 0; t < n; t++)
		if (!mask || mask[t] != 0)
			adv[t] += (float)(coef * (mean - ((double)q[t] - (double)base[t])));
	return mean;
}

void tk_rl_kl_add(tk_rl_kl_sums *s, const float *q, const float *p, const float *mask, size_t n)
{
	for (size_t t = 0; t < n; t++) {
		if (mask && mask[t] == 0)
			continue;
		double d = (double)q[t] - (double)p[t];
		s->diff += d;
		s->diff2 += d * d;
		s->neg_q -= q[t];
		s->tokens++;
	}
}

double tk_rl_kl_v1(const tk_rl_kl_sums *s)
{
	return s->tokens ? s->diff / (double)s->tokens : 0;
}

double tk_rl_kl_v2(const tk_rl_kl_sums *s)
{
	return s->tokens ? 0.5 * s->diff2 / (double)s->tokens : 0;
}

double tk_rl_entropy(const tk_rl_kl_sums *s)
{
	return s->tokens ? s->neg_q / (double)s->tokens : 0;
}
