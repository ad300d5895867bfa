/* The forward's lifetime: weights uploaded once into one backend block, a
 * KV cache of fixed slots, and one activation arena planned from the
 * config and the pass size (tk_forward.h). */
#include "forward_internal.h"

#include "kernels.h"
#include "model/decoder_layer.h"
#include "tk_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- weights ----------------------------------------------------------- */

/* Walks every weight in upload order: sizes them (next NULL) or copies
 * them to the block at next and records where.  Matrices multiplied on
 * every pass (linear layers, adapters, lm_head) are stored packed for the
 * batch-invariant product (kernels.h), base weights in the smallest form
 * that holds them exactly.  Finding that form means fitting every block,
 * as packing does again; so the sizing walk first guesses it from a
 * matrix's first rows, and the copying walk's packing checks every value:
 * when a guess was wrong (some later row needs a larger form) both walks
 * run again with the forms of whole matrices. */
#define GUESS_ROWS 64

typedef struct upload {
	tk_forward *f;
	char *next;        // NULL: only sizing
	size_t bytes;
	int compact;       // base weights in compact forms (tk_forward.h)
	int whole;         // forms from whole matrices, not their first rows
	int misfit;        // a guessed form did not hold some value
} upload;

/* Takes `bytes` of the block, 64-byte aligned; NULL when sizing. */
static void *take(upload *u, size_t bytes)
{
	size_t padded = (bytes + 63) / 64 * 64;
	u->bytes += padded;
	if (!u->next)
		return NULL;
	void *dst = u->next;
	u->next += padded;
	return dst;
}

static float *put(upload *u, const float *src, size_t n)
{
	float *dst = take(u, n * sizeof *src);
	if (dst && src)
		tk_copy_to_device(u->f->be, dst, src, n * sizeof *src);
	return src ? dst : NULL;
}

/* w (out, in), packed in *form (chosen when sizing; form NULL: f32). */
static void *put_packed(upload *u, const float *w, size_t in, size_t out, int *form)
{
	int f32 = TK_PACK_F32, *as = form ? form : &f32;
	if (!u->next && form)
		*form = tk_matmul_pack_form(u->f->be, w, in,
					    u->whole || out < GUESS_ROWS ? out : GUESS_ROWS);
	void *dst = take(u, tk_matmul_packed_bytes(u->f->be, *as, in, out));
	if (dst && !tk_matmul_pack_as(u->f->be, dst, *as, w, in, out))
		u->misfit = 1;
	return dst;
}

static void put_lora(upload *u, fwd_layer_dev *ld, const tk_lora *lora, size_t l)
{
	for (int t = 0; t < FWD_N_LINEAR && lora; t++) {
		const tk_lora_pair *p = tk_lora_get(lora, (int)l, t);
		if (!p)
			continue;
		size_t r = (size_t)lora->config.rank;
		ld->lora_a[t] = put_packed(u, p->a, p->in, r, NULL);
		ld->lora_b[t] = put_packed(u, p->b, r, p->out, NULL);
	}
}

static void put_layer(upload *u, size_t l, const tk_lora *lora)
{
	const tk_model_desc *d = &u->f->d;
	const tk_layer_desc *h = &d->layers[l];
	fwd_layer_dev *ld = &u->f->layers[l];
	size_t C = d->hidden, D = d->head_dim;
	ld->attn_norm = put(u, h->attn_norm, C);
	ld->mlp_norm = put(u, h->mlp_norm, C);
	for (int t = 0; t < FWD_N_LINEAR; t++) {
		size_t in, out;
		tk_model_linear_shape(d, t, &in, &out);
		ld->w[t] = put_packed(u, h->w[t], in, out, u->compact ? &ld->w_form[t] : NULL);
		if (t < 3 && h->bias[t])
			ld->bias[t] = put(u, h->bias[t], out);
	}
	if (h->q_norm) {
		ld->q_norm = put(u, h->q_norm, D);
		ld->k_norm = put(u, h->k_norm, D);
	}
	put_lora(u, ld, lora, l);
}

static void put_all(upload *u, const tk_lora *lora)
{
	tk_forward *f = u->f;
	const tk_model_desc *d = &f->d;
	// a tied table is looked up in the packed lm_head: one copy, not two
	f->embed = d->tied ? NULL : put(u, d->embed, d->vocab * d->hidden);
	f->lm_head = put_packed(u, d->lm_head, d->hidden, d->vocab,
				u->compact ? &f->lm_head_form : NULL);
	f->final_norm = put(u, d->final_norm, d->hidden);
	for (size_t l = 0; l < d->n_layers; l++)
		put_layer(u, l, lora);
}

