/* Qwen3 (its published template):
 *
 *   <|im_start|>system\nS<|im_end|>\n            (when the first message is system)
 *   <|im_start|>user\nQ<|im_end|>\n
 *   <|im_start|>assistant\n<think>\nR\n</think>\n\nA<|im_end|>\n
 *
 * An assistant message's reasoning is its reasoning_content, or else what
 * its content holds before "</think>".  The thinking block is written only
 * for assistant messages after the last user message, and there only for
 * the last message or one with reasoning: earlier turns lose their
 * thinking, as the template does.  Trained: everything after the header
 * "<|im_start|>assistant\n" up to and including <|im_end|>.  qwen3-nothink
 * differs only in the generation prompt, which closes an empty thinking
 * block (enable_thinking=false).
 *
 * With tools: the system turn holds "S\n\n" (when the first message is
 * system) and the tool list; an assistant's calls follow its content as
 * <tool_call> blocks ("\n" between), a call's "arguments" string written
 * as it is; a run of tool messages becomes one user turn of
 * <tool_response> blocks. */
#include "render_impl.h"
#include "tk_error.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

enum { IM_START, IM_END, THINK, END_THINK };

static int qwen3_open(tk_renderer *r)
{
	int rc = render_need_token(r, "<|im_start|>", &r->special[IM_START]);
	if (!rc)
		rc = render_need_token(r, "<|im_end|>", &r->special[IM_END]);
	if (rc)
		return rc;
	r->special[THINK] = tk_tokenizer_find(r->tok, "<think>", 7);
	r->special[END_THINK] = tk_tokenizer_find(r->tok, "</think>", 8);
	render_add_stop_token(r, r->special[IM_END]);
	render_add_stop_token(r, tk_tokenizer_eos(r->tok));
	return TK_OK;
}

/* A string view and the Python string methods the template uses. */
typedef struct { const char *s; size_t n; } view;

static view lstrip_nl(view v)
{
	while (v.n && v.s[0] == '\n')
		v.s++, v.n--;
	return v;
}

static view rstrip_nl(view v)
{
	while (v.n && v.s[v.n - 1] == '\n')
		v.n--;
	return v;
}

static const char *find_last(view v, const char *needle)
{
	const char *last = NULL, *p = v.s;
	size_t k = strlen(needle);
	while ((p = render_find(p, (size_t)(v.s + v.n - p), needle))) {
		last = p;
		p += k;
	}
	return last;
}

/* content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')
 * and content.split('</think>')[-1].lstrip('\n'). */
static void split_thinking(view content, view *reasoning, view *answer)
{
	const char *first_end = render_find(content.s, content.n, "</think>");
	const char *last_end = find_last(content, "</think>");
	view before = {content.s, (size_t)(first_end - content.s)};
	before = rstrip_nl(before);
	const char *open = find_last(before, "<think>");
	if (open)
		before = (view){open + 7, (size_t)(before.s + before.n - open - 7)};
	*reasoning = lstrip_nl(before);
	const char *after = last_end + 8;
	*answer = lstrip_nl((view){after, (size_t)(content.s + content.n - after)});
}

/* Index of the last user message (the template's last_query_index). */
static size_t last_query(const tk_message *m, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		if (m[i].role != TK_ROLE_USER)
			continue;
		view c = {m[i].content, m[i].content_len};
		int tool = c.n >= 31 && !strncmp(c.s, "<tool_response>", 15) &&
			   !memcmp(c.s + c.n - 16, "</tool_response>", 16);
		if (!tool)
			return i;
	}
	return n ? n - 1 : 0;
}

/* after_query: the message comes after the last user message; last: it
 * ends the conversation. */
/* <think> or </think> by its id when the tokenizer has it as a token of
 * its own (Qwen3 does, as an added token; a GGUF may call it special, and
 * then encoding the text would not find it), else as text. */
static void tag(const tk_renderer *r, tk_rendered *out, int which, const char *text,
		int trained)
{
	int32_t id = r->special[which];
	if (id >= 0 && tk_tokenizer_token_type(r->tok, id) != TK_TOKEN_NORMAL)
		rb_special(r, out, id, trained);
	else
		rb_str(r, out, text, trained);
}

