/* Compact forms of a packed W for the batch-invariant product (xwt.c).
 *
 * A decode step multiplies a few rows by every weight of the model, so it
 * reads more weight bytes than it does multiply-adds per byte: the weights'
 * size sets its pace.  Many models' weights take few distinct values (a
 * GGUF file's Q4_0, Q4_1, Q5_0 and Q8_0 blocks, a checkpoint's bf16), and float32 holds
 * them with room to spare.  A form stores a panel in fewer bytes and the
 * product expands each panel's chunk into float32 in a thread's buffer
 * before its tiles run over it, as it does when it packs an unpacked W.
 *
 * A form is taken only when it gives back every value of W exactly, bit for
 * bit, checked here value by value: the product then computes the same
 * chains over the same floats, and its bits do not depend on the form.
 * The forms' block parameters are fitted to W's floats, not read from the
 * file W came from, so that any source (a GGUF file whose q and k rows were
 * permuted on loading, a checkpoint written from one) gets them.
 *
 * Layouts, per panel of NR columns (zero past n), k-major as the f32 form:
 *   BF16: k rows of NR bf16 values.
 *   Q8:   per 32 k: d[NR] (f16), then q[32][NR] (int8); w = d·q.
 *   Q4:   per 32 k: d[NR], m[NR] (f16), then 16 rows of NR bytes, the low
 *         nibble for k row t and the high one for t + 16; w = d·q + m, the
 *         product rounded before the sum (as ggml's Q4_1 and Q8_0 are
 *         expanded, lib/io/gguf_dequant.c).
 *   Q4S:  per 32 k: d[NR] (f16), then 16 rows of NR bytes as Q4's holding
 *         q + 8; w = d·q, q in -8..7 (a Q4_0 block; its d of either sign).
 *   Q4K, Q8K: the k-quants' forms, with float32 parameters (xwt_forms_k.c). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include "cpu.h"

#include "half.h"

#include <immintrin.h>
#include <stdatomic.h>

#include "xwt_expand.h"
#include "xwt_forms_k.h"

#define NR TK_XWT_PANEL

/* ---- sizes and values -------------------------------------------------- */

size_t tk_cpu_xwt_form_panel_bytes(int form, size_t k)
{
	switch (form) {
	case TK_PACK_BF16: return k * NR * 2;
	case TK_PACK_Q8: case TK_PACK_Q4: case TK_PACK_Q4S: case TK_PACK_Q4K: case TK_PACK_Q8K:
		return k / QK * block_bytes(form);
	default: return k * NR * sizeof(float);
	}
}

static float q4_value(float d, float m, int q)
{
	float scaled = d * (float)q; // rounded before the sum, never fused
	return scaled + m;
}

static float q8_value(float d, int q)
{
	return d * (float)q;
}

static uint32_t bits(float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return u;
}

static int same(float a, float b)
{
	return bits(a) == bits(b);
}

/* ---- fitting a block's parameters ------------------------------------- */

/* The q, among round(v) and its neighbours, whose value is v. */
static int q4_level(float v, float d, float m, int *q)
{
	float e = (v - m) / d;
	if (!(e > -2.0f && e < 17.0f))
		return 0;
	int r = (int)(e + 2.5f) - 2; // floor(e + 0.5): inline, unlike lrintf
	for (int c = r - 1; c <= r + 1; c++)
		if (c >= 0 && c <= 15 && same(q4_value(d, m, c), v))
			return *q = c, 1;
	return 0;
}

static int q8_level(float v, float d, int *q)
{
	float e = v / d;
	if (!(e > -130.0f && e < 129.0f))
		return 0;
	int r = (int)(e + 130.5f) - 130; // floor(e + 0.5)
	for (int c = r - 1; c <= r + 1; c++)
		if (c >= -128 && c <= 127 && same(q8_value(d, c), v))
			return *q = c, 1;
	return 0;
}

