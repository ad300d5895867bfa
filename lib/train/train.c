/* The trainer's lifetime: the tensor table, one backend block for the
 * frozen weights, one each for the trained weights, their gradients and
 * both AdamW moments (same layout, so the optimizer is one flat loop), and
 * one activation arena planned from the config and max_tokens. */
#include "train_internal.h"

#include "kernels.h"
#include "model/decoder_layer.h"
#include "tk_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAD(n) (((n) + 15) / 16 * 16)  // keeps every tensor 64-byte aligned

/* ---- the tensor table -------------------------------------------------- */

typedef struct table {
	tk_train *t;
	tr_tensor *out;    // NULL: only counting
	size_t count;
} table;

static void add(table *tb, const char *name, const float *host, size_t rows,
		size_t cols, int trainable, float **param, float **grad)
{
	if (tb->out) {
		tr_tensor *x = &tb->out[tb->count];
		snprintf(x->name, sizeof x->name, "%s", name);
		x->ndim = cols ? 2 : 1;
		x->shape[0] = (int64_t)rows;
		x->shape[1] = (int64_t)cols;
		x->numel = rows * (cols ? cols : 1);
		x->trainable = trainable;
		x->host = host;
		x->param = param;
		x->grad = trainable ? grad : NULL;
	}
	tb->count++;
}

static const char *const linear_names[TR_N_LINEAR] = {
	"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
	"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
};

static void add_lora(table *tb, const tk_lora *lora, size_t l)
{
	tk_train *t = tb->t;
	char name[TR_NAME_MAX];
	for (int k = 0; k < TR_N_LINEAR; k++) {
		const tk_lora_pair *p = tk_lora_get(lora, (int)l, k);
		if (!p)
			continue;
		size_t r = (size_t)lora->config.rank;
		tk_lora_tensor_name(name, sizeof name, (int)l, k, 'A');
		add(tb, name, p->a, r, p->in, 1, &t->p[l].lora_a[k], &t->g[l].lora_a[k]);
		tk_lora_tensor_name(name, sizeof name, (int)l, k, 'B');
		add(tb, name, p->b, p->out, r, 1, &t->p[l].lora_b[k], &t->g[l].lora_b[k]);
	}
}

static void add_layer(table *tb, size_t l, const tk_lora *lora)
{
	tk_train *t = tb->t;
	if (t->e) { // the base is the engine's: only the adapter is the trainer's
		add_lora(tb, lora, l);
		return;
	}
	const tk_layer_desc *h = &t->d.layers[l];
	tr_layer *p = &t->p[l], *g = &t->g[l];
	size_t C = t->d.hidden;
	int full = t->full;
	char name[TR_NAME_MAX];
	snprintf(name, sizeof name, "model.layers.%zu.input_layernorm.weight", l);
	add(tb, name, h->attn_norm, C, 0, full, &p->attn_norm, &g->attn_norm);
	snprintf(name, sizeof name, "model.layers.%zu.post_attention_layernorm.weight", l);
	add(tb, name, h->mlp_norm, C, 0, full, &p->mlp_norm, &g->mlp_norm);
	for (int k = 0; k < TR_N_LINEAR; k++) {
		size_t in, out;
		tk_model_linear_shape(&t->d, k, &in, &out);
		snprintf(name, sizeof name, "model.layers.%zu.%s.weight", l, linear_names[k]);
		add(tb, name, h->w[k], out, in, full, &p->w[k], &g->w[k]);
		if (k < 3 && h->bias[k]) {
			snprintf(name, sizeof name, "model.layers.%zu.%s.bias", l, linear_names[k]);
			add(tb, name, h->bias[k], out, 0, full, &p->bias[k], &g->bias[k]);
		}
	}
	if (h->q_norm) {
		snprintf(name, sizeof name, "model.layers.%zu.self_attn.q_norm.weight", l);
		add(tb, name, h->q_norm, t->d.head_dim, 0, full, &p->q_norm, &g->q_norm);
		snprintf(name, sizeof name, "model.layers.%zu.self_attn.k_norm.weight", l);
		add(tb, name, h->k_norm, t->d.head_dim, 0, full, &p->k_norm, &g->k_norm);
	}
	if (lora)
		add_lora(tb, lora, l);
}

