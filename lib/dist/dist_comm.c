/* The collectives of tk_dist.h: identities on one rank, MPI on several.
 * MPI's default error handler (errors are fatal) aborts the whole job when
 * a collective fails, so a failure here never leaves a rank waiting. */
#include "tk_dist.h"

#include "dist_internal.h"
#include "kernels.h"
#include "tk_error.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef TK_MPI
#include <mpi.h>
#endif

void tk_dist_share_of(int rank, size_t n, size_t *first, size_t *count)
{
	size_t size = (size_t)tk_dist_now.size, r = (size_t)rank;
	size_t base = n / size, extra = n % size;
	*first = r * base + (r < extra ? r : extra);
	*count = base + (r < extra);
}

void tk_dist_share(size_t n, size_t *first, size_t *count)
{
	tk_dist_share_of(tk_dist_now.rank, n, first, count);
}

static int several(void)
{
	return tk_dist_now.mpi && tk_dist_now.size > 1;
}

#ifdef TK_MPI
/* MPI counts are ints: large buffers go in pieces. */
enum { PIECE = 1 << 28 };

static int mpi_failed(const char *what)
{
	return tk_fail(TK_ESOFTWARE, "MPI: %s failed", what);
}
#endif

int tk_dist_sum_doubles(double *x, size_t n)
{
	(void)x; // with one rank (and without MPI) the sums are x itself
	(void)n;
	if (!several())
		return TK_OK;
#ifdef TK_MPI
	for (size_t at = 0; at < n; at += PIECE) {
		int k = (int)(n - at < PIECE ? n - at : PIECE);
		if (MPI_Allreduce(MPI_IN_PLACE, x + at, k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD))
			return mpi_failed("MPI_Allreduce of sums");
	}
#endif
	return TK_OK;
}

int tk_dist_sum_grads(tk_backend *be, float *grad, size_t n)
{
	if (!several())
		return TK_OK;
	return tk_allreduce_sum(be, grad, n);
}

int tk_dist_bcast(void *buf, size_t bytes)
{
	(void)buf;
	(void)bytes;
	if (!several())
		return TK_OK;
#ifdef TK_MPI
	for (size_t at = 0; at < bytes; at += PIECE) {
		int k = (int)(bytes - at < PIECE ? bytes - at : PIECE);
		if (MPI_Bcast((char *)buf + at, k, MPI_BYTE, 0, MPI_COMM_WORLD))
			return mpi_failed("MPI_Bcast");
	}
#endif
	return TK_OK;
}

int tk_dist_barrier(void)
{
	if (!several())
		return TK_OK;
#ifdef TK_MPI
	if (MPI_Barrier(MPI_COMM_WORLD))
		return mpi_failed("MPI_Barrier");
#endif
	return TK_OK;
}

int tk_dist_agree_stop(int local_signal)
{
	int sig = local_signal;
#ifdef TK_MPI
	if (several() &&
	    MPI_Allreduce(&local_signal, &sig, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD)) {
		mpi_failed("MPI_Allreduce of the stop signal");
		MPI_Abort(MPI_COMM_WORLD, TK_ESOFTWARE);
	}
#endif
	if (sig)
		tk_dist_now.stop_agreed = 1;
	return sig;
}

#ifdef TK_MPI
/* Rank 0 receives each other rank's bytes after their size. */
static int gather_root(const void *mine, size_t bytes, char **all, size_t *total)
{
	int size = tk_dist_now.size;
	unsigned long long *sizes = calloc((size_t)size, sizeof *sizes), n = bytes;
	if (!sizes)
		return tk_fail(TK_EOSERR, "out of memory gathering %d ranks' sizes", size);
	if (MPI_Gather(&n, 1, MPI_UNSIGNED_LONG_LONG, sizes, 1, MPI_UNSIGNED_LONG_LONG, 0,
		       MPI_COMM_WORLD)) {
		free(sizes);
		return mpi_failed("MPI_Gather of sizes");
	}
	size_t sum = 0;
	for (int r = 0; r < size; r++)
		sum += (size_t)sizes[r];
	char *buf = malloc(sum ? sum : 1);
	if (!buf) {
		free(sizes);
		return tk_fail(TK_EOSERR, "out of memory gathering %zu bytes", sum);
	}
	if (bytes)
		memcpy(buf, mine, bytes);
	size_t at = bytes;
	int rc = TK_OK;
	for (int r = 1; r < size && !rc; at += (size_t)sizes[r++])
		for (size_t got = 0; got < sizes[r] && !rc; got += PIECE) {
			int k = (int)(sizes[r] - got < PIECE ? sizes[r] - got : PIECE);
			if (MPI_Recv(buf + at + got, k, MPI_BYTE, r, 0, MPI_COMM_WORLD,
				     MPI_STATUS_IGNORE))
				rc = mpi_failed("MPI_Recv of a rank's output");
		}
	free(sizes);
	if (rc) {
		free(buf);
		return rc;
	}
	*all = buf;
	*total = sum;
	return TK_OK;
}
#endif

int tk_dist_gather(const void *mine, size_t bytes, char **all, size_t *total)
{
	*all = NULL;
	*total = 0;
	if (!several()) {
		char *buf = malloc(bytes ? bytes : 1);
		if (!buf)
			return tk_fail(TK_EOSERR, "out of memory copying %zu bytes", bytes);
		if (bytes)
			memcpy(buf, mine, bytes);
		*all = buf;
		*total = bytes;
		return TK_OK;
	}
#ifdef TK_MPI
	if (tk_dist_now.rank == 0)
		return gather_root(mine, bytes, all, total);
	unsigned long long n = bytes;
	if (MPI_Gather(&n, 1, MPI_UNSIGNED_LONG_LONG, NULL, 0, MPI_UNSIGNED_LONG_LONG, 0,
		       MPI_COMM_WORLD))
		return mpi_failed("MPI_Gather of sizes");
	for (size_t sent = 0; sent < bytes; sent += PIECE) {
		int k = (int)(bytes - sent < PIECE ? bytes - sent : PIECE);
		if (MPI_Send((const char *)mine + sent, k, MPI_BYTE, 0, 0, MPI_COMM_WORLD))
			return mpi_failed("MPI_Send of this rank's output");
	}
#endif
	return TK_OK;
}
