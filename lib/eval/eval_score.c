/* Grading sampled texts (tk-sample's JSON Lines) against reference
 * answers, from each sample's meta or from a file of answers by id, with
 * the tallies behind accuracy and pass@k. */
#include "eval_internal.h"
#include "tk_eval.h"

#include "tk_io.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>

/* Acceptable answers of one reference, at most. */
#define MAX_REFERENCES 64

struct tk_eval_grader {
	int task;
	char *answer_key;          /* NULL: "answer", then "reference" */
	char *answers_name;        /* the answers file as messages name it */
	tk_eval_map *answers;      /* reference by id; NULL: from the samples */
	tk_eval_groups *groups;
	uint64_t n, correct, answered;
};

int tk_eval_grader_new(tk_eval_grader **out, int task, const char *answer_key)
{
	*out = NULL;
	if (task < 0 || task >= TK_EVAL_N_TASKS)
		return tk_fail(TK_EUSAGE, "no task %d", task);
	tk_eval_grader *g = tk_calloc(1, sizeof *g);
	if (!g)
		return TK_EOSERR;
	g->task = task;
	int rc = tk_eval_groups_new(&g->groups);
	if (!rc && answer_key && !(g->answer_key = tk_strdup(answer_key)))
		rc = TK_EOSERR;
	if (rc) {
		tk_eval_grader_free(g);
		return rc;
	}
	*out = g;
	return TK_OK;
}

void tk_eval_grader_free(tk_eval_grader *g)
{
	if (!g)
		return;
	tk_eval_groups_free(g->groups);
	tk_eval_map_free(g->answers);
	free(g->answer_key);
	free(g->answers_name);
	free(g);
}

uint64_t tk_eval_grader_count(const tk_eval_grader *g) { return g->n; }

const tk_eval_groups *tk_eval_grader_groups(const tk_eval_grader *g) { return g->groups; }

/* ---- values ------------------------------------------------------------- */

/* An id or answer as text: a string as it is, a number as JSON writes it
 * ("72", "0.5"); NULL for anything else. */
static char *scalar_text(const cJSON *v)
{
	if (cJSON_IsString(v))
		return tk_strdup(v->valuestring);
	if (cJSON_IsNumber(v))
		return cJSON_PrintUnformatted(v);
	return NULL;
}

/* A reference: a string, a number, or a non-empty array of them (any
 * one acceptable). */
static int is_reference(const cJSON *v)
{
	if (cJSON_IsString(v) || cJSON_IsNumber(v))
		return 1;
	if (!cJSON_IsArray(v) || !v->child)
		return 0;
	for (const cJSON *it = v->child; it; it = it->next)
		if (!cJSON_IsString(it) && !cJSON_IsNumber(it))
			return 0;
	return 1;
}

/* The key samples and answers are matched by: a string id as it is, a
 * number as JSON writes it, so that "7" and 7 are the same prompt. */
static char *id_key(const cJSON *id)
{
	char *key = scalar_text(id);
	return key ? key : cJSON_PrintUnformatted(id);
}

/* ---- answers by id -------------------------------------------------------- */

static int answers_line(void *ctx, const char *line, size_t len, uint64_t number)
{
	(void)number;
	tk_eval_grader *g = ctx;
	cJSON *o = tk_jsonl_parse(line, len);
	if (!o)
		return TK_EDATA;
	const char *name = g->answer_key ? g->answer_key : "answer";
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	const cJSON *answer = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!answer && !g->answer_key)
		answer = cJSON_GetObjectItemCaseSensitive(o, "reference");
	char *key = id ? id_key(id) : NULL;
	char *text = is_reference(answer) ? cJSON_PrintUnformatted(answer) : NULL;
	int rc = TK_OK, replaced = 0;
	if (!id)
		rc = tk_fail(TK_EDATA, "no \"id\"");
	else if (!text)
		rc = tk_fail(TK_EDATA, "no \"%s\" (a string, a number or an array of them)", name);
	else if (!key || tk_eval_map_put(g->answers, key, text, &replaced))
		rc = tk_fail(TK_EOSERR, "out of memory");
	else if (replaced)
		rc = tk_fail(TK_EDATA, "id %s appears twice", key);
	free(key);
	free(text);
	cJSON_Delete(o);
	return rc;
}

int tk_eval_grader_load_answers(tk_eval_grader *g, const char *path)
{
	free(g->answers_name);
	tk_eval_map_free(g->answers);
	g->answers = NULL;
	g->answers_name = tk_strdup(tk_eval_input_name(path));
	int rc = g->answers_name ? tk_eval_map_new(&g->answers) : TK_EOSERR;
	if (!rc)
		rc = tk_eval_read_lines(path, answers_line, g, NULL);
	if (!rc && !tk_eval_map_count(g->answers))
		rc = tk_fail(TK_EDATA, "%s: no answers in it", g->answers_name);
	return rc;
}

/* ---- grading a sample ----------------------------------------------------- */

/* The reference of a sample: from the answers by id (*owned, parsed from
 * the file's text), else the meta field (into o), else the line's own. */
