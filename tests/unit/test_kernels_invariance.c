/* Batch invariance: a row computed alone, or inside batches of other rows
 * of any size, gives the same bits (kernels/kernels.h).  Also: the same
 * bits from 1 or 2 threads, and from a KV cache as from a packed batch. */
#include "test_kernels.h"

#include "cpu/cpu.h" // the portable product, white box

static tk_backend *be;

/* Rows [lo, lo + cnt) of x, multiplied as a batch of their own. */
static void matmul_rows(float *y, const float *x, const float *w,
			const float *bias, size_t lo, size_t cnt, size_t in,
			size_t out, int accumulate)
{
	TKT_CHECK(tk_matmul_forward(be, y + lo * out, x + lo * in, w, bias, cnt, in, out, accumulate) == 0, "%s", tk_error_message());
}

static void test_matmul_batch_invariant(void)
{
	size_t n = 70, in = 45, out = 300; // 2 full row blocks and a tail; 2 column blocks
	float *x = kt_random(n * in, 1), *w = kt_random(out * in, 1), *b = kt_random(out, 1);
	float *whole = kt_floats(n * out), *parts = kt_floats(n * out);
	matmul_rows(whole, x, w, b, 0, n, in, out, 0);
	/* Every row alone. */
	for (size_t i = 0; i < n; i++)
		matmul_rows(parts, x, w, b, i, 1, in, out, 0);
	KT_CHECK_SAME(parts, whole, n * out);
	/* Batches of 5, 33 and 17 rows starting anywhere. */
	static const size_t sizes[] = {5, 33, 17};
	for (size_t s = 0; s < 3; s++) {
		memset(parts, 0, n * out * sizeof *parts);
		for (size_t lo = 0; lo < n; lo += sizes[s])
			matmul_rows(parts, x, w, b, lo, lo + sizes[s] < n ? sizes[s] : n - lo, in, out, 0);
		KT_CHECK_SAME(parts, whole, n * out);
	}
	/* Accumulating into the same old y. */
	float *acc_whole = kt_random(n * out, 1), *acc_parts = kt_floats(n * out);
	memcpy(acc_parts, acc_whole, n * out * sizeof *acc_parts);
	matmul_rows(acc_whole, x, w, NULL, 0, n, in, out, 1);
	for (size_t lo = 0; lo < n; lo += 3)
		matmul_rows(acc_parts, x, w, NULL, lo, lo + 3 < n ? 3 : n - lo, in, out, 1);
	KT_CHECK_SAME(acc_parts, acc_whole, n * out);
	free(x), free(w), free(b), free(whole), free(parts), free(acc_whole), free(acc_parts);
}

static void test_matmul_thread_invariant(void)
{
	size_t n = 41, in = 64, out = 520;
	float *x = kt_random(n * in, 1), *w = kt_random(out * in, 1);
	float *y1 = kt_floats(n * out), *y2 = kt_floats(n * out);
	tk_backend *one = kt_open(1), *two = kt_open(2);
	TKT_CHECK(tk_matmul_forward(one, y1, x, w, NULL, n, in, out, 0) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_matmul_forward(two, y2, x, w, NULL, n, in, out, 0) == 0, "%s", tk_error_message());
	KT_CHECK_SAME(y2, y1, n * out);
	tk_backend_close(one), tk_backend_close(two);
	free(x), free(w), free(y1), free(y2);
}

/* Each instruction set's product (the one a CPU of that kind uses): right,
 * row-invariant, and the same bits as every other set (each element is
 * one chain of exactly rounded multiply-adds), with a column count and a k
 * that leave partial register tiles and a partial panel. */
