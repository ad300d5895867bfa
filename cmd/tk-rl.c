/* tk-rl: on-policy reinforcement learning in one process: sample groups of
 * completions with the current policy, score them in an environment
 * (arithmetic, math, or any reward program), group-centred advantages,
 * update through the trainer; or offline, one update per batch of a token
 * stream of scored rollouts.  See man/tk-rl.1. */
#include "cli/tk_cli.h"
#include "cli/env_options.h"
#include "cli/episode_options.h"
#include "cli/sample_options.h"
#include "cli/train_options.h"
#include "tk_engine.h"
#include "tk_error.h"
#include "tk_eval.h"
#include "tk_io.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_progress.h"
#include "tk_run.h"
#include "tk_render.h"
#include "tk_rl.h"
#include "tk_utf8.h"
#include "tk_sampler.h"
#include "tk_tks.h"
#include "tk_train.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tk_backend.h"
#include "tk_forward.h"


enum {
	OPT_GROUPS, OPT_GROUP_SIZE, OPT_STEPS, OPT_LOSS,
	OPT_CLIP_LOW, OPT_CLIP_HIGH, OPT_DRO_BETA, OPT_SCALE_STD, OPT_DROP_FLAT, OPT_KL_COEF,
	OPT_FROM_STREAM, OPT_BATCH, OPT_DUMP_PROMPTS, OPT_ROLLOUTS,
};

static const tk_option options[] = {
	{"groups", 0, "N", "prompts a step (default 8)"},
	{"group-size", 0, "N", "samples of each prompt (default 8)"},
	{"steps", 0, "N", "optimizer steps (default 50; --from-stream: the whole stream)"},
	{"loss", 0, "L", "is (default), ppo, cispo, dro or pg"},
	{"clip-low", 0, "X", "ppo, cispo: lower ratio bound (default 0.8)"},
	{"clip-high", 0, "X", "ppo, cispo: upper ratio bound (default 1.2)"},
	{"dro-beta", 0, "B", "dro: weight of the quadratic term (default 0.05)"},
	{"scale-by-std", 0, NULL, "divide advantages by the group's reward std"},
	{"drop-flat-groups", 0, NULL, "leave out groups whose rewards are all equal"},
	{"kl-coef", 0, "X", "KL penalty to the base model, folded into the advantages (default 0)"},
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

typedef struct settings {
	tk_train_opts train;       // model, adapter, optimizer, passes, checkpoints
	tk_env_opts envo;          // the environment
	tk_episode_opts epi;       // its episodes (--env episodes)
	tk_sample_opts sample;     // sampling the policy
	const char *rundir, *from_stream, *rollouts;
	double kl_coef;
	int scale_std, drop_flat;
	int64_t groups, group_size, steps, batch, dump;
	tk_rl_loss_params loss;
	uint64_t seed;
	int threads, quiet;
	const char *backend;
} settings;

/* ---- options ------------------------------------------------------------ */

static void parse_rl_option(tk_cli *cli, settings *s, int o, const char *v)
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

static void parse_run_option(tk_cli *cli, settings *s, int o, const char *v)
{
	switch (o) {
	case OPT_FROM_STREAM: s->from_stream = v; break;
	case OPT_BATCH: s->batch = tk_cli_int(cli, "batch", v, 1, 1 << 24); break;
	case OPT_DUMP_PROMPTS: s->dump = tk_cli_int(cli, "dump-prompts", v, 1, INT32_MAX); break;
	case OPT_ROLLOUTS: s->rollouts = v; break;
	}
}

static void check_settings(tk_cli *cli, settings *s, int argc)
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
	if (!s->batch)
		s->batch = 64;
	const char *resume = s->train.resume;
	if (resume && strcmp(cli->output, "-") && strcmp(cli->output, resume))
		tk_die(TK_EUSAGE, "--resume RUNDIR writes to RUNDIR; -o names another folder");
	s->rundir = resume ? resume : strcmp(cli->output, "-") ? cli->output : "rl-run";
}

