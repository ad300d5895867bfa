/* Private to the reference backend (kernels/ref/): plain C written to be
 * read, the definition of each kernel as kernels.h states it.  Straight
 * loops over the outputs, sums in double, no BLAS, no SIMD intrinsics, no
 * threads; other backends are tested against it, never for speed.
 *
 * Choices that keep it simple and within kernels.h's contracts:
 *   - packed weights are float32 copies of W (out, in), whatever the form
 *     asked: tk_matmul_pack_form gives TK_PACK_F32, and packing in another
 *     form reports a misfit (0);
 *   - every kernel is batch invariant (a row's loops never look at other
 *     rows), whatever tk_backend_set_batch_invariant says;
 *   - one thread; memory is the host's (aligned_alloc, memcpy). */
#ifndef TK_KERNELS_REF_H
#define TK_KERNELS_REF_H

#include "backend_ops.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Largest head dimension: a query's output accumulates on the stack (the
 * cpu backend's limit too, which lib checks at model load). */
#define TK_REF_MAX_HEAD_DIM 256

/* Σ a[k]·b[k] over k < n, in double, in order. */
static inline double tk_ref_dot(const float *a, const float *b, size_t n)
{
	double s = 0.0;
	for (size_t k = 0; k < n; k++)
		s += (double)a[k] * (double)b[k];
	return s;
}

/* f rounded to bf16 (nearest, ties to even; NaN kept), as a float. */
static inline float tk_ref_bf16_round(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	if ((u & 0x7fffffffu) <= 0x7f800000u)
		u = (u + 0x7fffu + (u >> 16 & 1u)) & 0xffff0000u;
	memcpy(&f, &u, sizeof f);
	return f;
}

tk_op_sync tk_ref_sync;
tk_op_alloc tk_ref_alloc;
tk_op_free tk_ref_free;
tk_op_zero tk_ref_zero;
tk_op_copy tk_ref_copy_to_device, tk_ref_copy_to_host, tk_ref_copy_on_device;
tk_op_matmul_forward tk_ref_matmul_forward;
tk_op_matmul_packed_floats tk_ref_matmul_packed_floats;
tk_op_matmul_pack tk_ref_matmul_pack;
tk_op_matmul_forward_packed tk_ref_matmul_forward_packed;
tk_op_matmul_pack_form tk_ref_matmul_pack_form;
tk_op_matmul_packed_bytes tk_ref_matmul_packed_bytes;
tk_op_matmul_pack_as tk_ref_matmul_pack_as;
tk_op_matmul_forward_packed_as tk_ref_matmul_forward_packed_as;
tk_op_matmul_forward_packed_many tk_ref_matmul_forward_packed_many;
tk_op_matmul_packed_backward_floats tk_ref_matmul_packed_backward_floats;
tk_op_matmul_pack_backward tk_ref_matmul_pack_backward;
tk_op_matmul_backward_packed tk_ref_matmul_backward_packed;
tk_op_matmul_backward_packed_as tk_ref_matmul_backward_packed_as;
tk_op_matmul_backward tk_ref_matmul_backward;
tk_op_embedding_forward tk_ref_embedding_forward;
tk_op_embedding_forward_packed tk_ref_embedding_forward_packed;
tk_op_embedding_backward tk_ref_embedding_backward;
tk_op_rows_move tk_ref_rows_gather, tk_ref_rows_scatter;
tk_op_rmsnorm_forward tk_ref_rmsnorm_forward;
tk_op_rmsnorm_backward tk_ref_rmsnorm_backward;
tk_op_rope tk_ref_rope_forward, tk_ref_rope_backward;
tk_op_rope_table tk_ref_rope_table;
tk_op_rope_with_table tk_ref_rope_forward_table, tk_ref_rope_backward_table;
tk_op_attention_cached_forward tk_ref_attention_cached_forward;
tk_op_attention_packed_forward tk_ref_attention_packed_forward;
tk_op_attention_packed_backward tk_ref_attention_packed_backward;
tk_op_swiglu_forward tk_ref_swiglu_forward;
tk_op_swiglu_backward tk_ref_swiglu_backward;
tk_op_softmax_forward tk_ref_softmax_forward;
tk_op_softmax_backward tk_ref_softmax_backward;
tk_op_add tk_ref_add;
tk_op_axpy tk_ref_axpy;
tk_op_scale tk_ref_scale;
tk_op_cross_entropy_fused tk_ref_cross_entropy_fused;
tk_op_cross_entropy_soft_fused tk_ref_cross_entropy_soft_fused;
tk_op_logsumexp_forward tk_ref_logsumexp_forward;
tk_op_adamw_step tk_ref_adamw_step;
tk_op_sumsq tk_ref_sumsq;
tk_op_clip_by_norm tk_ref_clip_by_norm;

#endif
