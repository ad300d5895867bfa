/* ChatML (SmolLM2, Qwen2.5, the tiny test tokenizer):
 *
 *   <|im_start|>system\nYou are ...<|im_end|>\n      (only with a default
 *   <|im_start|>user\nHi<|im_end|>\n                  system prompt and no
 *   <|im_start|>assistant\nHello<|im_end|>\n          system message)
 *
 * Tools in Qwen2.5's form, the common ChatML tool-calling form: the tool
 * list after the system prompt ("S\n\n# Tools ..."), an assistant's calls
 * as "\n<tool_call>\n{"name": N, "arguments": A}\n</tool_call>" after its
 * content (A through json.dumps, a string too, as the template does), and
 * a run of tool messages as <tool_response> blocks in one user turn.
 *
 * Trained: the content (and calls) and <|im_end|>; not the header, not the
 * "\n" after the end of turn (the model stops at <|im_end|>). */
#include "render_impl.h"

#include <cjson/cJSON.h>
#include <string.h>

enum { IM_START, IM_END };

static int chatml_open(tk_renderer *r)
{
	int rc = render_need_token(r, "<|im_start|>", &r->special[IM_START]);
	if (!rc)
		rc = render_need_token(r, "<|im_end|>", &r->special[IM_END]);
	if (rc)
		return rc;
	render_add_stop_token(r, r->special[IM_END]);
	render_add_stop_token(r, tk_tokenizer_eos(r->tok));
	return TK_OK;
}

static void turn(const tk_renderer *r, tk_rendered *out, const char *role,
		 const char *content, size_t len, int trained)
{
	rb_special(r, out, r->special[IM_START], 0);
	rb_str(r, out, role, 0);
	rb_str(r, out, "\n", 0);
	rb_text(r, out, content, len, trained);
	rb_special(r, out, r->special[IM_END], trained);
	rb_str(r, out, "\n", 0);
}

/* An assistant message with tool calls. */
static void assistant_calls(const tk_renderer *r, tk_rendered *out, const tk_message *m)
{
	rb_special(r, out, r->special[IM_START], 0);
	rb_str(r, out, "assistant\n", 0);
	rb_text(r, out, m->content, m->content_len, m->train);
	for (size_t k = 0; k < m->n_tool_calls; k++)
		render_qwen_call(r, out, m, k, k > 0 || m->content_len > 0, 0);
	rb_special(r, out, r->special[IM_END], m->train);
	rb_str(r, out, "\n", 0);
}

/* The system turn with the tool list; returns the messages it used. */
static size_t tools_turn(const tk_renderer *r, tk_rendered *out, const tk_message *m,
			 size_t n, const cJSON *tools)
{
	int own = n && m[0].role == TK_ROLE_SYSTEM, t = own && m[0].train;
	const char *sys = own ? m[0].content : r->default_system;
	rb_special(r, out, r->special[IM_START], 0);
	rb_str(r, out, "system\n", 0);
	if (sys) {
		rb_text(r, out, sys, own ? m[0].content_len : strlen(sys), t);
		rb_str(r, out, "\n\n", 0);
	}
	render_qwen_tools(r, out, tools);
	rb_special(r, out, r->special[IM_END], t);
	rb_str(r, out, "\n", 0);
	return (size_t)own;
}

static void chatml_render(const tk_renderer *r, tk_rendered *out, const tk_message *m,
			  size_t n, const cJSON *tools, unsigned flags)
{
	size_t i = 0;
	if (tools)
		i = tools_turn(r, out, m, n, tools);
	else if (n && m[0].role != TK_ROLE_SYSTEM && r->default_system)
		turn(r, out, "system", r->default_system, strlen(r->default_system), 0);
	while (i < n) {
		if (m[i].role == TK_ROLE_TOOL) {
			i = render_qwen_responses(r, out, r->special[IM_START], r->special[IM_END],
						  m, i, n);
			continue;
		}
		if (m[i].n_tool_calls)
			assistant_calls(r, out, &m[i]);
		else
			turn(r, out, tk_role_name(m[i].role), m[i].content, m[i].content_len,
			     m[i].train);
		i++;
	}
	if (flags & TK_RENDER_GENERATION_PROMPT) {
		rb_special(r, out, r->special[IM_START], 0);
		rb_str(r, out, "assistant\n", 0);
	}
}

const struct render_format render_chatml = {
	.name = "chatml", .open = chatml_open, .render = chatml_render,
	.tool_form = RENDER_TOOLS_QWEN,
};
