/* Measures single-precision matrix-multiply throughput on this machine:
 * OpenBLAS's own sgemm on all threads (the peak that MFU figures divide
 * by), then tk_matmul_forward with and without batch invariance, and
 * tk_matmul_forward_packed (invariant, W packed beforehand), on the
 * square product and on a decoder's shape (576 -> 1536, SmolLM2's MLP) at
 * 1, 64 and 512 rows.  Built and run by scripts/bench/matmul.sh.
 *
 *   matmul_peak THREADS SIZE SECONDS
 * prints lines "NAME GFLOPS" on stdout. */
#include "kernels.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef void (*product_fn)(void *ctx);

struct problem {
	tk_backend *be;
	float *x, *w, *y; // x (m, k)   w (n, k)   y (m, n)
	float *packed;    // w packed by tk_matmul_pack
	size_t m, n, k;
};

static void blas_product(void *p)
{
	struct problem *c = p;
	int m = (int)c->m, n = (int)c->n, k = (int)c->k;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f,
		    c->x, k, c->w, k, 0.0f, c->y, n);
}

static void tk_product(void *p)
{
	struct problem *c = p;
	if (tk_matmul_forward(c->be, c->y, c->x, c->w, NULL, c->m, c->k, c->n, 0)) {
		fprintf(stderr, "matmul_peak: %s\n", "tk_matmul_forward failed");
		exit(1);
	}
}

static void tk_packed_product(void *p)
{
	struct problem *c = p;
	if (tk_matmul_forward_packed(c->be, c->y, c->x, c->packed, NULL, c->m, c->k, c->n, 0)) {
		fprintf(stderr, "matmul_peak: %s\n", "tk_matmul_forward_packed failed");
		exit(1);
	}
}

/* Best rate over repetitions filling about `seconds`, after one warm-up. */
static double best_gflops(product_fn f, struct problem *c, double seconds)
{
	double flops = 2.0 * (double)c->m * (double)c->n * (double)c->k;
	double best = 0, start = now();
	f(c);
	do {
		double t = now();
		f(c);
		t = now() - t;
		if (flops / t > best)
			best = flops / t;
	} while (now() - start < seconds);
	return best * 1e-9;
}

static void tk_rates(struct problem *c, const char *label, double seconds)
{
	tk_backend_set_batch_invariant(c->be, 0);
	printf("tk_matmul_fast%s %.1f\n", label, best_gflops(tk_product, c, seconds));
	tk_backend_set_batch_invariant(c->be, 1);
	printf("tk_matmul_invariant%s %.1f\n", label, best_gflops(tk_product, c, seconds));
	c->packed = malloc(tk_matmul_packed_floats(c->be, c->k, c->n) * sizeof *c->packed);
	if (!c->packed) {
		fprintf(stderr, "matmul_peak: out of memory\n");
		exit(1);
	}
	tk_matmul_pack(c->be, c->packed, c->w, c->k, c->n);
	printf("tk_matmul_packed%s %.1f\n", label, best_gflops(tk_packed_product, c, seconds));
	free(c->packed);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: matmul_peak THREADS SIZE SECONDS\n");
		return 64;
	}
	int threads = atoi(argv[1]);
	size_t size = (size_t)atol(argv[2]);
	double seconds = atof(argv[3]);
	size_t len = size * size > 512 * 1536 ? size * size : 512 * 1536;
	struct problem c = {.m = size, .n = size, .k = size};
	c.x = malloc(len * sizeof *c.x), c.w = malloc(len * sizeof *c.w), c.y = malloc(len * sizeof *c.y);
	if (!c.x || !c.w || !c.y || size == 0 || threads < 0) {
		fprintf(stderr, "matmul_peak: bad size or out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < len; i++) {
		c.x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
		c.w[i] = (float)((i * 104729) % 997) / 997.0f - 0.5f;
	}
	if (tk_backend_open(&c.be, "cpu", threads)) {
		fprintf(stderr, "matmul_peak: cannot open the cpu backend\n");
		return 1;
	}
	printf("backend %s\n", tk_backend_name(c.be));
	/* The backend set OpenBLAS to one thread; the peak uses all of them. */
	openblas_set_num_threads(tk_backend_threads(c.be));
	printf("sgemm %.1f\n", best_gflops(blas_product, &c, seconds));
	openblas_set_num_threads(1);
	tk_rates(&c, "", seconds);
	static const size_t rows[] = {1, 64, 512};
	for (size_t r = 0; r < 3; r++) {
		char label[32];
		c.m = rows[r], c.n = 1536, c.k = 576;
		snprintf(label, sizeof label, "_%zux576x1536", rows[r]);
		tk_rates(&c, label, seconds / 4);
	}
	tk_backend_close(c.be);
	free(c.x), free(c.w), free(c.y);
	return 0;
}
