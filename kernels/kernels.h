/* kernels.h — the compute kernels behind tk's models, one header for every
 * backend.  lib/ calls only these; kernels/ knows nothing of models, files
 * or options, and includes nothing of lib/ but include/tk/tk_backend.h.
 *
 * Backends.  A backend is a table of operations (kernels/backend_ops.h, in
 * the manner of ggml's backend interface): one function pointer per kernel
 * below, plus memory, copies and sync.  Each name here is a thin dispatcher
 * (kernels/dispatch.c) calling the table of the backend it is given, so
 * lib/ is written once and one binary holds every backend;
 * tk_backend_open picks the table by its kind:
 *   "cpu"  kernels/cpu/: OpenBLAS, SIMD (AVX-512, AVX2, portable C) and
 *          OpenMP; batch invariant by its own product (below).  The default.
 *   "ref"  kernels/ref/: plain C written for clarity (straight loops,
 *          float64 sums, no BLAS, SIMD or threads); the other backends are
 *          tested against it (tests/unit/test_backends*.c).  Always batch
 *          invariant; holds packed weights as float32 copies.
 * The CUDA twin (kernels/cuda/) will be a third table; kernels/README.md
 * says how to add one.  A backend is used by one thread at a time.
 *
 * Memory.  Every float and int32 array a kernel takes is backend memory:
 * allocated with tk_backend_alloc and filled with tk_copy_to_device (on the
 * CPU these are plain memory and memcpy; on a GPU they are device pointers).
 * Sizes are always passed explicitly; no kernel calls back into lib.  The
 * few host-side helpers (tk_rope_inv_freq, tk_exp_weights) are marked
 * "host": they take host memory and no backend, and live in kernels/cpu/.
 *
 * Layouts are row-major and written as shape comments, e.g. (N, H, D):
 * N tokens (a batch flattened to rows), H heads, D head dimension.
 *
 * Conventions (STYLE.md): forward and backward come in same-named pairs with
 * the same argument order; parameter gradients accumulate (+=) and
 * activation gradients are assigned, except where a kernel takes an
 * `accumulate` flag (the places where several products feed one input).
 * Unless a kernel says "in place allowed", outputs must not overlap inputs.
 *
 * Batch invariance.  Forward kernels compute every row (token) with the
 * same sequence of floating-point operations whatever else is in the batch,
 * so one sequence's output does not depend on batch composition (sampling
 * with --batch 1 or 64 gives the same bits; RL samples can be re-scored
 * exactly).  BLAS libraries do not promise that (OpenBLAS changes a row's
 * bits with the number of rows), so matmul and the loss's logits use the
 * cpu backend's own product, which computes every element as one chain of
 * fused multiply-adds over k in order: the same bits whatever the rows,
 * the threads and the instruction set (AVX-512, AVX2 or portable C).
 * With W packed beforehand (tk_matmul_pack, as the forward does) it runs
 * at matrix-vector speed for one row (5x OpenBLAS's sgemm) and about
 * OpenBLAS's speed at 64 rows, 0.8x at 512 (AVX-512, one core,
 * scripts/bench/matmul.sh); unpacked W is packed a panel at a time on every
 * call, which costs little with many rows and much with few.
 * tk_backend_set_batch_invariant(be, 0) trades
 * invariance for training throughput (OpenBLAS, sgemm-blocked attention):
 * bits then depend on the batch shape and thread count, but a run with the
 * same shapes and threads repeats exactly.  Bits differ between backends.
 *
 * Errors.  Kernels that may need working memory return a status (enum
 * tk_kernel_status: TK_KERNEL_OK, or the value of include/tk/tk_error.h's
 * code for the case, e.g. 71 = TK_EOSERR when out of memory) and leave a
 * message in the backend (tk_backend_error), which is also passed on to
 * lib's error recorder; the others cannot fail on valid arguments and
 * return void.  Arguments are trusted: lib checks token ids, sizes and
 * positions before calling.  Working memory comes from the backend's
 * workspace, grown on first use and reused, not allocated per call.
 *
 * Every array is float32 today, but for packed weights, which may be held
 * in a compact form that gives back the same floats (tk_matmul_pack_as);
 * the GPU's bf16 frozen weights will come as separate typed entry points,
 * not as a change to these. */
