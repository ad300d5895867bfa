/* tk-sft: supervised fine-tuning on a token stream (weighted cross-entropy
 * or DPO), LoRA or full, with checkpoints and exact resume.  See
 * man/tk-sft.1. */
#include "cli/dpo_reference.h"
#include "cli/tk_cli.h"
#include "cli/train_options.h"
#include "tk_backend.h"
#include "tk_batch.h"
#include "tk_dataset.h"
#include "tk_dist.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_progress.h"
#include "tk_run.h"
#include "tk_train.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_BATCH_TOKENS, OPT_BATCH, OPT_STEPS, OPT_EPOCHS, OPT_SHUFFLE, OPT_NO_SHUFFLE,
	OPT_MAX_LEN, OPT_LOSS, OPT_NORM, OPT_DPO_BETA, OPT_EVAL, OPT_EVAL_EVERY,
	OPT_TARGETS, OPT_HARD_WEIGHT, OPT_REFERENCE_ADAPTER,
};

static const tk_option options[] = {
	{"batch-tokens", 0, "N", "batch by token budget: records up to N tokens a step"},
	{"batch", 0, "N", "batch by records: N records (pairs with DPO) a step (default 8)"},
	{"steps", 0, "N", "optimizer steps to take (default: --epochs)"},
	{"epochs", 0, "N", "passes over the data (default 1)"},
	{"shuffle", 0, NULL, "shuffle records each epoch, seeded (default for files)"},
	{"no-shuffle", 0, NULL, "keep the stream's order"},
	{"max-len", 0, "N", "skip records longer than N tokens (default: model positions, <= 4096)"},
	{"loss", 0, "L", "ce (default) or dpo"},
	{"normalize", 0, "N", "ce: per-example (default) or per-token"},
	{"dpo-beta", 0, "B", "DPO beta (default 0.1)"},
	{"eval", 0, "FILE", "token stream to report test/nll on"},
	{"eval-every", 0, "N", "evaluate every N steps (default 0: at the end only)"},
	{"targets", 0, "T", "ce: hard, soft (a stream's top-K) or mixed (default: soft when "
			    "the stream carries a top-K)"},
	{"hard-weight", 0, "X", "--targets mixed: the data token's weight beside the top-K "
				"(default 0.5)"},
	{"reference-adapter", 0, "FILE", "dpo: the reference is the model with this adapter "
					 "(default: without one)"},
	TK_TRAIN_OPTION_ROWS,
	{0, 0, 0, 0}
};

typedef struct settings {
	tk_train_opts train;       // model, adapter, optimizer, passes, checkpoints
	const char *input, *rundir, *eval, *reference_adapter;
	int loss, norm, shuffle;
	double dpo_beta;
	int targets;               // enum targets; -1: by the data
	double hard_weight;        // --targets mixed
	int64_t steps, epochs, eval_every;
	size_t batch_tokens, batch, max_len;
	uint64_t seed;
	int threads, quiet;
	const char *backend;
} settings;

/* ---- options ------------------------------------------------------------ */

enum targets { TARGETS_HARD, TARGETS_SOFT, TARGETS_MIXED };
static const char *const target_names[] = {"hard", "soft", "mixed"};

