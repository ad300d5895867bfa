/* Tools in the chat formats beyond the oracle's renderings: what a format
 * cannot express is refused by message and field (a call is never
 * dropped), responses give their tool calls back, a parsed response
 * appended to the conversation renders the sampled tokens again, and the
 * train marks (last-assistant-turn, "trainable"). */
#include "tk_error.h"
#include "tk_render.h"
#include "tkt.h"

#define FIX "tests/fixtures/render/"

static tk_tokenizer *load(const char *name)
{
	char json[256], config[256];
	snprintf(json, sizeof json, "%s/tokenizer.json", name);
	snprintf(config, sizeof config, "%s/tokenizer_config.json", name);
	tk_tokenizer *tok = NULL;
	if (tk_tokenizer_load_json(&tok, json, config))
		printf("# %s: %s\n", name, tk_error_message());
	return tok;
}

static int render_line(const tk_renderer *r, const char *line, unsigned flags, tk_rendered *out)
{
	tk_chat c = {0};
	int rc = tk_chat_parse(&c, line, strlen(line));
	if (!rc && !(flags & TK_RENDER_GENERATION_PROMPT))
		rc = tk_render_mark(c.msgs, c.n, TK_TRAIN_ALL_ASSISTANT);
	if (!rc)
		rc = tk_render_chat(r, &c, flags, out);
	tk_chat_free(&c);
	return rc;
}

static const char CALL_LINE[] =
	"{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},{\"role\":\"assistant\","
	"\"content\":null,\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":"
	"\"get_weather\",\"arguments\":{\"city\":\"Oslo\",\"n\":1.50}}}]},{\"role\":\"tool\","
	"\"content\":\"-3\"},{\"role\":\"assistant\",\"content\":\"Cold.\"}]}";

/* Every renderer either writes the call (its name and arguments are in the
 * text) or refuses the line naming message 2's tool_calls. */
static void test_calls_never_dropped(void)
{
	tk_tokenizer *toks[2] = {load(FIX "tiny-qwen25"), load(FIX "tiny-llama31")};
	int written = 0, refused = 0;
	for (int t = 0; t < 2; t++) {
		for (size_t i = 0; toks[t] && tk_renderer_names[i]; i++) {
			tk_renderer *r = NULL;
			if (tk_renderer_open(&r, tk_renderer_names[i], toks[t]))
				continue; /* the tokenizer lacks the format's tokens */
			tk_rendered out = {0};
			int rc = render_line(r, CALL_LINE, 0, &out);
			if (rc == TK_OK) {
				written++;
				TKT_CHECK(strstr(out.text, "get_weather") &&
					  strstr(out.text, "{\"city\": \"Oslo\", \"n\": 1.5}"),
					  "%s dropped the call: %s", tk_renderer_names[i], out.text);
			} else {
				refused++;
				TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(),
								   "message 2: \"tool_calls\""),
					  "%s: %s", tk_renderer_names[i], tk_error_message());
			}
			tk_rendered_free(&out);
			tk_renderer_free(r);
		}
	}
	TKT_CHECK(written >= 4 && refused >= 2, "written %d refused %d", written, refused);
	for (int t = 0; t < 2; t++)
		tk_tokenizer_free(toks[t]);
}

static int refused_with(const tk_renderer *r, const char *line, const char *message)
{
	tk_rendered out = {0};
	int rc = render_line(r, line, 0, &out);
	tk_rendered_free(&out);
	if (rc == TK_EDATA && strstr(tk_error_message(), message))
		return 1;
	printf("#   rc %d: %s\n", rc, tk_error_message());
	return 0;
}

static void test_refusals(void)
{
	tk_tokenizer *tok = load(FIX "tiny-llama31");
	tk_renderer *l31 = NULL, *l3 = NULL, *rc = NULL;
	TKT_CHECK(tok && !tk_renderer_open(&l31, "llama3.1", tok) &&
		  !tk_renderer_open(&l3, "llama3", tok) && !tk_renderer_open(&rc, "role-colon", tok),
		  "%s", tk_error_message());
	if (!l31 || !l3 || !rc)
		return;
	const char *two = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":"
			  "\"assistant\",\"content\":\"\",\"tool_calls\":[{\"name\":\"a\",\"arguments\":"
			  "{}},{\"name\":\"b\",\"arguments\":{}}]}]}";
	TKT_CHECK(refused_with(l31, two, "message 2: \"tool_calls\" holds 2 calls"), "two calls");
	const char *beside = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":"
			     "\"assistant\",\"content\":\"Let me see.\",\"tool_calls\":[{\"name\":"
			     "\"a\",\"arguments\":{}}]}]}";
	TKT_CHECK(refused_with(l31, beside, "message 2: \"content\" beside \"tool_calls\""),
		  "content beside a call");
	const char *tools_first = "{\"tools\":[{\"type\":\"function\"}],\"messages\":["
				  "{\"role\":\"assistant\",\"content\":\"A\"}]}";
	TKT_CHECK(refused_with(l31, tools_first, "message 1 is not one"), "no first user");
	const char *tool_msg = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":"
			       "\"tool\",\"content\":\"r\"},{\"role\":\"assistant\",\"content\":\"A\"}]}";
	TKT_CHECK(refused_with(l3, tool_msg, "message 2: role \"tool\": renderer llama3"), "llama3");
	TKT_CHECK(refused_with(rc, tool_msg, "message 2: role \"tool\": renderer role-colon"),
		  "role-colon");
	const char *tools = "{\"tools\":[{\"type\":\"function\"}],\"messages\":[{\"role\":\"user\","
			    "\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"A\"}]}";
	TKT_CHECK(refused_with(l3, tools, "\"tools\": renderer llama3 has no tool format"), "tools");
	tk_renderer_free(l31);
	tk_renderer_free(l3);
	tk_renderer_free(rc);
	tk_tokenizer_free(tok);
}

