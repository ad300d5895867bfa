/* The gradients' all-reduce of data-parallel training as the trainer runs
 * it (tk_dist_sum_grads: the backend's tk_allreduce_sum), timed for each
 * float count given: median of REPS calls after two warm-ups, on every
 * rank of an mpirun or srun job; rank 0 prints one line a size:
 *   floats bytes ranks median_ms GB/s(algorithm: 2(p-1)/p bytes a rank)
 * Built by scripts/bench/allreduce.sh against an MPI=1 libtk. */
#include "tk_backend.h"
#include "tk_dist.h"
#include "tk_error.h"
#include "kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median seconds of reps all-reduces of n floats. */
static double time_one(tk_backend *be, size_t n, int reps, double *t)
{
	float *x = tk_backend_alloc(be, n * sizeof *x);
	if (!x) {
		fprintf(stderr, "allreduce: no memory for %zu floats\n", n);
		exit(71);
	}
	tk_backend_zero(be, x, n * sizeof *x);
	for (int i = -2; i < reps; i++) {
		tk_dist_barrier();
		double t0 = now();
		if (tk_dist_sum_grads(be, x, n)) {
			fprintf(stderr, "allreduce: %s\n", tk_error_message());
			exit(70);
		}
		if (i >= 0)
			t[i] = now() - t0;
	}
	tk_backend_free(be, x);
	qsort(t, (size_t)reps, sizeof *t, by_value);
	return t[reps / 2];
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: allreduce REPS FLOATS...\n");
		return 64;
	}
	int reps = atoi(argv[1]);
	double *t = calloc(reps > 0 ? (size_t)reps : 1, sizeof *t);
	tk_backend *be;
	if (reps < 1 || !t || tk_dist_init() || tk_backend_open(&be, "cpu", 1)) {
		fprintf(stderr, "allreduce: %s\n", reps < 1 ? "REPS must be >= 1" : tk_error_message());
		return 70;
	}
	int p = tk_dist_size();
	for (int a = 2; a < argc; a++) {
		size_t n = strtoull(argv[a], NULL, 10);
		double s = time_one(be, n, reps, t);
		double moved = p > 1 ? 2.0 * (p - 1) / p * (double)n * 4 : 0;
		if (tk_dist_is_root())
			printf("%zu %zu %d %.3f %.2f\n", n, n * 4, p, s * 1e3, moved / s / 1e9);
	}
	tk_backend_close(be);
	free(t);
	return 0;
}
