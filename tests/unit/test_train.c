/* The training step against PyTorch + PEFT (tests/fixtures/train/,
 * scripts/oracle/train_fixtures.py): weighted cross-entropy loss,
 * logprobs and every LoRA A/B gradient, full-model gradients (tied), one
 * clipped AdamW step, DPO; Qwen3 (q/k norms, LoRA and full) and Mistral
 * (a sliding window); then gradient accumulation, state round trips
 * and bad batches. */
#include "tkt.h"

#include "kernels.h"
#include "tk_error.h"
#include "tk_lora.h"
#include "tk_safetensors.h"
#include "tk_train.h"

#include <stdint.h>

#include "tk_model.h"

#define FIX "tests/fixtures/"
#define REL 1e-4

static tk_backend *be;

/* The fixture's batch (stored as f32). */
typedef struct fbatch {
	int32_t tokens[64];
	float weights[64];
	size_t starts[16];
	tk_train_batch b;
} fbatch;

static const float *tensor(const tk_safetensors *st, const char *name, size_t *n)
{
	const tk_st_tensor *t = tk_safetensors_find(st, name);
	TKT_CHECK(t != NULL, "fixture tensor %s", name);
	if (n)
		*n = t ? t->numel : 0;
	return t ? t->data : NULL;
}

static void read_batch(const tk_safetensors *st, fbatch *fb)
{
	size_t n, nr;
	const float *tok = tensor(st, "batch.tokens", &n);
	const float *w = tensor(st, "batch.weights", NULL);
	const float *s = tensor(st, "batch.starts", &nr);
	for (size_t i = 0; i < n && i < 64; i++) {
		fb->tokens[i] = (int32_t)tok[i];
		fb->weights[i] = w[i];
	}
	for (size_t r = 0; r < nr && r < 16; r++)
		fb->starts[r] = (size_t)s[r];
	fb->b = (tk_train_batch){n, nr - 1, fb->tokens, fb->weights, fb->starts};
}

/* max |got − want| <= REL · max |want|, worst element printed. */
static void check_rel(const char *what, const float *got, const float *want, size_t n)
{
	double worst = 0, scale = 0;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);
		scale = fmax(scale, fabs(want[i]));
		if (!(d <= worst))
			worst = d, at = i;
	}
	TKT_CHECK(worst <= REL * scale + 1e-9, "%s: max error %.3g (scale %.3g) at [%zu]: "
		  "got %.9g want %.9g", what, worst, scale, at, got[at], want[at]);
}

static void check_value(const char *what, double got, double want)
{
	TKT_CHECK(fabs(got - want) <= REL * fabs(want) + 1e-9, "%s: got %.9g want %.9g", what,
		  got, want);
}

/* Compares every tensor of the trainer named prefix + NAME in st. */
static size_t check_all(const tk_train *t, const tk_safetensors *st, const char *prefix,
			char which)
{
	size_t checked = 0, plen = strlen(prefix);
	float *buf = malloc(1 << 20);
	for (size_t i = 0; i < st->count; i++) {
		const tk_st_tensor *x = &st->tensors[i];
		if (strncmp(x->name, prefix, plen) != 0)
			continue;
		TKT_CHECK(x->numel * 4 <= (1 << 20), "%s fits", x->name);
		int rc = tk_train_get(t, x->name + plen, which, buf, x->numel);
		TKT_CHECK(rc == 0, "%s: %s", x->name, tk_error_message());
		if (rc == 0)
			check_rel(x->name, buf, x->data, x->numel);
		checked++;
	}
	free(buf);
	return checked;
}

