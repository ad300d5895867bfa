/* Answer extraction and comparison on hand-written tricky cases, and
 * pass@k against its binomial formula. */
#include "tk_error.h"
#include "tk_eval.h"
#include "tkt.h"

/* text gives the answer that equals ref under task (or, want 0, does not). */
static void check_case(const char *file, int line, int task, const char *text,
		       const char *ref, int want)
{
	char *got = NULL, *r = NULL;
	int rc = tk_eval_extract(task, text, &got);
	if (!rc)
		rc = tk_eval_reference(task, ref, &r);
	int ok = !rc && tk_eval_equal(task, got, r);
	if (ok != want)
		tkt_fail_at(file, line, "verdict", "%s: '%s' vs '%s': extracted '%s', reference '%s', "
			    "%s, wanted %s", tk_eval_task_name(task), text, ref, got ? got : "(none)",
			    r ? r : "(none)", ok ? "equal" : "different", want ? "equal" : "different");
	free(got);
	free(r);
}
#define CASE(task, text, ref, want) check_case(__FILE__, __LINE__, task, text, ref, want)

/* extract(task, text) is exactly want (NULL: no answer). */
static void check_extract(const char *file, int line, int task, const char *text,
			  const char *want)
{
	char *got = NULL;
	int rc = tk_eval_extract(task, text, &got);
	int ok = !rc && (want ? got && !strcmp(got, want) : !got);
	if (!ok)
		tkt_fail_at(file, line, "extract", "%s: '%s' gave '%s', wanted '%s'",
			    tk_eval_task_name(task), text, got ? got : "(none)", want ? want : "(none)");
	free(got);
}
#define EXTRACT(task, text, want) check_extract(__FILE__, __LINE__, task, text, want)

static void test_number(void)
{
	enum { N = TK_EVAL_NUMBER };
	CASE(N, "She pays 1,000 dollars.", "1000", 1);
	CASE(N, "1000", "1,000", 1);
	CASE(N, "It costs $5.", "5", 1);
	CASE(N, "The total is 5.0", "5", 1);
	CASE(N, "The total is 5.00.", "#### 5", 1);
	CASE(N, "It dropped to -3 degrees", "-3", 1);
	CASE(N, "It dropped to -3 degrees", "3", 0);
	CASE(N, "Half of it: 1/2", "0.5", 1);
	CASE(N, "So 0.5 of the cake", "1/2", 1);
	CASE(N, "First 3 apples, then 4, so 7 in all", "7", 1);
	CASE(N, "First 3 apples, then 4, so 7 in all", "3", 0);
	CASE(N, "Natalia sold 48/2 = 24 clips in May.\n#### 72", "72", 1);
	CASE(N, "72", "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72", 1);
	CASE(N, "I do not know.", "72", 0);
	CASE(N, "", "72", 0);
	CASE(N, "pages 3-4", "4", 1);
	CASE(N, "a 50% rise", "50", 1);
	CASE(N, "1000000", "1000001", 0);
	CASE(N, "1,234,567.89", "1234567.89", 1);
	CASE(N, "1,2,3", "3", 1);
	EXTRACT(N, "no numbers here", NULL);
	EXTRACT(N, "The answer is 72.", "72");
	EXTRACT(N, "It costs -$5", "-5");
	EXTRACT(N, "007", "7");
	EXTRACT(N, "-0.0", "0");
	EXTRACT(N, "3/4 of 12", "12");
	EXTRACT(N, "total 2.", "2");
	EXTRACT(N, ".5", "0.5");
}

static void test_number_value(void)
{
	double v = 0;
	TKT_CHECK(tk_eval_number_value("1,000", &v) && v == 1000, "1,000 -> %g", v);
	TKT_CHECK(tk_eval_number_value("-3/4", &v) && v == -0.75, "-3/4 -> %g", v);
	TKT_CHECK(tk_eval_number_value("$ 5", &v) && v == 5, "$ 5 -> %g", v);
	TKT_CHECK(tk_eval_number_value("1e3", &v) && v == 1000, "1e3 -> %g", v);
	TKT_CHECK(!tk_eval_number_value("inf", &v), "inf is no answer");
	TKT_CHECK(!tk_eval_number_value("nan", &v), "nan is no answer");
	TKT_CHECK(!tk_eval_number_value("1/0", &v), "1/0 is no answer");
	TKT_CHECK(!tk_eval_number_value("x", &v), "x is no number");
	TKT_CHECK(!tk_eval_number_value("", &v), "empty is no number");
}

