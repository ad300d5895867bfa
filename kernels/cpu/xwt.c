/* The batch-invariant product y = x·Wᵀ (and dy·W for the backward): every
 * element is one chain of fused multiply-adds over k in order, starting
 * from zero, then added to y when accumulating (k longer than KC goes in
 * chunks of KC, each chunk's chain added to y in turn).  Blocking, vector width
 * and threading only decide which elements are computed side by side,
 * never how one is computed, so a row's bits depend neither on the other
 * rows nor on the thread count, and every instruction set gives the same
 * bits (an FMA is exactly rounded; the portable code calls fmaf).
 *
 * The layout is the classic outer-product one: W is cut into panels of
 * TK_XWT_PANEL columns of y, stored k-major (panel[k][c] = W[j0 + c][k]).
 * A register tile of MR rows of x × one panel then costs, per k, three
 * vector loads of the panel and MR broadcasts from x's rows for 3·MR
 * multiply-adds: the multiply-add units, not the caches, set the pace.
 * Weights used many times (the forward's, a frozen base's) are packed
 * once (tk_cpu_matmul_pack, tk_cpu_matmul_pack_backward); others are packed a
 * panel at a time inside the product, each panel once per call.  Panels
 * packed in a compact form (xwt_forms.c) are expanded a chunk at a time
 * into a thread's buffer, as W is packed, and multiplied from there. */
#include "xwt_tile.h"

#include "xwt_expand.h"

#include <immintrin.h>

/* Where the product reads its panels from. */
enum panel_source {
	PANELS_PACKED, // b is packed: panel p at b + p·k·NR, rows NR apart
	PANELS_PACK,   // b is W (n, k): each panel packed into a thread's buffer first
	PANELS_TRANSPOSED, // b is W (k, n) packed in `form` for x' · Wᵀ: expanded transposed first
};

struct xwt {
	float *y;
	size_t ldy;
	const float *x;
	size_t lda;
	const void *b;
	enum panel_source source;
	int form;         // packed panels' form (xwt_forms.c): all but f32 are expanded first
	size_t m, n, k;   // k: the panels' height
	size_t kb, kn;    // the k indices multiplied: kb..kb+kn (x's columns 0..kn)
	int accumulate;
	const float *xp;  // x packed by pack_x for the quantized panels, or NULL
};


/* ---- AVX-512: MR rows × 48 columns, three 16-lane vectors a row -------- */

__attribute__((target("avx512f"))) static inline __mmask16 mask16(size_t cols, size_t lo)
{
	size_t have = cols > lo ? cols - lo : 0;
	return have >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << have) - 1u);
}

__attribute__((target("avx512f"))) static inline void
store16(float *out, __mmask16 mask, __m512 s, int accumulate)
{
	if (accumulate)
		s = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), s);
	_mm512_mask_storeu_ps(out, mask, s);
}

/* A panel in a quantized form that the tile expands a block at a time
 * into the cache's nearest level, as it goes: for few rows, whose tile
 * would otherwise wait on a whole chunk expanded into a larger buffer. */
struct compact {
	int form;
	const unsigned char *panel;
	size_t t0; // the panel row of the tile's step 0, a multiple of QK
};

/* Every index into the accumulators is a constant once unrolled, so they
 * live in registers, not on the stack. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile_avx512_body(const size_t mr, const float *a, size_t lda, const float *b, size_t ldb,
		 size_t k, size_t cols, float *y, size_t ldy, size_t rows, int accumulate,
		 const struct prefetch *prefetch, const struct compact *cp)
{
	float block[QK * NR] __attribute__((aligned(64)));
	const struct prefetch pf = *prefetch;
	const int dense = pf.count >= k; // a row (three lines) a step
	size_t lines = dense ? 0 : 3 * pf.count, every = lines ? k / lines : 1, due = 0, part = 0;
	const char *line = (const char *)pf.rows;
	const __mmask16 m0 = mask16(cols, 0), m1 = mask16(cols, 16), m2 = mask16(cols, 32);
	__m512 c0[MR], c1[MR], c2[MR];
	/* x's rows lda apart, or (with cp) x packed (k, MR): row r of step t
	 * at a[t·MR + r]; rows past `rows` repeat row 0 (computed, not stored) */
	const float *ar[MR];
