/* A step's prompts: posed by the environment, rendered by the chat
 * format as generation prompts, checked against the room a completion
 * needs (tk_rl.h). */
#include "tk_rl.h"

#include "tk_error.h"
#include "tk_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The generation prompt of p's messages, in *out. */
static int render_one(const tk_renderer *r, const tk_rl_prompt *p, const tk_rl_room *room,
		      tk_tokens *out)
{
	size_t len = strlen(p->messages_json) + 16;
	char *line = tk_malloc(len);
	if (!line)
		return TK_EOSERR;
	snprintf(line, len, "{\"messages\":%s}", p->messages_json);
	tk_chat chat = {0};
	tk_rendered rd = {0};
	int rc = tk_chat_parse(&chat, line, strlen(line));
	if (!rc)
		rc = tk_render(r, chat.msgs, chat.n, TK_RENDER_GENERATION_PROMPT, &rd);
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
