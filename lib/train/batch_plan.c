/* Batch plans (tk_batch.h): optimizer batches of units, micro-batches of
 * at most a pass's tokens, the batch's loss denominator, DPO references
 * kept across epochs. */
#include "tk_batch.h"

#include "tk_dist.h"
#include "tk_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tk_batch_plan {
	const tk_dataset *data;    // the training data
	tk_batch_rule rule;
	size_t micro;              // tokens of one forward/backward
	size_t *order, *scratch;   // (data units) for counting steps
	int32_t *tokens;           // (micro) micro-batch staging
	float *weights;            // (micro)
	size_t *starts;            // (micro + 1)
	double *ref;               // (data records) DPO reference logprobs, NaN: not yet
	double *ref_stage;         // (micro) those of a micro-batch's records
	int32_t *top_ids;          // (micro, data top_k) soft targets, or NULL
	float *top_q;              // (micro, data top_k)
	int soft;                  // train on the data's top-K (tk_batch_plan_soft)
	double hard_weight;        // the data's token beside them (tk_train_soft)
};

static int by_size_down(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

size_t tk_batch_most_tokens(const tk_dataset *d, const tk_batch_rule *rule)
{
	size_t n = d->n_units, most = 0;
	if (!rule->records) {
		for (size_t i = 0; i < n; i++)
			most = d->units[i].tokens > most ? d->units[i].tokens : most;
		return most > rule->tokens ? most : rule->tokens;
	}
	size_t *sizes = tk_calloc(n ? n : 1, sizeof *sizes);
	if (!sizes) // the bound only saves memory: without it, one batch of all
		return d->n_tokens;
	for (size_t i = 0; i < n; i++)
		sizes[i] = d->units[i].tokens;
	qsort(sizes, n, sizeof *sizes, by_size_down);
	for (size_t i = 0; i < n && i < rule->records; i++)
		most += sizes[i];
	free(sizes);
	return most;
}

int tk_batch_plan_open(tk_batch_plan **out, const tk_dataset *d, const tk_batch_rule *rule,
		       size_t micro)
{
	*out = NULL;
	tk_batch_plan *p = tk_calloc(1, sizeof *p);
	if (!p)
		return TK_EOSERR;
	size_t n = d->n_units ? d->n_units : 1, m = micro ? micro : 1;
	*p = (tk_batch_plan){.data = d, .rule = *rule, .micro = micro};
	p->order = tk_calloc(n, sizeof *p->order);
	p->scratch = tk_calloc(n, sizeof *p->scratch);
	p->tokens = tk_calloc(m, sizeof *p->tokens);
	p->weights = tk_calloc(m, sizeof *p->weights);
	p->starts = tk_calloc(m + 1, sizeof *p->starts);
	p->ref = tk_calloc(d->n_records ? d->n_records : 1, sizeof *p->ref);
	p->ref_stage = tk_calloc(m, sizeof *p->ref_stage);
	if (d->top_k) {
		p->top_ids = tk_calloc(m * d->top_k, sizeof *p->top_ids);
		p->top_q = tk_calloc(m * d->top_k, sizeof *p->top_q);
	}
	if (!p->order || !p->scratch || !p->tokens || !p->weights || !p->starts || !p->ref ||
	    !p->ref_stage || (d->top_k && (!p->top_ids || !p->top_q))) {
		tk_batch_plan_close(p);
		return TK_EOSERR;
	}
	for (size_t i = 0; i < d->n_records; i++)
		p->ref[i] = NAN;
	*out = p;
	return TK_OK;
}

void tk_batch_plan_close(tk_batch_plan *p)
{
	if (!p)
		return;
	free(p->order);
	free(p->scratch);
	free(p->tokens);
	free(p->weights);
	free(p->starts);
	free(p->ref);
	free(p->ref_stage);
	free(p->top_ids);
	free(p->top_q);
	free(p);
}

void tk_batch_plan_soft(tk_batch_plan *p, double hard_weight)
{
	p->soft = 1;
	p->hard_weight = hard_weight;
}

size_t tk_batch_take(const tk_batch_plan *p, const size_t *order, size_t *index, size_t *out)
{
	const tk_dataset *d = p->data;
	size_t n = 0, tokens = 0;
	while (*index < d->n_units) {
		const tk_unit *u = &d->units[order[*index]];
		if (p->rule.records ? n == p->rule.records : n && tokens + u->tokens > p->rule.tokens)
			break;
		out[n++] = order[(*index)++];
		tokens += u->tokens;
	}
	return n;
}

int64_t tk_batch_count_steps(const tk_batch_plan *p, int64_t epochs, uint64_t seed, int shuffle)
{
	int64_t steps = 0;
	for (int64_t e = 0; e < epochs; e++) {
		tk_dataset_order(p->data, p->order, seed, (uint64_t)e, shuffle);
		for (size_t i = 0; i < p->data->n_units;)
			steps += tk_batch_take(p, p->order, &i, p->scratch) > 0;
	}
	return steps;
}

tk_train_loss tk_batch_loss(const tk_batch_plan *p, const size_t *units, size_t n, int kind,
			    int norm, double dpo_beta)
{
	const tk_dataset *d = p->data;
	tk_train_loss loss = {kind, norm, 0, dpo_beta};
	for (size_t i = 0; i < n; i++) {
		const tk_unit *u = &d->units[units[i]];
		if (kind == TK_TRAIN_DPO || norm == TK_TRAIN_PER_EXAMPLE) {
			loss.denominator += kind == TK_TRAIN_DPO ? 1 : (double)u->count;
			continue;
		}
		for (size_t k = 0; k < u->count; k++) {
			size_t a = d->starts[u->first + k], b = d->starts[u->first + k + 1];
			for (size_t j = a + 1; j < b; j++)
				loss.denominator += d->weights[j];
		}
	}
	if (!(loss.denominator > 0)) // weights summing to 0 (signed weights)
		loss.denominator = 1;
	return loss;
}

/* Whether d's batches run on its top-K: the plan's data after
 * tk_batch_plan_soft, and held-out data of the same width (its top-K the
 * same teacher's, presumably: its loss is then the cross-entropy against
 * it); other data on its tokens. */
static int uses_soft(const tk_batch_plan *p, const tk_dataset *d)
{
	return p->soft && d->top_k && d->top_k == p->data->top_k;
}

/* Copies unit u's records to the staging arrays after *tokens (and their
 * known reference logprobs, training data only). */
static void stage_unit(tk_batch_plan *p, const tk_dataset *d, const tk_unit *u, size_t *tokens,
		       size_t *records)
{
	size_t from = d->starts[u->first];
	memcpy(p->tokens + *tokens, d->tokens + from, u->tokens * sizeof *p->tokens);
	memcpy(p->weights + *tokens, d->weights + from, u->tokens * sizeof *p->weights);
	size_t w = d->top_k;
	if (uses_soft(p, d)) {
		memcpy(p->top_ids + *tokens * w, d->top_ids + from * w, u->tokens * w * sizeof *p->top_ids);
		memcpy(p->top_q + *tokens * w, d->top_q + from * w, u->tokens * w * sizeof *p->top_q);
	}
	for (size_t k = 0; k < u->count; k++) {
		p->ref_stage[*records] = d == p->data ? p->ref[u->first + k] : NAN;
		p->starts[++*records] = *tokens + d->starts[u->first + k + 1] - from;
	}
	*tokens += u->tokens;
}

void tk_batch_plan_set_references(tk_batch_plan *p, const double *ref)
{
	memcpy(p->ref, ref, p->data->n_records * sizeof *p->ref);
}

/* Keeps the reference logprobs a DPO micro-batch computed. */
static void keep_refs(tk_batch_plan *p, const tk_dataset *d, const size_t *units, size_t first,
		      size_t end)
{
	size_t at = 0;
	for (size_t i = first; i < end && d == p->data; i++) {
		const tk_unit *u = &d->units[units[i]];
		for (size_t k = 0; k < u->count; k++)
			p->ref[u->first + k] = p->ref_stage[at++];
	}
}

static void add_result(tk_train_result *sum, const tk_train_result *x)
{
	sum->loss += x->loss;
	sum->nll += x->nll;
	sum->weight += x->weight;
	sum->tokens += x->tokens;
	sum->pairs += x->pairs;
	sum->dpo_correct += x->dpo_correct;
	sum->dpo_margin += x->dpo_margin;
	sum->dpo_chosen += x->dpo_chosen;
	sum->dpo_rejected += x->dpo_rejected;
}

/* Runs this rank's units (all of them in one process). */
static int run_units(tk_batch_plan *p, tk_train *t, const tk_dataset *d, const size_t *units,
		     size_t n, const tk_train_loss *loss, int grads, tk_train_result *sum,
		     size_t *done)
{
	for (size_t i = 0; i < n;) {
		size_t tokens = 0, records = 0, first = i;
		p->starts[0] = 0;
		while (i < n && (tokens == 0 || tokens + d->units[units[i]].tokens <= p->micro))
			stage_unit(p, d, &d->units[units[i++]], &tokens, &records);
		tk_train_batch b = {tokens, records, p->tokens, p->weights, p->starts};
		tk_train_soft soft = {d->top_k, p->top_ids, p->top_q, p->hard_weight};
		int use_soft = uses_soft(p, d) && loss->kind == TK_TRAIN_CE;
		tk_train_result res;
		int rc = use_soft ? grads ? tk_train_forward_backward_soft(t, &b, loss, &soft, &res)
					  : tk_train_forward_soft(t, &b, loss, &soft, &res)
			: !grads ? tk_train_forward(t, &b, loss, &res, NULL)
			: loss->kind == TK_TRAIN_DPO
			? tk_train_forward_backward_ref(t, &b, loss, p->ref_stage, &res, NULL)
			: tk_train_forward_backward(t, &b, loss, &res, NULL);
		if (rc)
			return rc;
		if (loss->kind == TK_TRAIN_DPO)
			keep_refs(p, d, units, first, i);
		add_result(sum, &res);
		*done += tokens;
	}
	return TK_OK;
}

int tk_batch_run(tk_batch_plan *p, tk_train *t, const tk_dataset *d, const size_t *units,
		 size_t n, const tk_train_loss *loss, int grads, tk_train_result *sum,
		 size_t *done)
{
	*done = 0;
	memset(sum, 0, sizeof *sum);
	/* data parallelism (tk_dist.h): each rank runs its block of the batch,
	 * the loss's denominator already the whole batch's; the gradients are
	 * summed in tk_train_optim_step, the results here */
	size_t first, count;
	tk_dist_share(n, &first, &count);
	int rc = run_units(p, t, d, units + first, count, loss, grads, sum, done);
	return rc ? rc : tk_dist_sum_result(sum, done);
}
