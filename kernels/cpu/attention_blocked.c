/* Packed causal attention through sgemm, for training: each (record,
 * query head) runs over blocks of ATTN_BLOCK queries, with the block's
 * scores against all the keys it may see made by one product, so the work
 * goes at BLAS speed instead of one dot product at a time.  The forward
 * here serves a backend that is not batch invariant (attention.c keeps the
 * per-query code whose bits a KV cache reproduces); the backward always
 * comes here (its products on AMX tiles in bf16 under form
 * TK_PACK_BF16_DOT: attention_amx.c).  Work items are (record, query
 * head); each head writes its
 * own slice of dk and dv, summed over the group in a fixed order at the
 * end, so no two threads write one row and the bits do not depend on the
 * thread count.  With a sliding window a block's product covers only the
 * keys its queries see, from the first query's first key on. */
#include "cpu.h"

#include <cblas.h>
#include <math.h>

/* Queries per block: the scores of a block are (ATTN_BLOCK, record length). */
#define ATTN_BLOCK 64

/* Where one work item's rows live.  Rows of q, dq, out, dout for head h are
 * h·d into each (heads·d)-wide token row; k, v, dk, dv rows of kv head g
 * likewise in (kv_heads·d)-wide rows. */
struct head_view {
	const float *q, *k, *v;   // q (len, ldq) from its head; k, v (len, ldk)
	size_t len, d, ldq, ldk;
	float scale;
	size_t window;            // 0: every earlier key
};

/* The first key query i sees (keys and queries numbered in its record). */
static size_t first_key(size_t i, size_t window)
{
	return window && i + 1 > window ? i + 1 - window : 0;
}

static void gemm(int ta, int tb, size_t m, size_t n, size_t k, float alpha,
		 const float *a, size_t lda, const float *b, size_t ldb,
		 float beta, float *c, size_t ldc)
{
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
		    tb ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n,
		    (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c,
		    (blasint)ldc);
}

/* The largest record, for the score buffers. */
static size_t longest(const int32_t *cu, size_t n_records)
{
	size_t most = 0;
	for (size_t r = 0; r < n_records; r++)
		if ((size_t)(cu[r + 1] - cu[r]) > most)
			most = (size_t)(cu[r + 1] - cu[r]);
	return most;
}

/* The keys of a block's score row r that its query sees: [*from, *to) of
 * the block's nk keys, which start at key lo. */
static void seen_keys(const struct head_view *hv, size_t i0, size_t lo, size_t r,
		      size_t *from, size_t *to)
{
	*from = first_key(i0 + r, hv->window) - lo;
	*to = i0 + r + 1 - lo;
}

static void zero_outside(float *row, size_t from, size_t to, size_t nk)
{
	for (size_t j = 0; j < from; j++)
		row[j] = 0.0f;
	for (size_t j = to; j < nk; j++)
		row[j] = 0.0f;
}

/* p (bq, nk) = exp(s − lse) for the keys each query sees, 0 elsewhere; s
 * holds scale·q·kᵀ over keys lo..lo+nk-1. */
static void probabilities(float *p, const float *s, const float *lse, size_t lse_stride,
			  const struct head_view *hv, size_t i0, size_t lo, size_t bq, size_t nk)
{
	for (size_t r = 0; r < bq; r++) {
		size_t from, to;
		seen_keys(hv, i0, lo, r, &from, &to);
		tk_cpu_exp_shifted(p + r * nk + from, s + r * nk + from, to - from,
				   lse[(i0 + r) * lse_stride]);
		zero_outside(p + r * nk, from, to, nk);
	}
}

/* s (bq, nk) becomes the softmax over the keys each query sees; lse gets
 * each row's log-sum-exp. */
