/* The batch-invariant product y = x·Wᵀ: every element y[i][j] is one dot
 * product of row i of x and row j of W, accumulated by the same
 * instructions whatever the batch: L lanes over k (k mod L) in k order, the
 * last partial group through a masked load, then the lanes summed in a
 * fixed tree.  Blocking (a few rows by a few columns in registers, columns
 * in cache-sized panels) and threading only decide which elements are
 * computed together, never how one is computed, so a row's bits do not
 * depend on the other rows or on the thread count.  One row costs about a
 * matrix-vector product (decode at batch 1); on a 2-core AVX-512 VM, 64
 * rows ran at 0.8x and 256 rows at 0.6x of OpenBLAS's sgemm.
 *
 * AVX-512 (L = 16, 4 x 6 blocks) or AVX2 + FMA (L = 8, 3 x 4 blocks) when
 * the CPU has them, else portable C (L = 8): different bits from one CPU
 * kind to another, the same on every call of one. */
#include "cpu.h"

#include <immintrin.h>

/* Columns of W per panel: a panel of PANEL_BYTES stays in L2 while every
 * row of x passes over it. */
#define PANEL_BYTES (192 * 1024)
#define MR 3 // rows of x per register block
#define NR 4 // rows of W (columns of y) per register block

struct xwt {
	float *y;
	const float *x, *w;
	size_t m, n, k, ldy;
	float beta;
};

/* ---- AVX2 + FMA -------------------------------------------------------- */

__attribute__((target("avx2,fma")))
static inline float hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
	return _mm_cvtss_f32(s);
}

/* The mask of the last, partial group of 8: lanes below k % 8. */
__attribute__((target("avx2,fma")))
static inline __m256i tail_mask(size_t k)
{
	static const int32_t ramp[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
	return _mm256_loadu_si256((const __m256i *)(ramp + 8 - k % 8));
}

static inline void store(const struct xwt *p, size_t i, size_t j, float dot)
{
	float *out = p->y + i * p->ldy + j;
	*out = p->beta != 0.0f ? *out + dot : dot;
}

/* Columns j..j+3 of rows i..i+2 (rows and columns past mr, nr are computed
 * on repeated inputs and not stored).  Twelve accumulators in registers;
 * every element goes through the same FMA chain and lane sum. */
__attribute__((target("avx2,fma")))
static void block3_avx2(const struct xwt *p, size_t i, size_t j, size_t mr, size_t nr)
{
	size_t k = p->k, k8 = k / 8 * 8;
	const float *x0 = p->x + i * k;
	const float *x1 = mr > 1 ? x0 + k : x0, *x2 = mr > 2 ? x0 + 2 * k : x0;
	const float *w0 = p->w + j * k;
	const float *w1 = nr > 1 ? w0 + k : w0, *w2 = nr > 2 ? w0 + 2 * k : w0;
	const float *w3 = nr > 3 ? w0 + 3 * k : w0;
	__m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
	__m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
	__m256 a20 = a00, a21 = a00, a22 = a00, a23 = a00;
#define TK_XWT_STEP(LOAD)                                                       \
	do {                                                                    \
		__m256 v0 = LOAD(x0), v1 = LOAD(x1), v2 = LOAD(x2), u;          \
		u = LOAD(w0);                                                   \
		a00 = _mm256_fmadd_ps(v0, u, a00), a10 = _mm256_fmadd_ps(v1, u, a10), a20 = _mm256_fmadd_ps(v2, u, a20); \
		u = LOAD(w1);                                                   \
		a01 = _mm256_fmadd_ps(v0, u, a01), a11 = _mm256_fmadd_ps(v1, u, a11), a21 = _mm256_fmadd_ps(v2, u, a21); \
		u = LOAD(w2);                                                   \
		a02 = _mm256_fmadd_ps(v0, u, a02), a12 = _mm256_fmadd_ps(v1, u, a12), a22 = _mm256_fmadd_ps(v2, u, a22); \
		u = LOAD(w3);                                                   \
		a03 = _mm256_fmadd_ps(v0, u, a03), a13 = _mm256_fmadd_ps(v1, u, a13), a23 = _mm256_fmadd_ps(v2, u, a23); \
	} while (0)
#define TK_XWT_FULL(ptr) _mm256_loadu_ps((ptr) + t)
#define TK_XWT_PART(ptr) _mm256_maskload_ps((ptr) + k8, mask)
	for (size_t t = 0; t < k8; t += 8)
		TK_XWT_STEP(TK_XWT_FULL);
	if (k8 < k) {
		__m256i mask = tail_mask(k);
		TK_XWT_STEP(TK_XWT_PART);
	}
	__m256 acc[3][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23}};
	for (size_t r = 0; r < mr; r++)
		for (size_t c = 0; c < nr; c++)
			store(p, i + r, j + c, hsum8(acc[r][c]));
}

