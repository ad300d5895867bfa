/* Private to kernels/: the backend object and the table of operations that
 * each backend fills, in the manner of ggml's backend interface.  Every
 * public name of kernels.h is a thin dispatcher (dispatch.c) calling
 * be->ops->NAME with the same arguments, so lib/ is written once and a
 * test can run one input through two backends.  lib/ never includes this
 * header; kernels/README.md says how to add a backend.
 *
 * Each operation has a function type tk_op_NAME, the signature of its
 * public name in kernels.h (see there for what it computes); a backend
 * declares its implementations with it (`tk_op_add tk_cpu_add;`), so the
 * compiler checks them against the table. */
#ifndef TK_KERNELS_BACKEND_OPS_H
#define TK_KERNELS_BACKEND_OPS_H

#include "kernels.h"

#include <stddef.h>
#include <stdint.h>

/* ---- The backend object ------------------------------------------------ */

/* Scratch memory of a backend (workspace.c): one block, grown to the most
 * a call has taken at once and reused by the next calls, so that kernels do
 * not allocate on every call.  Taken and released in stack order by the
 * calling thread, outside parallel regions; a kernel that wants per-thread
 * scratch takes one slice per thread (tk_workspace_slices) and each thread
 * uses its own.  A request that does not fit while earlier ones are live
 * gets a block of its own until they are released; the main block then
 * grows to fit them all next time. */
struct tk_workspace_block;
struct tk_workspace {
	unsigned char *base;  /* 64-byte aligned; NULL until first used */
	size_t size, used;    /* bytes */
	struct tk_workspace_block *extra; /* blocks of their own, newest first */
	size_t extra_bytes;   /* what they hold */
	size_t peak;          /* most bytes live at once since the block was last empty */
};

struct tk_backend {
	const struct tk_backend_ops *ops;
	int threads;
	int batch_invariant;
	size_t workspace;          /* tk_backend_set_workspace: bounds a chunked kernel's work */
	struct tk_workspace arena; /* where kernels' scratch comes from */
	char name[160];
	char error[512];           /* the last failure's message */
	void *state;               /* a backend's own (a GPU's handles); NULL on cpu and ref */
};

/* ---- Operation types: the signatures of kernels.h ----------------------- */

typedef int tk_op_open(tk_backend *be, int threads); /* fills threads, name, state */
typedef void tk_op_close(tk_backend *be);
typedef int tk_op_sync(tk_backend *be);

typedef void *tk_op_alloc(tk_backend *be, size_t bytes);
typedef void tk_op_free(tk_backend *be, void *p);
typedef void tk_op_zero(tk_backend *be, void *p, size_t bytes);
typedef void tk_op_copy(tk_backend *be, void *dst, const void *src, size_t bytes);

typedef int tk_op_matmul_forward(tk_backend *be, float *y, const float *x, const float *w,
				 const float *bias, size_t n, size_t in, size_t out,
				 int accumulate);
typedef size_t tk_op_matmul_packed_floats(tk_backend *be, size_t in, size_t out);
typedef void tk_op_matmul_pack(tk_backend *be, float *packed, const float *w, size_t in,
			       size_t out);
typedef int tk_op_matmul_forward_packed(tk_backend *be, float *y, const float *x,
					const float *packed, const float *bias, size_t n,
					size_t in, size_t out, int accumulate);
typedef int tk_op_matmul_pack_form(tk_backend *be, const float *w, size_t in, size_t out);
typedef size_t tk_op_matmul_packed_bytes(tk_backend *be, int form, size_t in, size_t out);
typedef int tk_op_matmul_pack_as(tk_backend *be, void *packed, int form, const float *w,
				 size_t in, size_t out);
typedef int tk_op_matmul_forward_packed_as(tk_backend *be, float *y, const float *x,
					   const void *packed, int form, const float *bias,
					   size_t n, size_t in, size_t out, int accumulate);
typedef int tk_op_matmul_forward_packed_many(tk_backend *be, const float *x, size_t n,
					     size_t in, const tk_matmul_job *jobs,
					     size_t count);
typedef size_t tk_op_matmul_packed_backward_floats(tk_backend *be, size_t in, size_t out);
typedef void tk_op_matmul_pack_backward(tk_backend *be, float *packed, const float *w,
					size_t in, size_t out);
typedef int tk_op_matmul_backward_packed(tk_backend *be, float *dx, const float *dy,
					 const float *packed, size_t n, size_t in, size_t out,
					 int accumulate_dx);
typedef int tk_op_matmul_backward_packed_as(tk_backend *be, float *dx, const float *dy,
					    const void *packed, int form, size_t n, size_t in,
					    size_t out, int accumulate_dx);
typedef int tk_op_matmul_backward(tk_backend *be, float *dx, float *dw, float *dbias,
				  const float *dy, const float *x, const float *w, size_t n,
				  size_t in, size_t out, int accumulate_dx);