static void test_boxed(void)
{
	enum { B = TK_EVAL_BOXED };
	CASE(B, "so $\\boxed{\\frac{1}{2}}$", "0.5", 1);
	CASE(B, "\\boxed{\\frac{1}{2}}", "1/2", 1);
	CASE(B, "\\boxed{\\dfrac12}", "\\frac{1}{2}", 1);
	CASE(B, "\\boxed{0.5}", "\\boxed{\\tfrac{1}{2}}", 1);
	CASE(B, "\\boxed{\\left( 1, 2 \\right)}", "(1,2)", 1);
	CASE(B, "\\boxed{90^\\circ}", "90", 1);
	CASE(B, "\\boxed{90^{\\circ}}", "90", 1);
	CASE(B, "\\boxed{50\\%}", "50", 1);
	CASE(B, "\\boxed{10\\text{ cm}}", "10cm", 1);
	CASE(B, "\\boxed{x = 5}", "5", 1);
	CASE(B, "\\boxed{1,000}", "1000", 1);
	CASE(B, "\\boxed{5.}", "5", 1);
	CASE(B, "\\boxed{2\\!\\sqrt{3}}", "2\\sqrt3", 1);
	CASE(B, "first \\boxed{3}, then \\boxed{4}", "4", 1);
	CASE(B, "first \\boxed{3}, then \\boxed{4}", "3", 0);
	CASE(B, "\\boxed{\\frac{\\sqrt{3}}{2}}", "\\dfrac{\\sqrt3}{2}", 1);
	CASE(B, "\\boxed{\\{1,2\\}}", "\\{1,2\\}", 1);
	CASE(B, "The answer is 5", "5", 0);
	EXTRACT(B, "\\boxed{a{b{c}}d}", "a{b{c}}d");
	EXTRACT(B, "\\boxed{\\frac{a+1}{2}}", "(a+1)/2");
	EXTRACT(B, "\\boxed{-\\frac{1}{2}}", "-1/2");
	EXTRACT(B, "\\boxed{unclosed", NULL);
	EXTRACT(B, "\\boxed{}", NULL);
	EXTRACT(B, "\\boxed 7$", "7");
	EXTRACT(B, "\\fbox{8}", "8");
	EXTRACT(B, "no box", NULL);
}

static void test_exact(void)
{
	enum { E = TK_EVAL_EXACT };
	CASE(E, "Paris.", "paris", 1);
	CASE(E, "  PARIS  ", "Paris", 1);
	CASE(E, "New   York City!", "new york city", 1);
	CASE(E, "\"yes\"", "Yes", 1);
	CASE(E, "Paris, France", "Paris", 0);
	CASE(E, "", "Paris", 0);
	CASE(E, "...", "Paris", 0);
	CASE(E, "Paris", "#### Paris", 1);
	EXTRACT(E, "Hello,  World?!", "hello, world");
}

static void test_choice(void)
{
	enum { C = TK_EVAL_CHOICE };
	CASE(C, "B", "B", 1);
	CASE(C, "(B)", "B", 1);
	CASE(C, "Answer: C", "C", 1);
	CASE(C, "The answer is (D).", "D", 1);
	CASE(C, "the answer is **b**.", "B", 1);
	CASE(C, "B. Paris", "1", 1);
	CASE(C, "B", "(b)", 1);
	CASE(C, "C", "1", 0);
	CASE(C, "A cat sat on the mat.", "A", 0);
	CASE(C, "I think (A) is tempting but the answer is C", "C", 1);
	CASE(C, "Options (A) and (C) fail; I pick (B)", "B", 1);
	CASE(C, "No idea.", "A", 0);
	EXTRACT(C, "The answer is a bit unclear", NULL);
	EXTRACT(C, "Answer:\nE", "E");
	EXTRACT(C, "", NULL);
}

