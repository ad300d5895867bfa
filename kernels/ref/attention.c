/* Causal grouped-query attention from its definition: for each query, the
 * softmax of its scaled scores over the keys it sees, times the values.
 * Scores are made twice (once for their maximum, once for the sums) rather
 * than kept, and everything is summed in double. */
#include "ref.h"

/* The keys a query sees: the last `window` of the n_seen ending at it
 * (window 0: all).  Returns how many to skip. */
static size_t keys_skipped(size_t n_seen, size_t window)
{
	return window && n_seen > window ? n_seen - window : 0;
}

/* out (d) = softmax(scale · q·kᵀ) · v over n_keys rows of k and v (ld
 * floats apart); lse, when not NULL, the log of the softmax's sum. */
static void attend(float *out, float *lse, const float *q, const float *k, const float *v,
		   size_t ld, size_t n_keys, size_t d, double scale)
{
	double max = -INFINITY, sum = 0.0, acc[TK_REF_MAX_HEAD_DIM] = {0};
	for (size_t j = 0; j < n_keys; j++)
		max = fmax(max, scale * tk_ref_dot(q, k + j * ld, d));
	for (size_t j = 0; j < n_keys; j++) {
		double p = exp(scale * tk_ref_dot(q, k + j * ld, d) - max);
		sum += p;
		for (size_t c = 0; c < d; c++)
			acc[c] += p * v[j * ld + c];
	}
	for (size_t c = 0; c < d; c++)
		out[c] = (float)(acc[c] / sum);
	if (lse)
		*lse = (float)(max + log(sum));
}

void tk_ref_attention_cached_forward(tk_backend *be, float *out, const float *q,
				     const float *k_cache, const float *v_cache,
				     const int32_t *kv_row, const int32_t *pos, size_t n,
				     size_t heads, size_t kv_heads, size_t d, float scale,
				     size_t window)
{
	// out, q (n, heads, d)   k_cache, v_cache (rows, kv_heads, d)   kv_row, pos (n)
	(void)be;
	size_t group = heads / kv_heads, ld = kv_heads * d;
	for (size_t i = 0; i < n; i++)
		for (size_t h = 0; h < heads; h++) {
			size_t seen = (size_t)pos[i] + 1, skip = keys_skipped(seen, window);
			size_t first = ((size_t)kv_row[i] + skip) * ld + h / group * d;
			size_t at = (i * heads + h) * d;
			attend(out + at, NULL, q + at, k_cache + first, v_cache + first, ld,
			       seen - skip, d, scale);
		}
}

int tk_ref_attention_packed_forward(tk_backend *be, float *out, float *lse, const float *q,
				    const float *k, const float *v, const int32_t *cu_seqlens,
				    size_t n_records, size_t n, size_t heads, size_t kv_heads,
				    size_t d, float scale, size_t window)
{
	// out, q (n, heads, d)   lse (n, heads)   k, v (n, kv_heads, d)
	(void)be, (void)n;
	size_t group = heads / kv_heads, ld = kv_heads * d;
	for (size_t r = 0; r < n_records; r++) {
		size_t start = (size_t)cu_seqlens[r], end = (size_t)cu_seqlens[r + 1];
		for (size_t i = start; i < end; i++)
			for (size_t h = 0; h < heads; h++) {
				size_t seen = i - start + 1, skip = keys_skipped(seen, window);
				size_t first = (start + skip) * ld + h / group * d;
				size_t at = i * heads + h;
				attend(out + at * d, lse ? lse + at : NULL, q + at * d, k + first,
				       v + first, ld, seen - skip, d, scale);
			}
	}
	return TK_KERNEL_OK;
}

/* The gradients of one query (token i, head h) over the keys it sees,
 * rows first..i of its record: dq assigned; dk_acc, dv_acc (rows,
 * kv_heads, d) in double accumulate.  With p = exp(s − lse) and
 * δ = dout·out:  ds_j = p_j·(dout·v_j − δ),  dq = scale·Σ ds_j·k_j,
 * dk_j += scale·ds_j·q,  dv_j += p_j·dout.  bf16: q, k, v and dout come
 * rounded (the caller's copies) and p_j, ds_j are rounded where they
 * multiply (kernels.h: form TK_PACK_BF16_DOT). */
