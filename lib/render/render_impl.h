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

struct render_format {
	const char *name;
	/* Looks up the special tokens and stop tokens/strings in r->tok. */
	int (*open)(tk_renderer *r);
	/* Writes msgs with rb_text / rb_special (errors stay in out->status). */
	void (*render)(const tk_renderer *r, tk_rendered *out,
		       const tk_message *msgs, size_t n, unsigned flags);
	/* Splits a response already cut at its stop into the message parts;
	 * NULL: the whole text is the content. */
	int (*parse)(const tk_renderer *r, const char *text, size_t len,
		     tk_response *out);
};

extern const struct render_format render_chatml, render_llama3, render_qwen3,
	render_role_colon;

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

/* Byte-string search within s[0..len). */
const char *render_find(const char *s, size_t len, const char *needle);

#endif