#pragma GCC unroll 8
	for (size_t r = 0; r < mr; r++) {
		c0[r] = c1[r] = c2[r] = _mm512_setzero_ps();
		ar[r] = a + (r < rows ? r : 0) * lda;
	}
	for (size_t t = 0; t < k; t++) {
		const float *bt = b + t * ldb;
		if (cp) {
			if (t % QK == 0)
				xwt_expand_block_avx512(block, cp->form, cp->panel, (cp->t0 + t) / QK);
			bt = block + t % QK * NR;
		}
		// panels are NR wide, zero past n: whole loads, masked stores
		__m512 b0 = _mm512_loadu_ps(bt), b1 = _mm512_loadu_ps(bt + 16);
		__m512 b2 = _mm512_loadu_ps(bt + 32);
		if (dense && t < pf.count) {
			const char *next = (const char *)(pf.rows + t * pf.ld);
			_mm_prefetch(next, _MM_HINT_T1);
			_mm_prefetch(next + 64, _MM_HINT_T1);
			_mm_prefetch(next + 128, _MM_HINT_T1);
		} else if (t == due && lines) {
			_mm_prefetch(line + 64 * part, _MM_HINT_T1);
			if (++part == 3)
				part = 0, line += pf.ld * sizeof(float);
			lines--, due += every;
		}
#pragma GCC unroll 8
		for (size_t r = 0; r < mr; r++) {
			__m512 x = _mm512_set1_ps(cp ? a[t * MR + r] : ar[r][t]);
			c0[r] = _mm512_fmadd_ps(x, b0, c0[r]);
			c1[r] = _mm512_fmadd_ps(x, b1, c1[r]);
			c2[r] = _mm512_fmadd_ps(x, b2, c2[r]);
		}
	}
#pragma GCC unroll 8
	for (size_t r = 0; r < mr; r++) {
		if (r < rows) {
			float *out = y + r * ldy;
			store16(out, m0, c0[r], accumulate);
			store16(out + 16, m1, c1[r], accumulate);
			store16(out + 32, m2, c2[r], accumulate);
		}
	}
}

__attribute__((target("avx512f"))) static void
tile_avx512(size_t mr, const float *a, size_t lda, const float *b, size_t ldb, size_t k,
	    size_t cols, float *y, size_t ldy, size_t rows, int accumulate,
	    const struct prefetch *pf)
{
	// one copy per row count, each with its accumulators in registers
	if (mr > 4)
		tile_avx512_body(8, a, lda, b, ldb, k, cols, y, ldy, rows, accumulate, pf, NULL);
	else if (mr > 2)
		tile_avx512_body(4, a, lda, b, ldb, k, cols, y, ldy, rows, accumulate, pf, NULL);
	else if (mr > 1)
		tile_avx512_body(2, a, lda, b, ldb, k, cols, y, ldy, rows, accumulate, pf, NULL);
	else
		tile_avx512_body(1, a, lda, b, ldb, k, cols, y, ldy, rows, accumulate, pf, NULL);
}

/* tile_avx512 over a panel in a quantized form (k a multiple of QK). */
__attribute__((target("avx512f"))) static void
tile_avx512_compact(size_t mr, const float *a, const struct compact *cp, size_t k, size_t cols,
		    float *y, size_t ldy, size_t rows, int accumulate)
{
	const struct prefetch none = {NULL, 0, 0};
	if (mr > 4)
		tile_avx512_body(8, a, MR, NULL, 0, k, cols, y, ldy, rows, accumulate, &none, cp);
	else if (mr > 2)
		tile_avx512_body(4, a, MR, NULL, 0, k, cols, y, ldy, rows, accumulate, &none, cp);
	else if (mr > 1)
		tile_avx512_body(2, a, MR, NULL, 0, k, cols, y, ldy, rows, accumulate, &none, cp);
	else
		tile_avx512_body(1, a, MR, NULL, 0, k, cols, y, ldy, rows, accumulate, &none, cp);
}