static void test_grade(void)
{
	const char *refs[] = {"Paris", "Paris, France"};
	tk_eval_verdict v;
	int rc = tk_eval_grade(TK_EVAL_EXACT, "paris, france.", refs, 2, &v);
	TKT_CHECK(!rc && v.correct && !strcmp(v.reference, "paris, france"), "second alternative: %s",
		  v.reference);
	tk_eval_verdict_free(&v);
	rc = tk_eval_grade(TK_EVAL_EXACT, "Lyon", refs, 2, &v);
	TKT_CHECK(!rc && !v.correct && !strcmp(v.reference, "paris") && !strcmp(v.answer, "lyon"),
		  "wrong: the first reference shown");
	tk_eval_verdict_free(&v);
	const char *numbers[] = {"none", "#### 1,000"};
	rc = tk_eval_grade(TK_EVAL_NUMBER, "no idea", numbers, 2, &v);
	TKT_CHECK(!rc && !v.correct && !v.answer && !strcmp(v.reference, "1000"), "no answer");
	tk_eval_verdict_free(&v);
	rc = tk_eval_grade(TK_EVAL_NUMBER, "5", refs, 2, &v);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "\"Paris | Paris, France\" holds no number"),
		  "no usable reference: %s", tk_error_message());
	tk_eval_verdict_free(&v);
}

static void test_task_names(void)
{
	for (int t = 0; t < TK_EVAL_N_TASKS; t++)
		TKT_CHECK(tk_eval_task_parse(tk_eval_task_name(t)) == t, "task %d", t);
	TKT_CHECK(tk_eval_task_parse("numbers") == -1, "unknown task");
}

/* The binomial form, in long double, for small n. */
static double binomial(size_t n, size_t k)
{
	long double r = 1;
	for (size_t i = 1; i <= k; i++)
		r = r * (long double)(n - k + i) / (long double)i;
	return (double)r;
}

static void test_pass_at_k(void)
{
	for (size_t n = 1; n <= 20; n++)
		for (size_t c = 0; c <= n; c++)
			for (size_t k = 1; k <= n; k++) {
				double want = 1 - binomial(n - c, k) / binomial(n, k);
				double got = tk_eval_pass_at_k(n, c, k);
				TKT_CHECK(fabs(got - want) < 1e-12, "n=%zu c=%zu k=%zu: %.15g vs %.15g",
					  n, c, k, got, want);
			}
	TKT_CHECK(fabs(tk_eval_pass_at_k(10, 3, 1) - 0.3) < 1e-15, "pass@1 = c/n: %g", tk_eval_pass_at_k(10, 3, 1));
	TKT_CHECK(isnan(tk_eval_pass_at_k(2, 1, 3)), "k > n is undefined");
	TKT_CHECK(isnan(tk_eval_pass_at_k(2, 1, 0)), "k = 0 is undefined");
	double big = tk_eval_pass_at_k(100000, 1, 100);
	TKT_CHECK(fabs(big - 0.001) < 1e-12, "large n: %.15g", big);
}

static void test_groups(void)
{
	tk_eval_groups *g;
	TKT_CHECK(tk_eval_groups_new(&g) == 0, "new");
	/* prompt "a": 4 samples, 1 correct; prompt "b": 2 samples, 2 correct; 200 singles */
	int a[] = {0, 1, 0, 0};
	for (int i = 0; i < 4; i++)
		tk_eval_groups_add(g, "a", a[i]);
	tk_eval_groups_add(g, "b", 1);
	tk_eval_groups_add(g, "b", 1);
	char key[32];
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof key, "single-%d", i);
		tk_eval_groups_add(g, key, i % 2);
	}
	size_t used;
	TKT_CHECK(tk_eval_groups_count(g) == 202, "count %zu", tk_eval_groups_count(g));
	TKT_CHECK(tk_eval_groups_min_size(g) == 1, "min %zu", tk_eval_groups_min_size(g));
	TKT_CHECK(tk_eval_groups_max_size(g) == 4, "max %zu", tk_eval_groups_max_size(g));
	double p2 = tk_eval_groups_pass_at_k(g, 2, &used);
	TKT_CHECK(used == 2 && fabs(p2 - (0.5 + 1.0) / 2) < 1e-12, "pass@2 %g over %zu", p2, used);
	double p1 = tk_eval_groups_pass_at_k(g, 1, &used);
	TKT_CHECK(used == 202 && fabs(p1 - (0.25 + 1 + 100) / 202) < 1e-12, "pass@1 %g", p1);
	TKT_CHECK(isnan(tk_eval_groups_pass_at_k(g, 5, &used)) && used == 0, "pass@5 over none");
	tk_eval_groups_free(g);
}

