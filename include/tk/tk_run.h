/* The run folder that training commands (tk-sft, tk-rl) share: created or
 * reopened for --resume, lines appended to its logs, and SIGINT/SIGTERM
 * turned into a request to stop after the current step; and the JSON files
 * a --resume reads back. */
#ifndef TK_RUN_H
#define TK_RUN_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

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

/* From now on SIGINT and SIGTERM only set the value tk_run_stop_signal
 * returns (0 until one arrives). */
void tk_run_catch_signals(void);
int tk_run_stop_signal(void);

#endif
