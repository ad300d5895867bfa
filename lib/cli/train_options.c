/* The trainers' shared options (train_options.h). */
#include "train_options.h"

#include "tk_dist.h"
#include "tk_engine.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_run.h"
#include "tk_tokenizer.h"
#include "tk_train.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tk_train_opts_init(tk_train_opts *o, int schedule)
{
	*o = (tk_train_opts){
		.schedule = schedule, .alpha = 32, .clip = 1, .beta1 = 0.9, .beta2 = 0.95,
		.eps = 1e-8, .save_every = 20, .micro = 4096, .base = TK_ENGINE_BASE_AUTO,
	};
}

static int parse_adapter(const tk_cli *cli, tk_train_opts *o, const char *name, const char *v)
{
	if (!strcmp(name, "model"))
		o->model = v;
	else if (!strcmp(name, "lora-rank"))
		o->rank = (int)tk_cli_int(cli, "lora-rank", v, 1, 4096);
	else if (!strcmp(name, "lora-alpha"))
		o->alpha = tk_cli_double(cli, "lora-alpha", v, 1e-6, 1e6);
	else if (!strcmp(name, "lora-targets"))
		o->targets_list = v;
	else if (!strcmp(name, "full"))
		o->full = 1;
	else if (!strcmp(name, "init-adapter"))
		o->init_adapter = v;
	else
		return 0;
	return 1;
}

static int parse_optimizer(const tk_cli *cli, tk_train_opts *o, const char *name, const char *v)
{
	if (!strcmp(name, "lr")) {
		o->lr = tk_cli_double(cli, "lr", v, 0, 10);
		o->lr_given = 1;
	} else if (!strcmp(name, "lr-schedule")) {
		if ((o->schedule = tk_lr_schedule_parse(v)) < 0)
			tk_die(TK_EUSAGE, "--lr-schedule: '%s' is not constant, linear or cosine", v);
	} else if (!strcmp(name, "warmup")) {
		o->warmup = tk_cli_int(cli, "warmup", v, 0, INT32_MAX);
	} else if (!strcmp(name, "grad-clip")) {
		o->clip = tk_cli_double(cli, "grad-clip", v, 0, 1e30);
	} else if (!strcmp(name, "weight-decay")) {
		o->wd = tk_cli_double(cli, "weight-decay", v, 0, 10);
	} else if (!strcmp(name, "beta1")) {
		o->beta1 = tk_cli_double(cli, "beta1", v, 0, 0.999999);
	} else if (!strcmp(name, "beta2")) {
		o->beta2 = tk_cli_double(cli, "beta2", v, 0, 0.99999999);
	} else if (!strcmp(name, "eps")) {
		o->eps = tk_cli_double(cli, "eps", v, 0, 1);
	} else {
		return 0;
	}
	return 1;
}

static int parse_run(const tk_cli *cli, tk_train_opts *o, const char *name, const char *v)
{
	if (!strcmp(name, "micro-tokens")) {
		o->micro = (size_t)tk_cli_int(cli, "micro-tokens", v, 1, 1 << 24);
		o->micro_given = 1;
	} else if (!strcmp(name, "recompute")) {
		o->recompute = 1;
	} else if (!strcmp(name, "max-memory")) {
		o->max_memory = tk_cli_double(cli, "max-memory", v, 0.01, 1 << 30);
	} else if (!strcmp(name, "base-dtype")) {
		if ((o->base = tk_engine_base_parse(v)) < 0)
			tk_die(TK_EUSAGE, "--base-dtype: '%s' is not auto, f32, bf16, q8, q4 or bf16-dot",
			       v);
	} else if (!strcmp(name, "save-every")) {
		o->save_every = tk_cli_int(cli, "save-every", v, 0, INT32_MAX);
	} else if (!strcmp(name, "resume")) {
		o->resume = v;
	} else {
		return 0;
	}
	return 1;
}

int tk_train_opts_parse(const tk_cli *cli, tk_train_opts *o, const char *name,
			const char *value)
{
	o->cli = cli; // its -t, when the options are all read
	return parse_adapter(cli, o, name, value) || parse_optimizer(cli, o, name, value) ||
	       parse_run(cli, o, name, value);
}

