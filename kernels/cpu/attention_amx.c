/* The packed attention backward's five products on AMX tiles in bf16
 * (kernels.h: form TK_PACK_BF16_DOT), one (record, head) at a time under
 * attention_blocked.c's driver: per block of 64 queries
 *   s = q·kᵀ,  dp = dout·vᵀ,  dq = scale·ds·k,  dkᵀ += qᵀ·ds,  dvᵀ += doutᵀ·p,
 * each with bf16 operands (q, k, v, dout rounded once per item; p and ds
 * once per block) and float32 sums; the exponentials, lse, δ and ds =
 * p·(dp − δ) stay float32, as in the sgemm code.
 *
 * A tile product adds A (16 rows × 16 pairs of k) times B (16 pairs of k ×
 * 16 lanes, each lane a pair) into 16 × 16 float32 sums, so every operand
 * is laid out once in the form its product reads: rows of pairs (q, dout,
 * ds), pairs of rows (k for dq; p and ds for dk, dv) or transposed pairs
 * (k, v for the scores; q, dout for dk, dv).  Sizes go up to multiples of
 * 32 (a tile's k) with zeros; a block's keys start at a multiple of 32
 * below its first key, the keys before it masked like the causal ones.
 * dk and dv are kept transposed, (d, keys), until the item ends.  Every
 * element's sum runs over tiles in one fixed order that depends on the
 * record alone: the bits do not depend on the threads or on the other
 * records. */
#include "cpu.h"
#include "half.h"

#include <immintrin.h>

#define BLOCK 64 // queries a block, as attention_blocked.c
#define PAD 32   // a tile's k in bf16; every size a multiple of it

static size_t up(size_t v)
{
	return (v + PAD - 1) / PAD * PAD;
}

/* ---- bf16 layouts (rounded by half.h's tk_float_to_bfloat) ------------- */

/* Lanes pairing a's and b's bf16 bits (a low). */
__attribute__((target("avx512f"))) static __m512i pair16(__m512 a, __m512 b)
{
	return _mm512_or_si512(tk_float_to_bfloat16x(a),
			       _mm512_slli_epi32(tk_float_to_bfloat16x(b), 16));
}

/* dst (rp rows, cp/2 pairs): row i holds src's row i (c floats, ld apart)
 * in bf16, zero past r rows and c columns. */
__attribute__((target("avx512f"))) static void
rows_of_pairs(uint32_t *dst, const float *src, size_t ld, size_t r, size_t c, size_t rp,
	      size_t cp)
{
	for (size_t i = 0; i < r; i++) {
		uint16_t *row = (uint16_t *)(dst + i * (cp / 2));
		const float *in = src + i * ld;
		size_t t = 0;
		for (; t + 16 <= c; t += 16)
			_mm256_storeu_si256((__m256i *)(row + t),
					    _mm512_cvtepi32_epi16(tk_float_to_bfloat16x(_mm512_loadu_ps(in + t))));
		for (; t < cp; t++)
			row[t] = t < c ? tk_float_to_bfloat(in[t]) : 0;
	}
	memset(dst + r * (cp / 2), 0, (rp - r) * (cp / 2) * sizeof *dst);
}

/* dst (rp/2 pair rows, cp lanes): lane j of pair row q holds src[2q][j]
 * and src[2q+1][j], zero past r rows and c columns. */
__attribute__((target("avx512f"))) static void
pairs_of_rows(uint32_t *dst, const float *src, size_t ld, size_t r, size_t c, size_t rp,
	      size_t cp)
{
	static const float zeros[16];
	for (size_t q = 0; q < (r + 1) / 2; q++) {
		const float *a = src + 2 * q * ld, *b = 2 * q + 1 < r ? a + ld : NULL;
		uint32_t *out = dst + q * cp;
		size_t j = 0;
		for (; j + 16 <= c; j += 16)
			_mm512_storeu_si512(out + j, pair16(_mm512_loadu_ps(a + j),
							    _mm512_loadu_ps(b ? b + j : zeros)));
		for (; j < cp; j++) {
			uint32_t lo = j < c ? tk_float_to_bfloat(a[j]) : 0;
			uint32_t hi = j < c && b ? tk_float_to_bfloat(b[j]) : 0;
			out[j] = lo | hi << 16;
		}
	}
	memset(dst + (r + 1) / 2 * cp, 0, (rp / 2 - (r + 1) / 2) * cp * sizeof *dst);
}