static void add_all(table *tb, const tk_lora *lora)
{
	tk_train *t = tb->t;
	size_t V = t->d.vocab, C = t->d.hidden;
	if (t->e) {
		for (size_t l = 0; l < t->d.n_layers; l++)
			add_layer(tb, l, lora);
		return;
	}
	add(tb, "model.embed_tokens.weight", t->d.embed, V, C, t->full, &t->embed, &t->d_embed);
	if (!t->d.tied) {
		add(tb, "lm_head.weight", t->d.lm_head, V, C, t->full, &t->lm_head, &t->d_lm_head);
	}
	add(tb, "model.norm.weight", t->d.final_norm, C, 0, t->full, &t->final_norm,
	    &t->d_final_norm);
	for (size_t l = 0; l < t->d.n_layers; l++)
		add_layer(tb, l, lora);
}

static int build_table(tk_train *t, const tk_lora *lora)
{
	table count = {t, NULL, 0};
	add_all(&count, lora);
	t->tensors = tk_calloc(count.count, sizeof *t->tensors);
	if (!t->tensors)
		return TK_EOSERR;
	table fill = {t, t->tensors, 0};
	add_all(&fill, lora);
	t->n_tensors = fill.count;
	return TK_OK;
}

const tr_tensor *tr_find(const tk_train *t, const char *name)
{
	for (size_t i = 0; i < t->n_tensors; i++)
		if (strcmp(t->tensors[i].name, name) == 0)
			return &t->tensors[i];
	return NULL;
}

/* ---- the weight blocks ------------------------------------------------- */

static float *block(tk_train *t, size_t floats)
{
	float *p = tk_backend_alloc(t->be, (floats ? floats : 16) * sizeof(float));
	if (p) {
		tk_backend_zero(t->be, p, (floats ? floats : 16) * sizeof(float));
		t->memory += floats * sizeof(float);
	}
	return p;
}

static int upload(tk_train *t)
{
	for (size_t i = 0; i < t->n_tensors; i++) {
		tr_tensor *x = &t->tensors[i];
		size_t *size = x->trainable ? &t->train_floats : &t->frozen_floats;
		x->offset = *size;
		*size += PAD(x->numel);
	}
	t->frozen = block(t, t->frozen_floats);
	t->param = block(t, t->train_floats);
	t->grad = block(t, t->train_floats);
	t->m = block(t, t->train_floats);
	t->v = block(t, t->train_floats);
	t->sumsq = block(t, 1);
	if (!t->frozen || !t->param || !t->grad || !t->m || !t->v || !t->sumsq)
		return tk_fail_context(TK_EOSERR, "training blocks (%zu + 4 x %zu floats): ",
				       t->frozen_floats, t->train_floats);
	for (size_t i = 0; i < t->n_tensors; i++) {
		tr_tensor *x = &t->tensors[i];
		float *base = x->trainable ? t->param : t->frozen;
		*x->param = base + x->offset;
		if (x->grad)
			*x->grad = t->grad + x->offset;
		tk_copy_to_device(t->be, *x->param, x->host, x->numel * sizeof(float));
		x->host = NULL;
	}
	if (t->d.tied) {
		t->lm_head = t->embed;
		t->d_lm_head = t->d_embed;
	}
	return TK_OK;
}

/* LoRA training on an engine: the frozen base is the engine's (packed for
 * the product and for the backward), read where it lies. */
