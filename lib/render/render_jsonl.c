/* Input lines of tk-render: conversations in the common
 * {"messages":[{"role":..,"content":..}]} form, preference pairs, and
 * {"text":..} documents.  Fields tk does not use are kept, as a JSON
 * object, for the record's meta.  Messages point into the parsed JSON,
 * which the tk_chat keeps until the next line, with each number's literal
 * kept for writing it again as the templates do (render_json.c). */
#include "render_impl.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_render.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reset(tk_chat *c)
{
	cJSON_Delete(c->json);
	c->json = NULL;
	c->tools = NULL;
	c->n = c->n_alt = 0;
	free(c->meta);
	c->meta = NULL;
	c->text = NULL;
	c->text_len = 0;
	free(c->owned);
	c->owned = NULL;
}

void tk_chat_free(tk_chat *c)
{
	reset(c);
	free(c->msgs);
	free(c->alt);
	memset(c, 0, sizeof *c);
}

/* Parses the line as one JSON object into c->json. */
static int parse_object(tk_chat *c, const char *line, size_t len)
{
	reset(c);
	c->json = tk_jsonl_parse(line, len);
	if (!c->json)
		return TK_EDATA;
	return render_json_keep_numbers(c->json, line, len) ? tk_fail(TK_EOSERR, "out of memory")
							     : TK_OK;
}

static int push(tk_message **arr, size_t *n, size_t *cap, const tk_message *m)
{
	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 16;
		tk_message *p = tk_realloc(*arr, nc * sizeof *p);
		if (!p)
			return TK_EOSERR;
		*arr = p;
		*cap = nc;
	}
	(*arr)[(*n)++] = *m;
	return TK_OK;
}

static int string_field(const cJSON *obj, const char *key, const char **s,
			size_t *len, const char *where)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v || cJSON_IsNull(v)) {
		*s = NULL;
		*len = 0;
		return TK_OK;
	}
	if (!cJSON_IsString(v))
		return tk_fail(TK_EDATA, "%s: \"%s\" is not a string", where, key);
	*s = v->valuestring;
	*len = strlen(v->valuestring);
	return TK_OK;
}

/* Call k (from 1) of a "tool_calls" array: {"function": {"name",
 * "arguments"}} (OpenAI's form) or {"name", "arguments"}. */
static int check_call(const cJSON *call, int k, const char *where)
{
	if (!cJSON_IsObject(call))
		return tk_fail(TK_EDATA, "%s: \"tool_calls\" item %d is not an object", where, k);
	const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
	if (fn && !cJSON_IsObject(fn))
		return tk_fail(TK_EDATA, "%s: \"tool_calls\" item %d: \"function\" is not an "
			       "object", where, k);
	const cJSON *f = fn ? fn : call;
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(f, "name")))
		return tk_fail(TK_EDATA, "%s: \"tool_calls\" item %d has no \"name\" string",
			       where, k);
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
	if (!cJSON_IsObject(args) && !cJSON_IsString(args))
		return tk_fail(TK_EDATA, "%s: \"tool_calls\" item %d: \"arguments\" is %s (an "
			       "object, or a string of JSON)", where, k,
			       args ? "neither an object nor a string" : "missing");
	return TK_OK;
}

static int parse_tool_calls(const cJSON *j, tk_message *m, const char *where)
{
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(j, "tool_calls");
	if (!calls || cJSON_IsNull(calls))
		return TK_OK;
	if (!cJSON_IsArray(calls))
		return tk_fail(TK_EDATA, "%s: \"tool_calls\" is not an array", where);
	if (m->role != TK_ROLE_ASSISTANT && cJSON_GetArraySize(calls))
		return tk_fail(TK_EDATA, "%s: \"tool_calls\" on a %s message (only the "
			       "assistant calls tools)", where, tk_role_name(m->role));
	int k = 0;
	const cJSON *call;
	cJSON_ArrayForEach(call, calls) {
		int rc = check_call(call, ++k, where);
		if (rc)
			return rc;
	}
	m->tool_calls = k ? calls : NULL;
	m->n_tool_calls = (size_t)k;
	return TK_OK;
}

