/* A judge measured (tk_eval.h).  Generative (tk_eval_judge_record): on the
 * records tk-render --judge writes, whether the judge finds the trained
 * letter (the chosen reply's) more likely than the other one.  Implicit
 * (tk_eval_judge_pair_record): on the pairs tk-render --pairs writes,
 * whether a DPO-trained judge's implicit reward ranks the chosen reply
 * above the rejected one. */
#include "eval_internal.h"

#include "tk_error.h"
#include "tk_eval.h"
#include "tk_tokenizer.h"

#include <math.h>

/* The single token a letter encodes to. */
static int letter_token(const tk_tokenizer *tok, const char *letter, int32_t *id)
{
	tk_tokens t = {0};
	int rc = tk_tokenizer_encode(tok, letter, 1, 0, &t);
	if (!rc && t.n != 1)
		rc = tk_fail(TK_ECONFIG, "the letter %s is %zu tokens, not one", letter, t.n);
	if (!rc)
		*id = t.ids[0];
	tk_tokens_free(&t);
	return rc;
}

int tk_eval_judge_record(tk_eval_scorer *s, const tk_tokenizer *tok, const tk_record *rec,
			 tk_eval_judge *acc)
{
	int32_t a, b;
	int rc = letter_token(tok, "A", &a);
	if (!rc)
		rc = letter_token(tok, "B", &b);
	size_t at = 0;
	while (!rc && at < rec->n && rec->weights[at] == 0)
		at++;
	if (!rc && (at == 0 || at == rec->n || (rec->tokens[at] != a && rec->tokens[at] != b)))
		return tk_fail(TK_EDATA, "not a judge's record (tk-render --judge): its first "
			       "trained token is not the letter A or B");
	if (rc)
		return rc;
	const int32_t *cont[2] = {&a, &b};
	size_t n_cont[2] = {1, 1};
	double sums[2];
	rc = tk_eval_scorer_choices(s, rec->tokens, at, cont, n_cont, 2, sums);
	if (rc)
		return rc;
	int right = rec->tokens[at] == b;
	acc->records++;
	acc->ties += sums[0] == sums[1];
	acc->right += sums[right] > sums[!right];
	acc->chose_a += sums[0] > sums[1];
	return TK_OK;
}

/* A record's implicit reward: reference nats less the judge's. */
static int implicit_reward(tk_eval_scorer *judge, tk_eval_scorer *reference,
			   const tk_tokenizer *tok, const tk_record *rec, double *reward)
{
	tk_eval_nll j, r;
	int rc = tk_eval_nll_record(judge, tok, rec, &j);
	if (!rc)
		rc = tk_eval_nll_record(reference, tok, rec, &r);
	if (!rc && j.tokens == 0)
		rc = tk_fail(TK_EDATA, "a pair's reply has no trained token");
	if (!rc)
		*reward = r.nats - j.nats;
	return rc;
}

int tk_eval_judge_pair_record(tk_eval_scorer *judge, tk_eval_scorer *reference,
			      const tk_tokenizer *tok, const tk_record *rec, tk_eval_judge *acc)
{
	int chosen = rec->pair_role == TK_PAIR_CHOSEN;
	if (!chosen && rec->pair_role != TK_PAIR_REJECTED)
		return tk_fail(TK_EDATA, "not a preference pair's record (tk-render --pairs)");
	if (chosen == acc->has_chosen)
		return tk_fail(TK_EDATA, chosen ? "a chosen reply follows a chosen one"
						: "a rejected reply with no chosen one before it");
	double reward;
	int rc = implicit_reward(judge, reference, tok, rec, &reward);
	if (rc)
		return rc;
	acc->implicit = 1;
	acc->has_chosen = chosen;
	if (chosen) {
		acc->chosen_reward = reward;
		return TK_OK;
	}
	acc->records++;
	acc->ties += acc->chosen_reward == reward;
	acc->right += acc->chosen_reward > reward;
	acc->margin += acc->chosen_reward - reward;
	return TK_OK;
}

int tk_eval_judge_report(const tk_eval_judge *t, const char *model, const char *adapter,
			 char **json)
{
	double n = (double)t->records, p = n > 0 ? (double)t->right / n : 0;
	eval_json j = eval_json_new();
	eval_json_string(&j, "kind", t->implicit ? "implicit" : "generative");
	eval_json_finite(&j, "accuracy", p);
	eval_json_finite(&j, "stderr", n > 0 ? sqrt(p * (1 - p) / n) : 0);
	eval_json_number(&j, "right", (double)t->right);
	eval_json_number(&j, "ties", (double)t->ties);
	if (t->implicit)
		eval_json_finite(&j, "margin", n > 0 ? t->margin / n : 0);
	else
		eval_json_finite(&j, "chose_a", n > 0 ? (double)t->chose_a / n : 0);
	eval_json_number(&j, "records", n);
	eval_json_sources(&j, model, adapter);
	return eval_json_take(&j, json);
}