static void parse_one(tk_cli *cli, settings *s, int o, const char *v)
{
	if (tk_train_opts_parse(cli, &s->train, options[o].long_name, v))
		return;
	switch (o) {
	case OPT_BATCH_TOKENS: s->batch_tokens = (size_t)tk_cli_int(cli, "batch-tokens", v, 1, INT32_MAX); break;
	case OPT_BATCH: s->batch = (size_t)tk_cli_int(cli, "batch", v, 1, INT32_MAX); break;
	case OPT_STEPS: s->steps = tk_cli_int(cli, "steps", v, 1, INT64_MAX / 2); break;
	case OPT_EPOCHS: s->epochs = tk_cli_int(cli, "epochs", v, 1, 1000000); break;
	case OPT_SHUFFLE: s->shuffle = 1; break;
	case OPT_NO_SHUFFLE: s->shuffle = 0; break;
	case OPT_MAX_LEN: s->max_len = (size_t)tk_cli_int(cli, "max-len", v, 2, 1 << 20); break;
	case OPT_LOSS:
		if (strcmp(v, "ce") && strcmp(v, "dpo"))
			tk_die(TK_EUSAGE, "--loss: '%s' is not ce or dpo", v);
		s->loss = strcmp(v, "dpo") == 0 ? TK_TRAIN_DPO : TK_TRAIN_CE;
		break;
	case OPT_NORM:
		if (strcmp(v, "per-example") && strcmp(v, "per-token"))
			tk_die(TK_EUSAGE, "--normalize: '%s' is not per-example or per-token", v);
		s->norm = strcmp(v, "per-token") == 0 ? TK_TRAIN_PER_TOKEN : TK_TRAIN_PER_EXAMPLE;
		break;
	case OPT_DPO_BETA: s->dpo_beta = tk_cli_double(cli, "dpo-beta", v, 1e-6, 1e6); break;
	case OPT_EVAL: s->eval = v; break;
	case OPT_EVAL_EVERY: s->eval_every = tk_cli_int(cli, "eval-every", v, 0, INT32_MAX); break;
	case OPT_TARGETS:
		for (s->targets = 2; s->targets >= 0 && strcmp(v, target_names[s->targets]);)
			s->targets--;
		if (s->targets < 0)
			tk_die(TK_EUSAGE, "--targets: '%s' is not hard, soft or mixed", v);
		break;
	case OPT_HARD_WEIGHT: s->hard_weight = tk_cli_double(cli, "hard-weight", v, 0, 1); break;
	case OPT_REFERENCE_ADAPTER: s->reference_adapter = v; break;
	}
}

static void check_settings(tk_cli *cli, settings *s, int argc, char **argv)
{
	if (cli->first_operand < argc - 1)
		tk_die(TK_EUSAGE, "one input at most (got %d); concatenate streams with cat",
		       argc - cli->first_operand);
	s->input = cli->first_operand < argc ? argv[cli->first_operand] : "-";
	tk_train_opts_check(&s->train);
	if (s->batch && s->batch_tokens)
		tk_die(TK_EUSAGE, "--batch and --batch-tokens exclude each other");
	if (!s->batch && !s->batch_tokens)
		s->batch = 8;
	if (s->loss == TK_TRAIN_DPO && s->targets > TARGETS_HARD)
		tk_die(TK_EUSAGE, "--targets %s is for --loss ce", target_names[s->targets]);
	if (s->reference_adapter && s->loss != TK_TRAIN_DPO)
		tk_die(TK_EUSAGE, "--reference-adapter is DPO's reference (--loss dpo)");
	if (s->train.full && s->loss == TK_TRAIN_DPO)
		tk_die(TK_EUSAGE, "--loss dpo needs LoRA (its reference is the base model "
		       "without the adapter)");
	int from_stdin = strcmp(s->input, "-") == 0;
	if (s->shuffle < 0)
		s->shuffle = !from_stdin;
	if (from_stdin && (s->shuffle || s->epochs > 1))
		tk_die(TK_EUSAGE, "standard input is read once, in order: --shuffle and "
		       "--epochs > 1 need the stream in a file");
	if (s->steps && s->epochs)
		tk_die(TK_EUSAGE, "--steps and --epochs exclude each other");
	if (!s->steps && !s->epochs)
		s->epochs = 1;
	const char *resume = s->train.resume;
	if (resume && strcmp(cli->output, "-") && strcmp(cli->output, resume))
		tk_die(TK_EUSAGE, "--resume RUNDIR writes to RUNDIR; -o names another folder");
	s->rundir = resume ? resume : strcmp(cli->output, "-") ? cli->output : "sft-run";
}

static void parse_options(tk_cli *cli, settings *s, int argc, char **argv)
{
	*s = (settings){
		.loss = TK_TRAIN_CE, .norm = TK_TRAIN_PER_EXAMPLE, .shuffle = -1, .dpo_beta = 0.1,
		.targets = -1, .hard_weight = 0.5,
	};
	tk_train_opts_init(&s->train, TK_LR_LINEAR);
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0)
		parse_one(cli, s, o, v);
	check_settings(cli, s, argc, argv);
	s->seed = cli->seed_given ? cli->seed : 0;
	s->threads = cli->threads;
	s->backend = cli->backend;
	s->quiet = cli->quiet;
}

