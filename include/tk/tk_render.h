/* Chat renderers: a conversation to the token ids and per-token loss
 * weights the model's own chat template gives, generation prompts, stop
 * tokens, and the way back from a sampled response to a message.
 *
 *   tk_renderer *r;
 *   tk_renderer_detect(&r, tok);             // or tk_renderer_open(&r, "chatml", tok)
 *   tk_chat chat = {0};
 *   tk_chat_parse(&chat, line, len);         // {"messages":[...]}
 *   tk_render_mark(chat.msgs, chat.n, TK_TRAIN_LAST_ASSISTANT);
 *   tk_rendered out = {0};
 *   tk_render(r, chat.msgs, chat.n, 0, &out);   // out.ids, out.weights, out.text
 *
 * How the ids are made.  A renderer writes the template's string as a row
 * of special tokens (emitted as ids) and text runs.  The text between two
 * special tokens is encoded in one piece, without recognising special
 * tokens written in it: the ids equal those of transformers'
 * apply_chat_template(tokenize=True) for every conversation whose content
 * does not spell a special token, and a message that does spell one
 * ("<|im_end|>") cannot forge a turn boundary (transformers does the same
 * with sanitize_control_tokens=True).  A token is trained (weight 1) when
 * its bytes overlap a trained span: the assistant's content and its
 * end-of-turn token, never the role header; this is the rule of
 * transformers' return_assistant_tokens_mask.  The first token of a record
 * never has a weight: nothing predicts it. */
#ifndef TK_RENDER_H
#define TK_RENDER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tk_tks.h"
#include "tk_tokenizer.h"

enum tk_role {
	TK_ROLE_SYSTEM = 0, TK_ROLE_USER = 1, TK_ROLE_ASSISTANT = 2,
	TK_ROLE_TOOL = 3       /* a tool's result ("role": "tool") */
};

struct cJSON;

/* A message's own "trainable", which overrides the train-on mode for it;
 * zero (a zero-initialised message) is none. */
enum tk_trainable { TK_TRAINABLE_UNSET = 0, TK_TRAINABLE_YES = 1, TK_TRAINABLE_NO = 2 };

/* One message; the strings are not owned (a tk_chat owns them). */
typedef struct tk_message {
	int role;              /* enum tk_role */
	const char *content;
	size_t content_len;
	const char *reasoning; /* assistant's reasoning_content, or NULL */
	size_t reasoning_len;
	/* An assistant's "tool_calls" as parsed (a checked JSON array whose
	 * items are {"function": {"name": "..", "arguments": {..} or "text"}}
	 * or {"name": .., "arguments": ..}), or NULL; n_tool_calls items. */
	const struct cJSON *tool_calls;
	size_t n_tool_calls;
	int trainable;         /* the line's "trainable": enum tk_trainable */
	int train;             /* 1: weight this message's trained span */
} tk_message;

const char *tk_role_name(int role);      /* "user" */
int tk_role_parse(const char *name);     /* enum tk_role, or -1 */

/* ---- renderers --------------------------------------------------------- */

typedef struct tk_renderer tk_renderer;

/* The renderer names, NULL-terminated: chatml, llama3, llama3.1, qwen3,
 * qwen3-nothink (generation prompt with an empty thinking block),
 * role-colon.  Tools (a "tools" declaration, assistant tool_calls and tool
 * messages) render in chatml (Qwen2.5's tool form), qwen3 and llama3.1
 * (Llama 3.1's template: tools in the first user message, one call per
 * assistant message, results in "ipython" turns); llama3 (Llama 3.0's
 * template) and role-colon refuse them. */
extern const char *const tk_renderer_names[];

/* Opens the named renderer for tok.  TK_EUSAGE for an unknown name,
 * TK_ECONFIG when tok lacks the renderer's special tokens. */
int tk_renderer_open(tk_renderer **out, const char *name,
		     const tk_tokenizer *tok);
/* Picks the renderer from tok's chat template (chatml with the template's
 * default system prompt, if any); TK_ECONFIG with a hint to name one when
 * there is no template or it is not one tk knows. */
int tk_renderer_detect(tk_renderer **out, const tk_tokenizer *tok);
/* The renderer name a chat template calls for, or NULL. */
const char *tk_renderer_name_for_template(const char *chat_template);
void tk_renderer_free(tk_renderer *r);  /* safe on NULL */