static int find_reference(const tk_eval_grader *g, const cJSON *o, const char *key,
			  cJSON **owned, const cJSON **out)
{
	*owned = NULL;
	*out = NULL;
	if (g->answers) {
		if (!key)
			return tk_fail(TK_EDATA, "no \"id\" to look up in %s", g->answers_name);
		const char *ref = tk_eval_map_get(g->answers, key);
		if (!ref)
			return tk_fail(TK_EDATA, "id %s is not in %s", key, g->answers_name);
		*out = *owned = cJSON_Parse(ref);
		return *owned ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
	}
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "meta");
	const char *names[] = {g->answer_key, "answer", "reference"};
	for (int i = g->answer_key ? 0 : 1; i < (g->answer_key ? 1 : 3) && !*out; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, names[i]);
		if (!v)
			v = cJSON_GetObjectItemCaseSensitive(o, names[i]);
		*out = is_reference(v) ? v : NULL;
	}
	if (!*out)
		return tk_fail(TK_EDATA, "no reference answer (meta.%s%s, or --answers FILE)",
			       g->answer_key ? g->answer_key : "answer",
			       g->answer_key ? "" : " or meta.reference");
	return TK_OK;
}

/* {"line", "id", "sample", "answer", "reference", "correct"} */
static int verdict_line(const cJSON *o, uint64_t number, const tk_eval_verdict *v, char **out)
{
	eval_json j = eval_json_new();
	eval_json_number(&j, "line", (double)number);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	const cJSON *sample = cJSON_GetObjectItemCaseSensitive(o, "sample");
	if (id)
		eval_json_item(&j, "id", id, 1);
	if (sample)
		eval_json_item(&j, "sample", sample, 1);
	eval_json_string(&j, "answer", v->answer);
	eval_json_string(&j, "reference", v->reference);
	eval_json_bool(&j, "correct", v->correct);
	return eval_json_take(&j, out);
}

/* The acceptable answers of reference (a scalar or an array of them) as
 * text, malloc'd in refs; their number in *n. */
static int reference_texts(const cJSON *reference, char **refs, size_t *n)
{
	*n = 0;
	const cJSON *it = cJSON_IsArray(reference) ? reference->child : reference;
	for (; it; it = cJSON_IsArray(reference) ? it->next : NULL) {
		if (*n == MAX_REFERENCES)
			return tk_fail(TK_EDATA, "more than %d acceptable answers", MAX_REFERENCES);
		if (!(refs[*n] = scalar_text(it)))
			return tk_fail(TK_EOSERR, "out of memory");
		(*n)++;
	}
	return TK_OK;
}

/* Grades the text against the reference (any of its alternatives). */
static int grade(tk_eval_grader *g, const cJSON *o, uint64_t number, const char *text,
		 const cJSON *reference, const char *group, char **verdict)
{
	char *refs[MAX_REFERENCES];
	size_t n = 0;
	int rc = reference_texts(reference, refs, &n);
	tk_eval_verdict v = {0};
	if (!rc)
		rc = tk_eval_grade(g->task, text, (const char *const *)refs, n, &v);
	if (!rc)
		rc = tk_eval_groups_add(g->groups, group, v.correct);
	if (!rc) {
		g->n++;
		g->correct += v.correct;
		g->answered += v.answer != NULL;
		if (verdict)
			rc = verdict_line(o, number, &v, verdict);
	}
	tk_eval_verdict_free(&v);
	for (size_t i = 0; i < n; i++)
		free(refs[i]);
	return rc;
}

int tk_eval_grader_add(tk_eval_grader *g, const char *line, size_t len, uint64_t number,
		       char **verdict)
{
	if (verdict)
		*verdict = NULL;
	cJSON *o = tk_jsonl_parse(line, len);
	if (!o)
		return TK_EDATA;
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	char *key = id ? id_key(id) : NULL, group[32];
	cJSON *owned = NULL;
	const cJSON *ref = NULL;
	int rc = TK_OK;
	if (!cJSON_IsString(text))
		rc = tk_fail(TK_EDATA, "no \"text\" string (the sample's completion)");
	if (!rc)
		rc = find_reference(g, o, key, &owned, &ref);
	if (!key) // its own prompt, under a key no id spells
		snprintf(group, sizeof group, "\x1fline %" PRIu64, number);
	if (!rc)
		rc = grade(g, o, number, text->valuestring, ref, key ? key : group, verdict);
	free(key);
	cJSON_Delete(owned);
	cJSON_Delete(o);
	return rc;
}

/* ---- the report ------------------------------------------------------------- */

size_t tk_eval_default_ks(const tk_eval_groups *g, size_t *ks, size_t max)
{
	size_t min = tk_eval_groups_min_size(g), n = 0;
	for (size_t k = 1; k <= min && n < max; k *= 2)
		ks[n++] = k;
	if (min > 1 && n && ks[n - 1] != min && n < max)
		ks[n++] = min;
	return n;
}

static void add_pass_at_k(eval_json *j, const tk_eval_groups *g, const size_t *ks, size_t n_ks)
{
	eval_json pass = eval_json_new();
	for (size_t i = 0; i < n_ks; i++) {
		char key[32];
		size_t used;
		snprintf(key, sizeof key, "%zu", ks[i]);
		eval_json_finite(&pass, key, tk_eval_groups_pass_at_k(g, ks[i], &used));
	}
	j->ok = j->ok && pass.ok;
	eval_json_item(j, "pass@k", pass.o, 0);
}

int tk_eval_grader_report(const tk_eval_grader *g, const size_t *ks, size_t n_ks, char **json)
{
	eval_json j = eval_json_new();
	eval_json_string(&j, "task", tk_eval_task_name(g->task));
	eval_json_finite(&j, "accuracy", (double)g->correct / (double)g->n);
	eval_json_number(&j, "n", (double)g->n);
	eval_json_number(&j, "correct", (double)g->correct);
	eval_json_number(&j, "answered", (double)g->answered);
	eval_json_number(&j, "prompts", (double)tk_eval_groups_count(g->groups));
	add_pass_at_k(&j, g->groups, ks, n_ks);
	return eval_json_take(&j, json);
}