static int parse_trainable(const cJSON *j, tk_message *m, const char *where)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "trainable");
	m->trainable = TK_TRAINABLE_UNSET;
	if (!t || cJSON_IsNull(t))
		return TK_OK;
	if (!cJSON_IsBool(t))
		return tk_fail(TK_EDATA, "%s: \"trainable\" is not true or false", where);
	m->trainable = cJSON_IsTrue(t) ? TK_TRAINABLE_YES : TK_TRAINABLE_NO;
	return TK_OK;
}

/* One message object; where names it in errors ("message 2"). */
static int parse_message(const cJSON *j, tk_message *m, const char *where)
{
	memset(m, 0, sizeof *m);
	if (!cJSON_IsObject(j))
		return tk_fail(TK_EDATA, "%s is not an object", where);
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(j, "role");
	if (!cJSON_IsString(role))
		return tk_fail(TK_EDATA, "%s has no \"role\" string", where);
	m->role = tk_role_parse(role->valuestring);
	if (m->role < 0)
		return tk_fail(TK_EDATA, "%s: unknown role \"%.40s\" (known: system, "
			       "user, assistant, tool)", where, role->valuestring);
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content");
	if (!content)
		return tk_fail(TK_EDATA, "%s has no \"content\"", where);
	if (!cJSON_IsString(content) && !cJSON_IsNull(content))
		return tk_fail(TK_EDATA, "%s: \"content\" is not a string", where);
	m->content = cJSON_IsString(content) ? content->valuestring : "";
	m->content_len = strlen(m->content);
	int rc = parse_trainable(j, m, where);
	if (!rc)
		rc = parse_tool_calls(j, m, where);
	if (rc || m->role != TK_ROLE_ASSISTANT)
		return rc;
	return string_field(j, "reasoning_content", &m->reasoning, &m->reasoning_len, where);
}

/* Appends the messages of v (an array of messages, one message, or, when
 * text_role >= 0, a string taken as the content of a text_role message). */
static int append_messages(tk_message **arr, size_t *n, size_t *cap,
			   const cJSON *v, const char *field, int text_role)
{
	char where[64];
	tk_message m;
	if (text_role >= 0 && cJSON_IsString(v)) {
		m = (tk_message){.role = text_role, .content = v->valuestring,
				 .content_len = strlen(v->valuestring)};
		return push(arr, n, cap, &m);
	}
	if (cJSON_IsObject(v)) {
		snprintf(where, sizeof where, "\"%s\"", field);
		int rc = parse_message(v, &m, where);
		return rc ? rc : push(arr, n, cap, &m);
	}
	if (!cJSON_IsArray(v))
		return tk_fail(TK_EDATA, "\"%s\" is not an array of messages", field);
	int i = 0;
	const cJSON *j;
	cJSON_ArrayForEach(j, v) {
		snprintf(where, sizeof where, "%s %d", field, ++i);
		int rc = parse_message(j, &m, where);
		if (!rc)
			rc = push(arr, n, cap, &m);
		if (rc)
			return rc;
	}
	return TK_OK;
}

/* The fields not in used[] as a JSON object's text, or NULL when none. */
static int keep_meta(tk_chat *c, const char *const *used)
{
	cJSON *meta = NULL;
	for (cJSON *j = ((cJSON *)c->json)->child; j; j = j->next) {
		int is_used = 0;
		for (size_t k = 0; used[k]; k++)
			is_used |= j->string && !strcmp(j->string, used[k]);
		if (is_used)
			continue;
		if (!meta && !(meta = cJSON_CreateObject()))
			return tk_fail(TK_EOSERR, "out of memory");
		cJSON *copy = cJSON_Duplicate(j, 1);
		if (!copy || !cJSON_AddItemToObject(meta, j->string, copy)) {
			cJSON_Delete(meta);
			return tk_fail(TK_EOSERR, "out of memory");
		}
	}
	if (!meta)
		return TK_OK;
	c->meta = cJSON_PrintUnformatted(meta);
	cJSON_Delete(meta);
	return c->meta ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}

/* "tools": an array of objects (OpenAI's {"type": "function", "function":
 * {...}}, written as given); [] and null are none. */