#ifndef TK_KERNELS_H
#define TK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- Backend: threads, memory, copies ---------------------------------- */

/* Opening, naming and tuning a backend: include/tk/tk_backend.h, the
 * public part. */
#include "tk_backend.h"

/* What a kernel returns when it can fail: the numeric values of
 * include/tk/tk_error.h's codes for the same cases, so lib passes them on
 * as they are. */
enum tk_kernel_status {
	TK_KERNEL_OK = 0,
	TK_KERNEL_EUSAGE = 64,  /* a call beyond a kernel's limits (TK_EUSAGE) */
	TK_KERNEL_ESOFTWARE = 70, /* the transport failed (TK_ESOFTWARE) */
	TK_KERNEL_ENOMEM = 71,  /* out of memory (TK_EOSERR) */
	TK_KERNEL_ECONFIG = 78, /* no backend of that kind (TK_ECONFIG) */
};

/* The message of the backend's last failure ("" when none). */
const char *tk_backend_error(const tk_backend *be);

/* Defined by lib (not by kernels/) to receive every failure's message as it
 * happens, so that lib's own error message says it; kernels/backend.c
 * calls it when the program defines it. */
void tk_backend_error_hook(int status, const char *message);

/* Backend memory, 64-byte aligned; NULL with a message when out of
 * memory.  Free accepts NULL. */
void *tk_backend_alloc(tk_backend *be, size_t bytes);
void tk_backend_free(tk_backend *be, void *p);
void tk_backend_zero(tk_backend *be, void *p, size_t bytes);
void tk_copy_to_device(tk_backend *be, void *dst, const void *src, size_t bytes);
void tk_copy_to_host(tk_backend *be, void *dst, const void *src, size_t bytes);
void tk_copy_on_device(tk_backend *be, void *dst, const void *src, size_t bytes);

/* ---- Linear layers ----------------------------------------------------- */

/* y = x·Wᵀ + bias, or y += x·Wᵀ + bias when accumulate: W is stored
 * (out, in) as Hugging Face stores Linear weights; bias may be NULL.
 *   y (n, out)   x (n, in)   w (out, in)   bias (out) */
int tk_matmul_forward(tk_backend *be, float *y, const float *x,
		      const float *w, const float *bias,
		      size_t n, size_t in, size_t out, int accumulate);

/* Weights multiplied many times (the forward's) packed once for the
 * batch-invariant product: tk_matmul_forward_packed gives the same bits as
 * tk_matmul_forward on a batch-invariant backend, faster (W is not
 * repacked on every call), whatever the backend's setting.
 *   packed (tk_matmul_packed_floats(in, out))   w (out, in), host memory */
size_t tk_matmul_packed_floats(tk_backend *be, size_t in, size_t out);
void tk_matmul_pack(tk_backend *be, float *packed, const float *w, size_t in, size_t out);
int tk_matmul_forward_packed(tk_backend *be, float *y, const float *x,
			     const float *packed, const float *bias, size_t n,
			     size_t in, size_t out, int accumulate);

