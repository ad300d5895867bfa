/* Forward kernels against float64 references on random inputs of odd
 * sizes (kernels/kernels.h). */
#include "test_kernels.h"

#include "cpu/cpu.h" // tk_cpu_expf, white box

static tk_backend *be;

static void check_matmul(size_t n, size_t in, size_t out, int with_bias,
			 int accumulate)
{
	float *x = kt_random(n * in, 1), *w = kt_random(out * in, 1);
	float *bias = with_bias ? kt_random(out, 1) : NULL;
	float *y = kt_random(n * out, 1); // (n, out), the old y when accumulating
	double *want = kt_doubles(n * out), *xd = kt_widen(x, n * in);
	double *wd = kt_widen(w, out * in), *bd = bias ? kt_widen(bias, out) : NULL;
	ref_matmul(want, xd, wd, bd, n, in, out);
	if (accumulate)
		for (size_t i = 0; i < n * out; i++)
			want[i] += y[i];
	float *y_packed = kt_floats(n * out);
	memcpy(y_packed, y, n * out * sizeof *y);
	TKT_CHECK(tk_matmul_forward(be, y, x, w, bias, n, in, out, accumulate) == 0, "%s", tk_error_message());
	KT_CHECK_NEAR(y, want, n * out, 1e-5 * (in > 1000 ? 4 : 1));
	/* W packed beforehand: the batch-invariant product's bits. */
	float *packed = kt_floats(tk_matmul_packed_floats(be, in, out));
	tk_matmul_pack(be, packed, w, in, out);
	TKT_CHECK(tk_matmul_forward_packed(be, y_packed, x, packed, bias, n, in, out, accumulate) == 0, "%s", tk_error_message());
	if (tk_backend_batch_invariant(be))
		KT_CHECK_SAME(y_packed, y, n * out);
	KT_CHECK_NEAR(y_packed, want, n * out, 1e-5 * (in > 1000 ? 4 : 1));
	free(x), free(w), free(bias), free(y), free(want), free(xd), free(wd), free(bd);
	free(y_packed), free(packed);
}

static void test_matmul(void)
{
	static const size_t rows[] = {1, 7, 32, 33, 70};
	for (int inv = 1; inv >= 0; inv--) {
		tk_backend_set_batch_invariant(be, inv);
		for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
			check_matmul(rows[r], 37, 301, 0, 0);
			check_matmul(rows[r], 37, 301, 1, 0);
			check_matmul(rows[r], 19, 5, 1, 1);
			check_matmul(rows[r], 130, 257, 0, 1);
		}
		check_matmul(9, 2100, 61, 1, 1); // k in two chunks (xwt.c's KC)
	}
	tk_backend_set_batch_invariant(be, 1);
}

/* Three products of one x in one go: each the bits of its own call. */
static void test_matmul_packed_many(void)
{
	size_t n = 21, in = 53, outs[3] = {96, 7, 130};
	float *x = kt_random(n * in, 1);
	tk_matmul_job jobs[3];
	float *w[3], *packed[3], *alone[3], *bias = kt_random(130, 1);
	for (int i = 0; i < 3; i++) {
		w[i] = kt_random(outs[i] * in, 1);
		packed[i] = kt_floats(tk_matmul_packed_floats(be, in, outs[i]));
		tk_matmul_pack(be, packed[i], w[i], in, outs[i]);
		alone[i] = kt_floats(n * outs[i]);
		const float *b = i == 2 ? bias : NULL;
		TKT_CHECK(tk_matmul_forward_packed(be, alone[i], x, packed[i], b, n, in, outs[i], 0) == 0, "%s", tk_error_message());
		jobs[i] = (tk_matmul_job){.y = kt_floats(n * outs[i]), .packed = packed[i], .bias = b,
					  .out = outs[i]};
	}
	TKT_CHECK(tk_matmul_forward_packed_many(be, x, n, in, jobs, 3) == 0, "%s", tk_error_message());
	for (int i = 0; i < 3; i++) {
		KT_CHECK_SAME(jobs[i].y, alone[i], n * outs[i]);
		free(w[i]), free(packed[i]), free(alone[i]), free(jobs[i].y);
	}
	TKT_CHECK(tk_matmul_forward_packed_many(be, x, n, in, jobs, 9) != 0, "%s", "9 jobs accepted");
	free(x), free(bias);
}

