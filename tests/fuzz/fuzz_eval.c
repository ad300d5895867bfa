/* Answer grading (tk_eval.h) on arbitrary texts and references: the input
 * is "text NUL reference".  Properties: a choice is a letter A..J;
 * equality is symmetric; grading agrees with extract + reference + equal;
 * a normalised answer is a fixed point of its normalisation (so that a
 * reference already written in normal form still matches). */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_eval.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

static void require_fixed_point(int (*normalize)(const char *, char **), const char *what,
				const char *s)
{
	char *again;
	FUZZ_REQUIRE(normalize(s, &again) == TK_OK, "out of memory");
	FUZZ_REQUIRE(again && !strcmp(again, s), "%s: '%s' normalises again to '%s'", what, s,
		     again ? again : "(nothing)");
	free(again);
}

static void check_task(int task, const char *text, const char *ref)
{
	char *answer, *want;
	FUZZ_REQUIRE(tk_eval_extract(task, text, &answer) == TK_OK, "out of memory");
	FUZZ_REQUIRE(tk_eval_reference(task, ref, &want) == TK_OK, "out of memory");
	if (task == TK_EVAL_CHOICE && answer)
		FUZZ_REQUIRE(strlen(answer) == 1 && answer[0] >= 'A' && answer[0] <= 'J',
			     "choice '%s'", answer);
	if (task == TK_EVAL_NUMBER && answer)
		require_fixed_point(tk_eval_last_number, "number", answer);
	if (task == TK_EVAL_EXACT && answer)
		require_fixed_point(tk_eval_exact_normalize, "exact", answer);
	int equal = tk_eval_equal(task, answer, want);
	FUZZ_REQUIRE(equal == tk_eval_equal(task, want, answer), "%s: equal('%s', '%s') is not "
		     "symmetric", tk_eval_task_name(task), answer ? answer : "(none)",
		     want ? want : "(none)");
	tk_eval_verdict v;
	const char *refs[] = {ref};
	int rc = tk_eval_grade(task, text, refs, 1, &v);
	FUZZ_REQUIRE(rc == (want ? TK_OK : TK_EDATA), "grade says %d with reference '%s'", rc,
		     want ? want : "(none)");
	FUZZ_REQUIRE(rc || v.correct == equal, "grade and equal disagree on '%s' / '%s'",
		     answer ? answer : "(none)", want ? want : "(none)");
	tk_eval_verdict_free(&v);
	free(answer);
	free(want);
}

/* The pieces tk_eval_extract is made of, on their own. */
static void check_pieces(const char *text)
{
	char *s;
	double value;
	tk_eval_number_value(text, &value);
	tk_eval_choice_letter(text);
	FUZZ_REQUIRE(tk_eval_latex_normalize(text, &s) == TK_OK, "out of memory");
	free(s);
	FUZZ_REQUIRE(tk_eval_last_boxed(text, &s) == TK_OK, "out of memory");
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	size_t text_len = strlen(text);
	const char *ref = text_len < size ? text + text_len + 1 : "";
	for (int task = 0; task < TK_EVAL_N_TASKS; task++)
		check_task(task, text, ref);
	check_pieces(text);
	free(text);
	tk_error_clear();
	return 0;
}
