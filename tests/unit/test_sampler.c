/* The sampler: empirical frequencies against softmax (chi-square at a
 * fixed seed), top-k and top-p keeping exactly the right tokens, logprobs
 * equal to log softmax of the unmodified logits, greedy, seeds, and bad
 * parameters. */
#include "tkt.h"

#include "tk_error.h"
#include "infer/sampler_internal.h"
#include "tk_sampler.h"

#include <stdint.h>

#define V 512

/* Row 0 of the tiny-llama oracle logits: a real model's next-token
 * distribution over 512 ids. */
static int model_logits(float *out)
{
	FILE *f = fopen("tests/fixtures/logits/tiny-llama.f32", "rb");
	size_t got = f ? fread(out, sizeof *out, V, f) : 0;
	if (f)
		fclose(f);
	return got == V ? 0 : -1;
}

static void softmax_ref(const float *logits, size_t n, double t, double *p)
{
	double max = -INFINITY, z = 0.0;
	for (size_t i = 0; i < n; i++)
		max = logits[i] > max ? logits[i] : max;
	for (size_t i = 0; i < n; i++)
		z += p[i] = exp(((double)logits[i] - max) / t);
	for (size_t i = 0; i < n; i++)
		p[i] /= z;
}

/* Upper 0.1% point of chi-square with df degrees (Wilson-Hilferty). */
static double chi2_critical(double df)
{
	double z = 3.0902, a = 2.0 / (9.0 * df);
	double c = 1.0 - a + z * sqrt(a);
	return df * c * c * c;
}

/* Chi-square of counts against p over N draws, rare ids pooled so that
 * every bin expects at least 5. */
static double chi2(const size_t *counts, const double *p, size_t n, size_t draws, size_t *df)
{
	double stat = 0.0, pooled_e = 0.0, pooled_o = 0.0;
	size_t bins = 0;
	for (size_t i = 0; i < n; i++) {
		double e = p[i] * (double)draws;
		if (e >= 5.0) {
			stat += (counts[i] - e) * (counts[i] - e) / e;
			bins++;
		} else {
			pooled_e += e;
			pooled_o += (double)counts[i];
		}
	}
	if (pooled_e >= 5.0) {
		stat += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
		bins++;
	}
	*df = bins - 1;
	return stat;
}

static void frequencies(const float *logits, const tk_sampler_params *params,
			size_t draws, size_t *counts)
{
	tk_sampler *s;
	TKT_CHECK(tk_sampler_open(&s, V, params) == TK_OK, "%s", tk_error_message());
	tk_rng rng;
	tk_sampler_seed(&rng, 1234, 0);
	memset(counts, 0, V * sizeof *counts);
	for (size_t i = 0; s && i < draws; i++)
		counts[tk_sampler_draw(s, logits, &rng, NULL)]++;
	tk_sampler_close(s);
}

static void test_chi_square_temperature_1(void)
{
	float logits[V];
	TKT_CHECK(model_logits(logits) == 0, "fixture");
	double p[V];
	softmax_ref(logits, V, 1.0, p);
	enum { DRAWS = 200000 };
	static size_t counts[V];
	tk_sampler_params params = {1.0f, 0, 1.0f};
	frequencies(logits, &params, DRAWS, counts);
	size_t df;
	double stat = chi2(counts, p, V, DRAWS, &df);
	printf("# chi-square %.1f with %zu degrees of freedom (0.1%% critical %.1f)\n", stat, df,
	       chi2_critical((double)df));
	TKT_CHECK(df > 50, "df %zu", df);
	TKT_CHECK(stat < chi2_critical((double)df), "chi-square %.1f >= %.1f", stat,
		  chi2_critical((double)df));
	/* at temperature 0.5 the frequencies follow softmax(logits / 0.5) */
	softmax_ref(logits, V, 0.5, p);
	params.temperature = 0.5f;
	frequencies(logits, &params, DRAWS, counts);
	stat = chi2(counts, p, V, DRAWS, &df);
	TKT_CHECK(stat < chi2_critical((double)df), "T=0.5: chi-square %.1f", stat);
}

/* probabilities 0.4, 0.3, 0.2, 0.1 at ids 3, 0, 2, 1; id 4 masked */
static void four_tokens(float *logits)
{
	logits[3] = logf(0.4f);
	logits[0] = logf(0.3f);
	logits[2] = logf(0.2f);
	logits[1] = logf(0.1f);
	logits[4] = -INFINITY;
}

