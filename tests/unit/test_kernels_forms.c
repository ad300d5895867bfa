/* Compact forms of packed weights (kernels.h, kernels/cpu/xwt_forms.c):
 * which form a matrix gets, and that the product over each form gives the
 * bits of the float32 product, for one row or many, partial panels, and k
 * past one chunk.  The quantized matrices come from GGUF blocks expanded
 * by lib's own ggml code, as a model's weights are. */
#include "test_kernels.h"

#include "cpu/cpu.h" // tk_cpu_xwt_expand, white box
#include "tk_dtype.h"
#include "tk_gguf.h"

static tk_backend *be;

static uint16_t random_f16(double lo, double hi)
{
	return tk_f32_to_f16((float)(lo + (hi - lo) * tkt_uniform()));
}

static int random_level(int levels)
{
	return (int)(tkt_uniform() * levels) % levels;
}

/* w (n, k) from random Q4_1 blocks, each with its minimum at level 0 and
 * its maximum at 15 (as ggml quantizes). */
static float *q4_matrix(size_t n, size_t k)
{
	size_t blocks = n * k / 32;
	unsigned char *raw = malloc(blocks * 20);
	float *w = kt_floats(n * k);
	for (size_t b = 0; b < blocks; b++) {
		unsigned char *blk = raw + b * 20;
		uint16_t d = random_f16(1e-4, 0.05), m = random_f16(-0.4, 0.1);
		memcpy(blk, &d, 2), memcpy(blk + 2, &m, 2);
		for (int j = 0; j < 16; j++)
			blk[4 + j] = (unsigned char)(random_level(16) | random_level(16) << 4);
		size_t zero = (size_t)random_level(16), top = (zero + 1 + (size_t)random_level(15)) % 16;
		blk[4 + zero] &= 0xf0;
		blk[4 + top] |= 0xf0;
	}
	tk_ggml_to_f32(TK_GGML_Q4_1, raw, w, n * k);
	free(raw);
	return w;
}

/* w (n, k) from random Q8_0 blocks, each reaching ±127. */
static float *q8_matrix(size_t n, size_t k)
{
	size_t blocks = n * k / 32;
	unsigned char *raw = malloc(blocks * 34);
	float *w = kt_floats(n * k);
	for (size_t b = 0; b < blocks; b++) {
		unsigned char *blk = raw + b * 34;
		uint16_t d = random_f16(1e-5, 0.01);
		memcpy(blk, &d, 2);
		for (int j = 0; j < 32; j++)
			blk[2 + j] = (unsigned char)(int8_t)(random_level(255) - 127);
		blk[2 + random_level(32)] = (unsigned char)(int8_t)(tkt_uniform() < 0.5 ? -127 : 127);
	}
	tk_ggml_to_f32(TK_GGML_Q8_0, raw, w, n * k);
	free(raw);
	return w;
}

/* w (n, k) from random Q4_0 blocks (d of either sign), each reaching
 * level 0 (as ggml quantizes: the largest magnitude at q = 0). */
static float *q4s_matrix(size_t n, size_t k)
{
	size_t blocks = n * k / 32;
	unsigned char *raw = malloc(blocks * 18);
	float *w = kt_floats(n * k);
	for (size_t b = 0; b < blocks; b++) {
		unsigned char *blk = raw + b * 18;
		uint16_t d = random_f16(1e-4, 0.01);
		d |= tkt_uniform() < 0.5 ? 0x8000 : 0;
		memcpy(blk, &d, 2);
		for (int j = 0; j < 16; j++)
			blk[2 + j] = (unsigned char)(random_level(16) | random_level(16) << 4);
		blk[2 + random_level(16)] &= 0xf0;
	}
	tk_ggml_to_f32(TK_GGML_Q4_0, raw, w, n * k);
	free(raw);
	return w;
}

/* w (n, k) from random k-quant super-blocks of `type` (Q4_K: 144 bytes,
 * Q6_K: 210) whose f16 scales sit at d_at (and dmin at d_at + 2): random
 * sub-block scales, mins and levels, as kquant_fixtures.py makes them. */