/* f16 scales near `estimate`: its rounding and two steps either side. */
static int scale_candidates(float estimate, uint16_t out[5])
{
	uint16_t h = tk_float_to_half(estimate);
	if (!(estimate > 0) || (h & 0x7c00) == 0x7c00)
		return 0;
	int count = 0;
	for (int step = -2; step <= 2; step++) {
		int c = (int)h + step;
		if (c > 0 && c < 0x7c00)
			out[count++] = (uint16_t)c;
	}
	return count;
}

/* d, m (f16) and q for v[0..QK) (stride apart) as a Q4 block, or 0. */
static int fit_q4(const float *v, size_t stride, uint16_t *dh, uint16_t *mh, uint8_t q[QK])
{
	float lo = v[0], hi = v[0];
	for (int t = 1; t < QK; t++) {
		float x = v[t * stride];
		lo = x < lo ? x : lo;
		hi = x > hi ? x : hi;
	}
	*mh = tk_float_to_half(lo);
	float m = tk_half_to_float(*mh);
	if (!isfinite(hi - lo) || !same(m, lo))
		return 0;
	uint16_t cand[5] = {0};
	for (int top = 15; top >= 1; top--) {
		int count = hi > lo ? scale_candidates((hi - lo) / (float)top, cand) : 1;
		for (int c = 0; c < count; c++) {
			float d = tk_half_to_float(cand[c]);
			int ok = 1, level = 0;
			for (int t = 0; t < QK && ok; t++) {
				ok = hi > lo ? q4_level(v[t * stride], d, m, &level)
					     : same(q4_value(d, m, 0), v[t * stride]);
				q[t] = (uint8_t)level;
			}
			if (ok)
				return *dh = cand[c], 1;
		}
		if (hi == lo)
			break;
	}
	return 0;
}

/* d (f16) near ±top / qmax (sign: 0x8000 for a negative d), and q, for
 * v[0..QK) as a Q8 block, or 0. */
static int fit_q8_top(const float *v, size_t stride, float top, int qmax, uint16_t sign,
		      uint16_t *dh, int8_t q[QK])
{
	uint16_t cand[5];
	int count = scale_candidates(top / (float)qmax, cand);
	for (int c = 0; c < count; c++) {
		cand[c] |= sign;
		float d = tk_half_to_float(cand[c]);
		int ok = 1, level = 0;
		for (int t = 0; t < QK && ok; t++) {
			ok = q8_level(v[t * stride], d, &level);
			q[t] = (int8_t)level;
		}
		if (ok)
			return *dh = cand[c], 1;
	}
	return 0;
}

/* d (f16) and q for v[0..QK) (stride apart) as a Q8 block, or 0. */
static int fit_q8(const float *v, size_t stride, uint16_t *dh, int8_t q[QK])
{
	float top = 0.0f;
	uint16_t sign = 0;
	for (int t = 0; t < QK; t++) {
		float x = v[t * stride];
		top = fabsf(x) > top ? fabsf(x) : top;
		/* -0 is d·0 for a negative d (a Q4_0 or Q5_0 block's d often is) */
		sign = x == 0.0f && signbit(x) ? 0x8000 : sign;
	}
	if (!isfinite(top))
		return 0;
	if (top == 0.0f) { // d = 0: +0 from q = 0, -0 from q = -1
		for (int t = 0; t < QK; t++)
			q[t] = signbit(v[t * stride]) ? -1 : 0;
		return *dh = 0, 1;
	}
	/* the largest |q|: near 127 in a Q8_0 block, 16 or 15 in a Q5_0 block
	 * (d·(q - 16), q - 16 in -16..15), 8 or 7 in a Q4_0 block */
	static const struct { int hi, lo; } tops[] = {{127, 100}, {16, 15}, {8, 7}};
	for (size_t r = 0; r < sizeof tops / sizeof *tops; r++)
		for (int qmax = tops[r].hi; qmax >= tops[r].lo; qmax--)
			if (fit_q8_top(v, stride, top, qmax, sign, dh, q))
				return 1;
	return 0;
}

/* d (f16, either sign) and q in -8..7 for v[0..QK) (stride apart) as a
 * Q4S block (a GGUF Q4_0 block: d·(q - 8)), or 0. */