static size_t support(const float *logits, size_t n, tk_sampler_params params,
		      int32_t *ids, double *probs)
{
	tk_sampler *s;
	if (tk_sampler_open(&s, n, &params))
		return 0;
	size_t k = tk_sampler_support(s, logits, ids, probs);
	tk_sampler_close(s);
	return k;
}

static void test_top_k_top_p_exact(void)
{
	float l[5];
	four_tokens(l);
	int32_t ids[5];
	double pr[5];
	size_t n = support(l, 5, (tk_sampler_params){1.0f, 2, 1.0f}, ids, pr);
	TKT_CHECK(n == 2 && ids[0] == 3 && ids[1] == 0, "top-k 2: n %zu", n);
	TKT_CHECK(fabs(pr[0] - 4.0 / 7) < 1e-6 && fabs(pr[1] - 3.0 / 7) < 1e-6, "renormalised");
	n = support(l, 5, (tk_sampler_params){1.0f, 0, 0.65f}, ids, pr);
	TKT_CHECK(n == 2 && ids[0] == 3 && ids[1] == 0, "top-p 0.65: n %zu", n);
	n = support(l, 5, (tk_sampler_params){1.0f, 0, 0.75f}, ids, pr);
	TKT_CHECK(n == 3 && ids[2] == 2, "top-p 0.75: n %zu", n);
	n = support(l, 5, (tk_sampler_params){1.0f, 0, 0.35f}, ids, pr);
	TKT_CHECK(n == 1 && ids[0] == 3, "top-p 0.35: n %zu", n);
	/* top-p after top-k renormalises over the k: 4/9, 3/9, 2/9 */
	n = support(l, 5, (tk_sampler_params){1.0f, 3, 0.8f}, ids, pr);
	TKT_CHECK(n == 3, "top-k 3 + top-p 0.8: n %zu", n);
	n = support(l, 5, (tk_sampler_params){1.0f, 3, 0.75f}, ids, pr);
	TKT_CHECK(n == 2, "top-k 3 + top-p 0.75: n %zu", n);
	/* the masked token is never kept, even with no cut */
	n = support(l, 5, (tk_sampler_params){1.0f, 0, 1.0f}, ids, pr);
	TKT_CHECK(n == 5 && pr[4] == 0.0, "no cut: n %zu, masked p %g", n, pr[4]);
	/* draws only give kept tokens, in the kept proportions */
	tk_sampler *s;
	tk_sampler_params params = {1.0f, 0, 0.65f};
	TKT_CHECK(tk_sampler_open(&s, 5, &params) == TK_OK, "open");
	tk_rng rng;
	tk_sampler_seed(&rng, 9, 1);
	size_t counts[5] = {0};
	for (int i = 0; i < 70000; i++)
		counts[tk_sampler_draw(s, l, &rng, NULL)]++;
	TKT_CHECK(counts[1] == 0 && counts[2] == 0 && counts[4] == 0, "cut tokens drawn");
	TKT_CHECK(fabs(counts[3] / 70000.0 - 4.0 / 7) < 0.01, "p(3) %g", counts[3] / 70000.0);
	tk_sampler_close(s);
}

static const double *ref_p;

/* Probability descending, then id ascending. */
static int by_ref_p(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	if (ref_p[x] != ref_p[y])
		return ref_p[x] > ref_p[y] ? -1 : 1;
	return (x > y) - (x < y);
}

/* The cut set against a naive full sort, on random logits. */
static void test_cuts_against_full_sort(void)
{
	enum { N = 3000 };
	static float l[N];
	static int32_t ids[N], ref[N];
	static double pr[N], p[N];
	const float temps[] = {0.3f, 1.0f, 1.7f};
	const int ks[] = {0, 1, 7, 200, N + 5};
	const float ps[] = {0.05f, 0.5f, 0.9f, 0.999f, 1.0f};
	for (int trial = 0; trial < 3; trial++) {
		for (size_t i = 0; i < N; i++)
			l[i] = (float)(6.0 * tkt_uniform() - 3.0) * (trial + 1);
		for (size_t a = 0; a < 3; a++)
			for (size_t b = 0; b < 5; b++)
				for (size_t c = 0; c < 5; c++) {
					softmax_ref(l, N, temps[a], p);
					/* naive: order all, cut k, then the nucleus */
					for (size_t i = 0; i < N; i++)
						ref[i] = (int32_t)i;
					ref_p = p;
					qsort(ref, N, sizeof *ref, by_ref_p);
					size_t k = ks[b] && (size_t)ks[b] < N ? (size_t)ks[b] : N;
					double total = 0, sum = 0;
					for (size_t i = 0; i < k; i++)
						total += p[ref[i]];
					size_t keep = 0;
					while (keep < k && (keep == 0 || sum < ps[c] * total))
						sum += p[ref[keep++]];
					if (ps[c] >= 1.0f) // top-p 1 is no cut
						keep = k;
					size_t n = support(l, N, (tk_sampler_params){temps[a], ks[b], ps[c]},
							   ids, pr);
					int same = n == keep;
					for (size_t i = 0; same && i < n; i++)
						same = ids[i] == ref[i];
					TKT_CHECK(same, "T %g k %d p %g: kept %zu, reference %zu", temps[a],
						  ks[b], ps[c], n, keep);
				}
	}
}

