/* Soft targets for the fused cross-entropy (top-K distillation): a batch's
 * top-K rows turned into the kernel's (n, K + 1) ids and probabilities,
 * by prediction position: position i predicts token i + 1 of its record,
 * so it takes the batch's row i + 1 (the .tks convention, as weights),
 * the data's own token in slot 0 with hard_weight and the top-K after it
 * with (1 − hard_weight) · q.  A row whose q holds no probability keeps
 * the token alone (weight 1); a record's last position has no target. */
#include "train_internal.h"

#include "kernels.h"
#include "tk_error.h"

#include <stdlib.h>
#include <string.h>

/* Position i's slots, from the batch's row `row`. */
static void position_targets(const tk_train_batch *b, const tk_train_soft *soft, size_t row,
			     int32_t *ids, float *q)
{
	size_t k = soft->k;
	const int32_t *top = soft->ids + row * k;
	const float *p = soft->q + row * k;
	double hard = soft->hard_weight;
	double mass = 0.0;
	for (size_t s = 0; s < k; s++)
		mass += top[s] >= 0 ? p[s] : 0.0;
	double of_top = mass > 0 ? 1.0 - hard : 0.0;
	ids[0] = b->tokens[row];
	q[0] = (float)(mass > 0 ? hard : 1.0);
	for (size_t s = 0; s < k; s++) {
		ids[1 + s] = top[s];
		q[1 + s] = top[s] >= 0 ? (float)(of_top * p[s]) : 0.0f;
	}
}

static int check_soft(const tk_train *t, const tk_train_batch *b, const tk_train_soft *soft)
{
	if (!soft->k || !soft->ids || !soft->q)
		return tk_fail(TK_EUSAGE, "train: soft targets without ids or probabilities");
	if (!(soft->hard_weight >= 0 && soft->hard_weight <= 1))
		return tk_fail(TK_EUSAGE, "train: the hard targets' weight %g is not within 0..1",
			       soft->hard_weight);
	for (size_t i = 0; i < b->n * soft->k; i++)
		if (soft->ids[i] < -1 || soft->ids[i] >= (int64_t)t->d.vocab)
			return tk_fail(TK_EDATA, "train: top-K id %d of token %zu is outside the vocabulary of %zu",
				       soft->ids[i], i / soft->k, t->d.vocab);
	return TK_OK;
}

int tr_soft_stage(tk_train *t, const tk_train_batch *b, const tk_train_soft *soft, tr_soft *s)
{
	memset(s, 0, sizeof *s);
	int rc = check_soft(t, b, soft);
	if (rc)
		return rc;
	size_t k = soft->k + 1, n = b->n;
	int32_t *ids = tk_malloc(n * k * sizeof *ids);
	float *q = tk_malloc(n * k * sizeof *q);
	s->k = k;
	s->ids = tk_backend_alloc(t->be, n * k * sizeof *s->ids);
	s->q = tk_backend_alloc(t->be, n * k * sizeof *s->q);
	if (!ids || !q || !s->ids || !s->q) {
		free(ids);
		free(q);
		tr_soft_free(t, s);
		return tk_fail(TK_EOSERR, "train: out of memory for %zu x %zu soft targets", n, k);
	}
	for (size_t r = 0; r < b->n_records; r++) {
		size_t from = b->starts[r], end = b->starts[r + 1];
		for (size_t i = from; i + 1 < end; i++)
			position_targets(b, soft, i + 1, ids + i * k, q + i * k);
		for (size_t j = 0; j < k; j++) // the record's last token predicts nothing
			ids[(end - 1) * k + j] = -1, q[(end - 1) * k + j] = 0.0f;
	}
	tk_copy_to_device(t->be, s->ids, ids, n * k * sizeof *ids);
	tk_copy_to_device(t->be, s->q, q, n * k * sizeof *q);
	free(ids);
	free(q);
	return TK_OK;
}

void tr_soft_free(tk_train *t, tr_soft *s)
{
	tk_backend_free(t->be, s->ids);
	tk_backend_free(t->be, s->q);
	memset(s, 0, sizeof *s);
}