/* Packed weights in a compact form.  Many models' weights take few
 * distinct values (a GGUF file's Q4_1 or Q8_0 blocks, a bf16 checkpoint)
 * that float32 holds with room to spare; a decode step reads every weight
 * for a few rows, so its pace is set by the bytes read.  A form is chosen
 * only when it holds every value of W exactly (checked value by value),
 * and the product expands it to the same floats before multiplying: the
 * bits of y do not depend on the form, only the memory it takes.
 *   TK_PACK_Q4   per 32 inputs of an output: w = d·q + m, q in 0..15, d and
 *                m f16 (0.625 bytes a weight)
 *   TK_PACK_Q8   per 32 inputs: w = d·q, q in -128..127, d f16 (1.06)
 *   TK_PACK_Q4S  per 32 inputs: w = d·q, q in -8..7, d f16 (0.56): a GGUF
 *                file's Q4_0 blocks
 *   TK_PACK_Q4K  per 32 inputs: w = d·q + m, q in 0..15, d and m float32
 *                (0.75): a GGUF file's Q4_K sub-blocks, whose scales are
 *                products of an f16 and a 6-bit integer
 *   TK_PACK_Q8K  per 16 inputs: w = d·q + m, q in -128..127, d and m
 *                float32 (1.5): the sub-blocks of Q6_K, Q5_K, Q3_K, Q2_K,
 *                Q8_K, and Q5_1's 32 levels
 *   TK_PACK_BF16 w is a bf16 value (2)
 *   TK_PACK_F32  anything (4): tk_matmul_pack's layout
 *   TK_PACK_BF16_DOT  w rounded to bf16 (2), in pairs of k: not exact, and
 *                its product is another one: y = bf16(x)·bf16(W)ᵀ with
 *                float32 accumulation by the CPU's AMX tiles or bf16
 *                dot products (kernels/cpu/xwt_bf16.c; the portable
 *                code gives the dot products' bits, AMX its own), batch
 *                invariant like the others; the
 *                backward (tk_matmul_backward_packed_as) rounds dy.
 *                Never chosen by tk_matmul_pack_form; packing it rounds
 *                and returns 1.
 * tk_matmul_pack_form returns the smallest form that holds w (out, in);
 * tk_matmul_pack_as packs w in a form and checks as it goes: it returns 1
 * when every value fits (always for F32), 0 when some does not (the packed
 * matrix is then unusable), so that a caller sure of the form in advance
 * may skip tk_matmul_pack_form's pass and still not be wrong. */
enum tk_pack_form {
	TK_PACK_F32 = 0, TK_PACK_BF16, TK_PACK_Q8, TK_PACK_Q4, TK_PACK_BF16_DOT, TK_PACK_Q4S,
	TK_PACK_Q4K, TK_PACK_Q8K
};
int tk_matmul_pack_form(tk_backend *be, const float *w, size_t in, size_t out);
const char *tk_matmul_pack_form_name(int form);
size_t tk_matmul_packed_bytes(tk_backend *be, int form, size_t in, size_t out);
int tk_matmul_pack_as(tk_backend *be, void *packed, int form, const float *w, size_t in,
		      size_t out);
int tk_matmul_forward_packed_as(tk_backend *be, float *y, const float *x,
				const void *packed, int form, const float *bias, size_t n,
				size_t in, size_t out, int accumulate);

/* Several products of one x by packed weights at once (q, k and v; gate
 * and up), each as tk_matmul_forward_packed computes it, bits included,
 * but in one parallel region: fewer thread wake-ups, which cost much on a
 * machine whose idle threads sleep.  At most 8 jobs.
 *   x (n, in)   each job: y (n, out) = x·Wᵀ (+ bias, which may be NULL) */
typedef struct tk_matmul_job {
	float *y;
	const void *packed; /* by tk_matmul_pack_as(form, in, out) */
	int form;           /* TK_PACK_F32 for tk_matmul_pack's */
	const float *bias;
	size_t out;
} tk_matmul_job;
int tk_matmul_forward_packed_many(tk_backend *be, const float *x, size_t n, size_t in,
				  const tk_matmul_job *jobs, size_t count);

/* A frozen W packed for the backward's dx = dy·W (or += when
 * accumulate_dx), faster than tk_matmul_backward's product; the same
 * multiply-add chains as tk_matmul_forward_packed.
 *   packed (tk_matmul_packed_backward_floats(in, out))   w (out, in), host
 *   dx (n, in)   dy (n, out) */
size_t tk_matmul_packed_backward_floats(tk_backend *be, size_t in, size_t out);
void tk_matmul_pack_backward(tk_backend *be, float *packed, const float *w, size_t in,
			     size_t out);
int tk_matmul_backward_packed(tk_backend *be, float *dx, const float *dy,
			      const float *packed, size_t n, size_t in, size_t out,
			      int accumulate_dx);

