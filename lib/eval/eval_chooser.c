/* Answering multiple-choice questions by logprob: the questions of a file
 * read and checked before a model is loaded, then each scored through a
 * tk_eval_scorer, picked by the sum of its choices' logprobs and by their
 * logprob per byte, and tallied for the report. */
#include "eval_internal.h"
#include "tk_eval.h"

#include <cjson/cJSON.h>

/* ---- the questions of a file ---------------------------------------------- */

typedef struct question_reader {
	tk_eval_questions *l;
	tk_eval_question q;       /* scratch */
} question_reader;

static int keep_line(tk_eval_questions *l, const char *line, uint64_t number)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **lines = tk_realloc(l->lines, cap * sizeof *lines);
		if (!lines)
			return TK_EOSERR;
		l->lines = lines;
		uint64_t *numbers = tk_realloc(l->numbers, cap * sizeof *numbers);
		if (!numbers)
			return TK_EOSERR;
		l->numbers = numbers;
		l->cap = cap;
	}
	l->numbers[l->n] = number;
	l->lines[l->n] = tk_strdup(line);
	return l->lines[l->n++] ? TK_OK : TK_EOSERR;
}

static int question_line(void *ctx, const char *line, size_t len, uint64_t number)
{
	question_reader *r = ctx;
	int rc = tk_eval_question_parse(&r->q, line, len);
	if (rc)
		return rc;
	if (r->q.n_choices > r->l->max_choices)
		r->l->max_choices = r->q.n_choices;
	return keep_line(r->l, line, number);
}

int tk_eval_questions_read(tk_eval_questions *l, const char *path)
{
	memset(l, 0, sizeof *l);
	question_reader r = {.l = l};
	int rc = tk_eval_read_lines(path, question_line, &r, NULL);
	tk_eval_question_free(&r.q);
	if (!rc && l->n == 0)
		rc = tk_fail(TK_EDATA, "%s: no questions in it", tk_eval_input_name(path));
	return rc;
}

void tk_eval_questions_free(tk_eval_questions *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->lines[i]);
	free(l->lines);
	free(l->numbers);
	memset(l, 0, sizeof *l);
}

/* ---- answering ------------------------------------------------------------- */

struct tk_eval_chooser {
	tk_eval_scorer *scorer;
	const tk_tokenizer *tok;
	const tk_renderer *renderer; /* NULL: raw text */
	unsigned flags;
	size_t max_choices;
	tk_eval_choice_tokens tokens;
	double *sums, *norms;        /* (max_choices) */
	const int32_t **conts;       /* (max_choices) */
	size_t *lens;                /* (max_choices) */
	uint64_t n, correct_sum, correct_norm;
};

int tk_eval_chooser_new(tk_eval_chooser **out, tk_eval_scorer *s, const tk_tokenizer *tok,
			const tk_renderer *r, unsigned flags, size_t max_choices)
{
	*out = NULL;
	tk_eval_chooser *c = tk_calloc(1, sizeof *c);
	if (!c)
		return TK_EOSERR;
	*c = (tk_eval_chooser){.scorer = s, .tok = tok, .renderer = r, .flags = flags,
			       .max_choices = max_choices};
	c->sums = tk_calloc(max_choices, sizeof *c->sums);
	c->norms = tk_calloc(max_choices, sizeof *c->norms);
	c->conts = tk_calloc(max_choices, sizeof *c->conts);
	c->lens = tk_calloc(max_choices, sizeof *c->lens);
	if (!c->sums || !c->norms || !c->conts || !c->lens) {
		tk_eval_chooser_free(c);
		return TK_EOSERR;
	}
	*out = c;
	return TK_OK;
}

void tk_eval_chooser_free(tk_eval_chooser *c)
{
	if (!c)
		return;
	tk_eval_choice_tokens_free(&c->tokens);
	free(c->sums);
	free(c->norms);
	free(c->conts);
	free(c->lens);
	free(c);
}

