/* The RL update through the trainer (tk_rl_update) on the tiny model,
 * full training: the pg gradient is the weighted cross-entropy gradient
 * with weights A / denominator (the sign and scale of the mapping); on
 * policy, is has pg's gradient; ppo drops exactly its clipped tokens;
 * packing into micro-batches and skipping records without advantage
 * change nothing. */
#include "tkt.h"

#include "kernels.h"
#include "tk_error.h"
#include "tk_rl.h"
#include "tk_train.h"

struct tk_model;
int tk_model_load(struct tk_model **out, const char *path);
void tk_model_free(struct tk_model *m);

#define N_REC 3
#define LEN 10
#define VOCAB 512
#define HIDDEN 64
#define GRAD_N (VOCAB * HIDDEN)

static tk_backend *be;
static tk_train *t;

/* Three records of LEN tokens: 4 prompt tokens, 6 sampled ones. */
static int32_t tokens[N_REC][LEN];
static float mask[N_REC][LEN], adv[N_REC][LEN], sampler[N_REC][LEN], policy[N_REC][LEN];
static tk_rl_record recs[N_REC];

static void make_batch(void)
{
	static const float a[N_REC] = {1.0f, -0.5f, 0.25f};
	for (int r = 0; r < N_REC; r++) {
		for (int i = 0; i < LEN; i++) {
			tokens[r][i] = (int32_t)((37 * r + 11 * i + 5) % VOCAB);
			mask[r][i] = i >= 4;
			adv[r][i] = i >= 4 ? a[r] : 0;
		}
		recs[r] = (tk_rl_record){tokens[r], LEN, mask[r], sampler[r], adv[r]};
	}
}

/* The trainer's logprobs of the batch into policy. */
static void policy_logprobs(void)
{
	for (int r = 0; r < N_REC; r++) {
		size_t starts[2] = {0, LEN};
		tk_train_batch b = {LEN, 1, tokens[r], mask[r], starts};
		tk_train_loss ce = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 1, 0};
		tk_train_result res = {0};
		TKT_CHECK(tk_train_forward(t, &b, &ce, &res, policy[r]) == 0, "%s", tk_error_message());
	}
}

static void gradient(float *out)
{
	TKT_CHECK(tk_train_get(t, "lm_head.weight", 'g', out, GRAD_N) == 0, "%s", tk_error_message());
	tk_train_zero_grad(t);
}

static void rl_gradient(int kind, size_t micro, float *out, tk_rl_update_result *res)
{
	tk_rl_loss_params lp = {kind, 0.8, 1.2, 0.1};
	TKT_CHECK(tk_rl_update(t, &lp, recs, N_REC, micro, 18, res) == 0, "%s", tk_error_message());
	gradient(out);
}

/* The gradient of Σ coef·(−logprob) with coef[r][i] given. */
static void ce_gradient(float coef[N_REC][LEN], float *out)
{
	size_t starts[N_REC + 1];
	int32_t all[N_REC * LEN];
	float w[N_REC * LEN];
	for (int r = 0; r < N_REC; r++) {
		starts[r] = (size_t)r * LEN;
		memcpy(all + r * LEN, tokens[r], sizeof tokens[r]);
		memcpy(w + r * LEN, coef[r], sizeof coef[r]);
	}
	starts[N_REC] = N_REC * LEN;
	tk_train_batch b = {N_REC * LEN, N_REC, all, w, starts};
	tk_train_loss ce = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 1, 0};
	tk_train_result res = {0};
	TKT_CHECK(tk_train_forward_backward(t, &b, &ce, &res, NULL) == 0, "%s", tk_error_message());
	gradient(out);
}

static float g1[GRAD_N], g2[GRAD_N];

static double max_abs(const float *g)
{
	double m = 0;
	for (size_t i = 0; i < GRAD_N; i++)
		m = fmax(m, fabs(g[i]));
	return m;
}