/* A 16 × 16 block of 32-bit elements transposed: out row j = in column j
 * (interleaves of 32 bits, of 64, then of 128-bit lanes twice). */
__attribute__((target("avx512f"))) static void transpose16(uint32_t *dst, size_t ldd,
							    const uint32_t *src, size_t lds)
{
	__m512i a[16], b[16];
	for (int k = 0; k < 16; k++)
		a[k] = _mm512_loadu_si512(src + k * lds);
	for (int k = 0; k < 8; k++) {
		b[2 * k] = _mm512_unpacklo_epi32(a[2 * k], a[2 * k + 1]);
		b[2 * k + 1] = _mm512_unpackhi_epi32(a[2 * k], a[2 * k + 1]);
	}
	for (int k = 0; k < 4; k++) { // a[4k + m], 128-bit lane L: column 4L + m of rows 4k..4k+3
		a[4 * k] = _mm512_unpacklo_epi64(b[4 * k], b[4 * k + 2]);
		a[4 * k + 1] = _mm512_unpackhi_epi64(b[4 * k], b[4 * k + 2]);
		a[4 * k + 2] = _mm512_unpacklo_epi64(b[4 * k + 1], b[4 * k + 3]);
		a[4 * k + 3] = _mm512_unpackhi_epi64(b[4 * k + 1], b[4 * k + 3]);
	}
	for (int m = 0; m < 4; m++) {
		__m512i t0 = _mm512_shuffle_i32x4(a[m], a[4 + m], 0x44);
		__m512i t1 = _mm512_shuffle_i32x4(a[m], a[4 + m], 0xee);
		__m512i u0 = _mm512_shuffle_i32x4(a[8 + m], a[12 + m], 0x44);
		__m512i u1 = _mm512_shuffle_i32x4(a[8 + m], a[12 + m], 0xee);
		_mm512_storeu_si512(dst + m * ldd, _mm512_shuffle_i32x4(t0, u0, 0x88));
		_mm512_storeu_si512(dst + (4 + m) * ldd, _mm512_shuffle_i32x4(t0, u0, 0xdd));
		_mm512_storeu_si512(dst + (8 + m) * ldd, _mm512_shuffle_i32x4(t1, u1, 0x88));
		_mm512_storeu_si512(dst + (12 + m) * ldd, _mm512_shuffle_i32x4(t1, u1, 0xdd));
	}
}

/* dst (c, r) = src (r, c)ᵀ, 32-bit elements; r and c multiples of 16. */
static void transpose(uint32_t *dst, const uint32_t *src, size_t r, size_t c)
{
	for (size_t i = 0; i < r; i += 16)
		for (size_t j = 0; j < c; j += 16)
			transpose16(dst + j * r + i, r, src + i * c + j, c);
}

/* ---- tiles ------------------------------------------------------------- */

/* c (m, n; ldc floats) = or += a (m rows of kp pairs, lda apart) · b (kp
 * pair rows of n lanes, ldb apart); m, n multiples of 32, kp of 16.  Tiles
 * 0-3 the sums of a 32 × 32 block, 4-5 a's, 6-7 b's (xwt_amx.c's
 * configuration: every tile 16 rows × 64 bytes). */
