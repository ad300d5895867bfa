/* The RL environments: prompt files (forms, references, refusals, seeded
 * passes), arithmetic problems and grading, math grading with GSM8K
 * answers, and the reward program protocol with a program that answers,
 * exits, hangs and prints garbage. */
#include "tkt.h"

#include "tk_error.h"
#include "tk_eval.h"
#include "tk_rl.h"
#include "tk_utf8.h"

#include <time.h>

static const char *write_file(const char *name, const char *text)
{
	static char path[4][1024];
	static int next;
	char *p = path[next++ % 4];
	tkt_scratch_path(p, 1024, name);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	return p;
}

static const char *prompts_file(void)
{
	return write_file("prompts.jsonl",
		"{\"prompt\": \"What is 2+2?\", \"answer\": 4, \"id\": \"a\"}\n"
		"\n"
		"{\"question\": \"Nat has 3 apples.\", \"answer\": \"He has 3. #### 3\"}\n"
		"{\"messages\": [{\"role\": \"user\", \"content\": \"1+1?\"}, "
		"{\"role\": \"assistant\", \"content\": \"2\"}], \"level\": 1}\n");
}

static void test_prompt_forms(void)
{
	tk_rl_env *e;
	TKT_CHECK(tk_rl_env_math(&e, prompts_file(), TK_EVAL_NUMBER, 1) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_rl_env_size(e) == 3, "size %zu", tk_rl_env_size(e));
	int seen[3] = {0};
	for (uint64_t k = 0; k < 3; k++) {
		tk_rl_prompt p;
		TKT_CHECK(tk_rl_env_prompt(e, k, &p) == 0, "prompt %d", (int)k);
		if (!strcmp(p.id_json, "\"a\"")) {
			seen[0]++;
			TKT_CHECK(!strcmp(p.answer, "4"), "answer %s", p.answer);
			TKT_CHECK(strstr(p.messages_json, "\"role\":\"user\",\"content\":\"What is 2+2?\""),
				  "%s", p.messages_json);
			TKT_CHECK(strstr(p.meta_json, "\"answer\":4"), "meta %s", p.meta_json);
		} else if (!strcmp(p.id_json, "3")) {
			seen[1]++;
			TKT_CHECK(strstr(p.messages_json, "Nat has"), "%s", p.messages_json);
		} else if (!strcmp(p.id_json, "4")) {
			seen[2]++;
			TKT_CHECK(!strcmp(p.answer, "2"), "final assistant is the reference: %s", p.answer);
			TKT_CHECK(!strstr(p.messages_json, "assistant"), "%s", p.messages_json);
			TKT_CHECK(strstr(p.meta_json, "\"level\":1"), "meta %s", p.meta_json);
		}
		tk_rl_prompt_free(&p);
	}
	TKT_CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1, "each prompt once a pass: %d %d %d",
		  seen[0], seen[1], seen[2]);
	tk_rl_env_free(e);
}

static void test_passes_are_seeded(void)
{
	tk_rl_env *a, *b;
	tk_rl_env_math(&a, prompts_file(), TK_EVAL_NUMBER, 9);
	tk_rl_env_math(&b, prompts_file(), TK_EVAL_NUMBER, 9);
	// b jumps straight to a late prompt: the order is (seed, pass) alone
	for (uint64_t k = 30; k > 0; k--) {
		tk_rl_prompt p, q;
		tk_rl_env_prompt(a, k - 1, &p);
		tk_rl_env_prompt(b, 30 - k, &q);
		tk_rl_prompt_free(&q);
		tk_rl_env_prompt(b, k - 1, &q);
		TKT_CHECK(!strcmp(p.id_json, q.id_json), "prompt %d: %s vs %s", (int)k - 1, p.id_json,
			  q.id_json);
		tk_rl_prompt_free(&p);
		tk_rl_prompt_free(&q);
	}
	tk_rl_env_free(a);
	tk_rl_env_free(b);
}

