/* The options every trainer takes (tk-sft, tk-rl), parsed, checked and
 * written to a run's config.json by one implementation: the model, the
 * adapter or --full, the optimizer and its schedule, the pass size and
 * its memory (--micro-tokens, --recompute, --max-memory), checkpoints and
 * --resume.  A command puts TK_TRAIN_OPTION_ROWS at the end of its option
 * table and hands each option tk_cli_next returns to tk_train_opts_parse
 * first. */
#ifndef TK_TRAIN_OPTIONS_H
#define TK_TRAIN_OPTIONS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tk_cli.h"

struct tk_model;
struct tk_model_config;
struct tk_train;
struct tk_lora;

typedef struct tk_train_opts {
	const char *model, *targets_list, *resume;
	const char *init_adapter;  /* --init-adapter: start from this adapter */
	int full, rank, schedule, lr_given, recompute, micro_given;
	double alpha, lr, clip, wd, beta1, beta2, eps;
	double max_memory;     /* MiB of the whole training (the plan), 0: no bound */
	int base;              /* --base-dtype: enum tk_engine_base (tk_engine.h) */
	const tk_cli *cli;     /* the command's (its threads), from tk_train_opts_parse */
	unsigned targets;
	int64_t warmup, save_every;
	size_t micro;
} tk_train_opts;

#define TK_TRAIN_OPTION_ROWS \
	{"model", 'm', "MODEL", "base model (HF folder, .gguf, .tkc)"}, \
	{"lora-rank", 0, "R", "LoRA rank (default 32)"}, \
	{"lora-alpha", 0, "A", "LoRA alpha; scale alpha/rank (default 32)"}, \
	{"lora-targets", 0, "LIST", "q,k,v,o,gate,up,down, attn, mlp or all (default all)"}, \
	{"full", 0, NULL, "train every weight instead of a LoRA adapter"}, \
	{"init-adapter", 0, "FILE", "start from a trained adapter (its rank; a fresh optimizer)"}, \
	{"lr", 0, "X", "peak learning rate (LoRA default: 5e-4*(2000/hidden)^p)"}, \
	{"lr-schedule", 0, "S", "constant, linear or cosine (default: tk-sft linear, tk-rl constant)"}, \
	{"warmup", 0, "N", "linear warmup steps (default 0)"}, \
	{"grad-clip", 0, "C", "clip the gradient norm to C (default 1; 0: off)"}, \
	{"weight-decay", 0, "W", "AdamW weight decay (default 0)"}, \
	{"beta1", 0, "B", "AdamW beta1 (default 0.9)"}, \
	{"beta2", 0, "B", "AdamW beta2 (default 0.95)"}, \
	{"eps", 0, "E", "AdamW epsilon (default 1e-8)"}, \
	{"micro-tokens", 0, "N", "tokens of one forward/backward; more accumulate (default 4096)"}, \
	{"recompute", 0, NULL, "keep only layer inputs, remake activations in the backward"}, \
	{"max-memory", 0, "MIB", "memory of the whole training; smaller passes accumulate"}, \
	{"base-dtype", 0, "D", "frozen base: auto, f32, bf16, q8, q4, bf16-dot (default auto: smallest exact)"}, \
	{"save-every", 0, "N", "write a state checkpoint every N steps (default 20; 0: end only)"}, \
	{"resume", 0, "RUNDIR", "continue the run in RUNDIR from its last state checkpoint"}

/* Defaults; schedule: enum tk_lr_schedule. */
void tk_train_opts_init(tk_train_opts *o, int schedule);
/* 1 when the option named `name` is one of the rows (its value parsed
 * into o; a bad value exits 64), 0 otherwise. */
int tk_train_opts_parse(const tk_cli *cli, tk_train_opts *o, const char *name,
			const char *value);
/* After all options: -m given, --full without --lora-*, targets parsed.
 * Exits 64 on a contradiction. */
void tk_train_opts_check(tk_train_opts *o);
/* Their part of a run's settings (config.json): what --resume compares;
 * lr is the one in force (given or from the LoRA rule). */
