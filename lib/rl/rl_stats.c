/* What an RL step measures: the scores of its rollouts, summed as they
 * come, and the metrics.jsonl line they make (tk_rl.h). */
#include "tk_rl.h"

#include "tk_error.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int tk_rl_step_stats_init(tk_rl_step_stats *st)
{
	st->program_metrics = cJSON_CreateObject();
	return st->program_metrics ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}

void tk_rl_step_stats_free(tk_rl_step_stats *st)
{
	cJSON_Delete(st->program_metrics);
	st->program_metrics = NULL;
}

/* Σ of each numeric metric the reward programs gave. */
static void add_program_metrics(tk_rl_step_stats *st, const char *json)
{
	cJSON *m = json ? cJSON_Parse(json) : NULL, *item;
	cJSON_ArrayForEach(item, m) {
		if (!cJSON_IsNumber(item) || !item->string)
			continue;
		cJSON *sum = cJSON_GetObjectItemCaseSensitive(st->program_metrics, item->string);
		if (sum)
			cJSON_SetNumberValue(sum, sum->valuedouble + item->valuedouble);
		else
			cJSON_AddNumberToObject(st->program_metrics, item->string, item->valuedouble);
	}
	cJSON_Delete(m);
}

static void add_score(tk_rl_step_stats *st, const tk_rl_score *sc)
{
	st->reward_sum += sc->reward;
	st->reward2_sum += sc->reward * sc->reward;
	st->format_sum += sc->formatted;
	if (sc->correct >= 0) {
		st->correct_sum += sc->correct;
		st->correct_known++;
	}
	add_program_metrics(st, sc->metrics_json);
}

int tk_rl_rollouts_score(tk_rl_env *env, const tk_rl_prompt *prompts, tk_rl_rollout *ro,
			 size_t n, tk_rl_step_stats *st)
{
	tk_rl_sample *s = tk_calloc(n ? n : 1, sizeof *s);
	tk_rl_score *sc = tk_calloc(n ? n : 1, sizeof *sc);
	int rc = s && sc ? TK_OK : TK_EOSERR;
	for (size_t i = 0; !rc && i < n; i++)
		s[i] = (tk_rl_sample){&prompts[ro[i].group], ro[i].group, ro[i].text, ro[i].complete};
	if (!rc)
		rc = tk_rl_env_score(env, s, n, sc);
	for (size_t i = 0; !rc && i < n; i++) {
		ro[i].reward = sc[i].reward;
		add_score(st, &sc[i]);
	}
	if (!rc)
		st->samples += n;
	if (sc)
		tk_rl_score_free(sc, n);
	free(sc);
	free(s);
	return rc;
}

/* ---- the metrics line ---------------------------------------------------- */

