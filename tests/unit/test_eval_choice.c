/* Multiple-choice questions: the forms of a line and its answer, and the
 * tokens scored (raw text cut as lm-evaluation-harness cuts it, chat form
 * as the template writes the answer, MMLU-style letters). */
#include "tk_error.h"
#include "tk_eval.h"
#include "tk_model.h"
#include "tkt.h"

static int parse(tk_eval_question *q, const char *line)
{
	return tk_eval_question_parse(q, line, strlen(line));
}

static void test_answers(void)
{
	tk_eval_question q = {0};
	static const struct { const char *line; size_t answer; } ok[] = {
		{"{\"question\":\"Q\",\"choices\":[\"a\",\"b\",\"c\"],\"answer\":2}", 2},
		{"{\"question\":\"Q\",\"choices\":[\"a\",\"b\",\"c\"],\"answer\":\"B\"}", 1},
		{"{\"question\":\"Q\",\"choices\":[\"a\",\"b\",\"c\"],\"answer\":\"(c)\"}", 2},
		{"{\"question\":\"Q\",\"choices\":[\"a\",\"b\",\"c\"],\"answer\":\"1\"}", 1},
		{"{\"question\":\"Q\",\"choices\":[\"Paris\",\"Rome\"],\"answer\":\"Rome\"}", 1},
		{"{\"question\":\"Q\",\"choices\":{\"text\":[\"x\",\"y\"],\"label\":[\"1\",\"2\"]},\"answerKey\":\"2\"}", 1},
		{"{\"question\":\"Q\",\"choices\":{\"text\":[\"x\",\"y\"],\"label\":[\"A\",\"B\"]},\"answerKey\":\"A\"}", 0},
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		int rc = parse(&q, ok[i].line);
		TKT_CHECK(rc == TK_OK && q.answer == ok[i].answer, "%s: rc %d (%s), answer %zu",
			  ok[i].line, rc, tk_error_message(), q.answer);
	}
	static const struct { const char *line, *message; } bad[] = {
		{"{\"question\":\"Q\",\"choices\":[\"a\",\"b\"],\"answer\":2}", "not an index"},
		{"{\"question\":\"Q\",\"choices\":[\"a\",\"b\"],\"answer\":-1}", "not an index"},
		{"{\"question\":\"Q\",\"choices\":[\"a\",\"b\"],\"answer\":0.5}", "not an index"},
		{"{\"question\":\"Q\",\"choices\":[\"a\",\"b\"],\"answer\":\"C\"}", "none of the 2"},
		{"{\"question\":\"Q\",\"choices\":[\"a\",\"b\"]}", "no \"answer\""},
		{"{\"question\":\"Q\",\"choices\":[\"a\"],\"answer\":0}", "two at least"},
		{"{\"question\":\"Q\",\"choices\":[\"a\",3],\"answer\":0}", "not a string"},
		{"{\"question\":\"Q\",\"choices\":[\"a\",\"\"],\"answer\":0}", "empty"},
		{"{\"question\":1,\"choices\":[\"a\",\"b\"],\"answer\":0}", "no \"question\""},
		{"{\"question\":\"Q\",\"answer\":0}", "no \"choices\""},
		{"[1]", "not a JSON object"},
		{"{\"question\":", "malformed JSON"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = parse(&q, bad[i].line);
		TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), bad[i].message),
			  "%s: rc %d, message '%s', wanted '%s'", bad[i].line, rc,
			  tk_error_message(), bad[i].message);
	}
	tk_eval_question_free(&q);
}

/* Random cuts and byte flips of a good line: an error or a question, never
 * a crash (make asan). */
static void test_damaged_lines(void)
{
	const char *good = "{\"question\":\"Q?\",\"choices\":{\"text\":[\"x\",\"y\"],"
			   "\"label\":[\"A\",\"B\"]},\"answerKey\":\"B\",\"answer\":[1]}";
	char line[128];
	tk_eval_question q = {0};
	size_t n = strlen(good), parsed = 0;
	for (int round = 0; round < 3000; round++) {
		memcpy(line, good, n + 1);
		size_t len = 1 + tkt_rand64() % n;
		for (int flips = tkt_rand64() % 3; flips >= 0; flips--)
			line[tkt_rand64() % len] = "\"{}[],:0AB\\ "[tkt_rand64() % 12];
		parsed += parse(&q, line) == TK_OK;
	}
	TKT_CHECK(parsed < 3000, "some damaged lines refused");
	tk_eval_question_free(&q);
}

static struct tk_model *tiny(void)
{
	static struct tk_model *m;
	if (!m && tk_model_load(&m, "tests/fixtures/tiny-llama"))
		return NULL;
	return m;
}