static void parse_options(tk_cli *cli, settings *s, int argc, char **argv)
{
	*s = (settings){
		.groups = 8, .group_size = 8, .loss = {TK_RL_IS, 0.8, 1.2, 0.05},
	};
	tk_train_opts_init(&s->train, TK_LR_CONSTANT);
	tk_env_opts_init(&s->envo);
	tk_episode_opts_init(&s->epi);
	tk_sample_opts_init(&s->sample, 64, 1);
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0) {
		if (tk_train_opts_parse(cli, &s->train, options[o].long_name, v))
			continue;
		if (tk_env_opts_parse(cli, &s->envo, options[o].long_name, v) ||
		    tk_episode_opts_parse(cli, &s->epi, options[o].long_name, v) ||
		    tk_sample_opts_parse(cli, &s->sample, options[o].long_name, v))
			continue;
		parse_rl_option(cli, s, o, v);
		parse_run_option(cli, s, o, v);
	}
	check_settings(cli, s, argc);
	s->seed = cli->seed_given ? cli->seed : 0;
	s->threads = cli->threads;
	s->backend = cli->backend;
	s->quiet = cli->quiet;
}

/* ---- the run ------------------------------------------------------------ */

typedef struct run {
	const settings *s;
	tk_backend *be;
	tk_engine *engine;         // LoRA: the base, once, for trainer, sampler and reference
	tk_model *model, *base;    // base: the reference for --kl-coef with --full
	tk_lora *lora;
	tk_train *t;
	tk_rl_env *env;
	tk_rl_episode_limits limits; // --env episodes
	tk_partner partner;        // --partner
	tk_renderer *renderer;
	tk_eval_scorer *ref;       // base model logprobs (--kl-coef)
	tk_tks_writer *rollouts;   // --rollouts
	tk_gen_stops stops;        // what ends a completion
	char model_fp[17], tok_fp[17];
	double lr;
	int64_t total;             // optimizer steps of the run (0: until the stream ends)
	size_t micro;
	FILE *metrics;
	double started;
	char last_state[4096];
} run;




/* ---- setup: model, renderer, environment --------------------------------- */

static void open_model(run *r)
{
	const settings *s = r->s;
	tk_train_opts_open_model(&s->train, s->seed, &r->model, &r->lora, r->model_fp, r->tok_fp);
	if (!r->model->tokenizer && !s->from_stream)
		tk_die(TK_ECONFIG, "%s: the model has no tokenizer to render prompts with", s->train.model);
}

static void open_renderer(run *r)
{
	const settings *s = r->s;
	int rc = s->sample.renderer ? tk_renderer_open(&r->renderer, s->sample.renderer, r->model->tokenizer)
			     : tk_renderer_detect(&r->renderer, r->model->tokenizer);
	if (rc && s->sample.renderer)
		tk_die(rc, "--renderer %s: %s", s->sample.renderer, tk_error_message());
	if (rc)
		tk_die(rc, "%s (prompts are chats: name a renderer with --renderer)",
		       tk_error_message());
}

/* The model's eos, the renderer's stop tokens and strings, and --stop. */
static void open_env(run *r)
{
	tk_check(tk_env_opts_open(&r->s->envo, r->s->seed, &r->env));
}

/* ---- run folder, checkpoints, resume ------------------------------------ */



static void save_state(run *r)
{
	char meta[256];
	snprintf(meta, sizeof meta, "{\"seed\": %" PRIu64 ", \"base_fingerprint\": \"%s\", "
		 "\"command\": \"tk-rl\"}", r->s->seed, r->model_fp);
	tk_check(tk_run_save_state(r->s->rundir, r->t, meta, NULL, r->last_state,
				   sizeof r->last_state));
}

static cJSON *settings_json(const run *r)
{
	const settings *s = r->s;
	cJSON *o = cJSON_CreateObject();
	tk_env_opts_json(&s->envo, o);
	if (r->limits.max_tokens)
		tk_episode_opts_json(&s->epi, &r->limits, o);
	if (s->from_stream)
		cJSON_AddStringToObject(o, "from_stream", s->from_stream);
	cJSON_AddNumberToObject(o, "groups", (double)s->groups);
	cJSON_AddNumberToObject(o, "group_size", (double)s->group_size);
	cJSON_AddNumberToObject(o, "batch", (double)s->batch);
	cJSON_AddNumberToObject(o, "steps", (double)r->total);
	cJSON_AddStringToObject(o, "loss", tk_rl_loss_name(s->loss.kind));
	cJSON_AddNumberToObject(o, "clip_low", s->loss.clip_low);
	cJSON_AddNumberToObject(o, "clip_high", s->loss.clip_high);
	cJSON_AddNumberToObject(o, "dro_beta", s->loss.dro_beta);
	cJSON_AddBoolToObject(o, "scale_by_std", s->scale_std);
	cJSON_AddBoolToObject(o, "drop_flat_groups", s->drop_flat);
	cJSON_AddNumberToObject(o, "kl_coef", s->kl_coef);
	cJSON_AddNumberToObject(o, "max_tokens", (double)s->sample.max_tokens);
	cJSON_AddNumberToObject(o, "temperature", s->sample.params.temperature);
	cJSON_AddNumberToObject(o, "top_p", s->sample.params.top_p);
	cJSON_AddNumberToObject(o, "top_k", s->sample.params.top_k);
	cJSON_AddStringToObject(o, "renderer", r->renderer ? tk_renderer_name(r->renderer) : "");
	tk_train_opts_json(&s->train, r->lr, r->micro, o);
	cJSON_AddNumberToObject(o, "seed", (double)s->seed);
	cJSON_AddStringToObject(o, "model_fingerprint", r->model_fp);
	return o;
}

