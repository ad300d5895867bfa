/* The decoder forward pass for sampling and scoring: a Llama-family model
 * (RMSNorm, RoPE, grouped-query attention, SwiGLU; Qwen2 q/k/v biases and
 * Qwen3 q/k norms) written once against kernels/kernels.h, with a KV cache
 * per sequence and LoRA adapters applied on the fly (no merge).
 *
 *   tk_forward *f;
 *   tk_forward_open(&f, be, model, adapter_or_NULL, seqs, context, tokens);
 *   size_t slots[2] = {0, 1}, counts[2] = {5, 3};
 *   int32_t ids[8] = {...5 prompt tokens of seq 0, 3 of seq 1...};
 *   tk_forward_batch b = {2, slots, counts, ids, 0};
 *   float *logits = malloc(2 * vocab * sizeof *logits);   // (2, vocab)
 *   tk_forward_run(f, &b, logits);      // prefill both prompts at once
 *   ... then one token per sequence per run (decode) ...
 *   tk_forward_close(f);
 *
 * Memory.  The weights (and the adapter) are uploaded to the backend once
 * at open, the matrices packed for the batch-invariant product (a tied
 * embedding is held once, packed as lm_head; its rows are read from there),
 * so the model's own copy may be dropped after open
 * (tk_model_drop_weights).  A forward of at most TK_FORWARD_COMPACT_SLOTS
 * slots, whose decode steps multiply a few rows by every weight, holds the
 * base weights in the smallest packed form that gives back every value
 * exactly (kernels.h: a Q4_1 GGUF's layers in 0.625 bytes a weight, not 4),
 * which its product expands as it goes: the same bits, less memory, and
 * faster where reading weights sets the pace; with more slots the product
 * has the floats to hand, faster on a CPU when it multiplies many rows.
 * The KV
 * cache holds `seqs` slots of `context` positions each (2 · layers ·
 * kv_heads · head_dim floats per position), and the
 * activations live in one arena planned for `tokens` tokens per pass; a
 * run with more new tokens than that is cut into passes, which gives the
 * same bits.  Logits are made at most TK_FORWARD_LOGIT_ROWS rows at a
 * time, so the (tokens, vocab) matrix never exists whole on the backend.
 *
 * Batch invariance.  Every kernel computes a token's row with the same
 * operations whatever else is in the pass (kernels.h), so a sequence's
 * logits are the same bits whatever sequences share its runs, however its
 * prompt is cut into passes, and whether its cache was filled by its own
 * prefill or copied with tk_forward_fork.
 *
 * A tk_forward is not thread-safe; the kernels parallelise inside. */
#ifndef TK_FORWARD_H
#define TK_FORWARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct tk_backend tk_backend;
typedef struct tk_engine tk_engine;
struct tk_model;
struct tk_lora;

typedef struct tk_forward tk_forward;

/* Rows of logits made per lm_head product. */
#define TK_FORWARD_LOGIT_ROWS 64

/* One run: n_seqs sequences (KV slots), each appending counts[i] >= 1 new
 * tokens after those its slot already holds.  tokens holds them back to
 * back, sequence by sequence.  The logits written are those of each
 * sequence's last new token, (n_seqs, vocab), or with all_logits those of
 * every new token, (Σ counts, vocab), in token order. */
typedef struct tk_forward_batch {
	size_t n_seqs;
	const size_t *slots;     /* (n_seqs) */
	const size_t *counts;    /* (n_seqs) */
	const int32_t *tokens;   /* (Σ counts) */
	int all_logits;
} tk_forward_batch;

#define TK_FORWARD_COMPACT_SLOTS 8

/* Uploads model's weights (and adapter's, which may be NULL; it must have
 * been loaded or created for this model) and plans the cache and arena:
 * seqs KV slots of context positions (context <= the model's
 * max_positions), passes of at most tokens tokens.  The model and adapter
 * may be freed afterwards. */
int tk_forward_open(tk_forward **out, tk_backend *be, const struct tk_model *model,
		    const struct tk_lora *adapter, size_t seqs, size_t context,
		    size_t tokens);
void tk_forward_close(tk_forward *f);  /* safe on NULL */

/* The same on an engine's weights (tk_engine.h), with its adapter of that
 * name (NULL: the bare base), which may be a trainer's live one: nothing
 * is uploaded but the cache and the arena.  The engine must outlive f. */
int tk_forward_open_engine(tk_forward **out, tk_engine *e, const char *adapter,
			   size_t seqs, size_t context, size_t tokens);

/* Runs b and writes the logits to host memory.  TK_EUSAGE (nothing run)
 * for a slot out of range, a token id outside the vocabulary, an empty
 * sequence, or a sequence that would outgrow its slot's context. */
int tk_forward_run(tk_forward *f, const tk_forward_batch *b, float *logits);

/* Forgets slot's tokens (its next run starts at position 0). */
void tk_forward_clear(tk_forward *f, size_t slot);
/* Keeps the first n tokens of slot (all when it holds fewer): a
 * conversation's next turn continues after the part that still agrees. */
void tk_forward_truncate(tk_forward *f, size_t slot, size_t n);
/* Makes slot dst hold the same cache as src (n samples of one prompt share
 * its prefill).  dst == src is a no-op. */
void tk_forward_fork(tk_forward *f, size_t dst, size_t src);
/* Tokens slot holds. */
size_t tk_forward_length(const tk_forward *f, size_t slot);

size_t tk_forward_vocab(const tk_forward *f);
size_t tk_forward_context(const tk_forward *f);
size_t tk_forward_slots(const tk_forward *f);
/* Backend bytes held: weights, cache, arena. */
size_t tk_forward_memory(const tk_forward *f);

#endif
