/* Copying fully trained weights back into a host model, through
 * tk_train_get. */
#include "tk_train.h"

#include "tk_error.h"
#include "tk_model.h"

int tk_train_export_model(const tk_train *t, struct tk_model *m)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		tk_model_tensor *x = &m->tensors[i];
		int rc = tk_train_get(t, x->name, 'p', x->data, x->numel);
		if (rc)
			return tk_fail_context(rc, "export: ");
	}
	return TK_OK;
}
