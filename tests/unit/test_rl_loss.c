/* The RL losses and advantages against float64 references computed by
 * hand (scripts written out below as the formulas of tk_rl.h, evaluated in
 * Python's float64), on one fixed batch of two samples of three tokens:
 * values, gradients with respect to the policy logprobs, and a central
 * finite-difference check of every gradient that is a true derivative. */
#include "tkt.h"

#include "tk_rl.h"

#define N 6

/* p: policy logprobs, q: sampler logprobs, A: advantages.  Token 2 has
 * ratio e^0.4 > 1.2 with A > 0 and token 3 ratio e^-0.5 < 0.8 with A < 0:
 * PPO clips both. */
static const double P[N] = {-0.5, -1.2, -0.2, -2.0, -0.7, -0.3};
static const double Q[N] = {-0.6, -1.0, -0.6, -1.5, -0.9, -0.31};
static const double A[N] = {1.0, 1.0, 1.0, -0.5, -0.5, -0.5};

typedef struct reference {
	int kind;
	double loss;
	double grad[N];
} reference;

static const reference refs[] = {
	{TK_RL_IS, -1.9967345763164142,
	 {-1.1051709180756475, -0.81873075307798193, -1.4918246976412703,
	  0.30326532985631671, 0.61070137908008493, 0.50502508354208409}},
	{TK_RL_PPO, -1.6081752085314607,
	 {-1.1051709180756475, -0.81873075307798193, 0, 0, 0.61070137908008493,
	  0.50502508354208409}},
	{TK_RL_CISPO, 0.40355483766877698,
	 {-1.1051709180756475, -0.81873075307798193, -1.2, 0.4, 0.6,
	  0.50502508354208409}},
	{TK_RL_DRO, 0.46251249999999983,
	 {-0.975, -1.05, -0.9, 0.375, 0.55, 0.5025}},
	{TK_RL_PG, 0.39999999999999991, {-1, -1, -1, 0.5, 0.5, 0.5}},
};

static double batch_loss(const tk_rl_loss_params *lp, const double *p, double *grad)
{
	double sum = 0, g;
	for (int t = 0; t < N; t++) {
		sum += tk_rl_token_loss(lp, p[t], Q[t], A[t], &g);
		if (grad)
			grad[t] = g;
	}
	return sum;
}

static void test_losses_match_references(void)
{
	for (size_t k = 0; k < sizeof refs / sizeof refs[0]; k++) {
		tk_rl_loss_params lp = {refs[k].kind, 0.8, 1.2, 0.25};
		double grad[N];
		double loss = batch_loss(&lp, P, grad);
		TKT_CHECK(fabs(loss - refs[k].loss) < 1e-12, "%s: loss %.17g, want %.17g",
			  tk_rl_loss_name(refs[k].kind), loss, refs[k].loss);
		for (int t = 0; t < N; t++)
			TKT_CHECK(fabs(grad[t] - refs[k].grad[t]) < 1e-12, "%s: grad[%d] %.17g, want %.17g",
				  tk_rl_loss_name(refs[k].kind), t, grad[t], refs[k].grad[t]);
	}
}

/* cispo's gradient stops at the ratio, so it is not the derivative of its
 * value; every other loss's is. */
static void test_gradients_are_derivatives(void)
{
	int kinds[] = {TK_RL_IS, TK_RL_PPO, TK_RL_DRO, TK_RL_PG};
	for (size_t k = 0; k < 4; k++) {
		tk_rl_loss_params lp = {kinds[k], 0.8, 1.2, 0.25};
		double grad[N], p[N];
		batch_loss(&lp, P, grad);
		for (int t = 0; t < N; t++) {
			double h = 1e-6;
			memcpy(p, P, sizeof p);
			p[t] = P[t] + h;
			double up = batch_loss(&lp, p, NULL);
			p[t] = P[t] - h;
			double down = batch_loss(&lp, p, NULL);
			double fd = (up - down) / (2 * h);
			TKT_CHECK(fabs(fd - grad[t]) < 1e-6, "%s: token %d: finite difference %.9g, "
				  "gradient %.9g", tk_rl_loss_name(kinds[k]), t, fd, grad[t]);
		}
	}
}

/* On policy (p == q) is, ppo and cispo all have the gradient −A of pg. */
static void test_on_policy_gradients_agree(void)
{
	int kinds[] = {TK_RL_IS, TK_RL_PPO, TK_RL_CISPO, TK_RL_DRO, TK_RL_PG};
	for (size_t k = 0; k < 5; k++) {
		tk_rl_loss_params lp = {kinds[k], 0.8, 1.2, 0.1};
		double g;
		tk_rl_token_loss(&lp, -1.3, -1.3, 0.7, &g);
		TKT_CHECK(fabs(g + 0.7) < 1e-15, "%s: gradient %.17g on policy", tk_rl_loss_name(kinds[k]), g);
	}
}

