/* The compact forms of k-quant values (xwt_forms.c's other half): ggml's
 * k-quants (Q2_K..Q6_K) give each sub-block of 16 or 32 weights a scale
 * and a min that are float32 products (an f16 times a 4-, 6- or 8-bit
 * integer), which the f16 parameters of the Q4 and Q8 forms do not hold.
 * These forms keep float32 ones:
 *
 *   Q4K: per 32 k: d[NR], m[NR] (f32), then 16 rows of NR bytes as Q4's
 *        (low nibble row t, high nibble row t + 16); w = d·q + m, q 0..15,
 *        the product rounded before the sum (a Q4_K sub-block).
 *   Q8K: per 32 k: d[2][NR], m[2][NR] (f32, one pair per 16 rows), then
 *        32 rows of NR int8; w = d·q + m, q in -128..127 (the sub-blocks of
 *        Q6_K, Q5_K, Q3_K and Q2_K).
 *
 * The parameters are fitted to the floats, as the other forms' are: d from
 * the span of the distinct values over a whole number of steps, m from the
 * lowest value and its level (m = -0 for a block with no offset, so that
 * w + m gives back every product, -0 included), then every value checked
 * bit for bit.  The usual block (the lowest value at level 0, the highest
 * at a level the quantizer reaches) is fitted on the first try; the search
 * for others is bounded and a block it cannot fit makes the matrix take
 * another form. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include "xwt_forms_k.h"

#include <math.h>
#include <string.h>

#define NR TK_XWT_PANEL

float tk_xwt_k_value(float d, float m, int q)
{
	float scaled = d * (float)q; // rounded before the sum, never fused
	return scaled + m;
}

static uint32_t bits_of(float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return u;
}

/* e rounded to `keep` significant bits (the scales of k-quants are
 * products of an 11-bit f16 and a small integer). */
static float rounded_to_bits(double e, int keep)
{
	int exp;
	double frac = frexp(e, &exp);
	return (float)ldexp(nearbyint(ldexp(frac, keep)), exp - keep);
}

/* Whether every v[t] (t < n, stride apart) is d·q + m for a q in
 * [qmin, qmax]; the levels go to q. */
static int levels_fit(const float *v, size_t stride, int n, float d, float m, int qmin,
		      int qmax, int8_t *q)
{
	for (int t = 0; t < n; t++) {
		float x = v[(size_t)t * stride];
		double e = d != 0.0f ? ((double)x - (double)m) / (double)d : 0.0;
		if (!(e > qmin - 2.0 && e < qmax + 2.0))
			return 0;
		int r = (int)floor(e + 0.5), found = 0;
		for (int c = r - 1; c <= r + 1 && !found; c++)
			if (c >= qmin && c <= qmax && bits_of(tk_xwt_k_value(d, m, c)) == bits_of(x))
				found = 1, q[t] = (int8_t)c;
		if (!found)
			return 0;
	}
	return 1;
}

/* Candidate scales near `e` (the span over a number of steps): the float
 * nearest, its neighbours, and e held to the bits of k-quant scales. */
static int scale_candidates(double e, float out[6])
{
	float f = (float)e;
	out[0] = rounded_to_bits(e, 17);
	out[1] = rounded_to_bits(e, 19);
	out[2] = f;
	out[3] = nextafterf(f, INFINITY);
	out[4] = nextafterf(f, 0.0f);
	out[5] = rounded_to_bits(e, 11);
	return 6;
}

/* With scale d: m = -0 (no offset), or the lowest value `lo` at level
 * lo_q for lo_q from qmin up. */
static int fit_offsets(const float *v, size_t stride, int n, float d, float lo, int span_steps,
		       int qmin, int qmax, float *m, int8_t *q)
{
	if (levels_fit(v, stride, n, d, -0.0f, qmin, qmax, q))
		return *m = -0.0f, 1;
	int first = qmin > 0 ? qmin : 0; // an offset block's levels start at 0
	for (int lo_q = first; lo_q + span_steps <= qmax && lo_q <= first + 3; lo_q++) {
		double exact = (double)lo - (double)d * lo_q;
		float cand[3] = {(float)exact, rounded_to_bits(exact, 17), rounded_to_bits(exact, 19)};
		for (int c = 0; c < 3; c++)
			if (levels_fit(v, stride, n, d, cand[c], qmin, qmax, q))
				return *m = cand[c], 1;
	}
	return 0;
}

