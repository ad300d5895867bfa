/* What tk-eval's runs are made of (lib/eval/eval_lines.c, eval_score.c,
 * eval_nll.c, eval_chooser.c, eval_report.c): lines named by file and
 * line, samples graded with their verdict lines, references by id, the
 * reports byte for byte and as a table, the NLL of a record, and
 * questions answered through the tiny Llama. */
#include "tk_error.h"
#include "tk_eval.h"
#include "tk_model.h"
#include "tkt.h"

#include <math.h>

#define FIX "tests/fixtures/"

static const char *scratch(const char *name, const char *text)
{
	static char path[4][512];
	static int next;
	char *p = path[next++ % 4];
	tkt_scratch_path(p, sizeof path[0], name);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return p;
}

/* ---- lines ----------------------------------------------------------------- */

typedef struct seen {
	char text[256];
	uint64_t numbers[8];
	size_t n;
	uint64_t fail_at;
} seen;

static int collect(void *ctx, const char *line, size_t len, uint64_t number)
{
	seen *s = ctx;
	if (number == s->fail_at)
		return tk_fail(TK_EDATA, "bad line");
	size_t at = strlen(s->text);
	snprintf(s->text + at, sizeof s->text - at, "[%.*s]", (int)len, line);
	if (s->n < 8)
		s->numbers[s->n++] = number;
	return TK_OK;
}