/* A tiny model with a rank-4 adapter set to the fixture's init values. */
static tk_train *lora_trainer_of(const char *dir, const tk_safetensors *st,
				 struct tk_model **model, tk_lora **lora)
{
	TKT_CHECK(tk_model_load(model, dir) == 0, "%s", tk_error_message());
	tk_lora_config c = {4, 8, TK_LORA_ALL};
	TKT_CHECK(tk_lora_create(lora, *model, &c, 1) == 0, "%s", tk_error_message());
	char name[160];
	for (int l = 0; l < (*lora)->n_layers; l++)
		for (int k = 0; k < TK_LORA_N_TARGETS; k++) {
			tk_lora_pair *p = tk_lora_get(*lora, l, k);
			size_t n = 0;
			snprintf(name, sizeof name, "init.");
			tk_lora_tensor_name(name + 5, sizeof name - 5, l, k, 'A');
			const float *a = tensor(st, name, &n);
			if (a && n == p->in * 4)
				memcpy(p->a, a, n * sizeof *a);
			tk_lora_tensor_name(name + 5, sizeof name - 5, l, k, 'B');
			const float *b = tensor(st, name, &n);
			if (b && n == p->out * 4)
				memcpy(p->b, b, n * sizeof *b);
		}
	tk_train *t = NULL;
	tk_train_config tc = {0, 64};
	TKT_CHECK(tk_train_open(&t, be, *model, *lora, &tc) == 0, "%s", tk_error_message());
	return t;
}

static tk_train *lora_trainer(const tk_safetensors *st, struct tk_model **model,
			      tk_lora **lora)
{
	return lora_trainer_of(FIX "tiny-llama", st, model, lora);
}

/* Loss, logprobs and every A/B gradient of a fixture without an AdamW step
 * (qwen3-lora-ce: q/k norms; mistral-lora-ce: a sliding window). */
static void lora_ce_family(const char *dir, const char *fixture)
{
	tk_safetensors *st;
	TKT_CHECK(tk_safetensors_open(&st, fixture) == 0, "%s", tk_error_message());
	fbatch fb;
	read_batch(st, &fb);
	struct tk_model *model;
	tk_lora *lora;
	tk_train *t = lora_trainer_of(dir, st, &model, &lora);
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_EXAMPLE, (double)fb.b.n_records, 0};
	tk_train_result res;
	float lp[64];
	TKT_CHECK(tk_train_forward_backward(t, &fb.b, &loss, &res, lp) == 0, "%s",
		  tk_error_message());
	check_value("loss", res.loss, tensor(st, "loss", NULL)[0]);
	check_rel("logprobs", lp, tensor(st, "logprobs", NULL), fb.b.n);
	size_t n = check_all(t, st, "grad.", 'g');
	TKT_CHECK(n == 2 * 7 * 2, "%s: %zu A/B gradients compared", dir, n);
	tk_train_close(t);
	tk_lora_free(lora);
	tk_model_free(model);
	tk_safetensors_close(st);
}

static void test_qwen3_lora_matches_peft(void)
{
	lora_ce_family(FIX "tiny-qwen3", FIX "train/qwen3-lora-ce.safetensors");
}

static void test_mistral_window_lora_matches_peft(void)
{
	lora_ce_family(FIX "tiny-mistral", FIX "train/mistral-lora-ce.safetensors");
}

static void test_lora_ce_matches_peft(void)
{
	tk_safetensors *st;
	TKT_CHECK(tk_safetensors_open(&st, FIX "train/lora-ce.safetensors") == 0, "%s",
		  tk_error_message());
	fbatch fb;
	read_batch(st, &fb);
	struct tk_model *model;
	tk_lora *lora;
	tk_train *t = lora_trainer(st, &model, &lora);
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_EXAMPLE, (double)fb.b.n_records, 0};
	tk_train_result res;
	float lp[64];
	TKT_CHECK(tk_train_forward_backward(t, &fb.b, &loss, &res, lp) == 0, "%s",
		  tk_error_message());
	check_value("loss", res.loss, tensor(st, "loss", NULL)[0]);
	check_rel("logprobs", lp, tensor(st, "logprobs", NULL), fb.b.n);
	size_t n = check_all(t, st, "grad.", 'g');
	TKT_CHECK(n == 2 * 7 * 2, "%zu A/B gradients compared", n);
	// one clipped AdamW step
	const float *s = tensor(st, "adamw", NULL);
	tk_train_adamw opt = {s[0], s[1], s[2], s[3], s[4]};
	double norm;
	TKT_CHECK(tk_train_optim_step(t, &opt, s[5], &norm) == 0, "%s", tk_error_message());
	check_value("grad norm", norm, tensor(st, "grad_norm", NULL)[0]);
	check_all(t, st, "step.", 'p');
	TKT_CHECK(tk_train_steps(t) == 1, "one step");
	tk_train_close(t);
	tk_lora_free(lora);
	tk_model_free(model);
	tk_safetensors_close(st);
}

