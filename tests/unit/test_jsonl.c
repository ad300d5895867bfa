/* The JSON Lines line parser every reader shares: one object a line,
 * nothing after it, no NUL byte hidden in it. */
#include "tkt.h"

#include "tk_error.h"
#include "tk_io.h"

#include <cjson/cJSON.h>

/* The message of a refused line ("" when it was accepted). */
static const char *refusal(const char *line, size_t len)
{
	tk_error_clear();
	cJSON *o = tk_jsonl_parse(line, len);
	if (o) {
		cJSON_Delete(o);
		return "";
	}
	return tk_error_message();
}

#define REFUSAL(lit) refusal(lit, sizeof lit - 1)

static void test_one_object(void)
{
	const char line[] = "  {\"a\": [1, {\"b\": \"x\"}]}  \r";
	cJSON *o = tk_jsonl_parse(line, sizeof line - 1);
	TKT_CHECK(cJSON_IsObject(o), "%s", tk_error_message());
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "a");
	TKT_CHECK(cJSON_GetArraySize(a) == 2, "a has %d items", cJSON_GetArraySize(a));
	cJSON_Delete(o);
	/* the length bounds the line: what follows is not read */
	const char two[] = "{\"a\":1}{\"b\":2}";
	o = tk_jsonl_parse(two, 7);
	TKT_CHECK(o && !cJSON_GetObjectItemCaseSensitive(o, "b"), "%s", tk_error_message());
	cJSON_Delete(o);
}

static void test_text_after_the_object(void)
{
	const char *m = REFUSAL("{\"reward\":1} {\"reward\":0}");
	TKT_CHECK(!strcmp(m, "text after the JSON object (column 14)"), "%s", m);
	m = REFUSAL("{\"reward\":1}\0garbage");
	TKT_CHECK(!strcmp(m, "text after the JSON object (column 13)"), "%s", m);
	m = REFUSAL("{\"reward\":1}\0");
	TKT_CHECK(!strcmp(m, "text after the JSON object (column 13)"), "%s", m);
	m = REFUSAL("{\"a\":1},");
	TKT_CHECK(!strcmp(m, "text after the JSON object (column 8)"), "%s", m);
}

static void test_malformed(void)
{
	const char *m = REFUSAL("{\"a\":\"x\0y\"}");
	TKT_CHECK(!strcmp(m, "malformed JSON: a NUL byte at column 8"), "%s", m);
	m = REFUSAL("{\"a\": ");
	TKT_CHECK(!strncmp(m, "malformed JSON (near column", 27), "%s", m);
	m = REFUSAL("{\"a\": x}");
	TKT_CHECK(!strcmp(m, "malformed JSON (near column 7)"), "%s", m);
	m = REFUSAL("[1, 2]");
	TKT_CHECK(!strcmp(m, "not a JSON object"), "%s", m);
	m = REFUSAL("\"text\"");
	TKT_CHECK(!strcmp(m, "not a JSON object"), "%s", m);
	m = REFUSAL("");
	TKT_CHECK(!strncmp(m, "malformed JSON", 14), "%s", m);
}

static void test_blank(void)
{
	TKT_CHECK(tk_jsonl_blank(" \t\r\n", 4), "spaces are blank");
	TKT_CHECK(tk_jsonl_blank("", 0), "nothing is blank");
	TKT_CHECK(!tk_jsonl_blank(" \0 ", 3), "a NUL byte is not blank");
	TKT_CHECK(!tk_jsonl_blank(" {}", 3), "an object is not blank");
}

int main(void)
{
	TKT_RUN(test_one_object);
	TKT_RUN(test_text_after_the_object);
	TKT_RUN(test_malformed);
	TKT_RUN(test_blank);
	return tkt_done();
}
