/* A generative judge measured (tk_eval.h, tk_eval_judge_record): on the
 * records tk-render --judge writes, whether the judge finds the trained
 * letter (the chosen reply's) more likely than the other one. */
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

int tk_eval_judge_report(const tk_eval_judge *t, const char *model, const char *adapter,
			 char **json)
{
	double n = (double)t->records, p = n > 0 ? (double)t->right / n : 0;
	eval_json j = eval_json_new();
	eval_json_finite(&j, "accuracy", p);
	eval_json_finite(&j, "stderr", n > 0 ? sqrt(p * (1 - p) / n) : 0);
	eval_json_number(&j, "right", (double)t->right);
	eval_json_number(&j, "ties", (double)t->ties);
	eval_json_finite(&j, "chose_a", n > 0 ? (double)t->chose_a / n : 0);
	eval_json_number(&j, "records", n);
	eval_json_sources(&j, model, adapter);
	return eval_json_take(&j, json);
}
