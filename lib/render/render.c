/* Renderers by name, detection from a chat template, train marks, stop
 * tokens and the parsing of sampled responses.  The formats themselves are
 * in render_<format>.c. */
#include "render_impl.h"
#include "tk_error.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

const char *const tk_renderer_names[] = {
	"chatml", "llama3", "llama3.1", "qwen3", "qwen3-nothink", "role-colon", NULL
};

static const struct render_format *format_named(const char *name)
{
	if (!strcmp(name, "chatml"))
		return &render_chatml;
	if (!strcmp(name, "llama3"))
		return &render_llama3;
	if (!strcmp(name, "llama3.1"))
		return &render_llama31;
	if (!strcmp(name, "qwen3") || !strcmp(name, "qwen3-nothink"))
		return &render_qwen3;
	if (!strcmp(name, "role-colon"))
		return &render_role_colon;
	return NULL;
}

static const char *canonical_name(const char *name)
{
	for (size_t i = 0; tk_renderer_names[i]; i++)
		if (!strcmp(name, tk_renderer_names[i]))
			return tk_renderer_names[i];
	return NULL;
}

int tk_renderer_open(tk_renderer **out, const char *name, const tk_tokenizer *tok)
{
	*out = NULL;
	const struct render_format *f = format_named(name);
	if (!f)
		return tk_fail(TK_EUSAGE, "unknown renderer '%s' (known: chatml, llama3, "
			       "llama3.1, qwen3, qwen3-nothink, role-colon)", name);
	tk_renderer *r = tk_calloc(1, sizeof *r);
	if (!r)
		return TK_EOSERR;
	r->format = f;
	r->name = canonical_name(name);
	r->tok = tok;
	r->no_thinking = !strcmp(name, "qwen3-nothink");
	int rc = f->open(r);
	if (rc) {
		tk_renderer_free(r);
		return rc;
	}
	*out = r;
	return TK_OK;
}

void tk_renderer_free(tk_renderer *r)
{
	if (!r)
		return;
	free(r->default_system);
	for (size_t i = 0; i < r->n_stop_strings; i++)
		free(r->stop_strings[i]);
	free(r);
}

const char *tk_renderer_name(const tk_renderer *r) { return r->name; }
const tk_tokenizer *tk_renderer_tokenizer(const tk_renderer *r) { return r->tok; }
const char *tk_renderer_default_system(const tk_renderer *r) { return r->default_system; }

int tk_renderer_set_default_system(tk_renderer *r, const char *text)
{
	char *copy = NULL;
	if (text && !(copy = tk_strdup(text)))
		return TK_EOSERR;
	free(r->default_system);
	r->default_system = copy;
	return TK_OK;
}

size_t tk_renderer_stop_tokens(const tk_renderer *r, const int32_t **ids)
{
	*ids = r->stop_ids;
	return r->n_stop_ids;
}

size_t tk_renderer_stop_strings(const tk_renderer *r, const char *const **strings)
{
	*strings = (const char *const *)r->stop_strings;
	return r->n_stop_strings;
}

/* ---- helpers for the formats ------------------------------------------- */

int render_need_token(tk_renderer *r, const char *text, int32_t *id)
{
	*id = tk_tokenizer_find(r->tok, text, strlen(text));
	if (*id < 0)
		return tk_fail(TK_ECONFIG, "renderer %s needs the token %s, which this "
			       "tokenizer does not have (wrong renderer for the model?)",
			       r->name, text);
	return TK_OK;
}

int render_add_stop_string(tk_renderer *r, const char *s)
{
	for (size_t i = 0; i < r->n_stop_strings; i++)
		if (!strcmp(r->stop_strings[i], s))
			return TK_OK;
	if (r->n_stop_strings == RENDER_MAX_STOPS)
		return TK_OK;
	char *copy = tk_strdup(s);
	if (!copy)
		return TK_EOSERR;
	r->stop_strings[r->n_stop_strings++] = copy;
	return TK_OK;
}