static float *kquant_matrix(int type, size_t bytes, size_t d_at, size_t n, size_t k)
{
	size_t supers = (n * k + 255) / 256;
	unsigned char *raw = malloc(supers * bytes);
	if (!raw)
		exit(2);
	float *all = kt_floats(supers * 256), *w = kt_floats(n * k);
	for (size_t b = 0; b < supers; b++) {
		unsigned char *blk = raw + b * bytes;
		for (size_t i = 0; i < bytes; i++)
			blk[i] = (unsigned char)random_level(256);
		uint16_t d = random_f16(2e-5, 2e-4), dmin = random_f16(2e-4, 1e-3);
		memcpy(blk + d_at, &d, 2);
		if (type == TK_GGML_Q4_K)
			memcpy(blk + d_at + 2, &dmin, 2);
	}
	tk_ggml_to_f32(type, raw, all, supers * 256);
	memcpy(w, all, n * k * sizeof *w);
	free(raw), free(all);
	return w;
}

static float *bf16_matrix(size_t n, size_t k)
{
	float *w = kt_random(n * k, 1);
	for (size_t i = 0; i < n * k; i++)
		w[i] = tk_bf16_to_f32(tk_f32_to_bf16(w[i]));
	return w;
}

static float *matrix_of(int form, size_t n, size_t k)
{
	switch (form) {
	case TK_PACK_Q4: return q4_matrix(n, k);
	case TK_PACK_Q8: return q8_matrix(n, k);
	case TK_PACK_Q4S: return q4s_matrix(n, k);
	case TK_PACK_BF16: return bf16_matrix(n, k);
	case TK_PACK_Q4K: return kquant_matrix(TK_GGML_Q4_K, 144, 0, n, k);
	case TK_PACK_Q8K: return kquant_matrix(TK_GGML_Q6_K, 210, 208, n, k);
	default: return kt_random(n * k, 1);
	}
}

static void *packed_as(int form, const float *w, size_t in, size_t out)
{
	size_t bytes = tk_matmul_packed_bytes(be, form, in, out);
	void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
	if (!p)
		exit(2);
	TKT_CHECK(tk_matmul_pack_as(be, p, form, w, in, out) == 1, "packing as %s refused",
		  tk_matmul_pack_form_name(form));
	return p;
}

/* Packing checks every value: a form that does not hold one is refused
 * (the forward then packs in the form of the whole matrix). */
static void test_pack_refuses_misfits(void)
{
	static const int forms[] = {TK_PACK_Q4,  TK_PACK_Q8,  TK_PACK_BF16,
				    TK_PACK_Q4S, TK_PACK_Q4K, TK_PACK_Q8K};
	for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
		float *w = matrix_of(forms[i], 150, 64);
		size_t bytes = tk_matmul_packed_bytes(be, TK_PACK_F32, 64, 150);
		void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
		const char *name = tk_matmul_pack_form_name(forms[i]);
		TKT_CHECK(tk_matmul_pack_as(be, p, forms[i], w, 64, 150) == 1, "%s as itself", name);
		/* the last value an ulp off; the k-quant forms' float32 scales may
		 * fit such a block anew (a constant one: a tiny step), so they get
		 * a value no levels give */
		int k_form = forms[i] == TK_PACK_Q4K || forms[i] == TK_PACK_Q8K;
		w[149 * 64 + 63] = k_form ? NAN : nextafterf(w[149 * 64 + 63], 2.0f);
		TKT_CHECK(tk_matmul_pack_as(be, p, forms[i], w, 64, 150) == 0,
			  "%s with its last value off: accepted", name);
		TKT_CHECK(tk_matmul_pack_as(be, p, TK_PACK_F32, w, 64, 150) == 1, "f32 holds all");
		free(w), free(p);
	}
}

static void test_form_chosen(void)
{
	static const int forms[] = {TK_PACK_Q4,  TK_PACK_Q8,  TK_PACK_BF16, TK_PACK_F32,
				    TK_PACK_Q4S, TK_PACK_Q4K, TK_PACK_Q8K};
	for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
		float *w = matrix_of(forms[i], 301, 96);
		int got = tk_matmul_pack_form(be, w, 96, 301);
		TKT_CHECK(got == forms[i], "a %s matrix packs as %s", tk_matmul_pack_form_name(forms[i]),
			  tk_matmul_pack_form_name(got));
		free(w);
	}
	// one value off by an ulp: no longer exactly Q4 (nor bf16)
	float *w = q4_matrix(64, 64);
	w[37 * 64 + 5] = nextafterf(w[37 * 64 + 5], 1.0f);
	int got = tk_matmul_pack_form(be, w, 64, 64);
	TKT_CHECK(got == TK_PACK_F32, "a perturbed Q4 matrix packs as %s", tk_matmul_pack_form_name(got));
	free(w);
	// in not a multiple of the blocks: Q4 cannot hold it
	w = bf16_matrix(10, 40);
	TKT_CHECK(tk_matmul_pack_form(be, w, 40, 10) == TK_PACK_BF16, "k = 40 packs as bf16");
	free(w);
	TKT_CHECK(tk_matmul_packed_bytes(be, TK_PACK_Q4, 576, 1536) * 6 <
		  tk_matmul_packed_bytes(be, TK_PACK_F32, 576, 1536), "Q4 under a sixth of f32");
}