static void test_loss_names(void)
{
	for (int k = 0; k < TK_RL_N_LOSSES; k++)
		TKT_CHECK(tk_rl_loss_parse(tk_rl_loss_name(k)) == k, "round trip of %d", k);
	TKT_CHECK(tk_rl_loss_parse("grpo") == -1, "unknown name");
	TKT_CHECK(!tk_rl_loss_needs_logprobs(TK_RL_PG) && tk_rl_loss_needs_logprobs(TK_RL_PPO),
		  "pg alone needs no forward first");
}

static void test_advantages(void)
{
	// groups 7 (mean 0.5, std 0.5), 3 (flat at 0.5), 9 (mean 1, std 1), 5 (flat at 0)
	double reward[] = {1, 0.5, 0, 2, 0, 0.5, 1, 0, 0, 0};
	int64_t group[] = {7, 3, 7, 9, 7, 3, 7, 9, 5, 5};
	double want[] = {0.5, 0, -0.5, 1, -0.5, 0, 0.5, -1, 0, 0};
	double adv[10];
	tk_rl_group_stats st;
	TKT_CHECK(tk_rl_advantages(reward, group, 10, 0, adv, &st) == 0, "advantages");
	for (int i = 0; i < 10; i++)
		TKT_CHECK(fabs(adv[i] - want[i]) < 1e-15, "adv[%d] = %.17g, want %g", i, adv[i], want[i]);
	TKT_CHECK(st.groups == 4 && st.flat == 2 && st.all_bad == 1 && st.all_good == 1,
		  "groups %zu flat %zu good %zu bad %zu", st.groups, st.flat, st.all_good, st.all_bad);
	TKT_CHECK(tk_rl_advantages(reward, group, 10, 1, adv, NULL) == 0, "scaled");
	double scaled[] = {1, 0, -1, 1, -1, 0, 1, -1, 0, 0};
	for (int i = 0; i < 10; i++)
		TKT_CHECK(fabs(adv[i] - scaled[i] / (1 + 2e-6 * (group[i] == 7) + 1e-6 * (group[i] == 9)))
				  < 1e-9, "scaled adv[%d] = %.17g", i, adv[i]);
	// flat above 0: "all good", at or below 0: "all bad"
	double same[] = {1, 1, 0, 0};
	int64_t g2[] = {0, 0, 1, 1};
	TKT_CHECK(tk_rl_advantages(same, g2, 4, 0, adv, &st) == 0, "flat batch");
	TKT_CHECK(st.flat == 2 && st.all_good == 1 && st.all_bad == 1, "good %zu bad %zu",
		  st.all_good, st.all_bad);
}

static void test_kl_penalty_and_sums(void)
{
	float q[] = {-1, -2, -0.5f, -9}, base[] = {-1.5f, -2, -0.2f, 0}, mask[] = {1, 1, 1, 0};
	float adv[] = {1, 1, 1, 1};
	double mean = tk_rl_kl_penalty(q, base, mask, 4, 0.1, adv);
	double d[] = {0.5, 0, -0.3}, m = 0.2 / 3;
	TKT_CHECK(fabs(mean - m) < 1e-7, "mean KL %.9g", mean);
	for (int t = 0; t < 3; t++)
		TKT_CHECK(fabs(adv[t] - (1 + 0.1 * (m - d[t]))) < 1e-6, "adv[%d] %.9g", t, adv[t]);
	TKT_CHECK(adv[3] == 1, "masked token untouched");
	float p[] = {-1.1f, -2, -0.4f, 0};
	tk_rl_kl_sums s = {0};
	tk_rl_kl_add(&s, q, p, mask, 4);
	TKT_CHECK(s.tokens == 3, "tokens %zu", s.tokens);
	TKT_CHECK(fabs(tk_rl_kl_v1(&s) - (0.1 + 0 - 0.1) / 3) < 1e-7, "v1 %.9g", tk_rl_kl_v1(&s));
	TKT_CHECK(fabs(tk_rl_kl_v2(&s) - 0.5 * 0.02 / 3) < 1e-7, "v2 %.9g", tk_rl_kl_v2(&s));
	TKT_CHECK(fabs(tk_rl_entropy(&s) - 3.5 / 3) < 1e-7, "entropy %.9g", tk_rl_entropy(&s));
}

int main(void)
{
	TKT_RUN(test_losses_match_references);
	TKT_RUN(test_gradients_are_derivatives);
	TKT_RUN(test_on_policy_gradients_agree);
	TKT_RUN(test_loss_names);
	TKT_RUN(test_advantages);
	TKT_RUN(test_kl_penalty_and_sums);
	return tkt_done();
}