/* One row, columns j..j+3: the same per-element arithmetic as above. */
__attribute__((target("avx2,fma")))
static void block1_avx2(const struct xwt *p, size_t i, size_t j, size_t mr, size_t nr)
{
	(void)mr;
	size_t k = p->k, k8 = k / 8 * 8;
	const float *x0 = p->x + i * k;
	const float *w0 = p->w + j * k;
	const float *w1 = nr > 1 ? w0 + k : w0, *w2 = nr > 2 ? w0 + 2 * k : w0;
	const float *w3 = nr > 3 ? w0 + 3 * k : w0;
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#define TK_XWT_STEP1(LOAD)                                              \
	do {                                                            \
		__m256 v = LOAD(x0);                                    \
		a0 = _mm256_fmadd_ps(v, LOAD(w0), a0);                  \
		a1 = _mm256_fmadd_ps(v, LOAD(w1), a1);                  \
		a2 = _mm256_fmadd_ps(v, LOAD(w2), a2);                  \
		a3 = _mm256_fmadd_ps(v, LOAD(w3), a3);                  \
	} while (0)
	for (size_t t = 0; t < k8; t += 8)
		TK_XWT_STEP1(TK_XWT_FULL);
	if (k8 < k) {
		__m256i mask = tail_mask(k);
		TK_XWT_STEP1(TK_XWT_PART);
	}
	__m256 acc[4] = {a0, a1, a2, a3};
	for (size_t c = 0; c < nr; c++)
		store(p, i, j + c, hsum8(acc[c]));
}

/* ---- AVX-512: the same with sixteen lanes ----------------------------- */

__attribute__((target("avx512f")))
static inline __mmask16 tail_mask16(size_t k)
{
	return (__mmask16)((1u << (k % 16)) - 1u);
}

__attribute__((target("avx512f")))
static inline float hsum16(__m512 v)
{
	__m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
				 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
	return _mm_cvtss_f32(s);
}

/* Four rows by six columns: 24 of the 32 registers accumulate, so each
 * loaded vector feeds more multiply-adds than in the AVX2 block. */
__attribute__((target("avx512f")))
static void block4_avx512(const struct xwt *p, size_t i, size_t j, size_t mr, size_t nr)
{
	size_t k = p->k, k16 = k / 16 * 16;
	const float *xr[4], *wc[6];
	for (size_t r = 0; r < 4; r++)
		xr[r] = p->x + (i + (r < mr ? r : 0)) * k;
	for (size_t c = 0; c < 6; c++)
		wc[c] = p->w + (j + (c < nr ? c : 0)) * k;
	const float *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3];
	const float *w0 = wc[0], *w1 = wc[1], *w2 = wc[2], *w3 = wc[3], *w4 = wc[4], *w5 = wc[5];
	__m512 z = _mm512_setzero_ps();
	__m512 a00 = z, a01 = z, a02 = z, a03 = z, a04 = z, a05 = z;
	__m512 a10 = z, a11 = z, a12 = z, a13 = z, a14 = z, a15 = z;
	__m512 a20 = z, a21 = z, a22 = z, a23 = z, a24 = z, a25 = z;
	__m512 a30 = z, a31 = z, a32 = z, a33 = z, a34 = z, a35 = z;
