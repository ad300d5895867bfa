/* Reward-program replies (tk_rl_parse_answer) on arbitrary lines: what it
 * accepts has a finite reward, a correct flag of -1, 0 or 1 and metrics
 * that print as a JSON object of finite numbers and valid names.  And the
 * request line tk writes for a completion of arbitrary text is one JSON
 * object, on one line, whose "text" is that completion. */
#include "harness.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_io.h"
#include "tk_rl.h"
#include "tk_utf8.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

static void require_sane_metrics(const char *json)
{
	cJSON *m = cJSON_Parse(json);
	FUZZ_REQUIRE(cJSON_IsObject(m), "metrics '%s' are not an object", json);
	for (const cJSON *e = m->child; e; e = e->next) {
		FUZZ_REQUIRE(tk_utf8_valid(e->string, strlen(e->string)),
			     "metric name is not UTF-8");
		FUZZ_REQUIRE(!cJSON_IsNumber(e) || isfinite(e->valuedouble), "metric not finite");
	}
	cJSON_Delete(m);
}

static void check_answer(const char *line, size_t len)
{
	tk_rl_score s = {0};
	if (tk_rl_parse_answer(line, len, &s) != TK_OK) {
		FUZZ_REQUIRE(*tk_error_message(), "refused without a message");
		return;
	}
	FUZZ_REQUIRE(isfinite(s.reward), "reward %g", s.reward);
	FUZZ_REQUIRE(s.correct >= -1 && s.correct <= 1, "correct %d", s.correct);
	if (s.metrics_json)
		require_sane_metrics(s.metrics_json);
	tk_rl_score_free(&s, 1);
}

static void check_request(const char *text)
{
	tk_rl_prompt p = {.id_json = "7", .messages_json = "[{\"role\":\"user\",\"content\":\"q\"}]",
			  .answer = NULL, .meta_json = "{}"};
	tk_rl_sample s = {.prompt = &p, .group = 3, .text = text, .complete = 1};
	char *line = tk_rl_request_line(&s);
	FUZZ_REQUIRE(line != NULL, "no request line: %s", tk_error_message());
	FUZZ_REQUIRE(!strchr(line, '\n'), "the request spans lines: %s", line);
	cJSON *o = tk_jsonl_parse(line, strlen(line));
	FUZZ_REQUIRE(o != NULL, "the request is not a JSON object: %s", tk_error_message());
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
	FUZZ_REQUIRE(cJSON_IsString(t) && !strcmp(t->valuestring, text),
		     "the request's text is not the completion");
	cJSON_Delete(o);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_answer((const char *)data, size);
	char *text = fuzz_strndup(data, size);
	check_request(text);
	free(text);
	tk_error_clear();
	return 0;
}
