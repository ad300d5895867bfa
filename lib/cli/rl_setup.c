/* tk-rl's run: setting it up and taking it down, its folder, checkpoints
 * and resume (rl_run.h). */
#include "cli/rl_run.h"

#include "tk_backend.h"
#include "tk_engine.h"
#include "tk_error.h"
#include "tk_eval.h"
#include "tk_io.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_progress.h"
#include "tk_render.h"
#include "tk_run.h"
#include "tk_tokenizer.h"
#include "tk_tks.h"
#include "tk_train.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- setup: model, renderer, environment --------------------------------- */

static void open_model(tk_rl_run *r)
{
	const tk_rl_settings *s = r->s;
	tk_train_opts_open_model(&s->train, s->seed, &r->model, &r->lora, r->model_fp, r->tok_fp);
	if (!r->model->tokenizer && !s->from_stream)
		tk_die(TK_ECONFIG, "%s: the model has no tokenizer to render prompts with", s->train.model);
}

static void open_renderer(tk_rl_run *r)
{
	const tk_rl_settings *s = r->s;
	int rc = s->sample.renderer ? tk_renderer_open(&r->renderer, s->sample.renderer, r->model->tokenizer)
			     : tk_renderer_detect(&r->renderer, r->model->tokenizer);
	if (rc && s->sample.renderer)
		tk_die(rc, "--renderer %s: %s", s->sample.renderer, tk_error_message());
	if (rc)
		tk_die(rc, "%s (prompts are chats: name a renderer with --renderer)",
		       tk_error_message());
}

/* The model's eos, the renderer's stop tokens and strings, and --stop. */
static void open_env(tk_rl_run *r)
{
	tk_check(tk_env_opts_open(&r->s->envo, r->s->seed, &r->env));
	if (!r->s->eval_prompts)
		return;
	tk_env_opts held_out = r->s->envo; // the same environment on other prompts
	held_out.prompts = r->s->eval_prompts;
	int rc = tk_env_opts_open(&held_out, r->s->seed, &r->eval_env);
	if (rc)
		tk_die(rc, "--eval-prompts %s: %s", r->s->eval_prompts, tk_error_message());
	if (!tk_rl_env_size(r->eval_env))
		tk_die(TK_EUSAGE, "--eval-prompts: the %s environment generates its problems; "
		       "held-out prompts need a prompts file (--env math or cmd)", r->s->envo.env);
}

/* ---- run folder, checkpoints, resume ------------------------------------ */



int64_t tk_rl_run_steps(const tk_rl_run *r)
{
	return tk_train_steps(r->t) / r->s->substeps;
}

void tk_rl_run_save_state(tk_rl_run *r)
{
	char meta[256];
	snprintf(meta, sizeof meta, "{\"seed\": %" PRIu64 ", \"base_fingerprint\": \"%s\", "
		 "\"command\": \"tk-rl\"}", r->s->seed, r->model_fp);
	tk_check(tk_run_save_state(r->s->rundir, r->t, meta, NULL, r->last_state,
				   sizeof r->last_state));
}

static cJSON *settings_json(const tk_rl_run *r)
{
	const tk_rl_settings *s = r->s;
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
	cJSON_AddNumberToObject(o, "substeps", (double)s->substeps);
	if (s->reference || s->reference_adapter)
		cJSON_AddStringToObject(o, "reference", s->reference ? s->reference : s->train.model);
	if (s->reference_adapter)
		cJSON_AddStringToObject(o, "reference_adapter", s->reference_adapter);
	if (s->teacher) {
		cJSON_AddStringToObject(o, "teacher", s->teacher);
		cJSON_AddNumberToObject(o, "teacher_coef", s->teacher_coef);
	}
	if (s->teacher_adapter)
		cJSON_AddStringToObject(o, "teacher_adapter", s->teacher_adapter);
	if (s->judge)
		cJSON_AddStringToObject(o, "judge", s->judge);
	if (s->judge_adapter)
		cJSON_AddStringToObject(o, "judge_adapter", s->judge_adapter);
	if (s->judge)
		cJSON_AddStringToObject(o, "judge_kind", s->judge_implicit ? "implicit" : "generative");
	if (s->eval_prompts) {
		cJSON_AddStringToObject(o, "eval_prompts", s->eval_prompts);
		cJSON_AddNumberToObject(o, "eval_every", (double)s->eval_every);
	}
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
static cJSON *config_json(const tk_rl_run *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "command", "tk-rl");
	cJSON_AddStringToObject(o, "version", TK_VERSION);
	cJSON_AddStringToObject(o, "model", r->s->train.model);
	cJSON_AddNumberToObject(o, "trainable_parameters", (double)tk_train_trainable(r->t));
	return o;
}

static void resume(tk_rl_run *r)
{
	size_t cut;
	int rc = tk_run_resume_state(r->s->rundir, r->t, r->last_state, sizeof r->last_state,
				     &cut, NULL);
	tk_train_opts_warn_cut(r->s->rundir, cut);
	tk_check(rc);
	if (!r->s->quiet)
		tk_warn("resuming at step %" PRId64 " from %s", tk_rl_run_steps(r), r->last_state);
}