/* Steps of one tile whose chains are kept in acc (MR, NR) between calls
 * (zero when `first`): storing a chain's float and loading it back leaves
 * it as it was, so the chains are those of one long tile. */
__attribute__((target("avx512f"), always_inline)) static inline void
steps_avx512_body(const size_t mr, const float *a, const float *b, size_t steps, float *acc,
		  int first)
{
	__m512 c0[MR], c1[MR], c2[MR];
#pragma GCC unroll 8
	for (size_t r = 0; r < mr; r++) {
		const float *in = acc + r * NR;
		c0[r] = first ? _mm512_setzero_ps() : _mm512_load_ps(in);
		c1[r] = first ? _mm512_setzero_ps() : _mm512_load_ps(in + 16);
		c2[r] = first ? _mm512_setzero_ps() : _mm512_load_ps(in + 32);
	}
	for (size_t t = 0; t < steps; t++) {
		const float *bt = b + t * NR;
		__m512 b0 = _mm512_load_ps(bt), b1 = _mm512_load_ps(bt + 16);
		__m512 b2 = _mm512_load_ps(bt + 32);
#pragma GCC unroll 8
		for (size_t r = 0; r < mr; r++) {
			__m512 x = _mm512_set1_ps(a[t * MR + r]);
			c0[r] = _mm512_fmadd_ps(x, b0, c0[r]);
			c1[r] = _mm512_fmadd_ps(x, b1, c1[r]);
			c2[r] = _mm512_fmadd_ps(x, b2, c2[r]);
		}
	}
#pragma GCC unroll 8
	for (size_t r = 0; r < mr; r++) {
		float *out = acc + r * NR;
		_mm512_store_ps(out, c0[r]);
		_mm512_store_ps(out + 16, c1[r]);
		_mm512_store_ps(out + 32, c2[r]);
	}
}

__attribute__((target("avx512f"))) static void
steps_avx512(size_t mr, const float *a, const float *b, size_t steps, float *acc, int first)
{
	if (mr > 4)
		steps_avx512_body(8, a, b, steps, acc, first);
	else if (mr > 2)
		steps_avx512_body(4, a, b, steps, acc, first);
	else if (mr > 1)
		steps_avx512_body(2, a, b, steps, acc, first);
	else
		steps_avx512_body(1, a, b, steps, acc, first);
}

/* Rows of y (rows, ldy) from chains in acc (rows, NR): written, or added
 * to y when accumulating. */
__attribute__((target("avx512f"))) static void
store_chains_avx512(float *y, size_t ldy, const float *acc, size_t rows, size_t cols,
		    int accumulate)
{
	const __mmask16 m0 = mask16(cols, 0), m1 = mask16(cols, 16), m2 = mask16(cols, 32);
	for (size_t r = 0; r < rows; r++) {
		const float *in = acc + r * NR;
		store16(y + r * ldy, m0, _mm512_load_ps(in), accumulate);
		store16(y + r * ldy + 16, m1, _mm512_load_ps(in + 16), accumulate);
		store16(y + r * ldy + 32, m2, _mm512_load_ps(in + 32), accumulate);
	}
}

/* A panel in a quantized form times many rows: block by block (QK steps),
 * each block expanded once into the nearest cache and multiplied there by
 * every tile of rows, the tiles' chains kept in acc (rows rounded up to
 * MR, NR) between blocks.  Everything stays in the first-level cache; a
 * whole chunk expanded at once would go through the second level. */