static void test_logprobs_are_model_log_softmax(void)
{
	float logits[V];
	TKT_CHECK(model_logits(logits) == 0, "fixture");
	const tk_sampler_params cases[] = {
		{1.0f, 0, 1.0f}, {0.7f, 40, 0.9f}, {0.0f, 0, 1.0f}, {1.3f, 0, 0.5f},
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		tk_sampler *s;
		TKT_CHECK(tk_sampler_open(&s, V, &cases[c]) == TK_OK, "open");
		tk_rng rng;
		tk_sampler_seed(&rng, 5, c);
		double max = -INFINITY, z = 0;
		for (size_t i = 0; i < V; i++)
			max = logits[i] > max ? logits[i] : max;
		for (size_t i = 0; i < V; i++)
			z += exp(logits[i] - max);
		for (int i = 0; i < 200; i++) {
			float lp;
			int32_t id = tk_sampler_draw(s, logits, &rng, &lp);
			double want = logits[id] - max - log(z);
			TKT_CHECK(fabs(lp - want) < 1e-6, "case %zu: logprob %g, log softmax %g", c,
				  lp, want);
		}
		tk_sampler_close(s);
	}
}

static void test_greedy_and_seeds(void)
{
	float logits[V];
	TKT_CHECK(model_logits(logits) == 0, "fixture");
	size_t best = 0;
	for (size_t i = 1; i < V; i++)
		best = logits[i] > logits[best] ? i : best;
	tk_sampler *g, *s;
	tk_sampler_params greedy = {0.0f, 0, 1.0f}, warm = {1.0f, 0, 1.0f};
	TKT_CHECK(tk_sampler_open(&g, V, &greedy) == 0 && tk_sampler_open(&s, V, &warm) == 0, "open");
	tk_rng a, b, c;
	tk_sampler_seed(&a, 42, 3);
	tk_rng before = a;
	TKT_CHECK(tk_sampler_draw(g, logits, &a, NULL) == (int32_t)best, "greedy is the argmax");
	TKT_CHECK(memcmp(&a, &before, sizeof a) == 0, "greedy leaves the RNG alone");
	tk_sampler_seed(&a, 42, 3);
	tk_sampler_seed(&b, 42, 3);
	tk_sampler_seed(&c, 42, 4);
	int same = 1, differ = 0;
	for (int i = 0; i < 100; i++) {
		int32_t x = tk_sampler_draw(s, logits, &a, NULL), y = tk_sampler_draw(s, logits, &b, NULL);
		same &= x == y;
		differ |= x != tk_sampler_draw(s, logits, &c, NULL);
	}
	TKT_CHECK(same, "same seed and stream, same draws");
	TKT_CHECK(differ, "another stream, other draws");
	tk_sampler_close(g);
	tk_sampler_close(s);
}

/* Greedy picks the first index of the largest logit: ties to the lowest,
 * NaNs never (but a NaN first logit stays, as a scan keeping the first
 * strictly greater one would leave it), wherever the maximum is. */