/* dx = dy·W (or += when accumulate_dx) from W packed for the forward by
 * tk_matmul_pack_as(form) (any form, TK_PACK_F32 included): the same bits
 * as tk_matmul_backward_packed, with no second copy of W.  The product
 * expands a chunk of W's panels at a time, transposed, into a thread's
 * buffer and multiplies from there, so one copy of a frozen base (in its
 * compact form) serves the forward and the backward; it costs that
 * expansion (little with many rows) over tk_matmul_backward_packed.
 *   packed: w (out, in) by tk_matmul_pack_as(form, in, out)
 *   dx (n, in)   dy (n, out) */
int tk_matmul_backward_packed_as(tk_backend *be, float *dx, const float *dy,
				 const void *packed, int form, size_t n, size_t in, size_t out,
				 int accumulate_dx);

/* dx = dy·W (or += when accumulate_dx), dw += dyᵀ·x, dbias += Σ dy.  Any of
 * dx, dw, dbias may be NULL.
 *   dx (n, in)   dw (out, in)   dbias (out)   dy (n, out) */
int tk_matmul_backward(tk_backend *be, float *dx, float *dw, float *dbias,
		       const float *dy, const float *x, const float *w,
		       size_t n, size_t in, size_t out, int accumulate_dx);

/* y[i] = table[tokens[i]]; ids must be < vocab.
 *   y (n, c)   tokens (n)   table (vocab, c) */
void tk_embedding_forward(tk_backend *be, float *y, const int32_t *tokens,
			  const float *table, size_t n, size_t c, size_t vocab);
/* The same lookup from the table packed by tk_matmul_pack_as(form, c,
 * vocab) (a tied lm_head), so that a tied model keeps one copy: the same
 * values.
 *   y (n, c)   tokens (n)   packed: table (vocab, c) packed */
void tk_embedding_forward_packed(tk_backend *be, float *y, const int32_t *tokens,
				 const void *packed, int form, size_t n, size_t c,
				 size_t vocab);
/* dtable[tokens[i]] += dy[i], in token order (deterministic). */
void tk_embedding_backward(tk_backend *be, float *dtable, const float *dy,
			   const int32_t *tokens, size_t n, size_t c,
			   size_t vocab);

/* dst[i] = src[rows[i]] and dst[rows[i]] = src[i]: moving rows between a
 * batch and a cache (KV-cache writes, last-token gathers).
 *   gather: dst (n, width), src (any, width);  scatter: the reverse */
void tk_rows_gather(tk_backend *be, float *dst, const float *src,
		    const int32_t *rows, size_t n, size_t width);
void tk_rows_scatter(tk_backend *be, float *dst, const float *src,
		     const int32_t *rows, size_t n, size_t width);

/* ---- Normalization ----------------------------------------------------- */

/* RMSNorm as Hugging Face's LlamaRMSNorm: y = (x · rsqrt(mean(x²) + eps)) · w,
 * float32 variance.  rstd (n) keeps 1/rms for the backward (NULL: not kept).
 * Per-head q/k norms (Qwen3) are this with n = tokens·heads, c = head_dim.
 *   y (n, c)   rstd (n)   x (n, c)   w (c) */
void tk_rmsnorm_forward(tk_backend *be, float *y, float *rstd, const float *x,
			const float *w, size_t n, size_t c, float eps);
/* dx = ∂/∂x (or += when accumulate), dw += ∂/∂w; rstd from the forward. */
void tk_rmsnorm_backward(tk_backend *be, float *dx, float *dw, const float *dy,
			 const float *x, const float *w, const float *rstd,
			 size_t n, size_t c, int accumulate);

/* ---- Rotary position embedding ----------------------------------------- */

/* Frequency scaling kinds.  The model config has its own (enum
 * tk_model_rope in tk_model.h, the same values); lib translates. */
enum tk_rope_type { TK_ROPE_DEFAULT = 0, TK_ROPE_LINEAR = 1, TK_ROPE_LLAMA3 = 2 };

struct tk_rope_scaling {
	enum tk_rope_type type;
	double factor;            /* linear, llama3 */
	double low_freq_factor;   /* llama3 */
	double high_freq_factor;  /* llama3 */
	double original_max_position; /* llama3: original_max_position_embeddings */
};

/* Host: the inverse-frequency table, computed in float32 step by step as
 * transformers does (default, linear, and _compute_llama3_parameters).
 * scaling may be NULL.   inv_freq (head_dim / 2) */