static void test_read_lines(void)
{
	const char *path = scratch("lines.jsonl", "a\r\n\n  \t\nb\nc");
	seen s = {0};
	TKT_CHECK(tk_eval_read_lines(path, collect, &s, NULL) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(!strcmp(s.text, "[a][b][c]"), "line ends cut, blank lines skipped: %s", s.text);
	TKT_CHECK(s.n == 3 && s.numbers[0] == 1 && s.numbers[1] == 4 && s.numbers[2] == 5,
		  "numbers count every line");
	s = (seen){.fail_at = 4};
	char want[600];
	snprintf(want, sizeof want, "%s:4: bad line", path);
	int rc = tk_eval_read_lines(path, collect, &s, NULL);
	TKT_CHECK(rc == TK_EDATA && !strcmp(tk_error_message(), want), "%s", tk_error_message());
	TKT_CHECK(!strcmp(s.text, "[a]"), "stops at the error: %s", s.text);
	rc = tk_eval_read_lines(FIX "no-such.jsonl", collect, &s, NULL);
	TKT_CHECK(rc == TK_ENOINPUT, "%d", rc);
	TKT_CHECK(!strcmp(tk_eval_input_name("-"), "stdin") && !strcmp(tk_eval_input_name("x"), "x"),
		  "input names");
}

/* ---- grading ----------------------------------------------------------------- */

static int add(tk_eval_grader *g, const char *line, uint64_t number, char **verdict)
{
	return tk_eval_grader_add(g, line, strlen(line), number, verdict);
}

static void test_grader(void)
{
	tk_eval_grader *g;
	TKT_CHECK(tk_eval_grader_new(&g, TK_EVAL_NUMBER, NULL) == TK_OK, "%s", tk_error_message());
	char *v = NULL;
	TKT_CHECK(add(g, "{\"id\":1,\"sample\":0,\"text\":\"so 72\",\"meta\":{\"answer\":\"x #### 72\"}}",
		      1, &v) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(v && !strcmp(v, "{\"line\":1,\"id\":1,\"sample\":0,\"answer\":\"72\","
			       "\"reference\":\"72\",\"correct\":true}"), "%s", v);
	free(v);
	TKT_CHECK(add(g, "{\"id\":\"1\",\"text\":\"none\",\"answer\":[5,\"72\"]}", 2, &v) == TK_OK,
		  "%s", tk_error_message());
	TKT_CHECK(v && !strcmp(v, "{\"line\":2,\"id\":\"1\",\"answer\":null,\"reference\":\"5\","
			       "\"correct\":false}"), "%s", v);
	free(v);
	// no id: a prompt of its own; no verdict asked for
	TKT_CHECK(add(g, "{\"text\":\"3\",\"meta\":{\"reference\":3}}", 3, NULL) == TK_OK, "%s",
		  tk_error_message());
	TKT_CHECK(tk_eval_grader_count(g) == 3, "%llu graded",
		  (unsigned long long)tk_eval_grader_count(g));
	const tk_eval_groups *groups = tk_eval_grader_groups(g);
	TKT_CHECK(tk_eval_groups_count(groups) == 2, "\"1\" and 1 are one prompt: %zu",
		  tk_eval_groups_count(groups));
	size_t ks[8];
	size_t n = tk_eval_default_ks(groups, ks, 8);
	TKT_CHECK(n == 1 && ks[0] == 1, "the fewest samples is 1: %zu ks", n);
	size_t two[] = {1, 2};
	char *report = NULL;
	TKT_CHECK(tk_eval_grader_report(g, two, 2, &report) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(report && !strcmp(report, "{\"task\":\"number\",\"accuracy\":0.66666666666666663,"
				    "\"n\":3,\"correct\":2,\"answered\":2,\"prompts\":2,"
				    "\"pass@k\":{\"1\":0.75,\"2\":1}}"), "%s", report);
	free(report);

	static const struct { const char *line, *message; } bad[] = {
		{"{\"id\":1,\"meta\":{\"answer\":1}}", "no \"text\" string"},
		{"{\"id\":2,\"text\":\"5\"}", "no reference answer (meta.answer or meta.reference"},
		{"{\"id\":2,\"text\":\"5\",\"meta\":{\"answer\":\"Paris\"}}", "holds no number answer"},
		{"{\"id\":2,\"text\":\"5\"} x", "text after the JSON object"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = add(g, bad[i].line, 9, &v);
		TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), bad[i].message) && !v,
			  "%s: %d %s", bad[i].line, rc, tk_error_message());
	}
	TKT_CHECK(tk_eval_grader_count(g) == 3, "bad lines are not counted");
	tk_eval_grader_free(g);
	TKT_CHECK(tk_eval_grader_new(&g, 99, NULL) == TK_EUSAGE, "an unknown task");
}

static void test_answers(void)
{
	tk_eval_grader *g;
	TKT_CHECK(tk_eval_grader_new(&g, TK_EVAL_EXACT, "gold") == TK_OK, "%s", tk_error_message());
	const char *path = scratch("answers.jsonl", "{\"id\":\"a\",\"gold\":\"Paris\"}\n"
						 "{\"id\":2,\"gold\":[\"x\",\"y\"]}\n");
	TKT_CHECK(tk_eval_grader_load_answers(g, path) == TK_OK, "%s", tk_error_message());
	char *v = NULL;
	TKT_CHECK(add(g, "{\"id\":\"a\",\"text\":\"paris.\",\"meta\":{\"gold\":\"Rome\"}}", 1, &v) ==
		  TK_OK && v && strstr(v, "\"reference\":\"paris\",\"correct\":true"),
		  "the answers file wins over meta: %s", v);
	free(v);
	TKT_CHECK(add(g, "{\"id\":2,\"text\":\"Y\"}", 2, &v) == TK_OK && v &&
		  strstr(v, "\"answer\":\"y\",\"reference\":\"y\",\"correct\":true"), "%s", v);
	free(v);
	char want[600];
	snprintf(want, sizeof want, "id 3 is not in %s", path);
	int rc = add(g, "{\"id\":3,\"text\":\"Y\"}", 3, NULL);
	TKT_CHECK(rc == TK_EDATA && !strcmp(tk_error_message(), want), "%s", tk_error_message());
	snprintf(want, sizeof want, "no \"id\" to look up in %s", path);
	rc = add(g, "{\"text\":\"Y\"}", 4, NULL);
	TKT_CHECK(rc == TK_EDATA && !strcmp(tk_error_message(), want), "%s", tk_error_message());

	path = scratch("twice.jsonl", "{\"id\":1,\"gold\":5}\n{\"id\":\"1\",\"gold\":6}\n");
	snprintf(want, sizeof want, "%s:2: id 1 appears twice", path);
	rc = tk_eval_grader_load_answers(g, path);
	TKT_CHECK(rc == TK_EDATA && !strcmp(tk_error_message(), want), "%s", tk_error_message());
	path = scratch("noanswer.jsonl", "{\"id\":1,\"answer\":5}\n");
	rc = tk_eval_grader_load_answers(g, path);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), ":1: no \"gold\" (a string"), "%s",
		  tk_error_message());
	path = scratch("none.jsonl", "\n");
	snprintf(want, sizeof want, "%s: no answers in it", path);
	rc = tk_eval_grader_load_answers(g, path);
	TKT_CHECK(rc == TK_EDATA && !strcmp(tk_error_message(), want), "%s", tk_error_message());
	tk_eval_grader_free(g);
}

/* ---- reports ------------------------------------------------------------------ */

