/* Progress on stderr: a live bar redrawn in place when the stream is a
 * terminal, a plain line every few seconds otherwise (logs, Slurm), nothing
 * when quiet. */
#ifndef TK_PROGRESS_H
#define TK_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

/* Zero-initialise, optionally set .out, then call tk_progress_start. */
typedef struct tk_progress {
	FILE *out;            /* stderr by default */
	const char *label;    /* "render" */
	const char *unit;     /* "records" */
	uint64_t total;       /* 0 when unknown */
	uint64_t done;
	int quiet;
	int live;             /* redraw in place (a terminal) */
	double interval;      /* seconds between plain lines */
	double started, last_shown;
	uint64_t shown;       /* done as last printed, +1 (0: nothing printed) */
} tk_progress;

/* TK_PROGRESS_INTERVAL (seconds, default 10) sets the plain-line period. */
void tk_progress_start(tk_progress *p, const char *label, const char *unit,
		       uint64_t total, int quiet);
void tk_progress_update(tk_progress *p, uint64_t done);
/* Prints the final state (count, elapsed, rate) and ends the line. */
void tk_progress_finish(tk_progress *p);

/* Seconds on a monotonic clock. */
double tk_now(void);

#endif
