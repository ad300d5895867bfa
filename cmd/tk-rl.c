/* tk-rl: on-policy reinforcement learning in one process: sample groups of
 * completions with the current policy, score them in an environment
 * (arithmetic, math, or any reward program), by a judge or a teacher,
 * group-centred advantages, update through the trainer; or offline, one
 * update per batch of a token stream of scored rollouts.  The run's setup
 * is lib/cli/rl_setup.c; this is its loop.  See man/tk-rl.1. */
#include "cli/rl_run.h"

#include "tk_backend.h"
#include "tk_dist.h"
#include "tk_error.h"
#include "tk_forward.h"
#include "tk_model.h"
#include "tk_progress.h"
#include "tk_run.h"
#include "tk_tks.h"
#include "tk_train.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --substeps updates over recs (denominator: the tokens the loss averages
 * over), each followed by an optimizer step; the metrics are the last's. */
static void update(tk_rl_run *r, const tk_rl_record *recs, size_t n, double denominator,
		   tk_rl_step_stats *st)
{
	const tk_rl_settings *s = r->s;
	tk_backend_set_batch_invariant(r->be, 0); // throughput; same -t gives same bits
	st->substeps = (int)s->substeps;
	for (int64_t k = 0; k < s->substeps; k++) { // ratios move off 1 after the first
		if (denominator > 0)
			tk_check(tk_rl_update(r->t, &s->loss, recs, n, r->micro, denominator, &st->up));
		if (!isfinite(st->up.loss))
			tk_rl_run_stop_on_nan(r, "the loss", st->up.loss);
		if (tk_train_opts_optim_step(&s->train, r->t, r->lr, r->total * s->substeps, &st->lr,
					     &st->grad_norm))
			tk_rl_run_stop_on_nan(r, "the gradient norm", st->grad_norm);
	}
}

static void log_step(tk_rl_run *r, int64_t step, const tk_rl_step_stats *st)
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
static void check_in_step(tk_rl_run *r, int rc)
{
	if (rc)
		tk_rl_run_stop(r, rc, tk_error_message());
}

/* The policy as it is now: with LoRA the trainer's live adapter on the
 * engine (nothing copied); with --full its weights exported into the
 * model a forward of its own is opened with. */
static int open_policy(void *ctx, size_t slots, size_t context, tk_forward **f)
{
	tk_rl_run *r = ctx;
	tk_backend_set_batch_invariant(r->be, 1);  // a sample's tokens whatever the batch
	if (r->engine)
		return tk_forward_open_engine(f, r->engine, "policy", slots, context, 1024);
	int rc = tk_train_export_model(r->t, r->model);
	return rc ? rc : tk_forward_open(f, r->be, r->model, NULL, slots, context, 1024);
}

static int open_partner(void *ctx, size_t slots, size_t context, tk_forward **f)
{
	return tk_side_model_forward(&((tk_rl_run *)ctx)->partner, slots, context, f);
}

/* Sampled: the backend back to training's setting (KL pass, update). */
static void close_policy(void *ctx, tk_forward *f)
{
	tk_rl_run *r = ctx;
	tk_forward_close(f);
	tk_backend_set_batch_invariant(r->be, 0); // throughput; same -t gives same bits
}

/* What sampling the policy in the environment needs (gen: o's options). */
static void online(tk_rl_run *r, tk_gen_options *gen, tk_rl_online *o)
{
	const tk_rl_settings *s = r->s;
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
		.kl_coef = s->kl_coef, .ref = r->ref, .ref_train = r->engine && !r->ref ? r->t : NULL,
		.teacher = r->teacher_scorer, .teacher_coef = s->teacher_coef,
		.judge = r->judge_rl.scorer ? &r->judge_rl : NULL,
		.ref_micro = r->micro, .open_policy = open_policy, .close_policy = close_policy,
		.episode = &r->limits, .open_partner = s->epi.partner ? open_partner : NULL,
		.ctx = r,
	};
}

static void one_step(tk_rl_run *r)
{
	const tk_rl_settings *s = r->s;
	int64_t step = tk_rl_run_steps(r) + 1;
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
static void evaluate(tk_rl_run *r)
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
	char *line = tk_rl_eval_line(&st, &res, tk_rl_run_steps(r), st.t_step);
	if (!line)
		tk_check(TK_EOSERR);
	if (printf("%s\n", line) < 0 || fflush(stdout))
		tk_die(TK_EIO, "writing the evaluation: %s", strerror(errno));
	if (st.ep.failed)
		tk_warn("%zu episodes failed; the last, %s", st.ep.failed, st.ep.failure);
	free(line);
	tk_rl_step_stats_free(&st);
}

/* --eval-prompts: the held-out prompts answered greedily by the policy as
 * it is, each once, scored by the environment: a metrics line of test/
 * keys for the step. */
