/* Data parallelism: the ranks of a job that mpirun or srun started, and
 * the few collectives the trainers and the shardable commands need.
 *
 *   tk_dist_init();                        // after tk_cli_init; MPI only when launched
 *   if (tk_dist_is_root()) write metrics, checkpoints, outputs;
 *   tk_dist_share(n, &first, &count);      // this rank's part of n items
 *   tk_dist_sum_doubles(sums, k);          // every rank gets the totals
 *   sig = tk_dist_agree_stop(tk_run_stop_signal());   // at a step boundary
 *
 * A plain build (no MPI=1) and a process no launcher started are one rank
 * of one: every call below is then immediate and changes nothing.  With
 * MPI=1, MPI is initialized only when the environment shows a launcher
 * (Open MPI's OMPI_COMM_WORLD_*, PMIx's PMIX_RANK, PMI's PMI_RANK, or a
 * Slurm job step of several tasks); rank, size and local rank then come
 * from MPI itself.
 *
 * Failing together: tk_die (lib/cli) calls tk_dist_exit, which aborts the
 * whole job (MPI_Abort) when one rank fails, so no rank is left waiting in
 * a collective.  A stop agreed by tk_dist_agree_stop is the exception:
 * every rank exits with the same status after a barrier (the checkpoint
 * rank 0 wrote is complete), and the launcher sees that status (75).
 * See man/tk-dist.7. */
#ifndef TK_DIST_H
#define TK_DIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct tk_backend tk_backend;

/* Reads the launcher's environment and, in an MPI build launched as a job,
 * initializes MPI.  TK_ECONFIG (with a message) when a plain build was
 * launched as one rank of several (each would train alone and write the
 * same files); TK_ESOFTWARE when MPI fails to start.  Later calls return
 * the first one's status. */
int tk_dist_init(void);

int tk_dist_rank(void);        /* 0 .. size-1 */
int tk_dist_size(void);        /* ranks of the job (1 without a launcher) */
int tk_dist_local_rank(void);  /* rank among those on this node (a GPU index) */
int tk_dist_is_root(void);     /* rank 0: the one that writes */
/* "mpi" when MPI is running, else "none". */
const char *tk_dist_transport(void);

/* This rank's part of n items in order: a contiguous block, the first
 * n % size ranks one longer; disjoint and covering 0..n-1. */
void tk_dist_share(size_t n, size_t *first, size_t *count);
/* The same for any rank. */
void tk_dist_share_of(int rank, size_t n, size_t *first, size_t *count);

/* In place, the element-wise sum over the ranks (every rank gets it). */
int tk_dist_sum_doubles(double *x, size_t n);
/* The gradients' sum over the ranks, in backend memory, through the
 * backend's all-reduce (kernels.h: tk_allreduce_sum). */
int tk_dist_sum_grads(tk_backend *be, float *grad, size_t n);
/* Rank 0's bytes to every rank. */
int tk_dist_bcast(void *buf, size_t bytes);
int tk_dist_barrier(void);

/* Rank 0 gets every rank's bytes, in rank order, in *all (malloc'd, *total
 * bytes); other ranks get NULL and 0.  The other ranks only send. */
int tk_dist_gather(const void *mine, size_t bytes, char **all, size_t *total);

/* A sharded command's output (dist_lines.c): each rank adds its lines in
 * order; flush gathers them and rank 0 alone calls write with all of them,
 * rank by rank (input order when ranks hold contiguous blocks).  Every
 * rank must flush; the buffer is freed. */
typedef struct tk_dist_lines {
	char *buf;
	size_t n, cap;
} tk_dist_lines;
typedef int (*tk_dist_write_fn)(void *ctx, const char *bytes, size_t n);
int tk_dist_lines_add(tk_dist_lines *l, const void *bytes, size_t n);
int tk_dist_lines_flush(tk_dist_lines *l, tk_dist_write_fn write, void *ctx);
void tk_dist_lines_free(tk_dist_lines *l);

/* A trainer step's results (tk_train.h) and its token count summed over
 * the ranks (lib/train's tk_batch_run calls it after the rank's share). */
struct tk_train_result;
int tk_dist_sum_result(struct tk_train_result *r, size_t *tokens);

/* tk-rl (tk_rl.h): a step's statistics (and the records' tokens, the
 * loss's denominator) and an update's results summed over the ranks. */
struct tk_rl_step_stats;
struct tk_rl_update_result;
int tk_dist_sum_rl_step(struct tk_rl_step_stats *st, double *tokens);
int tk_dist_sum_rl_update(struct tk_rl_update_result *r);

/* The stop decision at a step boundary: the largest signal any rank has
 * seen (0: go on).  Every rank must call it at the same boundary. */
int tk_dist_agree_stop(int local_signal);

/* Called by tk_die before exit(code): with several ranks, a failure aborts
 * the job with code; an agreed stop waits for the others and finalizes. */
void tk_dist_exit(int code);

#endif