/* Every weight's gradient of a fully trained model; `tensors` of them. */
static void full_ce_of(const char *dir, const char *fixture, size_t tensors, int recompute)
{
	tk_safetensors *st;
	TKT_CHECK(tk_safetensors_open(&st, fixture) == 0, "%s", tk_error_message());
	fbatch fb;
	read_batch(st, &fb);
	struct tk_model *model;
	TKT_CHECK(tk_model_load(&model, dir) == 0, "%s", tk_error_message());
	tk_train *t = NULL;
	tk_train_config tc = {1, 64};
	TKT_CHECK(tk_train_open_recompute(&t, be, model, NULL, &tc, recompute) == 0, "%s",
		  tk_error_message());
	double total = 0;
	for (size_t r = 0; r < fb.b.n_records; r++)
		for (size_t i = fb.starts[r] + 1; i < fb.starts[r + 1]; i++)
			total += fb.weights[i];
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, total, 0};
	tk_train_result res;
	TKT_CHECK(tk_train_forward_backward(t, &fb.b, &loss, &res, NULL) == 0, "%s",
		  tk_error_message());
	check_value("loss", res.loss, tensor(st, "loss", NULL)[0]);
	size_t n = check_all(t, st, "grad.", 'g');
	TKT_CHECK(n == tensors, "%s: %zu gradients compared", dir, n);
	tk_train_close(t);
	tk_model_free(model);
	tk_safetensors_close(st);
}

static void full_ce(int recompute)
{
	full_ce_of(FIX "tiny-llama-tied", FIX "train/full-ce.safetensors", 2 + 2 * 9, recompute);
}

/* Qwen3 untied: embedding, lm_head, final norm, and per layer two norms,
 * seven matrices, the q and k norms; also with activations recomputed. */
static void test_qwen3_full_matches_torch(void)
{
	full_ce_of(FIX "tiny-qwen3", FIX "train/qwen3-full-ce.safetensors", 3 + 2 * 11, 0);
	full_ce_of(FIX "tiny-qwen3", FIX "train/qwen3-full-ce.safetensors", 3 + 2 * 11, 1);
}

static void test_full_ce_matches_torch(void)
{
	full_ce(0);
}

/* Activations made again during the backward: the same gradients. */
static void test_full_ce_recomputed(void)
{
	full_ce(1);
}

static void test_dpo_matches_peft(void)
{
	tk_safetensors *st, *init;
	TKT_CHECK(tk_safetensors_open(&st, FIX "train/lora-dpo.safetensors") == 0, "%s",
		  tk_error_message());
	TKT_CHECK(tk_safetensors_open(&init, FIX "train/lora-ce.safetensors") == 0, "%s",
		  tk_error_message());
	fbatch fb;
	read_batch(st, &fb);
	struct tk_model *model;
	tk_lora *lora;
	tk_train *t = lora_trainer(init, &model, &lora);
	tk_train_loss loss = {TK_TRAIN_DPO, 0, (double)fb.b.n_records / 2,
			      tensor(st, "beta", NULL)[0]};
	tk_train_result res;
	TKT_CHECK(tk_train_forward_backward(t, &fb.b, &loss, &res, NULL) == 0, "%s",
		  tk_error_message());
	check_value("dpo loss", res.loss, tensor(st, "loss", NULL)[0]);
	TKT_CHECK(res.pairs == 2, "pairs %zu", res.pairs);
	size_t n = check_all(t, st, "grad.", 'g');
	TKT_CHECK(n == 2 * 7 * 2, "%zu A/B gradients compared", n);
	// reference logprobs kept by the caller: computed once, then reused
	double ref[4] = {NAN, NAN, NAN, NAN};
	for (int pass = 0; pass < 2; pass++) {
		tk_train_zero_grad(t);
		TKT_CHECK(tk_train_forward_backward_ref(t, &fb.b, &loss, ref, &res, NULL) == 0,
			  "%s", tk_error_message());
		TKT_CHECK(!isnan(ref[0]) && !isnan(ref[3]), "references kept");
		check_value("dpo loss with kept references", res.loss, tensor(st, "loss", NULL)[0]);
		check_all(t, st, "grad.", 'g');
	}
	tk_train_close(t);
	tk_lora_free(lora);
	tk_model_free(model);
	tk_safetensors_close(st);
	tk_safetensors_close(init);
}

