/* Products in bf16 (kernels.h: TK_PACK_BF16_DOT): y = bf16(x)·bf16(W)ᵀ and
 * dx = bf16(dy)·bf16(W), float32 accumulation, through AMX tiles where the
 * CPU has them (xwt_amx.c: their own bits, about 16× the multiply-adds of
 * float32 FMA), else the CPU's bf16 dot products (AVX-512 BF16's
 * vdpbf16ps: two products added to a float32 lane; on this project's
 * Xeon no faster than float32 FMA, which issues twice as often) or the
 * portable code, which gives vdpbf16ps's bits.  What follows is those
 * two's arithmetic; the AMX tiles keep its blocking of k.
 *
 * Every element is one chain over pairs of k in order, from zero, each
 * pair added as vdpbf16ps adds it: acc = acc + x[2p+1]·w[2p+1], rounded,
 * then + x[2p]·w[2p], rounded (each a fused multiply-add: a bf16 product
 * is exact in float32); inputs below float32's normal range count as zero
 * and so do such results.  (Measured on this project's machines: the
 * portable code matches the instruction on every input but the sign of an
 * exact zero, overflow and an accumulator of exactly ±2^−126.)  k longer
 * than KC goes in chunks of KC, each chunk's chain added to y, as the
 * float32 product does; so a row's bits depend neither on the other rows
 * nor on the threads.
 *
 * Layout: panels of NR columns of y; per pair p of k, NR 32-bit lanes each
 * holding w[j0 + c][2p] (low half) and w[j0 + c][2p + 1] (high), zero past
 * n and past an odd k.  x is rounded into the same pairs, a row at a time.
 * The backward reads the forward's panels, expanding them transposed into
 * the workspace once a call (W's size in bf16, for the call's length), so
 * one copy serves both. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include "xwt_tile.h"

#include "half.h"

#include <immintrin.h>

#define BF_ROWS 64 // rows of y a work item covers

typedef uint32_t pair_t; // two bf16: element 2p in the low half

/* ---- rounding (half.h's bf16 conversions) ------------------------------ */

/* Below the normal range: zero, its sign kept (the instruction's DAZ/FTZ). */
static float flush(float f)
{
	return fabsf(f) < 0x1p-126f ? copysignf(0.0f, f) : f;
}

static size_t pairs_of(size_t k)
{
	return (k + 1) / 2;
}

size_t tk_cpu_bf16_panel_bytes(size_t k)
{
	return pairs_of(k) * NR * sizeof(pair_t);
}

/* ---- packing ----------------------------------------------------------- */

void tk_cpu_bf16_pack(tk_backend *be, void *packed, const float *w, size_t n, size_t k)
{
	size_t panels = (n + NR - 1) / NR, kp = pairs_of(k);
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * k >= TK_CPU_PARALLEL_MIN)
	for (size_t p = 0; p < panels; p++) {
		pair_t *dst = (pair_t *)((char *)packed + p * tk_cpu_bf16_panel_bytes(k));
		for (size_t q = 0; q < kp; q++)
			for (size_t c = 0; c < NR; c++) {
				size_t j = p * NR + c, t = 2 * q;
				uint16_t lo = j < n ? tk_float_to_bfloat(w[j * k + t]) : 0;
				uint16_t hi = j < n && t + 1 < k ? tk_float_to_bfloat(w[j * k + t + 1]) : 0;
				dst[q * NR + c] = (pair_t)lo | (pair_t)hi << 16;
			}
	}
}

/* 16 floats rounded to bf16 (half.h), into 8 pairs. */
__attribute__((target("avx512f"))) static void round16_avx512(pair_t *dst, const float *src)
{
	__m512i r = tk_float_to_bfloat16x(_mm512_loadu_ps(src));
	_mm256_storeu_si256((__m256i *)dst, _mm512_cvtepi32_epi16(r));
}

/* One row: pairs 0..kp of x (k), the vector code where the CPU has it. */
static void round_row(pair_t *xp, const float *x, size_t k, int avx512)
{
	size_t q = 0, kp = pairs_of(k);
	for (; avx512 && 2 * q + 16 <= k; q += 8)
		round16_avx512(xp + q, x + 2 * q);
	for (; q < kp; q++) {
		uint16_t lo = tk_float_to_bfloat(x[2 * q]);
		uint16_t hi = 2 * q + 1 < k ? tk_float_to_bfloat(x[2 * q + 1]) : 0;
		xp[q] = (pair_t)lo | (pair_t)hi << 16;
	}
}

/* Rows of x (m, k) rounded into pairs: xp (m, xs), zero past pairs_of(k)
 * (xs ≥ it: AMX tiles read whole tiles of 16 pairs). */
