/* The run folder that training commands (tk-sft, tk-rl) share: created or
 * reopened for --resume, lines appended to its logs, and SIGINT/SIGTERM
 * turned into a request to stop after the current step. */
#ifndef TK_RUN_H
#define TK_RUN_H

/* Creates DIR (or finds it).  Without resume, a folder that already holds a
 * run (checkpoints.jsonl) is refused (TK_ECANTCREAT, naming --resume) and a
 * stale metrics.jsonl is removed. */
int tk_run_open_dir(const char *dir, int resume);

/* Appends line (with its newline) to DIR/NAME and flushes it. */
int tk_run_append(const char *dir, const char *name, const char *line);

/* From now on SIGINT and SIGTERM only set the value tk_run_stop_signal
 * returns (0 until one arrives). */
void tk_run_catch_signals(void);
int tk_run_stop_signal(void);

#endif
