/* The forward's lifetime: the weights of an engine (its own, or borrowed
 * with an adapter by name), a KV cache of fixed slots, and one activation
 * arena planned from the config and the pass size (tk_forward.h). */
#include "forward_internal.h"

#include "kernels.h"
#include "model/decoder_layer.h"
#include "tk_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- cache and arena --------------------------------------------------- */

float *fwd_k_cache(const tk_forward *f, size_t l)
{
	size_t per = f->seqs * f->context * f->d.kv_heads * f->d.head_dim;
	return f->cache + (2 * l) * per;
}

float *fwd_v_cache(const tk_forward *f, size_t l)
{
	size_t per = f->seqs * f->context * f->d.kv_heads * f->d.head_dim;
	return f->cache + (2 * l + 1) * per;
}

/* Lays out (or, with base NULL, sizes) the arena for n tokens. */
static size_t plan_arena(fwd_arena *a, char *base, const tk_forward *f)
{
	const tk_model_desc *d = &f->d;
	size_t n = f->tokens, L = TK_FORWARD_LOGIT_ROWS, C = d->hidden;
	size_t HD = d->heads * d->head_dim, KVD = d->kv_heads * d->head_dim;
	size_t max_out = d->inter > HD ? d->inter : HD;
	max_out = max_out > C ? max_out : C;
	size_t r = f->adapter ? (size_t)f->adapter->rank : 0;
	size_t at = 0;
#define TAKE(field, count) do {                                         \
		size_t bytes_ = ((count) * sizeof *a->field + 63) / 64 * 64;    \
		if (base)                                                       \
			a->field = (void *)(base + at);                         \
		at += bytes_;                                                   \
	} while (0)
	TAKE(x, n * C); TAKE(xn, n * C);
	TAKE(q, n * HD); TAKE(att, n * HD);
	TAKE(k, n * KVD); TAKE(v, n * KVD); TAKE(k_pre, d->qk_norm ? n * KVD : 1);
	TAKE(gate, n * d->inter); TAKE(up, n * d->inter); TAKE(act, n * d->inter);
	TAKE(lora_t, n * (r ? r : 1)); TAKE(lora_u, r ? n * max_out : 1);
	TAKE(rope, n * d->head_dim);
	TAKE(hsel, L * C); TAKE(hnorm, L * C); TAKE(logits, L * d->vocab);
	TAKE(ids, n); TAKE(pos, n); TAKE(kv_row, n); TAKE(cache_row, n); TAKE(sel, L);
#undef TAKE
	return at;
}

static int alloc_cache_and_arena(tk_forward *f)
{
	size_t cache_floats = 2 * f->d.n_layers * f->seqs * f->context * f->d.kv_heads * f->d.head_dim;
	f->cache = tk_backend_alloc(f->be, cache_floats * sizeof(float));
	if (!f->cache)
		return tk_fail_context(TK_EOSERR, "KV cache of %zu slots x %zu positions: ",
				       f->seqs, f->context);
	/* not zeroed: a row is written (tk_rows_scatter) before attention
	 * reads it, so only the rows sequences reach are ever touched */
	size_t bytes = plan_arena(&f->a, NULL, f);
	f->arena_block = tk_backend_alloc(f->be, bytes);
	if (!f->arena_block)
		return TK_EOSERR;
	plan_arena(&f->a, f->arena_block, f);
	f->memory += cache_floats * sizeof(float) + bytes;
	return TK_OK;
}

static int alloc_host(tk_forward *f)
{
	size_t n = f->tokens;
	f->lengths = tk_calloc(f->seqs, sizeof *f->lengths);
	f->h_ids = tk_calloc(5 * n, sizeof *f->h_ids);
	f->h_out = tk_calloc(n, sizeof *f->h_out);
	if (!f->lengths || !f->h_ids || !f->h_out)
		return TK_EOSERR;
	f->h_pos = f->h_ids + n;
	f->h_kv_row = f->h_pos + n;
	f->h_cache_row = f->h_kv_row + n;
	f->h_sel = f->h_cache_row + n;
	return TK_OK;
}

/* ---- open, close ------------------------------------------------------- */

