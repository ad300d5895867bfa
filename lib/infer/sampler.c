/* The token sampler (tk_sampler.h).  Probabilities in double.  With no cut
 * the draw walks the vocabulary in id order (no sort); with top-k or top-p
 * only the tokens above a probability threshold are sorted, the threshold
 * lowered until that set surely holds what the cuts keep. */
#include "tk_sampler.h"

#include "kernels.h"
#include "sampler_internal.h"
#include "tk_error.h"

#include <math.h>
#include <stdlib.h>

typedef struct cand {
	double p;
	int32_t id;
} cand;

struct tk_sampler {
	size_t vocab;
	tk_sampler_params params;
	double *p;      // (vocab) exp((logit - max) / T), unnormalised
	cand *c;        // (vocab) candidates of a cut, sorted
};

int tk_sampler_open(tk_sampler **out, size_t vocab, const tk_sampler_params *p)
{
	*out = NULL;
	if (!(p->temperature >= 0.0f) || !isfinite(p->temperature))
		return tk_fail(TK_EUSAGE, "temperature must be a number >= 0");
	if (p->top_k < 0)
		return tk_fail(TK_EUSAGE, "top-k must be >= 0");
	if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
		return tk_fail(TK_EUSAGE, "top-p must be in (0, 1]");
	if (vocab == 0 || vocab > INT32_MAX)
		return tk_fail(TK_EUSAGE, "sampler: vocabulary of %zu tokens", vocab);
	tk_sampler *s = tk_calloc(1, sizeof *s);
	if (!s)
		return TK_EOSERR;
	s->vocab = vocab;
	s->params = *p;
	s->p = tk_malloc(vocab * sizeof *s->p);
	s->c = tk_malloc(vocab * sizeof *s->c);
	if (!s->p || !s->c) {
		tk_sampler_close(s);
		return TK_EOSERR;
	}
	*out = s;
	return TK_OK;
}

