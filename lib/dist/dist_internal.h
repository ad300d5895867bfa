/* The process's place in its job, shared by lib/dist's files. */
#ifndef TK_DIST_INTERNAL_H
#define TK_DIST_INTERNAL_H

typedef struct tk_dist_state {
	int rank, size, local_rank;
	int mpi;           /* MPI initialized by tk_dist_init */
	int stop_agreed;   /* tk_dist_agree_stop returned a signal */
} tk_dist_state;

extern tk_dist_state tk_dist_now;

#endif
