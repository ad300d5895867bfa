/* Private to the CPU backend: its operations (the table in backend.c) and
 * the helpers the kernel files share. */
#ifndef TK_KERNELS_CPU_H
#define TK_KERNELS_CPU_H

#include "backend_ops.h"

/* `omp simd` asks for vectorization (and lets reductions reassociate, in a
 * fixed way); clang reports the loops it cannot vectorize at -O1 (the
 * sanitizer builds) as warnings, which -Werror would make fatal. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

#include <math.h>
#include <omp.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The operations of the table (kernels.h says what each computes). */
tk_op_sync tk_cpu_sync;
tk_op_alloc tk_cpu_alloc;
tk_op_free tk_cpu_free;
tk_op_zero tk_cpu_zero;
tk_op_copy tk_cpu_copy_to_device, tk_cpu_copy_to_host, tk_cpu_copy_on_device;
tk_op_matmul_forward tk_cpu_matmul_forward;
tk_op_matmul_packed_floats tk_cpu_matmul_packed_floats;
tk_op_matmul_pack tk_cpu_matmul_pack;
tk_op_matmul_forward_packed tk_cpu_matmul_forward_packed;
tk_op_matmul_pack_form tk_cpu_matmul_pack_form;
tk_op_matmul_packed_bytes tk_cpu_matmul_packed_bytes;
tk_op_matmul_pack_as tk_cpu_matmul_pack_as;
tk_op_matmul_forward_packed_as tk_cpu_matmul_forward_packed_as;
tk_op_matmul_forward_packed_many tk_cpu_matmul_forward_packed_many;
tk_op_matmul_packed_backward_floats tk_cpu_matmul_packed_backward_floats;
tk_op_matmul_pack_backward tk_cpu_matmul_pack_backward;
tk_op_matmul_backward_packed tk_cpu_matmul_backward_packed;
tk_op_matmul_backward_packed_as tk_cpu_matmul_backward_packed_as;
tk_op_matmul_backward tk_cpu_matmul_backward;
tk_op_embedding_forward tk_cpu_embedding_forward;
tk_op_embedding_forward_packed tk_cpu_embedding_forward_packed;
tk_op_embedding_backward tk_cpu_embedding_backward;
tk_op_rows_move tk_cpu_rows_gather, tk_cpu_rows_scatter;
tk_op_rmsnorm_forward tk_cpu_rmsnorm_forward;
tk_op_rmsnorm_backward tk_cpu_rmsnorm_backward;
tk_op_rope tk_cpu_rope_forward, tk_cpu_rope_backward;
tk_op_rope_table tk_cpu_rope_table;
tk_op_rope_with_table tk_cpu_rope_forward_table, tk_cpu_rope_backward_table;
tk_op_attention_cached_forward tk_cpu_attention_cached_forward;
tk_op_attention_packed_forward tk_cpu_attention_packed_forward;
tk_op_attention_packed_backward tk_cpu_attention_packed_backward;
tk_op_swiglu_forward tk_cpu_swiglu_forward;
tk_op_swiglu_backward tk_cpu_swiglu_backward;
tk_op_softmax_forward tk_cpu_softmax_forward;
tk_op_softmax_backward tk_cpu_softmax_backward;
tk_op_add tk_cpu_add;
tk_op_axpy tk_cpu_axpy;
tk_op_scale tk_cpu_scale;
tk_op_cross_entropy_fused tk_cpu_cross_entropy_fused;
tk_op_cross_entropy_soft_fused tk_cpu_cross_entropy_soft_fused;
tk_op_logsumexp_forward tk_cpu_logsumexp_forward;
tk_op_adamw_step tk_cpu_adamw_step;
tk_op_sumsq tk_cpu_sumsq;
tk_op_clip_by_norm tk_cpu_clip_by_norm;

/* Below this many elements an elementwise kernel runs on one thread: the
 * fork/join costs more than the work. */
#define TK_CPU_PARALLEL_MIN 32768

/* Columns of y per panel of a packed W (xwt.c): three AVX-512 vectors. */
#define TK_XWT_PANEL 48

/* The batch-invariant products of xwt.c: each element of y one chain of
 * fused multiply-adds over k in order, whatever m, n, the threads and the
 * instruction set; accumulate adds the chain to y.  TK_KERNEL_ENOMEM when
 * out of memory for the panels' and x's packed copies.
 *   tk_cpu_xwt:        y (m, ldy) = x (m, k) · w (n, k)ᵀ
 *   tk_cpu_xwt_packed: the same with w packed by tk_cpu_xwt_pack */
int tk_cpu_xwt(tk_backend *be, float *y, size_t ldy, const float *x, const float *w,
	       size_t m, size_t n, size_t k, int accumulate);
