/* Rewards from a judge (tk_rl.h, tk_rl_rollouts_judge).  Generative: every
 * ordered pair of a group's completions is put to the judge as the
 * question it was trained on (tk_judge_question_json), and the letter it
 * finds more likely wins; both orders cancel a judge's bias for a
 * position.  Implicit: each completion gets the reward a DPO-trained
 * adapter implies, Σ log p_judge − Σ log p_reference over its tokens (the
 * Bradley-Terry score DPO fits), and the higher score wins a pair. */
#include "tk_rl.h"

#include "tk_error.h"
#include "tk_eval.h"
#include "tk_render.h"
#include "tk_tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct letters {
	tk_tokens a, b;
} letters;

static int letters_open(letters *l, const tk_tokenizer *tok)
{
	*l = (letters){0};
	int rc = tk_tokenizer_encode(tok, "A", 1, 0, &l->a);
	if (!rc)
		rc = tk_tokenizer_encode(tok, "B", 1, 0, &l->b);
	if (!rc && (!l->a.n || !l->b.n))
		rc = tk_fail(TK_ECONFIG, "--judge: the letters A and B encode to no tokens");
	return rc;
}

static void letters_close(letters *l)
{
	tk_tokens_free(&l->a);
	tk_tokens_free(&l->b);
}

/* One comparison of first (as A) against second (as B): +1 A wins, −1 B
 * wins, 0 a tie; 2: skipped (too long for the judge). */
static int compare(const tk_rl_judge *j, const letters *l, const char *messages_json,
		   const char *first, const char *second, tk_rendered *out, int *verdict)
{
	char *q = NULL;
	int rc = tk_judge_question_json(messages_json, first, second, &q);
	if (rc)
		return rc;
	tk_message m = {.role = TK_ROLE_USER, .content = q, .content_len = strlen(q)};
	rc = tk_render(j->renderer, &m, 1, TK_RENDER_GENERATION_PROMPT, out);
	free(q);
	if (rc)
		return rc;
	size_t longest = l->a.n > l->b.n ? l->a.n : l->b.n;
	if (out->ids.n + longest > tk_eval_scorer_max_length(j->scorer)) {
		*verdict = 2;
		return TK_OK;
	}
	const int32_t *cont[2] = {l->a.ids, l->b.ids};
	size_t n_cont[2] = {l->a.n, l->b.n};
	double sums[2];
	rc = tk_eval_scorer_choices(j->scorer, out->ids.ids, out->ids.n, cont, n_cont, 2, sums);
	*verdict = sums[0] > sums[1] ? 1 : sums[0] < sums[1] ? -1 : 0;
	return rc;
}

/* One verdict v of x against y (+1 x wins, −1 y wins, 0 a tie) counted. */
static void tally(int v, size_t x, size_t y, double *score, size_t *taken,
		  tk_rl_step_stats *st)
{
	st->judge_pairs++;
	st->judge_ties += v == 0;
	score[x] += v, score[y] -= v;
	taken[x]++, taken[y]++;
}

static int generative_group(const tk_rl_judge *j, const letters *l, const tk_rl_prompt *p,
			    tk_rl_rollout *ro, size_t size, tk_rendered *out, double *score,
			    size_t *taken, tk_rl_step_stats *st)
{
	int rc = TK_OK;
	for (size_t x = 0; !rc && x < size; x++)
		for (size_t y = 0; !rc && y < size; y++) {
			int v = 0;
			if (x == y || (rc = compare(j, l, p->messages_json, ro[x].text, ro[y].text,
						    out, &v)))
				continue;
			if (v == 2)
				st->judge_skipped++;
			else
				tally(v, x, y, score, taken, st);
		}
	return rc;
}

/* The implicit rewards s (size) of a group's completions; fits[i] 0 for
 * one that is empty or longer than the judge's context (left out). */