void tk_rope_inv_freq(float *inv_freq, size_t head_dim, double theta,
		      const struct tk_rope_scaling *scaling);

/* Rotates each head by its token's position, rotate_half convention (the
 * two halves of a head are the pair, not interleaved elements); the angle
 * is float32 pos·inv_freq as in transformers.  In place allowed;
 * head_dim ≤ 1024.
 *   y, x (n, heads, head_dim)   pos (n)   inv_freq (head_dim / 2) */
void tk_rope_forward(tk_backend *be, float *y, const float *x,
		     const int32_t *pos, const float *inv_freq,
		     size_t n, size_t heads, size_t head_dim);
/* dx = Rᵀ dy.  In place allowed. */
void tk_rope_backward(tk_backend *be, float *dx, const float *dy,
		      const int32_t *pos, const float *inv_freq,
		      size_t n, size_t heads, size_t head_dim);
/* The angles of tk_rope_forward once for a pass, shared by every layer's
 * q and k, forward and backward (head_dim / 2 double-precision cos and sin
 * a token, not per call): per token cos then sin of pos·inv_freq.  The
 * _table rotations use them: the same bits as tk_rope_forward and
 * tk_rope_backward.  In place allowed.
 *   table (n, head_dim)   pos (n)   y, x, dx, dy (n, heads, head_dim) */
void tk_rope_table(tk_backend *be, float *table, const int32_t *pos,
		   const float *inv_freq, size_t n, size_t head_dim);
void tk_rope_forward_table(tk_backend *be, float *y, const float *x,
			   const float *table, size_t n, size_t heads, size_t head_dim);
void tk_rope_backward_table(tk_backend *be, float *dx, const float *dy,
			    const float *table, size_t n, size_t heads, size_t head_dim);

/* ---- Attention --------------------------------------------------------- */

/* Causal grouped-query attention, softmax(q·kᵀ·scale)·v, query head h
 * reading kv head h / (heads / kv_heads).  Limits of the cpu backend, for
 * lib to check at model load: d ≤ 256 and heads / kv_heads ≤ 16.  Two ways to say which keys a
 * query sees; both run the same per-query code, so a token gets the same
 * bits from a KV cache (sampling) as from a packed batch (training).
 *
 * A sliding window (Mistral, Qwen's windowed layers) limits a query to the
 * `window` latest keys, itself included: window 0 means every earlier key.
 *
 * Cached (sampling): keys and values live in a cache of rows; query i sees
 * the pos[i] + 1 rows kv_row[i] .. kv_row[i] + pos[i] (its sequence's first
 * row and its position in it), the last `window` of them with a window.  T new tokens of a sequence at positions
 * p0..p0+T-1 thus attend to the cache of length p0+T; the cache must already
 * hold their own keys (tk_rows_scatter).
 *   out, q (n, heads, d)   k_cache, v_cache (rows, kv_heads, d)
 *   kv_row, pos (n) */
void tk_attention_cached_forward(tk_backend *be, float *out, const float *q,
				 const float *k_cache, const float *v_cache,
				 const int32_t *kv_row, const int32_t *pos,
				 size_t n, size_t heads, size_t kv_heads,
				 size_t d, float scale, size_t window);

/* Packed (training): n tokens hold n_records records back to back, record r
 * being tokens cu_seqlens[r] .. cu_seqlens[r+1]-1 (cu_seqlens[0] = 0,
 * cu_seqlens[n_records] = n); a token attends to its own record's tokens up
 * to itself, never across records.  Rows of a (rows, T) batch are just
 * consecutive records; padding at a row's end is one more record (its
 * outputs are unused; give it weight 0 in the loss).  On a backend that is
 * not batch invariant this runs through sgemm blocks of queries (several
 * times faster; the bits then differ from the cached path's).  lse (n,
 * heads) keeps each query's log-sum-exp for the backward (NULL: not kept).
 *   out, q (n, heads, d)   k, v (n, kv_heads, d)   cu_seqlens (n_records+1) */