static void test_embedding(void)
{
	size_t n = 9, c = 13, vocab = 11;
	float *table = kt_random(vocab * c, 1), *y = kt_floats(n * c);
	int32_t tokens[9] = {3, 0, 10, 3, 7, 7, 1, 2, 10};
	tk_embedding_forward(be, y, tokens, table, n, c, vocab);
	for (size_t i = 0; i < n; i++)
		KT_CHECK_SAME(y + i * c, table + (size_t)tokens[i] * c, c);
	free(table), free(y);
}

/* A tied model looks its embedding up in the packed lm_head: the table's
 * own values, in the last (partial) panel too. */
static void test_embedding_packed(void)
{
	size_t n = 8, c = 37, vocab = 301;
	float *table = kt_random(vocab * c, 1), *y = kt_floats(n * c);
	float *packed = kt_floats(tk_matmul_packed_floats(be, c, vocab));
	tk_matmul_pack(be, packed, table, c, vocab);
	int32_t tokens[8] = {0, 300, 47, 48, 299, 5, 288, 300};
	tk_embedding_forward_packed(be, y, tokens, packed, TK_PACK_F32, n, c, vocab);
	for (size_t i = 0; i < n; i++)
		KT_CHECK_SAME(y + i * c, table + (size_t)tokens[i] * c, c);
	free(table), free(y), free(packed);
}

static void test_rows_gather_scatter(void)
{
	size_t n = 4, width = 6, rows_total = 10;
	float *cache = kt_floats(rows_total * width), *src = kt_random(n * width, 1);
	float *back = kt_floats(n * width);
	int32_t rows[4] = {9, 2, 5, 0};
	tk_rows_scatter(be, cache, src, rows, n, width);
	tk_rows_gather(be, back, cache, rows, n, width);
	KT_CHECK_SAME(back, src, n * width);
	TKT_CHECK(cache[1 * width] == 0.0f, "untouched rows stay zero");
	free(cache), free(src), free(back);
}

static void test_rmsnorm(void)
{
	size_t n = 5, c = 67;
	float *x = kt_random(n * c, 3), *w = kt_random(c, 1.5);
	float *y = kt_floats(n * c), rstd[5];
	double *want = kt_doubles(n * c), *xd = kt_widen(x, n * c), *wd = kt_widen(w, c);
	x[3] = 40.0f; // a large element, as residual streams have
	xd[3] = 40.0;
	tk_rmsnorm_forward(be, y, rstd, x, w, n, c, 1e-5f);
	ref_rmsnorm(want, xd, wd, n, c, 1e-5);
	KT_CHECK_NEAR(y, want, n * c, 2e-6);
	double ss = 0;
	for (size_t j = 0; j < c; j++)
		ss += xd[j] * xd[j];
	TKT_CHECK(fabs(rstd[0] - 1 / sqrt(ss / (double)c + 1e-5)) < 1e-6, "rstd[0]=%g", rstd[0]);
	free(x), free(w), free(y), free(want), free(xd), free(wd);
}

/* transformers' _compute_llama3_parameters, in float64. */
static double ref_llama3(double f, double factor, double low, double high,
			 double old_len)
{
	double wavelen = 2 * M_PI / f;
	if (wavelen < old_len / high)
		return f;
	if (wavelen > old_len / low)
		return f / factor;
	double smooth = (old_len / wavelen - low) / (high - low);
	return (1 - smooth) * f / factor + smooth * f;
}

