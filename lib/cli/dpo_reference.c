/* DPO's reference from a model with an adapter (dpo_reference.h). */
#include "cli/dpo_reference.h"
#include "cli/tk_cli.h"

#include "tk_batch.h"
#include "tk_dataset.h"
#include "tk_error.h"
#include "tk_eval.h"
#include "tk_lora.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Σ w·log p of record i of d: each token's logprob given those before it,
 * weighted as the trainer weighs it (the first token has no logprob). */
static int record_reference(tk_eval_scorer *s, const tk_dataset *d, size_t i, float *logprob,
			    double *out)
{
	size_t from = d->starts[i], n = d->starts[i + 1] - from;
	int rc = tk_eval_scorer_sequence(s, d->tokens + from, n, logprob);
	double sum = 0;
	for (size_t t = 1; !rc && t < n; t++)
		sum += (double)d->weights[from + t] * logprob[t];
	*out = sum;
	return rc;
}

void tk_dpo_reference_compute(const char *adapter_path, const struct tk_model *model,
			      const char *backend, int threads, const struct tk_dataset *d,
			      struct tk_batch_plan *plan)
{
	if (access(adapter_path, R_OK))
		tk_die(TK_ENOINPUT, "--reference-adapter %s: cannot open: %s", adapter_path,
		       strerror(errno));
	tk_lora *lora = NULL;
	int rc = tk_cli_lora_load(&lora, adapter_path, model);
	if (rc)
		tk_die(rc, "--reference-adapter %s: %s", adapter_path, tk_error_message());
	tk_eval_scorer *s = NULL;
	tk_check(tk_eval_scorer_open(&s, backend, threads, model, lora, 1));
	size_t longest = 1;
	for (size_t i = 0; i < d->n_records; i++)
		if (d->starts[i + 1] - d->starts[i] > longest)
			longest = d->starts[i + 1] - d->starts[i];
	float *logprob = tk_malloc(longest * sizeof *logprob);
	double *ref = tk_malloc((d->n_records ? d->n_records : 1) * sizeof *ref);
	rc = logprob && ref ? TK_OK : TK_EOSERR;
	for (size_t i = 0; !rc && i < d->n_records; i++)
		rc = record_reference(s, d, i, logprob, &ref[i]);
	if (!rc)
		tk_batch_plan_set_references(plan, ref);
	free(logprob);
	free(ref);
	tk_eval_scorer_close(s);
	tk_lora_free(lora);
	if (rc)
		tk_die(rc, "--reference-adapter %s: %s", adapter_path, tk_error_message());
}