/* Raw: prompt + continuation are the tokens of question + " " + choice. */
static void test_raw_tokens(void)
{
	struct tk_model *m = tiny();
	TKT_CHECK(m != NULL, "tiny-llama: %s", tk_error_message());
	if (!m)
		return;
	tk_eval_question q = {0};
	tk_eval_choice_tokens t = {0};
	int rc = parse(&q, "{\"question\":\"The capital of France is\",\"choices\":"
			   "[\"Paris\",\"Rome, Italy\"],\"answer\":0}");
	if (!rc)
		rc = tk_eval_choice_tokenize(&q, NULL, m->tokenizer, 0, &t);
	TKT_CHECK(rc == TK_OK && t.n == 2, "tokenize: %s", tk_error_message());
	for (size_t c = 0; !rc && c < 2; c++) {
		char text[128];
		snprintf(text, sizeof text, "%s %s", q.question, q.choices[c]);
		tk_tokens whole = {0};
		tk_tokenizer_encode(m->tokenizer, text, strlen(text), TK_ENCODE_ADD_BOS, &whole);
		int same = whole.n == t.prompt.n + t.cont[c].n &&
			   !memcmp(whole.ids, t.prompt.ids, t.prompt.n * sizeof *whole.ids) &&
			   !memcmp(whole.ids + t.prompt.n, t.cont[c].ids, t.cont[c].n * sizeof *whole.ids);
		TKT_CHECK(same, "choice %zu: prompt + continuation are the whole text's tokens", c);
		TKT_CHECK(t.bytes[c] == strlen(q.choices[c]) + 1, "bytes %zu", t.bytes[c]);
		tk_tokens_free(&whole);
	}
	tk_eval_choice_tokens_free(&t);
	tk_eval_question_free(&q);
}

/* Chat: prompt + continuation + end of turn begin the template's
 * rendering of the question answered with the choice. */
static void test_chat_and_letters(void)
{
	struct tk_model *m = tiny();
	tk_renderer *r = NULL;
	int rc = m ? tk_renderer_detect(&r, m->tokenizer) : -1;
	TKT_CHECK(rc == TK_OK, "renderer: %s", tk_error_message());
	if (rc)
		return;
	tk_eval_question q = {0};
	tk_eval_choice_tokens t = {0};
	rc = parse(&q, "{\"question\":\"2+2?\",\"choices\":[\"4\",\"five\"],\"answer\":0}");
	if (!rc)
		rc = tk_eval_choice_tokenize(&q, r, m->tokenizer, 0, &t);
	TKT_CHECK(rc == TK_OK, "tokenize: %s", tk_error_message());
	tk_message msgs[2] = {
		{.role = TK_ROLE_USER, .content = "2+2?", .content_len = 4},
		{.role = TK_ROLE_ASSISTANT, .content = "five", .content_len = 4, .train = 1},
	};
	tk_rendered full = {0};
	rc = rc ? rc : tk_render(r, msgs, 2, 0, &full);
	size_t n = t.prompt.n + t.cont[1].n;
	int prefix = !rc && full.ids.n > n &&
		     !memcmp(full.ids.ids, t.prompt.ids, t.prompt.n * sizeof *t.prompt.ids) &&
		     !memcmp(full.ids.ids + t.prompt.n, t.cont[1].ids, t.cont[1].n * sizeof *t.prompt.ids);
	const int32_t *stops;
	size_t n_stops = tk_renderer_stop_tokens(r, &stops);
	TKT_CHECK(prefix && n_stops && full.ids.ids[n] == stops[0],
		  "prompt + answer, then the end of turn");
	/* letters: the choices listed in the prompt, the letters scored */
	rc = tk_eval_choice_tokenize(&q, NULL, m->tokenizer, TK_EVAL_CHOICE_LETTERS, &t);
	char *text = NULL;
	size_t len;
	if (!rc)
		rc = tk_tokenizer_decode(m->tokenizer, t.prompt.ids, t.prompt.n, 0, &text, &len);
	TKT_CHECK(!rc && strstr(text, "2+2?\nA. 4\nB. five\nAnswer:"), "letter prompt: %s", text);
	free(text);
	text = NULL;
	if (!rc)
		rc = tk_tokenizer_decode(m->tokenizer, t.cont[1].ids, t.cont[1].n, 0, &text, &len);
	TKT_CHECK(!rc && !strcmp(text, " B"), "letter continuation '%s'", text);
	free(text);
	tk_rendered_free(&full);
	tk_eval_choice_tokens_free(&t);
	tk_eval_question_free(&q);
	tk_renderer_free(r);
}

int main(void)
{
	TKT_RUN(test_answers);
	TKT_RUN(test_damaged_lines);
	TKT_RUN(test_raw_tokens);
	TKT_RUN(test_chat_and_letters);
	tk_model_free(tiny());
	return tkt_done();
}