static int parse_fails(const char *line, const char *message)
{
	tk_chat c = {0};
	int rc = tk_chat_parse(&c, line, strlen(line));
	tk_chat_free(&c);
	int ok = rc == TK_EDATA && strstr(tk_error_message(), message);
	if (!ok)
		printf("#   rc %d: %s\n", rc, tk_error_message());
	return ok;
}

static void test_parse_errors(void)
{
	TKT_CHECK(parse_fails("{\"messages\":[{\"role\":\"user\",\"content\":\"Q\",\"tool_calls\":"
			      "[{\"name\":\"a\",\"arguments\":{}}]}]}",
			      "message 1: \"tool_calls\" on a user message"), "user calls");
	TKT_CHECK(parse_fails("{\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
			      "[{\"function\":{\"arguments\":{}}}]}]}",
			      "message 1: \"tool_calls\" item 1 has no \"name\" string"), "no name");
	TKT_CHECK(parse_fails("{\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
			      "[{\"name\":\"a\",\"arguments\":{}},{\"name\":\"b\",\"arguments\":3}]}]}",
			      "message 1: \"tool_calls\" item 2: \"arguments\" is neither"), "args");
	TKT_CHECK(parse_fails("{\"messages\":[{\"role\":\"user\",\"content\":\"Q\",\"trainable\":1}]}",
			      "message 1: \"trainable\" is not true or false"), "trainable");
	TKT_CHECK(parse_fails("{\"tools\":{},\"messages\":[{\"role\":\"user\",\"content\":\"Q\"}]}",
			      "\"tools\" is not an array"), "tools object");
	TKT_CHECK(parse_fails("{\"tools\":[1],\"messages\":[{\"role\":\"user\",\"content\":\"Q\"}]}",
			      "\"tools\" item 1 is not an object"), "tools item");
}

