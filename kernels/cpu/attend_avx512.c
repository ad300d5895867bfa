/* The attention of one kv group over a run of keys (attention.c's attend)
 * in AVX-512 for head dimensions 64 and 128, the common ones: sixteen
 * scores at a time, each a chain of multiply-adds over the head's vectors
 * and then one fixed tree over the sixteen lanes (done for sixteen keys at
 * once by a transposing reduction), and p·v with the accumulators of
 * several heads in registers, each value row read once for them all.
 * The same online softmax over the same fixed key blocks as the portable
 * code, so a token's bits still depend only on its own keys. */
#include "cpu.h"

#include <immintrin.h>

#define KEY_BLOCK 64 // as attention.c
#define MAX_GROUP 16

/* lanes of the reduction's result, in the order the tree leaves them: the
 * partial sums of key j go in slot SLOT[j] so that lane j ends with its
 * score */
static const int SLOT[16] = {0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15};

/* r[j] = Σ lanes of v[SLOT[j]]: each lane sum as the tree (l, l+8), then
 * (l, l+4), (l, l+2), (l, l+1), sixteen at once. */
__attribute__((target("avx512f"))) static inline __m512 reduce16(__m512 v[16])
{
	__m512 t[8], u[4], w[2];
#pragma GCC unroll 8
	for (int i = 0; i < 8; i++)
		t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[i], v[i + 8], 0x44),
				     _mm512_shuffle_f32x4(v[i], v[i + 8], 0xEE));
#pragma GCC unroll 4
	for (int i = 0; i < 4; i++)
		u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[i], t[i + 4], 0x88),
				     _mm512_shuffle_f32x4(t[i], t[i + 4], 0xDD));
#pragma GCC unroll 2
	for (int i = 0; i < 2; i++)
		w[i] = _mm512_add_ps(_mm512_shuffle_ps(u[i], u[i + 2], _MM_SHUFFLE(1, 0, 1, 0)),
				     _mm512_shuffle_ps(u[i], u[i + 2], _MM_SHUFFLE(3, 2, 3, 2)));
	return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
			     _mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* s (nb) = e^(s − new_max) in place, nb <= KEY_BLOCK, new_max the larger
 * of running_max and the block's; *total = Σ s afterwards, in a fixed
 * order. */
__attribute__((target("avx512f"))) static inline void
softmax_block(float *s, size_t nb, float running_max, float *new_max, float *total)
{
	__m512 m = _mm512_set1_ps(-INFINITY);
	for (size_t j = 0; j < nb; j += 16) {
		size_t left = nb - j;
		__mmask16 k = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
		m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, s + j));
	}
	float bm = _mm512_reduce_max_ps(m);
	float m_new = bm > running_max ? bm : running_max;
	tk_cpu_exp_shifted(s, s, nb, m_new);
	__m512 sum = _mm512_setzero_ps();
	for (size_t j = 0; j < nb; j += 16) {
		size_t left = nb - j;
		__mmask16 k = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
		sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(k, s + j));
	}
	*new_max = m_new;
	*total = _mm512_reduce_add_ps(sum);
}

/* s (nb) = scale · q·k_j for the block's keys. */
__attribute__((target("avx512f"), always_inline)) static inline void
scores(const size_t dv, float *s, const float *q, const float *k, size_t ld,
       size_t nb, float scale)
{
	__m512 qv[8];
#pragma GCC unroll 8
	for (size_t c = 0; c < dv; c++)
		qv[c] = _mm512_loadu_ps(q + 16 * c);
	for (size_t j0 = 0; j0 < nb; j0 += 16) {
		__m512 part[16];
#pragma GCC unroll 16
		for (int j = 0; j < 16; j++) {
			__m512 t = _mm512_setzero_ps();
			if (j0 + (size_t)j < nb) {
				const float *kj = k + (j0 + (size_t)j) * ld;
				t = _mm512_mul_ps(qv[0], _mm512_loadu_ps(kj));
#pragma GCC unroll 8
				for (size_t c = 1; c < dv; c++)
					t = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(kj + 16 * c), t);
			}
			part[SLOT[j]] = t;
		}
		__m512 r = _mm512_mul_ps(reduce16(part), _mm512_set1_ps(scale));
		size_t left = nb - j0;
		__mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
		_mm512_mask_storeu_ps(s + j0, m, r);
	}
}