static void test_rope_inv_freq(void)
{
	size_t d = 64;
	float got[32];
	double want[32];
	tk_rope_inv_freq(got, d, 10000.0, NULL);
	for (size_t i = 0; i < d / 2; i++)
		want[i] = 1 / pow(10000.0, (double)(2 * i) / (double)d);
	KT_CHECK_NEAR(got, want, d / 2, 1e-6);
	TKT_CHECK(got[0] == 1.0f, "inv_freq[0]=%g", got[0]);

	/* Llama 3.1: head_dim 128, theta 500000, factor 8, 1, 4, 8192; the
	 * table has all three bands (kept, smoothed, divided). */
	struct tk_rope_scaling s = {TK_ROPE_LLAMA3, 8.0, 1.0, 4.0, 8192.0};
	float g3[64];
	double w3[64];
	int bands[3] = {0, 0, 0};
	tk_rope_inv_freq(g3, 128, 500000.0, &s);
	for (size_t i = 0; i < 64; i++) {
		double f = 1 / pow(500000.0, (double)(2 * i) / 128.0);
		w3[i] = ref_llama3(f, 8, 1, 4, 8192);
		bands[w3[i] == f ? 0 : fabs(w3[i] - f / 8) < 1e-20 ? 2 : 1]++;
	}
	for (size_t i = 0; i < 64; i++)
		TKT_CHECK(fabs(g3[i] - w3[i]) <= 2e-6 * w3[i], "llama3 inv_freq[%zu] %.9g vs %.9g", i, g3[i], w3[i]);
	TKT_CHECK(bands[0] > 0 && bands[1] > 0 && bands[2] > 0, "bands %d %d %d", bands[0], bands[1], bands[2]);

	struct tk_rope_scaling lin = {TK_ROPE_LINEAR, 4.0, 0, 0, 0};
	float gl[32];
	tk_rope_inv_freq(gl, d, 10000.0, &lin);
	for (size_t i = 0; i < d / 2; i++)
		want[i] /= 4;
	KT_CHECK_NEAR(gl, want, d / 2, 1e-6);
}

/* Float bits from a uint32. */
static float bits_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Llama 3.1 8B's table from transformers 5.24 (torch 2.15):
 * ROPE_INIT_FUNCTIONS["llama3"] with head_dim 128, rope_theta 500000,
 * factor 8, low 1, high 4, original_max_position_embeddings 8192; float32
 * bits.  tk follows the same float32 steps: within an ulp (powf). */
static const uint32_t llama3_oracle[64] = {
	0x3f800000, 0x3f508ac1, 0x3f29e1c6, 0x3f0a6384, 0x3ee177bc, 0x3eb7ab7d, 0x3e959ee3, 0x3e73c461,
	0x3e4693b0, 0x3e21c3a0, 0x3e03c6a0, 0x3dd6b19c, 0x3daee4ad, 0x3d8e7898, 0x3d681e67, 0x3d3d1684,
	0x3d1a08c8, 0x3cfaf53f, 0x3ccc6f49, 0x3ca68939, 0x3c87a9c3, 0x3c5d06ec, 0x3c340d6d, 0x3c12ac7f,
	0x3beef74f, 0x3bc2aa76, 0x3b9e9402, 0x3b812e35, 0x3b527720, 0x3b0dfd06, 0x3ab3d11d, 0x3a60979e,
	0x3a0995d2, 0x39a3f108, 0x393b2dd2, 0x38c86886, 0x38a3418d, 0x3884fdbf, 0x3858ac81, 0x38308199,
	0x380fc8f8, 0x37ea426f, 0x37bed4f4, 0x379b7475, 0x377d45c3, 0x374e51f5, 0x3728126b, 0x3708ea0f,
	0x36df10c4, 0x36b5b687, 0x369406cb, 0x36712b80, 0x36447610, 0x36200a69, 0x36025f34, 0x35d46808,
	0x35ad07a7, 0x358cf400, 0x3565a54d, 0x353b12c7, 0x351864a7, 0x34f848c2, 0x34ca41b0, 0x34a4c2ff,
};

static void test_rope_inv_freq_oracle(void)
{
	struct tk_rope_scaling s = {TK_ROPE_LLAMA3, 8.0, 1.0, 4.0, 8192.0};
	float got[64];
	int exact = 0;
	tk_rope_inv_freq(got, 128, 500000.0, &s);
	for (size_t i = 0; i < 64; i++) {
		float want = bits_float(llama3_oracle[i]);
		exact += got[i] == want;
		TKT_CHECK(fabsf(got[i] - want) <= 1.2e-7f * want, "[%zu] %.9g vs transformers %.9g", i, got[i], want);
	}
	printf("# llama3 inv_freq: %d of 64 bitwise equal to transformers\n", exact);
}

/* transformers 5.24's LlamaRotaryEmbedding + apply_rotary_pos_emb (theta
 * 10000, head_dim 8): 2 tokens at positions 5 and 1000, 2 heads each. */