/* config.json's description of the run (its settings come beside it). */
static cJSON *config_json(const run *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "command", "tk-rl");
	cJSON_AddStringToObject(o, "version", TK_VERSION);
	cJSON_AddStringToObject(o, "model", r->s->train.model);
	cJSON_AddNumberToObject(o, "trainable_parameters", (double)tk_train_trainable(r->t));
	return o;
}

static void resume(run *r)
{
	size_t cut;
	int rc = tk_run_resume_state(r->s->rundir, r->t, r->last_state, sizeof r->last_state,
				     &cut, NULL);
	tk_train_opts_warn_cut(r->s->rundir, cut);
	tk_check(rc);
	if (!r->s->quiet)
		tk_warn("resuming at step %" PRId64 " from %s", tk_train_steps(r->t), r->last_state);
}

/* The rollouts of the finished steps stay when a run stops early. */
static void close_rollouts(run *r)
{
	if (r->rollouts)
		tk_check(tk_tks_writer_close(r->rollouts));
	r->rollouts = NULL;
}

/* A failure inside a step (the reward program, a NaN): the state of the
 * last finished step is kept, then the run stops with rc. */
static _Noreturn void stop_run(run *r, int rc, const char *what)
{
	save_state(r);
	close_rollouts(r);
	tk_die(rc, "%s; stopped at step %" PRId64 " with its state in %s; continue with "
	       "--resume %s", what, tk_train_steps(r->t) + 1, r->last_state, r->s->rundir);
}

static void stop_on_nan(run *r, const char *what, double value)
{
	char msg[256];
	snprintf(msg, sizeof msg, "%s is %g (try a lower --lr or --grad-clip)", what, value);
	stop_run(r, TK_EDATA, msg);
}

/* One update over recs (denominator: the tokens the loss averages over),
 * then the optimizer step. */
static void update(run *r, const tk_rl_record *recs, size_t n, double denominator,
		   tk_rl_step_stats *st)
{
	const settings *s = r->s;
	tk_backend_set_batch_invariant(r->be, 0); // throughput; same -t gives same bits
	if (denominator > 0)
		tk_check(tk_rl_update(r->t, &s->loss, recs, n, r->micro, denominator, &st->up));
	if (!isfinite(st->up.loss))
		stop_on_nan(r, "the loss", st->up.loss);
	if (tk_train_opts_optim_step(&s->train, r->t, r->lr, r->total, &st->lr, &st->grad_norm))
		stop_on_nan(r, "the gradient norm", st->grad_norm);
}

static void log_step(run *r, int64_t step, const tk_rl_step_stats *st)
{
	char *line = tk_rl_metrics_line(st, step, r->total, tk_now() - r->started), progress[256];
	if (!line)
		tk_check(TK_EOSERR);
	tk_train_opts_log_line(r->metrics, line);
	free(line);
	tk_rl_progress_line(st, step, r->total, progress, sizeof progress);
	if (!r->s->quiet)
		fprintf(stderr, "%s\n", progress);
	if (st->ep.failed)
		tk_warn("step %" PRId64 ": %zu episodes failed; the last, %s", step, st->ep.failed,
			st->ep.failure);
}

/* ---- the loop ----------------------------------------------------------- */

/* A failure of the step's own (the reward program, a NaN): stop the run
 * with the state of the last finished step. */
static void check_in_step(run *r, int rc)
{
	if (rc)
		stop_run(r, rc, tk_error_message());
}

/* The policy as it is now: with LoRA the trainer's live adapter on the
 * engine (nothing copied); with --full its weights exported into the
 * model a forward of its own is opened with. */