void tk_train_opts_check(tk_train_opts *o)
{
	if (!o->model)
		tk_die(TK_EUSAGE, "-m MODEL is needed");
	if (o->full && (o->targets_list || o->rank || o->init_adapter))
		tk_die(TK_EUSAGE, "--full trains every weight: --lora-* and --init-adapter do not apply");
	if (o->init_adapter && (o->targets_list || o->rank || o->alpha != 32))
		tk_die(TK_EUSAGE, "--init-adapter %s: its rank, alpha and targets are the adapter's "
		       "own (leave out --lora-rank, --lora-alpha and --lora-targets)", o->init_adapter);
	if (tk_lora_targets_from_list(o->targets_list ? o->targets_list : "all", &o->targets))
		tk_die(TK_EUSAGE, "--lora-targets: %s", tk_error_message());
	if (!o->rank)
		o->rank = 32;
}

void tk_train_opts_json(const tk_train_opts *o, double lr, size_t micro, cJSON *s)
{
	cJSON_AddStringToObject(s, "training", o->full ? "full" : "lora");
	if (o->init_adapter)
		cJSON_AddStringToObject(s, "init_adapter", o->init_adapter);
	else if (!o->full) {
		cJSON_AddNumberToObject(s, "lora_rank", o->rank);
		cJSON_AddNumberToObject(s, "lora_alpha", o->alpha);
		cJSON_AddNumberToObject(s, "lora_targets", o->targets);
	}
	cJSON_AddNumberToObject(s, "lr", lr);
	cJSON_AddStringToObject(s, "lr_schedule", tk_lr_schedule_name(o->schedule));
	cJSON_AddNumberToObject(s, "warmup", (double)o->warmup);
	cJSON_AddNumberToObject(s, "micro_tokens", (double)micro);
	cJSON_AddNumberToObject(s, "grad_clip", o->clip);
	cJSON_AddNumberToObject(s, "weight_decay", o->wd);
	cJSON_AddNumberToObject(s, "beta1", o->beta1);
	cJSON_AddNumberToObject(s, "beta2", o->beta2);
	cJSON_AddNumberToObject(s, "eps", o->eps);
}

/* The threads the command runs (-t), for the workspace planned per
 * thread; the cores when not known. */
static int threads_of(const tk_train_opts *o)
{
	if (o->cli && o->cli->threads > 0)
		return o->cli->threads;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 && n < 4096 ? (int)n : 1;
}

/* The memory plan of passes of `tokens` (exits 65 when the model lacks a
 * weight). */
static size_t plan_total(const tk_train_opts *o, const struct tk_model *model, size_t tokens,
			 tk_train_memory_plan *p)
{
	tk_lora_config c = {o->rank, (float)o->alpha, o->targets};
	tk_check(tk_train_plan_memory(model, o->full ? NULL : &c, o->base, o->recompute, tokens,
				      threads_of(o), p));
	return tk_train_plan_total(p);
}

size_t tk_train_opts_pass(const tk_train_opts *o, const struct tk_model *model, size_t micro,
			  size_t longest)
{
	if (!o->max_memory)
		return micro;
	double budget = o->max_memory * 1048576.0, mib = 1048576.0;
	tk_train_memory_plan p;
	double fixed = (double)plan_total(o, model, 0, &p);
	if (fixed > budget)
		tk_die(TK_EUSAGE, "--max-memory %g MiB is less than training holds before a pass's "
		       "activations: base %.1f MiB (--base-dtype %s), trainable weights %.1f, "
		       "gradients and AdamW %.1f, workspace %.1f (%.1f MiB in all)", o->max_memory,
		       (double)p.base / mib, tk_engine_base_name(o->base), (double)p.trainable / mib,
		       (double)p.optimizer / mib, (double)p.workspace / mib, fixed / mib);
	double per = ((double)plan_total(o, model, 1024, &p) - fixed) / 1024;
	size_t fit = per > 0 ? (size_t)((budget - fixed) / per) : 0;
	while (fit > 1 && (double)plan_total(o, model, fit, &p) > budget)
		fit -= fit / 64 + 1;
	if (fit < longest)
		tk_die(TK_EUSAGE, "--max-memory %g MiB holds passes of %zu tokens, fewer than the "
		       "longest record's %zu: raise it, add --recompute or lower --max-len",
		       o->max_memory, fit, longest);
	return micro < fit ? micro : fit;
}