int tk_cpu_xwt_packed(tk_backend *be, float *y, size_t ldy, const float *x,
		      const float *packed, size_t m, size_t n, size_t k, int accumulate);
/* Several products of one x (m, k) by packed weights in one parallel
 * region (fewer thread wake-ups): y (m, n) = x · w_packedᵀ each, the same
 * bits as tk_cpu_xwt_packed. */
#define TK_CPU_XWT_MANY 8
struct tk_cpu_xwt_job {
	float *y;
	const void *packed;
	int form; /* enum tk_pack_form */
	size_t n;
};
int tk_cpu_xwt_packed_many(tk_backend *be, const float *x, size_t m, size_t k,
			   const struct tk_cpu_xwt_job *jobs, size_t count);
/* tk_cpu_xwt_packed over the panels' rows kb..kb+kn only (of k), with x
 * (m, lda) holding those kn columns. */
int tk_cpu_xwt_packed_part(tk_backend *be, float *y, size_t ldy, const float *x,
			   size_t lda, const float *packed, size_t m, size_t n, size_t k,
			   size_t kb, size_t kn, int accumulate);
/* Row j of w (n, k) read back from its packing by tk_cpu_xwt_pack. */
void tk_cpu_xwt_packed_row(float *dst, const float *packed, size_t k, size_t j);
/* Floats of w (n, k) packed: ⌈n / TK_XWT_PANEL⌉ panels of (k, TK_XWT_PANEL). */
size_t tk_cpu_xwt_packed_floats(size_t n, size_t k);
void tk_cpu_xwt_pack(tk_backend *be, float *packed, const float *w, size_t n, size_t k);
/* w (k, n) packed the same way for y = x · w through tk_cpu_xwt_packed
 * (⌈n / TK_XWT_PANEL⌉ panels of (k, TK_XWT_PANEL)). */
void tk_cpu_xw_pack(tk_backend *be, float *packed, const float *w, size_t n, size_t k);
/* The compact forms of a packed w (n, k) (xwt_forms.c, kernels.h): the
 * smallest that holds w exactly; bytes of one panel of k rows; w packed in
 * a form; panel rows t0..t0+kc expanded to float32 (dst (kc, TK_XWT_PANEL);
 * t0 and kc multiples of 32 for the quantized forms), through the portable
 * code when `portable`; row j of w read back.  Packing returns 0 when some
 * value of w does not fit the form (what is packed is then wrong). */
int tk_cpu_xwt_form_of(tk_backend *be, const float *w, size_t n, size_t k);
size_t tk_cpu_xwt_form_panel_bytes(int form, size_t k);
int tk_cpu_xwt_pack_form(tk_backend *be, void *packed, int form, const float *w, size_t n,
			 size_t k);
void tk_cpu_xwt_expand(float *dst, int form, const void *panel, size_t t0, size_t kc,
		       int portable);
void tk_cpu_xwt_form_row(float *dst, int form, const void *packed, size_t k, size_t j);
/* tk_cpu_xwt_packed with w packed in `form` by tk_cpu_xwt_pack_form. */
int tk_cpu_xwt_packed_form(tk_backend *be, float *y, size_t ldy, const float *x,
			   const void *packed, int form, size_t m, size_t n, size_t k,
			   int accumulate);

/* y (m, ldy) = x (m, k) · w (k, n) with w packed by tk_cpu_xwt_pack_form
 * (form) for the product x' · wᵀ: the same bits as tk_cpu_xwt_packed with
 * w packed by tk_cpu_xw_pack; panels expanded transposed into a thread's
 * buffer a chunk at a time (tk_cpu_xwt_expand_transposed). */
int tk_cpu_xwt_transposed(tk_backend *be, float *y, size_t ldy, const float *x,
			  const void *packed, int form, size_t m, size_t n, size_t k,
			  int accumulate);
/* dst (kc, TK_XWT_PANEL): dst[t][c] = w[k0 + t][j0 + c], zero past n, from
 * w (k, n) packed by tk_cpu_xwt_pack_form(form) for the product x' · wᵀ. */
void tk_cpu_xwt_expand_transposed(float *dst, int form, const void *packed, size_t n,
				  size_t k, size_t j0, size_t k0, size_t kc);

/* The bf16 products (xwt_bf16.c, kernels.h's TK_PACK_BF16_DOT): bytes of
 * a panel of k rows; w (n, k) rounded and packed; y (m, ldy) (+)=
 * bf16(x (m, k))·bf16(w)ᵀ (tk_cpu_bf16_xwt), or with w (k, n) packed for
 * the forward (n inputs), y (+)= bf16(x (m, k))·bf16(w) (tk_cpu_bf16_xw);
 * `code`: which code multiplies (the tests choose; the products use the
 * fastest).  The AVX-512 BF16 code gives the portable code's bits; AMX
 * tiles (xwt_amx.c) add each tile's 32 products their own way. */
