/* The trainer's side of data parallelism: a step's results summed over the
 * ranks, so that every rank logs and decides on the whole batch's. */
#include "tk_dist.h"

#include "tk_error.h"
#include "tk_train.h"

int tk_dist_sum_result(tk_train_result *r, size_t *tokens)
{
	if (tk_dist_size() == 1)
		return TK_OK;
	/* counts travel as doubles: exact below 2^53 */
	double x[10] = {r->loss, r->nll, r->weight, (double)r->tokens, (double)r->pairs,
			(double)r->dpo_correct, r->dpo_margin, (double)*tokens, r->dpo_chosen,
			r->dpo_rejected};
	int rc = tk_dist_sum_doubles(x, 10);
	if (rc)
		return rc;
	*r = (tk_train_result){.loss = x[0], .nll = x[1], .weight = x[2], .tokens = (size_t)x[3],
			       .pairs = (size_t)x[4], .dpo_correct = (size_t)x[5],
			       .dpo_margin = x[6], .dpo_chosen = x[8], .dpo_rejected = x[9]};
	*tokens = (size_t)x[7];
	return TK_OK;
}