static void test_table(void)
{
	char *t = NULL;
	const char *json = "{\"task\":\"number\",\"accuracy\":0.5,\"n\":12,\"adapter\":null,"
			   "\"ok\":true,\"pass@k\":{\"1\":0.25,\"4\":1}}";
	TKT_CHECK(tk_eval_report_table(json, &t) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(t && !strcmp(t, "task           number\n"
				  "accuracy       0.500000\n"
				  "n              12\n"
				  "adapter        -\n"
				  "pass@1         0.250000\n"
				  "pass@4         1\n"), "%s", t);
	free(t);
	TKT_CHECK(tk_eval_report_table("{}", &t) == TK_OK && t && !*t, "an empty table");
	free(t);
	TKT_CHECK(tk_eval_report_table("[1]", &t) == TK_EDATA && !t, "not an object");
}

static void test_nll_lines(void)
{
	tk_eval_nll one = {.nats = 3, .weight = 2, .bytes = 4, .tokens = 2, .records = 1};
	char *line = NULL;
	TKT_CHECK(tk_eval_nll_record_json(5, &one, &line) == TK_OK && line &&
		  !strcmp(line, "{\"record\":5,\"nll\":1.5,\"tokens\":2,\"nats\":3,\"weight\":2,"
				"\"bytes\":4}"), "%s", line);
	free(line);
	tk_eval_nll none = {.records = 1}, total = {0};
	TKT_CHECK(tk_eval_nll_record_json(6, &none, &line) == TK_OK && line &&
		  !strcmp(line, "{\"record\":6,\"nll\":null,\"tokens\":0,\"nats\":0,\"weight\":0,"
				"\"bytes\":0}"), "NaN as null: %s", line);
	free(line);
	tk_eval_nll_merge(&total, &one);
	tk_eval_nll_merge(&total, &none);
	TKT_CHECK(total.records == 2 && total.tokens == 2 && total.nats == 3, "merged");
	TKT_CHECK(tk_eval_nll_report(&total, "m", NULL, &line) == TK_OK && line &&
		  !strncmp(line, "{\"nll\":1.5,\"ppl\":4.4816890703380", 32) &&
		  strstr(line, ",\"tokens\":2,\"weight\":2,\"bytes\":4,\"records\":2,\"model\":\"m\","
			       "\"adapter\":null}"), "%s", line);
	free(line);
}

/* ---- the model: NLL of a record, questions --------------------------------------- */

static struct tk_model *model(void)
{
	static struct tk_model *m;
	if (!m && tk_model_load(&m, FIX "tiny-llama"))
		printf("# %s\n", tk_error_message());
	return m;
}

static void test_nll_record(void)
{
	if (!model())
		TKT_SKIP("no model");
	tk_eval_scorer *s;
	TKT_CHECK(tk_eval_scorer_open(&s, "cpu", 2, model(), NULL, 1) == TK_OK, "%s",
		  tk_error_message());
	int32_t tokens[] = {1, 40, 41, 42, 2};
	float weights[] = {1, 0, 1, 0.5f, 1}, logprob[5];
	tk_record rec;
	tk_record_init(&rec);
	rec.n = 5;
	rec.tokens = tokens;
	rec.weights = weights;
	tk_eval_nll one;
	TKT_CHECK(tk_eval_nll_record(s, model()->tokenizer, &rec, &one) == TK_OK, "%s",
		  tk_error_message());
	TKT_CHECK(tk_eval_scorer_sequence(s, tokens, 5, logprob) == TK_OK, "%s", tk_error_message());
	double nats = -(double)logprob[2] - 0.5 * (double)logprob[3] - (double)logprob[4];
	TKT_CHECK(one.records == 1 && one.tokens == 3 && one.weight == 2.5 &&
		  fabs(one.nats - nats) < 1e-9, "nats %.9g want %.9g", one.nats, nats);
	float zero[5] = {1, 0, 0, 0, 0}; // the first token's weight never counts
	rec.weights = zero;
	TKT_CHECK(tk_eval_nll_record(s, model()->tokenizer, &rec, &one) == TK_OK &&
		  one.records == 1 && one.tokens == 0 && one.nats == 0, "nothing weighted");
	tk_eval_scorer_close(s);
}

static void test_questions(void)
{
	const char *path = scratch("questions.jsonl",
				   "{\"question\":\"Q\",\"choices\":[\"a\",\"b\"],\"answer\":0}\n\n"
				   "{\"question\":\"R\",\"choices\":[\"a\",\"b\",\"c\"],\"answer\":\"C\"}\n");
	tk_eval_questions l;
	TKT_CHECK(tk_eval_questions_read(&l, path) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(l.n == 2 && l.max_choices == 3 && l.numbers[1] == 3 && l.lines[1][0] == '{',
		  "%zu questions, %zu choices at most", l.n, l.max_choices);
	tk_eval_questions_free(&l);
	TKT_CHECK(!l.lines && l.n == 0, "freed");
	path = scratch("badq.jsonl", "{\"question\":\"Q\",\"choices\":[\"a\",\"b\"],\"answer\":0}\n"
				     "{\"question\":\"Q\",\"choices\":[\"a\"],\"answer\":0}\n");
	char want[600];
	snprintf(want, sizeof want, "%s:2: 1 choices: two at least are needed", path);
	int rc = tk_eval_questions_read(&l, path);
	TKT_CHECK(rc == TK_EDATA && !strcmp(tk_error_message(), want), "%s", tk_error_message());
	tk_eval_questions_free(&l);
	path = scratch("noq.jsonl", "");
	snprintf(want, sizeof want, "%s: no questions in it", path);
	rc = tk_eval_questions_read(&l, path);
	TKT_CHECK(rc == TK_EDATA && !strcmp(tk_error_message(), want), "%s", tk_error_message());
	tk_eval_questions_free(&l);
}

static void test_chooser(void)
{
	if (!model())
		TKT_SKIP("no model");
	tk_eval_scorer *s;
	TKT_CHECK(tk_eval_scorer_open(&s, "cpu", 2, model(), NULL, 3) == TK_OK, "%s",
		  tk_error_message());
	tk_eval_chooser *c;
	TKT_CHECK(tk_eval_chooser_new(&c, s, model()->tokenizer, NULL, TK_EVAL_CHOICE_PER_BYTE, 3) ==
		  TK_OK, "%s", tk_error_message());
	tk_eval_question q = {0};
	const char *line = "{\"question\":\"The sky is\",\"choices\":[\"blue\",\"green\",\"a\"],"
			   "\"answer\":0}";
	TKT_CHECK(tk_eval_question_parse(&q, line, strlen(line)) == TK_OK, "%s", tk_error_message());
	// the sums are the scorer's own
	tk_eval_choice_tokens t = {0};
	double sums[3];
	const int32_t *conts[3];
	size_t lens[3];
	TKT_CHECK(tk_eval_choice_tokenize(&q, NULL, model()->tokenizer, 0, &t) == TK_OK, "%s",
		  tk_error_message());
	for (size_t i = 0; i < 3; i++) {
		conts[i] = t.cont[i].ids;
		lens[i] = t.cont[i].n;
	}
	TKT_CHECK(tk_eval_scorer_choices(s, t.prompt.ids, t.prompt.n, conts, lens, 3, sums) == TK_OK,
		  "%s", tk_error_message());
	double norms[3];
	for (size_t i = 0; i < 3; i++)
		norms[i] = sums[i] / (double)(t.bytes[i] ? t.bytes[i] : 1);
	char *v = NULL, want[64];
	TKT_CHECK(tk_eval_chooser_answer(c, &q, 7, &v) == TK_OK && v, "%s", tk_error_message());
	snprintf(want, sizeof want, "\"pred\":%zu,\"answer\":0,", tk_eval_argmax(norms, 3));
	TKT_CHECK(v && !strncmp(v, "{\"line\":7,\"logprobs\":[", 22) && strstr(v, "\"per_byte\":[") &&
		  strstr(v, want), "pick per byte: %s", v);
	free(v);
	TKT_CHECK(tk_eval_chooser_answer(c, &q, 8, NULL) == TK_OK, "%s", tk_error_message());
	char *report = NULL;
	TKT_CHECK(tk_eval_chooser_report(c, "m", "a.tkc", &report) == TK_OK, "%s",
		  tk_error_message());
	TKT_CHECK(report && !strncmp(report, "{\"task\":\"choice\",\"accuracy\":", 28) &&
		  strstr(report, ",\"n\":2,\"correct\":") &&
		  strstr(report, ",\"scoring\":\"per-byte\",\"format\":\"raw\",\"prompt\":\"cloze\","
				 "\"model\":\"m\",\"adapter\":\"a.tkc\"}"), "%s", report);
	free(report);
	// more choices than it was made for
	line = "{\"question\":\"Q\",\"choices\":[\"a\",\"b\",\"c\",\"d\"],\"answer\":0}";
	TKT_CHECK(tk_eval_question_parse(&q, line, strlen(line)) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_eval_chooser_answer(c, &q, 9, NULL) == TK_EUSAGE, "%s", tk_error_message());
	tk_eval_choice_tokens_free(&t);
	tk_eval_question_free(&q);
	tk_eval_chooser_free(c);
	tk_eval_scorer_close(s);
}

int main(void)
{
	TKT_RUN(test_read_lines);
	TKT_RUN(test_grader);
	TKT_RUN(test_answers);
	TKT_RUN(test_table);
	TKT_RUN(test_nll_lines);
	TKT_RUN(test_nll_record);
	TKT_RUN(test_questions);
	TKT_RUN(test_chooser);
	tk_model_free(model());
	return tkt_done();
}