static void round_rows(tk_backend *be, pair_t *xp, size_t xs, const float *x, size_t lda,
		       size_t m, size_t k)
{
	size_t kp = pairs_of(k);
	__builtin_cpu_init();
	int avx512 = __builtin_cpu_supports("avx512f");
#pragma omp parallel for schedule(static) num_threads(be->threads) if (m * k >= TK_CPU_PARALLEL_MIN)
	for (size_t i = 0; i < m; i++) {
		round_row(xp + i * xs, x + i * lda, k, avx512);
		for (size_t q = kp; q < xs; q++)
			xp[i * xs + q] = 0;
	}
}

/* ---- tiles ------------------------------------------------------------- */

/* One pair added to acc as vdpbf16ps adds it. */
static float dot_pair(float acc, pair_t x, pair_t w)
{
	float x0 = flush(tk_bfloat_to_float((uint16_t)x));
	float x1 = flush(tk_bfloat_to_float((uint16_t)(x >> 16)));
	float w0 = flush(tk_bfloat_to_float((uint16_t)w));
	float w1 = flush(tk_bfloat_to_float((uint16_t)(w >> 16)));
	acc = flush(fmaf(x1, w1, acc));
	return flush(fmaf(x0, w0, acc));
}

/* y (rows, ldy) (+)= the chains of pairs q0..q0+qn of xp's rows (kp apart)
 * over panel rows b (NR lanes a pair), cols columns stored. */
typedef void bf16_tile_fn(size_t rows, const pair_t *xp, size_t kp, const pair_t *b, size_t qn,
			  size_t cols, float *y, size_t ldy, int accumulate);

static void tile_c(size_t rows, const pair_t *xp, size_t kp, const pair_t *b, size_t qn,
		   size_t cols, float *y, size_t ldy, int accumulate)
{
	for (size_t r = 0; r < rows; r++)
		for (size_t c = 0; c < cols; c++) {
			float s = 0.0f;
			for (size_t q = 0; q < qn; q++)
				s = dot_pair(s, xp[r * kp + q], b[q * NR + c]);
			float *out = y + r * ldy + c;
			*out = accumulate ? *out + s : s;
		}
}

__attribute__((target("avx512f,avx512bf16"), always_inline)) static inline void
tile_avx512_body(const size_t mr, const pair_t *xp, size_t kp, const pair_t *b, size_t qn,
		 size_t cols, float *y, size_t ldy, size_t rows, int accumulate)
{
	__m512 c0[MR], c1[MR], c2[MR];
#pragma GCC unroll 8
	for (size_t r = 0; r < mr; r++)
		c0[r] = c1[r] = c2[r] = _mm512_setzero_ps();
	for (size_t q = 0; q < qn; q++) {
		const pair_t *bq = b + q * NR;
		__m512bh b0 = (__m512bh)_mm512_loadu_si512(bq);
		__m512bh b1 = (__m512bh)_mm512_loadu_si512(bq + 16);
		__m512bh b2 = (__m512bh)_mm512_loadu_si512(bq + 32);
#pragma GCC unroll 8
		for (size_t r = 0; r < mr; r++) {
			__m512bh x = (__m512bh)_mm512_set1_epi32((int)xp[(r < rows ? r : 0) * kp + q]);
			c0[r] = _mm512_dpbf16_ps(c0[r], x, b0);
			c1[r] = _mm512_dpbf16_ps(c1[r], x, b1);
			c2[r] = _mm512_dpbf16_ps(c2[r], x, b2);
		}
	}
#pragma GCC unroll 8
	for (size_t r = 0; r < mr; r++) {
		if (r >= rows)
			continue;
		float *out = y + r * ldy;
		__m512 s[3] = {c0[r], c1[r], c2[r]};
		for (int v = 0; v < 3; v++) {
			size_t lo = (size_t)v * 16, have = cols > lo ? cols - lo : 0;
			__mmask16 m = have >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << have) - 1u);
			if (accumulate)
				s[v] = _mm512_add_ps(_mm512_maskz_loadu_ps(m, out + lo), s[v]);
			_mm512_mask_storeu_ps(out + lo, m, s[v]);
		}
	}
}

__attribute__((target("avx512f,avx512bf16"))) static void
tile_avx512(size_t rows, const pair_t *xp, size_t kp, const pair_t *b, size_t qn, size_t cols,
	    float *y, size_t ldy, int accumulate)
{
	for (size_t i = 0; i < rows; i += MR) {
		size_t r = rows - i < MR ? rows - i : MR;
		const pair_t *xi = xp + i * kp;
		float *yi = y + i * ldy;
		if (r > 4)
			tile_avx512_body(8, xi, kp, b, qn, cols, yi, ldy, r, accumulate);
		else if (r > 2)
			tile_avx512_body(4, xi, kp, b, qn, cols, yi, ldy, r, accumulate);
		else if (r > 1)
			tile_avx512_body(2, xi, kp, b, qn, cols, yi, ldy, r, accumulate);
		else
			tile_avx512_body(1, xi, kp, b, qn, cols, yi, ldy, r, accumulate);
	}
}