__attribute__((target("avx512f"))) static void
rows_avx512_compact(const float *xp, size_t kn, const struct compact *cp, size_t k,
		    size_t cols, float *y, size_t ldy, size_t rows, int accumulate, float *acc)
{
	float block[QK * NR] __attribute__((aligned(64)));
	for (size_t t = 0; t < k; t += QK) {
		xwt_expand_block_avx512(block, cp->form, cp->panel, (cp->t0 + t) / QK);
		for (size_t i = 0; i < rows; i += MR)
			steps_avx512(rows - i < MR ? rows - i : MR, xp + i * kn + t * MR, block, QK,
				     acc + i * NR, t == 0);
	}
	store_chains_avx512(y, ldy, acc, rows, cols, accumulate);
}

/* ---- blocking and threads ---------------------------------------------- */

static tile_fn pick_tile(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return tile_avx512;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return tk_cpu_xwt_tile_avx2;
	return tk_cpu_xwt_tile_c;
}

/* One step of the product: k indices k0..k0+kc of panel rows, the first
 * step writing (or accumulating into) y, the later ones adding to it. */
struct chunk {
	size_t k0, kc;
	int accumulate;
};

/* Columns j0..j0+cols of rows i0..i1 of y from panel rows b (ldb apart)
 * for chunk c; the tiles share out fetching `next` (NULL: nothing). */
static void panel_rows(const struct xwt *p, tile_fn tile, struct chunk c, const float *b,
		       size_t ldb, const float *next, size_t j0, size_t i0, size_t i1)
{
	size_t cols = p->n - j0 < NR ? p->n - j0 : NR;
	size_t tiles = (i1 - i0 + MR - 1) / MR, share = (c.kc + tiles - 1) / tiles;
	for (size_t i = i0, s = 0; i < i1; i += MR, s++) {
		size_t rows = i1 - i < MR ? i1 - i : MR;
		size_t lo = s * share < c.kc ? s * share : c.kc;
		size_t hi = lo + share < c.kc ? lo + share : c.kc;
		struct prefetch pf = {next ? next + lo * ldb : b, ldb, next ? hi - lo : 0};
		tile(rows, p->x + i * p->lda + (c.k0 - p->kb), p->lda, b, ldb, c.kc, cols,
		     p->y + i * p->ldy + j0, p->ldy, rows, c.accumulate, &pf);
	}
}

static void run_panel(const struct xwt *p, tile_fn tile, struct chunk c, size_t panel,
		      int last, size_t i0, size_t i1, float *buffer)
{
	size_t j0 = panel * NR;
	switch (p->source) {
	case PANELS_PACKED: {
		if (p->form != TK_PACK_F32) {
			const unsigned char *packed = (const unsigned char *)p->b +
					     panel * tk_cpu_xwt_form_panel_bytes(p->form, p->k);
			if (tile == tile_avx512 && p->form != TK_PACK_BF16) {
				// expanding as it multiplies saves a buffer's round trip
				struct compact cp = {p->form, packed, c.k0};
				size_t cols = p->n - j0 < NR ? p->n - j0 : NR;
				const float *xp = p->xp + i0 * p->kn + (c.k0 - p->kb) * MR;
				float *y = p->y + i0 * p->ldy + j0;
				if (i1 - i0 <= MR)
					tile_avx512_compact(i1 - i0, xp, &cp, c.kc, cols, y, p->ldy,
							    i1 - i0, c.accumulate);
				else
					rows_avx512_compact(xp, p->kn, &cp, c.kc, cols, y, p->ldy,
							    i1 - i0, c.accumulate, buffer);
				break;
			}
			tk_cpu_xwt_expand(buffer, p->form, packed, c.k0, c.kc, 0);
			panel_rows(p, tile, c, buffer, NR, NULL, j0, i0, i1);
			break;
		}
		const float *b = (const float *)p->b + panel * p->k * NR + c.k0 * NR;
		panel_rows(p, tile, c, b, NR, last ? NULL : b + p->k * NR, j0, i0, i1);
		break;
	}
	case PANELS_PACK:
		tk_cpu_xwt_pack_panel(buffer, (const float *)p->b + c.k0, p->n, p->k, c.kc, j0);
		panel_rows(p, tile, c, buffer, NR, NULL, j0, i0, i1);
		break;
	case PANELS_TRANSPOSED:
		tk_cpu_xwt_expand_transposed(buffer, p->form, p->b, p->n, p->k, j0, c.k0, c.kc);
		panel_rows(p, tile, c, buffer, NR, NULL, j0, i0, i1);
		break;
	}
}