static const float rope_in[32] = {-0.5f, -0.129999995f, 0.239999995f, -0.389999986f, -0.0199999996f, 0.349999994f, -0.280000001f, 0.0900000036f, 0.460000008f, -0.170000002f, 0.200000003f, -0.430000007f, -0.0599999987f, 0.310000002f, -0.319999993f, 0.0500000007f, -0.5f, 0.409999996f, 0.319999993f, 0.230000004f, 0.140000001f, 0.0500000007f, -0.0399999991f, -0.129999995f, -0.219999999f, -0.310000002f, -0.400000006f, -0.49000001f, 0.419999987f, 0.330000013f, 0.239999995f, 0.150000006f};
static const float rope_hf[32] = {-0.16100958f, -0.28188467f, 0.253694236f, -0.390445083f, 0.473788917f, 0.244828567f, -0.267655075f, 0.0880488902f, 0.0729491562f, -0.297810972f, 0.215743378f, -0.430244625f, -0.458124906f, 0.190548241f, -0.309604228f, 0.0478493832f, -0.396952689f, 0.378869027f, -0.290263742f, 0.233660758f, -0.334706724f, -0.164493978f, -0.140523911f, 0.123299025f, -0.471012801f, -0.100218177f, 0.466193676f, -0.3909688f, 0.0542857051f, 0.441538602f, 0.0162312984f, -0.331275403f};

static void test_rope_oracle(void)
{
	float inv_freq[4], y[32];
	int32_t pos[2] = {5, 1000};
	tk_rope_inv_freq(inv_freq, 8, 10000.0, NULL);
	tk_rope_forward(be, y, rope_in, pos, inv_freq, 2, 2, 8);
	TKT_CHECK_CLOSE(y, rope_hf, 32, 1e-6);
}

static void test_rope(void)
{
	size_t n = 6, heads = 3, d = 10;
	int32_t pos[6] = {0, 1, 2, 17, 4095, 131000};
	float inv_freq[5], *x = kt_random(n * heads * d, 2), *y = kt_floats(n * heads * d);
	double *want = kt_doubles(n * heads * d), *xd = kt_widen(x, n * heads * d);
	tk_rope_inv_freq(inv_freq, d, 500000.0, NULL);
	tk_rope_forward(be, y, x, pos, inv_freq, n, heads, d);
	ref_rope(want, xd, pos, inv_freq, n, heads, d);
	KT_CHECK_NEAR(y, want, n * heads * d, 1e-6);
	KT_CHECK_SAME(y, x, heads * d); // position 0 is the identity
	tk_rope_forward(be, x, x, pos, inv_freq, n, heads, d); // in place
	KT_CHECK_SAME(x, y, n * heads * d);
	free(x), free(y), free(want), free(xd);
}

/* The angles made once for a pass rotate to the same bits as the angles
 * made by each call, on and off the threads' threshold. */
static void test_rope_table(void)
{
	size_t heads = 9, d = 64;
	for (size_t n = 3; n <= 200; n += 197) {
		int32_t *pos = malloc(n * sizeof *pos);
		for (size_t i = 0; i < n; i++)
			pos[i] = (int32_t)((i * 7919) % 9000);
		float inv_freq[32], *x = kt_random(n * heads * d, 2), *want = kt_floats(n * heads * d);
		float *table = kt_floats(n * d), *got = kt_floats(n * heads * d);
		tk_rope_inv_freq(inv_freq, d, 10000.0, NULL);
		tk_rope_forward(be, want, x, pos, inv_freq, n, heads, d);
		tk_rope_table(be, table, pos, inv_freq, n, d);
		tk_rope_forward_table(be, got, x, table, n, heads, d);
		KT_CHECK_SAME(got, want, n * heads * d);
		tk_rope_forward_table(be, x, x, table, n, heads, d); // in place
		KT_CHECK_SAME(x, want, n * heads * d);
		tk_rope_backward(be, want, x, pos, inv_freq, n, heads, d);
		tk_rope_backward_table(be, got, x, table, n, heads, d);
		KT_CHECK_SAME(got, want, n * heads * d);
		TKT_CHECK(pos[0] == 0 && table[0] == 1.0f && table[d / 2] == 0.0f,
			  "position 0: cos %g, sin %g", table[0], table[d / 2]);
		free(pos), free(x), free(want), free(table), free(got);
	}
}

/* Three sequences in a cache of 80 rows each; a prefill of 70 tokens at
 * positions 3..72 of sequence 1 (crossing a 64-key block), one decode token
 * of each of sequences 0 and 2. */