/* Two micro-batches of one and two records give the gradients of the
 * whole batch. */
static void test_accumulation(void)
{
	tk_safetensors *st;
	TKT_CHECK(tk_safetensors_open(&st, FIX "train/lora-ce.safetensors") == 0, "%s",
		  tk_error_message());
	fbatch fb;
	read_batch(st, &fb);
	struct tk_model *model;
	tk_lora *lora;
	tk_train *t = lora_trainer(st, &model, &lora);
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_EXAMPLE, 3, 0};
	tk_train_result r1, r2;
	size_t s1[2] = {0, fb.starts[1]}, s2[3];
	for (int i = 0; i < 3; i++)
		s2[i] = fb.starts[i + 1] - fb.starts[1];
	tk_train_batch b1 = {fb.starts[1], 1, fb.tokens, fb.weights, s1};
	tk_train_batch b2 = {fb.b.n - fb.starts[1], 2, fb.tokens + fb.starts[1],
			     fb.weights + fb.starts[1], s2};
	TKT_CHECK(tk_train_forward_backward(t, &b1, &loss, &r1, NULL) == 0, "%s",
		  tk_error_message());
	TKT_CHECK(tk_train_forward_backward(t, &b2, &loss, &r2, NULL) == 0, "%s",
		  tk_error_message());
	check_value("accumulated loss", r1.loss + r2.loss, tensor(st, "loss", NULL)[0]);
	check_all(t, st, "grad.", 'g');
	tk_train_close(t);
	tk_lora_free(lora);
	tk_model_free(model);
	tk_safetensors_close(st);
}

/* Save after a step, load into a fresh trainer: the same next step. */
static void test_state_round_trip(void)
{
	tk_safetensors *st;
	TKT_CHECK(tk_safetensors_open(&st, FIX "train/lora-ce.safetensors") == 0, "%s",
		  tk_error_message());
	fbatch fb;
	read_batch(st, &fb);
	struct tk_model *model;
	tk_lora *lora;
	tk_train *a = lora_trainer(st, &model, &lora), *b = NULL;
	tk_train_config tc = {0, 64};
	TKT_CHECK(tk_train_open(&b, be, model, lora, &tc) == 0, "%s", tk_error_message());
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 10, 0};
	tk_train_adamw opt = {1e-2, 0.9, 0.95, 1e-8, 0};
	tk_train_result res;
	char path[4096];
	snprintf(path, sizeof path, "%s/train-state.tkc", tkt_tmpdir());
	tk_train_forward_backward(a, &fb.b, &loss, &res, NULL);
	tk_train_optim_step(a, &opt, 0, NULL);
	TKT_CHECK(tk_train_save_state(a, path, "{\"data\": 7}") == 0, "%s", tk_error_message());
	char *meta = NULL;
	TKT_CHECK(tk_train_load_state(b, path, &meta) == 0, "%s", tk_error_message());
	TKT_CHECK(meta && strstr(meta, "\"data\":7") && tk_train_steps(b) == 1, "meta %s", meta);
	free(meta);
	for (int i = 0; i < 2; i++) {
		tk_train_forward_backward(i ? b : a, &fb.b, &loss, &res, NULL);
		tk_train_optim_step(i ? b : a, &opt, 0, NULL);
	}
	size_t n = 4 * 128;
	float pa[4 * 128], pb[4 * 128];
	const char *name = "base_model.model.model.layers.1.mlp.down_proj.lora_A.weight";
	TKT_CHECK(tk_train_get(a, name, 'p', pa, n) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_train_get(b, name, 'p', pb, n) == 0, "%s", tk_error_message());
	TKT_CHECK(memcmp(pa, pb, n * sizeof *pa) == 0, "same bits after resume");
	tk_train_close(a);
	tk_train_close(b);
	tk_lora_free(lora);
	tk_model_free(model);
	tk_safetensors_close(st);
}

