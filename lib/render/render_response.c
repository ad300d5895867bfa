/* Tool calls parsed out of a sampled response, and the response as an
 * assistant message to append to the conversation.
 *
 * Qwen's form (chatml, qwen3): each <tool_call>BODY</tool_call> block is
 * a call when BODY is a JSON object with a "name" string and "arguments";
 * the block and the newline the template writes before it leave the
 * content.  Llama 3.1's: a content that is one JSON object with a "name"
 * string and "parameters" (or "arguments") is the call. */
#include "render_impl.h"
#include "tk_error.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static cJSON *function_call(const char *name, cJSON *arguments)
{
	cJSON *call = cJSON_CreateObject(), *fn = cJSON_CreateObject();
	if (!call || !fn || !cJSON_AddStringToObject(call, "type", "function") ||
	    !cJSON_AddItemToObject(call, "function", fn)) {
		cJSON_Delete(call);
		cJSON_Delete(fn);
		cJSON_Delete(arguments);
		return NULL;
	}
	if (!cJSON_AddStringToObject(fn, "name", name) ||
	    !cJSON_AddItemToObject(fn, "arguments", arguments)) {
		cJSON_Delete(arguments);
		cJSON_Delete(call);
		return NULL;
	}
	return call;
}

static cJSON *raw_call(const char *s, size_t n, const char *error)
{
	char *text = tk_malloc(n + 1);
	cJSON *call = text ? cJSON_CreateObject() : NULL;
	if (text) {
		memcpy(text, s, n);
		text[n] = '\0';
	}
	if (call && (!cJSON_AddStringToObject(call, "type", "function") ||
		     !cJSON_AddStringToObject(call, "raw", text) ||
		     !cJSON_AddStringToObject(call, "error", error))) {
		cJSON_Delete(call);
		call = NULL;
	}
	free(text);
	return call;
}

/* The arguments text when body is exactly what Qwen3's template writes
 * for a call named name ("\n{"name": "NAME", "arguments": ARGS}\n"), or
 * NULL. */
static cJSON *written_arguments(const char *body, size_t n, const char *name)
{
	static const char head[] = "\n{\"name\": \"", mid[] = "\", \"arguments\": ";
	size_t h = sizeof head - 1, k = strlen(name), m = sizeof mid - 1;
	if (n < h + k + m + 2 || memcmp(body, head, h) || memcmp(body + h, name, k) ||
	    memcmp(body + h + k, mid, m) || memcmp(body + n - 2, "}\n", 2))
		return NULL;
	const char *args = body + h + k + m;
	size_t len = (size_t)(body + n - 2 - args);
	char *text = tk_malloc(len + 1);
	if (!text)
		return NULL;
	memcpy(text, args, len);
	text[len] = '\0';
	cJSON *s = cJSON_CreateString(text);
	free(text);
	return s;
}

/* One call from a JSON object text; args_key: where its arguments are. */
static cJSON *parse_call(const char *body, size_t n, const char *const *args_keys,
			 int raw_arguments)
{
	cJSON *j = cJSON_ParseWithLength(body, n);
	if (!j)
		return raw_call(body, n, "the call is not valid JSON");
	if (render_json_keep_numbers(j, body, n)) {
		cJSON_Delete(j);
		return NULL;
	}
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
	cJSON *args = NULL;
	for (size_t i = 0; args_keys[i] && !args; i++)
		args = cJSON_DetachItemFromObjectCaseSensitive(j, args_keys[i]);
	cJSON *call;
	if (!cJSON_IsObject(j) || !cJSON_IsString(name))
		call = raw_call(body, n, "the call has no \"name\" string");
	else if (!args)
		call = raw_call(body, n, "the call has no \"arguments\"");
	else {
		cJSON *written = raw_arguments ? written_arguments(body, n, name->valuestring) : NULL;
		if (written) {
			cJSON_Delete(args);
			args = written;
		}
		call = function_call(name->valuestring, args);
		args = NULL;
	}
	cJSON_Delete(args);
	cJSON_Delete(j);
	return call;
}

/* What the calls of a text make: the content without them, the calls,
 * and whether they all parsed. */
typedef struct parsed {
	render_buf content;
	cJSON *calls;
	int all_parsed;
} parsed;

static int add_call(parsed *p, cJSON *call)
{
	if (!call || !cJSON_AddItemToArray(p->calls, call)) {
		cJSON_Delete(call);
		return tk_fail(TK_EOSERR, "out of memory");
	}
	p->all_parsed &= !cJSON_HasObjectItem(call, "raw");
	return TK_OK;
}