static int check_sizes(const tk_model_desc *d, size_t seqs, size_t context, size_t tokens)
{
	if (seqs == 0 || context == 0 || tokens == 0)
		return tk_fail(TK_EUSAGE, "forward: slots, context and pass size must be positive");
	if (context > d->max_positions)
		return tk_fail(TK_EUSAGE, "forward: context %zu is longer than the model's %zu "
			       "positions", context, d->max_positions);
	if (seqs * context > INT32_MAX || tokens > INT32_MAX)
		return tk_fail(TK_EUSAGE, "forward: %zu slots x %zu positions is too many", seqs, context);
	return TK_OK;
}

int tk_forward_open_engine(tk_forward **out, tk_engine *e, const char *adapter, size_t seqs,
			   size_t context, size_t tokens)
{
	*out = NULL;
	engine_adapter *a = adapter ? engine_adapter_find(e, adapter) : NULL;
	if (adapter && !a)
		return tk_fail(TK_EUSAGE, "forward: the engine has no adapter named \"%s\"", adapter);
	tk_forward *f = tk_calloc(1, sizeof *f);
	if (!f)
		return TK_EOSERR;
	f->be = e->be;
	f->e = e;
	f->d = e->d;
	f->seqs = seqs;
	f->context = context;
	f->tokens = tokens;
	f->attn_scale = (float)(1.0 / sqrt((double)f->d.head_dim));
	if ((f->adapter = a))
		a->borrowed++;
	int rc = check_sizes(&f->d, seqs, context, tokens);
	if (!rc)
		rc = alloc_host(f);
	if (!rc)
		rc = alloc_cache_and_arena(f);
	if (rc) {
		tk_forward_close(f);
		return rc;
	}
	*out = f;
	return TK_OK;
}

int tk_forward_open(tk_forward **out, tk_backend *be, const struct tk_model *model,
		    const tk_lora *lora, size_t seqs, size_t context, size_t tokens)
{
	*out = NULL;
	tk_engine *e;
	tk_engine_config c = {.compact = seqs <= TK_FORWARD_COMPACT_SLOTS};
	int rc = tk_engine_open(&e, be, model, &c);
	if (!rc && lora)
		rc = tk_engine_attach(e, "adapter", lora);
	if (!rc)
		rc = tk_forward_open_engine(out, e, lora ? "adapter" : NULL, seqs, context, tokens);
	if (rc) {
		tk_engine_close(e);
		return rc;
	}
	(*out)->owns_engine = 1;
	(*out)->memory += tk_engine_memory(e);
	return TK_OK;
}

void tk_forward_close(tk_forward *f)
{
	if (!f)
		return;
	if (f->adapter)
		f->adapter->borrowed--;
	tk_backend_free(f->be, f->cache);
	tk_backend_free(f->be, f->arena_block);
	if (f->owns_engine)
		tk_engine_close(f->e);
	free(f->lengths);
	free(f->h_ids);
	free(f->h_out);
	free(f);
}

/* ---- slots ------------------------------------------------------------- */

void tk_forward_clear(tk_forward *f, size_t slot)
{
	if (slot < f->seqs)
		f->lengths[slot] = 0;
}

void tk_forward_truncate(tk_forward *f, size_t slot, size_t n)
{
	if (slot < f->seqs && n < f->lengths[slot])
		f->lengths[slot] = n;
}

void tk_forward_fork(tk_forward *f, size_t dst, size_t src)
{
	if (dst == src || dst >= f->seqs || src >= f->seqs)
		return;
	size_t row = f->d.kv_heads * f->d.head_dim, n = f->lengths[src];
	for (size_t l = 0; l < f->d.n_layers; l++) {
		float *k = fwd_k_cache(f, l), *v = fwd_v_cache(f, l);
		tk_copy_on_device(f->be, k + dst * f->context * row, k + src * f->context * row,
				  n * row * sizeof *k);
		tk_copy_on_device(f->be, v + dst * f->context * row, v + src * f->context * row,
				  n * row * sizeof *v);
	}
	f->lengths[dst] = n;
}

size_t tk_forward_length(const tk_forward *f, size_t slot)
{
	return slot < f->seqs ? f->lengths[slot] : 0;
}

size_t tk_forward_vocab(const tk_forward *f) { return f->d.vocab; }
size_t tk_forward_context(const tk_forward *f) { return f->context; }
size_t tk_forward_slots(const tk_forward *f) { return f->seqs; }
size_t tk_forward_memory(const tk_forward *f) { return f->memory; }
