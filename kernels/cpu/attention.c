/* Causal grouped-query attention, batch invariant.  One routine computes
 * the query heads of one kv group against a run of key rows (online softmax
 * over fixed blocks of keys, as flash attention does), and both the
 * KV-cache and the packed-batch forward call it, so a token's output is the
 * same bits either way and never depends on what else is in the batch.  A
 * backend that is not batch invariant runs the packed forward through sgemm
 * instead (attention_blocked.c, which also has the backward). */
#include "cpu.h"

#include <math.h>

/* Keys per online-softmax block.  Fixed, so the arithmetic of a query
 * depends only on its own keys. */
#define KEY_BLOCK 64
/* Largest head dimension and group (query heads per kv head): the key
 * block and the accumulators live on the stack. */
#define MAX_HEAD_DIM 256
#define MAX_GROUP 16

/* out_h = softmax(scale · q_h·kᵀ) · v for the `group` query heads that
 * share one kv head, over n_keys rows of k and v (row stride ld); lse_h =
 * the log of the softmax's denominator.  Online softmax over blocks of
 * KEY_BLOCK keys; each key row is read once for the whole group.  One
 * function, so that every loop in it gets the clone's vector width (the
 * bits differ between the clones, never between calls on one machine).
 *   out, q (group, d)   lse (group)   k, v (n_keys, ld) */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void attend(float *out, float *lse, const float *q, const float *k,
		   const float *v, size_t ld, size_t n_keys, size_t d,
		   size_t group, float scale)
{
	float acc[MAX_GROUP][MAX_HEAD_DIM]; // Σ p·v so far
	float s[MAX_GROUP][KEY_BLOCK];      // scores, then probabilities, of a block
	float max[MAX_GROUP], sum[MAX_GROUP];
	for (size_t h = 0; h < group; h++) {
		max[h] = -INFINITY, sum[h] = 0.0f;
		for (size_t c = 0; c < d; c++)
			acc[h][c] = 0.0f;
	}
	for (size_t b0 = 0; b0 < n_keys; b0 += KEY_BLOCK) {
		size_t nb = n_keys - b0 < KEY_BLOCK ? n_keys - b0 : KEY_BLOCK;
		for (size_t j = 0; j < nb; j++) {
			const float *kj = k + (b0 + j) * ld;
			for (size_t h = 0; h < group; h++) {
				const float *qh = q + h * d;
				float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
				for (size_t c = 0; c < d; c++)
					dot += qh[c] * kj[c];
				s[h][j] = scale * dot;
			}
		}
		for (size_t h = 0; h < group; h++) {
			float bm = -INFINITY;
			for (size_t j = 0; j < nb; j++)
				bm = s[h][j] > bm ? s[h][j] : bm;
			float m_new = bm > max[h] ? bm : max[h];
			float correction = tk_cpu_expf(max[h] - m_new); // 0 on the first block
			sum[h] *= correction;
#pragma omp simd
			for (size_t c = 0; c < d; c++)
				acc[h][c] *= correction;
			tk_cpu_exp_shifted(s[h], s[h], nb, m_new);
			for (size_t j = 0; j < nb; j++)
				sum[h] += s[h][j];
			max[h] = m_new;
		}
		for (size_t j = 0; j < nb; j++) {
			const float *vj = v + (b0 + j) * ld;
			for (size_t h = 0; h < group; h++) {
				float p = s[h][j];
#pragma omp simd
				for (size_t c = 0; c < d; c++)
					acc[h][c] += p * vj[c];
			}
		}
	}
	for (size_t h = 0; h < group; h++) {
		for (size_t c = 0; c < d; c++)
			out[h * d + c] = acc[h][c] / sum[h];
		if (lse)
			lse[h] = max[h] + logf(sum[h]);
	}
}

/* The first of the n_seen keys ending at a query that it attends to. */
static size_t first_seen(size_t n_seen, size_t window)
{
	return window && n_seen > window ? n_seen - window : 0;
}

/* attend, or its AVX-512 twin where it applies (attend_avx512.c). */
static void attend_group(float *out, float *lse, const float *q, const float *k,
			 const float *v, size_t ld, size_t n_keys, size_t d,
			 size_t group, float scale)
{
	if (!tk_cpu_attend_avx512(out, lse, q, k, v, ld, n_keys, d, group, scale))
		attend(out, lse, q, k, v, ld, n_keys, d, group, scale);
}

void tk_cpu_attention_cached_forward(tk_backend *be, float *out, const float *q,
				     const float *k_cache, const float *v_cache,
				     const int32_t *kv_row, const int32_t *pos,
				     size_t n, size_t heads, size_t kv_heads,
				     size_t d, float scale, size_t window)
{
	// out, q (n, heads, d)   k_cache, v_cache (rows, kv_heads, d)   kv_row, pos (n)
	size_t group = heads / kv_heads, ld = kv_heads * d;
	size_t work = n * kv_heads;
#pragma omp parallel for schedule(dynamic, 4) num_threads(be->threads) if (work > 1)
	for (size_t t = 0; t < work; t++) {
		size_t i = t / kv_heads, g = t % kv_heads, seen = (size_t)pos[i] + 1;
		size_t skip = first_seen(seen, window);
		size_t first = ((size_t)kv_row[i] + skip) * ld + g * d;
		size_t at = (i * heads + g * group) * d; // the group's first query head
		attend_group(out + at, NULL, q + at, k_cache + first, v_cache + first, ld,
			     seen - skip, d, group, scale);
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

int tk_cpu_attention_packed_forward(tk_backend *be, float *out, float *lse,
				    const float *q, const float *k, const float *v,
				    const int32_t *cu_seqlens, size_t n_records,
				    size_t n, size_t heads, size_t kv_heads,
				    size_t d, float scale, size_t window)
{
	// out, q (n, heads, d)   lse (n, heads)   k, v (n, kv_heads, d)
	if (!be->batch_invariant)
		return tk_cpu_attention_packed_forward_blocked(be, out, lse, q, k, v, cu_seqlens,
							       n_records, heads, kv_heads, d, scale,
							       window);
	size_t group = heads / kv_heads, ld = kv_heads * d;
	size_t work = n * kv_heads;
#pragma omp parallel for schedule(dynamic, 4) num_threads(be->threads) if (work > 1)
	for (size_t t = 0; t < work; t++) {
		size_t i = t / kv_heads, g = t % kv_heads;
		size_t start = (size_t)cu_seqlens[record_of(cu_seqlens, n_records, i)];
		size_t seen = i - start + 1, skip = first_seen(seen, window);
		size_t first = (start + skip) * ld + g * d;
		size_t at = i * heads + g * group; // the group's first (token, head)
		attend_group(out + at * d, lse ? lse + at : NULL, q + at * d, k + first,
			     v + first, ld, seen - skip, d, group, scale);
	}
	return TK_KERNEL_OK;
}
