/* The options of episodes (tk-rl --env episodes): their limits, the
 * failure policy, the partner model and held-out evaluation, parsed and
 * checked once (the partner is loaded as a side model: side_model.h).
 * A command puts
 * TK_EPISODE_OPTION_ROWS in its option table and hands each option to
 * tk_episode_opts_parse first. */
#ifndef TK_EPISODE_OPTIONS_H
#define TK_EPISODE_OPTIONS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "env_options.h"
#include "tk_cli.h"
#include "tk_rl.h"

typedef struct tk_episode_opts {
	tk_rl_episode_limits limits;
	const char *partner, *partner_adapter;
	int64_t evaluate;       /* held-out episodes to play (0: train) */
	int given;              /* any of these options given */
} tk_episode_opts;

#define TK_EPISODE_OPTION_ROWS \
	{"max-turns", 0, "N", "episodes: turns of an episode, all seats (default 16; 0: no limit)"}, \
	{"max-episode-tokens", 0, "N", "episodes: tokens of a seat's conversation (default: a pass, " \
	 "at most 1024)"}, \
	{"overflow-reward", 0, "X", "episodes: the return of an episode out of tokens (default 0)"}, \
	{"episode-failures", 0, "HOW", "episodes: retry (once; default) or drop an episode the " \
	 "program fails"}, \
	{"min-episodes", 0, "K", "episodes: keep a group when K of its episodes finished (default 2)"}, \
	{"partner", 0, "MODEL", "episodes: the model that plays the partner's seats"}, \
	{"partner-adapter", 0, "FILE", "episodes: the partner's LoRA adapter"}, \
	{"evaluate", 0, "N", "episodes: play N held-out episodes, print their mean return, and exit"}

void tk_episode_opts_init(tk_episode_opts *o);
/* 1 when the option is one of the rows (a bad value exits 64). */
int tk_episode_opts_parse(const tk_cli *cli, tk_episode_opts *o, const char *name, const char *v);
/* After all options: episode options only with --env episodes (exit 64). */
void tk_episode_opts_check(tk_episode_opts *o, const tk_env_opts *env, int64_t group_size);
/* The limits, with the token budget's default, within the model's
 * positions and a pass (exit 64 when a given budget does not fit). */
void tk_episode_opts_limits(const tk_episode_opts *o, size_t positions, size_t pass,
			    tk_rl_episode_limits *out);
void tk_episode_opts_json(const tk_episode_opts *o, const tk_rl_episode_limits *l,
			  cJSON *settings);

#endif