static void borrow_base(tk_train *t)
{
	const tk_engine *e = t->e;
	t->embed = e->embed;
	t->embed_packed = e->lm_head, t->embed_form = e->lm_head_form;
	t->lm_head_packed = e->lm_head;
	t->lm_head_packed_bwd = e->lm_head_bwd;
	t->lm_head_form = e->lm_head_form;
	t->dot = e->base == TK_ENGINE_BASE_BF16_DOT;
	t->final_norm = e->final_norm;
	t->inv_freq = e->inv_freq;
	for (size_t l = 0; l < t->d.n_layers; l++) {
		const engine_layer *el = &e->layers[l];
		tr_layer *p = &t->p[l];
		p->attn_norm = el->attn_norm, p->mlp_norm = el->mlp_norm;
		p->q_norm = el->q_norm, p->k_norm = el->k_norm;
		for (int k = 0; k < TR_N_LINEAR; k++) {
			p->w_packed[k] = el->w[k], p->w_form[k] = el->w_form[k];
			p->w_packed_bwd[k] = el->w_bwd[k];
			if (k < 3)
				p->bias[k] = el->bias[k];
		}
	}
}

/* The adapter under training, lent to the engine by name: a forward on
 * it reads the trainer's own weights. */
static int lend_adapter(tk_train *t, const char *name)
{
	int rc = engine_adapter_live(t->e, name, t->lora_rank, t->lora_scale, &t->live);
	for (size_t l = 0; !rc && l < t->d.n_layers; l++)
		for (int k = 0; k < TR_N_LINEAR; k++) {
			t->live->a[l * TR_N_LINEAR + (size_t)k] = t->p[l].lora_a[k];
			t->live->b[l * TR_N_LINEAR + (size_t)k] = t->p[l].lora_b[k];
		}
	return rc;
}

static int upload_inv_freq(tk_train *t)
{
	if (t->e)
		return TK_OK; // the engine's
	t->inv_freq = tk_decoder_inv_freq(t->be, &t->d);
	return t->inv_freq ? TK_OK : TK_EOSERR;
}

/* ---- the activation arena ---------------------------------------------- */

typedef struct planner {
	char *base;        // NULL: only sizing
	size_t at;
} planner;

static void *take(planner *p, size_t bytes)
{
	void *r = p->base ? p->base + p->at : NULL;
	p->at += (bytes + 63) / 64 * 64;
	return r;
}

#define TAKE_F(p, count) ((float *)take((p), (count) * sizeof(float)))
#define TAKE_I(p, count) ((int32_t *)take((p), (count) * sizeof(int32_t)))

static void plan_layer(const tk_train *t, tr_saved *s, planner *p, size_t l)
{
	const tk_model_desc *d = &t->d;
	size_t n = t->max_tokens, C = d->hidden, I = d->inter;
	size_t HD = d->heads * d->head_dim, KVD = d->kv_heads * d->head_dim;
	s->x_in = TAKE_F(p, n * C);
	s->rstd1 = TAKE_F(p, n);
	s->q = TAKE_F(p, n * HD);
	s->att = TAKE_F(p, n * HD);
	s->k = TAKE_F(p, n * KVD);
	s->v = TAKE_F(p, n * KVD);
	if (d->qk_norm) {
		s->q_pre = TAKE_F(p, n * HD);
		s->k_pre = TAKE_F(p, n * KVD);
		s->rstd_q = TAKE_F(p, n * d->heads);
		s->rstd_k = TAKE_F(p, n * d->kv_heads);
	}
	s->lse = TAKE_F(p, n * d->heads);
	s->x_mid = TAKE_F(p, n * C);
	s->rstd2 = TAKE_F(p, n);
	s->gate = TAKE_F(p, n * I);
	s->up = TAKE_F(p, n * I);
	for (int k = 0; k < TR_N_LINEAR; k++)
		s->lora_t[k] = t->p[l].lora_a[k] ? TAKE_F(p, n * (size_t)t->lora_rank) : NULL;
}

