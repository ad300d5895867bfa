/* tk-rl's run: its settings (the option table and its parsing,
 * rl_options.c) and the state one run holds (the model, the trainer on an
 * engine, the environment, the side models, the run folder; rl_setup.c).
 * cmd/tk-rl.c is the loop over steps: sample, score, update, log. */
#ifndef TK_RL_RUN_H
#define TK_RL_RUN_H

#include "cli/env_options.h"
#include "cli/episode_options.h"
#include "cli/sample_options.h"
#include "cli/side_model.h"
#include "cli/train_options.h"
#include "tk_cli.h"
#include "tk_rl.h"
#include "tk_sampler.h"

#include <stdint.h>
#include <stdio.h>

struct tk_backend;
struct tk_engine;
struct tk_eval_scorer;
struct tk_model;
struct tk_lora;
struct tk_renderer;
struct tk_train;
struct tk_tks_writer;

typedef struct tk_rl_settings {
	tk_train_opts train;       // model, adapter, optimizer, passes, checkpoints
	tk_env_opts envo;          // the environment
	tk_episode_opts epi;       // its episodes (--env episodes)
	tk_sample_opts sample;     // sampling the policy
	const char *rundir, *from_stream, *rollouts;
	const char *teacher, *teacher_adapter;     // on-policy distillation
	const char *reference, *reference_adapter; // the KL penalty's reference
	const char *judge, *judge_adapter;         // pairwise rewards within a group
	int judge_implicit;                        // --judge-kind implicit
	const char *eval_prompts;                  // --eval-prompts
	double kl_coef, teacher_coef;
	int scale_std, drop_flat;
	int64_t groups, group_size, steps, batch, dump, substeps, eval_every, eval_groups;
	tk_rl_loss_params loss;
	uint64_t seed;
	int threads, quiet;
	const char *backend;
} tk_rl_settings;

extern const tk_option tk_rl_options[];

/* Every option parsed and checked (a contradiction exits 64). */
void tk_rl_settings_parse(tk_cli *cli, tk_rl_settings *s, int argc, char **argv);

typedef struct tk_rl_run {
	const tk_rl_settings *s;
	struct tk_backend *be;
	struct tk_engine *engine;  // LoRA: the base, once, for trainer, sampler and reference
	struct tk_model *model;
	struct tk_lora *lora;
	struct tk_train *t;
	tk_rl_env *env;
	tk_rl_env *eval_env;       // --eval-prompts
	tk_rl_episode_limits limits; // --env episodes
	tk_side_model partner;     // --partner
	tk_side_model teacher;     // --teacher
	tk_side_model reference;   // --reference
	tk_side_model judge;       // --judge
	struct tk_eval_scorer *teacher_scorer;
	tk_rl_judge judge_rl;      // its scorer and the policy's renderer
	struct tk_renderer *renderer;
	struct tk_eval_scorer *ref; // reference logprobs (--kl-coef) when not the trainer's base
	struct tk_tks_writer *rollouts; // --rollouts
	tk_gen_stops stops;        // what ends a completion
	char model_fp[17], tok_fp[17];
	double lr;
	int64_t total;             // sampled steps of the run (0: until the stream ends)
	size_t micro;
	FILE *metrics;
	double started;
	char last_state[4096];
} tk_rl_run;

/* The model, renderer, environment, trainer, side models and run folder
 * (resumed from when it has a state); failures exit. */
void tk_rl_run_setup(tk_rl_run *r);
void tk_rl_run_teardown(tk_rl_run *r);

/* The sampled steps the trainer has finished (optimizer steps over
 * --substeps). */
int64_t tk_rl_run_steps(const tk_rl_run *r);
void tk_rl_run_save_state(tk_rl_run *r);
/* The rollouts of the finished steps stay when a run stops early. */
void tk_rl_run_close_rollouts(tk_rl_run *r);
/* A failure inside a step (the reward program, a NaN): the state of the
 * last finished step is kept, then the run stops with rc. */
_Noreturn void tk_rl_run_stop(tk_rl_run *r, int rc, const char *what);
_Noreturn void tk_rl_run_stop_on_nan(tk_rl_run *r, const char *what, double value);

#endif