/* Rows of x block by block for the AVX-512 tiles over quantized panels:
 * block i / MR holds x[i..i+MR) k-major, (kn, MR), zero past m, so that a
 * step's MR values are one line and one address register serves them all
 * (the registers the expanding takes). */
static void pack_x(float *xp, const struct xwt *p, size_t block)
{
	float *dst = xp + block * MR * p->kn;
	for (size_t r = 0; r < MR; r++) {
		size_t i = block * MR + r;
		const float *row = p->x + i * p->lda;
		for (size_t t = 0; t < p->kn; t++)
			dst[t * MR + r] = i < p->m ? row[t] : 0.0f;
	}
}

/* How a product's (panel, row range) items are cut: rows are split too
 * when there are fewer panels than threads. */
struct plan {
	size_t panels, row_parts, rows, items;
};

static struct plan plan_of(const struct xwt *p, size_t threads, int parallel)
{
	struct plan pl;
	size_t blocks = (p->m + MR - 1) / MR;
	pl.panels = (p->n + NR - 1) / NR;
	pl.row_parts = parallel && pl.panels < threads ? threads : 1;
	pl.rows = (blocks + pl.row_parts - 1) / pl.row_parts * MR;
	pl.row_parts = (p->m + pl.rows - 1) / pl.rows;
	pl.items = pl.panels * pl.row_parts;
	return pl;
}

/* Items first..end of p, k cut into chunks of at most KC, so that a
 * panel's chunk stays in the cache while every row block passes over it;
 * the chunks depend on k alone, never on m or the threads. */
static void run_items(const struct xwt *p, struct plan pl, tile_fn tile, size_t first,
		      size_t end, float *buffer)
{
	size_t chunk = p->kn < KC ? p->kn : KC, kend = p->kb + p->kn;
	for (size_t k0 = p->kb; k0 < kend || k0 == p->kb; k0 += chunk) {
		struct chunk c = {k0, kend - k0 < chunk ? kend - k0 : chunk,
				  k0 > p->kb || p->accumulate};
		for (size_t t = first; t < end; t++) {
			size_t i0 = t % pl.row_parts * pl.rows;
			size_t i1 = i0 + pl.rows < p->m ? i0 + pl.rows : p->m;
			size_t panel = t / pl.row_parts;
			int last = t + 1 >= end || panel + 1 >= pl.panels || pl.row_parts > 1;
			run_panel(p, tile, c, panel, last, i0, i1, buffer);
		}
		if (p->kn == 0)
			break;
	}
}

/* The next run of items [*first, *end) of total, taken from the shared
 * counter *next: runs shrink as the items run out (half a thread's share
 * of what is left), so a thread that starts late (woken from sleep) or
 * runs slow takes fewer, and each run is contiguous, for the tiles'
 * fetching of the next panel.  0 when none are left. */
static int take_items(size_t *next, size_t total, size_t team, size_t *first, size_t *end)
{
	size_t at = __atomic_load_n(next, __ATOMIC_RELAXED);
	for (;;) {
		if (at >= total)
			return 0;
		size_t run = (total - at) / (2 * team);
		run = run ? run : 1;
		if (__atomic_compare_exchange_n(next, &at, at + run, 0, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED)) {
			*first = at, *end = at + run;
			return 1;
		}
	}
}

/* Runs products ps[0..count) (packed panels, or one product of any kind)
 * in one parallel region: their items in order, shared out in runs. */