static size_t plan_arena(tk_train *t, char *base)
{
	const tk_model_desc *d = &t->d;
	tr_arena *a = &t->a;
	planner p = {base, 0};
	size_t n = t->max_tokens, C = d->hidden, I = d->inter;
	size_t HD = d->heads * d->head_dim, KVD = d->kv_heads * d->head_dim;
	size_t max_out = I > HD ? I : HD;
	max_out = max_out > C ? max_out : C;
	size_t r = t->lora_rank ? (size_t)t->lora_rank : 1;
	for (size_t l = 0; l < d->n_layers; l++) {
		if (t->recompute && l > 0) { // only the layer input is kept per layer
			a->layers[l] = a->layers[0];
			a->layers[l].x_in = TAKE_F(&p, n * C);
		} else {
			plan_layer(t, &a->layers[l], &p, l);
		}
	}
	a->x_out = TAKE_F(&p, n * C);
	a->rstd_f = TAKE_F(&p, n);
	a->h = TAKE_F(&p, n * C);
	a->xn = TAKE_F(&p, n * C);
	a->dx = TAKE_F(&p, n * C);
	a->dxn = TAKE_F(&p, n * C);
	a->dq = TAKE_F(&p, n * HD);
	a->datt = TAKE_F(&p, n * HD);
	a->dk = TAKE_F(&p, n * KVD);
	a->dv = TAKE_F(&p, n * KVD);
	a->dk_pre = d->qk_norm ? TAKE_F(&p, n * KVD) : NULL;
	a->act = TAKE_F(&p, n * I);
	a->dact = TAKE_F(&p, n * I);
	a->dgate = TAKE_F(&p, n * I);
	a->dup = TAKE_F(&p, n * I);
	a->lora_dt = TAKE_F(&p, n * r);
	a->lora_u = TAKE_F(&p, n * max_out);
	a->coef = TAKE_F(&p, n);
	a->loss = TAKE_F(&p, n);
	a->logprob = TAKE_F(&p, n);
	a->rope = TAKE_F(&p, n * d->head_dim);
	a->ids = TAKE_I(&p, n);
	a->pos = TAKE_I(&p, n);
	a->target = TAKE_I(&p, n);
	a->cu = TAKE_I(&p, n + 1);
	return p.at;
}

size_t tr_arena_bytes(const tk_model_desc *d, int rank, unsigned targets, int recompute,
		      size_t tokens)
{
	static float dummy;  // marks the adapted layers; never dereferenced
	tk_train t = {.d = *d, .lora_rank = rank, .recompute = recompute, .max_tokens = tokens};
	t.p = tk_calloc(d->n_layers ? d->n_layers : 1, sizeof *t.p);
	t.a.layers = tk_calloc(d->n_layers ? d->n_layers : 1, sizeof *t.a.layers);
	size_t bytes = 0;
	if (t.p && t.a.layers) {
		for (size_t l = 0; l < d->n_layers; l++)
			for (int k = 0; k < TR_N_LINEAR; k++)
				t.p[l].lora_a[k] = rank && (targets >> k & 1) ? &dummy : NULL;
		bytes = plan_arena(&t, NULL);
	}
	free(t.p);
	free(t.a.layers);
	return bytes;
}

static int alloc_arena(tk_train *t)
{
	t->a.layers = tk_calloc(t->d.n_layers ? t->d.n_layers : 1, sizeof *t->a.layers);
	if (!t->a.layers)
		return TK_EOSERR;
	size_t bytes = plan_arena(t, NULL);
	t->arena_block = tk_backend_alloc(t->be, bytes);
	if (!t->arena_block)
		return tk_fail_context(TK_EOSERR, "activations for %zu tokens (%zu MiB): ",
				       t->max_tokens, bytes >> 20);
	plan_arena(t, t->arena_block);
	t->memory += bytes;
	return TK_OK;
}