static void softmax_rows(float *s, float *lse, size_t lse_stride, const struct head_view *hv,
			 size_t i0, size_t lo, size_t bq, size_t nk)
{
	for (size_t r = 0; r < bq; r++) {
		size_t from, to;
		seen_keys(hv, i0, lo, r, &from, &to);
		float *sr = s + r * nk + from, m = -INFINITY, sum = 0.0f;
		size_t seen = to - from;
		for (size_t j = 0; j < seen; j++)
			m = sr[j] > m ? sr[j] : m;
		tk_cpu_exp_shifted(sr, sr, seen, m);
		for (size_t j = 0; j < seen; j++)
			sum += sr[j];
		float inv = 1.0f / sum;
		for (size_t j = 0; j < seen; j++)
			sr[j] *= inv;
		zero_outside(s + r * nk, from, to, nk);
		if (lse)
			lse[(i0 + r) * lse_stride] = m + logf(sum);
	}
}

/* One (record, head): out (len, ldq) and lse (len, stride heads). */
static void head_forward(float *out, float *lse, size_t lse_stride,
			 const struct head_view *hv, float *s)
{
	for (size_t i0 = 0; i0 < hv->len; i0 += ATTN_BLOCK) {
		size_t bq = hv->len - i0 < ATTN_BLOCK ? hv->len - i0 : ATTN_BLOCK;
		size_t lo = first_key(i0, hv->window), nk = i0 + bq - lo; // the block's keys
		// s (bq, nk) = scale · q[i0:] · k[lo:lo+nk]ᵀ
		gemm(0, 1, bq, nk, hv->d, hv->scale, hv->q + i0 * hv->ldq, hv->ldq,
		     hv->k + lo * hv->ldk, hv->ldk, 0.0f, s, nk);
		softmax_rows(s, lse, lse_stride, hv, i0, lo, bq, nk);
		// out[i0:] (bq, d) = p (bq, nk) · v[lo:lo+nk] (nk, d)
		gemm(0, 0, bq, hv->d, nk, 1.0f, s, nk, hv->v + lo * hv->ldk, hv->ldk, 0.0f,
		     out + i0 * hv->ldq, hv->ldq);
	}
}

static struct head_view view_of(const float *q, const float *k, const float *v,
				const int32_t *cu, size_t item, size_t heads,
				size_t kv_heads, size_t d, float scale, size_t window)
{
	size_t r = item / heads, h = item % heads, g = h / (heads / kv_heads);
	size_t start = (size_t)cu[r];
	struct head_view hv = {
		.q = q + start * heads * d + h * d,
		.k = k + start * kv_heads * d + g * d,
		.v = v + start * kv_heads * d + g * d,
		.len = (size_t)(cu[r + 1] - cu[r]), .d = d,
		.ldq = heads * d, .ldk = kv_heads * d, .scale = scale, .window = window,
	};
	return hv;
}

int tk_cpu_attention_packed_forward_blocked(tk_backend *be, float *out, float *lse,
					    const float *q, const float *k, const float *v,
					    const int32_t *cu, size_t n_records,
					    size_t heads, size_t kv_heads, size_t d, float scale,
					    size_t window)
{
	// out, q (n, heads, d)   lse (n, heads)   k, v (n, kv_heads, d)
	size_t block_keys = longest(cu, n_records), items = n_records * heads;
	size_t scores = ATTN_BLOCK * (block_keys ? block_keys : 1) * sizeof(float); // (bq, nk)
	tk_workspace_mark mark = tk_workspace_mark_now(be);
	unsigned char *slices = tk_workspace_slices(be, (size_t)be->threads, scores);
	if (!slices)
		return tk_backend_fail(be, TK_KERNEL_ENOMEM, "out of memory for attention scores");
#pragma omp parallel num_threads(be->threads)
	{
		float *s = (float *)(slices + (size_t)omp_get_thread_num() *
					      tk_workspace_slice_bytes(scores));
#pragma omp for schedule(dynamic)
		for (size_t item = 0; item < items; item++) {
			struct head_view hv = view_of(q, k, v, cu, item, heads, kv_heads, d, scale,
						      window);
			size_t r = item / heads, h = item % heads, start = (size_t)cu[r];
			head_forward(out + start * heads * d + h * d,
				     lse ? lse + start * heads + h : NULL, heads, &hv, s);
		}
	}
	tk_workspace_release(be, mark);
	return TK_KERNEL_OK;
}

