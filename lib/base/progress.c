#include "tk_progress.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double tk_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tk_progress_start(tk_progress *p, const char *label, const char *unit,
		       uint64_t total, int quiet)
{
	p->out = p->out ? p->out : stderr;
	p->label = label;
	p->unit = unit;
	p->total = total;
	p->done = 0;
	p->quiet = quiet;
	p->live = isatty(fileno(p->out));
	const char *env = getenv("TK_PROGRESS_INTERVAL");
	p->interval = env && *env ? atof(env) : 10.0;
	if (p->interval < 0)
		p->interval = 0;
	p->started = p->last_shown = tk_now();
	p->shown = 0;
}

static void show(tk_progress *p, double now, int final)
{
	double elapsed = now - p->started;
	double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
	if (p->live)
		fputs("\r\033[K", p->out);
	fprintf(p->out, "%s: ", p->label);
	if (p->total) {
		double frac = (double)p->done / (double)p->total;
		if (frac > 1)
			frac = 1;
		if (p->live) {
			int fill = (int)(frac * 30);
			fputc('[', p->out);
			for (int i = 0; i < 30; i++)
				fputc(i < fill ? '#' : '.', p->out);
			fputs("] ", p->out);
		}
		fprintf(p->out, "%llu/%llu %s (%.0f%%)", (unsigned long long)p->done,
			(unsigned long long)p->total, p->unit, 100 * frac);
	} else {
		fprintf(p->out, "%llu %s", (unsigned long long)p->done, p->unit);
	}
	fprintf(p->out, ", %.1f s, %.0f %s/s", elapsed, rate, p->unit);
	if (!p->live || final)
		fputc('\n', p->out);
	fflush(p->out);
	p->shown = p->done + 1;
}

void tk_progress_update(tk_progress *p, uint64_t done)
{
	p->done = done;
	if (p->quiet)
		return;
	double now = tk_now();
	double period = p->live ? 0.1 : p->interval;
	if (now - p->last_shown < period)
		return;
	p->last_shown = now;
	show(p, now, 0);
}

void tk_progress_finish(tk_progress *p)
{
	/* a plain line already saying the final count is not printed again */
	if (!p->quiet && (p->live || p->shown != p->done + 1))
		show(p, tk_now(), 1);
}