static void test_map(void)
{
	tk_eval_map *m;
	TKT_CHECK(tk_eval_map_new(&m) == 0, "new");
	char key[32], value[32];
	int replaced = -1;
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "%d", i);
		snprintf(value, sizeof value, "v%d", i * 7);
		tk_eval_map_put(m, key, value, &replaced);
		TKT_CHECK(!replaced, "key %d new", i);
	}
	tk_eval_map_put(m, "5", "again", &replaced);
	TKT_CHECK(replaced, "key 5 replaced");
	TKT_CHECK(tk_eval_map_count(m) == 1000, "count %zu", tk_eval_map_count(m));
	TKT_CHECK(!strcmp(tk_eval_map_get(m, "999"), "v6993"), "999");
	TKT_CHECK(!strcmp(tk_eval_map_get(m, "5"), "again"), "5");
	TKT_CHECK(tk_eval_map_get(m, "1000") == NULL, "absent");
	tk_eval_map_free(m);
}

static void test_nll(void)
{
	float lp[] = {0, -1, -2, -3};
	float w[] = {1, 1, 0, 2};     /* position 0 never counts */
	uint32_t bytes[] = {5, 2, 3, 4};
	tk_eval_nll acc = {0};
	tk_eval_nll_add(&acc, lp, w, bytes, 4);
	TKT_CHECK(acc.tokens == 2 && acc.weight == 3 && acc.nats == 7 && acc.bytes == 10,
		  "tokens %llu weight %g nats %g bytes %g", (unsigned long long)acc.tokens,
		  acc.weight, acc.nats, acc.bytes);
	TKT_CHECK(fabs(tk_eval_nll_mean(&acc) - 7.0 / 3) < 1e-12, "mean");
	TKT_CHECK(fabs(tk_eval_nll_ppl(&acc) - exp(7.0 / 3)) < 1e-9, "ppl");
	TKT_CHECK(fabs(tk_eval_nll_bpb(&acc) - 7 / log(2.0) / 10) < 1e-12, "bpb");
	tk_eval_nll empty = {0};
	TKT_CHECK(isnan(tk_eval_nll_mean(&empty)) && isnan(tk_eval_nll_bpb(&empty)), "empty");
}

/* Random texts built from the pieces the parsers look for: no crash, no
 * overflow (run under make asan), and every extraction a string or NULL. */
static void test_random_texts(void)
{
	static const char *const pieces[] = {
		"\\boxed{", "\\fbox", "\\frac", "\\dfrac", "{", "}", "\\left(", "\\right",
		"\\text{", "^\\circ", "^{", "\\", "$", "%", ",", ".", "-", "/", "=", " ",
		"0", "7", "12", "1,000", "####", "answer", "Answer: ", "is ", "(", ")", "B",
		"a", "x", "\n", "\\!", "\\sqrt", "e", "**", "\"",
	};
	const size_t n_pieces = sizeof pieces / sizeof *pieces;
	char text[256];
	int bad = 0;
	for (int round = 0; round < 20000; round++) {
		size_t len = 0, k = tkt_rand64() % 12;
		text[0] = '\0';
		for (size_t i = 0; i < k; i++) {
			const char *p = pieces[tkt_rand64() % n_pieces];
			size_t n = strlen(p);
			if (len + n + 1 > sizeof text)
				break;
			memcpy(text + len, p, n + 1);
			len += n;
		}
		for (int task = 0; task < TK_EVAL_N_TASKS; task++) {
			char *a = NULL, *r = NULL;
			bad |= tk_eval_extract(task, text, &a) != 0;
			bad |= tk_eval_reference(task, text, &r) != 0;
			if (a && r && tk_eval_equal(task, a, r) != tk_eval_equal(task, r, a))
				bad |= 2;
			free(a);
			free(r);
		}
	}
	TKT_CHECK(!bad, "a call failed (1) or equality was not symmetric (2): %d", bad);
}

int main(void)
{
	TKT_RUN(test_number);
	TKT_RUN(test_number_value);
	TKT_RUN(test_boxed);
	TKT_RUN(test_exact);
	TKT_RUN(test_choice);
	TKT_RUN(test_grade);
	TKT_RUN(test_task_names);
	TKT_RUN(test_pass_at_k);
	TKT_RUN(test_groups);
	TKT_RUN(test_map);
	TKT_RUN(test_nll);
	TKT_RUN(test_random_texts);
	return tkt_done();
}
