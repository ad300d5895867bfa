/* Adapters by name on an engine: attached copies, packed for the product
 * as the base is, and trainers' live weights (tk_engine.h). */
#include "engine_internal.h"

#include "kernels.h"
#include "tk_error.h"
#include "tk_lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

engine_adapter *engine_adapter_find(const tk_engine *e, const char *name)
{
	for (engine_adapter *a = e->adapters; a && name; a = a->next)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

int tk_engine_has(const tk_engine *e, const char *name)
{
	return engine_adapter_find(e, name) != NULL;
}

/* A new adapter entry with its pointer tables, not yet linked in. */
static int adapter_new(tk_engine *e, const char *name, int rank, float scale,
		       engine_adapter **out)
{
	*out = NULL;
	if (!name || !*name || strlen(name) >= ENGINE_NAME_MAX)
		return tk_fail(TK_EUSAGE, "engine: an adapter name is 1..%d characters",
			       ENGINE_NAME_MAX - 1);
	if (engine_adapter_find(e, name))
		return tk_fail(TK_EUSAGE, "engine: an adapter named \"%s\" is already attached",
			       name);
	size_t slots = (e->d.n_layers ? e->d.n_layers : 1) * ENGINE_N_LINEAR;
	engine_adapter *a = tk_calloc(1, sizeof *a);
	if (a && (!(a->a = tk_calloc(slots, sizeof *a->a)) || !(a->b = tk_calloc(slots, sizeof *a->b)))) {
		free(a->a);
		free(a);
		a = NULL;
	}
	if (!a)
		return TK_EOSERR;
	snprintf(a->name, sizeof a->name, "%s", name);
	a->rank = rank;
	a->scale = scale;
	*out = a;
	return TK_OK;
}

static void adapter_link(tk_engine *e, engine_adapter *a)
{
	a->next = e->adapters;
	e->adapters = a;
}

void engine_adapter_remove(tk_engine *e, engine_adapter *a)
{
	for (engine_adapter **p = &e->adapters; *p; p = &(*p)->next)
		if (*p == a) {
			*p = a->next;
			break;
		}
	tk_backend_free(e->be, a->block);
	free(a->a);
	free(a->b);
	free(a);
}

int engine_adapter_live(tk_engine *e, const char *name, int rank, float scale,
			engine_adapter **out)
{
	int rc = adapter_new(e, name, rank, scale, out);
	if (!rc)
		adapter_link(e, *out);
	return rc;
}

/* Sizes (at NULL) or fills the packed copy of lora's matrices at `at`. */
static size_t pack_adapter(tk_engine *e, engine_adapter *a, const tk_lora *lora, char *at)
{
	size_t bytes = 0, r = (size_t)lora->config.rank;
	for (size_t l = 0; l < e->d.n_layers; l++)
		for (int t = 0; t < ENGINE_N_LINEAR; t++) {
			const tk_lora_pair *p = tk_lora_get(lora, (int)l, t);
			if (!p)
				continue;
			size_t na = tk_matmul_packed_floats(e->be, p->in, r) * sizeof(float);
			size_t nb = tk_matmul_packed_floats(e->be, r, p->out) * sizeof(float);
			na = (na + 63) / 64 * 64, nb = (nb + 63) / 64 * 64;
			if (at) {
				float *pa = (float *)(at + bytes), *pb = (float *)(at + bytes + na);
				tk_matmul_pack(e->be, pa, p->a, p->in, r);
				tk_matmul_pack(e->be, pb, p->b, r, p->out);
				a->a[l * ENGINE_N_LINEAR + (size_t)t] = pa;
				a->b[l * ENGINE_N_LINEAR + (size_t)t] = pb;
			}
			bytes += na + nb;
		}
	return bytes;
}

int tk_engine_attach(tk_engine *e, const char *name, const tk_lora *lora)
{
	if (lora->n_layers != (int)e->d.n_layers ||
	    strcmp(lora->base_fingerprint, e->d.fingerprint) != 0)
		return tk_fail(TK_EDATA, "adapter was made for another base model (fingerprint "
			       "%s, model %s)", lora->base_fingerprint, e->d.fingerprint);
	engine_adapter *a;
	int rc = adapter_new(e, name, lora->config.rank, tk_lora_scale(&lora->config), &a);
	if (rc)
		return rc;
	a->packed = 1;
	a->bytes = pack_adapter(e, a, lora, NULL);
	a->block = tk_backend_alloc(e->be, a->bytes ? a->bytes : 64);
	if (!a->block) {
		engine_adapter_remove(e, a); // not linked: frees what it holds
		return tk_fail_context(TK_EOSERR, "adapter %s: ", name);
	}
	pack_adapter(e, a, lora, a->block);
	adapter_link(e, a);
	return TK_OK;
}

int tk_engine_detach(tk_engine *e, const char *name)
{
	engine_adapter *a = engine_adapter_find(e, name);
	if (!a)
		return tk_fail(TK_EUSAGE, "engine: no adapter named \"%s\"", name ? name : "");
	if (!a->packed || a->borrowed)
		return tk_fail(TK_EUSAGE, "engine: adapter \"%s\" is in use", name);
	engine_adapter_remove(e, a);
	return TK_OK;
}
