/* tk-sft --loss dpo --reference-adapter: DPO's reference is the model with
 * an adapter (an SFT stage's, say) instead of the bare model.  Every
 * training record's reference Σ w·log p is computed once, before training,
 * by a scorer of its own that is closed again before the trainer opens (the
 * base is never held twice), and handed to the batch plan, so the trainer
 * never runs the reference. */
#ifndef TK_DPO_REFERENCE_H
#define TK_DPO_REFERENCE_H

struct tk_batch_plan;
struct tk_dataset;
struct tk_model;

/* Failures exit: a missing adapter 66, one of another base 65 (unless
 * accepted, tk_cli_lora_load), the scorer's errors with their status. */
void tk_dpo_reference_compute(const char *adapter_path, const struct tk_model *model,
			      const char *backend, int threads, const struct tk_dataset *d,
			      struct tk_batch_plan *plan);

#endif