/* ---- the run ------------------------------------------------------------ */

typedef struct run {
	const settings *s;
	int targets;               // enum targets, as resolved for the data
	tk_backend *be;
	tk_model *model;
	tk_lora *lora;
	tk_train *t;
	tk_dataset *data, *eval;
	char model_fp[17], tok_fp[17], data_fp[17];
	double lr;                 // peak learning rate
	int64_t total;             // optimizer steps of the run
	uint64_t epoch;            // data position: order[index] of epoch is next
	size_t index;
	size_t *order;             // (data units)
	size_t *batch;             // (data units) units of the current step
	size_t micro;              // tokens of one forward/backward
	size_t max_len;            // longest record trained on
	tk_batch_plan *plan;       // batches, micro-batches, DPO references
	FILE *metrics;
	double started;
	char last_state[4096];     // last state checkpoint written or loaded
} run;

/* ---- model and data ----------------------------------------------------- */

static void open_model(run *r)
{
	const settings *s = r->s;
	tk_train_opts_open_model_lazy(&s->train, s->seed, &r->model, &r->lora, r->model_fp,
				      r->tok_fp);
}

static size_t default_max_len(const run *r)
{
	size_t n = (size_t)r->model->config.max_positions;
	return r->s->max_len ? r->s->max_len : n < 4096 ? n : 4096;
}

static void explain_empty(const run *r, const char *path, const tk_dataset *d, size_t max_len)
{
	if (d->read == 0)
		tk_die(TK_EDATA, "%s has no records: nothing to train on", path);
	if (d->too_long == d->read)
		tk_die(TK_EDATA, "%s: every record is longer than --max-len %zu (longest %zu "
		       "tokens); raise --max-len or render shorter records", path, max_len,
		       d->longest);
	if (r->s->loss == TK_TRAIN_DPO)
		tk_die(TK_EDATA, "%s holds no preference pairs (chosen then rejected record of "
		       "one group, as tk-render --pairs writes them)", path);
	tk_die(TK_EDATA, "%s: no record has a non-zero loss weight (all weights are zero): "
	       "nothing to train on; render with --train-on to choose the trained tokens", path);
}

static void check_tokenizer(const run *r, const char *path, const tk_dataset *d)
{
	char fp[17];
	if (!r->tok_fp[0] || tk_dataset_tokenizer(d, fp) != TK_OK)
		return;
	if (strcmp(fp, r->tok_fp) != 0)
		tk_die(TK_EDATA, "%s was rendered with tokenizer %s, but %s has tokenizer %s: "
		       "render the data with this model", path, fp, r->s->train.model, r->tok_fp);
}

static void warn_dropped(const run *r, const char *path, const tk_dataset *d, size_t max_len)
{
	if (r->s->quiet)
		return;
	if (d->too_long)
		tk_warn("%s: skipped %" PRIu64 " of %" PRIu64 " records longer than --max-len %zu "
			"(longest %zu tokens)", path, d->too_long, d->read, max_len, d->longest);
	if (d->unweighted)
		tk_warn("%s: skipped %" PRIu64 " records whose loss weights are all zero", path,
			d->unweighted);
	if (d->unpaired)
		tk_warn("%s: skipped %" PRIu64 " records that are not part of a chosen/rejected "
			"pair", path, d->unpaired);
}

static tk_dataset *load_data(run *r, const char *path, int pairs)
{
	size_t max_len = r->max_len;
	tk_dataset_options o = {max_len, pairs};
	tk_dataset *d;
	tk_check(tk_dataset_load(&d, path, &o));
	check_tokenizer(r, path, d);
	if (d->n_units == 0)
		explain_empty(r, path, d, max_len);
	warn_dropped(r, path, d, max_len);
	return d;
}

/* ---- batches ------------------------------------------------------------ */

/* The units of one step from order[*index]: --batch units, or units while
 * their tokens fit --batch-tokens (at least one); never past the epoch. */
/* --targets: soft or mixed train on the stream's top-K (the default when
 * it carries one, with --loss ce). */
