/* The reference backend's table, and its memory: host memory from
 * aligned_alloc, copies by memcpy. */
#include "ref.h"

#include <stdio.h>
#include <stdlib.h>

static int ref_open(tk_backend *be, int threads)
{
	(void)threads; // one thread, whatever is asked
	be->threads = 1;
	snprintf(be->name, sizeof be->name, "ref: plain C, 1 thread");
	return TK_KERNEL_OK;
}

static void ref_close(tk_backend *be) { (void)be; }

int tk_ref_sync(tk_backend *be)
{
	(void)be;
	return TK_KERNEL_OK;
}

void *tk_ref_alloc(tk_backend *be, size_t bytes)
{
	size_t rounded = (bytes + 63) / 64 * 64; // aligned_alloc wants whole alignments
	void *p = aligned_alloc(64, rounded ? rounded : 64);
	if (!p)
		tk_backend_fail(be, TK_KERNEL_ENOMEM,
				"out of memory allocating %zu bytes of backend memory", bytes);
	return p;
}

void tk_ref_free(tk_backend *be, void *p)
{
	(void)be;
	free(p);
}

void tk_ref_zero(tk_backend *be, void *p, size_t bytes)
{
	(void)be;
	if (bytes)
		memset(p, 0, bytes);
}

void tk_ref_copy_to_device(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memcpy(dst, src, bytes);
}

void tk_ref_copy_to_host(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memcpy(dst, src, bytes);
}

void tk_ref_copy_on_device(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memmove(dst, src, bytes);
}

const struct tk_backend_ops tk_ref_ops = {
	.kind = "ref",
	.always_batch_invariant = 1,
	.open = ref_open,
	.close = ref_close,
	.sync = tk_ref_sync,
	.alloc = tk_ref_alloc,
	.free = tk_ref_free,
	.zero = tk_ref_zero,
	.copy_to_device = tk_ref_copy_to_device,
	.copy_to_host = tk_ref_copy_to_host,
	.copy_on_device = tk_ref_copy_on_device,
	.matmul_forward = tk_ref_matmul_forward,
	.matmul_packed_floats = tk_ref_matmul_packed_floats,
	.matmul_pack = tk_ref_matmul_pack,
	.matmul_forward_packed = tk_ref_matmul_forward_packed,
	.matmul_pack_form = tk_ref_matmul_pack_form,
	.matmul_packed_bytes = tk_ref_matmul_packed_bytes,
	.matmul_pack_as = tk_ref_matmul_pack_as,
	.matmul_forward_packed_as = tk_ref_matmul_forward_packed_as,
	.matmul_forward_packed_many = tk_ref_matmul_forward_packed_many,
	.matmul_packed_backward_floats = tk_ref_matmul_packed_backward_floats,
	.matmul_pack_backward = tk_ref_matmul_pack_backward,
	.matmul_backward_packed = tk_ref_matmul_backward_packed,
	.matmul_backward_packed_as = tk_ref_matmul_backward_packed_as,
	.matmul_backward = tk_ref_matmul_backward,
	.embedding_forward = tk_ref_embedding_forward,
	.embedding_forward_packed = tk_ref_embedding_forward_packed,
	.embedding_backward = tk_ref_embedding_backward,
	.rows_gather = tk_ref_rows_gather,
	.rows_scatter = tk_ref_rows_scatter,
	.rmsnorm_forward = tk_ref_rmsnorm_forward,
	.rmsnorm_backward = tk_ref_rmsnorm_backward,
	.rope_forward = tk_ref_rope_forward,
	.rope_backward = tk_ref_rope_backward,
	.rope_table = tk_ref_rope_table,
	.rope_forward_table = tk_ref_rope_forward_table,
	.rope_backward_table = tk_ref_rope_backward_table,
	.attention_cached_forward = tk_ref_attention_cached_forward,
	.attention_packed_forward = tk_ref_attention_packed_forward,
	.attention_packed_backward = tk_ref_attention_packed_backward,
	.swiglu_forward = tk_ref_swiglu_forward,
	.swiglu_backward = tk_ref_swiglu_backward,
	.softmax_forward = tk_ref_softmax_forward,
	.softmax_backward = tk_ref_softmax_backward,
	.add = tk_ref_add,
	.axpy = tk_ref_axpy,
	.scale = tk_ref_scale,
	.cross_entropy_fused = tk_ref_cross_entropy_fused,
	.cross_entropy_soft_fused = tk_ref_cross_entropy_soft_fused,
	.logsumexp_forward = tk_ref_logsumexp_forward,
	.adamw_step = tk_ref_adamw_step,
	.sumsq = tk_ref_sumsq,
	.clip_by_norm = tk_ref_clip_by_norm,
	.allreduce_sum = tk_host_allreduce_sum,
};