static int alloc_host(tk_train *t)
{
	size_t n = t->max_tokens;
	t->h_ids = tk_calloc(4 * n + 1, sizeof *t->h_ids);
	t->h_coef = tk_calloc(5 * n, sizeof *t->h_coef);
	t->h_ref = tk_calloc(2 * n, sizeof *t->h_ref);
	t->p = tk_calloc(t->d.n_layers ? t->d.n_layers : 1, sizeof *t->p);
	t->g = tk_calloc(t->d.n_layers ? t->d.n_layers : 1, sizeof *t->g);
	if (!t->h_ids || !t->h_coef || !t->h_ref || !t->p || !t->g)
		return TK_EOSERR;
	t->h_pos = t->h_ids + n;
	t->h_target = t->h_pos + n;
	t->h_cu = t->h_target + n;
	t->h_loss = t->h_coef + n;
	t->h_logprob = t->h_loss + n;
	t->h_fn_logprob = t->h_logprob + n;
	t->h_fn_dloss = t->h_fn_logprob + n;
	t->h_pi = t->h_ref + n;
	return TK_OK;
}

/* ---- open, close ------------------------------------------------------- */

static int check_open(const tk_train *t, const tk_lora *lora, const tk_train_config *c)
{
	if (c->max_tokens == 0 || c->max_tokens > INT32_MAX / 2)
		return tk_fail(TK_EUSAGE, "train: tokens per pass must be 1..%d", INT32_MAX / 2);
	if (!c->full && !lora)
		return tk_fail(TK_EUSAGE, "train: an adapter, or full training, is needed");
	if (c->full && lora)
		return tk_fail(TK_EUSAGE, "train: full training takes no adapter");
	if (lora && (lora->n_layers != (int)t->d.n_layers ||
		     strcmp(lora->base_fingerprint, t->d.fingerprint) != 0))
		return tk_fail(TK_EDATA, "adapter was made for another base model (fingerprint "
			       "%s, model %s)", lora->base_fingerprint, t->d.fingerprint);
	if (t->d.head_dim % 2)
		return tk_fail(TK_ECONFIG, "train: head dimension %zu is odd", t->d.head_dim);
	return TK_OK;
}

/* What both opens share once the model's numbers are in t->d. */
static int open_common(tk_train *t, const tk_lora *lora, const tk_train_config *c,
		       int recompute)
{
	t->full = c->full;
	t->recompute = recompute;
	t->max_tokens = c->max_tokens;
	t->attn_scale = (float)(1.0 / sqrt((double)t->d.head_dim));
	int rc = t->d.n_layers == 0 ? tk_fail(TK_ECONFIG, "train: the model has no layers")
				    : check_open(t, lora, c);
	if (!rc && lora) {
		t->lora_rank = lora->config.rank;
		t->lora_scale = tk_lora_scale(&lora->config);
		t->lora_targets = lora->config.targets;
	}
	if (!rc)
		rc = alloc_host(t);
	if (!rc)
		rc = build_table(t, lora);
	if (!rc)
		rc = upload(t);
	if (!rc && t->e)
		borrow_base(t);
	if (!rc)
		rc = upload_inv_freq(t);
	return rc ? rc : alloc_arena(t);
}

int tk_train_open_engine(tk_train **out, tk_engine *e, const tk_lora *lora, const char *name,
			 const tk_train_config *c, int recompute)
{
	*out = NULL;
	if (c->full || !lora)
		return tk_fail(TK_EUSAGE, "train: on an engine, an adapter trains (full training "
			       "holds its own weights: tk_train_open)");
	if (!e->train)
		return tk_fail(TK_EUSAGE, "train: the engine was opened without .train");
	tk_train *t = tk_calloc(1, sizeof *t);
	if (!t)
		return TK_EOSERR;
	t->be = e->be;
	t->e = e;
	t->d = e->d;
	int rc = open_common(t, lora, c, recompute);
	if (!rc)
		rc = lend_adapter(t, name);
	if (rc) {
		tk_train_close(t);
		return rc;
	}
	*out = t;
	return TK_OK;
}

