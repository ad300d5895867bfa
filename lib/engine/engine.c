/* The engine's lifetime: every base weight uploaded once into one backend
 * block, packed for the product (and for the backward with .train), or in
 * compact forms (tk_engine.h). */
#include "engine_internal.h"

#include "kernels.h"
#include "model/decoder_layer.h"
#include "tk_error.h"
#include "tk_model.h"

#include <stdlib.h>
#include <string.h>

/* Walks every weight in upload order: sizes them (next NULL) or copies
 * them to the block at next and records where.  Base weights in compact
 * forms are in the smallest form that holds them exactly.  Finding that
 * form means fitting every block, as packing does again; so the sizing
 * walk first guesses it from a matrix's first rows, and the copying
 * walk's packing checks every value: when a guess was wrong (some later
 * row needs a larger form) both walks run again with the forms of whole
 * matrices.  A lazily loaded model's deferred matrices (tk_model_load_lazy)
 * are read one at a time into a scratch copy when their values are wanted
 * and freed once packed, so the host never holds the whole model in
 * float32. */
#define GUESS_ROWS 64

typedef struct upload {
	tk_engine *e;
	const tk_model *model; // where deferred matrices are read from
	char *next;        // NULL: only sizing
	size_t bytes;
	int whole;         // forms from whole matrices, not their first rows
	int misfit;        // a guessed form did not hold some value
	int asked;         // a form asked for (-1: the smallest that holds each matrix)
	long misfit_layer; // the first matrix that did not hold in it: layer, target
	int misfit_target;
	int error;         // a deferred matrix could not be read
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

/* A matrix's values: its host floats, or when those are deferred and
 * `wanted`, the tensor read into *scratch (the caller frees it); NULL when
 * not wanted or when reading failed (u->error). */
static const float *values(upload *u, const float *w, const tk_model_tensor *t, int wanted,
			   float **scratch)
{
	*scratch = NULL;
	if (w || !t || !wanted || u->error)
		return w;
	if (!(*scratch = tk_malloc(t->numel * sizeof **scratch))) {
		u->error = TK_EOSERR;
		return NULL;
	}
	int rc = tk_model_tensor_read(u->model, t, *scratch);
	if (rc) {
		u->error = rc;
		free(*scratch);
		*scratch = NULL;
	}
	return *scratch;
}

static float *put(upload *u, const float *src, size_t n)
{
	float *dst = take(u, n * sizeof *src);
	if (dst && src)
		tk_copy_to_device(u->e->be, dst, src, n * sizeof *src);
	return src ? dst : NULL;
}

/* w (out, in), packed in *form (chosen when sizing, or the one asked for;
 * form NULL: f32). */
static void *put_packed(upload *u, const float *w, size_t in, size_t out, int *form)
{
	int f32 = TK_PACK_F32, *as = form ? form : &f32;
	if (!u->next && form)
		*form = u->asked >= 0 ? u->asked
			: !w	      ? TK_PACK_F32 // unread: reading failed
				      : tk_matmul_pack_form(u->e->be, w, in,
							    u->whole || out < GUESS_ROWS ? out
											 : GUESS_ROWS);
	void *dst = take(u, tk_matmul_packed_bytes(u->e->be, *as, in, out));
	if (dst && w && !tk_matmul_pack_as(u->e->be, dst, *as, w, in, out))
		u->misfit = 1;
	return dst;
}

/* Whether put_packed reads the values: when copying, or choosing a form. */
static int reads_values(const upload *u, const int *form)
{
	return u->next || (form && u->asked < 0);
}

/* The form a base matrix is packed in, chosen: NULL for float32. */
static int *form_slot(const tk_engine *e, int *slot)
{
	return e->compact || (e->train && e->base != TK_ENGINE_BASE_F32) ? slot : NULL;
}

/* w packed for dx = dy·W (the trainer's backward). */
static float *put_backward(upload *u, const float *w, size_t in, size_t out)
{
	float *dst = take(u, tk_matmul_packed_backward_floats(u->e->be, in, out) * sizeof(float));
	if (dst && w)
		tk_matmul_pack_backward(u->e->be, dst, w, in, out);
	return dst;
}

/* With bf16 products, the lm_head's dh = g·W multiplies Wᵀ (C, vocab) in
 * bf16 (kernels.h, tk_cross_entropy_fused): packed a panel of 48 rows at
 * a time from a transposed slice of w (vocab, C), since a form's panels
 * are packed each on its own (the rows 48p.. packed alone are panel p). */
#define PANEL_ROWS 48

static void *put_transposed_dot(upload *u, const float *w, size_t c, size_t vocab)
{
	tk_backend *be = u->e->be;
	size_t panel = tk_matmul_packed_bytes(be, TK_PACK_BF16_DOT, vocab, PANEL_ROWS);
	unsigned char *dst = take(u, (c + PANEL_ROWS - 1) / PANEL_ROWS * panel);
	if (!dst || !w)
		return dst;
	float *slice = tk_malloc(PANEL_ROWS * vocab * sizeof *slice); // (PANEL_ROWS, vocab)
	if (!slice) {
		u->error = TK_EOSERR;
		return dst;
	}
	for (size_t j0 = 0; j0 < c; j0 += PANEL_ROWS) {
		size_t rows = c - j0 < PANEL_ROWS ? c - j0 : PANEL_ROWS;
		for (size_t v = 0; v < vocab; v++)
			for (size_t r = 0; r < rows; r++)
				slice[r * vocab + v] = w[v * c + j0 + r];
		tk_matmul_pack_as(be, dst + j0 / PANEL_ROWS * panel, TK_PACK_BF16_DOT, slice, vocab,
				  rows);
	}
	free(slice);
	return dst;
}

static void put_layer(upload *u, size_t l)
{
	tk_engine *e = u->e;
	const tk_model_desc *d = &e->d;
	const tk_layer_desc *h = &d->layers[l];
	engine_layer *el = &e->layers[l];
	size_t C = d->hidden, D = d->head_dim;
	el->attn_norm = put(u, h->attn_norm, C);
	el->mlp_norm = put(u, h->mlp_norm, C);
	for (int t = 0; t < ENGINE_N_LINEAR; t++) {
		size_t in, out;
		tk_model_linear_shape(d, t, &in, &out);
		int misfit = u->misfit, *form = form_slot(e, &el->w_form[t]);
		float *scratch;
		const float *w = values(u, h->w[t], h->wt[t], reads_values(u, form), &scratch);
		el->w[t] = put_packed(u, w, in, out, form);
		if (u->misfit && !misfit && u->misfit_layer < 0)
			u->misfit_layer = (long)l, u->misfit_target = t;
		if (e->train && e->base == TK_ENGINE_BASE_F32)
			el->w_bwd[t] = put_backward(u, w, in, out);
		free(scratch);
		if (t < 3 && h->bias[t])
			el->bias[t] = put(u, h->bias[t], out);
	}
	if (h->q_norm) {
		el->q_norm = put(u, h->q_norm, D);
		el->k_norm = put(u, h->k_norm, D);
	}
}

static void put_all(upload *u)
{
	tk_engine *e = u->e;
	const tk_model_desc *d = &e->d;
	size_t table = d->vocab * d->hidden;
	float *scratch;
	// a tied table is looked up in the packed lm_head: one copy, not two
	if (!d->tied) {
		const float *embed = values(u, d->embed, d->embed_t, u->next != NULL, &scratch);
		e->embed = take(u, table * sizeof(float));
		if (e->embed && embed)
			tk_copy_to_device(e->be, e->embed, embed, table * sizeof(float));
		free(scratch);
	}
	// bf16 products take the lm_head too (and the tied table with it)
	int dot = e->train && e->base == TK_ENGINE_BASE_BF16_DOT;
	int *form = e->compact || dot ? &e->lm_head_form : NULL;
	const float *head = values(u, d->lm_head, d->lm_head_t, reads_values(u, form), &scratch);
	e->lm_head = put_packed(u, head, d->hidden, d->vocab, form);
	if (dot)
		e->lm_head_bwd = put_transposed_dot(u, head, d->hidden, d->vocab);
	else if (e->train)
		e->lm_head_bwd = put_backward(u, head, d->hidden, d->vocab);
	free(scratch);
	e->final_norm = put(u, d->final_norm, d->hidden);
	for (size_t l = 0; l < d->n_layers; l++)
		put_layer(u, l);
}

/* The pack form a training base asks for, or -1 (the smallest exact). */
static int asked_form(const tk_engine *e)
{
	if (!e->train)
		return -1;
	switch (e->base) {
	case TK_ENGINE_BASE_BF16: return TK_PACK_BF16;
	case TK_ENGINE_BASE_Q8: return TK_PACK_Q8;
	case TK_ENGINE_BASE_Q4: return TK_PACK_Q4;
	case TK_ENGINE_BASE_BF16_DOT: return TK_PACK_BF16_DOT;
	default: return -1;
	}
}

static int upload_weights(tk_engine *e, const tk_model *model)
{
	int asked = asked_form(e);
	for (int whole = 0; whole < 2; whole++) {
		upload count = {e, model, NULL, 0, whole, 0, asked, -1, 0, 0};
		put_all(&count);
		if (count.error)
			return count.error;
		e->block = tk_backend_alloc(e->be, count.bytes);
		if (!e->block)
			return tk_fail_context(TK_EOSERR, "model weights (%zu MiB): ",
					       count.bytes >> 20);
		upload copy = {e, model, e->block, 0, whole, 0, asked, -1, 0, 0};
		put_all(&copy);
		if (copy.error) {
			tk_backend_free(e->be, e->block);
			e->block = NULL;
			return copy.error;
		}
		if (!copy.misfit) {
			e->memory += count.bytes;
			return TK_OK;
		}
		tk_backend_free(e->be, e->block);
		e->block = NULL;
		if (asked >= 0)
			return tk_fail(TK_EDATA, "engine: layer %ld's %s_proj does not hold exactly in "
				       "%s: that base form cannot give this model's values (auto "
				       "takes each matrix's smallest exact form)", copy.misfit_layer,
				       tk_lora_target_name(copy.misfit_target),
				       tk_matmul_pack_form_name(asked));
	}
	// the whole matrix's form holds it: packing cannot refuse
	return tk_fail(TK_EDATA, "engine: a weight does not fit the form chosen for it");
}

int tk_engine_open(tk_engine **out, tk_backend *be, const tk_model *model,
		   const tk_engine_config *c)
{
	*out = NULL;
	tk_engine *e = tk_calloc(1, sizeof *e);
	if (!e)
		return TK_EOSERR;
	e->be = be;
	e->train = c && c->train;
	e->compact = c && c->compact && !e->train;
	e->base = c && c->train ? c->base : TK_ENGINE_BASE_F32;
	if (e->base < TK_ENGINE_BASE_F32 || e->base > TK_ENGINE_BASE_BF16_DOT) {
		free(e);
		return tk_fail(TK_EUSAGE, "engine: no base form %d", c->base);
	}
	int rc = tk_model_desc_read(&e->d, model);
	if (!rc && e->d.head_dim % 2)
		rc = tk_fail(TK_ECONFIG, "engine: head dimension %zu is odd", e->d.head_dim);
	if (!rc && !(e->layers = tk_calloc(e->d.n_layers ? e->d.n_layers : 1, sizeof *e->layers)))
		rc = TK_EOSERR;
	if (!rc)
		rc = upload_weights(e, model);
	if (!rc && !(e->inv_freq = tk_decoder_inv_freq(be, &e->d)))
		rc = TK_EOSERR;
	tk_model_desc_free(&e->d); // the host pointers are not needed any more
	e->d.embed = e->d.lm_head = e->d.final_norm = NULL;
	if (rc) {
		tk_engine_close(e);
		return rc;
	}
	*out = e;
	return TK_OK;
}

void tk_engine_close(tk_engine *e)
{
	if (!e)
		return;
	while (e->adapters)
		engine_adapter_remove(e, e->adapters);
	tk_backend_free(e->be, e->block);
	tk_backend_free(e->be, e->inv_freq);
	tk_model_desc_free(&e->d);
	free(e->layers);
	free(e);
}

/* ---- planning ----------------------------------------------------------- */

/* The form a training base takes for a matrix of `in` inputs stored as
 * `stored` (tk_model_tensor.stored_as): the one asked for, or under auto
 * the smallest that holds such blocks (a guess: a matrix may fit less). */
static int planned_form(int base, const char *stored, size_t in)
{
	switch (base) {
	case TK_ENGINE_BASE_F32: return TK_PACK_F32;
	case TK_ENGINE_BASE_BF16: return TK_PACK_BF16;
	case TK_ENGINE_BASE_Q8: return TK_PACK_Q8;
	case TK_ENGINE_BASE_Q4: return TK_PACK_Q4;
	case TK_ENGINE_BASE_BF16_DOT: return TK_PACK_BF16_DOT;
	default: break;
	}
	int blocks = in % 32 == 0 && stored;
	if (blocks && !strcmp(stored, "q4_1"))
		return TK_PACK_Q4;
	if (blocks && !strcmp(stored, "q4_0"))
		return TK_PACK_Q4S;
	if (blocks && (!strcmp(stored, "q8_0") || !strcmp(stored, "q5_0")))
		return TK_PACK_Q8;
	if (blocks && !strcmp(stored, "q4_K"))
		return TK_PACK_Q4K;
	static const char *const wider[] = {"q2_K", "q3_K", "q5_K", "q6_K", "q8_K", "q5_1"};
	for (size_t i = 0; blocks && i < sizeof wider / sizeof *wider; i++)
		if (!strcmp(stored, wider[i]))
			return TK_PACK_Q8K;
	return stored && !strcmp(stored, "bf16") ? TK_PACK_BF16 : TK_PACK_F32;
}

/* Bytes of w (out, in) packed in a form by the cpu backend: panels of 48
 * outputs (kernels/cpu/xwt_forms.c's layouts). */
static size_t planned_bytes(int form, size_t in, size_t out)
{
	size_t panels = (out + 47) / 48;
	switch (form) {
	case TK_PACK_BF16: return panels * in * 48 * 2;
	case TK_PACK_BF16_DOT: return panels * (in + 1) / 2 * 48 * 4;
	case TK_PACK_Q8: return panels * (in / 32) * (48 * 2 + 32 * 48);
	case TK_PACK_Q4: return panels * (in / 32) * (48 * 4 + 16 * 48);
	case TK_PACK_Q4S: return panels * (in / 32) * (48 * 2 + 16 * 48);
	case TK_PACK_Q4K: return panels * (in / 32) * (48 * 8 + 16 * 48);
	case TK_PACK_Q8K: return panels * (in / 32) * (48 * 16 + 32 * 48);
	default: return panels * in * 48 * sizeof(float);
	}
}

size_t tk_engine_plan_bytes(const tk_model *model, int base)
{
	tk_model_desc d;
	if (tk_model_desc_read(&d, model))
		return 0;
	size_t C = d.hidden, bytes = 0, norms = 2 * C + (d.qk_norm ? 2 * d.head_dim : 0);
	bytes += d.tied ? 0 : d.vocab * C * sizeof(float);
	// the lm_head: packed for the logits and for dh (Wᵀ in bf16, or float32)
	int head = base == TK_ENGINE_BASE_BF16_DOT ? TK_PACK_BF16_DOT : TK_PACK_F32;
	bytes += planned_bytes(head, C, d.vocab) + planned_bytes(head, d.vocab, C);
	bytes += (C + d.n_layers * norms) * sizeof(float);
	for (size_t l = 0; l < d.n_layers; l++)
		for (int t = 0; t < ENGINE_N_LINEAR; t++) {
			size_t in, out;
			tk_model_linear_shape(&d, t, &in, &out);
			const tk_model_tensor *w = d.layers[l].wt[t];
			bytes += planned_bytes(planned_form(base, w->stored_as, in), in, out);
			if (base == TK_ENGINE_BASE_F32) // and packed again for the backward
				bytes += planned_bytes(TK_PACK_F32, out, in);
			if (t < 3 && d.layers[l].bias[t])
				bytes += out * sizeof(float);
		}
	tk_model_desc_free(&d);
	return bytes;
}

static const char *const base_names[] = {"f32", "auto", "bf16", "q8", "q4", "bf16-dot"};

int tk_engine_base_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof base_names / sizeof *base_names); i++)
		if (!strcmp(name, base_names[i]))
			return i;
	return -1;
}

const char *tk_engine_base_name(int base)
{
	return base >= 0 && base < (int)(sizeof base_names / sizeof *base_names) ? base_names[base]
										 : "?";
}

tk_backend *tk_engine_backend(const tk_engine *e) { return e->be; }

size_t tk_engine_memory(const tk_engine *e)
{
	size_t bytes = e->memory;
	for (const engine_adapter *a = e->adapters; a; a = a->next)
		bytes += a->bytes;
	return bytes;
}
