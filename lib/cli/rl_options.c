/* tk-rl's options: the table behind --help and their parsing (rl_run.h). */
#include "cli/rl_run.h"

#include "tk_error.h"
#include "tk_train.h"

#include <stdint.h>
#include <string.h>

enum { // in the order of the table's rows
	OPT_GROUPS, OPT_GROUP_SIZE, OPT_STEPS, OPT_LOSS,
	OPT_CLIP_LOW, OPT_CLIP_HIGH, OPT_DRO_BETA, OPT_SCALE_STD, OPT_DROP_FLAT, OPT_KL_COEF,
	OPT_REFERENCE, OPT_REFERENCE_ADAPTER, OPT_SUBSTEPS, OPT_TEACHER, OPT_TEACHER_ADAPTER,
	OPT_TEACHER_COEF, OPT_JUDGE, OPT_JUDGE_ADAPTER, OPT_JUDGE_KIND, OPT_EVAL_PROMPTS, OPT_EVAL_EVERY,
	OPT_EVAL_GROUPS, OPT_FROM_STREAM, OPT_BATCH, OPT_DUMP_PROMPTS, OPT_ROLLOUTS,
};

const tk_option tk_rl_options[] = {
	{"groups", 0, "N", "prompts a step (default 8)"},
	{"group-size", 0, "N", "samples of each prompt (default 8)"},
	{"steps", 0, "N", "sampled steps (default 50; --from-stream: batches, default all)"},
	{"loss", 0, "L", "is (default), ppo, cispo, dro or pg"},
	{"clip-low", 0, "X", "ppo, cispo: lower ratio bound (default 0.8)"},
	{"clip-high", 0, "X", "ppo, cispo: upper ratio bound (default 1.2)"},
	{"dro-beta", 0, "B", "dro: weight of the quadratic term (default 0.05)"},
	{"scale-by-std", 0, NULL, "divide advantages by the group's reward std"},
	{"drop-flat-groups", 0, NULL, "leave out groups whose rewards are all equal"},
	{"kl-coef", 0, "X", "KL penalty to the reference, folded into the advantages (default 0)"},
	{"reference", 0, "MODEL", "--kl-coef: the reference model (default: the policy's base)"},
	{"reference-adapter", 0, "FILE", "--kl-coef: the reference's LoRA adapter"},
	{"substeps", 0, "N", "optimizer steps on each sampled batch (default 1)"},
	{"teacher", 0, "MODEL", "on-policy distillation: the teacher scoring every sampled token"},
	{"teacher-adapter", 0, "FILE", "the teacher's LoRA adapter"},
	{"teacher-coef", 0, "X", "weight of the teacher's reverse KL in the advantages (default 1)"},
	{"judge", 0, "MODEL", "reward: a judge comparing a group's completions pairwise"},
	{"judge-adapter", 0, "FILE", "the judge's LoRA adapter"},
	{"judge-kind", 0, "K", "generative (default: it answers A or B) or implicit (a DPO adapter)"},
	{"eval-prompts", 0, "FILE", "held-out prompts scored every --eval-every steps (greedy)"},
	{"eval-every", 0, "N", "steps between evaluations on --eval-prompts (default 10)"},
	{"eval-groups", 0, "N", "prompts of an evaluation (default: the whole file, at most 4096)"},
	{"from-stream", 0, "FILE", "offline: train on scored rollouts of a .tks ('-': stdin)"},
	{"batch", 0, "N", "--from-stream: records an update (default 64)"},
	{"dump-prompts", 0, "N", "write the environment's first N prompts as JSON Lines, and exit"},
	{"rollouts", 0, "FILE", "also write every sampled, scored rollout to a token stream"},
	TK_SAMPLE_OPTION_ROWS("64"),
	TK_ENV_OPTION_ROWS,
	TK_EPISODE_OPTION_ROWS,
	TK_TRAIN_OPTION_ROWS,
	{0, 0, 0, 0}
};