const char *tk_renderer_name(const tk_renderer *r);
const tk_tokenizer *tk_renderer_tokenizer(const tk_renderer *r);
/* The system prompt the template adds when a conversation has none, or
 * NULL (SmolLM2: "You are a helpful AI assistant named SmolLM, ..."). */
const char *tk_renderer_default_system(const tk_renderer *r);
/* Sets (NULL: removes) that default system prompt; copies it. */
int tk_renderer_set_default_system(tk_renderer *r, const char *text);

/* Tokens and strings that end an assistant turn when sampling. */
size_t tk_renderer_stop_tokens(const tk_renderer *r, const int32_t **ids);
size_t tk_renderer_stop_strings(const tk_renderer *r,
				const char *const **strings);

/* ---- rendering --------------------------------------------------------- */

enum tk_train_on {
	TK_TRAIN_LAST_ASSISTANT = 0, /* the last assistant message */
	TK_TRAIN_ALL_ASSISTANT = 1,  /* every assistant message */
	TK_TRAIN_ALL = 2,            /* every token */
	TK_TRAIN_LAST_TURN = 3       /* the assistant messages after the last
	                              * user message (tool round trips included) */
};
/* "last-assistant" | "all-assistant" | "all" | "last-assistant-turn" ->
 * enum, or -1. */
int tk_train_on_parse(const char *name);
const char *tk_train_on_name(int train_on);

/* Sets msgs[i].train as train_on says, then as each message's trainable
 * (when set) says.  TK_EDATA when no message would be trained, except
 * for TK_TRAIN_ALL; when a tool message is marked trainable (a tool's
 * result is an observation); and for a "trainable": false with
 * TK_TRAIN_ALL, which weights every token. */
int tk_render_mark(tk_message *msgs, size_t n, int train_on);

enum tk_render_flags {
	TK_RENDER_GENERATION_PROMPT = 1u << 0, /* append the assistant header; no weights */
	TK_RENDER_TRAIN_ALL = 1u << 1          /* weight every token */
};

/* A rendered conversation; zero-initialise, reuse across calls (tk_render
 * overwrites it), free with tk_rendered_free. */
typedef struct tk_rendered {
	tk_tokens ids;
	float *weights;        /* (ids.n) */
	size_t weights_cap;
	char *text;            /* the template's string, NUL-terminated */
	size_t text_len, text_cap;
	/* scratch of the renderer: the text since the last special token */
	char *chunk;
	size_t chunk_len, chunk_cap;
	size_t *spans;         /* trained byte spans of chunk, [start, end) pairs */
	size_t n_spans, spans_cap;
	int status;            /* first error while rendering (TK_OK) */
} tk_rendered;

void tk_rendered_free(tk_rendered *out);

/* Renders msgs (their train flags set) with r, without tools.  TK_EDATA,
 * naming the message and field, for what the renderer cannot express
 * (tool_calls or a tool message in a format without tools; for llama3.1
 * more than one call in a message, or content beside a call). */
int tk_render(const tk_renderer *r, const tk_message *msgs, size_t n,
	      unsigned flags, tk_rendered *out);

struct tk_chat;
/* The same for c's messages with c's "tools" declaration (rendered in the
 * system turn, or llama3.1's first user turn, as the template does). */
int tk_render_chat(const tk_renderer *r, const struct tk_chat *c, unsigned flags,
		   tk_rendered *out);

/* A sampled response parsed back into an assistant message. */
typedef struct tk_response {
	char *content;         /* malloc'd, NUL-terminated; tool-call markup removed */
	char *reasoning;       /* qwen3 thinking, or NULL */
	/* The tool calls, a JSON array in the OpenAI form
	 * [{"type":"function","function":{"name":"..","arguments":{..}}}], or
	 * NULL when none.  A call that does not parse (bad JSON, no "name", no
	 * closing </tool_call>) is kept as
	 * {"type":"function","raw":"<its text>","error":"<why>"}. */
	char *tool_calls_json;
	/* The text after any thinking block with its tool-call markup, as
	 * sampled: what tk_response_message_json gives back when a call does
	 * not parse. */
	char *text;
	int complete;          /* 1 when a stop token or string ended it */
	const tk_renderer *renderer; /* the renderer that parsed it */
} tk_response;