static void assistant(const tk_renderer *r, tk_rendered *out, const tk_message *m,
		      int after_query, int last)
{
	view content = {m->content, m->content_len}, reasoning = {"", 0};
	if (m->reasoning)
		reasoning = (view){m->reasoning, m->reasoning_len};
	else if (render_find(content.s, content.n, "</think>"))
		split_thinking(content, &reasoning, &content);
	int t = m->train, has_content = content.n > 0;
	rb_special(r, out, r->special[IM_START], 0);
	rb_str(r, out, "assistant\n", 0);
	if (after_query && (last || reasoning.n)) {
		while (reasoning.n && reasoning.s[0] == '\n')
			reasoning.s++, reasoning.n--;
		reasoning = rstrip_nl(reasoning);
		tag(r, out, THINK, "<think>", t);
		rb_str(r, out, "\n", t);
		rb_text(r, out, reasoning.s, reasoning.n, t);
		rb_str(r, out, "\n", t);
		tag(r, out, END_THINK, "</think>", t);
		rb_str(r, out, "\n\n", t);
		content = lstrip_nl(content);
	}
	rb_text(r, out, content.s, content.n, t);
	for (size_t k = 0; k < m->n_tool_calls; k++)
		render_qwen_call(r, out, m, k, k > 0 || has_content, 1);
	rb_special(r, out, r->special[IM_END], t);
	rb_str(r, out, "\n", 0);
}

static void plain_turn(const tk_renderer *r, tk_rendered *out, const tk_message *m)
{
	rb_special(r, out, r->special[IM_START], 0);
	rb_str(r, out, tk_role_name(m->role), 0);
	rb_str(r, out, "\n", 0);
	rb_text(r, out, m->content, m->content_len, m->train);
	rb_special(r, out, r->special[IM_END], m->train);
	rb_str(r, out, "\n", 0);
}

/* The system turn with the tool list; returns the messages it used. */
static size_t tools_turn(const tk_renderer *r, tk_rendered *out, const tk_message *m,
			 size_t n, const cJSON *tools)
{
	int own = n && m[0].role == TK_ROLE_SYSTEM, t = own && m[0].train;
	rb_special(r, out, r->special[IM_START], 0);
	rb_str(r, out, "system\n", 0);
	if (own) {
		rb_text(r, out, m[0].content, m[0].content_len, t);
		rb_str(r, out, "\n\n", 0);
	}
	render_qwen_tools(r, out, tools);
	rb_special(r, out, r->special[IM_END], t);
	rb_str(r, out, "\n", 0);
	return (size_t)own;
}

static void qwen3_render(const tk_renderer *r, tk_rendered *out, const tk_message *m,
			 size_t n, const cJSON *tools, unsigned flags)
{
	size_t query = last_query(m, n);
	size_t i = tools ? tools_turn(r, out, m, n, tools) : 0;
	while (i < n) {
		if (m[i].role == TK_ROLE_TOOL) {
			i = render_qwen_responses(r, out, r->special[IM_START], r->special[IM_END],
						  m, i, n);
			continue;
		}
		if (m[i].role != TK_ROLE_ASSISTANT)
			plain_turn(r, out, &m[i]);
		else
			assistant(r, out, &m[i], i > query, i + 1 == n);
		i++;
	}
	if (flags & TK_RENDER_GENERATION_PROMPT) {
		rb_special(r, out, r->special[IM_START], 0);
		rb_str(r, out, "assistant\n", 0);
		if (r->no_thinking) {
			tag(r, out, THINK, "<think>", 0);
			rb_str(r, out, "\n\n", 0);
			tag(r, out, END_THINK, "</think>", 0);
			rb_str(r, out, "\n\n", 0);
		}
	}
}

static int copy(char **dst, const char *s, size_t n)
{
	*dst = tk_malloc(n + 1);
	if (!*dst)
		return TK_EOSERR;
	memcpy(*dst, s, n);
	(*dst)[n] = '\0';
	return TK_OK;
}

static int qwen3_parse(const tk_renderer *r, const char *text, size_t len,
		       tk_response *out)
{
	(void)r;
	view content = {text, len}, reasoning = {NULL, 0};
	if (render_find(text, len, "</think>"))
		split_thinking(content, &reasoning, &content);
	int rc = copy(&out->content, content.s, content.n);
	if (!rc && reasoning.s)
		rc = copy(&out->reasoning, reasoning.s, reasoning.n);
	return rc;
}

const struct render_format render_qwen3 = {
	.name = "qwen3", .open = qwen3_open, .render = qwen3_render, .parse = qwen3_parse,
	.tool_form = RENDER_TOOLS_QWEN, .raw_string_arguments = 1,
};