static void attention_cached(size_t heads, size_t kv_heads, size_t d)
{
	size_t s_max = 80, seqs = 3;
	size_t rows = seqs * s_max, n = 72;
	float *kc = kt_random(rows * kv_heads * d, 1), *vc = kt_random(rows * kv_heads * d, 1);
	float *q = kt_random(n * heads * d, 1.5), *out = kt_floats(n * heads * d);
	double *kd = kt_widen(kc, rows * kv_heads * d), *vd = kt_widen(vc, rows * kv_heads * d);
	double *qd = kt_widen(q, n * heads * d), *want = kt_doubles(n * heads * d);
	int32_t kv_row[72], pos[72];
	for (size_t i = 0; i < 70; i++)
		kv_row[i] = (int32_t)s_max, pos[i] = (int32_t)(3 + i);
	kv_row[70] = 0, pos[70] = 0;
	kv_row[71] = (int32_t)(2 * s_max), pos[71] = 41;
	float scale = 1.0f / sqrtf((float)d);
	tk_attention_cached_forward(be, out, q, kc, vc, kv_row, pos, n, heads, kv_heads, d, scale, 0);
	size_t ld = kv_heads * d;
	for (size_t i = 0; i < n; i++)
		for (size_t h = 0; h < heads; h++) {
			size_t first = (size_t)kv_row[i] * ld + (h / (heads / kv_heads)) * d;
			ref_attend(want + (i * heads + h) * d, qd + (i * heads + h) * d,
				   kd + first, vd + first, ld, (size_t)pos[i] + 1, d, scale);
		}
	KT_CHECK_NEAR(out, want, n * heads * d, 1e-5);
	free(kc), free(vc), free(q), free(out), free(kd), free(vd), free(qd), free(want);
}

/* The portable code (d = 12) and the AVX-512 one (d = 64, 128; groups of
 * 3 as SmolLM2's, 5 and 2 that leave heads past its register groups). */
static void test_attention_cached(void)
{
	attention_cached(4, 2, 12);
	attention_cached(9, 3, 64);
	attention_cached(10, 2, 64);
	attention_cached(4, 2, 128);
	attention_cached(3, 1, 128);
}

static void test_attention_packed(void)
{
	size_t heads = 6, kv_heads = 2, d = 8, n_records = 4;
	int32_t cu[5] = {0, 5, 6, 76, 79};
	size_t n = 79;
	float *q = kt_random(n * heads * d, 1.5), *k = kt_random(n * kv_heads * d, 1.5);
	float *v = kt_random(n * kv_heads * d, 1), *out = kt_floats(n * heads * d);
	float *lse = kt_floats(n * heads);
	double *qd = kt_widen(q, n * heads * d), *kd = kt_widen(k, n * kv_heads * d);
	double *vd = kt_widen(v, n * kv_heads * d), *want = kt_doubles(n * heads * d);
	float scale = 1.0f / sqrtf((float)d);
	ref_attention_packed(want, qd, kd, vd, cu, n_records, heads, kv_heads, d, scale, 0);
	/* Through sgemm blocks first (not batch invariant), then per query. */
	tk_backend_set_batch_invariant(be, 0);
	TKT_CHECK(tk_attention_packed_forward(be, out, lse, q, k, v, cu, n_records, n, heads, kv_heads, d, scale, 0) == 0, "%s", tk_error_message());
	tk_backend_set_batch_invariant(be, 1);
	KT_CHECK_NEAR(out, want, n * heads * d, 1e-5);
	float *lse_blocked = kt_floats(n * heads);
	memcpy(lse_blocked, lse, n * heads * sizeof *lse);
	TKT_CHECK(tk_attention_packed_forward(be, out, lse, q, k, v, cu, n_records, n, heads, kv_heads, d, scale, 0) == 0, "%s", tk_error_message());
	KT_CHECK_NEAR(out, want, n * heads * d, 1e-5);
	double *lse_d = kt_widen(lse, n * heads);
	KT_CHECK_NEAR(lse_blocked, lse_d, n * heads, 1e-6);
	free(lse_blocked), free(lse_d);
	/* The first token of a record sees only itself: out = its v. */
	for (size_t h = 0; h < heads; h++)
		KT_CHECK_NEAR(out + (5 * heads + h) * d, vd + (5 * kv_heads + h / 3) * d, d, 1e-6);
	/* lse of token 0 is its single score. */
	double s = 0;
	for (size_t c = 0; c < d; c++)
		s += qd[c] * kd[c];
	TKT_CHECK(fabs(lse[0] - s * scale) < 1e-5, "lse[0]=%g want %g", lse[0], s * scale);
	free(q), free(k), free(v), free(out), free(lse), free(qd), free(kd), free(vd), free(want);
}