static void test_products_of_each_isa(void)
{
	static const char *isas[] = {"c", "avx2", "avx512"};
	size_t n = 11, in = 29, out = 61;
	float *x = kt_random(n * in, 1), *w = kt_random(out * in, 1);
	float *whole = kt_floats(n * out), *row = kt_floats(out), *first = kt_floats(n * out);
	double *want = kt_doubles(n * out), *xd = kt_widen(x, n * in), *wd = kt_widen(w, out * in);
	ref_matmul(want, xd, wd, NULL, n, in, out);
	int ran = 0;
	for (size_t s = 0; s < 3; s++) {
		if (tk_cpu_xwt_isa(be, isas[s], whole, out, x, w, n, out, in, 0) != 0)
			continue;
		kt_check_near(__FILE__, __LINE__, isas[s], whole, want, n * out, 1e-5);
		for (size_t i = 0; i < n; i++) {
			TKT_CHECK(tk_cpu_xwt_isa(be, isas[s], row, out, x + i * in, w, 1, out, in, 0) == 0, "%s", isas[s]);
			kt_check_same(__FILE__, __LINE__, isas[s], row, whole + i * out, out);
		}
		if (ran++ == 0)
			memcpy(first, whole, n * out * sizeof *first);
		else
			kt_check_same(__FILE__, __LINE__, isas[s], whole, first, n * out);
	}
	printf("# products checked: %d of 3 instruction sets\n", ran);
	free(x), free(w), free(whole), free(row), free(first), free(want), free(xd), free(wd);
}

/* Sequence-wise kernels: a row alone equals the row in a batch. */
static void test_rowwise_kernels(void)
{
	size_t n = 9, c = 70, heads = 2, d = 34;
	float *x = kt_random(n * c, 2), *w = kt_random(c, 1);
	float *all = kt_floats(n * c), *one = kt_floats(c), rstd[9], r1;
	tk_rmsnorm_forward(be, all, rstd, x, w, n, c, 1e-6f);
	tk_rmsnorm_forward(be, one, &r1, x + 4 * c, w, 1, c, 1e-6f);
	KT_CHECK_SAME(one, all + 4 * c, c);
	tk_softmax_forward(be, all, x, n, c);
	tk_softmax_forward(be, one, x + 7 * c, 1, c);
	KT_CHECK_SAME(one, all + 7 * c, c);
	float inv_freq[17];
	int32_t pos[9] = {0, 3, 9, 1, 1, 2, 100, 5, 8};
	tk_rope_inv_freq(inv_freq, d, 10000.0, NULL);
	tk_rope_forward(be, all, x, pos, inv_freq, n, heads, d); // x as (9, 2, 34)
	tk_rope_forward(be, one, x + 6 * heads * d, pos + 6, inv_freq, 1, heads, d);
	KT_CHECK_SAME(one, all + 6 * heads * d, heads * d);
	free(x), free(w), free(all), free(one);
}

/* One record's queries through the cache path equal the same tokens inside
 * a packed batch of other records, bit for bit. */
static void attention_cache_equals_packed(size_t heads, size_t kv_heads, size_t d,
					  size_t window)
{
	int32_t cu[4] = {0, 7, 77, 80}; // the middle record is 70 tokens
	size_t n = 80, n_records = 3;
	float *q = kt_random(n * heads * d, 2), *k = kt_random(n * kv_heads * d, 2);
	float *v = kt_random(n * kv_heads * d, 1), *packed = kt_floats(n * heads * d);
	float scale = 1.0f / sqrtf((float)d);
	tk_attention_packed_forward(be, packed, NULL, q, k, v, cu, n_records, n, heads, kv_heads, d, scale, window);
	/* Middle record: a prefill of 50 tokens, then 20 decode steps of one
	 * token each, from a cache holding only this record. */
	size_t len = 70, first = 7;
	float *kc = k + first * kv_heads * d, *vc = v + first * kv_heads * d;
	float *cached = kt_floats(len * heads * d);
	int32_t kv_row[70], pos[70];
	for (size_t i = 0; i < len; i++)
		kv_row[i] = 0, pos[i] = (int32_t)i;
	tk_attention_cached_forward(be, cached, q + first * heads * d, kc, vc, kv_row, pos, 50, heads, kv_heads, d, scale, window);
	for (size_t t = 50; t < len; t++)
		tk_attention_cached_forward(be, cached + t * heads * d, q + (first + t) * heads * d, kc, vc,
					    kv_row + t, pos + t, 1, heads, kv_heads, d, scale, window);
	KT_CHECK_SAME(cached, packed + first * heads * d, len * heads * d);
	/* The same record packed alone. */
	int32_t cu1[2] = {0, 70};
	float *alone = kt_floats(len * heads * d);
	tk_attention_packed_forward(be, alone, NULL, q + first * heads * d, kc, vc, cu1, 1, len, heads, kv_heads, d, scale, window);
	KT_CHECK_SAME(alone, packed + first * heads * d, len * heads * d);
	free(q), free(k), free(v), free(packed), free(cached), free(alone);
}

