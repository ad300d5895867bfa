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

/* Whether v[t] is d·q + m for q in [qmin, qmax] (the level nearest first:
 * values on their levels cost one evaluation); the level goes to *q. */
static int level_of(float x, float d, float m, double inv_d, int qmin, int qmax, int8_t *q)
{
	double e = ((double)x - (double)m) * inv_d, below = qmin - 2.0;
	if (!(e > below && e < qmax + 2.0))
		return 0;
	int r = (int)(e - below + 0.5) + (int)below; // floor(e + 0.5), e - below > 0: inline
	static const int order[3] = {0, -1, 1};
	for (int i = 0; i < 3; i++) {
		int c = r + order[i];
		if (c >= qmin && c <= qmax && bits_of(tk_xwt_k_value(d, m, c)) == bits_of(x))
			return *q = (int8_t)c, 1;
	}
	return 0;
}

/* Whether every v[t] (t < n, stride apart) is d·q + m for a q in
 * [qmin, qmax]; the levels go to q. */
static int levels_fit(const float *v, size_t stride, int n, float d, float m, int qmin,
		      int qmax, int8_t *q)
{
	double inv_d = d != 0.0f ? 1.0 / (double)d : 0.0;
	for (int t = 0; t < n; t++)
		if (!level_of(v[(size_t)t * stride], d, m, inv_d, qmin, qmax, &q[t]))
			return 0;
	return 1;
}

/* Candidate i of the scales near `e` (the span over a number of steps),
 * the likeliest first: e held to the bits of a k-quant scale (17: an f16
 * times a 6-bit integer, Q4_K's; 19: times an 8-bit one, Q6_K's; the
 * other first when `wide`), the float nearest and its neighbours, to an
 * f16's 11 bits; NAN past the last. */
static float scale_candidate(double e, int i, int wide)
{
	switch (i) {
	case 0: return rounded_to_bits(e, wide ? 19 : 17);
	case 1: return rounded_to_bits(e, wide ? 17 : 19);
	case 2: return (float)e;
	case 3: return nextafterf((float)e, INFINITY);
	case 4: return nextafterf((float)e, 0.0f);
	case 5: return rounded_to_bits(e, 11);
	default: return NAN;
	}
}

/* The offset m for scale d with the lowest value `lo` at level lo_q: the
 * exact difference, or held to a k-quant min's bits. */
static float offset_candidate(double lo, float d, int lo_q, int i)
{
	double exact = lo - (double)d * lo_q;
	return i == 0 ? rounded_to_bits(exact, 17) : i == 1 ? (float)exact : rounded_to_bits(exact, 19);
}

/* With scale d: the lowest value `lo` at level lo_q, for the first few
 * levels from 0 (a quantizer's minimum sits at or just above level 0),
 * or m = -0 (no offset: a symmetric block, whose levels may go below 0).
 * Blocks of levels from 0 try their offset first. */
static int fit_offsets(const float *v, size_t stride, int n, float d, float lo, int span_steps,
		       int qmin, int qmax, float *m, int8_t *q)
{
	int symmetric_first = qmin < 0;
	if (symmetric_first && levels_fit(v, stride, n, d, -0.0f, qmin, qmax, q))
		return *m = -0.0f, 1;
	int first = qmin > 0 ? qmin : 0;
	for (int lo_q = first; lo_q + span_steps <= qmax && lo_q <= first + 3; lo_q++)
		for (int c = 0; c < 3; c++) {
			float mc = offset_candidate(lo, d, lo_q, c);
			if (levels_fit(v, stride, n, d, mc, qmin, qmax, q))
				return *m = mc, 1;
		}
	if (!symmetric_first && levels_fit(v, stride, n, d, -0.0f, qmin, qmax, q))
		return *m = -0.0f, 1;
	return 0;
}

/* d over `steps` steps between lo and hi, with its sign. */
static int fit_steps(const float *v, size_t stride, int n, float lo, float hi, int steps,
		     int negative, int qmin, int qmax, float *d, float *m, int8_t *q)
{
	double e = ((double)hi - (double)lo) / steps;
	float low = negative ? hi : lo; // the value at the lowest level
	int wide = qmax - qmin > 15;
	for (int c = 0; c < 6; c++) {
		float dc = negative ? -scale_candidate(e, c, wide) : scale_candidate(e, c, wide);
		if (fit_offsets(v, stride, n, dc, low, steps, qmin, qmax, m, q))
			return *d = dc, 1;
	}
	return 0;
}

/* The smallest gap between two distinct values: the span is a whole
 * number of such gaps (or of a fraction of one) when they are levels. */
static double smallest_gap(const float *v, size_t stride, int n)
{
	float s[QK];
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

/* The extremes of a block, and whether it holds a -0 and no +0 (d·0 for
 * a negative d: that sign is tried first). */
struct extremes {
	float lo, hi;
	int negative_first;
};

static struct extremes extremes_of(const float *v, size_t stride, int n)
{
	struct extremes e = {v[0], v[0], 0};
	int negative_zero = 0, positive_zero = 0;
	for (int t = 0; t < n; t++) {
		float x = v[(size_t)t * stride];
		e.lo = x < e.lo ? x : e.lo;
		e.hi = x > e.hi ? x : e.hi;
		negative_zero |= x == 0.0f && signbit(x);
		positive_zero |= x == 0.0f && !signbit(x);
	}
	e.negative_first = negative_zero && !positive_zero;
	return e;
}

/* Whether every value lies (to a thousandth of a step) on the grid of
 * steps span / round(span / unit) from the lowest: a cheap test before
 * the exact fit, which tries many scales and offsets before it fails. */
static int on_grid(const float *v, size_t stride, int n, const struct extremes *e, double unit)
{
	double span = (double)e->hi - (double)e->lo, steps = nearbyint(span / unit);
	if (!(steps >= 1))
		return 0;
	double per_step = steps / span;
	for (int t = 0; t < n; t++) {
		double at = ((double)v[(size_t)t * stride] - (double)e->lo) * per_step;
		if (fabs(at - nearbyint(at)) > 1e-3)
			return 0;
	}
	return 1;
}

/* The span over steps = round(span / unit), unit an estimate of d, for
 * d of either sign (a negative one puts the highest value at the lowest
 * level; a -0 in the block, d·0, needs it). */
static int fit_unit(const float *v, size_t stride, int n, const struct extremes *e, double unit,
		    int qmin, int qmax, float *d, float *m, int8_t *q)
{
	double steps = nearbyint(((double)e->hi - (double)e->lo) / unit);
	if (!(steps >= 1 && steps <= qmax - qmin))
		return 0;
	for (int i = 0; i < 2; i++)
		if (fit_steps(v, stride, n, e->lo, e->hi, (int)steps, i ^ e->negative_first, qmin, qmax,
			      d, m, q))
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
	if (n < 1 || n > QK)
		return 0;
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
		if (on_grid(v, stride, n, &e, gap / per_gap) &&
		    fit_unit(v, stride, n, &e, gap / per_gap, qmin, qmax, d, m, q))
			return 1;
	/* else sparse levels (a block requantized from a coarser one): the
	 * value nearest the offset as each whole number of steps */
	double nearest = nearest_distance(v, stride, n, &e);
	int most = qmax > -qmin ? qmax : -qmin;
	for (int steps = 1; steps <= most; steps++)
		if (on_grid(v, stride, n, &e, nearest / steps) &&
		    fit_unit(v, stride, n, &e, nearest / steps, qmin, qmax, d, m, q))
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
