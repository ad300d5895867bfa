/* The entry points of rendering, after refusing what the renderer cannot
 * express: a tool declaration, tool_calls or a tool message in a format
 * without tools, and each format's own limits.  Nothing is dropped: a
 * message that cannot be written as it is stops the line, naming the
 * message and field. */
#include "render_impl.h"
#include "tk_error.h"

#include <cjson/cJSON.h>

static int check(const tk_renderer *r, const tk_message *m, size_t n, const cJSON *tools)
{
	const char *name = r->name;
	int tools_ok = r->format->tool_form != RENDER_TOOLS_NONE;
	if (tools && !tools_ok)
		return tk_fail(TK_EDATA, "\"tools\": renderer %s has no tool format (chatml, "
			       "qwen3 and llama3.1 have one)", name);
	for (size_t i = 0; i < n && !tools_ok; i++) {
		if (m[i].role == TK_ROLE_TOOL)
			return tk_fail(TK_EDATA, "message %zu: role \"tool\": renderer %s has no "
				       "tool format (chatml, qwen3 and llama3.1 have one)", i + 1, name);
		if (m[i].n_tool_calls)
			return tk_fail(TK_EDATA, "message %zu: \"tool_calls\": renderer %s has no "
				       "tool-call format (chatml, qwen3 and llama3.1 have one)",
				       i + 1, name);
	}
	for (size_t i = 0; i < n; i++)
		if (m[i].n_tool_calls && m[i].role != TK_ROLE_ASSISTANT)
			return tk_fail(TK_EDATA, "message %zu: \"tool_calls\" on a %s message "
				       "(only the assistant calls tools)", i + 1, tk_role_name(m[i].role));
	return r->format->check ? r->format->check(r, m, n, tools) : TK_OK;
}

static int render(const tk_renderer *r, const tk_message *msgs, size_t n, const cJSON *tools,
		  unsigned flags, tk_rendered *out)
{
	rb_begin(out);
	int rc = check(r, msgs, n, tools);
	if (rc)
		return rc;
	r->format->render(r, out, msgs, n, tools, flags);
	return rb_end(r, out, flags);
}

int tk_render(const tk_renderer *r, const tk_message *msgs, size_t n, unsigned flags,
	      tk_rendered *out)
{
	return render(r, msgs, n, NULL, flags, out);
}

int tk_render_chat(const tk_renderer *r, const tk_chat *c, unsigned flags, tk_rendered *out)
{
	return render(r, c->msgs, c->n, c->tools, flags, out);
}