void tk_train_opts_warn_cut(const char *rundir, size_t cut)
{
	if (cut)
		tk_warn("%s/checkpoints.jsonl: ignored its last line, cut short (%zu bytes) when "
			"a run was killed, and rewrote the file without it", rundir, cut);
}

double tk_train_opts_lr(const tk_train_opts *o, const tk_model_config *c, int quiet)
{
	if (o->lr_given)
		return o->lr;
	if (o->full)
		tk_die(TK_EUSAGE, "--full needs --lr (the size rule is for LoRA)");
	double p, lr = tk_lr_for_lora(c->architecture, c->hidden, &p);
	if (!quiet)
		tk_warn("lr %.4g from the LoRA rule 5e-4 * (2000 / hidden %d)^%.4g (%s family)",
			lr, c->hidden, p, p < 0.5 ? "Qwen" : "Llama");
	return lr;
}

void tk_train_opts_write_final(const tk_train_opts *o, const char *rundir, tk_train *t,
			       tk_model *model, tk_lora *lora, int quiet)
{
	char path[4096], meta[64];
	if (!tk_dist_is_root()) // every rank holds the same weights: rank 0 writes
		return;
	if ((size_t)snprintf(path, sizeof path, "%s/final.tkc", rundir) >= sizeof path)
		tk_die(TK_EUSAGE, "run folder name too long: %s", rundir);
	if (o->full) {
		tk_check(tk_train_export_model(t, model));
		tk_check(tk_model_write_tkc(model, path));
	} else {
		snprintf(meta, sizeof meta, "{\"step\": %" PRId64 "}", tk_train_steps(t));
		tk_check(tk_train_export_lora(t, lora));
		tk_check(tk_lora_save(lora, path, meta));
	}
	if (!quiet)
		tk_warn("wrote %s after %" PRId64 " steps", path, tk_train_steps(t));
}

size_t tk_train_opts_resumed_micro(const tk_train_opts *o, const char *rundir)
{
	char path[4096], *text;
	if (!o->resume || o->micro_given ||
	    (size_t)snprintf(path, sizeof path, "%s/config.json", rundir) >= sizeof path ||
	    tk_read_text(path, 1 << 20, &text, NULL))
		return 0;
	cJSON *c = cJSON_Parse(text);
	free(text);
	const cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "settings"), "micro_tokens");
	size_t micro = cJSON_IsNumber(m) && m->valuedouble >= 1 ? (size_t)m->valuedouble : 0;
	cJSON_Delete(c);
	return micro;
}

static void open_model(const tk_train_opts *o, uint64_t seed, tk_model **model,
		       tk_lora **lora, char *model_fp, char *tok_fp, int lazy)
{
	tk_check(lazy ? tk_model_load_lazy(model, o->model) : tk_model_load(model, o->model));
	tk_model_fingerprint_hex(*model, model_fp);
	tok_fp[0] = 0;
	if ((*model)->tokenizer)
		snprintf(tok_fp, 17, "%016" PRIx64, tk_tokenizer_fingerprint((*model)->tokenizer));
	*lora = NULL;
	if (o->full)
		return;
	if (o->init_adapter) {
		int rc = tk_cli_lora_load(lora, o->init_adapter, *model);
		if (rc)
			tk_die(rc, "--init-adapter %s: %s", o->init_adapter, tk_error_message());
		return;
	}
	tk_lora_config c = {o->rank, (float)o->alpha, o->targets};
	tk_check(tk_lora_create(lora, *model, &c, seed));
}