int tk_attention_packed_forward(tk_backend *be, float *out, float *lse,
				const float *q, const float *k, const float *v,
				const int32_t *cu_seqlens, size_t n_records,
				size_t n, size_t heads, size_t kv_heads,
				size_t d, float scale, size_t window);
/* dq, dk, dv (assigned) from dout, recomputing the probabilities from q, k
 * and the forward's out and lse.  form TK_PACK_F32: float32 products;
 * TK_PACK_BF16_DOT (the bf16 products' setting): the five products
 * (q·kᵀ, dout·vᵀ, ds·k, dsᵀ·q, pᵀ·dout) take bf16-rounded operands (q, k,
 * v, dout, p and ds = p·(dout·v − δ)) with float32 sums, the exponentials,
 * lse and δ staying float32; the cpu backend does so on AMX tiles and
 * multiplies in float32 where it has none (or TK_AMX=0).  Either way the
 * cpu backend's bits do not depend on the thread count. */
int tk_attention_packed_backward(tk_backend *be, float *dq, float *dk,
				 float *dv, const float *dout, const float *q,
				 const float *k, const float *v,
				 const float *out, const float *lse,
				 const int32_t *cu_seqlens, size_t n_records,
				 size_t n, size_t heads, size_t kv_heads,
				 size_t d, float scale, size_t window, int form);

/* ---- Elementwise ------------------------------------------------------- */

/* out = silu(gate) · up, silu(g) = g / (1 + e^-g).   all (n) */
void tk_swiglu_forward(tk_backend *be, float *out, const float *gate,
		       const float *up, size_t n);
void tk_swiglu_backward(tk_backend *be, float *dgate, float *dup,
			const float *dout, const float *gate, const float *up,
			size_t n);

/* Row softmax.   y, x (n, c); in place allowed */
void tk_softmax_forward(tk_backend *be, float *y, const float *x, size_t n,
			size_t c);
/* dx = y · (dy − Σ dy·y) per row. */
void tk_softmax_backward(tk_backend *be, float *dx, const float *dy,
			 const float *y, size_t n, size_t c);

/* y = a + b;  y += alpha · x;  y = alpha · x.  In place allowed. */
void tk_add(tk_backend *be, float *y, const float *a, const float *b, size_t n);
void tk_axpy(tk_backend *be, float *y, float alpha, const float *x, size_t n);
void tk_scale(tk_backend *be, float *y, const float *x, float alpha, size_t n);

/* ---- Loss -------------------------------------------------------------- */

/* Weighted cross-entropy of next tokens through the unembedding, fused so
 * that the (n, vocab) logits never exist whole: logits = h·Wᵀ are made a
 * chunk of tokens × a chunk of vocabulary at a time (the workspace bounds
 * the chunk), with an online log-sum-exp.  For token i:
 *   logprob[i] = log softmax(h[i]·Wᵀ)[target[i]]
 *   loss[i]    = −weight[i] · logprob[i]
 * and, when dh / dw are not NULL, the gradient of Σ loss: dh assigned,
 * dw accumulated.  Weights may be any sign (normalization, DPO and policy
 * gradient coefficients go there); a negative target means "no target":
 * loss, logprob and gradient 0.  The forward (loss, logprob) is batch
 * invariant; loss and logprob may be NULL.  w_packed and w_packed_backward,
 * when not NULL, are w packed by tk_matmul_pack (the logits: faster, the
 * same bits as the batch-invariant product whatever the backend's setting)
 * and by tk_matmul_pack_backward (dh), form TK_PACK_F32; or, form
 * TK_PACK_BF16_DOT, w packed by tk_matmul_pack_as(TK_PACK_BF16_DOT, c,
 * vocab) and wᵀ by tk_matmul_pack_as(TK_PACK_BF16_DOT, vocab, c): the
 * logits are then bf16(h)·bf16(W)ᵀ, tk_matmul_forward_packed_as's bits,
 * and dh = bf16(dlogits)·bf16(W) (dw needs form TK_PACK_F32).
 *   loss, logprob (n)   dh, h (n, c)   dw, w (vocab, c)   target, weight (n) */