/* {"line", "logprobs": [...], "per_byte": [...], "pred", "answer", "correct"} */
static int verdict_line(const tk_eval_chooser *c, uint64_t number, size_t k, size_t pred,
			size_t answer, char **out)
{
	eval_json j = eval_json_new();
	eval_json_number(&j, "line", (double)number);
	cJSON *sums = cJSON_AddArrayToObject(j.o, "logprobs");
	cJSON *norms = cJSON_AddArrayToObject(j.o, "per_byte");
	j.ok = j.ok && sums && norms;
	for (size_t i = 0; j.ok && i < k; i++)
		j.ok = cJSON_AddItemToArray(sums, cJSON_CreateNumber(c->sums[i])) &&
		       cJSON_AddItemToArray(norms, cJSON_CreateNumber(c->norms[i]));
	eval_json_number(&j, "pred", (double)pred);
	eval_json_number(&j, "answer", (double)answer);
	eval_json_bool(&j, "correct", pred == answer);
	return eval_json_take(&j, out);
}

/* Each choice's logprob, summed and per byte of its text. */
static int score_choices(tk_eval_chooser *c, const tk_eval_question *q)
{
	size_t k = q->n_choices;
	if (k > c->max_choices)
		return tk_fail(TK_EUSAGE, "%zu choices: the chooser was made for %zu at most", k,
			       c->max_choices);
	int rc = tk_eval_choice_tokenize(q, c->renderer, c->tok, c->flags & TK_EVAL_CHOICE_LETTERS,
					 &c->tokens);
	for (size_t i = 0; !rc && i < k; i++) {
		c->conts[i] = c->tokens.cont[i].ids;
		c->lens[i] = c->tokens.cont[i].n;
	}
	if (!rc)
		rc = tk_eval_scorer_choices(c->scorer, c->tokens.prompt.ids, c->tokens.prompt.n,
					    c->conts, c->lens, k, c->sums);
	for (size_t i = 0; !rc && i < k; i++)
		c->norms[i] = c->sums[i] / (double)(c->tokens.bytes[i] ? c->tokens.bytes[i] : 1);
	return rc;
}

int tk_eval_chooser_answer(tk_eval_chooser *c, const tk_eval_question *q, uint64_t number,
			   char **verdict)
{
	if (verdict)
		*verdict = NULL;
	int rc = score_choices(c, q);
	if (rc)
		return rc;
	size_t k = q->n_choices;
	size_t by_sum = tk_eval_argmax(c->sums, k), by_norm = tk_eval_argmax(c->norms, k);
	c->n++;
	c->correct_sum += by_sum == q->answer;
	c->correct_norm += by_norm == q->answer;
	if (!verdict)
		return TK_OK;
	size_t pred = c->flags & TK_EVAL_CHOICE_PER_BYTE ? by_norm : by_sum;
	return verdict_line(c, number, k, pred, q->answer, verdict);
}

int tk_eval_chooser_report(const tk_eval_chooser *c, const char *model, const char *adapter,
			   char **json)
{
	int per_byte = (c->flags & TK_EVAL_CHOICE_PER_BYTE) != 0;
	double n = (double)c->n;
	uint64_t correct = per_byte ? c->correct_norm : c->correct_sum;
	eval_json j = eval_json_new();
	eval_json_string(&j, "task", "choice");
	eval_json_finite(&j, "accuracy", (double)correct / n);
	eval_json_number(&j, "n", n);
	eval_json_number(&j, "correct", (double)correct);
	eval_json_finite(&j, "accuracy_sum", (double)c->correct_sum / n);
	eval_json_finite(&j, "accuracy_norm", (double)c->correct_norm / n);
	eval_json_string(&j, "scoring", per_byte ? "per-byte" : "sum");
	eval_json_string(&j, "format", c->renderer ? tk_renderer_name(c->renderer) : "raw");
	eval_json_string(&j, "prompt", c->flags & TK_EVAL_CHOICE_LETTERS ? "letters" : "cloze");
	eval_json_sources(&j, model, adapter);
	return eval_json_take(&j, json);
}
