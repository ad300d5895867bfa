/* The episode options and the partner model (episode_options.h). */
#include "episode_options.h"

#include "tk_engine.h"
#include "tk_error.h"
#include "tk_forward.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_tokenizer.h"

#include <string.h>

void tk_episode_opts_init(tk_episode_opts *o)
{
	*o = (tk_episode_opts){.limits = {.max_turns = 16, .retry = 1, .min_episodes = 2}};
}

int tk_episode_opts_parse(const tk_cli *cli, tk_episode_opts *o, const char *name, const char *v)
{
	tk_rl_episode_limits *l = &o->limits;
	if (!strcmp(name, "max-turns"))
		l->max_turns = (size_t)tk_cli_int(cli, name, v, 0, 1 << 20);
	else if (!strcmp(name, "max-episode-tokens"))
		l->max_tokens = (size_t)tk_cli_int(cli, name, v, 2, 1 << 24);
	else if (!strcmp(name, "overflow-reward"))
		l->overflow_reward = tk_cli_double(cli, name, v, -1e6, 1e6);
	else if (!strcmp(name, "episode-failures")) {
		if (strcmp(v, "retry") && strcmp(v, "drop"))
			tk_die(TK_EUSAGE, "--episode-failures: '%s' is not retry or drop", v);
		l->retry = !strcmp(v, "retry");
	} else if (!strcmp(name, "min-episodes"))
		l->min_episodes = (size_t)tk_cli_int(cli, name, v, 1, 1 << 16);
	else if (!strcmp(name, "partner"))
		o->partner = v;
	else if (!strcmp(name, "partner-adapter"))
		o->partner_adapter = v;
	else if (!strcmp(name, "evaluate"))
		o->evaluate = tk_cli_int(cli, name, v, 1, INT32_MAX);
	else
		return 0;
	o->given = 1;
	return 1;
}

void tk_episode_opts_check(tk_episode_opts *o, const tk_env_opts *env, int64_t group_size)
{
	if (o->given && strcmp(env->env, "episodes"))
		tk_die(TK_EUSAGE, "--max-turns, --partner, --evaluate and the other episode options "
		       "are for --env episodes, not %s", env->env);
	if (o->partner_adapter && !o->partner)
		tk_die(TK_EUSAGE, "--partner-adapter needs --partner MODEL");
	if (o->limits.min_episodes > (size_t)group_size)
		o->limits.min_episodes = (size_t)group_size;
}

void tk_episode_opts_limits(const tk_episode_opts *o, size_t positions, size_t pass,
			    tk_rl_episode_limits *out)
{
	size_t room = positions < pass ? positions : pass;
	*out = o->limits;
	if (!out->max_tokens)
		out->max_tokens = room < 1024 ? room : 1024;
	if (out->max_tokens > room)
		tk_die(TK_EUSAGE, "--max-episode-tokens %zu: a conversation must fit the model's %zu "
		       "positions and a pass of %zu tokens (--micro-tokens)", out->max_tokens,
		       positions, pass);
}

void tk_episode_opts_json(const tk_episode_opts *o, const tk_rl_episode_limits *l, cJSON *s)
{
	cJSON_AddNumberToObject(s, "max_turns", (double)l->max_turns);
	cJSON_AddNumberToObject(s, "max_episode_tokens", (double)l->max_tokens);
	cJSON_AddNumberToObject(s, "overflow_reward", l->overflow_reward);
	cJSON_AddStringToObject(s, "episode_failures", l->retry ? "retry" : "drop");
	cJSON_AddNumberToObject(s, "min_episodes", (double)l->min_episodes);
	if (o->partner)
		cJSON_AddStringToObject(s, "partner", o->partner);
	if (o->partner_adapter)
		cJSON_AddStringToObject(s, "partner_adapter", o->partner_adapter);
}

/* ---- the partner --------------------------------------------------------- */

static int same_tokenizer(const tk_model *m, uint64_t policy_tok, const char *path)
{
	if (m->tokenizer && tk_tokenizer_fingerprint(m->tokenizer) == policy_tok)
		return TK_OK;
	return tk_fail(TK_EDATA, "--partner %s: its tokenizer is not the policy's (one chat "
		       "format renders both players' turns)", path);
}

static int attach_adapter(tk_partner *p, const tk_episode_opts *o)
{
	tk_lora *lora = NULL;
	int rc = tk_lora_load(&lora, o->partner_adapter, p->model);
	if (!rc)
		rc = tk_engine_attach(p->engine, "partner", lora);
	tk_lora_free(lora);
	if (rc)
		return tk_fail_context(rc, "--partner-adapter %s: ", o->partner_adapter);
	p->adapter = "partner";
	p->attached = 1;
	return TK_OK;
}

int tk_partner_open(tk_partner *p, const tk_episode_opts *o, struct tk_backend *be,
		    struct tk_engine *policy_engine, const char *policy_fp, uint64_t policy_tok)
{
	*p = (tk_partner){0};
	if (!o->partner)
		return TK_OK;
	int rc = tk_model_load(&p->model, o->partner);
	if (!rc)
		rc = same_tokenizer(p->model, policy_tok, o->partner);
	char fp[17];
	if (!rc) {
		tk_model_fingerprint_hex(p->model, fp);
		if (policy_engine && !strcmp(fp, policy_fp)) {
			p->engine = policy_engine; // the same base: held once
		} else {
			tk_engine_config ec = {.compact = 1};
			rc = tk_engine_open(&p->own, be, p->model, &ec);
			p->engine = p->own;
		}
	}
	if (!rc && o->partner_adapter)
		rc = attach_adapter(p, o);
	if (rc) {
		tk_partner_close(p);
		return rc;
	}
	tk_model_drop_weights(p->model);
	return TK_OK;
}

int tk_partner_forward(tk_partner *p, size_t slots, size_t context, struct tk_forward **out)
{
	return tk_forward_open_engine(out, p->engine, p->adapter, slots, context, 1024);
}

void tk_partner_close(tk_partner *p)
{
	if (p->attached)
		tk_engine_detach(p->engine, p->adapter);
	tk_engine_close(p->own);
	tk_model_free(p->model);
	*p = (tk_partner){0};
}
