/* The frozen base of LoRA training held once in a compact form
 * (tk_train_open_base, tk_engine.h's enum tk_engine_base): when the
 * model's values are those of the form, training gives the bits of the
 * float32 base packed for each product (losses, logprobs, the adapter's
 * gradients and weights after optimizer steps), in less memory; a form
 * that cannot hold the values is refused by name; a record's logprobs do
 * not depend on the batch. */
#include "tkt.h"

#include "tk_backend.h"
#include "tk_dtype.h"
#include "tk_engine.h"
#include "tk_error.h"
#include "tk_gguf.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_train.h"

#include <math.h>
#include <stdint.h>

#define FIX "tests/fixtures/"
#define N_TOKENS 20

static tk_backend *be;

static const int32_t tokens[N_TOKENS] = {1, 17, 300, 42, 9, 255, 3, 77, 120, 5,
					 6, 7, 8, 9, 10, 11, 12, 13, 400, 2};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double uniform(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

/* Every value of w made a bf16 value. */
static void as_bf16(float *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		w[i] = tk_bf16_to_f32(tk_f32_to_bf16(w[i]));
}

/* w through Q8_0 blocks (ggml's quantizer and expansion). */
static void as_q8(float *w, size_t n)
{
	unsigned char block[34];
	for (size_t b = 0; b < n; b += 32) {
		TKT_CHECK(tk_ggml_from_f32(TK_GGML_Q8_0, w + b, block, 32) == 1, "q8_0 quantizer");
		tk_ggml_to_f32(TK_GGML_Q8_0, block, w + b, 32);
	}
}

/* w replaced by random Q4_1 blocks (level 0 and 15 in each, as ggml
 * quantizes), of about the weights' scale. */
static void as_q4(float *w, size_t n)
{
	unsigned char block[20];
	for (size_t b = 0; b < n; b += 32) {
		uint16_t d = tk_f32_to_f16((float)(0.002 + 0.004 * uniform()));
		uint16_t m = tk_f32_to_f16((float)(-0.03 - 0.01 * uniform()));
		memcpy(block, &d, 2), memcpy(block + 2, &m, 2);
		for (int j = 0; j < 16; j++)
			block[4 + j] = (unsigned char)((int)(uniform() * 16) % 16 |
						       ((int)(uniform() * 16) % 16) << 4);
		block[4] &= 0xf0, block[5] |= 0xf0;
		tk_ggml_to_f32(TK_GGML_Q4_1, block, w + b, 32);
	}
}

/* The model with its linear layers' values made those of `base`'s form. */
static tk_model *model_in(int base)
{
	tk_model *m;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-llama") == 0, "%s", tk_error_message());
	for (size_t i = 0; i < m->n_tensors; i++) {
		tk_model_tensor *t = &m->tensors[i];
		if (t->ndim != 2 || !strstr(t->name, "layers."))
			continue;
		if (base == TK_ENGINE_BASE_BF16)
			as_bf16(t->data, t->numel);
		else if (base == TK_ENGINE_BASE_Q8)
			as_q8(t->data, t->numel);
		else if (base == TK_ENGINE_BASE_Q4)
			as_q4(t->data, t->numel);
	}
	return m;
}

/* What a few steps give: per step the loss and every logprob, then the
 * adapter's first A and B gradients and weights. */
typedef struct outcome {
	double loss[3];
	float logprob[3][N_TOKENS];
	float grad[2][1024], weight[2][1024]; // rank 4 × hidden (at most 256)
	size_t memory;
} outcome;

static void run_steps(tk_model *m, int base, outcome *o)
{
	tk_lora *lora;
	tk_lora_config lc = {4, 8, TK_LORA_ALL};
	TKT_CHECK(tk_lora_create(&lora, m, &lc, 11) == 0, "%s", tk_error_message());
	tk_train *t;
	tk_train_config tc = {0, 64};
	size_t n = 4 * (size_t)m->config.hidden; // the two adapter matrices' values
	TKT_CHECK(tk_train_open_base(&t, be, m, lora, &tc, 0, base) == 0, "%s", tk_error_message());
	float w[N_TOKENS];
	for (int i = 0; i < N_TOKENS; i++)
		w[i] = i == 0 || i == 12 ? 0.0f : 1.0f;
	size_t starts[3] = {0, 12, N_TOKENS};
	tk_train_batch b = {N_TOKENS, 2, tokens, w, starts};
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 18, 0};
	tk_train_adamw opt = {1e-2, 0.9, 0.95, 1e-8, 0};
	static const char *const names[2] = {
		"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
		"base_model.model.model.layers.1.mlp.gate_proj.lora_A.weight"};
	for (int s = 0; s < 3; s++) {
		tk_train_result res;
		double norm;
		TKT_CHECK(tk_train_forward_backward(t, &b, &loss, &res, o->logprob[s]) == 0, "%s",
			  tk_error_message());
		o->loss[s] = res.loss;
		if (s == 2)
			for (int k = 0; k < 2; k++)
				TKT_CHECK(tk_train_get(t, names[k], 'g', o->grad[k], n) == 0, "%s",
					  tk_error_message());
		TKT_CHECK(tk_train_optim_step(t, &opt, 1, &norm) == 0, "%s", tk_error_message());
	}
	for (int k = 0; k < 2; k++)
		TKT_CHECK(tk_train_get(t, names[k], 'p', o->weight[k], n) == 0, "%s",
			  tk_error_message());
	o->memory = tk_train_memory(t);
	tk_train_close(t);
	tk_lora_free(lora);
}

