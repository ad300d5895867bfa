/* What the chat formats share inside lib/: the renderer object, the table
 * of formats, and the builder that turns a template's string, written as
 * special tokens and text runs, into ids and weights.  Not installed. */
#ifndef RENDER_IMPL_H
#define RENDER_IMPL_H

#include "tk_error.h"
#include "tk_render.h"

#define RENDER_MAX_SPECIALS 8
#define RENDER_MAX_STOPS 4

struct render_format;

struct tk_renderer {
	const struct render_format *format;
	const char *name;              /* the name it was opened by */
	const tk_tokenizer *tok;
	int32_t special[RENDER_MAX_SPECIALS]; /* the format's tokens, its own order */
	char *default_system;          /* or NULL */
	int32_t stop_ids[RENDER_MAX_STOPS];
	size_t n_stop_ids;
	char *stop_strings[RENDER_MAX_STOPS];
	size_t n_stop_strings;
	int no_thinking;               /* qwen3-nothink */
};

/* How a format writes tool calls, and so how its responses are parsed. */
enum render_tool_form {
	RENDER_TOOLS_NONE = 0,  /* no tools: refused */
	RENDER_TOOLS_QWEN = 1,  /* <tool_call>{"name", "arguments"}</tool_call> */
	RENDER_TOOLS_LLAMA = 2  /* the content is {"name", "parameters"} */
};

struct render_format {
	const char *name;
	/* Looks up the special tokens and stop tokens/strings in r->tok. */
	int (*open)(tk_renderer *r);
	/* Refuses, naming the message and field, what render cannot write
	 * (after the checks every format shares); NULL: nothing more. */
	int (*check)(const tk_renderer *r, const tk_message *msgs, size_t n,
		     const struct cJSON *tools);
	/* Writes msgs with rb_text / rb_special (errors stay in out->status);
	 * tools: the declaration, or NULL. */
	void (*render)(const tk_renderer *r, tk_rendered *out, const tk_message *msgs,
		       size_t n, const struct cJSON *tools, unsigned flags);
	/* Splits a response already cut at its stop into the message parts;
	 * NULL: the whole text is the content. */
	int (*parse)(const tk_renderer *r, const char *text, size_t len,
		     tk_response *out);
	int tool_form;          /* enum render_tool_form */
	/* qwen3: a call's "arguments" string is written as it is, so a parsed
	 * response keeps the sampled arguments text */
	int raw_string_arguments;
};

extern const struct render_format render_chatml, render_llama3, render_llama31,
	render_qwen3, render_role_colon;

/* ---- builder (render_build.c) ------------------------------------------ */

void rb_begin(tk_rendered *out);
/* Appends text to the template's string; trained: its bytes are trained. */
void rb_text(const tk_renderer *r, tk_rendered *out, const char *s,
	     size_t len, int trained);
void rb_str(const tk_renderer *r, tk_rendered *out, const char *s, int trained);
/* Appends a special token by id (its text goes to the string). */
void rb_special(const tk_renderer *r, tk_rendered *out, int32_t id,
		int trained);
/* Encodes what is pending and applies the record-wide rules. */
int rb_end(const tk_renderer *r, tk_rendered *out, unsigned flags);

/* ---- shared helpers (render.c) ----------------------------------------- */

/* The id of a token spelled exactly so, or TK_ECONFIG naming the renderer
 * that needs it. */
int render_need_token(tk_renderer *r, const char *text, int32_t *id);
/* Adds a stop token (and its text as a stop string); ignores -1 and
 * duplicates. */
void render_add_stop_token(tk_renderer *r, int32_t id);
int render_add_stop_string(tk_renderer *r, const char *s);

/* Jinja's trim (Python's str.strip()) of s[0..n) (render_llama3.c). */
void render_trim(const char **s, size_t *n);
/* The Llama 3 tokens in r->special (BEGIN, START_HEADER, END_HEADER, EOT)
 * and its stops. */
int render_llama3_open(tk_renderer *r);

/* Byte-string search within s[0..len). */
const char *render_find(const char *s, size_t len, const char *needle);

/* ---- JSON as Python writes it (render_json.c) ---------------------------- */

typedef struct render_buf { char *s; size_t n, cap; int failed; } render_buf;
int render_buf_put(render_buf *b, const char *s, size_t n);
int render_buf_str(render_buf *b, const char *s);
void render_buf_free(render_buf *b);
/* Appends v as json.dumps(v, ensure_ascii=False, indent=indent or None). */
int render_json_dumps(render_buf *b, const struct cJSON *v, int indent);
/* Keeps the literal of each number of root (parsed from text) for dumps. */
int render_json_keep_numbers(struct cJSON *root, const char *text, size_t len);

/* ---- tools (render_tools.c) ------------------------------------------------ */

/* The name and arguments of call k of m (its "function" object's, or its
 * own when it has none; tk_chat_parse checked them). */
void render_tool_call(const tk_message *m, size_t k, const char **name,
		      const struct cJSON **arguments);
/* Writes text, with the tool and thinking tags in it (<tool_call>,
 * </tool_call>, <tool_response>, </tool_response>, <think>, </think>) as
 * their tokens when the tokenizer has them as tokens of their own. */
void render_markup(const tk_renderer *r, tk_rendered *out, const char *text,
		   int trained);
/* Writes v as json.dumps does (indent 0: one line). */
void render_json(const tk_renderer *r, tk_rendered *out, const struct cJSON *v,
		 int indent, int trained);
/* Qwen's tool list, from "# Tools" to "</tool_call>" before <|im_end|>. */
void render_qwen_tools(const tk_renderer *r, tk_rendered *out,
		       const struct cJSON *tools);
/* "\n<tool_call>\n{\"name\": .., \"arguments\": ..}\n</tool_call>" for
 * call k of m (its leading newline only when newline is set); arguments
 * as the template writes them: a string as it is when raw_strings, else
 * through json.dumps. */
void render_qwen_call(const tk_renderer *r, tk_rendered *out, const tk_message *m,
		      size_t k, int newline, int raw_strings);
/* The <tool_response> blocks of a run of tool messages m[i..], merged in
 * one user turn as Qwen's templates do; returns the index after the run. */
size_t render_qwen_responses(const tk_renderer *r, tk_rendered *out, int32_t im_start,
			     int32_t im_end, const tk_message *m, size_t i, size_t n);
/* Parses the tool calls out of a response text into out (content and
 * tool_calls_json; text must be out->text). */
int render_parse_tool_calls(const tk_renderer *r, tk_response *out);

#endif