static void use_targets(run *r)
{
	const settings *s = r->s;
	int soft_data = r->data->top_k && s->loss == TK_TRAIN_CE;
	r->targets = s->targets >= 0 ? s->targets : soft_data ? TARGETS_SOFT : TARGETS_HARD;
	if (r->targets > TARGETS_HARD && !r->data->top_k)
		tk_die(TK_EDATA, "--targets %s: %s carries no top-K (tk-eval logprobs --tks --top-k K "
		       "writes one)", target_names[r->targets], s->input);
	if (r->targets > TARGETS_HARD)
		tk_batch_plan_soft(r->plan, r->targets == TARGETS_MIXED ? s->hard_weight : 0.0);
}

/* The pass size (bounded by the batch, --micro-tokens and --max-memory, at
 * least the longest unit; a resumed run keeps its own) and the plan. */
static void plan_batches(run *r)
{
	tk_batch_rule rule = {r->s->batch, r->s->batch_tokens};
	size_t longest = 0;
	for (size_t i = 0; i < r->data->n_units; i++)
		longest = r->data->units[i].tokens > longest ? r->data->units[i].tokens : longest;
	for (size_t i = 0; r->eval && i < r->eval->n_units; i++)
		longest = r->eval->units[i].tokens > longest ? r->eval->units[i].tokens : longest;
	size_t most = tk_batch_most_tokens(r->data, &rule);
	size_t micro = r->s->train.micro < most ? r->s->train.micro : most;
	micro = tk_train_opts_pass(&r->s->train, r->model, micro, longest);
	r->micro = micro > longest ? micro : longest;
	size_t stored = tk_train_opts_resumed_micro(&r->s->train, r->s->rundir);
	if (stored) // the pass size shapes the sums' order: keep the run's own
		r->micro = stored > longest ? stored : longest;
	r->order = tk_calloc(r->data->n_units ? r->data->n_units : 1, sizeof *r->order);
	r->batch = tk_calloc(r->data->n_units ? r->data->n_units : 1, sizeof *r->batch);
	if (!r->order || !r->batch)
		tk_check(TK_EOSERR);
	tk_check(tk_batch_plan_open(&r->plan, r->data, &rule, r->micro));
	use_targets(r);
}

/* ---- config.json -------------------------------------------------------- */

/* Every setting that shapes the numbers: a resumed run must have the same. */
static cJSON *settings_json(const run *r)
{
	const settings *s = r->s;
	cJSON *o = cJSON_CreateObject();
	tk_train_opts_json(&s->train, r->lr, r->micro, o);
	cJSON_AddNumberToObject(o, "batch", (double)s->batch);
	cJSON_AddNumberToObject(o, "batch_tokens", (double)s->batch_tokens);
	cJSON_AddNumberToObject(o, "steps", (double)r->total);
	cJSON_AddNumberToObject(o, "epochs", (double)s->epochs);
	cJSON_AddNumberToObject(o, "seed", (double)s->seed);
	cJSON_AddBoolToObject(o, "shuffle", s->shuffle);
	cJSON_AddNumberToObject(o, "max_len", (double)r->max_len);
	cJSON_AddStringToObject(o, "loss", s->loss == TK_TRAIN_DPO ? "dpo" : "ce");
	cJSON_AddStringToObject(o, "normalize",
				s->norm == TK_TRAIN_PER_TOKEN ? "per-token" : "per-example");
	if (s->loss == TK_TRAIN_DPO)
		cJSON_AddNumberToObject(o, "dpo_beta", s->dpo_beta);
	if (s->reference_adapter)
		cJSON_AddStringToObject(o, "reference_adapter", s->reference_adapter);
	if (r->targets > TARGETS_HARD) // soft targets: what they are mixed with
		cJSON_AddStringToObject(o, "targets", target_names[r->targets]);
	if (r->targets == TARGETS_MIXED)
		cJSON_AddNumberToObject(o, "hard_weight", s->hard_weight);
	cJSON_AddStringToObject(o, "model_fingerprint", r->model_fp);
	cJSON_AddStringToObject(o, "data_fingerprint", r->data_fp);
	return o;
}

