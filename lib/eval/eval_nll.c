/* Negative log-likelihood sums and what a report derives from them. */
#include "tk_eval.h"

#include <math.h>

void tk_eval_nll_add(tk_eval_nll *acc, const float *logprob, const float *weights,
		     const uint32_t *bytes, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (weights[i] == 0)
			continue;
		acc->nats -= (double)weights[i] * (double)logprob[i];
		acc->weight += weights[i];
		acc->bytes += (double)weights[i] * (double)bytes[i];
		acc->tokens++;
	}
	acc->records++;
}

double tk_eval_nll_mean(const tk_eval_nll *acc)
{
	return acc->weight != 0 ? acc->nats / acc->weight : NAN;
}

double tk_eval_nll_ppl(const tk_eval_nll *acc) { return exp(tk_eval_nll_mean(acc)); }

double tk_eval_nll_bpb(const tk_eval_nll *acc)
{
	return acc->bytes > 0 ? acc->nats / log(2.0) / acc->bytes : NAN;
}