static void test_bad_prompt_files(void)
{
	struct { const char *text, *want; } cases[] = {
		{"{\"prompt\": \"x\"}\n", "no \"answer\""},
		{"not json\n", "malformed JSON (near column 1)"},
		{"[1]\n", "not a JSON object"},
		{"{\"prompt\": \"x\", \"answer\": 1} {\"prompt\": \"y\", \"answer\": 2}\n",
		 ":1: text after the JSON object (column 30)"},
		{"{\"answer\": 1}\n", "no \"messages\" array"},
		{"{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}], \"answer\": 1}\n", "role"},
		{"{\"prompt\": \"x\", \"answer\": [1]}\n", "neither a string"},
		{"\n\n", "no prompts"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tk_rl_env *e = NULL;
		const char *path = write_file("bad.jsonl", cases[i].text);
		int rc = tk_rl_env_math(&e, path, TK_EVAL_NUMBER, 1);
		TKT_CHECK(rc == TK_EDATA, "case %zu: rc %d", i, rc);
		TKT_CHECK(strstr(tk_error_message(), cases[i].want), "case %zu: %s", i, tk_error_message());
		tk_rl_env_free(e);
	}
	tk_rl_env *e = NULL;
	TKT_CHECK(tk_rl_env_math(&e, "/nonexistent/p.jsonl", TK_EVAL_NUMBER, 1) == TK_ENOINPUT,
		  "missing file: %s", tk_error_message());
}

static void test_math_grading(void)
{
	tk_rl_env *e;
	tk_rl_env_math(&e, prompts_file(), TK_EVAL_NUMBER, 1);
	tk_rl_prompt p = {.answer = "He has 3. #### 3"};
	tk_rl_sample s[3] = {{&p, 0, "So the answer is 3.", 1}, {&p, 0, "I think 4", 1},
			     {&p, 0, "no idea", 0}};
	tk_rl_score sc[3];
	TKT_CHECK(tk_rl_env_score(e, s, 3, sc) == 0, "score");
	TKT_CHECK(sc[0].reward == 1 && sc[0].correct == 1, "right: %g", sc[0].reward);
	TKT_CHECK(sc[1].reward == 0 && sc[1].correct == 0 && sc[1].formatted, "wrong");
	TKT_CHECK(sc[2].reward == 0 && !sc[2].formatted, "no answer");
	tk_rl_env_free(e);
}

static void test_arithmetic(void)
{
	unsigned ops;
	TKT_CHECK(tk_rl_arith_ops_parse("add,mul", &ops) == 0 && ops == (TK_RL_ADD | TK_RL_MUL), "ops");
	TKT_CHECK(tk_rl_arith_ops_parse("add,div", &ops) == TK_EUSAGE, "div refused");
	tk_rl_arith_config c = {2, TK_RL_ADD, 0.1, 5};
	tk_rl_env *e, *again;
	TKT_CHECK(tk_rl_env_arithmetic(&e, &c) == 0, "open");
	tk_rl_env_arithmetic(&again, &c);
	for (uint64_t k = 0; k < 50; k++) {
		tk_rl_prompt p, q;
		tk_rl_env_prompt(e, k, &p);
		tk_rl_env_prompt(again, 49 - k, &q);
		tk_rl_prompt_free(&q);
		tk_rl_env_prompt(again, k, &q);
		TKT_CHECK(!strcmp(p.messages_json, q.messages_json), "seeded by k");
		int a = -1, b = -1;
		const char *at = strstr(p.messages_json, "What is ");
		TKT_CHECK(at && sscanf(at, "What is %d + %d?", &a, &b) == 2, "%s", p.messages_json);
		TKT_CHECK(a >= 10 && a <= 99 && b >= 10 && b <= 99, "two digits: %d %d", a, b);
		TKT_CHECK(atoi(p.answer) == a + b, "answer %s for %d + %d", p.answer, a, b);
		char right[32], spaced[64];
		snprintf(right, sizeof right, "%d", a + b);
		snprintf(spaced, sizeof spaced, "The sum is %d.", a + b);
		tk_rl_sample s[3] = {{&p, 0, right, 1}, {&p, 0, spaced, 1}, {&p, 0, "12345", 1}};
		tk_rl_score sc[3];
		tk_rl_env_score(e, s, 3, sc);
		TKT_CHECK(fabs(sc[0].reward - 1.1) < 1e-12, "bare number: %g", sc[0].reward);
		TKT_CHECK(sc[1].reward == 1, "number in a sentence: %g", sc[1].reward);
		TKT_CHECK(fabs(sc[2].reward - 0.1) < 1e-12 && !sc[2].correct, "wrong: %g", sc[2].reward);
		tk_rl_prompt_free(&p);
		tk_rl_prompt_free(&q);
	}
	tk_rl_env_free(e);
	tk_rl_env_free(again);
}

/* ---- the reward program ------------------------------------------------- */

static tk_rl_prompt cmd_prompt = {"\"p1\"", "[{\"role\":\"user\",\"content\":\"hi\"}]", NULL,
				  "{\"answer\":\"yes\"}"};

static int score_with(const char *program, double timeout, size_t n, tk_rl_score *sc,
		      double *seconds)
{
	tk_rl_env *e = NULL;
	const char *script = write_file("reward.sh", program);
	char command[1200];
	snprintf(command, sizeof command, "sh %s", script);
	int rc = tk_rl_env_cmd(&e, prompts_file(), command, timeout, 1);
	if (rc)
		return rc;
	tk_rl_sample s[64];
	const char *texts[] = {"yes", "no", "yes \"quoted\"\nline"};
	for (size_t i = 0; i < n; i++)
		s[i] = (tk_rl_sample){&cmd_prompt, i / 2, texts[i % 3], 1};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = tk_rl_env_score(e, s, n, sc);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	if (!rc) // a second step through the same process
		rc = tk_rl_env_score(e, s, n, sc + n);
	tk_rl_env_free(e);
	return rc;
}

static void test_request_line(void)
{
	tk_rl_sample s = {&cmd_prompt, 3, "a \"b\"\n", 0};
	char *line = tk_rl_request_line(&s);
	TKT_CHECK(!strcmp(line, "{\"id\":\"p1\",\"group\":3,\"messages\":[{\"role\":\"user\","
			  "\"content\":\"hi\"}],\"text\":\"a \\\"b\\\"\\n\",\"complete\":false,"
			  "\"meta\":{\"answer\":\"yes\"}}"), "%s", line);
	free(line);
	tk_rl_score sc;
	const char *good = "{\"reward\": 0.5, \"correct\": true, \"metrics\": {\"x\": 1}}";
	TKT_CHECK(tk_rl_parse_answer(good, strlen(good), &sc) == 0, "%s", tk_error_message());
	TKT_CHECK(sc.reward == 0.5 && sc.correct == 1 && !strcmp(sc.metrics_json, "{\"x\":1}"),
		  "%g %d %s", sc.reward, sc.correct, sc.metrics_json);
	free(sc.metrics_json);
	const char *bad[] = {"{\"score\": 1}", "[1]", "{\"reward\": \"1\"}",
			     "{\"reward\": 1, \"metrics\": 3}", "{\"reward\": 1e999}"};
	for (size_t i = 0; i < 5; i++)
		TKT_CHECK(tk_rl_parse_answer(bad[i], strlen(bad[i]), &sc) == TK_EDATA, "%s", bad[i]);
	/* one answer a line: a second object, or anything after a NUL, is refused */
	const char two[] = "{\"reward\":1} {\"reward\":0}", nul[] = "{\"reward\":1}\0garbage";
	TKT_CHECK(tk_rl_parse_answer(two, sizeof two - 1, &sc) == TK_EDATA &&
		  strstr(tk_error_message(), "text after the JSON object (column 14)"), "%s",
		  tk_error_message());
	TKT_CHECK(tk_rl_parse_answer(nul, sizeof nul - 1, &sc) == TK_EDATA &&
		  strstr(tk_error_message(), "'{\"reward\":1}\\x00garbage': text after the JSON "
			 "object (column 13)"), "%s", tk_error_message());
}

/* Program metrics become env/all/NAME keys of metrics.jsonl: a name tk-rl
 * writes itself, a name that is not UTF-8, or a value JSON cannot hold
 * would break that line. */
static void test_answer_metrics(void)
{
	static const char *const own[] = {"reward/total", "reward/std", "correct", "format",
		"frac_mixed", "frac_all_good", "frac_all_bad", "ac_tokens_per_turn", "total_ac_tokens"};
	char line[256];
	tk_rl_score sc;
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
		snprintf(line, sizeof line, "{\"reward\": 1, \"metrics\": {\"%s\": 1}}", own[i]);
		int rc = tk_rl_parse_answer(line, strlen(line), &sc);
		TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "one tk-rl writes itself"),
			  "%s: rc %d %s", own[i], rc, tk_error_message());
	}
	struct { const char *line, *why; } bad[] = {
		{"{\"reward\": 1, \"metrics\": {\"a\xff\": 1}}", "a metric name is not valid UTF-8"},
		{"{\"reward\": 1, \"metrics\": {\"x\": 1e999}}", "metric \"x\" is not finite"},
		{"{\"reward\": 1, \"metrics\": {\"\": 1}}", "a metric name of 0 bytes"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = tk_rl_parse_answer(bad[i].line, strlen(bad[i].line), &sc);
		TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), bad[i].why), "%zu: rc %d %s",
			  i, rc, tk_error_message());
	}
	const char *ok = "{\"reward\": 1, \"metrics\": {\"env/correct\": 1, \"r\u00e9\": 2, "
			 "\"note\": \"text\"}}";
	TKT_CHECK(tk_rl_parse_answer(ok, strlen(ok), &sc) == 0, "%s", tk_error_message());
	free(sc.metrics_json);
	TKT_CHECK(tk_utf8_valid("r\xc3\xa9", 3) && !tk_utf8_valid("a\0b", 3) &&
		  !tk_utf8_valid("\xc3", 1) && !tk_utf8_valid("\xed\xa0\x80", 3), "tk_utf8_valid");
}