__attribute__((target("amx-tile,amx-bf16"))) static void
product(float *c, size_t ldc, const uint32_t *a, size_t lda, const uint32_t *b, size_t ldb,
	size_t m, size_t n, size_t kp, int accumulate)
{
	long sc = (long)(ldc * 4), sa = (long)(lda * 4), sb = (long)(ldb * 4);
	for (size_t i = 0; i < m; i += 32)
		for (size_t j = 0; j < n; j += 32) {
			float *c0 = c + i * ldc + j, *c1 = c0 + 16 * ldc;
			if (accumulate) {
				_tile_loadd(0, c0, sc);
				_tile_loadd(1, c0 + 16, sc);
				_tile_loadd(2, c1, sc);
				_tile_loadd(3, c1 + 16, sc);
			} else {
				_tile_zero(0);
				_tile_zero(1);
				_tile_zero(2);
				_tile_zero(3);
			}
			for (size_t q = 0; q < kp; q += 16) {
				_tile_loadd(4, a + i * lda + q, sa);
				_tile_loadd(5, a + (i + 16) * lda + q, sa);
				_tile_loadd(6, b + q * ldb + j, sb);
				_tile_loadd(7, b + q * ldb + j + 16, sb);
				_tile_dpbf16ps(0, 4, 6);
				_tile_dpbf16ps(1, 4, 7);
				_tile_dpbf16ps(2, 5, 6);
				_tile_dpbf16ps(3, 5, 7);
			}
			_tile_stored(0, c0, sc);
			_tile_stored(1, c0 + 16, sc);
			_tile_stored(2, c1, sc);
			_tile_stored(3, c1 + 16, sc);
		}
}

/* ---- one (record, head) ------------------------------------------------ */

/* One item's working memory, in uint32 (pairs) or floats; lp = up(len),
 * dp = up(d).  The item's layouts (each lp·dp/2 pairs) then the block's. */
struct amx_scratch {
	uint32_t *qr, *gr;  // q, dout: rows of pairs (lp, dp/2)
	uint32_t *qt, *gt;  // q, dout transposed: rows of d, pairs of queries (dp, lp/2)
	uint32_t *kt, *vt;  // k, v transposed: pairs of d, lanes of keys (dp/2, lp)
	uint32_t *kv;       // k: pairs of keys, lanes of d (lp/2, dp)
	uint32_t *tmp;      // (lp·dp/2) on the way to a transposed one
	float *dkt, *dvt;   // (dp, lp) sums
	float *back;        // (lp, dp): one of them transposed back
	float *s, *dp;      // (BLOCK, lp): scores then p; dp then ds
	uint32_t *pv, *sv;  // p, ds: pairs of queries, lanes of keys (BLOCK/2, lp)
	uint32_t *sr;       // ds: rows of pairs (BLOCK, lp/2)
	float *dqb;         // (BLOCK, dp)
};

size_t tk_cpu_attention_amx_scratch(size_t len, size_t d)
{
	size_t lp = up(len), dp = up(d), layout = lp * dp / 2 * sizeof(uint32_t);
	return 8 * layout + 3 * dp * lp * sizeof(float) + 2 * BLOCK * lp * sizeof(float) +
	       2 * BLOCK / 2 * lp * sizeof(uint32_t) + BLOCK * lp / 2 * sizeof(uint32_t) +
	       BLOCK * dp * sizeof(float) + 20 * 64; // each part on its own cache line
}

static void *carve(unsigned char **at, size_t bytes)
{
	void *p = *at;
	*at += (bytes + 63) / 64 * 64;
	return p;
}

static struct amx_scratch scratch_of(void *mem, size_t len, size_t d)
{
	size_t lp = up(len), dp = up(d), layout = lp * dp / 2 * sizeof(uint32_t);
	unsigned char *at = (unsigned char *)(((uintptr_t)mem + 63) / 64 * 64);
	struct amx_scratch w;
	w.qr = carve(&at, layout), w.gr = carve(&at, layout);
	w.qt = carve(&at, layout), w.gt = carve(&at, layout);
	w.kt = carve(&at, layout), w.vt = carve(&at, layout);
	w.kv = carve(&at, layout), w.tmp = carve(&at, layout);
	w.dkt = carve(&at, dp * lp * sizeof(float)), w.dvt = carve(&at, dp * lp * sizeof(float));
	w.back = carve(&at, dp * lp * sizeof(float));
	w.s = carve(&at, BLOCK * lp * sizeof(float)), w.dp = carve(&at, BLOCK * lp * sizeof(float));
	w.pv = carve(&at, BLOCK / 2 * lp * sizeof(uint32_t));
	w.sv = carve(&at, BLOCK / 2 * lp * sizeof(uint32_t));
	w.sr = carve(&at, BLOCK * lp / 2 * sizeof(uint32_t));
	w.dqb = carve(&at, BLOCK * dp * sizeof(float));
	return w;
}

