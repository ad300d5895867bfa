/* The episode options (episode_options.h). */
#include "episode_options.h"

#include "tk_error.h"

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