/* Answers 1 when the completion is "yes" (a line-oriented shell program). */
static const char *yes_program =
	"while IFS= read -r line; do\n"
	"  case \"$line\" in *'\"text\":\"yes\"'*) echo '{\"reward\": 1, \"metrics\": {\"len\": 3}}';;\n"
	"  *) echo '{\"reward\": 0}';; esac\n"
	"done\n";

static void test_program_answers(void)
{
	tk_rl_score sc[128];
	double seconds;
	// 60 samples of long-ish lines each way: the pipes must not deadlock
	int rc = score_with(yes_program, 5, 60, sc, &seconds);
	TKT_CHECK(rc == 0, "%s", tk_error_message());
	for (size_t i = 0; i < 120 && rc == 0; i++)
		TKT_CHECK(sc[i].reward == (i % 60 % 3 == 0), "sample %zu: %g", i, sc[i].reward);
	TKT_CHECK(rc || (sc[0].metrics_json && !strcmp(sc[0].metrics_json, "{\"len\":3}")), "metrics");
	if (!rc)
		tk_rl_score_free(sc, 120);
}

static void test_program_exits(void)
{
	tk_rl_score sc[8];
	double seconds;
	int rc = score_with("read -r line; echo '{\"reward\": 1}'; exit 3\n", 5, 4, sc, &seconds);
	TKT_CHECK(rc == TK_EIO, "rc %d", rc);
	TKT_CHECK(strstr(tk_error_message(), "exited with status 3 after 1 of 4"), "%s",
		  tk_error_message());
}