static void test_attention_cache_equals_packed(void)
{
	attention_cache_equals_packed(4, 2, 16, 0);  // the portable code
	attention_cache_equals_packed(9, 3, 64, 0);  // AVX-512
	attention_cache_equals_packed(4, 2, 128, 0);
	attention_cache_equals_packed(4, 2, 16, 20); // sliding windows
	attention_cache_equals_packed(9, 3, 64, 33);
}

/* Fused cross-entropy: a token's loss and logprob do not depend on the
 * other tokens, with the vocabulary in several chunks. */
static void test_cross_entropy_batch_invariant(void)
{
	size_t n = 70, c = 24, vocab = 1700;
	float *h = kt_random(n * c, 1), *w = kt_random(vocab * c, 1);
	float *weight = kt_random(n, 1), lp_all[70], loss_all[70], lp1, loss1;
	int32_t target[70];
	for (size_t i = 0; i < n; i++)
		target[i] = (int32_t)(tkt_rand64() % vocab);
	tk_backend_set_workspace(be, 64 * 768 * sizeof(float)); // 3 vocab chunks
	TKT_CHECK(tk_cross_entropy_fused(be, loss_all, lp_all, NULL, NULL, h, w, NULL, NULL, TK_PACK_F32, target, weight, n, c, vocab) == 0, "%s", tk_error_message());
	for (size_t i = 0; i < n; i += 13) {
		TKT_CHECK(tk_cross_entropy_fused(be, &loss1, &lp1, NULL, NULL, h + i * c, w, NULL, NULL, TK_PACK_F32, target + i, weight + i, 1, c, vocab) == 0, "%s", tk_error_message());
		KT_CHECK_SAME(&lp1, &lp_all[i], 1);
		KT_CHECK_SAME(&loss1, &loss_all[i], 1);
	}
	tk_backend_set_workspace(be, (size_t)16 << 20);
	free(h), free(w), free(weight);
}

/* A sampler's logprob, logits[t] − lse with the logits from
 * tk_matmul_forward, equals the trainer's fused cross-entropy logprob bit
 * for bit, with one vocabulary chunk or several. */
static void test_sampler_logprob_equals_trainer(void)
{
	size_t n = 37, c = 40, vocab = 2000;
	float *h = kt_random(n * c, 1), *w = kt_random(vocab * c, 1), *weight = kt_random(n, 1);
	float *logits = kt_floats(n * vocab), lse[37], lp[37], sampled[37];
	int32_t target[37];
	for (size_t i = 0; i < n; i++)
		target[i] = (int32_t)(tkt_rand64() % vocab);
	static const size_t workspaces[] = {(size_t)16 << 20, 64 * 768 * sizeof(float)};
	for (size_t k = 0; k < 2; k++) {
		tk_backend_set_workspace(be, workspaces[k]);
		TKT_CHECK(tk_matmul_forward(be, logits, h, w, NULL, n, c, vocab, 0) == 0, "%s", tk_error_message());
		TKT_CHECK(tk_logsumexp_forward(be, lse, logits, n, vocab) == 0, "%s", tk_error_message());
		TKT_CHECK(tk_cross_entropy_fused(be, NULL, lp, NULL, NULL, h, w, NULL, NULL, TK_PACK_F32, target, weight, n, c, vocab) == 0, "%s", tk_error_message());
		for (size_t i = 0; i < n; i++)
			sampled[i] = logits[i * vocab + (size_t)target[i]] - lse[i];
		KT_CHECK_SAME(sampled, lp, n);
	}
	tk_backend_set_workspace(be, (size_t)16 << 20);
	free(h), free(w), free(weight), free(logits);
}

int main(void)
{
	for (size_t k = 0; k < KT_KINDS; k++) {
		kt_kind = kt_kinds[k];
		be = kt_open(0);
		KT_RUN_ON(test_matmul_batch_invariant);
		KT_RUN_ON(test_matmul_thread_invariant);
		if (strcmp(kt_kind, "cpu") == 0)
			TKT_RUN(test_products_of_each_isa); // the cpu backend's own, white box
		KT_RUN_ON(test_rowwise_kernels);
		KT_RUN_ON(test_attention_cache_equals_packed);
		KT_RUN_ON(test_cross_entropy_batch_invariant);
		KT_RUN_ON(test_sampler_logprob_equals_trainer);
		tk_backend_close(be);
	}
	return tkt_done();
}