static int xwt_run_many(tk_backend *be, tile_fn tile, struct xwt *ps, size_t count)
{
	size_t threads = (size_t)be->threads, work = 0, total = 0;
	for (size_t i = 0; i < count; i++)
		work += ps[i].m * ps[i].n * ps[i].kn;
	int parallel = work >= TK_CPU_PARALLEL_MIN && threads > 1;
	struct plan pl[TK_CPU_XWT_MANY] = {{0}};
	for (size_t i = 0; i < count; i++) {
		pl[i] = plan_of(&ps[i], threads, parallel);
		total += pl[i].items;
	}
	size_t buffer_floats = 0;
	float *buffers = NULL;
	for (size_t i = 0; i < count; i++)
		if (ps[i].source != PANELS_PACKED || ps[i].form != TK_PACK_F32) {
			// a chunk of panel rows, or a quantized panel's chains
			size_t steps = ps[i].kn < KC ? ps[i].kn : KC;
			size_t rows = (ps[i].m + MR - 1) / MR * MR;
			size_t floats = (steps > rows ? steps : rows) * NR;
			buffer_floats = floats > buffer_floats ? floats : buffer_floats;
		}
	/* one slice of the workspace per thread, in whole cache lines: the
	 * panels are stored a line at a time (NR floats are three lines) */
	tk_workspace_mark mark = tk_workspace_mark_now(be);
	if (buffer_floats) {
		buffers = tk_workspace_slices(be, threads, buffer_floats * sizeof *buffers);
		if (!buffers)
			return tk_backend_fail(be, TK_KERNEL_ENOMEM,
					       "out of memory for a %zu x %zu product's panels",
					       ps[0].m, ps[0].n);
	}
	/* the products share x (one x, or the one product's); each thread
	 * packs its own copy, which costs less than waiting for the others */
	float *xps = NULL;
	size_t x_blocks = (ps[0].m + MR - 1) / MR, x_floats = x_blocks * MR * ps[0].kn;
	int compact = 0;
	for (size_t i = 0; i < count; i++)
		compact |= ps[i].source == PANELS_PACKED && ps[i].form != TK_PACK_F32 &&
			   ps[i].form != TK_PACK_BF16;
	if (tile == tile_avx512 && compact) {
		xps = tk_workspace_slices(be, threads, x_floats * sizeof *xps);
		if (!xps) {
			tk_workspace_release(be, mark);
			return tk_backend_fail(be, TK_KERNEL_ENOMEM,
					       "out of memory for a %zu x %zu product's rows",
					       ps[0].m, ps[0].kn);
		}
	}
	size_t buffer_stride = tk_workspace_slice_bytes(buffer_floats * sizeof(float)) / sizeof(float);
	size_t x_stride = tk_workspace_slice_bytes(x_floats * sizeof(float)) / sizeof(float);
	size_t next = 0;
#pragma omp parallel num_threads(be->threads) if (parallel)
	{
		size_t team = (size_t)omp_get_num_threads(), me = (size_t)omp_get_thread_num();
		struct xwt mine[TK_CPU_XWT_MANY];
		memcpy(mine, ps, count * sizeof *ps);
		if (xps) {
			float *xp = xps + me * x_stride;
			for (size_t b = 0; b < x_blocks; b++)
				pack_x(xp, &ps[0], b);
			for (size_t i = 0; i < count; i++)
				mine[i].xp = xp;
		}
		float *buffer = buffers ? buffers + me * buffer_stride : NULL;
		size_t first, end;
		while (take_items(&next, total, team, &first, &end))
			for (size_t i = 0, at = 0; i < count; at += pl[i].items, i++) {
				size_t lo = first > at ? first - at : 0;
				size_t hi = end <= at ? 0
					    : end - at < pl[i].items ? end - at
								     : pl[i].items;
				if (lo < hi)
					run_items(&mine[i], pl[i], tile, lo, hi, buffer);
			}
	}
	tk_workspace_release(be, mark);
	return TK_KERNEL_OK;
}

static int xwt_run(tk_backend *be, tile_fn tile, struct xwt *p)
{
	return xwt_run_many(be, tile, p, 1);
}

