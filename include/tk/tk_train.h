/* The training step: forward and backward through the whole decoder over a
 * packed batch, losses, the optimizer step and the exact state, the
 * primitives a training loop (tk-sft, tk-rl) is built from.
 *
 *   tk_train *t;
 *   tk_train_config c = {.full = 0, .max_tokens = 4096};
 *   tk_train_open(&t, be, model, adapter, &c);   // adapter NULL with .full
 *   tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_EXAMPLE, records, 0.1};
 *   for each micro-batch b of the optimizer batch:
 *           tk_train_forward_backward(t, &b, &loss, &res, NULL);  // grads +=
 *   tk_train_optim_step(t, &adam, clip, &grad_norm);               // grads = 0
 *   tk_train_save_state(t, "step-000100.tkc", meta);
 *   tk_train_close(t);
 *
 * What trains.  With an adapter, its LoRA matrices train and the base
 * weights stay frozen (uploaded once, no gradients, no moments); with
 * .full every weight of the model trains.  Trainable tensors live in one
 * backend block, their gradients and the two AdamW moments in blocks of
 * the same layout, so the optimizer is one flat loop.
 *
 * The batch.  Records lie back to back in one row of n tokens; attention
 * never crosses a record boundary and positions restart at 0 in each
 * record.  weights[i] is the loss weight of predicting tokens[i] from the
 * tokens before it in its record (the .tks convention), so a record's
 * first weight is never used.
 *
 * Losses.  Cross-entropy: Σ over tokens of coef_i · (−log p(token_i)), with
 * coef_i = w_i / (Σ w over its record) / denominator per example (each
 * record's weights scaled to sum to 1, then the mean over the records of
 * the optimizer batch: denominator = records), or coef_i = w_i /
 * denominator per token (denominator = Σ w over the optimizer batch).
 * Since the denominator covers the whole optimizer batch, gradients
 * accumulated over its micro-batches are those of the whole batch.
 * DPO: records come in pairs (chosen, then rejected); with π the Σ w·log p
 * of a record under the trained model and ρ under the reference (the base
 * model without the adapter),
 *   loss = Σ_pairs softplus(−β·((π_c − ρ_c) − (π_r − ρ_r))) / denominator
 * (denominator = pairs of the optimizer batch).  DPO needs an adapter. */
#ifndef TK_TRAIN_H
#define TK_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "tk_lora.h"

typedef struct tk_backend tk_backend;
typedef struct tk_engine tk_engine;
struct tk_model;

typedef struct tk_train tk_train;

typedef struct tk_train_config {
	int full;            /* train every weight (no adapter) */
	size_t max_tokens;   /* tokens of one forward_backward (plans the arena) */
} tk_train_config;

typedef struct tk_train_batch {
	size_t n;                /* tokens */
	size_t n_records;
	const int32_t *tokens;   /* (n) */
	const float *weights;    /* (n) */
	const size_t *starts;    /* (n_records + 1): record r is starts[r] .. starts[r+1]-1 */
} tk_train_batch;

enum tk_train_loss_kind { TK_TRAIN_CE, TK_TRAIN_DPO };
enum tk_train_norm { TK_TRAIN_PER_EXAMPLE, TK_TRAIN_PER_TOKEN };

typedef struct tk_train_loss {
	int kind;            /* enum tk_train_loss_kind */
	int norm;            /* enum tk_train_norm (cross-entropy) */
	double denominator;  /* see above; > 0 */
	double dpo_beta;
} tk_train_loss;

/* What one forward_backward adds up (sums: add those of the micro-batches). */
typedef struct tk_train_result {
	double loss;         /* this micro-batch's part of the batch loss */
	double nll;          /* CE: Σ w · nll (unnormalised); DPO: Σ over chosen */
	double weight;       /* Σ w of the tokens with a target */
	size_t tokens;       /* tokens with a non-zero weight */
	size_t pairs;        /* DPO: pairs */
	size_t dpo_correct;  /* DPO: pairs whose margin is > 0 */
	double dpo_margin;   /* DPO: Σ of β·((π_c − ρ_c) − (π_r − ρ_r)) */
	double dpo_chosen;   /* DPO: Σ of the chosen records' implicit rewards β·(π_c − ρ_c) */
	double dpo_rejected; /* DPO: Σ of the rejected ones' β·(π_r − ρ_r) */
} tk_train_result;

typedef struct tk_train_adamw {
	double lr, beta1, beta2, eps, weight_decay;
} tk_train_adamw;

/* Uploads the model (and the adapter, which must have been made or loaded
 * for it) and plans every block.  model and adapter may be freed after
 * open; export writes back into objects the caller passes. */