enum {
	TK_BF16_FASTEST = 0, // AMX tiles, else AVX-512 BF16, else portable
	TK_BF16_PORTABLE = 1,
	TK_BF16_AVX512 = 2   // AVX-512 BF16 where present, else portable
};
size_t tk_cpu_bf16_panel_bytes(size_t k);
void tk_cpu_bf16_pack(tk_backend *be, void *packed, const float *w, size_t n, size_t k);
int tk_cpu_bf16_xwt(tk_backend *be, float *y, size_t ldy, const float *x, const void *packed,
		    size_t m, size_t n, size_t k, int accumulate, int code);
int tk_cpu_bf16_xw(tk_backend *be, float *y, size_t ldy, const float *x, const void *packed,
		   size_t m, size_t n, size_t k, int accumulate, int code);
/* y (m, ldy) (+)= bf16(x (m, kn), rows lda apart)·bf16(w[:, kb..kb+kn])ᵀ
 * with w (n, k) packed by tk_cpu_bf16_pack; kb even.  The bits of
 * tk_cpu_bf16_xwt on those columns of w packed alone. */
int tk_cpu_bf16_xwt_part(tk_backend *be, float *y, size_t ldy, const float *x, size_t lda,
			 const void *packed, size_t m, size_t n, size_t k, size_t kb, size_t kn,
			 int accumulate);
/* Row j of w (n, k) read back, rounded, from its packing. */
void tk_cpu_bf16_row(float *dst, const void *packed, size_t k, size_t j);

/* AMX tiles (xwt_amx.c): 1 when this CPU has AMX-BF16, the OS lends the
 * tiles to this process and TK_AMX is not 0.  A thread configures its
 * tiles with tk_cpu_amx_begin before tk_cpu_amx_tile and frees them with
 * tk_cpu_amx_end.  The tile: y (rows, ldy) (+)= the chains of pairs
 * 0..qn of xp's rows (xs pairs apart, readable and zero up to a multiple
 * of 16 rows and of 16 pairs) over panel rows b (TK_XWT_PANEL lanes a
 * pair), cols columns stored. */
int tk_cpu_amx_ready(void);
void tk_cpu_amx_begin(void);
void tk_cpu_amx_end(void);
void tk_cpu_amx_tile(size_t rows, const uint32_t *xp, size_t xs, const uint32_t *b, size_t qn,
		     size_t cols, float *y, size_t ldy, int accumulate);

/* tk_cpu_xwt through one instruction set, "avx512", "avx2" or "c" (the
 * portable code), for the tests; -1 when this CPU lacks it. */
int tk_cpu_xwt_isa(tk_backend *be, const char *isa, float *y, size_t ldy,
		   const float *x, const float *w, size_t m, size_t n, size_t k,
		   int accumulate);

/* c (m, n) = op(a) · op(b) + beta · c with row-major operands, split into
 * one single-threaded sgemm per thread over rows of c (or over columns when
 * there are few rows).  trans_a: a is stored (k, m); trans_b: b is stored
 * (n, k). */
void tk_cpu_gemm(tk_backend *be, int trans_a, int trans_b, size_t m,
		 size_t n, size_t k, const float *a, size_t lda,
		 const float *b, size_t ldb, float beta, float *c, size_t ldc);

/* attention.c's attend for one kv group in AVX-512 (attend_avx512.c):
 * 1 when done, 0 when this CPU or head dimension (not 64 or 128) is not
 * one it handles. */
int tk_cpu_attend_avx512(float *out, float *lse, const float *q, const float *k,
			 const float *v, size_t ld, size_t n_keys, size_t d,
			 size_t group, float scale);

/* The packed attention forward through sgemm blocks (attention_blocked.c):
 * fast, but a token's bits depend on its record's length. */
int tk_cpu_attention_packed_forward_blocked(tk_backend *be, float *out, float *lse,
					    const float *q, const float *k, const float *v,
					    const int32_t *cu, size_t n_records,
					    size_t heads, size_t kv_heads, size_t d, float scale,
					    size_t window);

/* One (record, query head) of the packed attention backward
 * (attention_blocked.c's work item): q, dout, dq (len, ldq) from the
 * head's first element; k, v (len, ldk) from its kv head's; dk, dv (len,
 * ldq) the head's share of its group's gradients, assigned; lse, delta
 * (len, stride). */