static int implicit_scores(const tk_rl_judge *j, const tk_rl_rollout *ro, size_t size,
			   double *s, int *fits)
{
	size_t np = ro[0].n_prompt, k = 0, max = tk_eval_scorer_max_length(j->scorer);
	const int32_t **cont = tk_calloc(size, sizeof *cont);
	size_t *n_cont = tk_calloc(size, sizeof *n_cont), *which = tk_calloc(size, sizeof *which);
	double *ref = tk_calloc(size, sizeof *ref);
	int rc = cont && n_cont && which && ref ? TK_OK : TK_EOSERR;
	for (size_t i = 0; !rc && i < size; i++) {
		if (ro[i].n_prompt != np || memcmp(ro[i].tokens, ro[0].tokens, np * sizeof(int32_t)))
			rc = tk_fail(TK_ESOFTWARE, "a group's completions do not share a prompt");
		fits[i] = ro[i].n > np && ro[i].n <= max;
		if (!rc && fits[i]) {
			cont[k] = ro[i].tokens + np, n_cont[k] = ro[i].n - np;
			which[k++] = i;
		}
	}
	if (!rc && k)
		rc = tk_eval_scorer_choices(j->scorer, ro[0].tokens, np, cont, n_cont, k, s);
	if (!rc && k)
		rc = tk_eval_scorer_choices(j->reference, ro[0].tokens, np, cont, n_cont, k, ref);
	for (size_t c = k; !rc && c-- > 0;) // spread to the rollouts' places, last first
		s[which[c]] = s[c] - ref[c];
	free(cont);
	free(n_cont);
	free(which);
	free(ref);
	return rc;
}

static int implicit_group(const tk_rl_judge *j, tk_rl_rollout *ro, size_t size, double *score,
			  size_t *taken, tk_rl_step_stats *st)
{
	double *s = tk_calloc(size, sizeof *s);
	int *fits = tk_calloc(size, sizeof *fits);
	int rc = s && fits ? implicit_scores(j, ro, size, s, fits) : TK_EOSERR;
	for (size_t x = 0; !rc && x < size; x++)
		for (size_t y = x + 1; y < size; y++) {
			if (fits[x] && fits[y])
				tally(s[x] > s[y] ? 1 : s[x] < s[y] ? -1 : 0, x, y, score, taken, st);
			else
				st->judge_skipped++;
		}
	free(s);
	free(fits);
	return rc;
}

/* The rewards of one group's completions ro[0..size). */
static int judge_group(const tk_rl_judge *j, const letters *l, const tk_rl_prompt *p,
		       tk_rl_rollout *ro, size_t size, tk_rendered *out, tk_rl_step_stats *st)
{
	double *score = tk_calloc(size, sizeof *score);
	size_t *taken = tk_calloc(size, sizeof *taken);
	int rc = score && taken ? TK_OK : TK_EOSERR;
	if (!rc)
		rc = j->reference ? implicit_group(j, ro, size, score, taken, st)
				  : generative_group(j, l, p, ro, size, out, score, taken, st);
	for (size_t i = 0; !rc && i < size; i++)
		ro[i].reward = taken[i] ? score[i] / (double)taken[i] : 0;
	free(score);
	free(taken);
	return rc;
}

int tk_rl_rollouts_judge(const tk_rl_judge *j, const tk_rl_prompt *prompts, tk_rl_rollout *ro,
			 size_t n, size_t group_size, tk_rl_step_stats *st)
{
	double t0 = seconds();
	letters l = {0};
	tk_rendered out = {0};
	int rc = j->reference ? TK_OK : letters_open(&l, tk_renderer_tokenizer(j->renderer));
	for (size_t g = 0; !rc && g * group_size < n; g++)
		rc = judge_group(j, &l, &prompts[g], ro + g * group_size, group_size, &out, st);
	letters_close(&l);
	tk_rendered_free(&out);
	st->t_judge += seconds() - t0;
	return rc ? tk_fail_context(rc, "--judge: ") : TK_OK;
}