int tk_train_open(tk_train **out, tk_backend *be, const struct tk_model *model,
		  const tk_lora *adapter, const tk_train_config *c);
/* The same, with recompute set: each layer keeps only its input and the
 * rest of its activations is made again during the backward (one more
 * forward pass of compute for activation memory of about one layer). */
int tk_train_open_recompute(tk_train **out, tk_backend *be,
			    const struct tk_model *model, const tk_lora *adapter,
			    const tk_train_config *c, int recompute);
/* The same, the frozen base of LoRA training held as `base` says
 * (tk_engine.h: enum tk_engine_base; tk_train_open_recompute holds it in
 * float32, packed for each product).  Every form gives the same bits. */
int tk_train_open_base(tk_train **out, tk_backend *be, const struct tk_model *model,
		       const tk_lora *adapter, const tk_train_config *c, int recompute,
		       int base);
/* LoRA training on an engine opened with .train (tk_engine.h): the base is
 * the engine's, the adapter (made or loaded for the model) the trainer's,
 * lent to the engine under `name` while the trainer is open, so that
 * tk_forward_open_engine(.., name, ..) samples from the weights being
 * trained.  tk_train_open with an adapter is this on an engine of the
 * trainer's own. */
int tk_train_open_engine(tk_train **out, tk_engine *e, const tk_lora *adapter,
			 const char *name, const tk_train_config *c, int recompute);
void tk_train_close(tk_train *t);  /* safe on NULL */

/* Backend bytes of the activations of a pass of tokens tokens, for
 * choosing a pass size under a memory budget (lora NULL: full training);
 * 0 when the model lacks a weight. */
size_t tk_train_activation_bytes(const struct tk_model *model,
				 const tk_lora_config *lora, int recompute,
				 size_t tokens);

/* What training holds, in bytes: the frozen base (LoRA: the engine's;
 * full training: the frozen norms' copies), the trainable weights, their
 * gradients and AdamW moments, the activations of a pass and the kernels'
 * working memory (the loss's logits chunk, and per thread a product's
 * panel buffer and packed rows). */
typedef struct tk_train_memory_plan {
	size_t base, trainable, optimizer, activations, workspace;
	size_t tokens;        /* of a pass */
} tk_train_memory_plan;
/* Planned before opening (lora NULL: full training; base: tk_engine.h's
 * enum tk_engine_base; threads: the backend's), from the model's shapes
 * and stored types; TK_EDATA when the model lacks a weight. */
int tk_train_plan_memory(const struct tk_model *model, const tk_lora_config *lora, int base,
			 int recompute, size_t tokens, int threads, tk_train_memory_plan *out);
/* The same parts of an open trainer, as allocated (the workspace as
 * planned: it grows on first use). */
void tk_train_memory_parts(const tk_train *t, int threads, tk_train_memory_plan *out);
size_t tk_train_plan_total(const tk_train_memory_plan *p);

/* Checks b (sizes, token ids, records within max_tokens and the model's
 * positions) and runs it: adds its gradients to the accumulated ones (not
 * with eval) and fills res.  logprobs (n) may be NULL: the log-probability
 * of each token given the tokens before it in its record (0 for a record's
 * first token), under the trained model. */
int tk_train_forward_backward(tk_train *t, const tk_train_batch *b,
			      const tk_train_loss *loss, tk_train_result *res,
			      float *logprobs);
/* DPO with the reference kept by the caller: ref_logprob (n_records) holds
 * each record's reference Σ w·log p, NaN where not known yet; unknown ones
 * are computed (a pass without the adapter) and stored, so a caller that
 * keeps them across epochs computes each once. */
int tk_train_forward_backward_ref(tk_train *t, const tk_train_batch *b,
				  const tk_train_loss *loss, double *ref_logprob,
				  tk_train_result *res, float *logprobs);
/* A loss given as a function of the trained model's per-token logprobs,
 * the way a hosted trainer's custom loss works: one forward, fn, one
 * backward.  fn gets logprob (n) as forward_backward's logprobs (0 at a
 * record's first token) and writes dloss (n), d loss / d logprob[i] (a
 * record's first entry is ignored), and the loss's value; a non-zero return
 * stops the step with that status.  res gets the loss and the weights' sums
 * (b->weights are not used otherwise). */
typedef int (*tk_train_loss_fn)(void *ctx, const tk_train_batch *b, const float *logprob,
				float *dloss, double *loss);
int tk_train_forward_backward_fn(tk_train *t, const tk_train_batch *b, tk_train_loss_fn fn,
				 void *ctx, tk_train_result *res, float *logprobs);

