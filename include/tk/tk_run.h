/* The run folder that training commands (tk-sft, tk-rl) share: created or
 * reopened for --resume, lines appended to its logs, and SIGINT/SIGTERM
 * turned into a request to stop after the current step; and the JSON files
 * a --resume reads back. */
#ifndef TK_RUN_H
#define TK_RUN_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct tk_train;

/* Creates DIR (or finds it).  Without resume, a folder that already holds a
 * run (checkpoints.jsonl) is refused (TK_ECANTCREAT, naming --resume) and a
 * stale metrics.jsonl is removed. */
int tk_run_open_dir(const char *dir, int resume);

/* Appends line (with its newline) to DIR/NAME and flushes it. */
int tk_run_append(const char *dir, const char *name, const char *line);

/* ---- the JSON files --resume reads (run_resume.c) ---- */

/* Writes o, printed and with a newline, to DIR/NAME atomically. */
int tk_run_write_json(const char *dir, const char *name, const struct cJSON *o);

/* TK_OK when DIR/config.json's "settings" are those of now (every stored
 * key present with the same value); else TK_EUSAGE naming the first that
 * differs ("setting lr was 0.001, now 0.002"), TK_EDATA when the file has
 * no settings, or the read's error. */
int tk_run_check_settings(const char *dir, const struct cJSON *now);

/* Before a --resume reads DIR/checkpoints.jsonl: a last line cut short
 * (the run was killed while appending it) is dropped, the file rewritten
 * without it, and *dropped set to its bytes for a warning; a whole record
 * that only lacks its newline is kept and ended.  0 with the file as it
 * was when it ends with a newline, or is missing. */
int tk_run_repair_checkpoints(const char *dir, size_t *dropped);

/* The last record of DIR/checkpoints.jsonl: its state file's name, step,
 * and the whole record (for the caller's own keys; cJSON_Delete it).
 * TK_ENOINPUT when there is no checkpoints.jsonl, TK_EDATA when the last
 * line is not a checkpoint record. */
int tk_run_last_checkpoint(const char *dir, char *name, size_t cap, int64_t *step,
			   struct cJSON **record);

/* Keeps the lines of DIR/metrics.jsonl up to step, so that a resumed run's
 * file reads as the uninterrupted run's (no file: nothing to do). */
int tk_run_trim_metrics(const char *dir, int64_t step);

/* ---- state checkpoints, the same in every trainer (run_state.c) ---- */

/* t's state as DIR/step-NNNNNN.tkc (its step) with meta_json, then its
 * record appended to DIR/checkpoints.jsonl: {"step": N, "path": NAME} and
 * record_extra's keys (the inside of a JSON object, '"data": {...}', or
 * NULL).  path (cap bytes) gets the state file's path. */
int tk_run_save_state(const char *dir, const struct tk_train *t, const char *meta_json,
		      const char *record_extra, char *path, size_t cap);

/* --resume: checkpoints.jsonl repaired (*cut: the bytes of a last line a
 * kill cut short, dropped; 0 when none), the last state loaded into t and
 * its step checked against the record, metrics.jsonl trimmed to that
 * step.  path gets the state's path; *record (when not NULL) the record,
 * for the caller's own keys (cJSON_Delete it). */
int tk_run_resume_state(const char *dir, struct tk_train *t, char *path, size_t cap,
			size_t *cut, struct cJSON **record);

/* From now on SIGINT, SIGTERM and SIGUSR1 only set the value
 * tk_run_stop_signal returns (0 until one arrives). */
void tk_run_catch_signals(void);
int tk_run_stop_signal(void);

#endif