int tk_train_open(tk_train **out, tk_backend *be, const struct tk_model *model,
		  const tk_lora *lora, const tk_train_config *c)
{
	return tk_train_open_recompute(out, be, model, lora, c, 0);
}

/* LoRA: an engine of the trainer's own; full: every weight its own. */
int tk_train_open_recompute(tk_train **out, tk_backend *be, const struct tk_model *model,
			    const tk_lora *lora, const tk_train_config *c, int recompute)
{
	return tk_train_open_base(out, be, model, lora, c, recompute, TK_ENGINE_BASE_F32);
}

int tk_train_open_base(tk_train **out, tk_backend *be, const struct tk_model *model,
		       const tk_lora *lora, const tk_train_config *c, int recompute, int base)
{
	*out = NULL;
	if (!c->full && lora) {
		tk_engine *e;
		tk_engine_config ec = {.train = 1, .base = base};
		int rc = tk_engine_open(&e, be, model, &ec);
		if (!rc && (rc = tk_train_open_engine(out, e, lora, "train", c, recompute)))
			tk_engine_close(e);
		if (!rc) {
			(*out)->owns_engine = 1;
			(*out)->memory += tk_engine_memory(e);
		}
		return rc;
	}
	tk_train *t = tk_calloc(1, sizeof *t);
	if (!t)
		return TK_EOSERR;
	t->be = be;
	int rc = tk_model_desc_read(&t->d, model);
	if (!rc)
		rc = open_common(t, lora, c, recompute);
	tk_model_desc_free(&t->d); // host pointers are not needed any more
	t->d.embed = t->d.lm_head = t->d.final_norm = NULL;
	if (rc) {
		tk_train_close(t);
		return rc;
	}
	*out = t;
	return TK_OK;
}

void tk_train_close(tk_train *t)
{
	if (!t)
		return;
	if (t->live)
		engine_adapter_remove(t->e, t->live);
	tk_backend_free(t->be, t->frozen);
	tk_backend_free(t->be, t->param);
	tk_backend_free(t->be, t->grad);
	tk_backend_free(t->be, t->m);
	tk_backend_free(t->be, t->v);
	tk_backend_free(t->be, t->sumsq);
	if (!t->e)
		tk_backend_free(t->be, t->inv_freq);
	tk_backend_free(t->be, t->arena_block);
	if (t->owns_engine)
		tk_engine_close(t->e);
	tk_model_desc_free(&t->d);
	free(t->a.layers);
	free(t->tensors);
	free(t->p);
	free(t->g);
	free(t->h_ids);
	free(t->h_coef);
	free(t->h_ref);
	free(t);
}

int64_t tk_train_steps(const tk_train *t) { return t->step; }
size_t tk_train_memory(const tk_train *t) { return t->memory; }

size_t tk_train_trainable(const tk_train *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_tensors; i++)
		n += t->tensors[i].trainable ? t->tensors[i].numel : 0;
	return n;
}

int tk_train_get(const tk_train *t, const char *name, char which, float *out, size_t n)
{
	const tr_tensor *x = tr_find(t, name);
	if (!x || (which != 'p' && !x->trainable))
		return tk_fail(TK_EUSAGE, "train: no trained tensor %s", name);
	if (n != x->numel)
		return tk_fail(TK_EUSAGE, "train: %s has %zu values, not %zu", name, x->numel, n);
	const float *src = which == 'p' ? *x->param
		: which == 'g' ? t->grad + x->offset
		: which == 'm' ? t->m + x->offset
		: which == 'v' ? t->v + x->offset : NULL;
	if (!src)
		return tk_fail(TK_EUSAGE, "train: unknown copy '%c'", which);
	tk_copy_to_host(t->be, out, src, n * sizeof *out);
	return TK_OK;
}