static void test_program_hangs(void)
{
	tk_rl_score sc[8];
	double seconds;
	int rc = score_with("read -r line; sleep 30\n", 0.3, 2, sc, &seconds);
	TKT_CHECK(rc == TK_EIO, "rc %d", rc);
	TKT_CHECK(strstr(tk_error_message(), "no answer for 0.3 s"), "%s", tk_error_message());
	TKT_CHECK(seconds < 3, "stopped after %.2f s", seconds);
}

static void test_program_garbage(void)
{
	tk_rl_score sc[8];
	double seconds;
	int rc = score_with("while read -r l; do echo 'reward=1'; done\n", 5, 2, sc, &seconds);
	TKT_CHECK(rc == TK_EDATA, "rc %d", rc);
	TKT_CHECK(strstr(tk_error_message(), "answer 1 of this step") &&
		  strstr(tk_error_message(), "'reward=1': malformed JSON (near column 1)"), "%s", tk_error_message());
	rc = score_with("exec nonexistent-reward-program\n", 5, 2, sc, &seconds);
	TKT_CHECK(rc == TK_EIO && strstr(tk_error_message(), "status 127"), "%s", tk_error_message());
}

/* One line more than asked, whenever it comes, is refused by name: kept,
 * it would shift every later reward onto the previous sample. */