/* config.json's description of the run (its settings come beside it). */
static cJSON *config_json(const run *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "command", "tk-sft");
	cJSON_AddStringToObject(o, "version", TK_VERSION);
	cJSON_AddStringToObject(o, "model", r->s->train.model);
	cJSON_AddStringToObject(o, "data", r->s->input);
	cJSON_AddNumberToObject(o, "records", (double)r->data->n_records);
	cJSON_AddNumberToObject(o, "tokens", (double)r->data->n_tokens);
	if (r->s->eval)
		cJSON_AddStringToObject(o, "eval", r->s->eval);
	cJSON_AddNumberToObject(o, "trainable_parameters", (double)tk_train_trainable(r->t));
	return o;
}

/* ---- checkpoints -------------------------------------------------------- */

static void save_state(run *r)
{
	char meta[512], data[128];
	snprintf(meta, sizeof meta, "{\"data\": {\"epoch\": %" PRIu64 ", \"index\": %zu}, "
		 "\"seed\": %" PRIu64 ", \"base_fingerprint\": \"%s\", \"data_fingerprint\": \"%s\"}",
		 r->epoch, r->index, r->s->seed, r->model_fp, r->data_fp);
	snprintf(data, sizeof data, "\"data\": {\"epoch\": %" PRIu64 ", \"index\": %zu}",
		 r->epoch, r->index);
	tk_check(tk_run_save_state(r->s->rundir, r->t, meta, data, r->last_state,
				   sizeof r->last_state));
}

/* The data position of the last checkpoint's record. */
static void data_position(run *r, const cJSON *record)
{
	const cJSON *d = cJSON_GetObjectItem(record, "data");
	const cJSON *e = cJSON_GetObjectItem(d, "epoch"), *i = cJSON_GetObjectItem(d, "index");
	if (!cJSON_IsNumber(e) || !cJSON_IsNumber(i))
		tk_die(TK_EDATA, "%s/checkpoints.jsonl: the last checkpoint has no data position",
		       r->s->rundir);
	r->epoch = (uint64_t)e->valuedouble;
	r->index = (size_t)i->valuedouble;
}

static void resume(run *r)
{
	size_t cut;
	cJSON *record = NULL;
	int rc = tk_run_resume_state(r->s->rundir, r->t, r->last_state, sizeof r->last_state,
				     &cut, &record);
	tk_train_opts_warn_cut(r->s->rundir, cut);
	tk_check(rc);
	data_position(r, record);
	cJSON_Delete(record);
	if (r->index > r->data->n_units)
		tk_die(TK_EDATA, "%s: data position %zu is past the data's %zu units", r->last_state,
		       r->index, r->data->n_units);
	if (!r->s->quiet)
		tk_warn("resuming at step %" PRId64 " from %s", tk_train_steps(r->t), r->last_state);
}

/* ---- the loop ----------------------------------------------------------- */

static void evaluate(run *r, int64_t step)
{
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 1, 0};
	tk_train_result res;
	size_t n = r->eval->n_units;
	size_t *all = tk_calloc(n, sizeof *all);
	if (!all)
		tk_check(TK_EOSERR);
	for (size_t i = 0; i < n; i++)
		all[i] = i;
	size_t tokens;
	tk_check(tk_batch_run(r->plan, r->t, r->eval, all, n, &loss, 0, &res, &tokens));
	free(all);
	double nll = res.weight > 0 ? res.nll / res.weight : 0;
	char line[256];
	snprintf(line, sizeof line, "{\"step\": %" PRId64 ", \"test/nll\": %.9g}\n", step, nll);
	fputs(line, r->metrics);
	fflush(r->metrics);
	if (!r->s->quiet)
		fprintf(stderr, "step %" PRId64 "  test/nll %.4f\n", step, nll);
}

static void stop_on_nan(const run *r, int64_t step, const char *what, double value)
{
	const char *kept = r->last_state[0] ? r->last_state : "none written yet";
	tk_die(TK_EDATA, "%s is %g at step %" PRId64 ": stopping (try a lower --lr or "
	       "--grad-clip); last good checkpoint: %s", what, value, step, kept);
}