static int fit_q4s(const float *v, size_t stride, uint16_t *dh, int8_t q[QK])
{
	float top = 0.0f;
	for (int t = 0; t < QK; t++)
		top = fabsf(v[t * stride]) > top ? fabsf(v[t * stride]) : top;
	if (!isfinite(top))
		return 0;
	if (top == 0.0f) { // d = 0: +0 from q = 0, -0 from q = -1
		for (int t = 0; t < QK; t++)
			q[t] = signbit(v[t * stride]) ? -1 : 0;
		return *dh = 0, 1;
	}
	uint16_t cand[5];
	for (int qmax = 8; qmax >= 7; qmax--)
		for (int count = scale_candidates(top / (float)qmax, cand), c = 0; c < 2 * count; c++) {
			uint16_t h = (uint16_t)(cand[c / 2] | (c % 2 ? 0x8000u : 0u));
			float d = tk_half_to_float(h);
			int ok = 1, level = 0;
			for (int t = 0; t < QK && ok; t++) {
				ok = q8_level(v[t * stride], d, &level) && level >= -8 && level <= 7;
				q[t] = (int8_t)level;
			}
			if (ok)
				return *dh = h, 1;
		}
	return 0;
}

static int fits_bf16(float v)
{
	return (bits(v) & 0xffffu) == 0;
}

/* Whether the k-quant form holds QK values from v. */
static int fits_k(int form, const float *v)
{
	float d, m;
	int8_t q[QK];
	if (form == TK_PACK_Q4K)
		return tk_xwt_k_fit(v, 1, QK, 0, 15, &d, &m, q);
	return tk_xwt_k_fit(v, 1, QK / 2, -128, 127, &d, &m, q) &&
	       tk_xwt_k_fit(v + QK / 2, 1, QK / 2, -128, 127, &d, &m, q);
}

/* Whether row j of w (n, k) is held exactly by `form`. */
static int row_fits(int form, const float *row, size_t k)
{
	uint16_t dh, mh;
	uint8_t q4[QK];
	int8_t q8[QK];
	for (size_t t = 0; t < k; t += form == TK_PACK_BF16 ? 1 : QK) {
		int ok = form == TK_PACK_BF16 ? fits_bf16(row[t])
			 : form == TK_PACK_Q4K || form == TK_PACK_Q8K ? fits_k(form, row + t)
			 : form == TK_PACK_Q8 ? fit_q8(row + t, 1, &dh, q8)
			 : form == TK_PACK_Q4S ? fit_q4s(row + t, 1, &dh, q8)
					      : fit_q4(row + t, 1, &dh, &mh, q4);
		if (!ok)
			return 0;
	}
	return 1;
}

static int matrix_fits(tk_backend *be, int form, const float *w, size_t n, size_t k)
{
	if (form != TK_PACK_BF16 && k % QK)
		return 0;
	atomic_int misfit = 0;
#pragma omp parallel for schedule(dynamic, 16) num_threads(be->threads) if (n * k >= TK_CPU_PARALLEL_MIN)
	for (size_t j = 0; j < n; j++)
		if (!atomic_load_explicit(&misfit, memory_order_relaxed) && !row_fits(form, w + j * k, k))
			atomic_store_explicit(&misfit, 1, memory_order_relaxed);
	return !misfit;
}

int tk_cpu_xwt_form_of(tk_backend *be, const float *w, size_t n, size_t k)
{
	static const int smallest_first[] = {TK_PACK_Q4S, TK_PACK_Q4, TK_PACK_Q4K, TK_PACK_Q8,
					     TK_PACK_Q8K, TK_PACK_BF16};
	for (size_t i = 0; i < sizeof smallest_first / sizeof *smallest_first; i++)
		if (n && k && matrix_fits(be, smallest_first[i], w, n, k))
			return smallest_first[i];
	return TK_PACK_F32;
}

/* ---- packing ----------------------------------------------------------- */

/* The pack_block functions return 0 when some value of the block has no
 * exact form (its place is then zero). */