static void test_program_unasked_lines(void)
{
	tk_rl_score sc[8];
	double seconds;
	const char *banner = "echo '{\"reward\": 0}'\nsleep 0.2\n"
			     "while read -r l; do echo '{\"reward\": 1}'; done\n";
	// the banner races the first requests: it is caught in the same step
	int rc = score_with(banner, 5, 2, sc, &seconds);
	TKT_CHECK(rc == TK_EDATA, "banner: rc %d", rc);
	TKT_CHECK(strstr(tk_error_message(), "wrote a line no request asked for") &&
		  strstr(tk_error_message(), "'{\"reward\": 1}'") &&
		  strstr(tk_error_message(), "reward.sh"), "%s", tk_error_message());
	// a banner already written when the step starts is shown itself
	tk_rl_env *e = NULL;
	char command[1200];
	snprintf(command, sizeof command, "sh %s", write_file("banner.sh", banner));
	rc = tk_rl_env_cmd(&e, prompts_file(), command, 5, 1);
	TKT_CHECK(rc == 0, "%s", tk_error_message());
	struct timespec pause = {0, 100 * 1000 * 1000};
	nanosleep(&pause, NULL);
	tk_rl_sample one = {&cmd_prompt, 0, "yes", 1};
	rc = e ? tk_rl_env_score(e, &one, 1, sc) : TK_EOSERR;
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "(before this step's requests): "
					    "'{\"reward\": 0}'"), "rc %d %s", rc, tk_error_message());
	tk_rl_env_free(e);
	const char *twice = "while read -r l; do echo '{\"reward\": 1}'; echo '{\"reward\": 0}'; done\n";
	rc = score_with(twice, 5, 2, sc, &seconds);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "no request asked for"), "twice: "
		  "rc %d %s", rc, tk_error_message());
	// blank lines around the answers are still fine
	const char *blanks = "echo\nwhile read -r l; do echo '{\"reward\": 1}'; echo ' '; done\n";
	rc = score_with(blanks, 5, 2, sc, &seconds);
	TKT_CHECK(rc == 0, "blank lines: %s", tk_error_message());
	if (!rc)
		tk_rl_score_free(sc, 4);
}

/* A program that wrote more answers than asked, then waits: the buffered
 * lines are seen at once, not after the timeout as "0 of N answers". */
static void test_program_answers_ahead(void)
{
	tk_rl_score sc[8];
	double seconds;
	const char *ahead = "read -r l; for i in 1 2 3 4 5 6; do echo '{\"reward\": 1}'; done\n"
			    "sleep 0.2; read -r l; read -r l; sleep 30\n";
	int rc = score_with(ahead, 2, 2, sc, &seconds);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "no request asked for"), "rc %d %s",
		  rc, tk_error_message());
	TKT_CHECK(seconds < 1.5, "refused after %.2f s", seconds);
}

static void test_timeout_bounds(void)
{
	tk_rl_env *e = NULL;
	int rc = tk_rl_env_cmd(&e, prompts_file(), "cat", 1e10, 1);
	TKT_CHECK(rc == TK_EUSAGE && !e, "1e10 s: rc %d", rc);
	TKT_CHECK(strstr(tk_error_message(), "(0, 1e+06]"), "%s", tk_error_message());
	rc = tk_rl_env_cmd(&e, prompts_file(), "cat", NAN, 1);
	TKT_CHECK(rc == TK_EUSAGE && !e, "NaN s: rc %d", rc);
	// the largest allowed timeout waits as asked (poll's int milliseconds hold it)
	tk_rl_score sc[4];
	double seconds;
	rc = score_with("while read -r l; do echo '{\"reward\": 1}'; done\n", TK_RL_ENV_TIMEOUT_MAX,
			2, sc, &seconds);
	TKT_CHECK(rc == 0, "%s", tk_error_message());
	if (!rc)
		tk_rl_score_free(sc, 4);
}

static void test_valid_utf8(void)
{
	// a cut 3-byte character, a NUL, a lone continuation byte, an overlong '/'
	const char in[] = "ok \xe2\x82 \xc3\xa9\0x\x80\xc0\xaf";
	char *out = tk_utf8_valid_copy(in, sizeof in - 1);
	TKT_CHECK(out && !strcmp(out, "ok \xef\xbf\xbd\xef\xbf\xbd \xc3\xa9\xef\xbf\xbdx"
				 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), "%s", out);
	free(out);
	// a surrogate and a code point past U+10FFFF go byte by byte; an emoji stays
	const char far[] = "\xed\xa0\x80|\xf4\x90\x80\x80|\xf0\x9f\x98\x80";
	out = tk_utf8_valid_copy(far, sizeof far - 1);
	TKT_CHECK(out && !strcmp(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd"
				 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xf0\x9f\x98\x80"), "%s", out);
	free(out);
}

int main(void)
{
	TKT_RUN(test_valid_utf8);
	TKT_RUN(test_prompt_forms);
	TKT_RUN(test_passes_are_seeded);
	TKT_RUN(test_bad_prompt_files);
	TKT_RUN(test_math_grading);
	TKT_RUN(test_arithmetic);
	TKT_RUN(test_request_line);
	TKT_RUN(test_answer_metrics);
	TKT_RUN(test_program_answers);
	TKT_RUN(test_program_exits);
	TKT_RUN(test_program_hangs);
	TKT_RUN(test_program_garbage);
	TKT_RUN(test_program_unasked_lines);
	TKT_RUN(test_program_answers_ahead);
	TKT_RUN(test_timeout_bounds);
	return tkt_done();
}
