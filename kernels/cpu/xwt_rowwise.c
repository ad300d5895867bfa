/* The batch-invariant product y = x·Wᵀ: every element y[i][j] is one dot
 * product of row i of x and row j of W, accumulated by the same
 * instructions whatever the batch: eight lanes over k (k mod 8) in k order,
 * the last partial group through a masked load, then the lanes summed in a
 * fixed tree.  Blocking (3 rows x 4 columns in registers, columns in
 * cache-sized panels) and threading only decide which elements are
 * computed together, never how one is computed, so a row's bits do not
 * depend on the other rows or on the thread count.  One row costs a
 * matrix-vector product's time (decode at batch 1), many rows run near
 * AVX2's peak.
 *
 * AVX2 + FMA when the CPU has them, else portable C with the same
 * structure (different bits from the AVX2 path, the same on every call). */
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
	block_fn three, one; // MR rows, and a single leftover row
};

static struct blocks pick_blocks(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return (struct blocks){block3_avx2, block1_avx2};
	return (struct blocks){block_c, block_c};
}

static void panel(const struct xwt *p, struct blocks b, size_t j0, size_t j1,
		  size_t i0, size_t i1)
{
	for (size_t i = i0; i < i1; i += MR) {
		size_t mr = i1 - i < MR ? i1 - i : MR;
		for (size_t j = j0; j < j1; j += NR) {
			size_t nr = j1 - j < NR ? j1 - j : NR;
			if (mr == MR) {
				b.three(p, i, j, mr, nr);
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
	cols = cols < NR ? NR : cols / NR * NR;
	size_t panels = (n + cols - 1) / cols;
	/* Rows are split too when there are fewer panels than threads. */
	size_t row_parts = panels >= (size_t)be->threads ? 1 : (size_t)be->threads;
	size_t rows = (m + row_parts - 1) / row_parts;
	rows = (rows + MR - 1) / MR * MR;
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

void tk_cpu_xwt_rowwise_portable(tk_backend *be, float *y, size_t ldy,
				 const float *x, const float *w, size_t m,
				 size_t n, size_t k, float beta)
{
	xwt_run(be, (struct blocks){block_c, block_c}, y, ldy, x, w, m, n, k, beta);
}