static void test_bad_batches(void)
{
	tk_safetensors *st;
	TKT_CHECK(tk_safetensors_open(&st, FIX "train/lora-ce.safetensors") == 0, "%s",
		  tk_error_message());
	struct tk_model *model;
	tk_lora *lora;
	tk_train *t = lora_trainer(st, &model, &lora);
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 1, 0};
	tk_train_result res;
	int32_t tokens[70] = {1, 2, 600};
	float w[70] = {0};
	size_t s[2] = {0, 3};
	tk_train_batch b = {3, 1, tokens, w, s};
	TKT_CHECK(tk_train_forward_backward(t, &b, &loss, &res, NULL) == TK_EDATA, "id 600");
	TKT_CHECK(strstr(tk_error_message(), "600") != NULL, "%s", tk_error_message());
	s[1] = 70;
	b.n = 70;
	tokens[2] = 3;
	TKT_CHECK(tk_train_forward_backward(t, &b, &loss, &res, NULL) == TK_EUSAGE, "too long");
	loss.kind = TK_TRAIN_DPO;
	s[1] = 3;
	b.n = 3;
	TKT_CHECK(tk_train_forward_backward(t, &b, &loss, &res, NULL) == TK_EUSAGE, "odd DPO");
	tk_train_close(t);
	tk_lora_free(lora);
	tk_model_free(model);
	tk_safetensors_close(st);
}

/* A NaN in the adapter gives a NaN loss; the optimizer step refuses it
 * and leaves the weights as they were. */
static void test_nan_step_refused(void)
{
	struct tk_model *model;
	tk_lora *lora;
	TKT_CHECK(tk_model_load(&model, FIX "tiny-llama") == 0, "%s", tk_error_message());
	tk_lora_config c = {4, 8, TK_LORA_ALL};
	TKT_CHECK(tk_lora_create(&lora, model, &c, 1) == 0, "%s", tk_error_message());
	tk_lora_get(lora, 1, TK_LORA_V)->b[3] = NAN;
	tk_train *t = NULL;
	tk_train_config tc = {0, 64};
	TKT_CHECK(tk_train_open(&t, be, model, lora, &tc) == 0, "%s", tk_error_message());
	int32_t tokens[6] = {1, 5, 9, 200, 7, 2};
	float w[6] = {0, 1, 1, 1, 1, 1};
	size_t s[2] = {0, 6};
	tk_train_batch b = {6, 1, tokens, w, s};
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 5, 0};
	tk_train_result res;
	TKT_CHECK(tk_train_forward_backward(t, &b, &loss, &res, NULL) == 0, "%s",
		  tk_error_message());
	TKT_CHECK(isnan(res.loss), "loss %g", res.loss);
	const char *name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
	float before[4 * 64], after[4 * 64];
	tk_train_get(t, name, 'p', before, 4 * 64);
	tk_train_adamw opt = {1e-2, 0.9, 0.95, 1e-8, 0};
	double norm;
	TKT_CHECK(tk_train_optim_step(t, &opt, 1, &norm) == TK_EDATA, "refused");
	TKT_CHECK(strstr(tk_error_message(), "gradient norm is") != NULL, "%s", tk_error_message());
	tk_train_get(t, name, 'p', after, 4 * 64);
	TKT_CHECK(memcmp(before, after, sizeof before) == 0 && tk_train_steps(t) == 0,
		  "weights unchanged");
	tk_train_close(t);
	tk_lora_free(lora);
	tk_model_free(model);
}