static void parse_rl_option(tk_cli *cli, tk_rl_settings *s, int o, const char *v)
{
	switch (o) {
	case OPT_GROUPS: s->groups = tk_cli_int(cli, "groups", v, 1, 1 << 16); break;
	case OPT_GROUP_SIZE: s->group_size = tk_cli_int(cli, "group-size", v, 1, 1 << 16); break;
	case OPT_STEPS: s->steps = tk_cli_int(cli, "steps", v, 1, INT32_MAX); break;
	case OPT_LOSS:
		if ((s->loss.kind = tk_rl_loss_parse(v)) < 0)
			tk_die(TK_EUSAGE, "--loss: '%s' is not is, ppo, cispo, dro or pg", v);
		break;
	case OPT_CLIP_LOW: s->loss.clip_low = tk_cli_double(cli, "clip-low", v, 0, 1); break;
	case OPT_CLIP_HIGH: s->loss.clip_high = tk_cli_double(cli, "clip-high", v, 1, 1e6); break;
	case OPT_DRO_BETA: s->loss.dro_beta = tk_cli_double(cli, "dro-beta", v, 0, 1e6); break;
	case OPT_SCALE_STD: s->scale_std = 1; break;
	case OPT_DROP_FLAT: s->drop_flat = 1; break;
	case OPT_KL_COEF: s->kl_coef = tk_cli_double(cli, "kl-coef", v, 0, 1e6); break;
	}
}

static void parse_run_option(tk_cli *cli, tk_rl_settings *s, int o, const char *v)
{
	switch (o) {
	case OPT_FROM_STREAM: s->from_stream = v; break;
	case OPT_BATCH: s->batch = tk_cli_int(cli, "batch", v, 1, 1 << 24); break;
	case OPT_DUMP_PROMPTS: s->dump = tk_cli_int(cli, "dump-prompts", v, 1, INT32_MAX); break;
	case OPT_ROLLOUTS: s->rollouts = v; break;
	case OPT_SUBSTEPS: s->substeps = tk_cli_int(cli, "substeps", v, 1, 1 << 16); break;
	case OPT_EVAL_PROMPTS: s->eval_prompts = v; break;
	case OPT_EVAL_EVERY: s->eval_every = tk_cli_int(cli, "eval-every", v, 1, INT32_MAX); break;
	case OPT_EVAL_GROUPS: s->eval_groups = tk_cli_int(cli, "eval-groups", v, 1, 4096); break;
	}
}

static void parse_side_option(tk_cli *cli, tk_rl_settings *s, int o, const char *v)
{
	switch (o) {
	case OPT_TEACHER: s->teacher = v; break;
	case OPT_TEACHER_ADAPTER: s->teacher_adapter = v; break;
	case OPT_TEACHER_COEF: s->teacher_coef = tk_cli_double(cli, "teacher-coef", v, 0, 1e6); break;
	case OPT_REFERENCE: s->reference = v; break;
	case OPT_REFERENCE_ADAPTER: s->reference_adapter = v; break;
	case OPT_JUDGE: s->judge = v; break;
	case OPT_JUDGE_ADAPTER: s->judge_adapter = v; break;
	case OPT_JUDGE_KIND:
		if (strcmp(v, "generative") && strcmp(v, "implicit"))
			tk_die(TK_EUSAGE, "--judge-kind: '%s' is not generative or implicit", v);
		s->judge_implicit = !strcmp(v, "implicit");
		break;
	}
}