static void check_same_outcome(const outcome *a, const outcome *b, const char *what)
{
	TKT_CHECK(memcmp(a->loss, b->loss, sizeof a->loss) == 0, "%s: losses %.17g vs %.17g", what,
		  a->loss[2], b->loss[2]);
	TKT_CHECK(memcmp(a->logprob, b->logprob, sizeof a->logprob) == 0, "%s: logprobs differ",
		  what);
	TKT_CHECK(memcmp(a->grad, b->grad, sizeof a->grad) == 0, "%s: gradients differ", what);
	TKT_CHECK(memcmp(a->weight, b->weight, sizeof a->weight) == 0, "%s: weights differ", what);
}

/* Each form, asked for and chosen by auto, against the float32 base. */
static void test_same_bits(void)
{
	static const int forms[] = {TK_ENGINE_BASE_BF16, TK_ENGINE_BASE_Q8, TK_ENGINE_BASE_Q4};
	for (size_t f = 0; f < 3; f++) {
		tk_model *m = model_in(forms[f]);
		outcome *full = calloc(1, sizeof *full), *asked = calloc(1, sizeof *asked);
		outcome *chosen = calloc(1, sizeof *chosen);
		run_steps(m, TK_ENGINE_BASE_F32, full);
		run_steps(m, forms[f], asked);
		run_steps(m, TK_ENGINE_BASE_AUTO, chosen);
		const char *name = tk_engine_base_name(forms[f]);
		check_same_outcome(full, asked, name);
		check_same_outcome(full, chosen, "auto");
		TKT_CHECK(asked->memory < full->memory * 3 / 4, "%s: %zu bytes vs float32's %zu",
			  name, asked->memory, full->memory);
		TKT_CHECK(chosen->memory == asked->memory, "auto took %zu bytes, %s %zu",
			  chosen->memory, name, asked->memory);
		free(full), free(asked), free(chosen);
		tk_model_free(m);
	}
	// a float32 model under auto: one float32 copy, the same bits
	tk_model *m = model_in(TK_ENGINE_BASE_F32);
	outcome *full = calloc(1, sizeof *full), *one = calloc(1, sizeof *one);
	run_steps(m, TK_ENGINE_BASE_F32, full);
	run_steps(m, TK_ENGINE_BASE_AUTO, one);
	check_same_outcome(full, one, "auto on float32 values");
	TKT_CHECK(one->memory < full->memory, "one copy %zu vs two %zu", one->memory, full->memory);
	free(full), free(one);
	tk_model_free(m);
}