static int open_policy(void *ctx, size_t slots, size_t context, tk_forward **f)
{
	run *r = ctx;
	tk_backend_set_batch_invariant(r->be, 1);  // a sample's tokens whatever the batch
	if (r->engine)
		return tk_forward_open_engine(f, r->engine, "policy", slots, context, 1024);
	int rc = tk_train_export_model(r->t, r->model);
	return rc ? rc : tk_forward_open(f, r->be, r->model, NULL, slots, context, 1024);
}

static int open_partner(void *ctx, size_t slots, size_t context, tk_forward **f)
{
	return tk_partner_forward(&((run *)ctx)->partner, slots, context, f);
}

/* Sampled: the backend back to training's setting (KL pass, update). */
static void close_policy(void *ctx, tk_forward *f)
{
	run *r = ctx;
	tk_forward_close(f);
	tk_backend_set_batch_invariant(r->be, 0); // throughput; same -t gives same bits
}

/* What sampling the policy in the environment needs (gen: o's options). */
static void online(run *r, tk_gen_options *gen, tk_rl_online *o)
{
	const settings *s = r->s;
	*gen = (tk_gen_options){
		.params = s->sample.params, .seed = s->seed, .max_tokens = s->sample.max_tokens,
		.stop_ids = r->stops.ids, .n_stop_ids = r->stops.n_ids,
		.stop_strings = r->stops.strings, .n_stop_strings = r->stops.n_strings,
		.tok = r->model->tokenizer,
	};
	*o = (tk_rl_online){
		.env = r->env, .renderer = r->renderer, .groups = (size_t)s->groups,
		.room = {(size_t)r->model->config.max_positions, s->sample.max_tokens, r->micro},
		.group_size = (size_t)s->group_size, .gen = gen, .cut = s->sample.stops,
		.n_cut = s->sample.n_stops, .scale_by_std = s->scale_std, .drop_flat = s->drop_flat,
		.kl_coef = s->kl_coef, .ref = r->ref, .ref_train = r->engine ? r->t : NULL,
		.ref_micro = r->micro, .open_policy = open_policy, .close_policy = close_policy,
		.episode = &r->limits, .open_partner = s->epi.partner ? open_partner : NULL,
		.ctx = r,
	};
}

static void one_step(run *r)
{
	const settings *s = r->s;
	int64_t step = tk_train_steps(r->t) + 1;
	tk_gen_options gen;
	tk_rl_online o;
	online(r, &gen, &o);
	tk_rl_step_stats st = {0};
	tk_rl_batch b;
	tk_check(tk_rl_step_stats_init(&st));
	double t0 = tk_now();
	check_in_step(r, tk_rl_online_batch(&o, step, &b, &st));
	int rc = r->rollouts ? tk_rl_rollouts_write(r->rollouts, step, b.prompts.p, b.prompts.n,
						    b.ro, b.n) : TK_OK;
	if (rc) {
		tk_tks_writer_abort(r->rollouts);
		tk_die(rc, "--rollouts %s: %s", s->rollouts, tk_error_message());
	}
	double t2 = tk_now();
	update(r, b.recs, b.kept, b.tokens, &st);
	double t3 = tk_now();
	st.t_train = fmax(t3 - t2, 1e-9);
	st.t_step = t3 - t0;
	log_step(r, step, &st);
	tk_rl_step_stats_free(&st);
	tk_rl_batch_free(&b);
}

/* --evaluate N: held-out episodes played by the policy as it is (the
 * run's last state with --resume), their mean return on stdout. */
static void evaluate(run *r)
{
	tk_gen_options gen;
	tk_rl_online o;
	online(r, &gen, &o);
	tk_rl_step_stats st = {0};
	tk_rl_eval_result res;
	tk_check(tk_rl_step_stats_init(&st));
	double t0 = tk_now();
	int rc = tk_rl_evaluate(&o, (size_t)r->s->epi.evaluate, &res, &st);
	if (rc)
		tk_die(rc, "--evaluate: %s", tk_error_message());
	st.t_step = tk_now() - t0;
	char *line = tk_rl_eval_line(&st, &res, tk_train_steps(r->t), st.t_step);
	if (!line)
		tk_check(TK_EOSERR);
	if (printf("%s\n", line) < 0 || fflush(stdout))
		tk_die(TK_EIO, "writing the evaluation: %s", strerror(errno));
	if (st.ep.failed)
		tk_warn("%zu episodes failed; the last, %s", st.ep.failed, st.ep.failure);
	free(line);
	tk_rl_step_stats_free(&st);
}

