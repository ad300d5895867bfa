/* The environment options (env_options.h). */
#include "env_options.h"

#include "tk_error.h"
#include "tk_eval.h"

#include <string.h>

void tk_env_opts_init(tk_env_opts *o)
{
	*o = (tk_env_opts){.env_timeout = 60, .digits = 2, .grade = TK_EVAL_NUMBER};
}

int tk_env_opts_parse(const tk_cli *cli, tk_env_opts *o, const char *name, const char *v)
{
	if (!strcmp(name, "env")) {
		if (strcmp(v, "arithmetic") && strcmp(v, "math") && strcmp(v, "cmd") &&
		    strcmp(v, "episodes") && strcmp(v, "prompts"))
			tk_die(TK_EUSAGE, "--env: '%s' is not arithmetic, math, cmd, episodes or prompts",
			       v);
		o->env = v;
	} else if (!strcmp(name, "prompts")) {
		o->prompts = v;
	} else if (!strcmp(name, "env-cmd")) {
		o->env_cmd = v;
	} else if (!strcmp(name, "env-timeout")) {
		o->env_timeout = tk_cli_double(cli, "env-timeout", v, 0.001, TK_RL_ENV_TIMEOUT_MAX);
	} else if (!strcmp(name, "digits")) {
		o->digits = (int)tk_cli_int(cli, "digits", v, 1, 9);
	} else if (!strcmp(name, "ops")) {
		o->ops_list = v;
	} else if (!strcmp(name, "format-reward")) {
		o->format_reward = tk_cli_double(cli, "format-reward", v, -1e6, 1e6);
	} else if (!strcmp(name, "grade")) {
		if (strcmp(v, "number") && strcmp(v, "boxed"))
			tk_die(TK_EUSAGE, "--grade: '%s' is not number or boxed", v);
		o->grade = tk_eval_task_parse(v);
	} else {
		return 0;
	}
	return 1;
}

void tk_env_opts_check(tk_env_opts *o, int prompts_optional)
{
	if (!o->env)
		o->env = o->env_cmd ? "cmd" : o->prompts ? "math" : "arithmetic";
	int cmd = !strcmp(o->env, "cmd"), arith = !strcmp(o->env, "arithmetic");
	int episodes = !strcmp(o->env, "episodes");
	if ((cmd || episodes) && !o->env_cmd)
		tk_die(TK_EUSAGE, "--env %s needs --env-cmd 'PROGRAM ARGS'", o->env);
	if (!cmd && !episodes && o->env_cmd)
		tk_die(TK_EUSAGE, "--env-cmd is for --env cmd or episodes, not %s", o->env);
	if (!arith && !episodes && !o->prompts && !prompts_optional)
		tk_die(TK_EUSAGE, "--env %s needs --prompts FILE", o->env);
	if (arith && o->prompts)
		tk_die(TK_EUSAGE, "--env arithmetic makes its own problems: --prompts does not apply");
	if (tk_rl_arith_ops_parse(o->ops_list ? o->ops_list : "add", &o->ops))
		tk_die(TK_EUSAGE, "--ops: %s", tk_error_message());
}

int tk_env_opts_open(const tk_env_opts *o, uint64_t seed, tk_rl_env **out)
{
	if (!strcmp(o->env, "arithmetic")) {
		tk_rl_arith_config c = {o->digits, o->ops, o->format_reward, seed};
		return tk_rl_env_arithmetic(out, &c);
	}
	if (!strcmp(o->env, "math"))
		return tk_rl_env_math(out, o->prompts, o->grade, seed);
	if (!strcmp(o->env, "prompts"))
		return tk_rl_env_prompts(out, o->prompts, seed);
	if (!strcmp(o->env, "episodes"))
		return tk_rl_env_episodes(out, o->prompts, o->env_cmd, o->env_timeout, seed);
	return tk_rl_env_cmd(out, o->prompts, o->env_cmd, o->env_timeout, seed);
}

void tk_env_opts_json(const tk_env_opts *o, cJSON *s)
{
	cJSON_AddStringToObject(s, "env", o->env);
	if (o->prompts)
		cJSON_AddStringToObject(s, "prompts", o->prompts);
	if (o->env_cmd)
		cJSON_AddStringToObject(s, "env_cmd", o->env_cmd);
	cJSON_AddNumberToObject(s, "digits", o->digits);
	cJSON_AddNumberToObject(s, "ops", o->ops);
	cJSON_AddNumberToObject(s, "format_reward", o->format_reward);
	cJSON_AddStringToObject(s, "grade", tk_eval_task_name(o->grade));
}