/* Soft targets (top-K distillation) for a batch: row i holds k ids (−1:
 * empty) and their probabilities for predicting tokens[i], like weights[i]
 * (tk_record_top_probs makes them from a stream's top-K). */
typedef struct tk_train_soft {
	size_t k;
	const int32_t *ids;      /* (n, k) */
	const float *q;          /* (n, k) */
	double hard_weight;      /* the data's own token beside them: 0 soft only */
} tk_train_soft;
/* Cross-entropy (loss->kind TK_TRAIN_CE, its coefficients as above)
 * against a_i = hard_weight · onehot(tokens[i]) + (1 − hard_weight) · q_i
 * (a row with no probability: the token alone): loss Σ coef_i · (−Σ_j
 * a_ij · log p(j)); res.nll gets Σ w · that cross-entropy.  _forward: the
 * same without gradients. */
int tk_train_forward_backward_soft(tk_train *t, const tk_train_batch *b,
				   const tk_train_loss *loss, const tk_train_soft *soft,
				   tk_train_result *res);
int tk_train_forward_soft(tk_train *t, const tk_train_batch *b, const tk_train_loss *loss,
			  const tk_train_soft *soft, tk_train_result *res);

/* The base model's logprobs of b's tokens, the adapter left out (a KL or
 * DPO reference at the cost of a forward, with no second copy of the
 * weights): logprobs (n) as forward_backward's.  LoRA training only. */
int tk_train_base_logprobs(tk_train *t, const tk_train_batch *b, float *logprobs);

/* The same without gradients (evaluation). */
int tk_train_forward(tk_train *t, const tk_train_batch *b,
		     const tk_train_loss *loss, tk_train_result *res,
		     float *logprobs);

/* Grad norm (always reported, before clipping), clipping to clip when
 * clip > 0, one AdamW update, gradients zeroed, step + 1.  A non-finite
 * gradient norm changes nothing and returns TK_EDATA. */
int tk_train_optim_step(tk_train *t, const tk_train_adamw *opt, double clip,
			double *grad_norm);
/* Forgets the accumulated gradients. */
void tk_train_zero_grad(tk_train *t);

int64_t tk_train_steps(const tk_train *t);   /* optimizer steps taken */
size_t tk_train_trainable(const tk_train *t);/* trainable parameters */
size_t tk_train_memory(const tk_train *t);   /* backend bytes held */

/* Host copies by tensor name (HF names, PEFT names for LoRA): which 'p'
 * parameter, 'g' gradient, 'm' / 'v' AdamW moments.  TK_EUSAGE for an
 * unknown name, a frozen one (but 'p' of a frozen tensor the trainer holds
 * as it is), a base weight in LoRA training (the engine holds it), or a
 * wrong count. */
int tk_train_get(const tk_train *t, const char *name, char which, float *out,
		 size_t n);

/* State checkpoint (.tkc, kind "state"): trainable tensors by name, both
 * moments, the step and extra_meta_json's keys (a JSON object: RNG, data
 * position, settings...).  Load checks names and shapes against this
 * trainer and returns the metadata text (malloc'd) when meta is not NULL. */
int tk_train_save_state(const tk_train *t, const char *path,
			const char *extra_meta_json);
int tk_train_load_state(tk_train *t, const char *path, char **meta);

/* Copies the trained weights into an adapter (LoRA training) or a model
 * (.full) of the same shapes, ready for tk_lora_save / tk_model_write_tkc. */
int tk_train_export_lora(const tk_train *t, tk_lora *adapter);
int tk_train_export_model(const tk_train *t, struct tk_model *model);

/* ---- schedule (lib/train/train_schedule.c) ----------------------------------- */

enum tk_lr_schedule { TK_LR_CONSTANT, TK_LR_LINEAR, TK_LR_COSINE };

/* "constant" / "linear" / "cosine" -> enum; -1 when unknown. */
int tk_lr_schedule_parse(const char *name);
const char *tk_lr_schedule_name(int schedule);
/* lr of step (0-based) of total: linear warmup over warmup steps from
 * lr/warmup, then constant, linear to 0, or cosine to 0 at total. */
double tk_lr_at(int schedule, double lr, int64_t step, int64_t warmup,
		int64_t total);
/* The LoRA size rule lr = 5e-4 · (2000 / hidden)^p, p = 0.0775 for the
 * Qwen family, 0.781 otherwise; *p_out (may be NULL) gets p. */
double tk_lr_for_lora(const char *architecture, int hidden, double *p_out);

#endif
