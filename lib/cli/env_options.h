/* The options that choose and set up an RL environment (--env, --prompts,
 * --env-cmd, --env-timeout, --digits, --ops, --format-reward, --grade),
 * parsed, checked, opened and written to a run's settings by one
 * implementation, for every command that poses prompts to an environment.
 * A command puts TK_ENV_OPTION_ROWS in its option table and hands each
 * option to tk_env_opts_parse first. */
#ifndef TK_ENV_OPTIONS_H
#define TK_ENV_OPTIONS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "tk_cli.h"
#include "tk_rl.h"

typedef struct tk_env_opts {
	const char *env, *prompts, *env_cmd, *ops_list;
	double env_timeout, format_reward;
	int digits, grade;
	unsigned ops;
} tk_env_opts;

#define TK_ENV_OPTION_ROWS \
	{"env", 0, "NAME", "arithmetic, math, cmd, episodes or prompts (no reward: --teacher, " \
	 "--judge) (default: cmd with --env-cmd, math with --prompts, else arithmetic)"}, \
	{"prompts", 0, "FILE", "math, cmd, episodes, prompts: JSON Lines {\"messages\"|\"prompt\", " \
	 "\"answer\"}"}, \
	{"env-cmd", 0, "CMD", "cmd: reward program; episodes: environment program; run once with " \
	 "sh -c (protocols in tk-rl(1))"}, \
	{"env-timeout", 0, "S", "cmd, episodes: seconds the program may stay silent (default 60, " \
	 "at most 1e6)"}, \
	{"digits", 0, "N", "arithmetic: operands of N digits (default 2)"}, \
	{"ops", 0, "LIST", "arithmetic: add,sub,mul (default add)"}, \
	{"format-reward", 0, "X", "arithmetic: added when the answer is a bare number (default 0)"}, \
	{"grade", 0, "HOW", "math: number (default) or boxed"}

void tk_env_opts_init(tk_env_opts *o);
/* 1 when the option named `name` is one of the rows (parsed into o; a bad
 * value exits 64), 0 otherwise. */
int tk_env_opts_parse(const tk_cli *cli, tk_env_opts *o, const char *name, const char *value);
/* After all options: the environment chosen and its options consistent
 * (exit 64 otherwise); prompts may be absent when the data comes from
 * elsewhere (offline training). */
void tk_env_opts_check(tk_env_opts *o, int prompts_optional);
/* The environment, seeded. */
int tk_env_opts_open(const tk_env_opts *o, uint64_t seed, tk_rl_env **out);
/* Their part of a run's settings (config.json). */
void tk_env_opts_json(const tk_env_opts *o, cJSON *settings);

#endif