/* A GGUF base loaded lazily (tk_model_load_lazy: its quantized matrices
 * read one at a time as the engine packs them) trains as the same model
 * loaded whole, under auto and under f32. */
static void test_lazy_gguf(void)
{
	static const char path[] = FIX "gguf/tiny-kquants.gguf";
	static const int bases[] = {TK_ENGINE_BASE_AUTO, TK_ENGINE_BASE_F32};
	tk_model *whole, *lazy;
	TKT_CHECK(tk_model_load(&whole, path) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_model_load_lazy(&lazy, path) == 0, "%s", tk_error_message());
	const tk_model_tensor *t = tk_model_find(lazy, "model.layers.0.self_attn.q_proj.weight");
	TKT_CHECK(t && !t->data && t->deferred, "a quantized matrix is deferred");
	float *read = malloc(t->numel * sizeof *read);
	TKT_CHECK(tk_model_tensor_read(lazy, t, read) == 0, "%s", tk_error_message());
	const tk_model_tensor *w = tk_model_find(whole, t->name);
	TKT_CHECK(memcmp(read, w->data, t->numel * sizeof *read) == 0, "read back as loaded");
	free(read);
	outcome *by_base[2];
	for (int b = 0; b < 2; b++) {
		outcome *a = calloc(1, sizeof *a), *l = calloc(1, sizeof *l);
		run_steps(whole, bases[b], a);
		run_steps(lazy, bases[b], l);
		check_same_outcome(a, l, tk_engine_base_name(bases[b]));
		by_base[b] = a;
		free(l);
	}
	/* the k-quants held in their compact forms (Q4K, Q8K) train as their
	 * float32 values do, bit for bit, in less memory */
	check_same_outcome(by_base[0], by_base[1], "auto (k-quant forms) against f32");
	TKT_CHECK(by_base[0]->memory < by_base[1]->memory * 3 / 4, "auto %zu vs f32 %zu",
		  by_base[0]->memory, by_base[1]->memory);
	free(by_base[0]), free(by_base[1]);
	tk_model_free(whole);
	tk_model_free(lazy);
}

/* A form that cannot hold the values is refused, naming the weight. */
static void test_misfit_refused(void)
{
	tk_model *m = model_in(TK_ENGINE_BASE_Q8);
	tk_lora *lora;
	tk_lora_config lc = {4, 8, TK_LORA_ALL};
	TKT_CHECK(tk_lora_create(&lora, m, &lc, 1) == 0, "%s", tk_error_message());
	tk_train *t = NULL;
	tk_train_config tc = {0, 64};
	int rc = tk_train_open_base(&t, be, m, lora, &tc, 0, TK_ENGINE_BASE_Q4);
	TKT_CHECK(rc == TK_EDATA && !t, "q4 over q8 values: rc %d", rc);
	TKT_CHECK(strstr(tk_error_message(), "layer 0's q_proj") &&
			  strstr(tk_error_message(), "q4"),
		  "message: %s", tk_error_message());
	TKT_CHECK(tk_engine_base_parse("q4") == TK_ENGINE_BASE_Q4 &&
			  tk_engine_base_parse("q4_1") == -1 &&
			  !strcmp(tk_engine_base_name(TK_ENGINE_BASE_AUTO), "auto"),
		  "names");
	tk_lora_free(lora);
	tk_model_free(m);
}

/* Batch invariance under a compact base: a record's logprobs alone are
 * those it gets beside another record. */
