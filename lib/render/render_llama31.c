/* Llama 3.1 (Meta-Llama-3.1-Instruct's published template, with its
 * defaults: date_string "26 Jul 2024", tools in the first user message):
 *
 *   <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n
 *   [Environment: ipython\n]Cutting Knowledge Date: December 2023\n
 *   Today Date: 26 Jul 2024\n\nS<|eot_id|>
 *   <|start_header_id|>user<|end_header_id|>\n\n[Given the following
 *   functions, ... each tool as json.dumps(indent=4), "\n\n"]Q<|eot_id|>
 *   <|start_header_id|>assistant<|end_header_id|>\n\n{"name": "N",
 *   "parameters": {...}}<|eot_id|>
 *   <|start_header_id|>ipython<|end_header_id|>\n\n"result"<|eot_id|>
 *
 * Every content is trimmed.  A tool result is written through json.dumps
 * (the template's "is iterable" holds for a string).  The template takes
 * one call per assistant message and drops the content beside a call, so
 * both are refused rather than lost.  Trained: what follows an assistant
 * header, up to and including <|eot_id|>. */
#include "render_impl.h"
#include "tk_error.h"

#include <cjson/cJSON.h>
#include <string.h>

enum { BEGIN, START_HEADER, END_HEADER, EOT };

static int llama31_check(const tk_renderer *r, const tk_message *m, size_t n,
			 const cJSON *tools)
{
	(void)r;
	for (size_t i = 0; i < n; i++) {
		const char *c = m[i].content;
		size_t len = m[i].content_len;
		render_trim(&c, &len);
		if (m[i].n_tool_calls > 1)
			return tk_fail(TK_EDATA, "message %zu: \"tool_calls\" holds %zu calls; "
				       "llama3.1's template takes one a message (give each in an "
				       "assistant message of its own)", i + 1, m[i].n_tool_calls);
		if (m[i].n_tool_calls && len)
			return tk_fail(TK_EDATA, "message %zu: \"content\" beside \"tool_calls\": "
				       "llama3.1's template drops the content of a message with a "
				       "call (give it in a message of its own)", i + 1);
	}
	size_t first = n && m[0].role == TK_ROLE_SYSTEM;
	if (tools && (first >= n || m[first].role != TK_ROLE_USER))
		return tk_fail(TK_EDATA, "\"tools\": llama3.1 writes the tool list into the "
			       "first user message, and message %zu is not one", first + 1);
	return TK_OK;
}

static void header(const tk_renderer *r, tk_rendered *out, const char *role)
{
	rb_special(r, out, r->special[START_HEADER], 0);
	rb_str(r, out, role, 0);
	rb_special(r, out, r->special[END_HEADER], 0);
	rb_str(r, out, "\n\n", 0);
}

static void trimmed(const tk_renderer *r, tk_rendered *out, const tk_message *m)
{
	const char *c = m->content;
	size_t len = m->content_len;
	render_trim(&c, &len);
	rb_text(r, out, c, len, m->train);
}

/* The system turn; returns the messages it used. */
static size_t system_turn(const tk_renderer *r, tk_rendered *out, const tk_message *m,
			  size_t n, const cJSON *tools)
{
	size_t used = n && m[0].role == TK_ROLE_SYSTEM;
	header(r, out, "system");
	if (tools)
		rb_str(r, out, "Environment: ipython\n", 0);
	rb_str(r, out, "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n", 0);
	if (used)
		trimmed(r, out, &m[0]);
	rb_special(r, out, r->special[EOT], used && m[0].train);
	return used;
}

/* The first user message with the tool list before its content. */
static void tools_turn(const tk_renderer *r, tk_rendered *out, const tk_message *user,
		       const cJSON *tools)
{
	header(r, out, "user");
	rb_str(r, out, "Given the following functions, please respond with a JSON for a "
	       "function call with its proper arguments that best answers the given "
	       "prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": "
	       "dictionary of argument name and its value}.Do not use variables.\n\n", 0);
	const cJSON *t;
	cJSON_ArrayForEach(t, tools) {
		render_json(r, out, t, 4, 0);
		rb_str(r, out, "\n\n", 0);
	}
	trimmed(r, out, user);
	rb_special(r, out, r->special[EOT], user->train);
}

static void call_turn(const tk_renderer *r, tk_rendered *out, const tk_message *m)
{
	const char *name;
	const cJSON *args;
	render_tool_call(m, 0, &name, &args);
	header(r, out, "assistant");
	rb_str(r, out, "{\"name\": \"", m->train);
	rb_str(r, out, name, m->train);
	rb_str(r, out, "\", \"parameters\": ", m->train);
	render_json(r, out, args, 0, m->train);
	rb_str(r, out, "}", m->train);
	rb_special(r, out, r->special[EOT], m->train);
}

static void tool_turn(const tk_renderer *r, tk_rendered *out, const tk_message *m)
{
	cJSON text = {0};
	text.type = cJSON_String;
	text.valuestring = (char *)m->content;
	header(r, out, "ipython");
	render_json(r, out, &text, 0, 0);
	rb_special(r, out, r->special[EOT], 0);
}

static void llama31_render(const tk_renderer *r, tk_rendered *out, const tk_message *m,
			   size_t n, const cJSON *tools, unsigned flags)
{
	rb_special(r, out, r->special[BEGIN], 0);
	size_t i = system_turn(r, out, m, n, tools);
	if (tools && i < n)
		tools_turn(r, out, &m[i++], tools);
	for (; i < n; i++) {
		if (m[i].role == TK_ROLE_TOOL) {
			tool_turn(r, out, &m[i]);
		} else if (m[i].n_tool_calls) {
			call_turn(r, out, &m[i]);
		} else {
			header(r, out, tk_role_name(m[i].role));
			trimmed(r, out, &m[i]);
			rb_special(r, out, r->special[EOT], m[i].train);
		}
	}
	if (flags & TK_RENDER_GENERATION_PROMPT)
		header(r, out, "assistant");
}

const struct render_format render_llama31 = {
	.name = "llama3.1", .open = render_llama3_open, .check = llama31_check,
	.render = llama31_render, .tool_form = RENDER_TOOLS_LLAMA,
};