/* The side models (teacher, judge, reference) are for sampled runs. */
static void check_side_models(const tk_rl_settings *s)
{
	if (s->teacher_adapter && !s->teacher)
		tk_die(TK_EUSAGE, "--teacher-adapter needs --teacher MODEL");
	if (s->judge_adapter && !s->judge)
		tk_die(TK_EUSAGE, "--judge-adapter needs --judge MODEL");
	if (s->judge_implicit && !s->judge_adapter)
		tk_die(TK_EUSAGE, "--judge-kind implicit needs --judge MODEL and --judge-adapter "
		       "(the DPO-trained adapter whose implicit reward scores)");
	if ((s->reference || s->reference_adapter) && !(s->kl_coef > 0))
		tk_die(TK_EUSAGE, "--reference and --reference-adapter name the --kl-coef reference");
	if ((s->teacher || s->judge) && s->from_stream)
		tk_die(TK_EUSAGE, "--teacher and --judge score sampled runs, not --from-stream");
	if (s->judge && !strcmp(s->envo.env ? s->envo.env : "", "episodes"))
		tk_die(TK_EUSAGE, "--judge compares single completions, not --env episodes");
	if (s->teacher && !strcmp(s->envo.env ? s->envo.env : "", "episodes"))
		tk_die(TK_EUSAGE, "--teacher scores single completions, not --env episodes");
	if (s->eval_prompts && !strcmp(s->envo.env ? s->envo.env : "", "episodes"))
		tk_die(TK_EUSAGE, "--eval-prompts is for single completions; episodes: --evaluate N");
	if (s->eval_prompts && s->from_stream)
		tk_die(TK_EUSAGE, "--eval-prompts evaluates sampled runs, not --from-stream");
	if ((s->eval_every || s->eval_groups) && !s->eval_prompts)
		tk_die(TK_EUSAGE, "--eval-every and --eval-groups go with --eval-prompts FILE");
}

static void check_settings(tk_cli *cli, tk_rl_settings *s, int argc)
{
	if (cli->first_operand < argc)
		tk_die(TK_EUSAGE, "no operands (the data comes from --env, --prompts or --from-stream)");
	tk_train_opts_check(&s->train);
	tk_env_opts_check(&s->envo, s->from_stream != NULL);
	tk_episode_opts_check(&s->epi, &s->envo, s->group_size);
	if (s->kl_coef > 0 && s->from_stream)
		tk_die(TK_EUSAGE, "--kl-coef is for sampled runs, not --from-stream");
	if (s->rollouts && s->from_stream)
		tk_die(TK_EUSAGE, "--rollouts writes what a sampled run samples, not --from-stream");
	check_side_models(s);
	if (!s->batch)
		s->batch = 64;
	if (!s->substeps)
		s->substeps = 1;
	if (s->eval_prompts && !s->eval_every)
		s->eval_every = 10;
	const char *resume = s->train.resume;
	if (resume && strcmp(cli->output, "-") && strcmp(cli->output, resume))
		tk_die(TK_EUSAGE, "--resume RUNDIR writes to RUNDIR; -o names another folder");
	s->rundir = resume ? resume : strcmp(cli->output, "-") ? cli->output : "rl-run";
}

void tk_rl_settings_parse(tk_cli *cli, tk_rl_settings *s, int argc, char **argv)
{
	*s = (tk_rl_settings){
		.groups = 8, .group_size = 8, .loss = {TK_RL_IS, 0.8, 1.2, 0.05}, .teacher_coef = 1,
	};
	tk_train_opts_init(&s->train, TK_LR_CONSTANT);
	tk_env_opts_init(&s->envo);
	tk_episode_opts_init(&s->epi);
	tk_sample_opts_init(&s->sample, 64, 1);
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0) {
		if (tk_train_opts_parse(cli, &s->train, tk_rl_options[o].long_name, v))
			continue;
		if (tk_env_opts_parse(cli, &s->envo, tk_rl_options[o].long_name, v) ||
		    tk_episode_opts_parse(cli, &s->epi, tk_rl_options[o].long_name, v) ||
		    tk_sample_opts_parse(cli, &s->sample, tk_rl_options[o].long_name, v))
			continue;
		parse_rl_option(cli, s, o, v);
		parse_run_option(cli, s, o, v);
		parse_side_option(cli, s, o, v);
	}
	check_settings(cli, s, argc);
	s->seed = cli->seed_given ? cli->seed : 0;
	s->threads = cli->threads;
	s->backend = cli->backend;
	s->quiet = cli->quiet;
}