static int pack_block_q4(unsigned char *dst, const float *w, size_t k, size_t cols)
{
	uint16_t *d = (uint16_t *)dst, *m = d + NR;
	unsigned char *qs = dst + NR * 4;
	int ok = 1;
	memset(dst, 0, block_bytes(TK_PACK_Q4));
	for (size_t c = 0; c < cols; c++) {
		uint8_t q[QK];
		if (!fit_q4(w + c * k, 1, &d[c], &m[c], q)) {
			ok = 0, d[c] = m[c] = 0;
			continue;
		}
		for (int t = 0; t < QK / 2; t++)
			qs[t * NR + c] = (unsigned char)(q[t] | q[t + QK / 2] << 4);
	}
	return ok;
}

static int pack_block_q8(unsigned char *dst, const float *w, size_t k, size_t cols)
{
	uint16_t *d = (uint16_t *)dst;
	int8_t *qs = (int8_t *)(dst + NR * 2);
	int ok = 1;
	memset(dst, 0, block_bytes(TK_PACK_Q8));
	for (size_t c = 0; c < cols; c++) {
		int8_t q[QK];
		if (!fit_q8(w + c * k, 1, &d[c], q)) {
			ok = 0, d[c] = 0;
			continue;
		}
		for (int t = 0; t < QK; t++)
			qs[t * NR + c] = q[t];
	}
	return ok;
}

static int pack_block_q4s(unsigned char *dst, const float *w, size_t k, size_t cols)
{
	uint16_t *d = (uint16_t *)dst;
	unsigned char *qs = dst + NR * 2;
	int ok = 1;
	memset(dst, 0, NR * 2);
	memset(qs, 0x88, QK / 2 * NR); // q = 0: +0 past n, where d is 0
	for (size_t c = 0; c < cols; c++) {
		int8_t q[QK];
		if (!fit_q4s(w + c * k, 1, &d[c], q)) {
			ok = 0, d[c] = 0;
			continue;
		}
		for (int t = 0; t < QK / 2; t++)
			qs[t * NR + c] = (unsigned char)((q[t] + 8) | (q[t + QK / 2] + 8) << 4);
	}
	return ok;
}

/* Panel p of w (n, k) in `form`; 0 when a value does not fit it. */
static int pack_panel_form(unsigned char *dst, int form, const float *w, size_t n, size_t k,
			   size_t p)
{
	size_t j0 = p * NR, cols = n - j0 < NR ? n - j0 : NR;
	const float *first = w + j0 * k;
	int ok = 1;
	if (form == TK_PACK_BF16) {
		uint16_t *out = (uint16_t *)dst;
		for (size_t t = 0; t < k; t++)
			for (size_t c = 0; c < NR; c++) {
				float v = c < cols ? first[c * k + t] : 0.0f;
				ok &= fits_bf16(v);
				out[t * NR + c] = (uint16_t)(bits(v) >> 16);
			}
		return ok;
	}
	for (size_t b = 0; b < k / QK; b++) {
		unsigned char *block = dst + b * block_bytes(form);
		ok &= form == TK_PACK_Q4K || form == TK_PACK_Q8K
			      ? tk_xwt_k_pack_block(block, form, first + b * QK, k, cols)
		      : form == TK_PACK_Q8  ? pack_block_q8(block, first + b * QK, k, cols)
		      : form == TK_PACK_Q4S ? pack_block_q4s(block, first + b * QK, k, cols)
					    : pack_block_q4(block, first + b * QK, k, cols);
	}
	return ok;
}

int tk_cpu_xwt_pack_form(tk_backend *be, void *packed, int form, const float *w, size_t n,
			 size_t k)
{
	if (form == TK_PACK_F32) {
		tk_cpu_xwt_pack(be, packed, w, n, k);
		return 1;
	}
	if (form != TK_PACK_BF16 && k % QK)
		return 0;
	size_t panels = (n + NR - 1) / NR, bytes = tk_cpu_xwt_form_panel_bytes(form, k);
	int misfit = 0;
#pragma omp parallel for schedule(static) num_threads(be->threads) reduction(| : misfit) if (n * k >= TK_CPU_PARALLEL_MIN)
	for (size_t p = 0; p < panels; p++)
		misfit |= !pack_panel_form((unsigned char *)packed + p * bytes, form, w, n, k, p);
	return !misfit;
}