/* The item's operands in their layouts. */
static void lay_out(struct amx_scratch *w, const struct tk_cpu_head_grad *g)
{
	size_t len = g->len, d = g->d, lp = up(len), dp = up(d);
	rows_of_pairs(w->qr, g->q, g->ldq, len, d, lp, dp);
	rows_of_pairs(w->gr, g->dout, g->ldq, len, d, lp, dp);
	pairs_of_rows(w->kv, g->k, g->ldk, len, d, lp, dp);
	rows_of_pairs(w->tmp, g->k, g->ldk, len, d, lp, dp);
	transpose(w->kt, w->tmp, lp, dp / 2);
	rows_of_pairs(w->tmp, g->v, g->ldk, len, d, lp, dp);
	transpose(w->vt, w->tmp, lp, dp / 2);
	pairs_of_rows(w->tmp, g->q, g->ldq, len, d, lp, dp);
	transpose(w->qt, w->tmp, lp / 2, dp);
	pairs_of_rows(w->tmp, g->dout, g->ldq, len, d, lp, dp);
	transpose(w->gt, w->tmp, lp / 2, dp);
}

/* The first key query i sees. */
static size_t first_key(size_t i, size_t window)
{
	return window && i + 1 > window ? i + 1 - window : 0;
}

/* Row r of the block (query i0 + r, keys lo..lo+nk): p = exp(scale·s − lse)
 * on the keys it sees, 0 elsewhere; in place over s. */
static void probability_row(float *row, const struct tk_cpu_head_grad *g, size_t i, size_t lo,
			    size_t nk)
{
	size_t from = first_key(i, g->window) - lo, to = i + 1 - lo;
	for (size_t j = from; j < to; j++)
		row[j] *= g->scale;
	tk_cpu_exp_shifted(row + from, row + from, to - from, g->lse[i * g->stride]);
	for (size_t j = 0; j < from; j++)
		row[j] = 0.0f;
	for (size_t j = to; j < nk; j++)
		row[j] = 0.0f;
}

/* Rows r, r + 1 of the block: ds = p·(dp − δ) over dp, and p, ds rounded
 * into their layouts (nk lanes, a multiple of 32). */
__attribute__((target("avx512f"))) static void
grad_rows(struct amx_scratch *w, size_t r, size_t nk, float delta0, float delta1)
{
	const float *p0 = w->s + r * nk, *p1 = p0 + nk;
	float *d0 = w->dp + r * nk, *d1 = d0 + nk;
	uint32_t *pv = w->pv + r / 2 * nk, *sv = w->sv + r / 2 * nk;
	uint16_t *s0 = (uint16_t *)(w->sr + r * (nk / 2)), *s1 = s0 + nk;
	__m512 e0 = _mm512_set1_ps(delta0), e1 = _mm512_set1_ps(delta1);
	for (size_t j = 0; j < nk; j += 16) {
		__m512 a = _mm512_loadu_ps(p0 + j), b = _mm512_loadu_ps(p1 + j);
		__m512 da = _mm512_mul_ps(a, _mm512_sub_ps(_mm512_loadu_ps(d0 + j), e0));
		__m512 db = _mm512_mul_ps(b, _mm512_sub_ps(_mm512_loadu_ps(d1 + j), e1));
		__m512i ra = tk_float_to_bfloat16x(da), rb = tk_float_to_bfloat16x(db);
		_mm512_storeu_si512(pv + j, pair16(a, b));
		_mm512_storeu_si512(sv + j, _mm512_or_si512(ra, _mm512_slli_epi32(rb, 16)));
		_mm256_storeu_si256((__m256i *)(s0 + j), _mm512_cvtepi32_epi16(ra));
		_mm256_storeu_si256((__m256i *)(s1 + j), _mm512_cvtepi32_epi16(rb));
	}
}