static void log_step(run *r, int64_t step, const tk_train_result *res, double lr,
		     double norm, size_t tokens, double seconds)
{
	const settings *s = r->s;
	double elapsed = tk_now() - r->started;
	char line[768];
	int at = snprintf(line, sizeof line, "{\"step\": %" PRId64 ", \"epoch\": %" PRIu64 ", "
			  "\"train_mean_nll\": %.9g, \"optim/lr\": %.9g, \"optim/grad_norm\": "
			  "%.9g, \"num_tokens\": %zu, \"num_loss_tokens\": %zu", step, r->epoch,
			  res->loss, lr, norm, tokens, res->tokens);
	if (s->loss == TK_TRAIN_DPO && res->pairs)
		at += snprintf(line + at, sizeof line - (size_t)at, ", \"dpo_loss\": %.9g, "
			       "\"accuracy\": %.9g, \"margin\": %.9g, \"rewards/chosen\": %.9g, "
			       "\"rewards/rejected\": %.9g", res->loss,
			       (double)res->dpo_correct / (double)res->pairs,
			       res->dpo_margin / (double)res->pairs, res->dpo_chosen / (double)res->pairs,
			       res->dpo_rejected / (double)res->pairs);
	snprintf(line + at, sizeof line - (size_t)at, ", \"progress/done_frac\": %.6f, "
		 "\"time/tokens_per_sec\": %.1f, \"time/total\": %.3f}",
		 (double)step / (double)r->total, (double)tokens / seconds, elapsed);
	tk_train_opts_log_line(r->metrics, line);
	if (!s->quiet)
		fprintf(stderr, "step %" PRId64 "/%" PRId64 "  loss %.4f  lr %.3g  grad norm "
			"%.4g  %.0f tok/s\n", step, r->total, res->loss, lr, norm,
			(double)tokens / seconds);
}

/* The next step's units: the rest of this epoch or the start of the next. */
static size_t next_batch(run *r)
{
	if (r->index >= r->data->n_units) {
		r->epoch++;
		r->index = 0;
		tk_dataset_order(r->data, r->order, r->s->seed, r->epoch, r->s->shuffle);
	}
	return tk_batch_take(r->plan, r->order, &r->index, r->batch);
}

static void one_step(run *r)
{
	const settings *s = r->s;
	double t0 = tk_now();
	int64_t step = tk_train_steps(r->t) + 1;
	size_t n = next_batch(r);
	tk_train_loss loss = tk_batch_loss(r->plan, r->batch, n, r->s->loss, r->s->norm,
					   r->s->dpo_beta);
	tk_train_result res;
	size_t tokens;
	tk_check(tk_batch_run(r->plan, r->t, r->data, r->batch, n, &loss, 1, &res, &tokens));
	if (!isfinite(res.loss))
		stop_on_nan(r, step, "the loss", res.loss);
	double lr, norm;
	if (tk_train_opts_optim_step(&s->train, r->t, r->lr, r->total, &lr, &norm))
		stop_on_nan(r, step, "the gradient norm", norm);
	log_step(r, step, &res, lr, norm, tokens, fmax(tk_now() - t0, 1e-9));
}

static void train(run *r)
{
	const settings *s = r->s;
	tk_run_catch_signals();
	while (tk_train_steps(r->t) < r->total) {
		one_step(r);
		int64_t step = tk_train_steps(r->t);
		if (r->eval && s->eval_every && step % s->eval_every == 0 && step < r->total)
			evaluate(r, step);
		int sig = tk_dist_agree_stop(tk_run_stop_signal()); // all ranks stop together
		if (sig) {
			save_state(r);
			tk_die(TK_ETEMPFAIL, "interrupted (signal %d) after step %" PRId64 "; state "
			       "in %s; continue with --resume %s", sig, step, r->last_state,
			       s->rundir);
		}
		if (s->train.save_every && step % s->train.save_every == 0 && step < r->total)
			save_state(r);
	}
	if (r->eval)
		evaluate(r, r->total);
}

static void write_final(run *r)
{
	tk_train_opts_write_final(&r->s->train, r->s->rundir, r->t, r->model, r->lora,
				  r->s->quiet);
}