void render_add_stop_token(tk_renderer *r, int32_t id)
{
	if (id < 0 || r->n_stop_ids == RENDER_MAX_STOPS)
		return;
	for (size_t i = 0; i < r->n_stop_ids; i++)
		if (r->stop_ids[i] == id)
			return;
	r->stop_ids[r->n_stop_ids++] = id;
	size_t len = 0;
	const char *piece = tk_tokenizer_piece(r->tok, id, &len);
	if (piece && len && tk_tokenizer_is_special(r->tok, id)) {
		char buf[256];
		if (len < sizeof buf) {
			memcpy(buf, piece, len);
			buf[len] = '\0';
			render_add_stop_string(r, buf);
		}
	}
}

const char *render_find(const char *s, size_t len, const char *needle)
{
	size_t k = strlen(needle);
	if (k == 0)
		return s;
	for (size_t i = 0; i + k <= len; i++)
		if (s[i] == needle[0] && !memcmp(s + i, needle, k))
			return s + i;
	return NULL;
}

/* ---- roles and train marks --------------------------------------------- */

static const char *const role_names[] = {"system", "user", "assistant", "tool"};

const char *tk_role_name(int role)
{
	return role >= 0 && role < 4 ? role_names[role] : "?";
}

int tk_role_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, role_names[i]))
			return i;
	return -1;
}

static const char *const train_on_names[] = {"last-assistant", "all-assistant", "all",
					     "last-assistant-turn"};

int tk_train_on_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, train_on_names[i]))
			return i;
	return -1;
}

const char *tk_train_on_name(int train_on)
{
	return train_on >= 0 && train_on < 4 ? train_on_names[train_on] : "?";
}

/* The messages train_on trains, before the trainable overrides. */
static void mark_mode(tk_message *msgs, size_t n, int train_on)
{
	size_t last = n, last_user = n;
	for (size_t i = 0; i < n; i++) {
		msgs[i].train = 0;
		if (msgs[i].role == TK_ROLE_ASSISTANT) {
			last = i;
			msgs[i].train = train_on == TK_TRAIN_ALL_ASSISTANT ||
					train_on == TK_TRAIN_ALL ||
					(train_on == TK_TRAIN_LAST_TURN &&
					 (last_user == n || i > last_user));
		} else if (msgs[i].role == TK_ROLE_USER && train_on == TK_TRAIN_LAST_TURN) {
			last_user = i;
			for (size_t k = 0; k < i; k++)
				msgs[k].train = 0;
		}
	}
	if (train_on == TK_TRAIN_LAST_ASSISTANT && last < n)
		msgs[last].train = 1;
}

int tk_render_mark(tk_message *msgs, size_t n, int train_on)
{
	mark_mode(msgs, n, train_on);
	size_t count = 0, assistants = 0;
	for (size_t i = 0; i < n; i++) {
		assistants += msgs[i].role == TK_ROLE_ASSISTANT;
		tk_message *m = &msgs[i];
		if (m->trainable == TK_TRAINABLE_YES && m->role == TK_ROLE_TOOL)
			return tk_fail(TK_EDATA, "message %zu: \"trainable\": true on a tool "
				       "message (a tool's result is an observation, never trained)",
				       i + 1);
		if (m->trainable == TK_TRAINABLE_NO && train_on == TK_TRAIN_ALL)
			return tk_fail(TK_EDATA, "message %zu: \"trainable\": false cannot hold "
				       "with --train-on all, which trains every token", i + 1);
		if (m->trainable != TK_TRAINABLE_UNSET)
			m->train = m->trainable == TK_TRAINABLE_YES;
		count += m->train != 0;
	}
	if (count == 0 && train_on != TK_TRAIN_ALL)
		return tk_fail(TK_EDATA, "%s", !assistants ? "no assistant message to train on" :
			       train_on == TK_TRAIN_LAST_TURN ?
			       "no assistant message after the last user message to train on" :
			       "no message to train on (every one is \"trainable\": false)");
	return TK_OK;
}

/* ---- detection --------------------------------------------------------- */

