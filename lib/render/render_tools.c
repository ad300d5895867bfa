/* The tool-calling pieces the Qwen templates share (Qwen2.5's, which tk's
 * chatml uses, and Qwen3's): the tool list in the system turn, calls in
 * <tool_call> blocks, and tool results as <tool_response> blocks in a user
 * turn; and the JSON every format writes as json.dumps does. */
#include "render_impl.h"

#include <cjson/cJSON.h>
#include <string.h>

void render_tool_call(const tk_message *m, size_t k, const char **name,
		      const cJSON **arguments)
{
	const cJSON *call = cJSON_GetArrayItem(m->tool_calls, (int)k);
	const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
	if (cJSON_IsObject(fn))
		call = fn;
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(call, "name");
	*name = cJSON_IsString(n) ? n->valuestring : "";
	*arguments = cJSON_GetObjectItemCaseSensitive(call, "arguments");
}

static const char *const tags[] = {"<tool_call>", "</tool_call>", "<tool_response>",
				   "</tool_response>", "<think>", "</think>"};

/* A tag as its own token when the tokenizer has one (Qwen's are added
 * tokens; a GGUF may call them special, and then encoding the text would
 * not find them), else as text. */
static void tag(const tk_renderer *r, tk_rendered *out, const char *text, int trained)
{
	int32_t id = tk_tokenizer_find(r->tok, text, strlen(text));
	if (id >= 0 && tk_tokenizer_token_type(r->tok, id) != TK_TOKEN_NORMAL)
		rb_special(r, out, id, trained);
	else
		rb_str(r, out, text, trained);
}

void render_markup(const tk_renderer *r, tk_rendered *out, const char *text, int trained)
{
	size_t len = strlen(text);
	while (len) {
		const char *first = NULL, *which = NULL;
		for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
			const char *at = render_find(text, len, tags[i]);
			if (at && (!first || at < first)) {
				first = at;
				which = tags[i];
			}
		}
		if (!first) {
			rb_text(r, out, text, len, trained);
			return;
		}
		rb_text(r, out, text, (size_t)(first - text), trained);
		tag(r, out, which, trained);
		size_t used = (size_t)(first - text) + strlen(which);
		text += used;
		len -= used;
	}
}

void render_json(const tk_renderer *r, tk_rendered *out, const cJSON *v, int indent,
		 int trained)
{
	render_buf b = {0};
	if (render_json_dumps(&b, v, indent)) {
		if (out->status == TK_OK)
			out->status = TK_EOSERR;
	} else {
		rb_text(r, out, b.s, b.n, trained);
	}
	render_buf_free(&b);
}

void render_qwen_tools(const tk_renderer *r, tk_rendered *out, const cJSON *tools)
{
	render_markup(r, out, "# Tools\n\nYou may call one or more functions to assist with "
		      "the user query.\n\nYou are provided with function signatures within "
		      "<tools></tools> XML tags:\n<tools>", 0);
	const cJSON *t;
	cJSON_ArrayForEach(t, tools) {
		rb_str(r, out, "\n", 0);
		render_json(r, out, t, 0, 0);
	}
	render_markup(r, out, "\n</tools>\n\nFor each function call, return a json object "
		      "with function name and arguments within <tool_call></tool_call> XML "
		      "tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
		      "<args-json-object>}\n</tool_call>", 0);
}

void render_qwen_call(const tk_renderer *r, tk_rendered *out, const tk_message *m,
		      size_t k, int newline, int raw_strings)
{
	const char *name;
	const cJSON *args;
	render_tool_call(m, k, &name, &args);
	int t = m->train;
	if (newline)
		rb_str(r, out, "\n", t);
	render_markup(r, out, "<tool_call>\n{\"name\": \"", t);
	rb_str(r, out, name, t);
	rb_str(r, out, "\", \"arguments\": ", t);
	if (raw_strings && cJSON_IsString(args))
		rb_str(r, out, args->valuestring, t);
	else
		render_json(r, out, args, 0, t);
	render_markup(r, out, "}\n</tool_call>", t);
}

size_t render_qwen_responses(const tk_renderer *r, tk_rendered *out, int32_t im_start,
			     int32_t im_end, const tk_message *m, size_t i, size_t n)
{
	rb_special(r, out, im_start, 0);
	rb_str(r, out, "user", 0);
	for (; i < n && m[i].role == TK_ROLE_TOOL; i++) {
		render_markup(r, out, "\n<tool_response>\n", 0);
		rb_text(r, out, m[i].content, m[i].content_len, 0);
		render_markup(r, out, "\n</tool_response>", 0);
	}
	rb_special(r, out, im_end, 0);
	rb_str(r, out, "\n", 0);
	return i;
}