static void test_greedy_first_of_max(void)
{
	enum { N = 37 }; // two blocks of sixteen and a tail
	tk_sampler *g;
	tk_sampler_params greedy = {0.0f, 0, 1.0f};
	TKT_CHECK(tk_sampler_open(&g, N, &greedy) == 0, "open");
	tk_rng r;
	tk_sampler_seed(&r, 1, 1);
	float x[N];
	for (size_t at = 0; at < N; at++) {
		for (size_t i = 0; i < N; i++)
			x[i] = -1.0f - (float)i;
		x[at] = 5.0f;
		TKT_CHECK(tk_sampler_draw(g, x, &r, NULL) == (int32_t)at, "max at %zu", at);
		if (at + 3 < N) {
			x[at + 3] = 5.0f; // a tie later: the first wins
			size_t nan_at = (at + 20) % N;
			x[nan_at ? nan_at : N - 1] = NAN; // not the first: see below
			int32_t got = tk_sampler_draw(g, x, &r, NULL);
			TKT_CHECK(got == (int32_t)at, "tie and NaN: %d, not %zu", got, at);
		}
	}
	for (size_t i = 0; i < N; i++)
		x[i] = (float)i;
	x[0] = NAN;
	TKT_CHECK(tk_sampler_draw(g, x, &r, NULL) == 0, "a NaN first logit stays");
	for (size_t i = 0; i < N; i++)
		x[i] = -INFINITY;
	x[33] = 0.0f, x[35] = -0.0f;
	TKT_CHECK(tk_sampler_draw(g, x, &r, NULL) == 33, "max in the tail");
	tk_sampler_close(g);
}

/* The draw's weights e^((x − max)/T) against libm's exp, weight by weight,
 * over lanes and tail, with −inf (0), NaN (NaN) and the −708 floor. */
static void test_exp_weights(void)
{
	enum { N = 1003 };
	float x[N];
	double p[N];
	for (size_t i = 0; i < N; i++)
		x[i] = (float)(40.0 * tkt_uniform() - 30.0);
	x[0] = 10.0f, x[5] = -INFINITY, x[9] = -1e30f, x[N - 1] = -20.0f;
	static const double temps[] = {1.0, 0.7, 2.3, 0.05};
	for (size_t c = 0; c < 4; c++) {
		double inv_t = 1.0 / temps[c], sum = 0.0, worst = 0.0;
		double got_sum = sampler_exp_weights(p, x, N, 10.0, inv_t);
		for (size_t i = 0; i < N; i++) {
			double t = ((double)x[i] - 10.0) * inv_t, want = t < -708.0 ? 0.0 : exp(t);
			sum += want;
			double err = want > 0.0 ? fabs(p[i] - want) / want : fabs(p[i]);
			worst = err > worst ? err : worst;
		}
		TKT_CHECK(worst < 1e-15, "T %g: a weight off by %g of itself", temps[c], worst);
		TKT_CHECK(fabs(got_sum - sum) <= 1e-14 * sum, "T %g: sum %.17g, not %.17g",
			  temps[c], got_sum, sum);
		TKT_CHECK(p[5] == 0.0 && p[9] == 0.0 && p[0] == 1.0, "-inf and far below weigh 0, max 1");
	}
	x[17] = NAN;
	sampler_exp_weights(p, x, N, 10.0, 1.0);
	TKT_CHECK(isnan(p[17]) && !isnan(p[16]), "NaN stays NaN, alone");
	TKT_CHECK(sampler_exp_weights(NULL, x, 3, 10.0, 1.0) > 0.0, "weights not kept");
}

static void test_bad_parameters(void)
{
	tk_sampler *s = NULL;
	TKT_CHECK(tk_sampler_open(&s, V, &(tk_sampler_params){-1.0f, 0, 1.0f}) == TK_EUSAGE, "T<0");
	TKT_CHECK(tk_sampler_open(&s, V, &(tk_sampler_params){NAN, 0, 1.0f}) == TK_EUSAGE, "T nan");
	TKT_CHECK(tk_sampler_open(&s, V, &(tk_sampler_params){1.0f, -2, 1.0f}) == TK_EUSAGE, "k<0");
	TKT_CHECK(tk_sampler_open(&s, V, &(tk_sampler_params){1.0f, 0, 0.0f}) == TK_EUSAGE, "p=0");
	TKT_CHECK(tk_sampler_open(&s, V, &(tk_sampler_params){1.0f, 0, 1.5f}) == TK_EUSAGE, "p>1");
	TKT_CHECK(s == NULL, "nothing opened");
}

int main(void)
{
	TKT_RUN(test_chi_square_temperature_1);
	TKT_RUN(test_top_k_top_p_exact);
	TKT_RUN(test_cuts_against_full_sort);
	TKT_RUN(test_logprobs_are_model_log_softmax);
	TKT_RUN(test_greedy_and_seeds);
	TKT_RUN(test_greedy_first_of_max);
	TKT_RUN(test_exp_weights);
	TKT_RUN(test_bad_parameters);
	return tkt_done();
}
