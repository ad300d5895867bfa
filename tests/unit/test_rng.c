/* The seeded generator: repeatable, uniform, normal, unbiased below n. */
#include "tk_rng.h"
#include "tkt.h"

static void test_same_seed_same_numbers(void)
{
	tk_rng a, b, c;
	tk_rng_seed(&a, 42);
	tk_rng_seed(&b, 42);
	tk_rng_seed(&c, 43);
	int same_c = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t x = tk_rng_next(&a);
		TKT_CHECK(x == tk_rng_next(&b), "draw %d differs", i);
		same_c += x == tk_rng_next(&c);
	}
	TKT_CHECK(same_c == 0, "seeds 42 and 43 agree on %d draws", same_c);
}

static void test_state_copy_resumes(void)
{
	tk_rng a, saved;
	tk_rng_seed(&a, 7);
	for (int i = 0; i < 10; i++)
		tk_rng_normal(&a);
	saved = a;
	double next = tk_rng_normal(&a);
	TKT_CHECK(tk_rng_normal(&saved) == next, "a copied state must draw the same next number");
}

static void test_moments(void)
{
	tk_rng r;
	tk_rng_seed(&r, 1);
	const int n = 200000;
	double su = 0, sn = 0, sn2 = 0;
	for (int i = 0; i < n; i++) {
		double u = tk_rng_uniform(&r);
		TKT_CHECK(u >= 0 && u < 1, "uniform out of [0,1): %g", u);
		su += u;
		double z = tk_rng_normal(&r);
		sn += z;
		sn2 += z * z;
	}
	/* 5 standard errors */
	TKT_CHECK(fabs(su / n - 0.5) < 5 * sqrt(1.0 / 12 / n), "uniform mean %g", su / n);
	TKT_CHECK(fabs(sn / n) < 5 / sqrt(n), "normal mean %g", sn / n);
	TKT_CHECK(fabs(sn2 / n - 1) < 5 * sqrt(2.0 / n), "normal variance %g", sn2 / n);
}

static void test_below_is_in_range_and_even(void)
{
	tk_rng r;
	tk_rng_seed(&r, 3);
	int counts[7] = {0};
	for (int i = 0; i < 70000; i++) {
		uint64_t k = tk_rng_below(&r, 7);
		TKT_CHECK(k < 7, "%llu", (unsigned long long)k);
		if (k < 7)
			counts[k]++;
	}
	for (int k = 0; k < 7; k++)
		TKT_CHECK(abs(counts[k] - 10000) < 500, "bucket %d: %d", k, counts[k]);
	TKT_CHECK(tk_rng_below(&r, 1) == 0 && tk_rng_below(&r, 0) == 0, "degenerate ranges");
}

int main(void)
{
	TKT_RUN(test_same_seed_same_numbers);
	TKT_RUN(test_state_copy_resumes);
	TKT_RUN(test_moments);
	TKT_RUN(test_below_is_in_range_and_even);
	return tkt_done();
}
