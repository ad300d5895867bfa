/* Products where only speed matters (the backward, and the forward when the
 * backend is not batch invariant): one big sgemm slab per thread.  OpenBLAS
 * is set to one thread (backend.c); this runs it inside an OpenMP work
 * share, one call per thread. */
#include "cpu.h"

#include <cblas.h>

void tk_cpu_gemm(tk_backend *be, int trans_a, int trans_b, size_t m,
		 size_t n, size_t k, const float *a, size_t lda,
		 const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
	if (m == 0 || n == 0)
		return;
	size_t parts = (size_t)be->threads;
	/* Split rows when each thread gets a useful slab, else columns. */
	int by_rows = m >= 16 * parts || m >= n;
	size_t len = by_rows ? m : n;
	size_t step = (len + parts - 1) / parts;
	step = (step + 15) / 16 * 16;
	size_t slabs = (len + step - 1) / step;
#pragma omp parallel for schedule(static) num_threads(be->threads) if (slabs > 1)
	for (size_t s = 0; s < slabs; s++) {
		size_t lo = s * step, cnt = len - lo < step ? len - lo : step;
		const float *as = a, *bs = b;
		float *cs = c;
		size_t ms = m, ns = n;
		if (by_rows) {
			as = trans_a ? a + lo : a + lo * lda;
			cs = c + lo * ldc;
			ms = cnt;
		} else {
			bs = trans_b ? b + lo * ldb : b + lo;
			cs = c + lo;
			ns = cnt;
		}
		cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
			    trans_b ? CblasTrans : CblasNoTrans, (blasint)ms,
			    (blasint)ns, (blasint)k, 1.0f, as, (blasint)lda, bs,
			    (blasint)ldb, beta, cs, (blasint)ldc);
	}
}