void tk_sampler_close(tk_sampler *s)
{
	if (!s)
		return;
	free(s->p);
	free(s->c);
	free(s);
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void tk_sampler_seed(tk_rng *rng, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed;
	uint64_t a = splitmix64(&x);
	x = a ^ (stream * 0xd1b54a32d192ed03ull);
	tk_rng_seed(rng, splitmix64(&x));
}

/* The largest value (NaNs never win; x[0] when it is NaN, as a scan
 * keeping the first strictly greater would say), by sixteen running maxima
 * that the compiler makes one vector register: a vocabulary-sized scan per
 * draw, five times faster than one branchy pass (14 vs 69 µs over 49152
 * with argmax's look for its place). */
#define MAX_LANES 16
static float max_of(const float *x, size_t n)
{
	if (n == 0 || isnan(x[0]))
		return n ? x[0] : 0.0f;
	float lane[MAX_LANES];
	for (int j = 0; j < MAX_LANES; j++)
		lane[j] = x[0];
	size_t i = 0;
	for (; i + MAX_LANES <= n; i += MAX_LANES)
		for (int j = 0; j < MAX_LANES; j++)
			lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
	float max = lane[0];
	for (int j = 1; j < MAX_LANES; j++)
		max = lane[j] > max ? lane[j] : max;
	for (; i < n; i++)
		max = x[i] > max ? x[i] : max;
	return max;
}

/* The first index of max_of(x): ties to the lowest. */
static size_t argmax(const float *x, size_t n)
{
	float max = max_of(x, n);
	for (size_t i = 0; i < n; i++)
		if (x[i] == max)
			return i;
	return 0; // x[0] NaN, or n = 0
}

double tk_log_softmax_at(const float *logits, size_t vocab, int32_t id)
{
	double max = max_of(logits, vocab);
	double sum = tk_exp_weights(NULL, logits, vocab, max, 1.0);
	return (double)logits[id] - max - log(sum);
}

/* s->p = exp((logits - max) / T); returns their sum. */
static double weights(tk_sampler *s, const float *logits)
{
	double max = max_of(logits, s->vocab);
	return tk_exp_weights(s->p, logits, s->vocab, max, 1.0 / s->params.temperature);
}

/* The old name (sampler_internal.h), still called by tests/unit/test_sampler.c:
 * the host helper moved to kernels/cpu/exp_weights.c. */
double sampler_exp_weights(double *p, const float *x, size_t n, double max, double inv_t)
{
	return tk_exp_weights(p, x, n, max, inv_t);
}

static int by_prob(const void *a, const void *b)
{
	const cand *x = a, *y = b;
	if (x->p != y->p)
		return x->p > y->p ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Tokens with p >= t into s->c, sorted; returns how many and their mass. */
static size_t above(tk_sampler *s, double t, double *mass)
{
	size_t n = 0;
	*mass = 0.0;
	for (size_t i = 0; i < s->vocab; i++)
		if (s->p[i] >= t) {
			s->c[n++] = (cand){s->p[i], (int32_t)i};
			*mass += s->p[i];
		}
	return n;
}

/* The kept tokens of a cut, sorted in s->c; returns how many and (in
 * *kept_mass) their unnormalised mass.  s->p holds the weights (max 1). */
static size_t cut(tk_sampler *s, double z, double *kept_mass)
{
	size_t k = s->params.top_k > 0 ? (size_t)s->params.top_k : s->vocab;
	k = k < s->vocab ? k : s->vocab;
	double top_p = s->params.top_p, mass = 0.0;
	size_t n = 0;
	/* Lower the threshold (the largest weight is 1) until the set holds
	 * the top k, or, without top-k, enough mass for the nucleus. */
	for (double t = exp(-4.0);; t *= t) {
		if (t < 1e-300)
			t = 0.0;
		n = above(s, t, &mass);
		int enough = s->params.top_k > 0 ? n >= k : mass >= top_p * z * (1.0 + 1e-9);
		if (enough || t == 0.0)
			break;
	}
	qsort(s->c, n, sizeof *s->c, by_prob);
	if (n > k)
		n = k;
	double total = 0.0;
	for (size_t i = 0; i < n; i++)
		total += s->c[i].p;
	if (s->params.top_k == 0)
		total = z; // top-p alone renormalises over the whole vocabulary
	size_t kept = 0;
	double sum = 0.0;
	while (kept < n && (kept == 0 || sum < top_p * total))
		sum += s->c[kept++].p;
	*kept_mass = sum;
	return kept;
}

static int has_cut(const tk_sampler *s)
{
	return (s->params.top_k > 0 && (size_t)s->params.top_k < s->vocab) ||
	       s->params.top_p < 1.0f;
}

size_t tk_sampler_support(tk_sampler *s, const float *logits, int32_t *ids, double *probs)
{
	if (s->params.temperature == 0.0f) {
		ids[0] = (int32_t)argmax(logits, s->vocab);
		probs[0] = 1.0;
		return 1;
	}
	double z = weights(s, logits), mass = z;
	size_t n = s->vocab;
	if (has_cut(s)) {
		n = cut(s, z, &mass);
	} else {
		for (size_t i = 0; i < n; i++)
			s->c[i] = (cand){s->p[i], (int32_t)i};
		qsort(s->c, n, sizeof *s->c, by_prob);
	}
	for (size_t i = 0; i < n; i++) {
		ids[i] = s->c[i].id;
		probs[i] = s->c[i].p / mass;
	}
	return n;
}

/* Draws an id; *z gets the weights' sum (0 when greedy made none). */
static int32_t draw(tk_sampler *s, const float *logits, tk_rng *rng, double *z_out)
{
	*z_out = 0.0;
	if (s->params.temperature == 0.0f)
		return (int32_t)argmax(logits, s->vocab);
	double z = *z_out = weights(s, logits);
	if (has_cut(s)) {
		double mass;
		size_t n = cut(s, z, &mass);
		double u = tk_rng_uniform(rng) * mass, sum = 0.0;
		for (size_t i = 0; i + 1 < n; i++)
			if ((sum += s->c[i].p) > u)
				return s->c[i].id;
		return s->c[n - 1].id;
	}
	double u = tk_rng_uniform(rng) * z, sum = 0.0;
	size_t last = 0;
	for (size_t i = 0; i < s->vocab; i++) {
		if (s->p[i] == 0.0)
			continue;
		last = i;
		if ((sum += s->p[i]) > u)
			return (int32_t)i;
	}
	return (int32_t)last; // u within rounding of z
}

int32_t tk_sampler_draw(tk_sampler *s, const float *logits, tk_rng *rng, float *logprob)
{
	double z;
	int32_t id = draw(s, logits, rng, &z);
	if (!logprob)
		return id;
	if (s->params.temperature == 1.0f && z > 0.0) { // the weights are the softmax's
		double max = max_of(logits, s->vocab);
		*logprob = (float)((double)logits[id] - max - log(z));
	} else {
		*logprob = (float)tk_log_softmax_at(logits, s->vocab, id);
	}
	return id;
}