int tk_cpu_xwt_packed_many(tk_backend *be, const float *x, size_t m, size_t k,
			   const struct tk_cpu_xwt_job *jobs, size_t count)
{
	struct xwt ps[TK_CPU_XWT_MANY] = {{0}};
	if (count > TK_CPU_XWT_MANY)
		return tk_backend_fail(be, TK_KERNEL_EUSAGE, "%zu products at once, more than %d", count,
			       TK_CPU_XWT_MANY);
	for (size_t i = 0; i < count; i++)
		ps[i] = (struct xwt){jobs[i].y, jobs[i].n, x, k, jobs[i].packed, PANELS_PACKED,
				     jobs[i].form, m, jobs[i].n, k, 0, k, 0, NULL};
	return m && count ? xwt_run_many(be, pick_tile(), ps, count) : TK_KERNEL_OK;
}

int tk_cpu_xwt_packed(tk_backend *be, float *y, size_t ldy, const float *x,
		      const float *packed, size_t m, size_t n, size_t k, int accumulate)
{
	struct xwt p = {y, ldy, x, k, packed, PANELS_PACKED, TK_PACK_F32, m, n, k, 0, k,
			accumulate, NULL};
	return m && n ? xwt_run(be, pick_tile(), &p) : TK_KERNEL_OK;
}

int tk_cpu_xwt_packed_form(tk_backend *be, float *y, size_t ldy, const float *x,
			   const void *packed, int form, size_t m, size_t n, size_t k,
			   int accumulate)
{
	struct xwt p = {y, ldy, x, k, packed, PANELS_PACKED, form, m, n, k, 0, k, accumulate,
			NULL};
	return m && n ? xwt_run(be, pick_tile(), &p) : TK_KERNEL_OK;
}

int tk_cpu_xwt_transposed(tk_backend *be, float *y, size_t ldy, const float *x,
			  const void *packed, int form, size_t m, size_t n, size_t k,
			  int accumulate)
{
	struct xwt p = {y, ldy, x, k, packed, PANELS_TRANSPOSED, form, m, n, k, 0, k, accumulate,
			NULL};
	return m && n ? xwt_run(be, pick_tile(), &p) : TK_KERNEL_OK;
}

int tk_cpu_xwt(tk_backend *be, float *y, size_t ldy, const float *x, const float *w,
	       size_t m, size_t n, size_t k, int accumulate)
{
	struct xwt p = {y, ldy, x, k, w, PANELS_PACK, TK_PACK_F32, m, n, k, 0, k, accumulate,
			NULL};
	return m && n ? xwt_run(be, pick_tile(), &p) : TK_KERNEL_OK;
}

int tk_cpu_xwt_packed_part(tk_backend *be, float *y, size_t ldy, const float *x,
			   size_t lda, const float *packed, size_t m, size_t n, size_t k,
			   size_t kb, size_t kn, int accumulate)
{
	struct xwt p = {y, ldy, x, lda, packed, PANELS_PACKED, TK_PACK_F32, m, n, k, kb, kn,
			accumulate, NULL};
	return m && n ? xwt_run(be, pick_tile(), &p) : TK_KERNEL_OK;
}

int tk_cpu_xwt_isa(tk_backend *be, const char *isa, float *y, size_t ldy,
		   const float *x, const float *w, size_t m, size_t n, size_t k,
		   int accumulate)
{
	tile_fn tile = tk_cpu_xwt_tile_c;
	__builtin_cpu_init();
	if (strcmp(isa, "avx512") == 0) {
		if (!__builtin_cpu_supports("avx512f"))
			return -1;
		tile = tile_avx512;
	} else if (strcmp(isa, "avx2") == 0) {
		if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
			return -1;
		tile = tk_cpu_xwt_tile_avx2;
	} else if (strcmp(isa, "c") != 0) {
		return -1;
	}
	struct xwt p = {y, ldy, x, k, w, PANELS_PACK, TK_PACK_F32, m, n, k, 0, k, accumulate,
			NULL};
	return m && n ? xwt_run(be, tile, &p) : TK_KERNEL_OK;
}
