/* Shared by the kernel tests (test_kernels_*.c): a backend, random data,
 * and float64 references written the plain way, straight from the
 * definitions, to hold the float32 kernels against.  The reference checks
 * run on every backend kind (KT_KINDS): a test's main opens each in turn
 * and runs its tests with KT_RUN_ON. */
#ifndef TEST_KERNELS_H
#define TEST_KERNELS_H

#include "kernels.h"
#include "tk_error.h"
#include "tkt.h"

#include <stdint.h>

/* The backends the kernel tests run on, and the one they run on now. */
static const char *const kt_kinds[] = {"cpu", "ref"};
#define KT_KINDS (sizeof kt_kinds / sizeof *kt_kinds)
static const char *kt_kind = "cpu";

/* A backend of the current kind. */
static inline tk_backend *kt_open(int threads)
{
	tk_backend *be = NULL;
	if (tk_backend_open(&be, kt_kind, threads) != 0) {
		printf("Bail out! cannot open the %s backend: %s\n", kt_kind, tk_error_message());
		exit(1);
	}
	return be;
}

/* Runs a test on the current kind: named as it is on cpu, "NAME on ref"
 * on another. */
#define KT_RUN_ON(fn) kt_run_on(#fn, fn)

static inline void kt_run_on(const char *name, void (*fn)(void))
{
	char named[160];
	if (strcmp(kt_kind, "cpu") == 0)
		snprintf(named, sizeof named, "%s", name);
	else
		snprintf(named, sizeof named, "%s on %s", name, kt_kind);
	tkt_run(named, fn);
}

static inline float *kt_floats(size_t n)
{
	float *p = calloc(n ? n : 1, sizeof *p);
	if (!p)
		exit(2);
	return p;
}

static inline double *kt_doubles(size_t n)
{
	double *p = calloc(n ? n : 1, sizeof *p);
	if (!p)
		exit(2);
	return p;
}

/* Uniform in [-scale, scale). */
static inline float *kt_random(size_t n, double scale)
{
	float *p = kt_floats(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (float)((2 * tkt_uniform() - 1) * scale);
	return p;
}

static inline double *kt_widen(const float *x, size_t n)
{
	double *d = kt_doubles(n);
	for (size_t i = 0; i < n; i++)
		d[i] = x[i];
	return d;
}

/* Compares float32 results with float64 references: the worst element,
 * with the tolerance scaled by the reference's largest magnitude. */
#define KT_CHECK_NEAR(got, want, n, rel) \
	kt_check_near(__FILE__, __LINE__, #got, (got), (want), (n), (rel))

static inline void kt_check_near(const char *file, int line, const char *what,
			  const float *got, const double *want, size_t n,
			  double rel)
{
	double scale = 1e-30, worst = 0;
	size_t at = 0;
	for (size_t i = 0; i < n; i++)
		scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);
		if (d > worst || d != d) {
			worst = d;
			at = i;
			if (d != d)
				break;
		}
	}
	if (!(worst <= rel * scale))
		tkt_fail_at(file, line, what, "max error %.3g > %.3g (rel %.1g of max |ref| %.3g) at [%zu]: got %.9g want %.9g",
			    worst, rel * scale, rel, scale, at, got[at], want[at]);
}

/* Bitwise equality of float arrays. */
#define KT_CHECK_SAME(got, want, n) \
	kt_check_same(__FILE__, __LINE__, #got, (got), (want), (n))

static inline void kt_check_same(const char *file, int line, const char *what,
			  const float *got, const float *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&got[i], &want[i], sizeof got[i]) != 0) {
			tkt_fail_at(file, line, what, "not bitwise equal at [%zu]: %.9g vs %.9g",
				    i, got[i], want[i]);
			return;
		}
}

/* ---- float64 references ------------------------------------------------ */

// y (n, out) = x (n, in) · w (out, in)ᵀ + bias
static inline void ref_matmul(double *y, const double *x, const double *w,
		       const double *bias, size_t n, size_t in, size_t out)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < out; j++) {
			double s = bias ? bias[j] : 0;
			for (size_t k = 0; k < in; k++)
				s += x[i * in + k] * w[j * in + k];
			y[i * out + j] = s;
		}
}