static int qwen_calls(parsed *p, const char *text, size_t len, int raw_arguments)
{
	static const char *const keys[] = {"arguments", NULL};
	size_t pos = 0;
	int rc = TK_OK;
	while (!rc && pos < len) {
		const char *at = render_find(text + pos, len - pos, "<tool_call>");
		size_t before = at ? (size_t)(at - text) - pos : len - pos;
		if (at && before && text[pos + before - 1] == '\n')
			before--; /* the newline the template writes before a call */
		rc = render_buf_put(&p->content, text + pos, before);
		if (rc || !at)
			break;
		const char *body = at + 11, *end = text + len;
		const char *close = render_find(body, (size_t)(end - body), "</tool_call>");
		if (!close)
			rc = add_call(p, raw_call(body, (size_t)(end - body),
						  "no </tool_call> (the response ended first)"));
		else
			rc = add_call(p, parse_call(body, (size_t)(close - body), keys, raw_arguments));
		pos = close ? (size_t)(close + 12 - text) : len;
	}
	return rc;
}

static int is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

static int llama_call(parsed *p, const char *text, size_t len)
{
	static const char *const keys[] = {"parameters", "arguments", NULL};
	size_t a = 0, b = len;
	while (a < b && is_space(text[a]))
		a++;
	while (b > a && is_space(text[b - 1]))
		b--;
	cJSON *j = a < b && text[a] == '{' ? cJSON_ParseWithLength(text + a, b - a) : NULL;
	int is_call = cJSON_IsObject(j) && cJSON_IsString(cJSON_GetObjectItem(j, "name")) &&
		      (cJSON_HasObjectItem(j, "parameters") || cJSON_HasObjectItem(j, "arguments"));
	cJSON_Delete(j);
	if (!is_call)
		return render_buf_put(&p->content, text, len);
	int rc = render_buf_put(&p->content, "", 0);
	return rc ? rc : add_call(p, parse_call(text + a, b - a, keys, 0));
}

static int parse_calls(const tk_renderer *r, const char *text, size_t len, int raw_arguments,
		       parsed *p)
{
	memset(p, 0, sizeof *p);
	p->all_parsed = 1;
	if (!(p->calls = cJSON_CreateArray()))
		return tk_fail(TK_EOSERR, "out of memory");
	if (r->format->tool_form == RENDER_TOOLS_LLAMA)
		return llama_call(p, text, len);
	return qwen_calls(p, text, len, raw_arguments);
}

static void parsed_free(parsed *p)
{
	render_buf_free(&p->content);
	cJSON_Delete(p->calls);
}

int render_parse_tool_calls(const tk_renderer *r, tk_response *out)
{
	out->renderer = r;
	if (r->format->tool_form == RENDER_TOOLS_NONE)
		return TK_OK;
	parsed p;
	int rc = parse_calls(r, out->text, strlen(out->text), 0, &p);
	if (!rc && p.content.failed)
		rc = tk_fail(TK_EOSERR, "out of memory");
	if (!rc && cJSON_GetArraySize(p.calls)) {
		render_buf calls = {0};
		rc = render_json_dumps(&calls, p.calls, 0);
		if (!rc) {
			free(out->content);
			out->content = p.content.s ? p.content.s : tk_strdup("");
			p.content.s = NULL;
			out->tool_calls_json = calls.s;
			rc = out->content ? TK_OK : TK_EOSERR;
		} else {
			render_buf_free(&calls);
		}
	}
	parsed_free(&p);
	return rc;
}

/* ---- the message ----------------------------------------------------------- */

static int message_object(const tk_response *resp, cJSON *msg)
{
	const tk_renderer *r = resp->renderer;
	const char *content = resp->content;
	parsed p = {0};
	int rc = TK_OK;
	if (r && resp->tool_calls_json && resp->text) {
		rc = parse_calls(r, resp->text, strlen(resp->text),
				 r->format->raw_string_arguments, &p);
		if (!rc && p.content.failed)
			rc = tk_fail(TK_EOSERR, "out of memory");
		if (!rc && !p.all_parsed)
			content = resp->text; /* a call that does not parse goes back as text */
	}
	int ok = !rc && cJSON_AddStringToObject(msg, "role", "assistant") &&
		 cJSON_AddStringToObject(msg, "content", content ? content : "");
	if (ok && resp->reasoning)
		ok = cJSON_AddStringToObject(msg, "reasoning_content", resp->reasoning) != NULL;
	if (ok && p.calls && p.all_parsed && cJSON_GetArraySize(p.calls)) {
		ok = cJSON_AddItemToObject(msg, "tool_calls", p.calls);
		p.calls = ok ? NULL : p.calls;
	}
	parsed_free(&p);
	return rc ? rc : ok ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}

int tk_response_message_json(const tk_response *resp, char **json)
{
	*json = NULL;
	cJSON *msg = cJSON_CreateObject();
	if (!msg)
		return tk_fail(TK_EOSERR, "out of memory");
	render_buf b = {0};
	int rc = message_object(resp, msg);
	if (!rc)
		rc = render_json_dumps(&b, msg, 0);
	cJSON_Delete(msg);
	if (rc) {
		render_buf_free(&b);
		return rc;
	}
	*json = b.s;
	return TK_OK;
}