static int upload_weights(tk_forward *f, const tk_lora *lora)
{
	if (!(f->inv_freq = tk_decoder_inv_freq(f->be, &f->d)))
		return TK_EOSERR;
	int compact = f->seqs <= TK_FORWARD_COMPACT_SLOTS, rc = TK_OK;
	for (int whole = 0; whole < 2; whole++) {
		upload count = {f, NULL, 0, compact, whole, 0};
		put_all(&count, lora);
		f->weights = tk_backend_alloc(f->be, count.bytes);
		if (!f->weights) {
			rc = TK_EOSERR;
			break;
		}
		upload copy = {f, f->weights, 0, compact, whole, 0};
		put_all(&copy, lora);
		if (!copy.misfit) {
			f->memory += count.bytes;
			break;
		}
		tk_backend_free(f->be, f->weights);
		f->weights = NULL;
		if (whole) // the whole matrix's form holds it: packing cannot refuse
			rc = tk_fail(TK_EDATA, "forward: a weight does not fit the form chosen for it");
	}
	return rc;
}

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
	size_t r = (size_t)f->lora_rank;
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
	f->layers = tk_calloc(f->d.n_layers ? f->d.n_layers : 1, sizeof *f->layers);
	if (!f->lengths || !f->h_ids || !f->h_out || !f->layers)
		return TK_EOSERR;
	f->h_pos = f->h_ids + n;
	f->h_kv_row = f->h_pos + n;
	f->h_cache_row = f->h_kv_row + n;
	f->h_sel = f->h_cache_row + n;
	return TK_OK;
}

/* ---- open, close ------------------------------------------------------- */

static int check_sizes(const tk_model_desc *d, const tk_lora *lora, size_t seqs,
		       size_t context, size_t tokens)
{
	if (seqs == 0 || context == 0 || tokens == 0)
		return tk_fail(TK_EUSAGE, "forward: slots, context and pass size must be positive");
	if (context > d->max_positions)
		return tk_fail(TK_EUSAGE, "forward: context %zu is longer than the model's %zu "
			       "positions", context, d->max_positions);
	if (seqs * context > INT32_MAX || tokens > INT32_MAX)
		return tk_fail(TK_EUSAGE, "forward: %zu slots x %zu positions is too many", seqs, context);
	if (lora && (lora->n_layers != (int)d->n_layers ||
		     strcmp(lora->base_fingerprint, d->fingerprint) != 0))
		return tk_fail(TK_EDATA, "adapter was made for another base model (fingerprint "
			       "%s, model %s)", lora->base_fingerprint, d->fingerprint);
	if (d->head_dim % 2)
		return tk_fail(TK_ECONFIG, "forward: head dimension %zu is odd", d->head_dim);
	return TK_OK;
}

int tk_forward_open(tk_forward **out, tk_backend *be, const struct tk_model *model,
		    const tk_lora *lora, size_t seqs, size_t context, size_t tokens)
{
	*out = NULL;
	tk_forward *f = tk_calloc(1, sizeof *f);
	if (!f)
		return TK_EOSERR;
	f->be = be;
	f->seqs = seqs;
	f->context = context;
	f->tokens = tokens;
	int rc = tk_model_desc_read(&f->d, model);
	if (!rc)
		rc = check_sizes(&f->d, lora, seqs, context, tokens);
	if (!rc && lora) {
		f->lora_rank = lora->config.rank;
		f->lora_scale = tk_lora_scale(&lora->config);
	}
	f->attn_scale = (float)(1.0 / sqrt((double)f->d.head_dim));
	if (!rc)
		rc = alloc_host(f);
	if (!rc)
		rc = upload_weights(f, lora);
	if (!rc)
		rc = alloc_cache_and_arena(f);
	tk_model_desc_free(&f->d); // the host pointers are not needed any more
	f->d.embed = f->d.lm_head = f->d.final_norm = NULL;
	if (rc) {
		tk_forward_close(f);
		return rc;
	}
	*out = f;
	return TK_OK;
}

void tk_forward_close(tk_forward *f)
{
	if (!f)
		return;
	tk_backend_free(f->be, f->weights);
	tk_backend_free(f->be, f->inv_freq);
	tk_backend_free(f->be, f->cache);
	tk_backend_free(f->be, f->arena_block);
	tk_model_desc_free(&f->d);
	free(f->layers);
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