static inline void ref_rmsnorm(double *y, const double *x, const double *w, size_t n,
			size_t c, double eps)
{
	for (size_t i = 0; i < n; i++) {
		double ss = 0;
		for (size_t j = 0; j < c; j++)
			ss += x[i * c + j] * x[i * c + j];
		double r = 1 / sqrt(ss / (double)c + eps);
		for (size_t j = 0; j < c; j++)
			y[i * c + j] = x[i * c + j] * r * w[j];
	}
}

/* The angle is the float32 product pos·inv_freq, as in transformers. */
static inline void ref_rope(double *y, const double *x, const int32_t *pos,
		     const float *inv_freq, size_t n, size_t heads, size_t d)
{
	size_t half = d / 2;
	for (size_t i = 0; i < n; i++)
		for (size_t h = 0; h < heads; h++)
			for (size_t j = 0; j < half; j++) {
				double a = (double)((float)pos[i] * inv_freq[j]);
				const double *xh = x + (i * heads + h) * d;
				double *yh = y + (i * heads + h) * d;
				yh[j] = xh[j] * cos(a) - xh[j + half] * sin(a);
				yh[j + half] = xh[j + half] * cos(a) + xh[j] * sin(a);
			}
}

/* One query head over n_keys key rows (stride ld). */
static inline void ref_attend(double *out, const double *q, const double *k,
		       const double *v, size_t ld, size_t n_keys, size_t d,
		       double scale)
{
	double *s = kt_doubles(n_keys), m = -INFINITY, sum = 0;
	for (size_t j = 0; j < n_keys; j++) {
		double dot = 0;
		for (size_t c = 0; c < d; c++)
			dot += q[c] * k[j * ld + c];
		s[j] = dot * scale;
		m = s[j] > m ? s[j] : m;
	}
	for (size_t j = 0; j < n_keys; j++)
		sum += (s[j] = exp(s[j] - m));
	for (size_t c = 0; c < d; c++) {
		double o = 0;
		for (size_t j = 0; j < n_keys; j++)
			o += s[j] / sum * v[j * ld + c];
		out[c] = o;
	}
	free(s);
}

/* Packed causal attention within records, each query over its `window`
 * latest keys (0: all).
 *   out, q (n, heads, d)   k, v (n, kv_heads, d) */
static inline void ref_attention_packed(double *out, const double *q, const double *k,
				 const double *v, const int32_t *cu,
				 size_t n_records, size_t heads,
				 size_t kv_heads, size_t d, double scale, size_t window)
{
	size_t group = heads / kv_heads, ld = kv_heads * d;
	for (size_t r = 0; r < n_records; r++)
		for (size_t i = (size_t)cu[r]; i < (size_t)cu[r + 1]; i++)
			for (size_t h = 0; h < heads; h++) {
				size_t seen = i - (size_t)cu[r] + 1;
				size_t skip = window && seen > window ? seen - window : 0;
				size_t first = ((size_t)cu[r] + skip) * ld + (h / group) * d;
				ref_attend(out + (i * heads + h) * d, q + (i * heads + h) * d,
					   k + first, v + first, ld, seen - skip, d, scale);
			}
}

static inline double ref_silu(double g) { return g / (1 + exp(-g)); }

/* Per-token −w·log softmax(h·Wᵀ)[target] through full float64 logits. */
static inline void ref_cross_entropy(double *loss, double *logprob, const double *h,
			      const double *w, const int32_t *target,
			      const double *weight, size_t n, size_t c,
			      size_t vocab)
{
	double *logits = kt_doubles(vocab);
	for (size_t i = 0; i < n; i++) {
		ref_matmul(logits, h + i * c, w, NULL, 1, c, vocab);
		double m = -INFINITY, sum = 0;
		for (size_t j = 0; j < vocab; j++)
			m = logits[j] > m ? logits[j] : m;
		for (size_t j = 0; j < vocab; j++)
			sum += exp(logits[j] - m);
		double lp = target[i] < 0 ? 0 : logits[target[i]] - m - log(sum);
		logprob[i] = lp;
		loss[i] = target[i] < 0 ? 0 : -weight[i] * lp;
	}
	free(logits);
}

#endif