static void after_step(run *r)
{
	const settings *s = r->s;
	int64_t step = tk_train_steps(r->t);
	if (tk_run_stop_signal()) {
		save_state(r);
		close_rollouts(r);
		tk_die(TK_ETEMPFAIL, "interrupted (signal %d) after step %" PRId64 "; state in %s; "
		       "continue with --resume %s", tk_run_stop_signal(), step, r->last_state, s->rundir);
	}
	if (s->train.save_every && step % s->train.save_every == 0 && step < r->total)
		save_state(r);
}

static void train_online(run *r)
{
	tk_run_catch_signals();
	while (tk_train_steps(r->t) < r->total) {
		one_step(r);
		after_step(r);
	}
}

/* ---- offline: --from-stream --------------------------------------------- */

static void offline_step(run *r, const tk_rl_record *recs, size_t n, double tokens,
			 tk_rl_step_stats *st)
{
	double t0 = tk_now();
	int64_t step = tk_train_steps(r->t) + 1;
	st->sampled = (size_t)tokens;
	update(r, recs, n, tokens, st);
	st->t_train = fmax(tk_now() - t0, 1e-9);
	st->t_step = st->t_train;
	log_step(r, step, st);
}

/* The next batch's records, or 0 at the end of the stream. */
static size_t next_batch(run *r, tk_rl_stream *in, const tk_rl_record **recs, double *tokens,
			 tk_rl_step_stats *st)
{
	size_t n;
	int rc = tk_rl_stream_next(in, r->s->scale_std, recs, &n, tokens, st);
	if (rc)
		tk_die(rc, "%s", tk_error_message());
	return n;
}

static void train_offline(run *r)
{
	tk_rl_stream *in;
	const tk_rl_record *recs;
	double tokens;
	tk_check(tk_rl_stream_open(&in, r->s->from_stream, (size_t)r->s->batch, r->s->loss.kind,
				   r->micro, r->tok_fp));
	// a resumed run skips the batches its checkpoint has trained on
	for (int64_t done = 0; done < tk_train_steps(r->t); done++)
		if (next_batch(r, in, &recs, &tokens, NULL) == 0)
			tk_die(TK_EDATA, "--resume: %s ends before the checkpoint's step %" PRId64,
			       r->s->from_stream, tk_train_steps(r->t));
	tk_run_catch_signals();
	while (!r->total || tk_train_steps(r->t) < r->total) {
		tk_rl_step_stats st = {.offline = 1};
		tk_check(tk_rl_step_stats_init(&st));
		size_t n = next_batch(r, in, &recs, &tokens, &st);
		if (n)
			offline_step(r, recs, n, tokens, &st);
		tk_rl_step_stats_free(&st);
		if (!n)
			break;
		after_step(r);
	}
	if (tk_train_steps(r->t) == 0)
		tk_die(TK_EDATA, "%s: no records to train on", r->s->from_stream);
	tk_rl_stream_close(in);
}

/* ---- setup and end ------------------------------------------------------ */

/* The base model's logprobs: with LoRA the trainer's own pass with the
 * adapter left out (no second copy, no scorer); --full changes the base
 * itself, so the reference is a copy. */
static void open_reference(run *r)
{
	if (r->engine)
		return;
	tk_check(tk_model_load(&r->base, r->s->train.model));
	tk_check(tk_eval_scorer_open(&r->ref, r->s->backend, r->s->threads, r->base, NULL, 1));
}

/* LoRA: the base uploaded and packed once into an engine the trainer, the
 * sampler and the reference share; the host copy of the weights is then
 * dropped.  --full: the trainer's own weights. */
static void open_trainer(run *r, const tk_train_config *tc)
{
	if (r->s->train.full) {
		tk_check(tk_train_open_recompute(&r->t, r->be, r->model, NULL, tc,
						 r->s->train.recompute));
		return;
	}
	tk_engine_config ec = {.train = 1};
	tk_check(tk_engine_open(&r->engine, r->be, r->model, &ec));
	tk_check(tk_train_open_engine(&r->t, r->engine, r->lora, "policy", tc,
				      r->s->train.recompute));
	tk_model_drop_weights(r->model);
}

