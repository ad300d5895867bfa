/* The two numbers of a model's config the scorer needs, read here because
 * tk_model.h and kernels.h cannot meet in one file (each defines enum
 * tk_rope_type; see forward_internal.h). */
#include "eval_internal.h"
#include "tk_model.h"

void eval_model_limits(const struct tk_model *m, size_t *vocab, size_t *max_positions)
{
	*vocab = (size_t)m->config.vocab;
	*max_positions = (size_t)m->config.max_positions;
}