/* y over the form against y over float32 panels, bit for bit. */
static void check_product(int form, size_t m, size_t n, size_t k, int accumulate)
{
	float *w = matrix_of(form, n, k), *x = kt_random(m * k, 1);
	float *want = kt_random(m * n, 1), *got = kt_floats(m * n);
	memcpy(got, want, m * n * sizeof *got);
	float *f32 = packed_as(TK_PACK_F32, w, k, n);
	void *compact = packed_as(form, w, k, n);
	TKT_CHECK(tk_matmul_forward_packed(be, want, x, f32, NULL, m, k, n, accumulate) == 0, "%s",
		  tk_error_message());
	TKT_CHECK(tk_matmul_forward_packed_as(be, got, x, compact, form, NULL, m, k, n, accumulate) == 0,
		  "%s", tk_error_message());
	KT_CHECK_SAME(got, want, m * n);
	free(w), free(x), free(want), free(got), free(f32), free(compact);
}

static void test_product_bits(void)
{
	static const int forms[] = {TK_PACK_Q4,  TK_PACK_Q8,  TK_PACK_BF16,
				    TK_PACK_Q4S, TK_PACK_Q4K, TK_PACK_Q8K};
	static const size_t n_forms = sizeof forms / sizeof *forms;
	static const size_t rows[] = {1, 3, 8, 9, 64};
	for (size_t f = 0; f < n_forms; f++)
		for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
			check_product(forms[f], rows[r], 301, 96, 0);
			check_product(forms[f], rows[r], 48, 32, 1);
		}
	for (size_t f = 0; f < n_forms; f++) {
		check_product(forms[f], 5, 61, 2080, 1); // k in two chunks (xwt.c's KC)
		check_product(forms[f], 70, 5, 2080, 0);
	}
}

/* The products of one x at once, each job in its own form. */
static void test_product_many(void)
{
	size_t m = 17, k = 64, outs[3] = {100, 48, 7};
	int forms[3] = {TK_PACK_Q4, TK_PACK_F32, TK_PACK_Q8};
	float *x = kt_random(m * k, 1), *w[3], *alone[3];
	void *packed[3];
	tk_matmul_job jobs[3];
	for (int i = 0; i < 3; i++) {
		w[i] = matrix_of(forms[i], outs[i], k);
		packed[i] = packed_as(forms[i], w[i], k, outs[i]);
		alone[i] = kt_floats(m * outs[i]);
		TKT_CHECK(tk_matmul_forward(be, alone[i], x, w[i], NULL, m, k, outs[i], 0) == 0, "%s",
			  tk_error_message());
		jobs[i] = (tk_matmul_job){.y = kt_floats(m * outs[i]), .packed = packed[i],
					  .form = forms[i], .out = outs[i]};
	}
	TKT_CHECK(tk_matmul_forward_packed_many(be, x, m, k, jobs, 3) == 0, "%s", tk_error_message());
	for (int i = 0; i < 3; i++) {
		KT_CHECK_SAME(jobs[i].y, alone[i], m * outs[i]);
		free(w[i]), free(packed[i]), free(alone[i]), free(jobs[i].y);
	}
	free(x);
}

/* Expanding gives back w's columns, the vector code the portable code's
 * bits; a tied table's rows come back from the form too. */