/* Parses ids sampled after a generation prompt: cuts at the first stop
 * token or stop string, splits off a thinking block where the format
 * has one, and parses tool calls: <tool_call>{"name": .., "arguments":
 * ..}</tool_call> blocks (chatml, qwen3), or a content that is one JSON
 * object {"name": .., "parameters": {..}} (llama3.1).  tk_response_free
 * frees the strings. */
int tk_render_parse_response(const tk_renderer *r, const int32_t *ids,
			     size_t n, tk_response *out);
/* The same from text already decoded (special tokens kept in it). */
int tk_render_parse_text(const tk_renderer *r, const char *text, size_t len,
			 tk_response *out);
void tk_response_free(tk_response *resp);

/* The assistant message of resp as a malloc'd JSON object:
 * {"role":"assistant","content":"..","reasoning_content":".." (when
 * present),"tool_calls":[..] (when present)}: appended to the
 * conversation and rendered again, it gives the sampled tokens back where
 * the template allows (qwen3 writes a call's "arguments" string as it is,
 * so its arguments stay the sampled text; chatml and llama3.1 write
 * arguments through Python's json.dumps, which gives the same text when
 * the model wrote it so).  A response with a call that does not parse
 * goes back as its text, markup included, without tool_calls. */
int tk_response_message_json(const tk_response *resp, char **json);

/* ---- input: JSON Lines ------------------------------------------------- */

/* One parsed input line.  Zero-initialise, reuse across lines (each parse
 * overwrites it), free with tk_chat_free. */
typedef struct tk_chat {
	void *json;            /* the parsed line (cJSON); owns the strings */
	const struct cJSON *tools; /* the line's "tools" array, or NULL (none, or []) */
	tk_message *msgs;      /* (n) the conversation; pairs: prompt + chosen */
	size_t n, cap;
	tk_message *alt;       /* (n_alt) pairs: prompt + rejected */
	size_t n_alt, alt_cap;
	char *meta;            /* the line's other fields as a JSON object, or NULL */
	const char *text;      /* --text lines: the text (into json or the line) */
	size_t text_len;
	char *owned;           /* a string msgs point into (tk_chat_judge's question) */
} tk_chat;

/* {"messages":[{"role":..,"content":..},..], "tools":[..], ...}: fills
 * msgs (train flags 0), tools and meta.  A message may have "tool_calls"
 * (assistant), "tool_call_id" and "name" (tool), "reasoning_content"
 * (assistant) and "trainable" (true or false, any role but tool).
 * TK_EDATA naming the message and field that is wrong (malformed JSON, no
 * "messages", unknown role, content not a string, a tool call without a
 * name, tool_calls on a message that is not the assistant's...). */
int tk_chat_parse(tk_chat *c, const char *line, size_t len);
/* {"prompt":[msgs]|"text", "chosen":msg|[msgs]|"text", "rejected":...}:
 * msgs = prompt + chosen, alt = prompt + rejected, the chosen and rejected
 * assistant messages marked to train. */
int tk_chat_parse_pair(tk_chat *c, const char *line, size_t len);
/* A parsed pair (tk_chat_parse_pair) made the generative judge's training
 * chat: a user message asking which of two replies to the pair's prompt is
 * better (tk_judge_question; the chosen one is reply A when chosen_first)
 * and the assistant's answer, "A" or "B", trained. */
int tk_chat_judge(tk_chat *c, int chosen_first);
/* The judge's question: the conversation (its messages as "User: ..."
 * lines) then reply A and reply B; malloc'd, NULL when out of memory.
 * The _json form reads the conversation from a JSON array of messages
 * (TK_EDATA when it is not one) into *out. */
char *tk_judge_question(const tk_message *conv, size_t n, const char *a, size_t a_len,
			const char *b, size_t b_len);
int tk_judge_question_json(const char *messages_json, const char *a, const char *b, char **out);
/* {"text":"..."}: sets text/text_len and meta. */
int tk_chat_parse_text(tk_chat *c, const char *line, size_t len);
void tk_chat_free(tk_chat *c);

/* ---- prompts to sample from (render_prompts.c) ------------------------- */

/* One prompt: its tokens, and the id and other fields of its input. */
typedef struct tk_prompt {
	tk_tokens ids;
	char *id_json;         /* the input's "id" value as JSON, or NULL (then
	                        * its index stands for it) */
	char *meta_json;       /* the input's other fields as a JSON object, or NULL */
	int chat;              /* rendered by a chat renderer: parse responses with it */
	uint64_t line;         /* its line (JSON Lines) or record (.tks), from 1 */
} tk_prompt;