/* Scratch of one thread for the backward: (ATTN_BLOCK, longest) each. */
struct grad_scratch {
	float *p, *dp;
};

/* One (record, head): dq assigned; dk_h, dv_h (len, ldq) assigned, this
 * head's share of its group's dk, dv.  delta (len, stride heads). */
static void head_backward(float *dq, float *dk_h, float *dv_h,
			  const float *dout, const float *lse,
			  const float *delta, size_t stride,
			  const struct head_view *hv, struct grad_scratch *w)
{
	size_t d = hv->d, ld = hv->ldq;
	for (size_t j = 0; j < hv->len; j++)
		for (size_t c = 0; c < d; c++)
			dk_h[j * ld + c] = dv_h[j * ld + c] = 0.0f;
	for (size_t i0 = 0; i0 < hv->len; i0 += ATTN_BLOCK) {
		size_t bq = hv->len - i0 < ATTN_BLOCK ? hv->len - i0 : ATTN_BLOCK;
		size_t lo = first_key(i0, hv->window), nk = i0 + bq - lo;
		const float *qb = hv->q + i0 * ld, *gb = dout + i0 * ld;
		const float *kb = hv->k + lo * hv->ldk, *vb = hv->v + lo * hv->ldk;
		// p = exp(scale · q kᵀ − lse), causal (and windowed)
		gemm(0, 1, bq, nk, d, hv->scale, qb, ld, kb, hv->ldk, 0.0f, w->p, nk);
		probabilities(w->p, w->p, lse, stride, hv, i0, lo, bq, nk);
		// dp (bq, nk) = dout · vᵀ;  ds = p · (dp − δ), kept in dp
		gemm(0, 1, bq, nk, d, 1.0f, gb, ld, vb, hv->ldk, 0.0f, w->dp, nk);
		for (size_t r = 0; r < bq; r++) {
			float dl = delta[(i0 + r) * stride];
			float *pr = w->p + r * nk, *dr = w->dp + r * nk;
#pragma omp simd
			for (size_t j = 0; j < nk; j++)
				dr[j] = pr[j] * (dr[j] - dl);
		}
		// dq[i0:] = scale · ds · k;  dk_h += scale · dsᵀ · q;  dv_h += pᵀ · dout
		gemm(0, 0, bq, d, nk, hv->scale, w->dp, nk, kb, hv->ldk, 0.0f, dq + i0 * ld, ld);
		gemm(1, 0, nk, d, bq, hv->scale, w->dp, nk, qb, ld, 1.0f, dk_h + lo * ld, ld);
		gemm(1, 0, nk, d, bq, 1.0f, w->p, nk, gb, ld, 1.0f, dv_h + lo * ld, ld);
	}
}

/* dk[j][g] = Σ over the group's heads h of dk_h[j][h], in head order. */
static void sum_groups(tk_backend *be, float *dk, const float *dk_heads,
		       size_t n, size_t heads, size_t kv_heads, size_t d)
{
	size_t group = heads / kv_heads;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (n * heads * d >= TK_CPU_PARALLEL_MIN)
	for (size_t j = 0; j < n; j++)
		for (size_t g = 0; g < kv_heads; g++) {
			float *out = dk + (j * kv_heads + g) * d;
			const float *in = dk_heads + (j * heads + g * group) * d;
			for (size_t c = 0; c < d; c++) {
				float s = 0.0f;
				for (size_t h = 0; h < group; h++)
					s += in[h * d + c];
				out[c] = s;
			}
		}
}

static void deltas(tk_backend *be, float *delta, const float *dout,
		   const float *out, size_t rows, size_t d)
{
#pragma omp parallel for schedule(static) num_threads(be->threads) if (rows * d >= TK_CPU_PARALLEL_MIN)
	for (size_t t = 0; t < rows; t++) {
		float s = 0.0f;
		for (size_t c = 0; c < d; c++)
			s += dout[t * d + c] * out[t * d + c];
		delta[t] = s;
	}
}

