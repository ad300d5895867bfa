/* The four ways tk-eval reads an answer out of a text and compares it with
 * a reference (tk_eval.h). */
#include "eval_internal.h"
#include "tk_eval.h"

#include <math.h>
#include <stdlib.h>

static const char *const task_names[TK_EVAL_N_TASKS] = {"exact", "number", "boxed", "choice"};

int tk_eval_task_parse(const char *name)
{
	for (int t = 0; t < TK_EVAL_N_TASKS; t++)
		if (!strcmp(name, task_names[t]))
			return t;
	return -1;
}

const char *tk_eval_task_name(int task)
{
	return task >= 0 && task < TK_EVAL_N_TASKS ? task_names[task] : "?";
}

static int letter_string(int c, char **out)
{
	*out = NULL;
	if (!c)
		return TK_OK;
	char s[2] = {(char)c, 0};
	*out = tk_strdup(s);
	return *out ? TK_OK : TK_EOSERR;
}

/* NULL for an empty string: an answer that says nothing. */
static int none_if_empty(int rc, char **out)
{
	if (!rc && *out && !**out) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int tk_eval_extract(int task, const char *text, char **out)
{
	*out = NULL;
	switch (task) {
	case TK_EVAL_EXACT:
		return none_if_empty(tk_eval_exact_normalize(text, out), out);
	case TK_EVAL_NUMBER:
		return tk_eval_last_number(text, out);
	case TK_EVAL_BOXED: {
		char *box;
		int rc = tk_eval_last_boxed(text, &box);
		if (rc || !box)
			return rc;
		rc = tk_eval_latex_normalize(box, out);
		free(box);
		return none_if_empty(rc, out);
	}
	case TK_EVAL_CHOICE:
		return letter_string(tk_eval_choice_letter(text), out);
	}
	return tk_fail(TK_ESOFTWARE, "unknown task %d", task);
}

/* "0", "1", ...: a 0-based choice index; the letter, or 0. */
static int index_letter(const char *s)
{
	while (is_space(*s))
		s++;
	if (!is_digit(s[0]))
		return 0;
	size_t i = 0;
	while (is_digit(s[i]))
		i++;
	while (is_space(s[i]))
		i++;
	if (s[i] || i > 2)
		return 0;
	int k = atoi(s);
	return k < 10 ? 'A' + k : 0;
}

static int reference_letter(const char *ref)
{
	int c = index_letter(ref);
	if (c)
		return c;
	while (is_space(*ref) || *ref == '(')
		ref++;
	/* "b" alone is a letter in a reference, where nothing else could be */
	if (*ref >= 'a' && *ref <= 'j' && !is_alpha(ref[1]))
		return *ref - 32;
	return tk_eval_choice_letter(ref);
}

int tk_eval_reference(int task, const char *ref, char **out)
{
	*out = NULL;
	const char *hashes = strstr(ref, "####");
	while (hashes && strstr(hashes + 4, "####"))
		hashes = strstr(hashes + 4, "####");
	if (hashes)
		ref = hashes + 4;            /* GSM8K: "reasoning #### 72" */
	switch (task) {
	case TK_EVAL_NUMBER:
		return tk_eval_last_number(ref, out);
	case TK_EVAL_BOXED:
		if (strstr(ref, "\\boxed") || strstr(ref, "\\fbox"))
			return tk_eval_extract(task, ref, out);
		return none_if_empty(tk_eval_latex_normalize(ref, out), out);
	case TK_EVAL_CHOICE:
		return letter_string(reference_letter(ref), out);
	default:
		return tk_eval_extract(task, ref, out);
	}
}

/* Equal as numbers: exactly for integers, else within 1e-6 relative. */
static int same_number(double a, double b)
{
	if (a == b)
		return 1;
	if (a == floor(a) && b == floor(b) && fabs(a) < 0x1p53 && fabs(b) < 0x1p53)
		return 0;
	double scale = fmax(1.0, fmax(fabs(a), fabs(b)));
	return fabs(a - b) <= 1e-6 * scale;
}

int tk_eval_equal(int task, const char *answer, const char *reference)
{
	if (!answer || !reference)
		return 0;
	if (!strcmp(answer, reference))
		return 1;
	if (task != TK_EVAL_NUMBER && task != TK_EVAL_BOXED)
		return 0;
	double a, b;
	return tk_eval_number_value(answer, &a) && tk_eval_number_value(reference, &b) &&
	       same_number(a, b);
}

/* "Paris | Paris, France" for a message. */
static void refs_shown(char *buf, size_t cap, const char *const *refs, size_t n)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && at + 1 < cap; i++) {
		int w = snprintf(buf + at, cap - at, "%s%s", i ? " | " : "", refs[i]);
		at += w > 0 ? (size_t)w : 0;
	}
}

int tk_eval_grade(int task, const char *text, const char *const *refs, size_t n,
		  tk_eval_verdict *v)
{
	*v = (tk_eval_verdict){0};
	int rc = tk_eval_extract(task, text, &v->answer);
	for (size_t i = 0; !rc && i < n && !v->correct; i++) {
		char *ref;
		rc = tk_eval_reference(task, refs[i], &ref);
		if (rc || !ref)
			continue;
		int equal = tk_eval_equal(task, v->answer, ref);
		if (equal || !v->reference) {
			free(v->reference);
			v->reference = ref;
			v->correct = equal;
		} else {
			free(ref);
		}
	}
	if (!rc && !v->reference) {
		char shown[96];
		refs_shown(shown, sizeof shown, refs, n);
		rc = tk_fail(TK_EDATA, "reference answer \"%s\" holds no %s answer", shown,
			     tk_eval_task_name(task));
	}
	return rc;
}

void tk_eval_verdict_free(tk_eval_verdict *v)
{
	free(v->answer);
	free(v->reference);
	*v = (tk_eval_verdict){0};
}