#define TK_XWT_COL16(c, LOAD)                                                   \
	do {                                                                    \
		__m512 u = LOAD(w##c);                                          \
		a0##c = _mm512_fmadd_ps(v0, u, a0##c);                          \
		a1##c = _mm512_fmadd_ps(v1, u, a1##c);                          \
		a2##c = _mm512_fmadd_ps(v2, u, a2##c);                          \
		a3##c = _mm512_fmadd_ps(v3, u, a3##c);                          \
	} while (0)
#define TK_XWT_STEP16(LOAD)                                                     \
	do {                                                                    \
		__m512 v0 = LOAD(x0), v1 = LOAD(x1), v2 = LOAD(x2), v3 = LOAD(x3); \
		TK_XWT_COL16(0, LOAD);                                          \
		TK_XWT_COL16(1, LOAD);                                          \
		TK_XWT_COL16(2, LOAD);                                          \
		TK_XWT_COL16(3, LOAD);                                          \
		TK_XWT_COL16(4, LOAD);                                          \
		TK_XWT_COL16(5, LOAD);                                          \
	} while (0)
#define TK_XWT_FULL16(ptr) _mm512_loadu_ps((ptr) + t)
#define TK_XWT_PART16(ptr) _mm512_maskz_loadu_ps(mask, (ptr) + k16)
	for (size_t t = 0; t < k16; t += 16)
		TK_XWT_STEP16(TK_XWT_FULL16);
	if (k16 < k) {
		__mmask16 mask = tail_mask16(k);
		TK_XWT_STEP16(TK_XWT_PART16);
	}
	__m512 acc[4][6] = {{a00, a01, a02, a03, a04, a05}, {a10, a11, a12, a13, a14, a15},
			    {a20, a21, a22, a23, a24, a25}, {a30, a31, a32, a33, a34, a35}};
	for (size_t r = 0; r < mr; r++)
		for (size_t c = 0; c < nr; c++)
			store(p, i + r, j + c, hsum16(acc[r][c]));
}

/* One row, six columns: the same per-element arithmetic. */
__attribute__((target("avx512f")))
static void block1_avx512(const struct xwt *p, size_t i, size_t j, size_t mr, size_t nr)
{
	(void)mr;
	size_t k = p->k, k16 = k / 16 * 16;
	const float *x0 = p->x + i * k, *wc[6];
	for (size_t c = 0; c < 6; c++)
		wc[c] = p->w + (j + (c < nr ? c : 0)) * k;
	const float *w0 = wc[0], *w1 = wc[1], *w2 = wc[2], *w3 = wc[3], *w4 = wc[4], *w5 = wc[5];
	__m512 z = _mm512_setzero_ps(), a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z;
#define TK_XWT_STEP16_1(LOAD)                                                   \
	do {                                                                    \
		__m512 v = LOAD(x0);                                            \
		a0 = _mm512_fmadd_ps(v, LOAD(w0), a0);                          \
		a1 = _mm512_fmadd_ps(v, LOAD(w1), a1);                          \
		a2 = _mm512_fmadd_ps(v, LOAD(w2), a2);                          \
		a3 = _mm512_fmadd_ps(v, LOAD(w3), a3);                          \
		a4 = _mm512_fmadd_ps(v, LOAD(w4), a4);                          \
		a5 = _mm512_fmadd_ps(v, LOAD(w5), a5);                          \
	} while (0)
	for (size_t t = 0; t < k16; t += 16)
		TK_XWT_STEP16_1(TK_XWT_FULL16);
	if (k16 < k) {
		__mmask16 mask = tail_mask16(k);
		TK_XWT_STEP16_1(TK_XWT_PART16);
	}
	__m512 acc[6] = {a0, a1, a2, a3, a4, a5};
	for (size_t c = 0; c < nr; c++)
		store(p, i, j + c, hsum16(acc[c]));
}

/* ---- portable C -------------------------------------------------------- */