static void test_pg_is_weighted_ce(void)
{
	float coef[N_REC][LEN];
	for (int r = 0; r < N_REC; r++)
		for (int i = 0; i < LEN; i++)
			coef[r][i] = adv[r][i] / 18.0f;
	tk_rl_update_result res;
	rl_gradient(TK_RL_PG, 64, g1, &res);
	ce_gradient(coef, g2);
	TKT_CHECK(max_abs(g2) > 1e-4, "a gradient to compare: %g", max_abs(g2));
	TKT_CHECK_CLOSE(g1, g2, GRAD_N, 1e-6 * max_abs(g2));
	TKT_CHECK(res.records == N_REC && res.tokens == N_REC * LEN && res.skipped == 0,
		  "records %zu tokens %zu skipped %zu", res.records, res.tokens, res.skipped);
	// pg: −Σ A·p / 18
	double want = 0;
	for (int r = 0; r < N_REC; r++)
		for (int i = 4; i < LEN; i++)
			want -= adv[r][i] * policy[r][i] / 18.0;
	TKT_CHECK(fabs(res.loss - want) < 1e-5, "loss %.9g want %.9g", res.loss, want);
}

static void test_is_on_policy_is_pg(void)
{
	memcpy(sampler, policy, sizeof sampler);
	tk_rl_update_result res;
	rl_gradient(TK_RL_IS, 64, g1, &res);
	rl_gradient(TK_RL_PG, 64, g2, &res);
	TKT_CHECK_CLOSE(g1, g2, GRAD_N, 1e-6 * max_abs(g2));
	TKT_CHECK(fabs(tk_rl_kl_v1(&res.kl)) < 1e-6, "kl_sample_train %g", tk_rl_kl_v1(&res.kl));
}

/* Sampler logprobs shifted so that some ratios leave [0.8, 1.2]: ppo's
 * gradient is the ce gradient with weight r·A/18 on the tokens it keeps
 * and 0 on those it clips. */
static void test_ppo_drops_clipped_tokens(void)
{
	float coef[N_REC][LEN] = {{0}};
	size_t clipped = 0;
	for (int r = 0; r < N_REC; r++)
		for (int i = 0; i < LEN; i++) {
			float shift = (i % 3 == 0) ? -0.5f : (i % 3 == 1) ? 0.5f : 0.05f;
			sampler[r][i] = policy[r][i] + shift;
			double ratio = exp(-(double)shift), a = adv[r][i];
			double plain = ratio * a, clip = fmin(fmax(ratio, 0.8), 1.2) * a;
			if (i >= 4 && plain <= clip)
				coef[r][i] = (float)(ratio * a / 18.0);
			clipped += i >= 4 && plain > clip;
		}
	TKT_CHECK(clipped > 2, "some tokens clipped: %zu", clipped);
	tk_rl_update_result res;
	rl_gradient(TK_RL_PPO, 64, g1, &res);
	ce_gradient(coef, g2);
	TKT_CHECK_CLOSE(g1, g2, GRAD_N, 1e-5 * max_abs(g2));
	memcpy(sampler, policy, sizeof sampler);
}

static void test_micro_batches_and_skips(void)
{
	tk_rl_update_result res;
	rl_gradient(TK_RL_IS, LEN, g1, &res);   // one record a pass
	rl_gradient(TK_RL_IS, 64, g2, &res);    // all in one
	TKT_CHECK_CLOSE(g1, g2, GRAD_N, 1e-6 * max_abs(g2));
	for (int i = 0; i < LEN; i++)
		adv[1][i] = 0;
	rl_gradient(TK_RL_IS, 64, g1, &res);
	TKT_CHECK(res.skipped == 1 && res.records == 2, "skipped %zu records %zu", res.skipped,
		  res.records);
	TKT_CHECK(tk_rl_update(t, &(tk_rl_loss_params){TK_RL_IS, 0.8, 1.2, 0}, recs, N_REC, 5, 18,
			       &res) == TK_EUSAGE, "a record longer than a pass is refused");
	make_batch();
}

int main(void)
{
	struct tk_model *m;
	if (tk_model_load(&m, "tests/fixtures/tiny-llama") || tk_backend_open(&be, "cpu", 1)) {
		printf("Bail out! %s\n", tk_error_message());
		return 1;
	}
	tk_train_config c = {1, 64};
	if (tk_train_open(&t, be, m, NULL, &c)) {
		printf("Bail out! %s\n", tk_error_message());
		return 1;
	}
	tk_model_free(m);
	make_batch();
	policy_logprobs();
	TKT_RUN(test_pg_is_weighted_ce);
	TKT_RUN(test_is_on_policy_is_pg);
	TKT_RUN(test_ppo_drops_clipped_tokens);
	TKT_RUN(test_micro_batches_and_skips);
	tk_train_close(t);
	tk_backend_close(be);
	return tkt_done();
}
