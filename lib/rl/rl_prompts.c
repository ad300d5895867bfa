/* A step's prompts: posed by the environment, rendered by the chat
 * format as generation prompts, checked against the room a completion
 * needs (tk_rl.h). */
#include "tk_rl.h"

#include "tk_error.h"
#include "tk_io.h"
#include "tk_render.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* p as a chat line: its messages, and the tools its source line declares. */
static char *prompt_chat_line(const tk_rl_prompt *p)
{
	cJSON *o = cJSON_CreateObject(), *meta = cJSON_Parse(p->meta_json ? p->meta_json : "{}");
	cJSON *tools = cJSON_DetachItemFromObjectCaseSensitive(meta, "tools");
	cJSON_AddItemToObject(o, "messages", cJSON_Parse(p->messages_json));
	if (tools)
		cJSON_AddItemToObject(o, "tools", tools);
	char *line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	cJSON_Delete(meta);
	return line;
}

/* The generation prompt of p's messages, in *out. */
static int render_one(const tk_renderer *r, const tk_rl_prompt *p, const tk_rl_room *room,
		      tk_tokens *out)
{
	char *line = prompt_chat_line(p);
	if (!line)
		return tk_fail(TK_EOSERR, "out of memory");
	tk_chat chat = {0};
	tk_rendered rd = {0};
	int rc = tk_chat_parse(&chat, line, strlen(line));
	if (!rc)
		rc = tk_render_chat(r, &chat, TK_RENDER_GENERATION_PROMPT, &rd);
	if (rc)
		rc = tk_fail_context(rc, "prompt %s: ", p->id_json);
	else if (rd.ids.n + 1 >= room->positions)
		rc = tk_fail(TK_EDATA, "prompt %s: %zu tokens leave no room for a completion in the "
			     "model's %zu positions", p->id_json, rd.ids.n, room->positions);
	else if (rd.ids.n + room->max_tokens > room->pass)
		rc = tk_fail(TK_EDATA, "prompt %s: %zu tokens and --max-tokens %zu do not fit one "
			     "pass of %zu tokens: raise --micro-tokens", p->id_json, rd.ids.n,
			     room->max_tokens, room->pass);
	if (!rc) {
		*out = rd.ids;
		rd.ids = (tk_tokens){0};
	}
	tk_rendered_free(&rd);
	tk_chat_free(&chat);
	free(line);
	return rc;
}

int tk_rl_prompts_load(tk_rl_env *env, const tk_renderer *r, uint64_t first, size_t n,
		       const tk_rl_room *room, tk_rl_prompts *out)
{
	out->n = n;
	out->p = tk_calloc(n ? n : 1, sizeof *out->p);
	out->ids = tk_calloc(n ? n : 1, sizeof *out->ids);
	int rc = out->p && out->ids ? TK_OK : TK_EOSERR;
	for (size_t g = 0; !rc && g < n; g++) {
		rc = tk_rl_env_prompt(env, first + g, &out->p[g]);
		if (!rc)
			rc = render_one(r, &out->p[g], room, &out->ids[g]);
	}
	if (rc)
		tk_rl_prompts_free(out);
	return rc;
}

void tk_rl_prompts_free(tk_rl_prompts *sp)
{
	for (size_t g = 0; sp->p && g < sp->n; g++) {
		tk_rl_prompt_free(&sp->p[g]);
		tk_tokens_free(&sp->ids[g]);
	}
	free(sp->p);
	free(sp->ids);
	*sp = (tk_rl_prompts){0};
}

/* One prompt as its JSON line: the source's fields, id, messages, answer. */
static char *prompt_line(const tk_rl_prompt *p)
{
	cJSON *o = cJSON_Parse(p->meta_json);
	if (!o)
		return NULL;
	cJSON_AddItemToObject(o, "id", cJSON_Parse(p->id_json));
	cJSON_AddItemToObject(o, "messages", cJSON_Parse(p->messages_json));
	if (p->answer && !cJSON_HasObjectItem(o, "answer"))
		cJSON_AddStringToObject(o, "answer", p->answer);
	char *line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return line;
}

int tk_rl_prompts_dump(tk_rl_env *env, uint64_t n, const char *path)
{
	tk_outfile *out = NULL;
	int rc = tk_outfile_open(&out, path, 0);
	for (uint64_t k = 0; !rc && k < n; k++) {
		tk_rl_prompt p;
		if ((rc = tk_rl_env_prompt(env, k, &p)))
			break;
		char *line = prompt_line(&p);
		rc = line ? tk_outfile_write(out, line, strlen(line)) : tk_fail(TK_EOSERR, "out of memory");
		if (!rc)
			rc = tk_outfile_write(out, "\n", 1);
		free(line);
		tk_rl_prompt_free(&p);
	}
	if (rc) {
		if (out)
			tk_outfile_abort(out);
		return rc;
	}
	return tk_outfile_commit(out);
}