static void test_expand_and_rows(void)
{
	static const int forms[] = {TK_PACK_Q4,  TK_PACK_Q8,  TK_PACK_BF16,
				    TK_PACK_Q4S, TK_PACK_Q4K, TK_PACK_Q8K};
	size_t n = 53, k = 64;
	for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
		float *w = matrix_of(forms[f], n, k);
		unsigned char *packed = packed_as(forms[f], w, k, n);
		float *fast = kt_floats(k * TK_XWT_PANEL), *plain = kt_floats(k * TK_XWT_PANEL);
		size_t panel_bytes = tk_cpu_xwt_form_panel_bytes(forms[f], k);
		tk_cpu_xwt_expand(fast, forms[f], packed + panel_bytes, 0, k, 0);
		tk_cpu_xwt_expand(plain, forms[f], packed + panel_bytes, 0, k, 1);
		KT_CHECK_SAME(fast, plain, k * TK_XWT_PANEL);
		int exact = 1;
		for (size_t c = 0; c < TK_XWT_PANEL; c++)
			for (size_t t = 0; t < k; t++) {
				float want = TK_XWT_PANEL + c < n ? w[(TK_XWT_PANEL + c) * k + t] : 0.0f;
				exact &= memcmp(&fast[t * TK_XWT_PANEL + c], &want, sizeof want) == 0;
			}
		TKT_CHECK(exact, "%s: the second panel expands to w's columns, zero past n",
			  tk_matmul_pack_form_name(forms[f]));
		int32_t tokens[4] = {0, 52, 47, 48};
		float *rows = kt_floats(4 * k);
		tk_embedding_forward_packed(be, rows, tokens, packed, forms[f], 4, k, n);
		for (int i = 0; i < 4; i++)
			KT_CHECK_SAME(rows + i * k, w + (size_t)tokens[i] * k, k);
		free(w), free(packed), free(fast), free(plain), free(rows);
	}
}

/* dx = dy·W from the forward's packing in each form against dx from the
 * float32 backward packing, bit for bit: one copy of a frozen base serves
 * both products.  Rows a chunk apart and alone give the same bits. */
static void check_backward(int form, size_t m, size_t in, size_t out, int accumulate)
{
	float *w = matrix_of(form, out, in), *dy = kt_random(m * out, 1);
	float *want = kt_random(m * in, 1), *got = kt_floats(m * in);
	memcpy(got, want, m * in * sizeof *got);
	float *last = kt_floats(in); // the last row alone, from its value before
	memcpy(last, want + (m - 1) * in, in * sizeof *last);
	float *bwd = kt_floats(tk_matmul_packed_backward_floats(be, in, out));
	tk_matmul_pack_backward(be, bwd, w, in, out);
	void *fwd = packed_as(form, w, in, out);
	TKT_CHECK(tk_matmul_backward_packed(be, want, dy, bwd, m, in, out, accumulate) == 0, "%s",
		  tk_error_message());
	TKT_CHECK(tk_matmul_backward_packed_as(be, got, dy, fwd, form, m, in, out, accumulate) == 0,
		  "%s", tk_error_message());
	KT_CHECK_SAME(got, want, m * in);
	TKT_CHECK(tk_matmul_backward_packed_as(be, last, dy + (m - 1) * out, fwd, form, 1, in, out,
					       accumulate) == 0, "%s", tk_error_message());
	KT_CHECK_SAME(last, got + (m - 1) * in, in);
	free(w), free(dy), free(want), free(got), free(bwd), free(fwd), free(last);
}

static void test_backward_bits(void)
{
	static const int forms[] = {TK_PACK_F32, TK_PACK_BF16, TK_PACK_Q8, TK_PACK_Q4,
				    TK_PACK_Q4S, TK_PACK_Q4K,  TK_PACK_Q8K};
	static const size_t rows[] = {1, 9, 64};
	for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
		for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
			check_backward(forms[f], rows[r], 96, 301, 0); // a partial panel of in
			check_backward(forms[f], rows[r], 160, 50, 1); // in: 3 panels + 16
		}
		check_backward(forms[f], 5, 64, 2080, 1); // out (the chains) in two chunks
		check_backward(forms[f], 70, 224, 100, 0); // more panels than threads
	}
	check_backward(TK_PACK_BF16, 3, 40, 33, 0); // bf16 needs no whole blocks of in
}

int main(void)
{
	be = kt_open(0);
	printf("# %s\n", tk_backend_name(be));
	TKT_RUN(test_form_chosen);
	TKT_RUN(test_pack_refuses_misfits);
	TKT_RUN(test_product_bits);
	TKT_RUN(test_product_many);
	TKT_RUN(test_expand_and_rows);
	TKT_RUN(test_backward_bits);
	tk_backend_close(be);
	return tkt_done();
}
