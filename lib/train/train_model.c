/* The activation memory a training pass of a given size plans, for
 * --max-memory: the model read as tk_model_desc, then the arena's size
 * table. */
#include "train_internal.h"

#include "tk_model.h"

size_t tk_train_activation_bytes(const tk_model *m, const tk_lora_config *lora,
				 int recompute, size_t tokens)
{
	tk_model_desc d;
	if (tk_model_desc_read(&d, m))
		return 0;
	size_t bytes = tr_arena_bytes(&d, lora ? lora->rank : 0, lora ? lora->targets : 0,
				      recompute, tokens);
	tk_model_desc_free(&d);
	return bytes;
}