/* The fastest code this CPU has, or the one a test asks for (cpu.h:
 * TK_BF16_*); AMX tiles give their own bits (xwt_amx.c). */
static bf16_tile_fn *pick_tile(int code)
{
	__builtin_cpu_init();
	int avx512 = __builtin_cpu_supports("avx512bf16");
	if (code == TK_BF16_FASTEST && tk_cpu_amx_ready())
		return tk_cpu_amx_tile;
	return code != TK_BF16_PORTABLE && avx512 ? tile_avx512 : tile_c;
}

/* ---- the products ------------------------------------------------------ */

/* Panel rows q0..q0+qn of the backward's panel j0 (dst (qn, NR) pairs:
 * lane c of pair q holds w[2(q0+q)][j0+c] and w[2(q0+q)+1][j0+c], zero
 * past n and past k) from w (k, n) packed for the forward (n inputs): a
 * forward pair of rows r, r + 1 (one panel: NR is even) gives two lanes
 * from two 32-bit loads. */
static void expand_transposed(pair_t *dst, const void *packed, size_t n, size_t k, size_t j0,
			      size_t q0, size_t qn)
{
	const pair_t *fwd = packed;
	size_t per_panel = tk_cpu_bf16_panel_bytes(n) / sizeof *fwd;
	size_t cols = n - j0 < NR ? n - j0 : NR; // j0 and NR even: whole input pairs
	for (size_t q = 0; q < qn; q++) {
		size_t r = 2 * (q0 + q);
		pair_t *out = dst + q * NR;
		const pair_t *row = fwd + r / NR * per_panel + r % NR; // (i / 2) · NR apart
		int second = r + 1 < k;
		for (size_t c = 0; c < cols; c += 2) {
			pair_t a = row[(j0 + c) / 2 * NR], b = second ? row[(j0 + c) / 2 * NR + 1] : 0;
			out[c] = (a & 0xffffu) | b << 16;
			if (c + 1 < NR)
				out[c + 1] = a >> 16 | (b & 0xffff0000u);
		}
		for (size_t c = cols; c < NR; c++)
			out[c] = 0;
	}
}

struct bf16_product {
	float *y;
	size_t ldy;
	const pair_t *xp;   // x's rows in pairs (m, xs)
	const void *packed;
	int transposed;     // packed is w (k, n) for the forward: dx = dy·w
	size_t m, n, k, kp;
	int accumulate;
	size_t xs;          // pairs from one row of xp to the next
	size_t item_rows;   // rows of y a work item covers
	size_t panel_k;     // k the forward's panels were packed with
	size_t q_base;      // their first pair the product reads (k from 2·q_base)
};

/* Items (block of item_rows rows, panel), the panels of a block one after
 * another, so that its rows stay in the cache while W's panels go by; k in
 * chunks of KC (KC/2 pairs). */
static void run_item(const struct bf16_product *p, bf16_tile_fn *tile, size_t item)
{
	size_t per = p->item_rows, panels = (p->n + NR - 1) / NR, panel = item % panels;
	size_t i0 = item / panels * per, rows = p->m - i0 < per ? p->m - i0 : per;
	size_t j0 = panel * NR, cols = p->n - j0 < NR ? p->n - j0 : NR, chunk = KC / 2;
	const pair_t *b0 = (const pair_t *)((const char *)p->packed +
					    panel * tk_cpu_bf16_panel_bytes(p->panel_k));
	for (size_t q0 = 0; q0 < p->kp || q0 == 0; q0 += chunk) {
		size_t qn = p->kp - q0 < chunk ? p->kp - q0 : chunk;
		tile(rows, p->xp + i0 * p->xs + q0, p->xs, b0 + (p->q_base + q0) * NR, qn, cols,
		     p->y + i0 * p->ldy + j0, p->ldy, q0 > 0 || p->accumulate);
		if (p->kp == 0)
			break;
	}
}

/* Rows a work item covers: more when there are enough items to go round
 * the threads (W's panels read fewer times). */
static size_t item_rows(const struct bf16_product *p, size_t threads)
{
	size_t panels = (p->n + NR - 1) / NR;
	if (p->m >= 4 * BF_ROWS && panels * (p->m / (4 * BF_ROWS)) >= 4 * threads)
		return 4 * BF_ROWS;
	return BF_ROWS;
}

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