typedef void tk_op_embedding_forward(tk_backend *be, float *y, const int32_t *tokens,
				     const float *table, size_t n, size_t c, size_t vocab);
typedef void tk_op_embedding_forward_packed(tk_backend *be, float *y, const int32_t *tokens,
					    const void *packed, int form, size_t n, size_t c,
					    size_t vocab);
typedef void tk_op_embedding_backward(tk_backend *be, float *dtable, const float *dy,
				      const int32_t *tokens, size_t n, size_t c, size_t vocab);
typedef void tk_op_rows_move(tk_backend *be, float *dst, const float *src,
			     const int32_t *rows, size_t n, size_t width);

typedef void tk_op_rmsnorm_forward(tk_backend *be, float *y, float *rstd, const float *x,
				   const float *w, size_t n, size_t c, float eps);
typedef void tk_op_rmsnorm_backward(tk_backend *be, float *dx, float *dw, const float *dy,
				    const float *x, const float *w, const float *rstd,
				    size_t n, size_t c, int accumulate);

typedef void tk_op_rope(tk_backend *be, float *y, const float *x, const int32_t *pos,
			const float *inv_freq, size_t n, size_t heads, size_t head_dim);
typedef void tk_op_rope_table(tk_backend *be, float *table, const int32_t *pos,
			      const float *inv_freq, size_t n, size_t head_dim);
typedef void tk_op_rope_with_table(tk_backend *be, float *y, const float *x,
				   const float *table, size_t n, size_t heads,
				   size_t head_dim);

typedef void tk_op_attention_cached_forward(tk_backend *be, float *out, const float *q,
					    const float *k_cache, const float *v_cache,
					    const int32_t *kv_row, const int32_t *pos, size_t n,
					    size_t heads, size_t kv_heads, size_t d, float scale,
					    size_t window);
typedef int tk_op_attention_packed_forward(tk_backend *be, float *out, float *lse,
					   const float *q, const float *k, const float *v,
					   const int32_t *cu_seqlens, size_t n_records, size_t n,
					   size_t heads, size_t kv_heads, size_t d, float scale,
					   size_t window);
typedef int tk_op_attention_packed_backward(tk_backend *be, float *dq, float *dk, float *dv,
					    const float *dout, const float *q, const float *k,
					    const float *v, const float *out, const float *lse,
					    const int32_t *cu_seqlens, size_t n_records, size_t n,
					    size_t heads, size_t kv_heads, size_t d, float scale,
					    size_t window, int form);

typedef void tk_op_swiglu_forward(tk_backend *be, float *out, const float *gate,
				  const float *up, size_t n);
typedef void tk_op_swiglu_backward(tk_backend *be, float *dgate, float *dup,
				   const float *dout, const float *gate, const float *up,
				   size_t n);
typedef void tk_op_softmax_forward(tk_backend *be, float *y, const float *x, size_t n,
				   size_t c);
typedef void tk_op_softmax_backward(tk_backend *be, float *dx, const float *dy,
				    const float *y, size_t n, size_t c);
typedef void tk_op_add(tk_backend *be, float *y, const float *a, const float *b, size_t n);
typedef void tk_op_axpy(tk_backend *be, float *y, float alpha, const float *x, size_t n);
typedef void tk_op_scale(tk_backend *be, float *y, const float *x, float alpha, size_t n);

typedef int tk_op_cross_entropy_fused(tk_backend *be, float *loss, float *logprob,
				      float *dh, float *dw, const float *h, const float *w,
				      const void *w_packed, const void *w_packed_backward,
				      int form, const int32_t *target, const float *weight, size_t n,
				      size_t c, size_t vocab);
typedef int tk_op_cross_entropy_soft_fused(tk_backend *be, float *loss, float *dh, float *dw,
					   const float *h, const float *w, const void *w_packed,
					   const void *w_packed_backward, int form, const int32_t *ids,
					   const float *q, size_t k, const float *weight, size_t n,
					   size_t c, size_t vocab);
typedef int tk_op_logsumexp_forward(tk_backend *be, float *lse, const float *logits,
				    size_t n, size_t vocab);

typedef void tk_op_adamw_step(tk_backend *be, float *param, const float *grad, float *m,
			      float *v, size_t n, const struct tk_adamw *opt, int64_t step);
typedef int tk_op_sumsq(tk_backend *be, float *acc, const float *x, size_t n);
typedef void tk_op_clip_by_norm(tk_backend *be, float *x, size_t n, const float *sumsq,
				float max_norm);
typedef int tk_op_allreduce_sum(tk_backend *be, float *x, size_t n);

/* ---- The table ----------------------------------------------------------- */