/* The prompts of a file, in input order. */
typedef struct tk_prompts {
	tk_prompt *v;          /* (n) */
	size_t n, cap;
} tk_prompts;

/* One JSON Lines prompt (len bytes, its line end may be included):
 *   {"messages": [...], ...}  the generation prompt r renders; a final
 *       assistant message is left out and becomes meta's "reference"
 *       (unless the meta has one), as tk-render --prompt does;
 *   {"prompt": "text", ...}   the text encoded with tok as it is (special
 *       tokens written in it recognised, bos when tok adds one).
 * "id" goes to id_json, the other fields to meta_json.  TK_EDATA naming
 * what is wrong; TK_ECONFIG "messages need a chat renderer" for messages
 * when r is NULL.  p is overwritten; free it with tk_prompt_free, whatever
 * the result. */
int tk_prompt_parse(tk_prompt *p, const char *line, size_t len, const tk_tokenizer *tok,
		    const tk_renderer *r);
void tk_prompt_free(tk_prompt *p);

/* Reads every prompt of path ("-": stdin): JSON Lines as tk_prompt_parse
 * reads them (blank lines skipped), or a .tks of prompts (tk-render
 * --prompt, known by zstd's magic), made with tok's tokenizer; a record's
 * meta gives its id and fields, and a stream with a "renderer" in its
 * metadata holds chat prompts.  A .tks on stdin is copied to a temporary
 * file first (removed after), which its messages name.  Errors name the
 * input and line ("PATH:LINE: message") or record; TK_EDATA "NAME: no
 * prompts in the input" (NAME "stdin" for "-") when there are none.  ps
 * is overwritten; free it with tk_prompts_free, whatever the result. */
int tk_prompts_read(tk_prompts *ps, const char *path, const tk_tokenizer *tok,
		    const tk_renderer *r);
void tk_prompts_free(tk_prompts *ps);

/* ---- showing records (render_show.c) ----------------------------------- */

/* Tokens with a non-zero weight and the sum of the weights. */
void tk_render_record_stats(const tk_record *rec, size_t *trained, double *sum);
/* A "# record N: ..." line (counts, group, pair role, meta), then the text
 * decoded with tok, trained spans between [[ and ]] (or in colour), then a
 * blank line.  tok NULL: the ids instead of the text. */
int tk_render_show_text(FILE *out, const tk_tokenizer *tok, const tk_record *rec,
			uint64_t index, int colour);
/* One JSON object on one line: record, n, trained, weight_sum, group,
 * pair_role, reward, meta, tokens, weights, logprobs and advantages (when
 * the record has them), top_ids with top_logprobs or top_weights (when it
 * has a top-K: a row a token, its filled slots only) and, with tok,
 * pieces (each token's own text) and text (the record decoded); invalid
 * UTF-8 shown as U+FFFD. */
int tk_render_show_json(FILE *out, const tk_tokenizer *tok, const tk_record *rec,
			uint64_t index);
/* The way back (tk-render --from-json): a record from such an object
 * (one JSON Lines line of len bytes).  "tokens" and "weights" are
 * required; "logprobs", "advantages" (n numbers, null as 0), "top_ids"
 * with "top_logprobs" or "top_weights" (n rows, null or [] for none,
 * padded with id -1 to the widest), "group", "pair_role", "reward" (null:
 * none) and "meta" are read when present; the rest is ignored.  The
 * record's arrays are its own (tk_render_record_json_free); TK_EDATA with
 * a message naming the field. */
int tk_render_record_from_json(const char *text, size_t len, tk_record *rec);
void tk_render_record_json_free(tk_record *rec);
/* Every line of in (JSON Lines; blank lines skipped) through
 * tk_render_record_from_json into w; *records counts them.  The first bad
 * line stops it: TK_EDATA, "NAME:LINE: what". */
int tk_render_records_from_json(FILE *in, const char *name, tk_tks_writer *w,
				uint64_t *records);
/* Such a stream's metadata (malloc'd JSON; NULL when out of memory):
 * "tokenizer" and "vocab_size" when given (not NULL, not 0), "source",
 * "kind": "from-json". */
char *tk_render_records_meta(const char *tokenizer, size_t vocab_size, const char *source);

#endif