/* A sliding window: packed, both ways, and cached, against the reference,
 * with records longer than a 64-key block and windows across blocks. */
static void attention_window(size_t heads, size_t kv_heads, size_t d, size_t window)
{
	int32_t cu[4] = {0, 9, 139, 150};
	size_t n = 150, n_records = 3;
	float *q = kt_random(n * heads * d, 1.5), *k = kt_random(n * kv_heads * d, 1.5);
	float *v = kt_random(n * kv_heads * d, 1), *out = kt_floats(n * heads * d);
	double *qd = kt_widen(q, n * heads * d), *kd = kt_widen(k, n * kv_heads * d);
	double *vd = kt_widen(v, n * kv_heads * d), *want = kt_doubles(n * heads * d);
	float scale = 1.0f / sqrtf((float)d);
	ref_attention_packed(want, qd, kd, vd, cu, n_records, heads, kv_heads, d, scale, window);
	for (int inv = 0; inv <= 1; inv++) {
		tk_backend_set_batch_invariant(be, inv);
		TKT_CHECK(tk_attention_packed_forward(be, out, NULL, q, k, v, cu, n_records, n, heads,
						      kv_heads, d, scale, window) == 0, "%s",
			  tk_error_message());
		KT_CHECK_NEAR(out, want, n * heads * d, 1e-5);
	}
	/* the middle record from a cache, one decode step per token after a prefill */
	int32_t kv_row[130], pos[130];
	for (size_t i = 0; i < 130; i++)
		kv_row[i] = 9, pos[i] = (int32_t)i;
	tk_attention_cached_forward(be, out, q + 9 * heads * d, k, v, kv_row, pos, 100, heads,
				    kv_heads, d, scale, window);
	for (size_t t = 100; t < 130; t++)
		tk_attention_cached_forward(be, out + t * heads * d, q + (9 + t) * heads * d, k, v,
					    kv_row + t, pos + t, 1, heads, kv_heads, d, scale, window);
	KT_CHECK_NEAR(out, want + 9 * heads * d, 130 * heads * d, 1e-5);
	free(q), free(k), free(v), free(out), free(qd), free(kd), free(vd), free(want);
}

static void test_attention_window(void)
{
	attention_window(4, 2, 12, 16);   // portable code
	attention_window(6, 2, 64, 80);   // AVX-512, window past a key block
	attention_window(2, 2, 64, 1);    // each token sees itself alone
	attention_window(4, 1, 12, 1000); // longer than every record: no window
}

/* Empty records (cu_seqlens repeating a value) are allowed, both ways. */
static void test_attention_empty_records(void)
{
	size_t heads = 2, kv_heads = 1, d = 4, n_records = 4, n = 6;
	int32_t cu[5] = {0, 0, 4, 4, 6};
	float *q = kt_random(n * heads * d, 1), *k = kt_random(n * kv_heads * d, 1);
	float *v = kt_random(n * kv_heads * d, 1), *out = kt_floats(n * heads * d), lse[12];
	double *qd = kt_widen(q, n * heads * d), *kd = kt_widen(k, n * kv_heads * d);
	double *vd = kt_widen(v, n * kv_heads * d), *want = kt_doubles(n * heads * d);
	ref_attention_packed(want, qd, kd, vd, cu, n_records, heads, kv_heads, d, 0.5, 0);
	for (int inv = 0; inv <= 1; inv++) {
		tk_backend_set_batch_invariant(be, inv);
		TKT_CHECK(tk_attention_packed_forward(be, out, lse, q, k, v, cu, n_records, n, heads, kv_heads, d, 0.5f, 0) == 0, "%s", tk_error_message());
		KT_CHECK_NEAR(out, want, n * heads * d, 1e-5);
	}
	free(q), free(k), free(v), free(out), free(qd), free(kd), free(vd), free(want);
}