static void test_prompts(tk_rl_run *r, int64_t step)
{
	size_t n = tk_rl_env_size(r->eval_env), most = r->s->eval_groups ? (size_t)r->s->eval_groups
									     : 4096;
	tk_gen_options gen;
	tk_rl_online o;
	online(r, &gen, &o);
	gen.params.temperature = 0;
	o.env = r->eval_env, o.groups = n < most ? n : most, o.group_size = 1;
	o.kl_coef = 0, o.teacher = NULL, o.judge = NULL;
	tk_rl_step_stats st = {0};
	tk_rl_batch b;
	tk_check(tk_rl_step_stats_init(&st));
	double t0 = tk_now();
	int rc = tk_rl_online_batch(&o, 1, &b, &st);
	tk_rl_batch_free(&b);
	if (rc)
		tk_rl_run_stop(r, rc, tk_error_message());
	char *line = tk_rl_test_line(&st, step, tk_now() - t0);
	if (!line)
		tk_check(TK_EOSERR);
	tk_train_opts_log_line(r->metrics, line);
	if (!r->s->quiet)
		fprintf(stderr, "step %" PRId64 "  test reward %.4f on %zu held-out prompts\n", step,
			st.reward_sum / (double)(st.samples ? st.samples : 1), st.samples);
	free(line);
	tk_rl_step_stats_free(&st);
}

static void after_step(tk_rl_run *r)
{
	const tk_rl_settings *s = r->s;
	int64_t step = tk_rl_run_steps(r);
	int sig = tk_dist_agree_stop(tk_run_stop_signal()); // all ranks stop together
	if (sig) {
		tk_rl_run_save_state(r);
		tk_rl_run_close_rollouts(r);
		tk_die(TK_ETEMPFAIL, "interrupted (signal %d) after step %" PRId64 "; state in %s; "
		       "continue with --resume %s", sig, step, r->last_state, s->rundir);
	}
	if (s->train.save_every && step % s->train.save_every == 0 && step < r->total)
		tk_rl_run_save_state(r);
}

static void train_online(tk_rl_run *r)
{
	tk_run_catch_signals();
	if (r->eval_env && tk_rl_run_steps(r) == 0)
		test_prompts(r, 0);
	while (tk_rl_run_steps(r) < r->total) {
		one_step(r);
		int64_t step = tk_rl_run_steps(r);
		if (r->eval_env && (step % r->s->eval_every == 0 || step == r->total))
			test_prompts(r, step);
		after_step(r);
	}
}

/* ---- offline: --from-stream --------------------------------------------- */

static void offline_step(tk_rl_run *r, const tk_rl_record *recs, size_t n, double tokens,
			 tk_rl_step_stats *st)
{
	double t0 = tk_now();
	int64_t step = tk_rl_run_steps(r) + 1;
	st->sampled = (size_t)tokens;
	update(r, recs, n, tokens, st);
	st->t_train = fmax(tk_now() - t0, 1e-9);
	st->t_step = st->t_train;
	log_step(r, step, st);
}

/* The next batch's records, or 0 at the end of the stream. */
static size_t next_batch(tk_rl_run *r, tk_rl_stream *in, const tk_rl_record **recs, double *tokens,
			 tk_rl_step_stats *st)
{
	size_t n;
	int rc = tk_rl_stream_next(in, r->s->scale_std, recs, &n, tokens, st);
	if (rc)
		tk_die(rc, "%s", tk_error_message());
	return n;
}

static void train_offline(tk_rl_run *r)
{
	tk_rl_stream *in;
	const tk_rl_record *recs;
	double tokens;
	tk_check(tk_rl_stream_open(&in, r->s->from_stream, (size_t)r->s->batch, r->s->loss.kind,
				   r->micro, r->tok_fp));
	// a resumed run skips the batches its checkpoint has trained on
	for (int64_t done = 0; done < tk_rl_run_steps(r); done++)
		if (next_batch(r, in, &recs, &tokens, NULL) == 0)
			tk_die(TK_EDATA, "--resume: %s ends before the checkpoint's step %" PRId64,
			       r->s->from_stream, tk_rl_run_steps(r));
	tk_run_catch_signals();
	while (!r->total || tk_rl_run_steps(r) < r->total) {
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
	if (tk_rl_run_steps(r) == 0)
		tk_die(TK_EDATA, "%s: no records to train on", r->s->from_stream);
	tk_rl_stream_close(in);
}

int main(int argc, char **argv)
{
	tk_cli cli = {
		.name = "tk-rl",
		.usage = "-m MODEL [--env NAME] [OPTIONS]",
		.summary = "Reinforcement learning: sample groups with the current policy, score "
			   "them (arithmetic, math, or any reward program), update; or train on "
			   "scored rollouts (--from-stream).",
		.options = tk_rl_options,
		.common = TK_CLI_THREADS | TK_CLI_BACKEND | TK_CLI_SEED | TK_CLI_OUTPUT | TK_CLI_ADAPTERS,
	};
	tk_cli_init(&cli);
	tk_rl_settings s;
	tk_rl_settings_parse(&cli, &s, argc, argv);
	tk_check(tk_dist_init()); // mpirun / srun: one rank of a data-parallel job
	tk_check(tk_dist_size() > 1 && (s.from_stream || s.rollouts || s.dump || s.epi.evaluate)
		 ? tk_fail(TK_EUSAGE, "--from-stream, --rollouts, --dump-prompts and --evaluate "
			   "run on one rank for now") : TK_OK);
	s.quiet |= !tk_dist_is_root();
	tk_rl_run r = {.s = &s};
	r.started = tk_now();
	tk_rl_run_setup(&r);
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
		tk_rl_run_save_state(&r);
		tk_train_opts_write_final(&s.train, s.rundir, r.t, r.model, r.lora, s.quiet);
	}
	tk_rl_run_teardown(&r);
	return 0;
}