static void test_marks(void)
{
	tk_message m[6] = {{.role = TK_ROLE_USER}, {.role = TK_ROLE_ASSISTANT},
			   {.role = TK_ROLE_USER}, {.role = TK_ROLE_ASSISTANT},
			   {.role = TK_ROLE_TOOL}, {.role = TK_ROLE_ASSISTANT}};
	TKT_CHECK(tk_render_mark(m, 6, TK_TRAIN_LAST_TURN) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(!m[1].train && m[3].train && !m[4].train && m[5].train, "turn marks");
	TKT_CHECK(tk_render_mark(m, 3, TK_TRAIN_LAST_TURN) == TK_EDATA &&
		  strstr(tk_error_message(), "after the last user message"), "no turn");
	m[1].trainable = TK_TRAINABLE_YES;
	m[5].trainable = TK_TRAINABLE_NO;
	TKT_CHECK(tk_render_mark(m, 6, TK_TRAIN_LAST_ASSISTANT) == TK_OK, "overrides");
	TKT_CHECK(m[1].train && !m[3].train && !m[5].train, "override marks");
	TKT_CHECK(tk_render_mark(m, 6, TK_TRAIN_ALL) == TK_EDATA, "false with all");
	m[5].trainable = TK_TRAINABLE_UNSET;
	m[4].trainable = TK_TRAINABLE_YES;
	TKT_CHECK(tk_render_mark(m, 6, TK_TRAIN_ALL_ASSISTANT) == TK_EDATA &&
		  strstr(tk_error_message(), "message 5: \"trainable\": true on a tool"), "tool");
	TKT_CHECK(tk_train_on_parse("last-assistant-turn") == TK_TRAIN_LAST_TURN &&
		  !strcmp(tk_train_on_name(TK_TRAIN_LAST_TURN), "last-assistant-turn"), "name");
}

static void test_parse_response(void)
{
	tk_tokenizer *tok = load(FIX "tiny-qwen3");
	tk_renderer *r = NULL;
	TKT_CHECK(tok && tk_renderer_open(&r, "qwen3", tok) == TK_OK, "%s", tk_error_message());
	if (!r)
		return;
	const char *text = "<think>\nR\n</think>\n\nC\n<tool_call>\n{\"name\": \"search\", "
			   "\"arguments\": {\"q\": \"tk\", \"n\": 2.0}}\n</tool_call>\n<tool_call>\n"
			   "{oops}\n</tool_call><|im_end|>";
	tk_response resp;
	TKT_CHECK(tk_render_parse_text(r, text, strlen(text), &resp) == TK_OK, "parse");
	TKT_CHECK(resp.complete && !strcmp(resp.content, "C") && resp.reasoning &&
		  !strcmp(resp.reasoning, "R"), "content %s", resp.content);
	const char *want = "[{\"type\": \"function\", \"function\": {\"name\": \"search\", "
			   "\"arguments\": {\"q\": \"tk\", \"n\": 2.0}}}, {\"type\": \"function\", "
			   "\"raw\": \"\\n{oops}\\n\", \"error\": \"the call is not valid JSON\"}]";
	TKT_CHECK(resp.tool_calls_json && !strcmp(resp.tool_calls_json, want), "calls %s",
		  resp.tool_calls_json ? resp.tool_calls_json : "(null)");
	char *msg = NULL;
	TKT_CHECK(tk_response_message_json(&resp, &msg) == TK_OK && msg &&
		  strstr(msg, "\"content\": \"C\\n<tool_call>") && !strstr(msg, "tool_calls"),
		  "a bad call goes back as text: %s", msg ? msg : "(null)");
	free(msg);
	tk_response_free(&resp);
	TKT_CHECK(tk_render_parse_text(r, "plain", 5, &resp) == TK_OK && !resp.tool_calls_json &&
		  !resp.complete, "no calls");
	tk_response_free(&resp);
	tk_renderer_free(r);
	tk_tokenizer_free(tok);
}

/* The conversation rendered with its final assistant message equals the
 * generation prompt, then the sampled ids, parsed and given back as a
 * message. */
static void round_trip(const char *model, const char *prompt_line, const char *answer)
{
	tk_tokenizer *tok = load(model);
	tk_renderer *r = NULL;
	TKT_CHECK(tok && tk_renderer_detect(&r, tok) == TK_OK, "%s: %s", model, tk_error_message());
	if (!r)
		return;
	tk_rendered prompt = {0}, full = {0};
	tk_tokens sampled = {0};
	TKT_CHECK(render_line(r, prompt_line, TK_RENDER_GENERATION_PROMPT, &prompt) == TK_OK,
		  "%s", tk_error_message());
	TKT_CHECK(tk_tokenizer_encode(tok, answer, strlen(answer), TK_ENCODE_SPECIAL, &sampled) == TK_OK, "encode");
	tk_response resp = {0};
	char *msg = NULL;
	TKT_CHECK(tk_render_parse_response(r, sampled.ids, sampled.n, &resp) == TK_OK &&
		  resp.tool_calls_json, "%s: no calls parsed", model);
	TKT_CHECK(tk_response_message_json(&resp, &msg) == TK_OK, "message");
	size_t n = strlen(prompt_line);
	char *line = malloc(n + (msg ? strlen(msg) : 0) + 8);
	/* prompt_line ends in "]}": the message goes in before it */
	sprintf(line, "%.*s,%s]}", (int)(n - 2), prompt_line, msg ? msg : "{}");
	TKT_CHECK(render_line(r, line, 0, &full) == TK_OK, "%s: %s", line, tk_error_message());
	int same = full.ids.n >= prompt.ids.n + sampled.n &&
		   !memcmp(full.ids.ids, prompt.ids.ids, prompt.ids.n * sizeof(int32_t)) &&
		   !memcmp(full.ids.ids + prompt.ids.n, sampled.ids, sampled.n * sizeof(int32_t));
	TKT_CHECK(same, "%s: re-rendered\n#   %s\n#   from %s", model, full.text, msg);
	free(line);
	free(msg);
	tk_response_free(&resp);
	tk_tokens_free(&sampled);
	tk_rendered_free(&prompt);
	tk_rendered_free(&full);
	tk_renderer_free(r);
	tk_tokenizer_free(tok);
}

static void test_message_round_trip(void)
{
	const char *line = "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"search\"}}],"
			   "\"messages\":[{\"role\":\"user\",\"content\":\"Find tk\"}]}";
	/* each answer ends in the stop token, which the parser cuts and the
	 * renderer writes back (chatml's "\n" after it is the template's) */
	round_trip(FIX "tiny-qwen3", line, "<think>\nLook it up.\n</think>\n\nSure.\n<tool_call>\n"
		   "{\"name\": \"search\", \"arguments\": {\"q\":\"tk\",\"n\":1.0}}\n</tool_call><|im_end|>");
	round_trip(FIX "tiny-qwen25", line, "Sure.\n<tool_call>\n{\"name\": \"search\", "
		   "\"arguments\": {\"q\": \"tk\", \"n\": 1.0}}\n</tool_call><|im_end|>");
	round_trip(FIX "tiny-llama31", line, "{\"name\": \"search\", \"parameters\": "
		   "{\"q\": \"tk\"}}<|eot_id|>");
}

int main(void)
{
	TKT_RUN(test_calls_never_dropped);
	TKT_RUN(test_refusals);
	TKT_RUN(test_parse_errors);
	TKT_RUN(test_marks);
	TKT_RUN(test_parse_response);
	TKT_RUN(test_message_round_trip);
	return tkt_done();
}