static void test_swiglu(void)
{
	size_t n = 1001;
	float *g = kt_random(n, 12), *u = kt_random(n, 2), *out = kt_floats(n);
	double *want = kt_doubles(n);
	g[0] = -100.0f; // e^100 overflows float: silu must still be -0
	for (size_t i = 0; i < n; i++)
		want[i] = ref_silu(g[i]) * u[i];
	tk_swiglu_forward(be, out, g, u, n);
	KT_CHECK_NEAR(out, want, n, 1e-6);
	free(g), free(u), free(out), free(want);
}

static void test_softmax(void)
{
	size_t n = 3, c = 77;
	float *x = kt_random(n * c, 30), *y = kt_floats(n * c);
	double *want = kt_doubles(n * c);
	x[5] = 1e4f; // one huge logit: max subtraction keeps it finite
	for (size_t i = 0; i < n; i++) {
		double m = -INFINITY, s = 0;
		for (size_t j = 0; j < c; j++)
			m = x[i * c + j] > m ? x[i * c + j] : m;
		for (size_t j = 0; j < c; j++)
			s += exp(x[i * c + j] - m);
		for (size_t j = 0; j < c; j++)
			want[i * c + j] = exp(x[i * c + j] - m) / s;
	}
	tk_softmax_forward(be, y, x, n, c);
	KT_CHECK_NEAR(y, want, n * c, 1e-6);
	tk_softmax_forward(be, x, x, n, c); // in place
	KT_CHECK_SAME(x, y, n * c);
	free(x), free(y), free(want);
}

static void test_logsumexp(void)
{
	size_t n = 3, vocab = 1700;
	float *x = kt_random(n * vocab, 20), lse[3];
	double want[3];
	x[10] = 90.0f; // exp overflows float without the running max
	tk_backend_set_workspace(be, 64 * 768 * sizeof(float)); // 3 chunks
	TKT_CHECK(tk_logsumexp_forward(be, lse, x, n, vocab) == 0, "%s", tk_error_message());
	tk_backend_set_workspace(be, (size_t)16 << 20);
	for (size_t i = 0; i < n; i++) {
		double m = -INFINITY, s = 0;
		for (size_t j = 0; j < vocab; j++)
			m = x[i * vocab + j] > m ? x[i * vocab + j] : m;
		for (size_t j = 0; j < vocab; j++)
			s += exp(x[i * vocab + j] - m);
		want[i] = m + log(s);
	}
	KT_CHECK_NEAR(lse, want, n, 1e-6);
	free(x);
}

/* The CPU kernels' vectorizable e^x: within 2 ulp over the float range,
 * exact at the edges that softmax relies on. */
static void test_cpu_expf(void)
{
	double worst = 0;
	float at = 0;
	for (float x = -87.3f; x < 88.7f; x += 0.000371f) {
		double want = exp((double)x), err = fabs(tk_cpu_expf(x) - want) / want;
		if (err > worst)
			worst = err, at = x;
	}
	TKT_CHECK(worst < 1.2e-7, "relative error %.3g at %.9g", worst, at);
	TKT_CHECK(tk_cpu_expf(-INFINITY) == 0.0f && tk_cpu_expf(-100.0f) == 0.0f, "%s", "underflow");
	TKT_CHECK(tk_cpu_expf(0.0f) == 1.0f, "%.9g", tk_cpu_expf(0.0f));
	TKT_CHECK(isinf(tk_cpu_expf(INFINITY)) && isinf(tk_cpu_expf(89.0f)), "%s", "overflow");
	TKT_CHECK(isnan(tk_cpu_expf(NAN)), "%s", "NaN");
	/* The array version (sixteen, four lanes and scalar) gives the
	 * scalar's bits, over the range and past both ends. */
	enum { N = 20011 };
	static float x[N], y[N];
	for (size_t i = 0; i < N; i++)
		x[i] = (float)((double)i * 0.0093 - 97.0);
	x[0] = -INFINITY, x[1] = INFINITY, x[2] = NAN, x[3] = 0.0f, x[17] = NAN, x[18] = INFINITY;
	tk_cpu_exp_shifted(y, x, N, 0.25f);
	for (size_t i = 0; i < N; i++) {
		float want = tk_cpu_expf(x[i] - 0.25f);
		TKT_CHECK(memcmp(&want, &y[i], sizeof want) == 0, "[%zu] e^(%g): %.9g vs %.9g", i, x[i] - 0.25f, y[i], want);
	}
}