/* d over `steps` steps between lo and hi, with its sign. */
static int fit_steps(const float *v, size_t stride, int n, float lo, float hi, int steps,
		     int negative, int qmin, int qmax, float *d, float *m, int8_t *q)
{
	float cand[6];
	int count = scale_candidates(((double)hi - (double)lo) / steps, cand);
	for (int c = 0; c < count; c++) {
		float dc = negative ? -cand[c] : cand[c];
		float low = negative ? hi : lo; // the value at the lowest level
		if (fit_offsets(v, stride, n, dc, low, steps, qmin, qmax, m, q))
			return *d = dc, 1;
	}
	return 0;
}

/* The smallest gap between two distinct values: the span is a whole
 * number of such gaps (or of a fraction of one) when they are levels. */
static double smallest_gap(const float *v, size_t stride, int n)
{
	float s[32];
	int count = 0;
	for (int t = 0; t < n; t++) { // insertion, keeping distinct values
		float x = v[(size_t)t * stride];
		int i = count;
		while (i > 0 && s[i - 1] > x)
			i--;
		if (i > 0 && s[i - 1] == x)
			continue;
		memmove(s + i + 1, s + i, (size_t)(count - i) * sizeof *s);
		s[i] = x, count++;
	}
	double gap = INFINITY;
	for (int i = 1; i < count; i++)
		gap = fmin(gap, (double)s[i] - (double)s[i - 1]);
	return gap;
}

/* A block with all values equal: d = ±0 and q = 0 give ±0, plus m; or
 * zeros of both signs (a zero scale times levels of both signs): d = +0,
 * m = -0, and q = -1 for each -0 where levels go below zero. */
static int fit_constant(const float *v, size_t stride, int n, int qmin, float *d, float *m,
			int8_t *q)
{
	float x = v[0];
	int mixed = 0;
	for (int t = 0; t < n; t++) {
		float y = v[(size_t)t * stride];
		if (bits_of(y) != bits_of(x) && !(x == 0.0f && y == 0.0f))
			return 0;
		mixed |= bits_of(y) != bits_of(x);
	}
	if (mixed && qmin >= 0)
		return 0;
	*d = signbit(x) && !mixed ? -0.0f : 0.0f;
	*m = x == 0.0f ? -0.0f : x;
	for (int t = 0; t < n; t++)
		q[t] = (int8_t)(mixed && signbit(v[(size_t)t * stride]) ? -1 : 0);
	return 1;
}

/* The extremes of a block, and whether it holds a -0 (d·0 for a negative
 * d: then both signs of d are tried). */
struct extremes {
	float lo, hi;
	int negative_zero;
};

static struct extremes extremes_of(const float *v, size_t stride, int n)
{
	struct extremes e = {v[0], v[0], 0};
	for (int t = 0; t < n; t++) {
		float x = v[(size_t)t * stride];
		e.lo = x < e.lo ? x : e.lo;
		e.hi = x > e.hi ? x : e.hi;
		e.negative_zero |= x == 0.0f && signbit(x);
	}
	return e;
}

/* The span over steps = round(span / unit), unit an estimate of d. */
static int fit_unit(const float *v, size_t stride, int n, const struct extremes *e, double unit,
		    int qmin, int qmax, float *d, float *m, int8_t *q)
{
	double steps = nearbyint(((double)e->hi - (double)e->lo) / unit);
	if (!(steps >= 1 && steps <= qmax - qmin))
		return 0;
	for (int negative = 0; negative <= e->negative_zero; negative++)
		if (fit_steps(v, stride, n, e->lo, e->hi, (int)steps, negative, qmin, qmax, d, m, q))
			return 1;
	return 0;
}

/* The smallest distance of a value from the offset (from 0 when the
 * block has values of both signs, else from its lowest value): some whole
 * number of steps. */