/* ---- setup -------------------------------------------------------------- */

static void choose_lr(run *r)
{
	r->lr = tk_train_opts_lr(&r->s->train, &r->model->config, r->s->quiet);
}

static void print_plan(const run *r)
{
	const settings *s = r->s;
	tk_train_opts_print_trainer(&s->train, r->t, tk_backend_name(r->be), s->quiet);
	if (s->quiet)
		return;
	fprintf(stderr, "tk-sft: %s: %zu records, %zu tokens; %" PRId64 " steps of %s %zu, "
		"%zu tokens a pass; %s lr %.4g, warmup %" PRId64 ", clip %g; %s loss%s\n",
		s->input, r->data->n_records, r->data->n_tokens, r->total,
		s->batch ? "batch" : "batch-tokens", s->batch ? s->batch : s->batch_tokens,
		r->micro, tk_lr_schedule_name(s->train.schedule), r->lr, s->train.warmup, s->train.clip,
		s->loss == TK_TRAIN_DPO ? "DPO" : "cross-entropy",
		s->loss == TK_TRAIN_DPO ? "" : s->norm == TK_TRAIN_PER_TOKEN ? " per token"
									       : " per example");
}

static void setup(run *r)
{
	const settings *s = r->s;
	open_model(r);
	r->max_len = default_max_len(r);
	r->data = load_data(r, s->input, s->loss == TK_TRAIN_DPO);
	if (s->eval)
		r->eval = load_data(r, s->eval, 0);
	tk_dataset_fingerprint_hex(r->data, r->data_fp);
	plan_batches(r);
	choose_lr(r);
	r->total = s->steps ? s->steps : tk_batch_count_steps(r->plan, s->epochs, s->seed, s->shuffle);
	if (s->reference_adapter) // before the trainer: the base is not held twice
		tk_dpo_reference_compute(s->reference_adapter, r->model, s->backend, s->threads,
					 r->data, r->plan);
	tk_check(tk_backend_open(&r->be, s->backend, s->threads));
	tk_backend_set_batch_invariant(r->be, 0); // throughput; same -t gives same bits
	tk_train_config tc = {s->train.full, r->micro};
	tk_check(tk_train_open_base(&r->t, r->be, r->model, r->lora, &tc, s->train.recompute,
				    s->train.base));
	if (!s->train.full) { // the trainer holds its own copy; only --full exports into it
		tk_model_free(r->model);
		r->model = NULL;
	}
	if (tk_train_opts_open_run(&s->train, s->rundir, config_json(r), settings_json(r)))
		resume(r);
	r->metrics = tk_train_opts_open_metrics(s->rundir);
	tk_dataset_order(r->data, r->order, s->seed, r->epoch, s->shuffle);
	print_plan(r);
}

static void teardown(run *r)
{
	if (r->metrics && fclose(r->metrics))
		tk_die(TK_EIO, "metrics.jsonl: %s", strerror(errno));
	tk_train_close(r->t);
	tk_backend_close(r->be);
	tk_lora_free(r->lora);
	tk_model_free(r->model);
	tk_dataset_free(r->data);
	tk_dataset_free(r->eval);
	free(r->order);
	free(r->batch);
	tk_batch_plan_close(r->plan);
}

int main(int argc, char **argv)
{
	tk_cli cli = {
		.name = "tk-sft",
		.usage = "-m MODEL [OPTIONS] [IN.tks|-]",
		.summary = "Fine-tune a model on a token stream: weighted cross-entropy or DPO, "
			   "LoRA or full, with checkpoints and exact resume.",
		.options = options,
		.common = TK_CLI_THREADS | TK_CLI_BACKEND | TK_CLI_SEED | TK_CLI_OUTPUT | TK_CLI_ADAPTERS,
	};
	tk_cli_init(&cli);
	settings s;
	parse_options(&cli, &s, argc, argv);
	run r = {.s = &s};
	tk_check(tk_dist_init()); // mpirun / srun: one rank of a data-parallel job
	s.quiet |= !tk_dist_is_root();
	r.started = tk_now();
	setup(&r);
	train(&r);
	write_final(&r);
	teardown(&r);
	return 0;
}