int tk_cross_entropy_fused(tk_backend *be, float *loss, float *logprob,
			   float *dh, float *dw, const float *h,
			   const float *w, const void *w_packed,
			   const void *w_packed_backward, int form, const int32_t *target,
			   const float *weight, size_t n, size_t c, size_t vocab);

/* The same against soft targets (top-K distillation): token i has k
 * target ids (row i of ids, −1 an empty slot) with probabilities (row i
 * of q, summing to 1 over the filled slots, or 0 over none: no target),
 * and
 *   loss[i] = −weight[i] · Σ_s q[i][s] · log softmax(h[i]·Wᵀ)[ids[i][s]]
 * with the gradient of Σ loss (dh assigned, dw accumulated) as above:
 * dlogits = weight·(S·softmax − q), S the row's Σ q.  Ids must lie
 * below vocab.  k = 1 with q = 1 gives tk_cross_entropy_fused's bits.
 *   loss, weight (n)   ids, q (n, k)   dh, h (n, c)   dw, w (vocab, c) */
int tk_cross_entropy_soft_fused(tk_backend *be, float *loss, float *dh, float *dw,
				const float *h, const float *w, const void *w_packed,
				const void *w_packed_backward, int form, const int32_t *ids,
				const float *q, size_t k, const float *weight, size_t n, size_t c,
				size_t vocab);

/* lse[i] = log Σ_j exp(logits[i][j]), by the very operations (chunks,
 * order) tk_cross_entropy_fused uses, so that a sampler's logprob
 * logits[t] − lse equals the trainer's logprob of t bit for bit when the
 * logits come from tk_matmul_forward on a batch-invariant backend with the
 * same workspace.  Returns TK_OK.
 *   lse (n)   logits (n, vocab) */
int tk_logsumexp_forward(tk_backend *be, float *lse, const float *logits,
			 size_t n, size_t vocab);

/* ---- Optimizer --------------------------------------------------------- */

/* torch.optim.AdamW (decoupled weight decay, bias correction), step by step
 * in the same float32 operations as its single-tensor path. */
struct tk_adamw {
	double lr, beta1, beta2, eps, weight_decay;
};

/* One update of n parameters; step counts from 1 (this update's number).
 *   param, grad, m, v (n) */
void tk_adamw_step(tk_backend *be, float *param, const float *grad, float *m,
		   float *v, size_t n, const struct tk_adamw *opt,
		   int64_t step);

/* acc[0] += Σ x², summed in float64 in a fixed order (whatever the thread
 * count).  Zero acc, add each gradient buffer, copy it to the host for the
 * grad norm √acc.   acc (1)   x (n) */
int tk_sumsq(tk_backend *be, float *acc, const float *x, size_t n);

/* Gradient clipping as torch.nn.utils.clip_grad_norm_: x *= min(1,
 * max_norm / (√sumsq + 1e-6)), sumsq read from backend memory, so no host
 * round trip is needed.   x (n)   sumsq (1) */
void tk_clip_by_norm(tk_backend *be, float *x, size_t n, const float *sumsq,
		     float max_norm);

/* Data parallelism: x becomes the element-wise sum of x over the ranks of
 * the job, in place in backend memory, every rank getting the same bits.
 * The host-memory backends (cpu, ref) call MPI_Allreduce on MPI_COMM_WORLD
 * in an MPI build and do nothing otherwise; a GPU backend sums on the
 * device (NCCL, man/tk-dist.7).  lib/dist calls it with several ranks
 * only.   x (n) */
int tk_allreduce_sum(tk_backend *be, float *x, size_t n);

/* ---- Host helpers ------------------------------------------------------ */

/* Host: the weights of a draw over a vocabulary, p[i] = e^((x[i] − max)·inv_t)
 * in double for i < n (p NULL: not kept); returns their sum.  x[i] <= max,
 * so every weight is at most 1; weights under e^−708 are 0; NaN stays NaN.
 * Within a few ulp of libm's exp per weight (eight lanes of AVX-512 where
 * the CPU has them, libm otherwise); the sum is taken in eight running
 * parts, not one. */
double tk_exp_weights(double *p, const float *x, size_t n, double max, double inv_t);

#endif