static void add_number(cJSON *o, const char *key, double v)
{
	cJSON_AddItemToObject(o, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

static void env_metrics(cJSON *o, const tk_rl_step_stats *st)
{
	double n = (double)(st->samples ? st->samples : 1);
	double mean = st->reward_sum / n, groups = (double)(st->groups.groups ? st->groups.groups : 1);
	add_number(o, "env/all/reward/total", mean);
	add_number(o, "env/all/reward/std", sqrt(fmax(st->reward2_sum / n - mean * mean, 0)));
	if (st->correct_known)
		add_number(o, "env/all/correct", st->correct_sum / (double)st->correct_known);
	if (!st->offline && !st->ep.episodes)
		add_number(o, "env/all/format", st->format_sum / n);
	add_number(o, "env/all/frac_mixed", 1 - (double)st->groups.flat / groups);
	add_number(o, "env/all/frac_all_good", (double)st->groups.all_good / groups);
	add_number(o, "env/all/frac_all_bad", (double)st->groups.all_bad / groups);
	if (!st->offline) {
		add_number(o, "env/all/ac_tokens_per_turn",
			   (double)st->sampled / (st->ep.turns ? (double)st->ep.turns : n));
		add_number(o, "env/all/total_ac_tokens", (double)st->sampled);
	}
	// a program's metrics come once an episode, whatever its seats
	double per = st->ep.episodes ? (double)st->ep.episodes : n;
	cJSON *item;
	cJSON_ArrayForEach(item, (cJSON *)st->program_metrics) {
		char key[256];
		snprintf(key, sizeof key, "env/all/%s", item->string);
		add_number(o, key, item->valuedouble / per);
	}
}

/* Episodes of protocol 2: turns, tools, observation tokens, the limits
 * that ended them, the prefill the kept KV cache saved, and each seat's
 * reward. */
static void episode_metrics(cJSON *o, const tk_rl_step_stats *st)
{
	const tk_rl_episode_stats *es = &st->ep;
	double n = (double)es->episodes, seats = (double)(st->samples ? st->samples : 1);
	double turns = (double)(es->turns ? es->turns : 1);
	add_number(o, "env/all/total_episodes", n);
	add_number(o, "env/all/total_turns", (double)es->turns);
	add_number(o, "env/all/turns_per_episode", (double)es->turns / seats);
	add_number(o, "env/all/tool_calls_per_episode", (double)es->tool_calls / seats);
	add_number(o, "env/all/ob_tokens_per_turn", (double)es->ob_tokens / turns);
	add_number(o, "env/all/total_ob_tokens", (double)es->ob_tokens);
	add_number(o, "episodes/failed", (double)es->failed);
	add_number(o, "episodes/dropped", (double)es->dropped);
	add_number(o, "episodes/cut_max_turns", (double)es->cut_turns);
	add_number(o, "episodes/cut_max_tokens", (double)es->cut_tokens);
	add_number(o, "episodes/prefill_tokens", (double)es->prefilled);
	add_number(o, "episodes/prompt_tokens", (double)es->prompt_tokens);
	for (size_t k = 0; es->seats > 1 && k < es->seats && k < TK_RL_MAX_SEATS; k++) {
		char key[64];
		snprintf(key, sizeof key, "env/seat%zu/reward/total", k);
		add_number(o, key, es->seat_n[k] ? es->seat_reward[k] / (double)es->seat_n[k] : 0);
	}
}

static void optim_metrics(cJSON *o, const tk_rl_step_stats *st)
{
	const tk_rl_kl_sums *kl = &st->up.kl;
	add_number(o, "optim/loss", st->up.loss);
	add_number(o, "optim/lr", st->lr);
	add_number(o, "optim/grad_norm", st->grad_norm);
	if (kl->tokens) {
		add_number(o, "optim/kl_sample_train_v1", tk_rl_kl_v1(kl));
		add_number(o, "optim/kl_sample_train_v2", tk_rl_kl_v2(kl));
		add_number(o, "optim/entropy", tk_rl_entropy(kl));
	}
	if (st->has_kl_base)
		add_number(o, "kl_policy_base", st->kl_base);
	if (st->has_teacher)
		add_number(o, "teacher/kl", st->teacher_kl);
	if (st->up.scored) // of the last substep: how far the policy moved from the sampler
		add_number(o, "optim/clipped_frac", (double)st->up.clipped / (double)st->up.scored);
	if (st->judge_pairs + st->judge_skipped) {
		add_number(o, "judge/comparisons", (double)st->judge_pairs);
		add_number(o, "judge/ties", (double)st->judge_ties);
		add_number(o, "judge/skipped", (double)st->judge_skipped);
	}
	add_number(o, "optim/trained_samples", (double)st->up.records);
	add_number(o, "optim/skipped_samples", (double)(st->up.skipped + st->dropped));
}

static void time_metrics(cJSON *o, const tk_rl_step_stats *st, int64_t step, int64_t total,
			 double elapsed)
{
	if (st->t_sample > 0) {
		add_number(o, "time/sample", st->t_sample);
		add_number(o, "time/score", st->t_score);
		add_number(o, "throughput/sample_tokens_per_sec", (double)st->sampled / st->t_sample);
	}
	if (st->has_teacher) {
		add_number(o, "time/teacher", st->t_teacher);
		add_number(o, "throughput/teacher_tokens_per_sec",
			   (double)st->teacher_tokens / fmax(st->t_teacher, 1e-9));
	}
	if (st->judge_pairs)
		add_number(o, "time/judge", st->t_judge);
	add_number(o, "time/train", st->t_train);
	add_number(o, "time/step", st->t_step);
	add_number(o, "throughput/train_tokens_per_sec", (double)st->up.tokens / st->t_train);
	add_number(o, "time/total", elapsed);
	if (total)
		add_number(o, "progress/done_frac", (double)step / (double)total);
}

static cJSON *metrics_object(const tk_rl_step_stats *st, int64_t step, int64_t total,
			     double elapsed)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "step", (double)step);
	if (st->samples)
		env_metrics(o, st);
	if (st->ep.episodes || st->ep.failed)
		episode_metrics(o, st);
	optim_metrics(o, st);
	time_metrics(o, st, step, total, elapsed);
	return o;
}

static char *print_line(cJSON *o)
{
	char *line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!line)
		tk_fail(TK_EOSERR, "out of memory printing a metrics line");
	return line;
}

char *tk_rl_metrics_line(const tk_rl_step_stats *st, int64_t step, int64_t total,
			 double elapsed)
{
	return print_line(metrics_object(st, step, total, elapsed));
}

char *tk_rl_eval_line(const tk_rl_step_stats *st, const tk_rl_eval_result *res, int64_t step,
		      double elapsed)
{
	cJSON *o = metrics_object(st, step, 0, elapsed);
	cJSON_AddNumberToObject(o, "eval/episodes", (double)res->n);
	add_number(o, "eval/mean_return", res->mean);
	add_number(o, "eval/stderr", res->stderr_mean);
	return print_line(o);
}

char *tk_rl_test_line(const tk_rl_step_stats *st, int64_t step, double elapsed)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "step", (double)step);
	double n = (double)(st->samples ? st->samples : 1), mean = st->reward_sum / n;
	cJSON_AddNumberToObject(o, "test/samples", (double)st->samples);
	add_number(o, "test/env/all/reward/total", mean);
	add_number(o, "test/env/all/reward/stderr",
		   sqrt(fmax(st->reward2_sum / n - mean * mean, 0) / n));
	if (st->correct_known)
		add_number(o, "test/env/all/correct", st->correct_sum / (double)st->correct_known);
	add_number(o, "test/env/all/format", st->format_sum / n);
	add_number(o, "test/env/all/ac_tokens_per_turn", (double)st->sampled / n);
	add_number(o, "time/test", elapsed);
	return print_line(o);
}

void tk_rl_progress_line(const tk_rl_step_stats *st, int64_t step, int64_t total, char *buf,
			 size_t cap)
{
	double n = (double)(st->samples ? st->samples : 1);
	char of[32] = "";
	if (total)
		snprintf(of, sizeof of, "/%" PRId64, total);
	snprintf(buf, cap, "step %" PRId64 "%s  reward %.4f  len %.1f  kl_sample_train %.2e  "
		 "grad norm %.3g  %.1f s", step, of, st->reward_sum / n, (double)st->sampled / n,
		 tk_rl_kl_v1(&st->up.kl), st->grad_norm, st->t_step);
}