const char *tk_renderer_name_for_template(const char *t)
{
	if (!t)
		return NULL;
	/* Llama 3.1 writes a fixed date; 3.2 today's (strftime_now), which a
	 * renderer cannot match token for token */
	if (strstr(t, "<|start_header_id|>") && strstr(t, "<|eot_id|>")) {
		if (!strstr(t, "Cutting Knowledge Date"))
			return "llama3";
		return strstr(t, "26 Jul 2024") && !strstr(t, "strftime_now") ? "llama3.1" : NULL;
	}
	if (strstr(t, "<|im_start|>")) {
		if (strstr(t, "<think>") || strstr(t, "reasoning_content"))
			return "qwen3";
		return "chatml";
	}
	return NULL;
}

/* A ChatML template that adds a system prompt when the conversation has
 * none spells it as the literal '<|im_start|>system\n...<|im_end|>' (with a
 * real newline or a Jinja "\n"); returns it unescaped, or NULL. */
static char *template_default_system(const char *t)
{
	static const char head[] = "<|im_start|>system";
	for (const char *p = strstr(t, head); p; p = strstr(p + 1, head)) {
		const char *s = p + sizeof head - 1;
		if (*s == '\n')
			s++;
		else if (s[0] == '\\' && s[1] == 'n')
			s += 2;
		else
			continue;
		const char *e = strstr(s, "<|im_end|>");
		size_t len = e ? (size_t)(e - s) : 0;
		if (!e || len == 0 || memchr(s, '\'', len) || memchr(s, '"', len) ||
		    memchr(s, '{', len) || memchr(s, '+', len))
			continue;
		char *out = tk_malloc(len + 1), *o = out;
		if (!out)
			return NULL;
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '\\' && i + 1 < len) {
				i++;
				*o++ = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : s[i];
			} else {
				*o++ = s[i];
			}
		}
		*o = '\0';
		return out;
	}
	return NULL;
}

int tk_renderer_detect(tk_renderer **out, const tk_tokenizer *tok)
{
	*out = NULL;
	const char *t = tk_tokenizer_chat_template(tok);
	if (!t)
		return tk_fail(TK_ECONFIG, "the model has no chat template: name a "
			       "renderer with -r (role-colon for a base model)");
	const char *name = tk_renderer_name_for_template(t);
	if (!name)
		return tk_fail(TK_ECONFIG, "the model's chat template is not one tk "
			       "knows: name a renderer with -r (chatml, llama3, llama3.1, "
			       "qwen3, role-colon) after checking its output with --show");
	int rc = tk_renderer_open(out, name, tok);
	if (rc || strcmp(name, "chatml"))
		return rc;
	(*out)->default_system = template_default_system(t);
	return TK_OK;
}

/* ---- responses --------------------------------------------------------- */

int tk_render_parse_text(const tk_renderer *r, const char *text, size_t len,
			 tk_response *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < r->n_stop_strings; i++) {
		const char *at = render_find(text, len, r->stop_strings[i]);
		if (at) {
			len = (size_t)(at - text);
			out->complete = 1;
		}
	}
	int rc;
	if (r->format->parse) {
		rc = r->format->parse(r, text, len, out);
	} else {
		out->content = tk_malloc(len + 1);
		rc = out->content ? TK_OK : TK_EOSERR;
		if (!rc) {
			memcpy(out->content, text, len);
			out->content[len] = '\0';
		}
	}
	if (!rc && !(out->text = tk_strdup(out->content)))
		rc = TK_EOSERR;
	return rc ? rc : render_parse_tool_calls(r, out);
}

int tk_render_parse_response(const tk_renderer *r, const int32_t *ids, size_t n,
			     tk_response *out)
{
	size_t cut = n;
	for (size_t i = 0; i < n && cut == n; i++)
		for (size_t k = 0; k < r->n_stop_ids; k++)
			if (ids[i] == r->stop_ids[k])
				cut = i;
	char *text;
	size_t len;
	int rc = tk_tokenizer_decode(r->tok, ids, cut, 0, &text, &len);
	if (rc)
		return rc;
	rc = tk_render_parse_text(r, text, len, out);
	free(text);
	if (cut < n)
		out->complete = 1;
	return rc;
}

void tk_response_free(tk_response *resp)
{
	free(resp->content);
	free(resp->reasoning);
	free(resp->tool_calls_json);
	free(resp->text);
	memset(resp, 0, sizeof *resp);
}