/* ---- expanding --------------------------------------------------------- */

/* Element (t, c) of a panel in `form`. */
static float value_at(int form, const unsigned char *panel, size_t t, size_t c)
{
	if (form == TK_PACK_BF16)
		return tk_bfloat_to_float(((const uint16_t *)panel)[t * NR + c]);
	const unsigned char *block = panel + t / QK * block_bytes(form);
	const uint16_t *d = (const uint16_t *)block;
	size_t r = t % QK;
	if (form == TK_PACK_Q4K || form == TK_PACK_Q8K)
		return tk_xwt_k_value_at(form, block, r, c);
	if (form == TK_PACK_Q8) {
		const int8_t *qs = (const int8_t *)(block + NR * 2);
		return q8_value(tk_half_to_float(d[c]), qs[r * NR + c]);
	}
	if (form == TK_PACK_Q4S) {
		unsigned char byte = block[NR * 2 + r % (QK / 2) * NR + c];
		return q8_value(tk_half_to_float(d[c]), (r < QK / 2 ? byte & 0x0f : byte >> 4) - 8);
	}
	unsigned char byte = block[NR * 4 + r % (QK / 2) * NR + c];
	int q = r < QK / 2 ? byte & 0x0f : byte >> 4;
	return q4_value(tk_half_to_float(d[c]), tk_half_to_float(d[NR + c]), q);
}

static void expand_c(float *dst, int form, const unsigned char *panel, size_t t0, size_t kc)
{
	for (size_t t = t0; t < t0 + kc; t++)
		for (size_t c = 0; c < NR; c++)
			dst[(t - t0) * NR + c] = value_at(form, panel, t, c);
}

__attribute__((target("avx512f"))) static void
expand_bf16_avx512(float *dst, const unsigned char *panel, size_t t0, size_t kc)
{
	const uint16_t *src = (const uint16_t *)panel + t0 * NR;
	for (size_t i = 0; i < kc * NR; i += 16) {
		__m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
		_mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
	}
}

/* Blocks t0 / QK .. (t0 + kc) / QK: the product's chunks start and end on
 * block boundaries. */
__attribute__((target("avx512f"))) static void
expand_blocks_avx512(float *dst, int form, const unsigned char *panel, size_t t0, size_t kc)
{
	for (size_t b = t0 / QK; b < (t0 + kc) / QK; b++)
		xwt_expand_block_avx512(dst + (b * QK - t0) * NR, form, panel, b);
}

static int has_avx512(void)
{
	static int known = -1;
	if (known < 0) {
		__builtin_cpu_init();
		known = __builtin_cpu_supports("avx512f") ? 1 : 0;
	}
	return known;
}

void tk_cpu_xwt_expand(float *dst, int form, const void *panel, size_t t0, size_t kc,
		       int portable)
{
	const unsigned char *p = panel;
	if (portable || !has_avx512()) {
		expand_c(dst, form, p, t0, kc);
	} else if (form == TK_PACK_BF16) {
		expand_bf16_avx512(dst, p, t0, kc);
	} else {
		expand_blocks_avx512(dst, form, p, t0, kc);
	}
}

void tk_cpu_xwt_form_row(float *dst, int form, const void *packed, size_t k, size_t j)
{
	if (form == TK_PACK_F32) {
		tk_cpu_xwt_packed_row(dst, packed, k, j);
		return;
	}
	if (form == TK_PACK_BF16_DOT) {
		tk_cpu_bf16_row(dst, packed, k, j);
		return;
	}
	const unsigned char *panel =
		(const unsigned char *)packed + j / NR * tk_cpu_xwt_form_panel_bytes(form, k);
	for (size_t t = 0; t < k; t++)
		dst[t] = value_at(form, panel, t, j % NR);
}
