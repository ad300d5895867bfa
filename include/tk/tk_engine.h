/* An engine: one model's frozen weights on a backend, uploaded and packed
 * once, and the adapters attached to it by name.  The forward (sampling,
 * scoring) and the trainer borrow it, so a process that trains and samples
 * one model holds its base once:
 *
 *   tk_engine *e;
 *   tk_engine_config c = {.train = 1};
 *   tk_engine_open(&e, be, model, &c);            // model may be freed after
 *   tk_train_open_engine(&t, e, adapter, "policy", &tc);   // a live adapter
 *   tk_forward_open_engine(&f, e, "policy", slots, context, tokens);
 *   ... sample with f: it reads the weights t is training, as they are ...
 *   tk_forward_open_engine(&ref, e, NULL, ...);   // the bare base: a KL reference
 *   tk_forward_close(f); tk_train_close(t); tk_engine_close(e);
 *
 * Adapters.  tk_engine_attach uploads a copy of a loaded adapter under a
 * name (packed for the product, like the base); a trainer opened on the
 * engine registers the adapter it trains as a live one, whose weights are
 * the trainer's own: a forward on it sees every optimizer step at once,
 * with nothing exported or copied.  Names are unique; a forward or trainer
 * holds its adapter until it closes, and an engine outlives what borrows
 * it.
 *
 * Forms.  With .train the base is packed for the forward's product and for
 * the backward's dx = dy·W (kernels.h: tk_matmul_pack,
 * tk_matmul_pack_backward); otherwise, with .compact, in the smallest form
 * that gives back every value exactly (4-/8-bit blocks, bf16), which pays
 * for forwards of few sequences (tk_forward.h: TK_FORWARD_COMPACT_SLOTS).
 * With .train, .base says how the frozen matrices are held: twice in
 * float32 (TK_ENGINE_BASE_F32, the default: the fastest), or once in a
 * compact form that both products read, the backward expanding it
 * transposed a chunk at a time (kernels.h: tk_matmul_backward_packed_as):
 * AUTO takes each matrix's smallest exact form (4-/8-bit blocks, bf16,
 * else float32); BF16, Q8 and Q4 ask for one and refuse (TK_EDATA, naming
 * the weight) a matrix it does not hold exactly.  BF16_DOT rounds every
 * matrix to bf16 and multiplies by bf16 products (kernels.h:
 * TK_PACK_BF16_DOT: activations and dy rounded to bf16, float32
 * accumulation), the adapter, loss and optimizer staying float32: other
 * bits than the float32 base's, the same whatever the batch; a trainer on
 * it also runs the attention backward's products in bf16 (kernels.h:
 * tk_attention_packed_backward's form).  The lm_head
 * stays float32, packed for both products (the fused loss reads it so).
 * Every exact form gives the same bits.  Full fine-tuning changes the base
 * itself: the trainer then holds its own weights (tk_train_open). */
#ifndef TK_ENGINE_H
#define TK_ENGINE_H

#include <stddef.h>

typedef struct tk_backend tk_backend;
struct tk_model;
struct tk_lora;

typedef struct tk_engine tk_engine;

/* How a training engine holds the frozen base (above). */
enum tk_engine_base {
	TK_ENGINE_BASE_F32 = 0, /* float32, packed for each product: 8 bytes a weight */
	TK_ENGINE_BASE_AUTO,    /* one copy, each matrix's smallest exact form */
	TK_ENGINE_BASE_BF16,    /* one copy in bf16 (2 bytes a weight) */
	TK_ENGINE_BASE_Q8,      /* 32-weight blocks d·q, q 8-bit (1.06) */
	TK_ENGINE_BASE_Q4,      /* 32-weight blocks d·q + m, q 4-bit (0.63) */
	TK_ENGINE_BASE_BF16_DOT,/* rounded to bf16 (2), bf16 products (not exact) */
};

typedef struct tk_engine_config {
	int train;     /* also pack for the backward (LoRA training) */
	int compact;   /* compact forms where they fit (not with train) */
	int base;      /* with train: enum tk_engine_base */
} tk_engine_config;

/* "f32", "auto", "bf16", "q8", "q4", "bf16-dot" -> enum tk_engine_base; -1 when
 * unknown.  And back. */
int tk_engine_base_parse(const char *name);
const char *tk_engine_base_name(int base);

/* Uploads model's weights to be; the model may be freed afterwards. */
int tk_engine_open(tk_engine **out, tk_backend *be, const struct tk_model *model,
		   const tk_engine_config *c);
/* Safe on NULL.  Whatever borrows it must be closed first. */
void tk_engine_close(tk_engine *e);

/* Uploads a copy of adapter (made or loaded for this model: TK_EDATA
 * otherwise) under name; TK_EUSAGE when the name is taken. */
int tk_engine_attach(tk_engine *e, const char *name, const struct tk_lora *adapter);
/* Frees an attached adapter; TK_EUSAGE when no such name, or when it is a
 * trainer's live adapter or still borrowed. */
int tk_engine_detach(tk_engine *e, const char *name);
/* 1 when an adapter of that name is attached or live. */
int tk_engine_has(const tk_engine *e, const char *name);

/* The bytes a training engine (.train, .base = base) would take for model,
 * before opening it: the forms auto would choose estimated from the types
 * the file stores (tk_model_tensor.stored_as: Q4_0 and Q4_1 blocks as
 * 4-bit, Q8_0 and Q5_0 as 8-bit, bf16 as bf16, anything else float32), the cpu
 * backend's panel sizes.  A lazily loaded model is enough. */
size_t tk_engine_plan_bytes(const struct tk_model *model, int base);

tk_backend *tk_engine_backend(const tk_engine *e);
/* Backend bytes of the base and the attached copies. */
size_t tk_engine_memory(const tk_engine *e);

#endif