void tk_train_opts_json(const tk_train_opts *o, double lr, size_t micro, cJSON *settings);
/* The pass size: at most micro tokens, and with --max-memory the largest
 * pass with which the whole plan (tk_train_plan_memory: base, trainable
 * weights, optimizer, activations, workspace) fits, which must hold
 * `longest` tokens (exit 64 otherwise, saying what to change). */
size_t tk_train_opts_pass(const tk_train_opts *o, const struct tk_model *model, size_t micro,
			  size_t longest);

/* The model (-m) and, unless --full, a new adapter seeded with seed (or
 * --init-adapter's, loaded for the model);
 * model_fp and tok_fp (17 bytes each) get the fingerprints (tok_fp "" when
 * the model has no tokenizer).  Failures exit. */
void tk_train_opts_open_model(const tk_train_opts *o, uint64_t seed, struct tk_model **model,
			      struct tk_lora **lora, char *model_fp, char *tok_fp);
/* The same with a LoRA run's GGUF base loaded lazily (tk_model_load_lazy):
 * for a command whose only use of the weights is tk_train_open_base,
 * which reads them one matrix at a time. */
void tk_train_opts_open_model_lazy(const tk_train_opts *o, uint64_t seed,
				   struct tk_model **model, struct tk_lora **lora, char *model_fp,
				   char *tok_fp);

/* The peak learning rate: --lr, or the LoRA size rule for the model
 * (said on stderr unless quiet); --full without --lr exits 64. */
double tk_train_opts_lr(const tk_train_opts *o, const struct tk_model_config *c, int quiet);

/* RUNDIR/final.tkc from the trainer: the adapter (exported into lora) or,
 * with --full, the whole model (exported into model). */
void tk_train_opts_write_final(const tk_train_opts *o, const char *rundir, struct tk_train *t,
			       struct tk_model *model, struct tk_lora *lora, int quiet);

/* The optimizer step that ends a run's step (the trainer's next): the lr
 * of the schedule at it (peak lr, --lr-schedule, --warmup; a run of total
 * steps, 0: open-ended, a constant tail), AdamW with --beta1, --beta2,
 * --eps, --weight-decay after clipping to --grad-clip.  *lr and *grad_norm
 * for the metrics; tk_train_optim_step's status (TK_EDATA: a non-finite
 * gradient norm, nothing changed). */
int tk_train_opts_optim_step(const tk_train_opts *o, struct tk_train *t, double peak_lr,
			     int64_t total, double *lr, double *grad_norm);

/* The run folder (tk_run.h): created, or with --resume reopened and its
 * stored settings compared with `settings` (exit 64 naming the first that
 * differs); a new run's config.json holds config's keys and "settings".
 * Takes config and settings (deleted here).  1 when resuming: the caller
 * then loads its state (tk_run_resume_state, which trims metrics.jsonl);
 * 0 for a new run.  Failures exit. */
int tk_train_opts_open_run(const tk_train_opts *o, const char *rundir, cJSON *config,
			   cJSON *settings);
/* RUNDIR/metrics.jsonl opened for appending (after a resume's trim). */
FILE *tk_train_opts_open_metrics(const char *rundir);

/* --resume without --micro-tokens: the pass size the run in rundir was
 * started with (its config.json), whatever this build's default works out
 * to; 0 otherwise. */
size_t tk_train_opts_resumed_micro(const tk_train_opts *o, const char *rundir);

/* "CMD: MODEL, LoRA training, N trainable parameters, X MiB on BACKEND"
 * and the memory plan's parts on stderr (unless quiet): what a trainer
 * holds. */
void tk_train_opts_print_trainer(const tk_train_opts *o, const struct tk_train *t,
				 const char *backend_name, int quiet);

/* One line (without its newline) appended to metrics.jsonl and flushed;
 * a write error exits 74. */
void tk_train_opts_log_line(FILE *metrics, const char *line);

/* --resume's warning when tk_run_resume_state repaired checkpoints.jsonl
 * (cut: the bytes of the dropped line; 0: nothing said). */
void tk_train_opts_warn_cut(const char *rundir, size_t cut);

#endif
