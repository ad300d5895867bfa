/* Models beside the policy (side_model.h). */
#include "cli/side_model.h"
#include "cli/tk_cli.h"

#include "tk_engine.h"
#include "tk_error.h"
#include "tk_eval.h"
#include "tk_forward.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_tokenizer.h"

#include <string.h>

static int same_tokenizer(const tk_side_model *m, uint64_t policy_tok, const char *path)
{
	if (m->model->tokenizer && tk_tokenizer_fingerprint(m->model->tokenizer) == policy_tok)
		return TK_OK;
	return tk_fail(TK_EDATA, "--%s %s: its tokenizer is not the policy's (it reads the "
		       "policy's tokens)", m->role, path);
}

static int attach_adapter(tk_side_model *m, const char *path)
{
	tk_lora *lora = NULL;
	int rc = tk_cli_lora_load(&lora, path, m->model);
	if (!rc)
		rc = tk_engine_attach(m->engine, m->role, lora);
	tk_lora_free(lora);
	if (rc)
		return tk_fail_context(rc, "--%s-adapter %s: ", m->role, path);
	m->adapter = m->role;
	m->attached = 1;
	return TK_OK;
}

/* The policy's engine when the side model is its base, else its own. */
static int place(tk_side_model *m, const tk_side_policy *policy)
{
	char fp[17], weights[17];
	tk_model_fingerprint_hex(m->model, fp);
	int rc = tk_model_weights_hex(m->model, weights);
	if (rc)
		return rc;
	if (policy->engine && !strcmp(fp, policy->fingerprint) &&
	    !strcmp(weights, policy->weights)) {
		m->engine = policy->engine; // the same base: held once
		return TK_OK;
	}
	tk_engine_config ec = {.compact = 1};
	rc = tk_engine_open(&m->own, policy->be, m->model, &ec);
	m->engine = m->own;
	return rc;
}

int tk_side_model_open(tk_side_model *m, const char *role, const char *model,
		       const char *adapter, const tk_side_policy *policy)
{
	*m = (tk_side_model){.role = role};
	if (!model)
		return TK_OK;
	int rc = tk_model_load(&m->model, model);
	if (rc)
		rc = tk_fail_context(rc, "--%s %s: ", role, model);
	if (!rc)
		rc = same_tokenizer(m, policy->tokenizer, model);
	if (!rc)
		rc = place(m, policy);
	if (!rc && adapter)
		rc = attach_adapter(m, adapter);
	if (rc) {
		tk_side_model_close(m);
		return rc;
	}
	tk_model_drop_weights(m->model);
	return TK_OK;
}

int tk_side_model_forward(tk_side_model *m, size_t slots, size_t context,
			  struct tk_forward **out)
{
	return tk_forward_open_engine(out, m->engine, m->adapter, slots, context, 1024);
}

int tk_side_model_scorer(tk_side_model *m, size_t slots, struct tk_eval_scorer **out)
{
	return tk_eval_scorer_open_engine(out, m->engine, m->adapter, slots);
}

void tk_side_model_close(tk_side_model *m)
{
	const char *role = m->role;
	if (m->attached)
		tk_engine_detach(m->engine, m->adapter);
	tk_engine_close(m->own);
	tk_model_free(m->model);
	*m = (tk_side_model){.role = role};
}