/* The rollouts of the finished steps stay when a run stops early. */
void tk_rl_run_close_rollouts(tk_rl_run *r)
{
	if (r->rollouts)
		tk_check(tk_tks_writer_close(r->rollouts));
	r->rollouts = NULL;
}

/* A failure inside a step (the reward program, a NaN): the state of the
 * last finished step is kept, then the run stops with rc. */
_Noreturn void tk_rl_run_stop(tk_rl_run *r, int rc, const char *what)
{
	tk_rl_run_save_state(r);
	tk_rl_run_close_rollouts(r);
	tk_die(rc, "%s; stopped at step %" PRId64 " with its state in %s; continue with "
	       "--resume %s", what, tk_rl_run_steps(r) + 1, r->last_state, r->s->rundir);
}

_Noreturn void tk_rl_run_stop_on_nan(tk_rl_run *r, const char *what, double value)
{
	char msg[256];
	snprintf(msg, sizeof msg, "%s is %g (try a lower --lr or --grad-clip)", what, value);
	tk_rl_run_stop(r, TK_EDATA, msg);
}

/* ---- setup and end ------------------------------------------------------ */

/* The KL reference's logprobs: by default the policy's base, which with
 * LoRA is the trainer's own pass with the adapter left out (no second
 * copy, no scorer); --reference / --reference-adapter, or --full (which
 * changes the base itself), make it a side model with a scorer. */
static void open_reference(tk_rl_run *r, const tk_side_policy *policy)
{
	const tk_rl_settings *s = r->s;
	if (r->engine && !s->reference && !s->reference_adapter)
		return;
	tk_check(tk_side_model_open(&r->reference, "reference",
				    s->reference ? s->reference : s->train.model,
				    s->reference_adapter, policy));
	tk_check(tk_side_model_scorer(&r->reference, 1, &r->ref));
}

/* The partner, the teacher and the judge, each on the policy's engine when
 * it is the policy's base. */
static void open_side_models(tk_rl_run *r)
{
	const tk_rl_settings *s = r->s;
	char weights[17];
	tk_check(tk_model_weights_hex(r->model, weights));
	tk_side_policy policy = {r->be, r->engine, r->model_fp, weights,
				 tk_tokenizer_fingerprint(r->model->tokenizer)};
	tk_check(tk_side_model_open(&r->partner, "partner", s->epi.partner, s->epi.partner_adapter,
				    &policy));
	tk_check(tk_side_model_open(&r->teacher, "teacher", s->teacher, s->teacher_adapter,
				    &policy));
	if (s->teacher)
		tk_check(tk_side_model_scorer(&r->teacher, 1, &r->teacher_scorer));
	tk_check(tk_side_model_open(&r->judge, "judge", s->judge, s->judge_adapter, &policy));
	size_t judge_slots = s->judge_implicit ? (size_t)s->group_size : 2;
	if (s->judge)
		tk_check(tk_side_model_scorer(&r->judge, judge_slots, &r->judge_rl.scorer));
	if (s->judge_implicit) // the judge's bare base: the DPO reference it was trained from
		tk_check(tk_eval_scorer_open_engine(&r->judge_rl.reference, r->judge.engine, NULL,
						    judge_slots));
	r->judge_rl.renderer = r->renderer;
	if (s->kl_coef > 0)
		open_reference(r, &policy);
}

/* LoRA: the base uploaded and packed once into an engine the trainer, the
 * sampler and the reference share; the host copy of the weights is then
 * dropped.  --full: the trainer's own weights. */
static void open_trainer(tk_rl_run *r, const tk_train_config *tc)
{
	if (r->s->train.full) {
		tk_check(tk_train_open_recompute(&r->t, r->be, r->model, NULL, tc,
						 r->s->train.recompute));
		return;
	}
	tk_engine_config ec = {.train = 1, .base = r->s->train.base};
	tk_check(tk_engine_open(&r->engine, r->be, r->model, &ec));
	tk_check(tk_train_open_engine(&r->t, r->engine, r->lora, "policy", tc,
				      r->s->train.recompute));
	tk_model_drop_weights(r->model);
}

static void print_plan(const tk_rl_run *r)
{
	const tk_rl_settings *s = r->s;
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

void tk_rl_run_setup(tk_rl_run *r)
{
	const tk_rl_settings *s = r->s;
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
	open_side_models(r);
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

void tk_rl_run_teardown(tk_rl_run *r)
{
	if (r->metrics && fclose(r->metrics))
		tk_die(TK_EIO, "metrics.jsonl: %s", strerror(errno));
	tk_rl_run_close_rollouts(r);
	tk_eval_scorer_close(r->ref);
	tk_eval_scorer_close(r->teacher_scorer);
	tk_eval_scorer_close(r->judge_rl.scorer);
	tk_eval_scorer_close(r->judge_rl.reference);
	tk_train_close(r->t);
	tk_side_model_close(&r->partner);  // the side models before the engine they share
	tk_side_model_close(&r->teacher);
	tk_side_model_close(&r->judge);
	tk_side_model_close(&r->reference);
	tk_engine_close(r->engine);
	tk_backend_close(r->be);
	tk_rl_env_free(r->env);
	tk_rl_env_free(r->eval_env);
	tk_renderer_free(r->renderer);
	tk_lora_free(r->lora);
	tk_model_free(r->model);
}