static double nearest_distance(const float *v, size_t stride, int n, const struct extremes *e)
{
	int symmetric = e->lo < 0.0f && e->hi > 0.0f;
	double nearest = INFINITY;
	for (int t = 0; t < n; t++) {
		double x = v[(size_t)t * stride];
		double from = symmetric ? fabs(x) : x - (double)e->lo;
		if (from > 0.0)
			nearest = fmin(nearest, from);
	}
	return nearest;
}

int tk_xwt_k_fit(const float *v, size_t stride, int n, int qmin, int qmax, float *d,
		 float *m, int8_t *q)
{
	struct extremes e = extremes_of(v, stride, n);
	if (!isfinite(e.lo) || !isfinite(e.hi) || !isfinite(e.hi - e.lo))
		return 0;
	if (e.lo == e.hi)
		return fit_constant(v, stride, n, qmin, d, m, q);
	double span = (double)e.hi - (double)e.lo;
	/* a 4-bit block first over the span a quantizer fills: 15 or 14 steps */
	for (int steps = qmax - qmin; qmax - qmin <= 15 && steps >= qmax - qmin - 1; steps--)
		if (fit_unit(v, stride, n, &e, span / steps, qmin, qmax, d, m, q))
			return 1;
	/* else the smallest gap between values as one to eight steps */
	double gap = smallest_gap(v, stride, n);
	for (int per_gap = 1; per_gap <= 8; per_gap++)
		if (fit_unit(v, stride, n, &e, gap / per_gap, qmin, qmax, d, m, q))
			return 1;
	/* else sparse levels (a block requantized from a coarser one): the
	 * value nearest the offset as each whole number of steps */
	double nearest = nearest_distance(v, stride, n, &e);
	int most = qmax > -qmin ? qmax : -qmin;
	for (int steps = 1; steps <= most; steps++)
		if (fit_unit(v, stride, n, &e, nearest / steps, qmin, qmax, d, m, q))
			return 1;
	return 0;
}

/* ---- packing and values -------------------------------------------------- */

int tk_xwt_k_pack_block(unsigned char *dst, int form, const float *w, size_t k, size_t cols)
{
	int q4 = form == TK_PACK_Q4K, halves = q4 ? 1 : 2, rows = QK / halves, ok = 1;
	float *d = (float *)dst, *m = d + halves * NR;
	unsigned char *qs = dst + (size_t)halves * NR * 2 * sizeof(float);
	memset(dst, 0, block_bytes(form));
	for (size_t c = 0; c < cols; c++)
		for (int h = 0; h < halves; h++) {
			int8_t q[QK];
			float *dc = d + h * NR + c, *mc = m + h * NR + c;
			if (!tk_xwt_k_fit(w + c * k + h * rows, 1, rows, q4 ? 0 : -128, q4 ? 15 : 127,
					  dc, mc, q)) {
				ok = 0, *dc = *mc = 0.0f;
				continue;
			}
			for (int t = 0; t < rows; t++) {
				int row = h * rows + t;
				if (!q4)
					qs[(size_t)row * NR + c] = (unsigned char)q[t];
				else if (row < QK / 2)
					qs[(size_t)row * NR + c] |= (unsigned char)q[t];
				else
					qs[(size_t)(row - QK / 2) * NR + c] |= (unsigned char)(q[t] << 4);
			}
		}
	return ok;
}

float tk_xwt_k_value_at(int form, const unsigned char *block, size_t r, size_t c)
{
	const float *d = (const float *)block;
	if (form == TK_PACK_Q4K) {
		unsigned char byte = block[NR * 2 * sizeof(float) + r % (QK / 2) * NR + c];
		return tk_xwt_k_value(d[c], d[NR + c], r < QK / 2 ? byte & 0x0f : byte >> 4);
	}
	size_t h = r / (QK / 2);
	const int8_t *qs = (const int8_t *)(block + NR * 4 * sizeof(float));
	return tk_xwt_k_value(d[h * NR + c], d[2 * NR + h * NR + c], qs[r * NR + c]);
}