static void print_plan(const run *r)
{
	const settings *s = r->s;
	tk_train_opts_print_trainer(&s->train, r->t, tk_backend_name(r->be), s->quiet);
	if (s->quiet)
		return;
	if (s->from_stream)
		fprintf(stderr, "tk-rl: offline from %s, %" PRId64 " records an update, %s loss, "
			"lr %.4g\n", s->from_stream, s->batch, tk_rl_loss_name(s->loss.kind), r->lr);
	else
		fprintf(stderr, "tk-rl: env %s, %" PRId64 " steps of %" PRId64 " groups x %" PRId64
			", %zu tokens at most, temperature %g; %s loss, lr %.4g%s\n", s->envo.env,
			r->total, s->groups, s->group_size, s->sample.max_tokens, s->sample.params.temperature,
			tk_rl_loss_name(s->loss.kind), r->lr, s->kl_coef > 0 ? ", KL penalty" : "");
}

static void setup(run *r)
{
	const settings *s = r->s;
	open_model(r);
	if (!s->from_stream) {
		open_renderer(r);
		tk_gen_stops_collect(&r->stops, r->model->tokenizer, r->renderer, s->sample.stops,
				     s->sample.n_stops);
		open_env(r);
	}
	if (s->dump)
		return;
	r->lr = tk_train_opts_lr(&s->train, &r->model->config, s->quiet);
	r->total = s->steps ? s->steps : s->from_stream ? 0 : 50;
	// a pass holds at least one record: a prompt of up to 2048 tokens and its completion
	size_t record = s->sample.max_tokens + 2048, positions = (size_t)r->model->config.max_positions;
	record = record < positions ? record : positions;
	r->micro = s->train.micro > record || s->from_stream ? s->train.micro : record;
	if (!s->from_stream) // --max-memory: passes that fit, each holding a whole record
		r->micro = tk_train_opts_pass(&s->train, r->model, r->micro, record);
	tk_check(tk_backend_open(&r->be, s->backend, s->threads));
	if (r->env && tk_rl_env_plays_episodes(r->env))
		tk_episode_opts_limits(&s->epi, positions, r->micro, &r->limits);
	tk_train_config tc = {s->train.full, r->micro};
	open_trainer(r, &tc);
	tk_check(tk_partner_open(&r->partner, &s->epi, r->be, r->engine, r->model_fp,
				 tk_tokenizer_fingerprint(r->model->tokenizer)));
	if (s->kl_coef > 0)
		open_reference(r);
	if (s->epi.evaluate) { // nothing written: the policy read from --resume, if named
		if (s->train.resume)
			resume(r);
		return;
	}
	if (tk_train_opts_open_run(&s->train, s->rundir, config_json(r), settings_json(r)))
		resume(r);
	r->metrics = tk_train_opts_open_metrics(s->rundir);
	if (s->rollouts)
		tk_check(tk_rl_rollouts_writer_open(&r->rollouts, s->rollouts, r->tok_fp, r->model_fp,
						    (size_t)r->model->config.vocab,
						    tk_renderer_name(r->renderer)));
	print_plan(r);
}

static void teardown(run *r)
{
	if (r->metrics && fclose(r->metrics))
		tk_die(TK_EIO, "metrics.jsonl: %s", strerror(errno));
	close_rollouts(r);
	tk_eval_scorer_close(r->ref);
	tk_train_close(r->t);
	tk_partner_close(&r->partner);
	tk_engine_close(r->engine);
	tk_backend_close(r->be);
	tk_rl_env_free(r->env);
	tk_renderer_free(r->renderer);
	tk_lora_free(r->lora);
	tk_model_free(r->model);
	tk_model_free(r->base);
}

int main(int argc, char **argv)
{
	tk_cli cli = {
		.name = "tk-rl",
		.usage = "-m MODEL [--env NAME] [OPTIONS]",
		.summary = "Reinforcement learning: sample groups with the current policy, score "
			   "them (arithmetic, math, or any reward program), update; or train on "
			   "scored rollouts (--from-stream).",
		.options = options,
		.common = TK_CLI_THREADS | TK_CLI_BACKEND | TK_CLI_SEED | TK_CLI_OUTPUT,
	};
	tk_cli_init(&cli);
	settings s;
	parse_options(&cli, &s, argc, argv);
	run r = {.s = &s};
	r.started = tk_now();
	setup(&r);
	if (s.dump)
		tk_check(tk_rl_prompts_dump(r.env, (uint64_t)s.dump,
					    strcmp(s.rundir, "rl-run") ? s.rundir : "-"));
	else if (s.from_stream)
		train_offline(&r);
	else if (s.epi.evaluate)
		evaluate(&r);
	else
		train_online(&r);
	if (!s.dump && !s.epi.evaluate) {
		save_state(&r);
		tk_train_opts_write_final(&s.train, s.rundir, r.t, r.model, r.lora, s.quiet);
	}
	teardown(&r);
	return 0;
}
