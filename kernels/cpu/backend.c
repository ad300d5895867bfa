/* The CPU backend: thread settings, memory and copies.  Memory is plain
 * host memory, so the copies are memcpy; they exist so that lib/ is
 * written once for every backend. */
#include "cpu.h"

#include "tk_error.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_WORKSPACE ((size_t)16 << 20)

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

int tk_backend_open(tk_backend **out, const char *kind, int threads)
{
	*out = NULL;
	if (strcmp(kind, "cpu") != 0)
		return tk_fail(TK_ECONFIG, "backend \"%s\" is not built in (this build has: cpu)", kind);
	if (threads < 0)
		return tk_fail(TK_EUSAGE, "thread count %d is negative", threads);
	tk_backend *be = tk_calloc(1, sizeof *be);
	if (!be)
		return TK_EOSERR;
	be->threads = threads ? threads : omp_get_num_procs();
	be->batch_invariant = 1;
	be->workspace = DEFAULT_WORKSPACE;
	/* All parallelism is ours (OpenMP); each sgemm runs on the thread
	 * that calls it, so OpenBLAS never adds threads of its own. */
	openblas_fix_core();
	openblas_set_num_threads(1);
	omp_set_num_threads(be->threads);
	/* OPENBLAS_VERSION is " OpenBLAS 0.3.21 ", spaces included. */
	snprintf(be->name, sizeof be->name, "cpu:%s(%s), %d thread%s",
		 OPENBLAS_VERSION, openblas_get_corename(), be->threads,
		 be->threads == 1 ? "" : "s");
	*out = be;
	return TK_OK;
}

void tk_backend_close(tk_backend *be) { free(be); }

const char *tk_backend_name(const tk_backend *be) { return be->name; }

int tk_backend_threads(const tk_backend *be) { return be->threads; }

void tk_backend_set_batch_invariant(tk_backend *be, int on)
{
	be->batch_invariant = on != 0;
}

int tk_backend_batch_invariant(const tk_backend *be) { return be->batch_invariant; }

void tk_backend_set_workspace(tk_backend *be, size_t bytes) { be->workspace = bytes; }

int tk_backend_sync(tk_backend *be)
{
	(void)be;
	return TK_OK;
}

void *tk_backend_alloc(tk_backend *be, size_t bytes)
{
	(void)be;
	/* aligned_alloc wants a multiple of the alignment. */
	size_t rounded = (bytes + 63) / 64 * 64;
	void *p = aligned_alloc(64, rounded ? rounded : 64);
	if (!p)
		tk_fail(TK_EOSERR, "out of memory allocating %zu bytes of backend memory", bytes);
	return p;
}

void tk_backend_free(tk_backend *be, void *p)
{
	(void)be;
	free(p);
}

void tk_backend_zero(tk_backend *be, void *p, size_t bytes)
{
	(void)be;
	if (bytes)
		memset(p, 0, bytes);
}

void tk_copy_to_device(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memcpy(dst, src, bytes);
}

void tk_copy_to_host(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memcpy(dst, src, bytes);
}

void tk_copy_on_device(tk_backend *be, void *dst, const void *src, size_t bytes)
{
	(void)be;
	if (bytes)
		memmove(dst, src, bytes);
}
