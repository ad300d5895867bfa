/* The CPU backend: its table of operations, thread settings, memory and
 * copies.  Memory is plain host memory, so the copies are memcpy; they
 * exist so that lib/ is written once for every backend. */
#include "cpu.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from the
 * CPU model when it loads, and falls back to SSE3 "Prescott" kernels for a
 * model newer than itself: 0.3.21 on an Emerald Rapids server runs sgemm 7x
 * below the machine's peak.  Unless the user chose with OPENBLAS_CORETYPE,
 * re-pick the kernels from the CPU's features through OpenBLAS's own
 * initializer.  Weak: absent from other BLAS builds, and then skipped. */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

static const char *core_for_cpu(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512cd"))
		return "SkylakeX";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "Haswell";
	return NULL;
}

static void openblas_fix_core(void)
{
	const char *now = openblas_get_corename(), *want = core_for_cpu();
	int generic = strcmp(now, "Prescott") == 0 || strcmp(now, "Core2") == 0 ||
		      strcmp(now, "Nehalem") == 0;
	if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit || !generic || !want ||
	    getenv("OPENBLAS_CORETYPE"))
		return;
	/* The initializer reads the choice from the environment only. */
	setenv("OPENBLAS_CORETYPE", want, 1);
	gotoblas_dynamic_quit();
	gotoblas_dynamic_init();
	unsetenv("OPENBLAS_CORETYPE");
}

static int cpu_open(tk_backend *be, int threads)
{
	be->threads = threads ? threads : omp_get_num_procs();
	/* All parallelism is ours (OpenMP); each sgemm runs on the thread
	 * that calls it, so OpenBLAS never adds threads of its own. */
	openblas_fix_core();
	openblas_set_num_threads(1);
	omp_set_num_threads(be->threads);
	/* OPENBLAS_VERSION is " OpenBLAS 0.3.21 ", spaces included. */
	snprintf(be->name, sizeof be->name, "cpu:%s(%s), %d thread%s",
		 OPENBLAS_VERSION, openblas_get_corename(), be->threads,
		 be->threads == 1 ? "" : "s");
	return TK_KERNEL_OK;
}

static void cpu_close(tk_backend *be) { (void)be; }

int tk_cpu_sync(tk_backend *be)
{
	(void)be;
	return TK_KERNEL_OK;
}

void *tk_cpu_alloc(tk_backend *be, size_t bytes)
{
	/* aligned_alloc wants a multiple of the alignment. */
	size_t rounded = (bytes + 63) / 64 * 64;
	void *p = aligned_alloc(64, rounded ? rounded : 64);
	if (!p)
		tk_backend_fail(be, TK_KERNEL_ENOMEM,
				"out of memory allocating %zu bytes of backend memory", bytes);
	return p;
}

void tk_cpu_free(tk_backend *be, void *p)
{
	(void)be;
	free(p);
}

void tk_cpu_zero(tk_backend *be, void *p, size_t bytes)
{
	(void)be;
	if (bytes)
		memset(p, 0, bytes);
}

void tk_cpu_copy_to_device(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memcpy(dst, src, bytes);
}

void tk_cpu_copy_to_host(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memcpy(dst, src, bytes);
}

void tk_cpu_copy_on_device(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memmove(dst, src, bytes);
}

const struct tk_backend_ops tk_cpu_ops = {
	.kind = "cpu",
	.always_batch_invariant = 0,
	.open = cpu_open,
	.close = cpu_close,
	.sync = tk_cpu_sync,
	.alloc = tk_cpu_alloc,
	.free = tk_cpu_free,
	.zero = tk_cpu_zero,
	.copy_to_device = tk_cpu_copy_to_device,
	.copy_to_host = tk_cpu_copy_to_host,
	.copy_on_device = tk_cpu_copy_on_device,
	.matmul_forward = tk_cpu_matmul_forward,
	.matmul_packed_floats = tk_cpu_matmul_packed_floats,
	.matmul_pack = tk_cpu_matmul_pack,
	.matmul_forward_packed = tk_cpu_matmul_forward_packed,
	.matmul_pack_form = tk_cpu_matmul_pack_form,
	.matmul_packed_bytes = tk_cpu_matmul_packed_bytes,
	.matmul_pack_as = tk_cpu_matmul_pack_as,
	.matmul_forward_packed_as = tk_cpu_matmul_forward_packed_as,
	.matmul_forward_packed_many = tk_cpu_matmul_forward_packed_many,
	.matmul_packed_backward_floats = tk_cpu_matmul_packed_backward_floats,
	.matmul_pack_backward = tk_cpu_matmul_pack_backward,
	.matmul_backward_packed = tk_cpu_matmul_backward_packed,
	.matmul_backward_packed_as = tk_cpu_matmul_backward_packed_as,
	.matmul_backward = tk_cpu_matmul_backward,
	.embedding_forward = tk_cpu_embedding_forward,
	.embedding_forward_packed = tk_cpu_embedding_forward_packed,
	.embedding_backward = tk_cpu_embedding_backward,
	.rows_gather = tk_cpu_rows_gather,
	.rows_scatter = tk_cpu_rows_scatter,
	.rmsnorm_forward = tk_cpu_rmsnorm_forward,
	.rmsnorm_backward = tk_cpu_rmsnorm_backward,
	.rope_forward = tk_cpu_rope_forward,
	.rope_backward = tk_cpu_rope_backward,
	.rope_table = tk_cpu_rope_table,
	.rope_forward_table = tk_cpu_rope_forward_table,
	.rope_backward_table = tk_cpu_rope_backward_table,
	.attention_cached_forward = tk_cpu_attention_cached_forward,
	.attention_packed_forward = tk_cpu_attention_packed_forward,
	.attention_packed_backward = tk_cpu_attention_packed_backward,
	.swiglu_forward = tk_cpu_swiglu_forward,
	.swiglu_backward = tk_cpu_swiglu_backward,
	.softmax_forward = tk_cpu_softmax_forward,
	.softmax_backward = tk_cpu_softmax_backward,
	.add = tk_cpu_add,
	.axpy = tk_cpu_axpy,
	.scale = tk_cpu_scale,
	.cross_entropy_fused = tk_cpu_cross_entropy_fused,
	.cross_entropy_soft_fused = tk_cpu_cross_entropy_soft_fused,
	.logsumexp_forward = tk_cpu_logsumexp_forward,
	.adamw_step = tk_cpu_adamw_step,
	.sumsq = tk_cpu_sumsq,
	.clip_by_norm = tk_cpu_clip_by_norm,
	.allreduce_sum = tk_host_allreduce_sum,
};