/* acc_h = acc_h · corr_h + Σ_j p_h[j] · v_j for HP heads at once. */
__attribute__((target("avx512f"), always_inline)) static inline void
values(const size_t dv, const size_t hp, float *acc, size_t acc_ld, const float *p,
       size_t p_ld, const float *corr, const float *v, size_t ld, size_t nb)
{
	__m512 a[16];
#pragma GCC unroll 16
	for (size_t i = 0; i < hp * dv; i++)
		a[i] = _mm512_mul_ps(_mm512_loadu_ps(acc + i / dv * acc_ld + i % dv * 16),
				     _mm512_set1_ps(corr[i / dv]));
	for (size_t j = 0; j < nb; j++) {
		const float *vj = v + j * ld;
		__m512 vv[8];
#pragma GCC unroll 8
		for (size_t c = 0; c < dv; c++)
			vv[c] = _mm512_loadu_ps(vj + 16 * c);
#pragma GCC unroll 16
		for (size_t i = 0; i < hp * dv; i++)
			a[i] = _mm512_fmadd_ps(_mm512_set1_ps(p[i / dv * p_ld + j]), vv[i % dv], a[i]);
	}
#pragma GCC unroll 16
	for (size_t i = 0; i < hp * dv; i++)
		_mm512_storeu_ps(acc + i / dv * acc_ld + i % dv * 16, a[i]);
}

__attribute__((target("avx512f"), always_inline)) static inline void
attend_body(const size_t dv, float *out, float *lse, const float *q, const float *k,
	    const float *v, size_t ld, size_t n_keys, size_t group, float scale)
{
	const size_t d = 16 * dv, hp = 16 / dv; // heads whose accumulators fit
	float acc[MAX_GROUP * 128] __attribute__((aligned(64)));
	float s[MAX_GROUP][KEY_BLOCK], max[MAX_GROUP], sum[MAX_GROUP], corr[MAX_GROUP];
	for (size_t h = 0; h < group; h++) {
		max[h] = -INFINITY, sum[h] = 0.0f;
		for (size_t c = 0; c < d; c++)
			acc[h * d + c] = 0.0f;
	}
	for (size_t b0 = 0; b0 < n_keys; b0 += KEY_BLOCK) {
		size_t nb = n_keys - b0 < KEY_BLOCK ? n_keys - b0 : KEY_BLOCK;
		for (size_t h = 0; h < group; h++) {
			scores(dv, s[h], q + h * d, k + b0 * ld, ld, nb, scale);
			float m_new, block_sum;
			softmax_block(s[h], nb, max[h], &m_new, &block_sum);
			corr[h] = tk_cpu_expf(max[h] - m_new); // 0 on the first block
			sum[h] = sum[h] * corr[h] + block_sum;
			max[h] = m_new;
		}
		size_t h = 0;
		for (; h + hp <= group; h += hp)
			values(dv, hp, acc + h * d, d, s[h], KEY_BLOCK, corr + h, v + b0 * ld, ld, nb);
		for (; h < group; h++)
			values(dv, 1, acc + h * d, d, s[h], KEY_BLOCK, corr + h, v + b0 * ld, ld, nb);
	}
	for (size_t h = 0; h < group; h++) {
		for (size_t c = 0; c < d; c++)
			out[h * d + c] = acc[h * d + c] / sum[h];
		if (lse)
			lse[h] = max[h] + logf(sum[h]);
	}
}

__attribute__((target("avx512f"))) static void
attend64(float *out, float *lse, const float *q, const float *k, const float *v,
	 size_t ld, size_t n_keys, size_t group, float scale)
{
	attend_body(4, out, lse, q, k, v, ld, n_keys, group, scale);
}

__attribute__((target("avx512f"))) static void
attend128(float *out, float *lse, const float *q, const float *k, const float *v,
	  size_t ld, size_t n_keys, size_t group, float scale)
{
	attend_body(8, out, lse, q, k, v, ld, n_keys, group, scale);
}

int tk_cpu_attend_avx512(float *out, float *lse, const float *q, const float *k,
			 const float *v, size_t ld, size_t n_keys, size_t d,
			 size_t group, float scale)
{
	if (!__builtin_cpu_supports("avx512f") || group > MAX_GROUP || (d != 64 && d != 128))
		return 0;
	if (d == 64)
		attend64(out, lse, q, k, v, ld, n_keys, group, scale);
	else
		attend128(out, lse, q, k, v, ld, n_keys, group, scale);
	return 1;
}