/* One block of bq queries from i0: dq's rows assigned, the sums of dkᵀ and
 * dvᵀ added to. */
static void block_backward(struct amx_scratch *w, const struct tk_cpu_head_grad *g, size_t i0,
			   size_t bq)
{
	size_t lp = up(g->len), dp = up(g->d), bp = up(bq);
	size_t lo = first_key(i0, g->window) / PAD * PAD, nk = up(i0 + bq - lo);
	// s = q·kᵀ, dp = dout·vᵀ  (bp, nk)
	product(w->s, nk, w->qr + i0 * (dp / 2), dp / 2, w->kt + lo, lp, bp, nk, dp / 2, 0);
	product(w->dp, nk, w->gr + i0 * (dp / 2), dp / 2, w->vt + lo, lp, bp, nk, dp / 2, 0);
	for (size_t r = 0; r < bp; r++) {
		if (r < bq)
			probability_row(w->s + r * nk, g, i0 + r, lo, nk);
		else
			memset(w->s + r * nk, 0, nk * sizeof(float));
	}
	for (size_t r = 0; r < bp; r += 2) {
		float d0 = r < bq ? g->delta[(i0 + r) * g->stride] : 0.0f;
		float d1 = r + 1 < bq ? g->delta[(i0 + r + 1) * g->stride] : 0.0f;
		grad_rows(w, r, nk, d0, d1);
	}
	// dq = scale · ds·k  (bp, dp)
	product(w->dqb, dp, w->sr, nk / 2, w->kv + lo / 2 * dp, dp, bp, dp, nk / 2, 0);
	for (size_t r = 0; r < bq; r++)
		for (size_t c = 0; c < g->d; c++)
			g->dq[(i0 + r) * g->ldq + c] = g->scale * w->dqb[r * dp + c];
	// dkᵀ += qᵀ·ds, dvᵀ += doutᵀ·p  (dp, nk) from key lo
	product(w->dkt + lo, lp, w->qt + i0 / 2, lp / 2, w->sv, nk, dp, nk, bp / 2, 1);
	product(w->dvt + lo, lp, w->gt + i0 / 2, lp / 2, w->pv, nk, dp, nk, bp / 2, 1);
}

/* dst (len, d; ld apart) = scale · sums (dp, lp)ᵀ. */
static void put_back(float *dst, size_t ld, struct amx_scratch *w, const float *sums, size_t len,
		     size_t d, float scale)
{
	size_t lp = up(len), dp = up(d);
	transpose((uint32_t *)w->back, (const uint32_t *)sums, dp, lp);
	for (size_t j = 0; j < len; j++)
		for (size_t c = 0; c < d; c++)
			dst[j * ld + c] = scale * w->back[j * dp + c];
}

void tk_cpu_attention_head_backward_amx(const struct tk_cpu_head_grad *g, void *scratch)
{
	size_t len = g->len, d = g->d, lp = up(len), dp = up(d);
	struct amx_scratch w = scratch_of(scratch, len, d);
	lay_out(&w, g);
	memset(w.dkt, 0, dp * lp * sizeof(float));
	memset(w.dvt, 0, dp * lp * sizeof(float));
	for (size_t i0 = 0; i0 < len; i0 += BLOCK)
		block_backward(&w, g, i0, len - i0 < BLOCK ? len - i0 : BLOCK);
	put_back(g->dk, g->ldq, &w, w.dkt, len, d, g->scale);
	put_back(g->dv, g->ldq, &w, w.dvt, len, d, 1.0f);
}