/* A thread's scratch for one item: p and dp (ATTN_BLOCK, longest) for
 * the sgemm code, or the AMX code's. */
static size_t item_scratch(size_t block_keys, size_t d, int amx)
{
	if (amx)
		return tk_cpu_attention_amx_scratch(block_keys, d);
	return 2 * ATTN_BLOCK * (block_keys ? block_keys : 1) * sizeof(float);
}

/* One work item on this thread's scratch. */
static void item_backward(const struct tk_cpu_head_grad *g, int amx, void *scratch)
{
	if (amx) {
		tk_cpu_attention_head_backward_amx(g, scratch);
		return;
	}
	size_t len = ATTN_BLOCK * (g->len ? g->len : 1);
	struct grad_scratch w = {scratch, (float *)scratch + len};
	struct head_view hv = {g->q, g->k, g->v, g->len, g->d, g->ldq, g->ldk, g->scale, g->window};
	head_backward(g->dq, g->dk, g->dv, g->dout, g->lse, g->delta, g->stride, &hv, &w);
}

int tk_cpu_attention_packed_backward(tk_backend *be, float *dq, float *dk,
				     float *dv, const float *dout, const float *q,
				     const float *k, const float *v,
				     const float *out, const float *lse,
				     const int32_t *cu_seqlens, size_t n_records,
				     size_t n, size_t heads, size_t kv_heads,
				     size_t d, float scale, size_t window, int form)
{
	// dq, dout, q, out (n, heads, d)   dk, dv, k, v (n, kv_heads, d)   lse (n, heads)
	size_t cells = n * heads, block_keys = longest(cu_seqlens, n_records);
	int amx = form == TK_PACK_BF16_DOT && tk_cpu_amx_ready();
	size_t bytes = item_scratch(block_keys, d, amx);
	tk_workspace_mark mark = tk_workspace_mark_now(be);
	float *delta = tk_workspace_take(be, cells * sizeof *delta);            // (n, heads)
	float *dk_heads = tk_workspace_take(be, cells * d * sizeof *dk_heads);  // (n, heads, d)
	float *dv_heads = tk_workspace_take(be, cells * d * sizeof *dv_heads);  // (n, heads, d)
	unsigned char *slices = tk_workspace_slices(be, (size_t)be->threads, bytes);
	if (!delta || !dk_heads || !dv_heads || !slices) {
		tk_workspace_release(be, mark);
		return tk_backend_fail(be, TK_KERNEL_ENOMEM, "out of memory for the attention backward");
	}
	deltas(be, delta, dout, out, n * heads, d);
	size_t items = n_records * heads;
#pragma omp parallel num_threads(be->threads)
	{
		void *mine = slices + (size_t)omp_get_thread_num() * tk_workspace_slice_bytes(bytes);
		if (amx)
			tk_cpu_amx_begin();
#pragma omp for schedule(dynamic)
		for (size_t item = 0; item < items; item++) {
			struct head_view hv = view_of(q, k, v, cu_seqlens, item, heads, kv_heads, d,
						      scale, window);
			size_t r = item / heads, h = item % heads;
			size_t at = (size_t)cu_seqlens[r] * heads + h; // (token, head) of the record's start
			struct tk_cpu_head_grad g = {
				hv.q, hv.k, hv.v, dout + at * d, lse + at, delta + at,
				dq + at * d, dk_heads + at * d, dv_heads + at * d,
				hv.len, d, hv.ldq, hv.ldk, heads, window, scale,
			};
			item_backward(&g, amx, mine);
		}
		if (amx)
			tk_cpu_amx_end();
	}
	sum_groups(be, dk, dk_heads, n, heads, kv_heads, d);
	sum_groups(be, dv, dv_heads, n, heads, kv_heads, d);
	tk_workspace_release(be, mark);
	return TK_KERNEL_OK;
}