static int parse_tools(tk_chat *c)
{
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(c->json, "tools");
	if (!tools || cJSON_IsNull(tools))
		return TK_OK;
	if (!cJSON_IsArray(tools))
		return tk_fail(TK_EDATA, "\"tools\" is not an array");
	int k = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, tools) {
		k++;
		if (!cJSON_IsObject(t))
			return tk_fail(TK_EDATA, "\"tools\" item %d is not an object", k);
	}
	c->tools = k ? tools : NULL;
	return TK_OK;
}

int tk_chat_parse(tk_chat *c, const char *line, size_t len)
{
	int rc = parse_object(c, line, len);
	if (rc)
		return rc;
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(c->json, "messages");
	if (!msgs)
		return tk_fail(TK_EDATA, "no \"messages\" field");
	if (!cJSON_IsArray(msgs))
		return tk_fail(TK_EDATA, "\"messages\" is not an array");
	rc = append_messages(&c->msgs, &c->n, &c->cap, msgs, "message", -1);
	if (!rc && c->n == 0)
		rc = tk_fail(TK_EDATA, "\"messages\" is empty");
	if (!rc)
		rc = parse_tools(c);
	static const char *const used[] = {"messages", "tools", NULL};
	return rc ? rc : keep_meta(c, used);
}

/* Appends the prompt to msgs and alt, then chosen to msgs, rejected to
 * alt, marking the assistant messages of the completions to train. */
int tk_chat_parse_pair(tk_chat *c, const char *line, size_t len)
{
	int rc = parse_object(c, line, len);
	if (rc)
		return rc;
	static const char *const fields[] = {"prompt", "chosen", "rejected"};
	const cJSON *v[3];
	for (int i = 0; i < 3; i++)
		if (!(v[i] = cJSON_GetObjectItemCaseSensitive(c->json, fields[i])))
			return tk_fail(TK_EDATA, "no \"%s\" field (a pair needs prompt, "
				       "chosen and rejected)", fields[i]);
	rc = append_messages(&c->msgs, &c->n, &c->cap, v[0], "prompt", TK_ROLE_USER);
	for (size_t i = 0; !rc && i < c->n; i++)
		rc = push(&c->alt, &c->n_alt, &c->alt_cap, &c->msgs[i]);
	size_t n_prompt = c->n;
	if (!rc)
		rc = append_messages(&c->msgs, &c->n, &c->cap, v[1], "chosen", TK_ROLE_ASSISTANT);
	if (!rc)
		rc = append_messages(&c->alt, &c->n_alt, &c->alt_cap, v[2], "rejected",
				     TK_ROLE_ASSISTANT);
	if (rc)
		return rc;
	int chosen = 0, rejected = 0;
	for (size_t i = n_prompt; i < c->n; i++)
		chosen += c->msgs[i].train = c->msgs[i].role == TK_ROLE_ASSISTANT;
	for (size_t i = n_prompt; i < c->n_alt; i++)
		rejected += c->alt[i].train = c->alt[i].role == TK_ROLE_ASSISTANT;
	for (size_t i = 0; i < c->n; i++)
		if (c->msgs[i].trainable != TK_TRAINABLE_UNSET)
			c->msgs[i].train = c->msgs[i].trainable == TK_TRAINABLE_YES;
	for (size_t i = 0; i < c->n_alt; i++)
		if (c->alt[i].trainable != TK_TRAINABLE_UNSET)
			c->alt[i].train = c->alt[i].trainable == TK_TRAINABLE_YES;
	if (!chosen || !rejected)
		return tk_fail(TK_EDATA, "\"%s\" has no assistant message",
			       chosen ? "rejected" : "chosen");
	static const char *const used[] = {"prompt", "chosen", "rejected", NULL};
	return keep_meta(c, used);
}

int tk_chat_parse_text(tk_chat *c, const char *line, size_t len)
{
	int rc = parse_object(c, line, len);
	if (rc)
		return rc;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(c->json, "text");
	if (!t)
		return tk_fail(TK_EDATA, "no \"text\" field");
	if (!cJSON_IsString(t))
		return tk_fail(TK_EDATA, "\"text\" is not a string");
	c->text = t->valuestring;
	c->text_len = strlen(t->valuestring);
	static const char *const used[] = {"text", NULL};
	return keep_meta(c, used);
}
