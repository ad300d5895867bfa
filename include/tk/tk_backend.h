/* A compute backend: where tk's models run and their memory lives.  Open
 * one, hand it to tk_forward_open or tk_train_open, close it after them.
 *
 *   tk_backend *be;
 *   if (tk_backend_open(&be, "cpu", 0))      // 0 threads: all cores
 *           die(tk_error_message());
 *   ...
 *   tk_backend_close(be);
 *
 * The kernels behind it (kernels/kernels.h) are not part of the public
 * API. */
#ifndef TK_BACKEND_H
#define TK_BACKEND_H

#include <stddef.h>

typedef struct tk_backend tk_backend;

/* Opens a backend of the given kind ("cpu"; "cuda" once it exists) using
 * `threads` threads (0: all cores).  OpenBLAS runs single-threaded inside
 * OpenMP work shares, so the two never oversubscribe the cores.  When an
 * OpenBLAS older than the CPU fell back to generic kernels, the cpu backend
 * re-picks them from the CPU's features (AVX-512 or AVX2) unless
 * OPENBLAS_CORETYPE is set.  Open backends from one thread, before other
 * threads use the environment. */
int tk_backend_open(tk_backend **out, const char *kind, int threads);
void tk_backend_close(tk_backend *be);

/* "cpu: OpenBLAS 0.3.21 (SkylakeX), 8 threads": for logs and reports. */
const char *tk_backend_name(const tk_backend *be);
int tk_backend_threads(const tk_backend *be);

/* Batch-invariant forward kernels (default on); see above. */
void tk_backend_set_batch_invariant(tk_backend *be, int on);
int tk_backend_batch_invariant(const tk_backend *be);

/* Working memory a kernel may take for itself (fused cross-entropy's logits
 * chunk); default 16 MiB.  Smaller means more, smaller chunks. */
void tk_backend_set_workspace(tk_backend *be, size_t bytes);

/* Waits for queued work and reports a deferred failure (GPU); TK_OK on CPU. */
int tk_backend_sync(tk_backend *be);

#endif
