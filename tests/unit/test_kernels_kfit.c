/* The k-quant forms' fitting (kernels/cpu/xwt_forms_k.c), white box: a
 * block is accepted only with parameters that give back every value bit
 * for bit (checked here again, value by value, apart from the fitter's
 * own check), and the blocks quantizers make are accepted: levels at the
 * ends of the range, sparse levels, a negative scale, zeros of both
 * signs.  Blocks no form of levels holds are refused. */
#include "cpu/xwt_forms_k.h"
#include "tkt.h"

#include <math.h>
#include <string.h>

static int same_bits(float a, float b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

/* Fits v[0..n) with levels in [qmin, qmax]; 1 when fitted and every value
 * comes back from d, m and its level. */
static int fits(const float *v, int n, int qmin, int qmax)
{
	float d, m;
	int8_t q[QK];
	if (!tk_xwt_k_fit(v, 1, n, qmin, qmax, &d, &m, q))
		return 0;
	for (int t = 0; t < n; t++) {
		TKT_CHECK(q[t] >= qmin && q[t] <= qmax, "level %d outside [%d, %d]", q[t], qmin, qmax);
		TKT_CHECK(same_bits(tk_xwt_k_value(d, m, q[t]), v[t]),
			  "value %d: %.9g from d %.9g, m %.9g, q %d", t, (double)v[t], (double)d,
			  (double)m, q[t]);
	}
	return 1;
}

/* v[t] = d·levels[t % count] − min, as ggml's k-quant dequantizers give. */
static void block_of(float *v, int n, float d, float min, const int *levels, int count)
{
	for (int t = 0; t < n; t++) {
		float scaled = d * (float)levels[t % count];
		v[t] = scaled - min;
	}
}

static void test_quantizer_blocks(void)
{
	float v[QK];
	/* Q4_K: d = f16 · 6-bit scale, min = dmin · 6-bit min, levels 0..15 */
	static const int q4[] = {0, 15, 3, 7, 7, 12, 1, 9};
	block_of(v, QK, 0.000123f * 37.0f, 0.00071f * 21.0f, q4, 8);
	TKT_CHECK(fits(v, QK, 0, 15), "a Q4_K block");
	/* Q6_K: d = f16 · int8 scale, levels -32..31, no offset */
	static const int q6[] = {-32, 31, 0, -1, 5, 17, -20, 2};
	block_of(v, 16, 2.3e-5f * -93.0f, 0.0f, q6, 8);
	TKT_CHECK(fits(v, 16, -128, 127), "a Q6_K block with a negative scale");
	/* the int8 range's ends */
	static const int ends[] = {-128, 127, 0, 64, -1};
	block_of(v, 16, 0.0031f, 0.0f, ends, 5);
	TKT_CHECK(fits(v, 16, -128, 127), "levels -128 and 127");
	/* sparse levels: no gap of one to eight steps, no level at an end */
	static const int sparse[] = {-31, 0, 29, 31};
	block_of(v, 16, 0.000897f, 0.0f, sparse, 4);
	TKT_CHECK(fits(v, 16, -128, 127), "sparse levels");
	/* a negative scale with an offset and no -0 among the values */
	static const int affine[] = {0, 15, 4, 9, 11};
	block_of(v, QK, -0.0625f * 3.0f, -0.1f, affine, 5);
	TKT_CHECK(fits(v, QK, 0, 15), "a negative scale with an offset");
	/* the lowest value above level 0 (no value quantized to 0) */
	static const int above[] = {2, 15, 6, 9};
	block_of(v, QK, 0.00021f * 45.0f, 0.0013f * 7.0f, above, 4);
	TKT_CHECK(fits(v, QK, 0, 15), "levels from 2");
}

static void test_zeros_and_constants(void)
{
	float v[QK];
	for (int t = 0; t < QK; t++)
		v[t] = t % 3 ? 0.0f : -0.0f;
	TKT_CHECK(fits(v, 16, -128, 127), "zeros of both signs as int8 levels");
	TKT_CHECK(!tk_xwt_k_fit(v, 1, QK, 0, 15, &(float){0}, &(float){0}, (int8_t[QK]){0}),
		  "zeros of both signs refused with levels from 0: d·q + m cannot give both");
	for (int t = 0; t < QK; t++)
		v[t] = -0.0f;
	TKT_CHECK(fits(v, QK, 0, 15), "all -0");
	for (int t = 0; t < QK; t++)
		v[t] = -0.0371f;
	TKT_CHECK(fits(v, QK, 0, 15), "a constant block");
}

static void test_refused(void)
{
	float v[QK + 1], d, m;
	int8_t q[QK];
	static const int q4[] = {0, 15, 3, 7};
	block_of(v, QK, 0.0021f, 0.013f, q4, 4);
	v[5] = NAN;
	TKT_CHECK(!tk_xwt_k_fit(v, 1, QK, 0, 15, &d, &m, q), "a NaN");
	v[5] = INFINITY;
	TKT_CHECK(!tk_xwt_k_fit(v, 1, QK, 0, 15, &d, &m, q), "an infinity");
	/* 17 distinct values in 16 levels */
	for (int t = 0; t < QK; t++)
		v[t] = 0.01f * (float)(t % 17);
	TKT_CHECK(!tk_xwt_k_fit(v, 1, QK, 0, 15, &d, &m, q), "17 levels in 4 bits");
	/* values on no common step: 0, 1 and 1/3 of a step */
	block_of(v, 16, 0.5f, 0.0f, (const int[]){0, 1}, 2);
	v[7] = 0.5f / 3.0f;
	TKT_CHECK(!tk_xwt_k_fit(v, 1, 16, 0, 1, &d, &m, q), "a third of a step in 1 bit");
	v[QK] = v[0];
	TKT_CHECK(!tk_xwt_k_fit(v, 1, QK + 1, -128, 127, &d, &m, q), "more than a block");
}

int main(void)
{
	TKT_RUN(test_quantizer_blocks);
	TKT_RUN(test_zeros_and_constants);
	TKT_RUN(test_refused);
	return tkt_done();
}
