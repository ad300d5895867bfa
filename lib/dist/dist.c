/* The job a process belongs to (tk_dist.h): rank and size from the
 * launcher, MPI started only when one is there, and the way out (abort
 * the job on a failure, finalize on a normal or agreed exit). */
#include "tk_dist.h"

#include "dist_internal.h"
#include "tk_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TK_MPI
#include <mpi.h>
#endif

tk_dist_state tk_dist_now = {.rank = 0, .size = 1, .local_rank = 0};

/* An integer environment variable, or -1 when unset or not a number. */
static int env_int(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return -1;
	char *end;
	long n = strtol(v, &end, 10);
	return *end || n < 0 || n > 1 << 24 ? -1 : (int)n;
}

/* What the launcher's variables say (-1 where they are silent).  Inside a
 * Slurm batch script tk runs as one process; srun's job step of several
 * tasks sets SLURM_STEP_NUM_TASKS and each task's SLURM_PROCID. */
static const char *launcher_env(int *rank, int *size)
{
	static const struct {
		const char *who, *rank, *size;
	} vars[] = {
		{"Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
		{"PMIx", "PMIX_RANK", NULL},
		{"PMI", "PMI_RANK", "PMI_SIZE"},
		{"Slurm", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS"},
	};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		*rank = env_int(vars[i].rank);
		*size = vars[i].size ? env_int(vars[i].size) : -1;
		int slurm = vars[i].size && strcmp(vars[i].who, "Slurm") == 0;
		if (slurm ? *size > 1 : *rank >= 0)
			return vars[i].who;
	}
	*rank = *size = -1;
	return NULL;
}

#ifdef TK_MPI
static void finalize_at_exit(void)
{
	int up = 0, down = 0;
	MPI_Initialized(&up);
	MPI_Finalized(&down);
	if (up && !down)
		MPI_Finalize();
}

static int start_mpi(void)
{
	int provided, rank, size;
	if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
		return tk_fail(TK_ESOFTWARE, "MPI_Init_thread failed");
	if (atexit(finalize_at_exit)) {
		MPI_Abort(MPI_COMM_WORLD, TK_EOSERR);
		return tk_fail(TK_EOSERR, "atexit: no room for MPI_Finalize");
	}
	MPI_Comm node;
	int local = 0;
	if (MPI_Comm_rank(MPI_COMM_WORLD, &rank) || MPI_Comm_size(MPI_COMM_WORLD, &size) ||
	    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) ||
	    MPI_Comm_rank(node, &local) || MPI_Comm_free(&node))
		return tk_fail(TK_ESOFTWARE, "MPI: cannot read this process's rank");
	tk_dist_now = (tk_dist_state){.rank = rank, .size = size, .local_rank = local, .mpi = 1};
	return TK_OK;
}
#endif

static int start(void)
{
	int rank, size;
	const char *who = launcher_env(&rank, &size);
	if (!who)
		return TK_OK;
#ifdef TK_MPI
	return start_mpi();
#else
	if (rank > 0 || size > 1)
		return tk_fail(TK_ECONFIG, "started by %s as rank %d of %d, but this tk was built "
			       "without MPI: every rank would run alone and write the same files; "
			       "rebuild with make MPI=1 (man tk-dist)", who, rank, size);
	return TK_OK;
#endif
}

int tk_dist_init(void)
{
	static int done, status;
	if (!done) {
		done = 1;
		status = start();
	}
	return status;
}

int tk_dist_rank(void) { return tk_dist_now.rank; }
int tk_dist_size(void) { return tk_dist_now.size; }
int tk_dist_local_rank(void) { return tk_dist_now.local_rank; }
int tk_dist_is_root(void) { return tk_dist_now.rank == 0; }
const char *tk_dist_transport(void) { return tk_dist_now.mpi ? "mpi" : "none"; }

void tk_dist_exit(int code)
{
#ifdef TK_MPI
	if (!tk_dist_now.mpi)
		return;
	int down = 0;
	MPI_Finalized(&down);
	if (down)
		return;
	if (tk_dist_now.size == 1 || (code == TK_ETEMPFAIL && tk_dist_now.stop_agreed)) {
		/* every rank comes here at the same step: rank 0's checkpoint is
		 * whole once all have arrived */
		MPI_Barrier(MPI_COMM_WORLD);
		MPI_Finalize();
		return;
	}
	fflush(stderr);
	MPI_Abort(MPI_COMM_WORLD, code);
#else
	(void)code;
#endif
}
