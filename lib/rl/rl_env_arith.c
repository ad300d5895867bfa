/* The arithmetic environment: problems generated from (seed, k), graded by
 * the last number of the completion (tk_rl.h). */
#include "rl_internal.h"

#include "tk_error.h"
#include "tk_eval.h"
#include "tk_rng.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tk_rl_arith_ops_parse(const char *list, unsigned *ops)
{
	*ops = 0;
	const char *at = list;
	while (*at) {
		size_t len = strcspn(at, ",");
		if (len == 3 && !strncmp(at, "add", 3))
			*ops |= TK_RL_ADD;
		else if (len == 3 && !strncmp(at, "sub", 3))
			*ops |= TK_RL_SUB;
		else if (len == 3 && !strncmp(at, "mul", 3))
			*ops |= TK_RL_MUL;
		else
			return tk_fail(TK_EUSAGE, "'%.*s' is not add, sub or mul", (int)len, at);
		at += len + (at[len] == ',');
	}
	return *ops ? TK_OK : tk_fail(TK_EUSAGE, "no operation in '%s'", list);
}

/* An operand of exactly `digits` digits (0..9 for one digit). */
static int64_t operand(tk_rng *rng, int digits)
{
	int64_t lo = 1, hi;
	for (int i = 1; i < digits; i++)
		lo *= 10;
	hi = lo * 10;
	if (digits == 1)
		lo = 0;
	return lo + (int64_t)tk_rng_below(rng, (uint64_t)(hi - lo));
}

/* One of the enabled operations, uniformly. */
static int draw_op(tk_rng *rng, unsigned ops)
{
	int list[3], n = 0;
	for (int b = 0; b < 3; b++)
		if (ops & (1u << b))
			list[n++] = 1 << b;
	return list[tk_rng_below(rng, (uint64_t)n)];
}

int rl_arith_prompt(const tk_rl_env *e, uint64_t k, tk_rl_prompt *out)
{
	tk_rng rng;
	tk_rng_seed(&rng, e->seed ^ (0xd1b54a32d192ed03ull * (k + 1)));
	int op = draw_op(&rng, e->arith.ops);
	int64_t a = operand(&rng, e->arith.digits), b = operand(&rng, e->arith.digits);
	if (op == TK_RL_SUB && b > a) {
		int64_t t = a;
		a = b;
		b = t;
	}
	int64_t result = op == TK_RL_ADD ? a + b : op == TK_RL_SUB ? a - b : a * b;
	char sign = op == TK_RL_ADD ? '+' : op == TK_RL_SUB ? '-' : '*';
	char messages[256], answer[32], meta[64], id[32];
	snprintf(messages, sizeof messages, "[{\"role\":\"user\",\"content\":\"What is %" PRId64
		 " %c %" PRId64 "? Answer with the number only.\"}]", a, sign, b);
	snprintf(answer, sizeof answer, "%" PRId64, result);
	snprintf(meta, sizeof meta, "{\"answer\":\"%s\"}", answer);
	snprintf(id, sizeof id, "%" PRIu64, k);
	out->messages_json = tk_strdup(messages);
	out->answer = tk_strdup(answer);
	out->meta_json = tk_strdup(meta);
	out->id_json = tk_strdup(id);
	if (!out->messages_json || !out->answer || !out->meta_json || !out->id_json) {
		tk_rl_prompt_free(out);
		return TK_EOSERR;
	}
	return TK_OK;
}

int rl_bare_number(const char *text)
{
	const char *s = text;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '-')
		s++;
	if (!isdigit((unsigned char)*s))
		return 0;
	while (isdigit((unsigned char)*s))
		s++;
	while (isspace((unsigned char)*s))
		s++;
	return *s == 0;
}

int rl_arith_score(const tk_rl_env *e, const tk_rl_sample *s, tk_rl_score *out)
{
	char *got = NULL;
	int rc = tk_eval_extract(TK_EVAL_NUMBER, s->text, &got);
	if (rc)
		return rc;
	out->formatted = rl_bare_number(s->text);
	out->correct = got && tk_eval_equal(TK_EVAL_NUMBER, got, s->prompt->answer);
	out->reward = out->correct + (out->formatted ? e->arith.format_reward : 0);
	free(got);
	return TK_OK;
}
