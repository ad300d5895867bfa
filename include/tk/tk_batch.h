/* Batch plans: a dataset's units (records, or DPO pairs) into optimizer
 * batches, and a batch into micro-batches that one forward/backward holds,
 * the loss's denominator covering the whole batch so that the accumulated
 * gradient is the batch's.  A unit is never split across micro-batches.
 *
 *   tk_batch_rule rule = {.records = 8};             // or .tokens = 4096
 *   size_t micro = tk_batch_most_tokens(d, &rule);   // cap by a memory budget
 *   tk_batch_plan *p;
 *   tk_batch_plan_open(&p, d, &rule, micro);
 *   n = tk_batch_take(p, order, &index, units);      // one step's units
 *   tk_train_loss loss = tk_batch_loss(p, units, n, TK_TRAIN_CE, norm, beta);
 *   tk_batch_run(p, t, d, units, n, &loss, 1, &sum); // forward/backward, accumulated
 *   tk_train_optim_step(t, ...);
 *
 * DPO references: the plan keeps each training record's reference logprob
 * once computed, so later epochs do not compute it again. */
#ifndef TK_BATCH_H
#define TK_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "tk_dataset.h"
#include "tk_train.h"

/* A batch: `records` units, or (records 0) units up to `tokens` tokens
 * (at least one). */
typedef struct tk_batch_rule {
	size_t records, tokens;
} tk_batch_rule;

typedef struct tk_batch_plan tk_batch_plan;

/* The most tokens one batch of d can hold: no pass needs more. */
size_t tk_batch_most_tokens(const tk_dataset *d, const tk_batch_rule *rule);

/* A plan over d (training data: DPO references kept for its records) with
 * micro-batches of at most micro tokens (at least d's longest unit). */
int tk_batch_plan_open(tk_batch_plan **out, const tk_dataset *d, const tk_batch_rule *rule,
		       size_t micro);
void tk_batch_plan_close(tk_batch_plan *p);   /* safe on NULL */

/* The next batch's units from order, from *index on (advanced); 0 at the
 * epoch's end.   out (d->n_units) */
size_t tk_batch_take(const tk_batch_plan *p, const size_t *order, size_t *index, size_t *out);
/* Steps in `epochs` epochs of the seeded orders. */
int64_t tk_batch_count_steps(const tk_batch_plan *p, int64_t epochs, uint64_t seed, int shuffle);

/* The loss of a batch of units: its denominator counts the whole batch
 * (records per example, pairs for DPO, weights per token; 1 when 0). */
tk_train_loss tk_batch_loss(const tk_batch_plan *p, const size_t *units, size_t n, int kind,
			    int norm, double dpo_beta);

/* Soft targets: after this call, when the plan's data holds a top-K
 * (tk_dataset.h), its cross-entropy batches train against it
 * (tk_train_forward_backward_soft) with the data's own token weighted
 * hard_weight (0: the top-K alone); so do other data's (held-out) when
 * their top-K is as wide.  Without it, or another width, batches run on
 * their tokens. */
void tk_batch_plan_soft(tk_batch_plan *p, double hard_weight);

/* DPO references known in advance (another reference than the trainer's
 * model without its adapter): ref (the plan's data records) holds each
 * record's reference Σ w·log p, used instead of computing it. */
void tk_batch_plan_set_references(tk_batch_plan *p, const double *ref);

/* Runs units of d (the plan's or another dataset of no longer units, e.g.
 * evaluation data) in micro-batches: gradients accumulated (grads) or a
 * forward only; the results summed into *sum.  Returns the status; *tokens
 * the tokens run. */
int tk_batch_run(tk_batch_plan *p, tk_train *t, const tk_dataset *d, const size_t *units,
		 size_t n, const tk_train_loss *loss, int grads, tk_train_result *sum,
		 size_t *tokens);

#endif