void tk_train_opts_open_model(const tk_train_opts *o, uint64_t seed, tk_model **model,
			      tk_lora **lora, char *model_fp, char *tok_fp)
{
	open_model(o, seed, model, lora, model_fp, tok_fp, 0);
}

void tk_train_opts_open_model_lazy(const tk_train_opts *o, uint64_t seed, tk_model **model,
				   tk_lora **lora, char *model_fp, char *tok_fp)
{
	open_model(o, seed, model, lora, model_fp, tok_fp, !o->full);
}

int tk_train_opts_optim_step(const tk_train_opts *o, tk_train *t, double peak_lr, int64_t total,
			     double *lr, double *grad_norm)
{
	int64_t step = tk_train_steps(t) + 1;
	*lr = tk_lr_at(o->schedule, peak_lr, step - 1, o->warmup, total ? total : step);
	tk_train_adamw opt = {*lr, o->beta1, o->beta2, o->eps, o->wd};
	*grad_norm = 0;
	return tk_train_optim_step(t, &opt, o->clip, grad_norm);
}

int tk_train_opts_open_run(const tk_train_opts *o, const char *rundir, cJSON *config,
			   cJSON *settings)
{
	int resume = o->resume != NULL, rc = TK_OK;
	if (!tk_dist_is_root()) { // rank 0 makes the folder; the others wait for it
		cJSON_Delete(config);
		cJSON_Delete(settings);
		tk_check(tk_dist_barrier());
		return resume;
	}
	rc = tk_run_open_dir(rundir, resume);
	if (!rc && resume) {
		rc = tk_run_check_settings(rundir, settings);
	} else if (!rc) {
		cJSON_AddItemReferenceToObject(config, "settings", settings);
		rc = tk_run_write_json(rundir, "config.json", config);
	}
	cJSON_Delete(config);
	cJSON_Delete(settings);
	tk_check(rc);
	tk_check(tk_dist_barrier());
	return resume;
}

FILE *tk_train_opts_open_metrics(const char *rundir)
{
	char path[4096];
	FILE *f;
	if ((size_t)snprintf(path, sizeof path, "%s/metrics.jsonl", rundir) >= sizeof path)
		tk_die(TK_EUSAGE, "run folder name too long: %s", rundir);
	if (!tk_dist_is_root()) // rank 0 logs the whole batch's numbers
		snprintf(path, sizeof path, "/dev/null");
	if (!(f = fopen(path, "a")))
		tk_die(TK_ECANTCREAT, "%s: %s", path, strerror(errno));
	return f;
}

void tk_train_opts_log_line(FILE *metrics, const char *line)
{
	if (fprintf(metrics, "%s\n", line) < 0 || fflush(metrics))
		tk_die(TK_EIO, "metrics.jsonl: %s", strerror(errno));
}

void tk_train_opts_print_trainer(const tk_train_opts *o, const tk_train *t,
				 const char *backend_name, int quiet)
{
	if (quiet)
		return;
	fprintf(stderr, "%s: %s, %s training, %zu trainable parameters, %.1f MiB on %s\n",
		tk_program_name(), o->model, o->full ? "full" : "LoRA", tk_train_trainable(t),
		(double)tk_train_memory(t) / 1048576.0, backend_name);
	tk_train_memory_plan p;
	tk_train_memory_parts(t, threads_of(o), &p);
	double mib = 1048576.0;
	fprintf(stderr, "%s: memory: base %.1f MiB%s%s%s, trainable weights %.1f, gradients and "
		"AdamW %.1f, activations %.1f (%zu tokens a pass), workspace %.1f (at most): "
		"%.1f MiB", tk_program_name(), (double)p.base / mib, o->full ? "" : " (--base-dtype ",
		o->full ? "" : tk_engine_base_name(o->base), o->full ? "" : ")",
		(double)p.trainable / mib, (double)p.optimizer / mib, (double)p.activations / mib,
		p.tokens, (double)p.workspace / mib, (double)tk_train_plan_total(&p) / mib);
	if (o->max_memory)
		fprintf(stderr, " of --max-memory %g", o->max_memory);
	fputc('\n', stderr);
}