static void test_add_axpy_scale(void)
{
	size_t n = 40001; // above the parallel threshold
	float *a = kt_random(n, 1), *b = kt_random(n, 1), *y = kt_floats(n);
	double *want = kt_doubles(n);
	tk_add(be, y, a, b, n);
	for (size_t i = 0; i < n; i++)
		want[i] = (double)a[i] + b[i];
	KT_CHECK_NEAR(y, want, n, 1e-7);
	tk_axpy(be, y, -0.5f, a, n);
	for (size_t i = 0; i < n; i++)
		want[i] -= 0.5 * a[i];
	KT_CHECK_NEAR(y, want, n, 1e-6);
	tk_scale(be, y, y, 3.0f, n);
	for (size_t i = 0; i < n; i++)
		want[i] *= 3;
	KT_CHECK_NEAR(y, want, n, 1e-6);
	free(a), free(b), free(y), free(want);
}

static void test_backend_memory(void)
{
	size_t n = 1000;
	float *host = kt_random(n, 1), *back = kt_floats(n);
	float *dev = tk_backend_alloc(be, n * sizeof *dev);
	TKT_CHECK(dev != NULL, "%s", tk_error_message());
	TKT_CHECK(((uintptr_t)dev & 63) == 0, "64-byte aligned");
	tk_copy_to_device(be, dev, host, n * sizeof *dev);
	tk_copy_on_device(be, dev + 1, dev, (n - 1) * sizeof *dev);
	tk_copy_to_host(be, back, dev, n * sizeof *dev);
	KT_CHECK_SAME(back + 1, host, n - 1);
	tk_backend_zero(be, dev, n * sizeof *dev);
	tk_copy_to_host(be, back, dev, n * sizeof *dev);
	TKT_CHECK(back[0] == 0 && back[n - 1] == 0, "%s", tk_error_message());
	TKT_CHECK(tk_backend_sync(be) == 0, "%s", tk_error_message());
	const char *named = strcmp(kt_kind, "cpu") == 0 ? "cpu: OpenBLAS" : kt_kind;
	TKT_CHECK(strncmp(tk_backend_name(be), named, strlen(named)) == 0, "name %s", tk_backend_name(be));
	tk_backend_free(be, dev);
	tk_backend *other = NULL;
	TKT_CHECK(tk_backend_open(&other, "tpu", 1) != 0 && other == NULL, "unknown kind refused");
	TKT_CHECK(strstr(tk_error_message(), "this build has: cpu, ref") != NULL, "%s",
		  tk_error_message());
	free(host), free(back);
}

int main(void)
{
	for (size_t k = 0; k < KT_KINDS; k++) {
		kt_kind = kt_kinds[k];
		int cpu = strcmp(kt_kind, "cpu") == 0;
		be = kt_open(0);
		printf("# %s\n", tk_backend_name(be));
		KT_RUN_ON(test_backend_memory);
		KT_RUN_ON(test_matmul);
		KT_RUN_ON(test_matmul_packed_many);
		KT_RUN_ON(test_embedding);
		KT_RUN_ON(test_embedding_packed);
		KT_RUN_ON(test_rows_gather_scatter);
		KT_RUN_ON(test_attention_window);
		KT_RUN_ON(test_rmsnorm);
		if (cpu) { // host functions, the same on every backend
			TKT_RUN(test_rope_inv_freq);
			TKT_RUN(test_rope_inv_freq_oracle);
		}
		KT_RUN_ON(test_rope_oracle);
		KT_RUN_ON(test_rope);
		KT_RUN_ON(test_rope_table);
		KT_RUN_ON(test_attention_cached);
		KT_RUN_ON(test_attention_packed);
		KT_RUN_ON(test_attention_empty_records);
		KT_RUN_ON(test_swiglu);
		KT_RUN_ON(test_softmax);
		KT_RUN_ON(test_logsumexp);
		if (cpu)
			TKT_RUN(test_cpu_expf); // the cpu backend's exp, white box
		KT_RUN_ON(test_add_axpy_scale);
		tk_backend_close(be);
	}
	return tkt_done();
}