struct tk_cpu_head_grad {
	const float *q, *k, *v, *dout, *lse, *delta;
	float *dq, *dk, *dv;
	size_t len, d, ldq, ldk, stride, window;
	float scale;
};
/* Its five products on AMX tiles in bf16 (attention_amx.c), between
 * tk_cpu_amx_begin and tk_cpu_amx_end, with scratch of
 * tk_cpu_attention_amx_scratch(longest record, d) bytes. */
size_t tk_cpu_attention_amx_scratch(size_t len, size_t d);
void tk_cpu_attention_head_backward_amx(const struct tk_cpu_head_grad *g, void *scratch);
/* e^x in float32 within 2 ulp (Cephes' expf: x = n·ln2 + r, a degree-6
 * polynomial for e^r, then 2^n into the exponent bits).  e^x is 0 below
 * −87.34 (ln FLT_MIN, so e^−inf = 0), +inf above 88.72 (ln FLT_MAX), NaN
 * for NaN.  One element; tk_cpu_exp_shifted does arrays, four lanes at a
 * time, by the same operations (so the same bits). */
#define TK_EXP_LO (-87.33654f)
#define TK_EXP_HI 88.72283f

static inline float tk_cpu_expf(float x)
{
	float c = x < TK_EXP_LO ? TK_EXP_LO : x > TK_EXP_HI ? TK_EXP_HI : x;
	c = c != c ? 0.0f : c; // NaN: no float-to-int conversion of it
	float fx = c * 1.44269504088896341f + 0.5f;
	int32_t n = (int32_t)fx;
	n -= (float)n > fx; // floor, also below zero
	float fn = (float)n;
	float r = c - fn * 0.693359375f - fn * -2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * (r * r) + r + 1.0f;
	float twice = n > 127 ? 2.0f : 1.0f; // 2^128 is not a float
	n = n > 127 ? 127 : n;
	union { int32_t i; float f; } scale = {.i = (n + 127) << 23};
	float y = p * scale.f * twice;
	y = x < TK_EXP_LO ? 0.0f : y;
	y = x > TK_EXP_HI ? INFINITY : y;
	return x != x ? x : y;
}

/* Four lanes of tk_cpu_expf in GCC/Clang vector extensions (SSE2, the
 * baseline; wider vectors would change the calling convention): the
 * compiler cannot vectorize the scalar one (its bit reinterpretation), and
 * a call per element dominated the loss and the softmaxes. */
typedef float tk_v4f __attribute__((vector_size(16)));
typedef int32_t tk_v4i __attribute__((vector_size(16)));

/* Lanes of a where mask is set (all ones), else of b. */
static inline tk_v4f tk_v4_select(tk_v4i mask, tk_v4f a, tk_v4f b)
{
	return (tk_v4f)((mask & (tk_v4i)a) | (~mask & (tk_v4i)b));
}

static inline tk_v4f tk_v4_exp(tk_v4f x)
{
	const tk_v4f lo = {TK_EXP_LO, TK_EXP_LO, TK_EXP_LO, TK_EXP_LO};
	const tk_v4f hi = {TK_EXP_HI, TK_EXP_HI, TK_EXP_HI, TK_EXP_HI};
	tk_v4i below = x < lo, above = x > hi;
	const tk_v4f zero = {0}, inf = {INFINITY, INFINITY, INFINITY, INFINITY};
	tk_v4i nan = x != x;
	tk_v4f c = tk_v4_select(below, lo, tk_v4_select(above, hi, tk_v4_select(nan, zero, x)));
	tk_v4f fx = c * 1.44269504088896341f + 0.5f;
	tk_v4i n = __builtin_convertvector(fx, tk_v4i);
	n += __builtin_convertvector(n, tk_v4f) > fx; // −1 where truncation rounded up
	tk_v4f fn = __builtin_convertvector(n, tk_v4f);
	tk_v4f r = c - fn * 0.693359375f - fn * -2.12194440e-4f;
	tk_v4f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * (r * r) + r + 1.0f;
	tk_v4i big = n > 127;
	tk_v4f one = {1, 1, 1, 1}, two = one + one;
	tk_v4f twice = tk_v4_select(big, two, one);
	n = (tk_v4i)tk_v4_select(big, (tk_v4f)(n - n + 127), (tk_v4f)n);
	tk_v4f y = p * (tk_v4f)((n + 127) << 23) * twice;
	y = tk_v4_select(below, zero, y);
	y = tk_v4_select(above, inf, y);
	return tk_v4_select(nan, x, y);
}

/* y[i] = e^(x[i] − shift), in place allowed: the bits of tk_cpu_expf,
 * sixteen lanes at a time on AVX-512, else four (exp.c). */
void tk_cpu_exp_shifted(float *y, const float *x, size_t n, float shift);

#endif