struct query_grad {
	const float *q, *dout;        // (d) each
	double delta;                 // dout·out, of the values as given
	float lse;
	size_t first, last;           // key rows
	size_t kv_at;                 // the kv head's offset in a row (g·d)
	int bf16;
};

static double operand(double x, int bf16)
{
	return bf16 ? tk_ref_bf16_round((float)x) : x;
}

static void query_backward(float *dq, double *dk_acc, double *dv_acc, const float *k,
			   const float *v, const struct query_grad *g, size_t ld, size_t d,
			   double scale)
{
	double dq_acc[TK_REF_MAX_HEAD_DIM] = {0};
	for (size_t j = g->first; j <= g->last; j++) {
		const float *kj = k + j * ld + g->kv_at, *vj = v + j * ld + g->kv_at;
		double p = exp(scale * tk_ref_dot(g->q, kj, d) - g->lse);
		double ds = p * (tk_ref_dot(g->dout, vj, d) - g->delta);
		double pm = operand(p, g->bf16), dsm = operand(ds, g->bf16);
		for (size_t c = 0; c < d; c++) {
			dq_acc[c] += dsm * kj[c];
			dk_acc[j * ld + g->kv_at + c] += scale * dsm * g->q[c];
			dv_acc[j * ld + g->kv_at + c] += pm * g->dout[c];
		}
	}
	for (size_t c = 0; c < d; c++)
		dq[c] = (float)(scale * dq_acc[c]);
}

/* dst (count) = src rounded to bf16. */
static float *rounded(float *dst, const float *src, size_t count)
{
	for (size_t i = 0; i < count; i++)
		dst[i] = tk_ref_bf16_round(src[i]);
	return dst;
}

int tk_ref_attention_packed_backward(tk_backend *be, float *dq, float *dk, float *dv,
				     const float *dout, const float *q, const float *k,
				     const float *v, const float *out, const float *lse,
				     const int32_t *cu_seqlens, size_t n_records, size_t n,
				     size_t heads, size_t kv_heads, size_t d, float scale,
				     size_t window, int form)
{
	// dq, dout, q, out (n, heads, d)   dk, dv, k, v (n, kv_heads, d)   lse (n, heads)
	size_t group = heads / kv_heads, ld = kv_heads * d, nq = n * heads * d;
	int bf16 = form == TK_PACK_BF16_DOT;
	tk_workspace_mark mark = tk_workspace_mark_now(be);
	double *dk_acc = tk_workspace_take(be, n * ld * sizeof *dk_acc); // (n, kv_heads, d)
	double *dv_acc = tk_workspace_take(be, n * ld * sizeof *dv_acc);
	float *copies = bf16 ? tk_workspace_take(be, 2 * (nq + n * ld) * sizeof *copies) : NULL;
	if (!dk_acc || !dv_acc || (bf16 && !copies)) {
		tk_workspace_release(be, mark);
		return tk_backend_fail(be, TK_KERNEL_ENOMEM, "out of memory for the attention backward");
	}
	const float *qm = q, *gm = dout, *km = k, *vm = v; // the products' operands
	if (bf16) {
		qm = rounded(copies, q, nq), gm = rounded(copies + nq, dout, nq);
		km = rounded(copies + 2 * nq, k, n * ld);
		vm = rounded(copies + 2 * nq + n * ld, v, n * ld);
	}
	memset(dk_acc, 0, n * ld * sizeof *dk_acc);
	memset(dv_acc, 0, n * ld * sizeof *dv_acc);
	for (size_t r = 0; r < n_records; r++) {
		size_t start = (size_t)cu_seqlens[r], end = (size_t)cu_seqlens[r + 1];
		for (size_t i = start; i < end; i++)
			for (size_t h = 0; h < heads; h++) {
				size_t at = (i * heads + h) * d;
				size_t seen = i - start + 1, skip = keys_skipped(seen, window);
				struct query_grad g = {qm + at, gm + at, tk_ref_dot(dout + at, out + at, d),
						       lse[i * heads + h], start + skip, i, h / group * d,
						       bf16};
				query_backward(dq + at, dk_acc, dv_acc, km, vm, &g, ld, d, scale);
			}
	}
	for (size_t t = 0; t < n * ld; t++) {
		dk[t] = (float)dk_acc[t];
		dv[t] = (float)dv_acc[t];
	}
	tk_workspace_release(be, mark);
	return TK_KERNEL_OK;
}
