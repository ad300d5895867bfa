/* Causal grouped-query attention, batch invariant.  One routine computes
 * one query head against a run of key rows (online softmax over fixed
 * blocks of keys, as flash attention does), and both the KV-cache and the
 * packed-batch forward call it, so a token's output is the same bits either
 * way and never depends on what else is in the batch.  A backend that is
 * not batch invariant runs the packed forward through sgemm instead
 * (attention_blocked.c, which also has the backward). */
#include "cpu.h"

#include "tk_error.h"

#include <math.h>
#include <stdlib.h>

/* Keys per online-softmax block: the scores live on the stack.  Fixed, so
 * the arithmetic of a query depends only on its own keys. */
#define KEY_BLOCK 64
/* Largest head dimension: the output accumulator lives on the stack. */
#define MAX_HEAD_DIM 1024

static float dot(const float *a, const float *b, size_t d)
{
	float s = 0.0f;
#pragma omp simd reduction(+ : s)
	for (size_t j = 0; j < d; j++)
		s += a[j] * b[j];
	return s;
}

/* out = softmax(scale · q·kᵀ) · v over n_keys rows of k and v (row stride
 * ld), and lse = the log of the softmax's denominator.
 *   out, q (d)   k, v (n_keys, ld) */
static void attend(float *out, float *lse, const float *q, const float *k,
		   const float *v, size_t ld, size_t n_keys, size_t d,
		   float scale)
{
	float acc[MAX_HEAD_DIM] = {0};
	float s[KEY_BLOCK]; // scores, then probabilities
	float m = -INFINITY, l = 0.0f;
	for (size_t b0 = 0; b0 < n_keys; b0 += KEY_BLOCK) {
		size_t nb = n_keys - b0 < KEY_BLOCK ? n_keys - b0 : KEY_BLOCK;
		float bm = -INFINITY;
		for (size_t j = 0; j < nb; j++) {
			s[j] = scale * dot(q, k + (b0 + j) * ld, d);
			bm = s[j] > bm ? s[j] : bm;
		}
		float m_new = bm > m ? bm : m;
		float correction = tk_cpu_expf(m - m_new); // 0 on the first block
		l *= correction;
		for (size_t c = 0; c < d; c++)
			acc[c] *= correction;
#pragma omp simd
		for (size_t j = 0; j < nb; j++)
			s[j] = tk_cpu_expf(s[j] - m_new);
		for (size_t j = 0; j < nb; j++) {
			const float *vj = v + (b0 + j) * ld;
			l += s[j];
			for (size_t c = 0; c < d; c++)
				acc[c] += s[j] * vj[c];
		}
		m = m_new;
	}
	for (size_t c = 0; c < d; c++)
		out[c] = acc[c] / l;
	if (lse)
		*lse = m + logf(l);
}

void tk_attention_cached_forward(tk_backend *be, float *out, const float *q,
				 const float *k_cache, const float *v_cache,
				 const int32_t *kv_row, const int32_t *pos,
				 size_t n, size_t heads, size_t kv_heads,
				 size_t d, float scale)
{
	// out, q (n, heads, d)   k_cache, v_cache (rows, kv_heads, d)   kv_row, pos (n)
	size_t group = heads / kv_heads, ld = kv_heads * d;
	size_t work = n * heads;
#pragma omp parallel for schedule(dynamic, 4) num_threads(be->threads) if (work > 1)
	for (size_t t = 0; t < work; t++) {
		size_t i = t / heads, h = t % heads;
		size_t first = (size_t)kv_row[i] * ld + (h / group) * d;
		attend(out + t * d, NULL, q + t * d, k_cache + first,
		       v_cache + first, ld, (size_t)pos[i] + 1, d, scale);
	}
}

/* The record holding token i: the r with cu[r] <= i < cu[r + 1]. */
static size_t record_of(const int32_t *cu, size_t n_records, size_t i)
{
	size_t lo = 0, hi = n_records;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if ((size_t)cu[mid] <= i)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int tk_attention_packed_forward(tk_backend *be, float *out, float *lse,
				const float *q, const float *k, const float *v,
				const int32_t *cu_seqlens, size_t n_records,
				size_t n, size_t heads, size_t kv_heads,
				size_t d, float scale)
{
	// out, q (n, heads, d)   lse (n, heads)   k, v (n, kv_heads, d)
	if (!be->batch_invariant)
		return tk_cpu_attention_packed_forward_blocked(be, out, lse, q, k, v, cu_seqlens,
							       n_records, heads, kv_heads, d, scale);
	size_t group = heads / kv_heads, ld = kv_heads * d;
	size_t work = n * heads;
#pragma omp parallel for schedule(dynamic, 4) num_threads(be->threads) if (work > 1)
	for (size_t t = 0; t < work; t++) {
		size_t i = t / heads, h = t % heads;
		size_t start = (size_t)cu_seqlens[record_of(cu_seqlens, n_records, i)];
		size_t first = start * ld + (h / group) * d;
		attend(out + t * d, lse ? lse + t : NULL, q + t * d, k + first,
		       v + first, ld, i - start + 1, d, scale);
	}
	return TK_OK;
}