struct tk_backend_ops {
	const char *kind;            /* tk_backend_open's name for it */
	int always_batch_invariant;  /* ignores tk_backend_set_batch_invariant(be, 0) */

	tk_op_open *open;
	tk_op_close *close;          /* what open made; the object itself is freed after */
	tk_op_sync *sync;

	tk_op_alloc *alloc;          /* NULL when out of memory, with a message */
	tk_op_free *free;
	tk_op_zero *zero;
	tk_op_copy *copy_to_device, *copy_to_host, *copy_on_device;

	tk_op_matmul_forward *matmul_forward;
	tk_op_matmul_packed_floats *matmul_packed_floats;
	tk_op_matmul_pack *matmul_pack;
	tk_op_matmul_forward_packed *matmul_forward_packed;
	tk_op_matmul_pack_form *matmul_pack_form;
	tk_op_matmul_packed_bytes *matmul_packed_bytes;
	tk_op_matmul_pack_as *matmul_pack_as;
	tk_op_matmul_forward_packed_as *matmul_forward_packed_as;
	tk_op_matmul_forward_packed_many *matmul_forward_packed_many;
	tk_op_matmul_packed_backward_floats *matmul_packed_backward_floats;
	tk_op_matmul_pack_backward *matmul_pack_backward;
	tk_op_matmul_backward_packed *matmul_backward_packed;
	tk_op_matmul_backward_packed_as *matmul_backward_packed_as;
	tk_op_matmul_backward *matmul_backward;

	tk_op_embedding_forward *embedding_forward;
	tk_op_embedding_forward_packed *embedding_forward_packed;
	tk_op_embedding_backward *embedding_backward;
	tk_op_rows_move *rows_gather, *rows_scatter;

	tk_op_rmsnorm_forward *rmsnorm_forward;
	tk_op_rmsnorm_backward *rmsnorm_backward;

	tk_op_rope *rope_forward, *rope_backward;
	tk_op_rope_table *rope_table;
	tk_op_rope_with_table *rope_forward_table, *rope_backward_table;

	tk_op_attention_cached_forward *attention_cached_forward;
	tk_op_attention_packed_forward *attention_packed_forward;
	tk_op_attention_packed_backward *attention_packed_backward;

	tk_op_swiglu_forward *swiglu_forward;
	tk_op_swiglu_backward *swiglu_backward;
	tk_op_softmax_forward *softmax_forward;
	tk_op_softmax_backward *softmax_backward;
	tk_op_add *add;
	tk_op_axpy *axpy;
	tk_op_scale *scale;

	tk_op_cross_entropy_fused *cross_entropy_fused;
	tk_op_cross_entropy_soft_fused *cross_entropy_soft_fused;
	tk_op_logsumexp_forward *logsumexp_forward;

	tk_op_adamw_step *adamw_step;
	tk_op_sumsq *sumsq;
	tk_op_clip_by_norm *clip_by_norm;
	tk_op_allreduce_sum *allreduce_sum;  /* across ranks (data parallelism) */
};

/* The tables of the built-in backends (kernels/cpu/backend.c,
 * kernels/ref/backend.c). */
extern const struct tk_backend_ops tk_cpu_ops;
extern const struct tk_backend_ops tk_ref_ops;

/* ---- Shared by the backends (backend.c, workspace.c) -------------------- */

/* The all-reduce of backends whose memory is the host's (host_comm.c):
 * MPI in an MPI build, nothing otherwise. */
tk_op_allreduce_sum tk_host_allreduce_sum;

/* Records a failure's message in the backend (tk_backend_error) and returns
 * status, for `return tk_backend_fail(be, TK_KERNEL_ENOMEM, "...")`. */
int tk_backend_fail(tk_backend *be, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Passes a failure's message on to lib's error recorder (backend.c) and
 * returns status; TK_KERNEL_OK passes nothing. */
int tk_backend_report(tk_backend *be, int status);

/* Scratch from the backend's workspace, 64-byte aligned: NULL (and no
 * message) when out of memory.  Release everything taken since a mark. */
typedef struct tk_workspace_mark {
	size_t used;
	struct tk_workspace_block *extra;
	size_t extra_bytes;
} tk_workspace_mark;

tk_workspace_mark tk_workspace_mark_now(tk_backend *be);
void *tk_workspace_take(tk_backend *be, size_t bytes);
void tk_workspace_release(tk_backend *be, tk_workspace_mark mark);
void tk_workspace_free(tk_backend *be); /* at close */

/* Bytes of one per-thread slice of `bytes`, rounded up to whole cache lines
 * so that every slice starts 64-byte aligned and no two threads share a
 * line; tk_workspace_slices takes `count` of them. */
size_t tk_workspace_slice_bytes(size_t bytes);
void *tk_workspace_slices(tk_backend *be, size_t count, size_t bytes);

#endif
