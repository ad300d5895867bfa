/* The all-reduce of the backends whose memory is the host's (cpu, ref):
 * MPI_Allreduce over MPI_COMM_WORLD when tk is built with MPI (MPI=1) and
 * MPI is running, nothing otherwise.  A GPU backend has its own (NCCL on
 * its stream, man/tk-dist.7). */
#include "backend_ops.h"

#ifdef TK_MPI
#include <mpi.h>
#endif

int tk_host_allreduce_sum(tk_backend *be, float *x, size_t n)
{
#ifdef TK_MPI
	int up = 0;
	MPI_Initialized(&up);
	if (!up)
		return TK_KERNEL_OK;
	/* MPI counts are ints: pieces of 2^28 floats.  The replicas stay
	 * identical only if every rank gets the same bits: with two ranks
	 * a + b = b + a; for more, MPI asks implementations for the same
	 * result everywhere, and Open MPI's ring and tree all-reduces pass one
	 * reduced copy on (man/tk-dist.7 says what to do where one does not). */
	for (size_t at = 0; at < n; at += (size_t)1 << 28) {
		size_t k = n - at < (size_t)1 << 28 ? n - at : (size_t)1 << 28;
		if (MPI_Allreduce(MPI_IN_PLACE, x + at, (int)k, MPI_FLOAT, MPI_SUM,
				  MPI_COMM_WORLD) != MPI_SUCCESS)
			return tk_backend_fail(be, TK_KERNEL_ESOFTWARE, "MPI_Allreduce of %zu "
					       "floats failed", k);
	}
#else
	(void)be;
	(void)x;
	(void)n;
#endif
	return TK_KERNEL_OK;
}