/* Activation bytes: linear in the pass size, smaller with recomputation,
 * and what a trainer plans. */
static void test_activation_bytes(void)
{
	struct tk_model *model;
	TKT_CHECK(tk_model_load(&model, FIX "tiny-llama") == 0, "%s", tk_error_message());
	tk_lora_config c = {4, 8, TK_LORA_ALL};
	size_t a = tk_train_activation_bytes(model, &c, 0, 1024);
	size_t b = tk_train_activation_bytes(model, &c, 0, 2048);
	size_t r = tk_train_activation_bytes(model, &c, 1, 1024);
	size_t f = tk_train_activation_bytes(model, NULL, 0, 1024);
	TKT_CHECK(a > 0 && b > 2 * a - 4096 && b < 2 * a + 4096, "%zu, %zu", a, b);
	TKT_CHECK(r < a, "recompute %zu of %zu (two layers: one kept)", r, a);
	TKT_CHECK(f < a, "full training keeps no x·Aᵀ: %zu of %zu", f, a);
	tk_lora *lora;
	TKT_CHECK(tk_lora_create(&lora, model, &c, 1) == 0, "%s", tk_error_message());
	tk_train *t = NULL, *u = NULL;
	tk_train_config tc = {0, 1024}, tc2 = {0, 2048};
	TKT_CHECK(tk_train_open(&t, be, model, lora, &tc) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_train_open(&u, be, model, lora, &tc2) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_train_memory(u) - tk_train_memory(t) == b - a, "planned as said");
	tk_train_close(t);
	tk_train_close(u);
	tk_lora_free(lora);
	tk_model_free(model);
}

static void test_schedule(void)
{
	TKT_CHECK(fabs(tk_lr_at(TK_LR_CONSTANT, 1, 0, 4, 100) - 0.25) < 1e-12, "warmup");
	TKT_CHECK(tk_lr_at(TK_LR_LINEAR, 1, 100, 0, 100) == 0, "linear end");
	TKT_CHECK(fabs(tk_lr_at(TK_LR_COSINE, 1, 50, 0, 100) - 0.5) < 1e-12, "cosine middle");
	double p;
	double lr = tk_lr_for_lora("llama", 576, &p);
	TKT_CHECK(p == 0.781 && fabs(lr - 5e-4 * pow(2000.0 / 576, 0.781)) < 1e-15, "%g", lr);
	tk_lr_for_lora("qwen2", 896, &p);
	TKT_CHECK(p == 0.0775, "qwen p %g", p);
	TKT_CHECK(tk_lr_schedule_parse("cosine") == TK_LR_COSINE &&
		  tk_lr_schedule_parse("step") == -1, "names");
}

int main(void)
{
	if (tk_backend_open(&be, "cpu", 2)) {
		printf("Bail out! %s\n", tk_error_message());
		return 1;
	}
	TKT_RUN(test_lora_ce_matches_peft);
	TKT_RUN(test_qwen3_lora_matches_peft);
	TKT_RUN(test_qwen3_full_matches_torch);
	TKT_RUN(test_mistral_window_lora_matches_peft);
	TKT_RUN(test_full_ce_matches_torch);
	TKT_RUN(test_full_ce_recomputed);
	TKT_RUN(test_dpo_matches_peft);
	TKT_RUN(test_accumulation);
	TKT_RUN(test_state_round_trip);
	TKT_RUN(test_bad_batches);
	TKT_RUN(test_nan_step_refused);
	TKT_RUN(test_activation_bytes);
	TKT_RUN(test_schedule);
	tk_backend_close(be);
	return tkt_done();
}