static void test_batch_invariant(void)
{
	tk_model *m = model_in(TK_ENGINE_BASE_Q4);
	tk_lora *lora;
	tk_lora_config lc = {4, 8, TK_LORA_ALL};
	TKT_CHECK(tk_lora_create(&lora, m, &lc, 5) == 0, "%s", tk_error_message());
	tk_train *t;
	tk_train_config tc = {0, 64};
	TKT_CHECK(tk_train_open_base(&t, be, m, lora, &tc, 0, TK_ENGINE_BASE_Q4) == 0, "%s",
		  tk_error_message());
	float w[N_TOKENS], both[N_TOKENS], alone[N_TOKENS];
	for (int i = 0; i < N_TOKENS; i++)
		w[i] = 1.0f;
	size_t starts[3] = {0, 12, N_TOKENS}, first[2] = {0, 12};
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 20, 0};
	tk_train_result res;
	tk_train_batch b2 = {N_TOKENS, 2, tokens, w, starts}, b1 = {12, 1, tokens, w, first};
	TKT_CHECK(tk_train_forward(t, &b2, &loss, &res, both) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_train_forward(t, &b1, &loss, &res, alone) == 0, "%s", tk_error_message());
	TKT_CHECK(memcmp(both, alone, 12 * sizeof *both) == 0, "the first record's logprobs "
		  "depend on the batch: %.9g vs %.9g", both[5], alone[5]);
	tk_train_close(t);
	tk_lora_free(lora);
	tk_model_free(m);
}

/* bf16 products (not exact): the float32 base's losses within rounding,
 * less memory, and a record's logprobs independent of the batch. */
static void test_bf16_products(void)
{
	tk_model *m = model_in(TK_ENGINE_BASE_F32);
	outcome *full = calloc(1, sizeof *full), *dot = calloc(1, sizeof *dot);
	run_steps(m, TK_ENGINE_BASE_F32, full);
	run_steps(m, TK_ENGINE_BASE_BF16_DOT, dot);
	for (int s = 0; s < 3; s++)
		TKT_CHECK(fabs(dot->loss[s] - full->loss[s]) < 1e-3 * fabs(full->loss[s]) &&
				  dot->loss[s] != full->loss[s],
			  "step %d: loss %.9g vs float32's %.9g", s, dot->loss[s], full->loss[s]);
	TKT_CHECK(dot->memory < full->memory * 3 / 4, "%zu bytes vs %zu", dot->memory, full->memory);
	free(full), free(dot);
	tk_lora *lora;
	tk_lora_config lc = {4, 8, TK_LORA_ALL};
	TKT_CHECK(tk_lora_create(&lora, m, &lc, 5) == 0, "%s", tk_error_message());
	tk_train *t;
	tk_train_config tc = {0, 64};
	TKT_CHECK(tk_train_open_base(&t, be, m, lora, &tc, 0, TK_ENGINE_BASE_BF16_DOT) == 0, "%s",
		  tk_error_message());
	float w[N_TOKENS], both[N_TOKENS], alone[N_TOKENS];
	for (int i = 0; i < N_TOKENS; i++)
		w[i] = 1.0f;
	size_t starts[3] = {0, 12, N_TOKENS}, first[2] = {0, 12};
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 20, 0};
	tk_train_result res;
	tk_train_batch b2 = {N_TOKENS, 2, tokens, w, starts}, b1 = {12, 1, tokens, w, first};
	TKT_CHECK(tk_train_forward(t, &b2, &loss, &res, both) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_train_forward(t, &b1, &loss, &res, alone) == 0, "%s", tk_error_message());
	TKT_CHECK(memcmp(both, alone, 12 * sizeof *both) == 0, "bf16 products: the first record's "
		  "logprobs depend on the batch");
	tk_train_close(t);
	tk_lora_free(lora);
	tk_model_free(m);
}

int main(void)
{
	if (tk_backend_open(&be, "cpu", 2)) {
		printf("Bail out! %s\n", tk_error_message());
		return 1;
	}
	tk_backend_set_batch_invariant(be, 1);
	TKT_RUN(test_same_bits);
	TKT_RUN(test_lazy_gguf);
	TKT_RUN(test_misfit_refused);
	TKT_RUN(test_batch_invariant);
	TKT_RUN(test_bf16_products);
	tk_backend_close(be);
	return tkt_done();
}