/* The backward's W: the forward's panels expanded transposed, all of them
 * once a call, into wt (the panels of Wᵀ: n/NR of kp pairs × NR). */
static void expand_all(tk_backend *be, pair_t *wt, const struct bf16_product *p, int parallel)
{
	size_t panels = (p->n + NR - 1) / NR, per = tk_cpu_bf16_panel_bytes(p->k) / sizeof *wt;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (parallel)
	for (size_t j = 0; j < panels; j++)
		expand_transposed(wt + j * per, p->packed, p->n, p->k, j * NR, 0, p->kp);
}

static int bf16_run(tk_backend *be, struct bf16_product *p, const float *x, size_t lda, int code)
{
	if (p->m == 0 || p->n == 0)
		return TK_KERNEL_OK;
	bf16_tile_fn *tile = pick_tile(code);
	int amx = tile == tk_cpu_amx_tile; // reads whole tiles: 16 rows, 16 pairs
	size_t threads = (size_t)be->threads, panels = (p->n + NR - 1) / NR;
	size_t rows = amx ? round_up(p->m, 16) : p->m;
	int parallel = p->m * p->n * p->k >= TK_CPU_PARALLEL_MIN && threads > 1;
	p->xs = amx ? round_up(p->kp, 16) : p->kp;
	p->item_rows = item_rows(p, threads);
	tk_workspace_mark mark = tk_workspace_mark_now(be);
	pair_t *xp = tk_workspace_take(be, rows * p->xs * sizeof *xp + 64);
	pair_t *wt = p->transposed ? tk_workspace_take(be, panels * tk_cpu_bf16_panel_bytes(p->k))
				   : NULL;
	if (!xp || (p->transposed && !wt)) {
		tk_workspace_release(be, mark);
		return tk_backend_fail(be, TK_KERNEL_ENOMEM, "out of memory for a %zu x %zu x %zu "
				       "bf16 product's operands", p->m, p->n, p->k);
	}
	round_rows(be, xp, p->xs, x, lda, p->m, p->k);
	memset(xp + p->m * p->xs, 0, (rows - p->m) * p->xs * sizeof *xp);
	p->xp = xp;
	if (p->transposed) {
		expand_all(be, wt, p, parallel);
		p->packed = wt;
	}
	size_t items = panels * ((p->m + p->item_rows - 1) / p->item_rows);
#pragma omp parallel num_threads(be->threads) if (parallel)
	{
		if (amx)
			tk_cpu_amx_begin();
#pragma omp for schedule(dynamic, 1)
		for (size_t item = 0; item < items; item++)
			run_item(p, tile, item);
		if (amx)
			tk_cpu_amx_end();
	}
	tk_workspace_release(be, mark);
	return TK_KERNEL_OK;
}

int tk_cpu_bf16_xwt(tk_backend *be, float *y, size_t ldy, const float *x, const void *packed,
		    size_t m, size_t n, size_t k, int accumulate, int code)
{
	struct bf16_product p = {y, ldy, NULL, packed, 0, m, n, k, pairs_of(k), accumulate, 0, 0, k, 0};
	return bf16_run(be, &p, x, k, code);
}

int tk_cpu_bf16_xwt_part(tk_backend *be, float *y, size_t ldy, const float *x, size_t lda,
			 const void *packed, size_t m, size_t n, size_t k, size_t kb, size_t kn,
			 int accumulate)
{
	if (kb % 2 || kb + kn > k)
		return tk_backend_fail(be, TK_KERNEL_EUSAGE, "bf16 product of k %zu..%zu of %zu: "
				       "not from an even k inside it", kb, kb + kn, k);
	struct bf16_product p = {y,	  ldy, NULL, packed, 0, m, n, kn, pairs_of(kn), accumulate,
				 0,	  0,   k,    kb / 2};
	return bf16_run(be, &p, x, lda, TK_BF16_FASTEST);
}

int tk_cpu_bf16_xw(tk_backend *be, float *y, size_t ldy, const float *x, const void *packed,
		   size_t m, size_t n, size_t k, int accumulate, int code)
{
	struct bf16_product p = {y, ldy, NULL, packed, 1, m, n, k, pairs_of(k), accumulate, 0, 0, k, 0};
	return bf16_run(be, &p, x, k, code);
}

void tk_cpu_bf16_row(float *dst, const void *packed, size_t k, size_t j)
{
	const pair_t *panel = (const pair_t *)((const char *)packed +
					       j / NR * tk_cpu_bf16_panel_bytes(k));
	for (size_t t = 0; t < k; t++) {
		pair_t pair = panel[t / 2 * NR + j % NR];
		dst[t] = tk_bfloat_to_float((uint16_t)(t % 2 ? pair >> 16 : pair));
	}
}