static void block_c(const struct xwt *p, size_t i, size_t j, size_t mr, size_t nr)
{
	for (size_t r = 0; r < mr; r++)
		for (size_t c = 0; c < nr; c++) {
			const float *a = p->x + (i + r) * p->k, *b = p->w + (j + c) * p->k;
			float lane[8] = {0};
			for (size_t t = 0; t < p->k; t++)
				lane[t % 8] += a[t] * b[t];
			store(p, i + r, j + c, ((lane[0] + lane[4]) + (lane[2] + lane[6])) +
						       ((lane[1] + lane[5]) + (lane[3] + lane[7])));
		}
}

/* ---- blocking and threads ---------------------------------------------- */

typedef void (*block_fn)(const struct xwt *p, size_t i, size_t j, size_t mr, size_t nr);

struct blocks {
	block_fn many, one; // mr rows, and a single leftover row
	size_t mr, nr;      // the register block: rows of x, rows of w
};

static struct blocks pick_blocks(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return (struct blocks){block4_avx512, block1_avx512, 4, 6};
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return (struct blocks){block3_avx2, block1_avx2, MR, NR};
	return (struct blocks){block_c, block_c, MR, NR};
}

static void panel(const struct xwt *p, struct blocks b, size_t j0, size_t j1,
		  size_t i0, size_t i1)
{
	for (size_t i = i0; i < i1; i += b.mr) {
		size_t mr = i1 - i < b.mr ? i1 - i : b.mr;
		for (size_t j = j0; j < j1; j += b.nr) {
			size_t nr = j1 - j < b.nr ? j1 - j : b.nr;
			if (mr == b.mr) {
				b.many(p, i, j, mr, nr);
			} else {
				for (size_t r = 0; r < mr; r++)
					b.one(p, i + r, j, 1, nr);
			}
		}
	}
}

static void xwt_run(tk_backend *be, struct blocks block, float *y, size_t ldy,
		    const float *x, const float *w, size_t m, size_t n, size_t k,
		    float beta)
{
	// y (m, ldy)   x (m, k)   w (n, k)
	struct xwt p = {y, x, w, m, n, k, ldy, beta};
	size_t cols = PANEL_BYTES / ((k ? k : 1) * sizeof(float));
	cols = cols < block.nr ? block.nr : cols / block.nr * block.nr;
	size_t panels = (n + cols - 1) / cols;
	/* Rows are split too when there are fewer panels than threads. */
	size_t row_parts = panels >= (size_t)be->threads ? 1 : (size_t)be->threads;
	size_t rows = (m + row_parts - 1) / row_parts;
	rows = (rows + block.mr - 1) / block.mr * block.mr;
	row_parts = rows ? (m + rows - 1) / rows : 0;
	size_t items = panels * row_parts;
#pragma omp parallel for schedule(dynamic) num_threads(be->threads) if (items > 1 && m * n * k >= TK_CPU_PARALLEL_MIN)
	for (size_t t = 0; t < items; t++) {
		size_t j0 = t / row_parts * cols, i0 = t % row_parts * rows;
		size_t j1 = j0 + cols < n ? j0 + cols : n, i1 = i0 + rows < m ? i0 + rows : m;
		panel(&p, block, j0, j1, i0, i1);
	}
}

void tk_cpu_xwt_rowwise(tk_backend *be, float *y, size_t ldy, const float *x,
			const float *w, size_t m, size_t n, size_t k, float beta)
{
	xwt_run(be, pick_blocks(), y, ldy, x, w, m, n, k, beta);
}

int tk_cpu_xwt_rowwise_isa(tk_backend *be, const char *isa, float *y,
			   size_t ldy, const float *x, const float *w, size_t m,
			   size_t n, size_t k, float beta)
{
	struct blocks b = {block_c, block_c, MR, NR};
	__builtin_cpu_init();
	if (strcmp(isa, "avx512") == 0) {
		if (!__builtin_cpu_supports("avx512f"))
			return -1;
		b = (struct blocks){block4_avx512, block1_avx512, 4, 6};
	} else if (strcmp(isa, "avx2") == 0) {
		if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
			return -1;
		b = (struct blocks){block3_avx2, block1_avx2, MR, NR};
	} else if (strcmp(isa, "c") != 0) {
		return -1;
	}
	xwt_run(be, b, y, ldy, x, w, m, n, k, beta);
	return 0;
}
