/* The engine (tk_engine.h): a forward on a trainer's live adapter gives
 * the bits of a forward opened with the adapter exported after the same
 * steps, the bare base those of the model alone; the base is held once;
 * adapters by name. */
#include "tkt.h"

#include "tk_backend.h"
#include "tk_engine.h"
#include "tk_error.h"
#include "tk_forward.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_train.h"

#include <stdint.h>

#define FIX "tests/fixtures/"
#define VOCAB 512

static tk_backend *be;

static const int32_t prompt[2][9] = {
	{1, 17, 300, 42, 9, 255, 3, 77, 120},
	{5, 6, 7, 8, 9, 10, 11, 12, 13},
};

/* Logits of every token of both prompts, in slots 0 and 1: (18, VOCAB). */
static void logits_of(tk_forward *f, float *out)
{
	size_t slots[2] = {0, 1}, counts[2] = {9, 9};
	tk_forward_clear(f, 0);
	tk_forward_clear(f, 1);
	tk_forward_batch b = {2, slots, counts, &prompt[0][0], 1};
	TKT_CHECK(tk_forward_run(f, &b, out) == TK_OK, "%s", tk_error_message());
}

/* Two optimizer steps on the copy of a prompt, so the adapter is not zero. */
static void train_two_steps(tk_train *t)
{
	float w[9] = {0, 1, 1, 1, 1, 1, 1, 1, 1};
	size_t starts[2] = {0, 9};
	tk_train_batch b = {9, 1, &prompt[0][0], w, starts};
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 8, 0};
	tk_train_adamw opt = {1e-2, 0.9, 0.95, 1e-8, 0};
	for (int s = 0; s < 2; s++) {
		tk_train_result res;
		double norm;
		TKT_CHECK(tk_train_forward_backward(t, &b, &loss, &res, NULL) == 0, "%s",
			  tk_error_message());
		TKT_CHECK(tk_train_optim_step(t, &opt, 1, &norm) == 0, "%s", tk_error_message());
	}
}

static void check_same(const float *a, const float *b, size_t n, const char *what)
{
	size_t differ = 0;
	for (size_t i = 0; i < n; i++)
		differ += memcmp(&a[i], &b[i], sizeof *a) != 0;
	TKT_CHECK(differ == 0, "%s: %zu of %zu logits differ", what, differ, n);
}

static void live_adapter(const char *dir)
{
	tk_model *m;
	TKT_CHECK(tk_model_load(&m, dir) == 0, "%s", tk_error_message());
	tk_lora *lora, *exported;
	tk_lora_config lc = {4, 8, TK_LORA_ALL};
	TKT_CHECK(tk_lora_create(&lora, m, &lc, 7) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_lora_create(&exported, m, &lc, 8) == 0, "%s", tk_error_message());
	tk_engine *e;
	tk_engine_config ec = {.train = 1};
	TKT_CHECK(tk_engine_open(&e, be, m, &ec) == 0, "%s", tk_error_message());
	tk_train *t;
	tk_train_config tc = {0, 64, };
	TKT_CHECK(tk_train_open_engine(&t, e, lora, "policy", &tc, 0) == 0, "%s",
		  tk_error_message());
	TKT_CHECK(tk_engine_has(e, "policy"), "the live adapter is lent by name");
	tk_forward *live, *bare, *alone, *with_copy;
	TKT_CHECK(tk_forward_open_engine(&live, e, "policy", 2, 32, 32) == 0, "%s",
		  tk_error_message());
	TKT_CHECK(tk_forward_open_engine(&bare, e, NULL, 2, 32, 32) == 0, "%s",
		  tk_error_message());
	float *a = malloc(18 * VOCAB * sizeof *a), *b = malloc(18 * VOCAB * sizeof *b);
	train_two_steps(t);
	tk_backend_set_batch_invariant(be, 1);
	logits_of(live, a); // the forward sees the steps without being reopened
	TKT_CHECK(tk_train_export_lora(t, exported) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_forward_open(&with_copy, be, m, exported, 2, 32, 32) == 0, "%s",
		  tk_error_message());
	logits_of(with_copy, b);
	check_same(a, b, 18 * VOCAB, "live adapter vs exported");
	logits_of(bare, a);
	TKT_CHECK(tk_forward_open(&alone, be, m, NULL, 2, 32, 32) == 0, "%s", tk_error_message());
	logits_of(alone, b);
	check_same(a, b, 18 * VOCAB, "bare base vs the model alone");
	/* the engine's forwards hold only their cache and arena, no weights */
	TKT_CHECK(tk_forward_memory(live) < tk_engine_memory(e), "forward %zu, engine %zu",
		  tk_forward_memory(live), tk_engine_memory(e));
	TKT_CHECK(tk_forward_memory(with_copy) > tk_engine_memory(e) / 2, "an own engine: %zu",
		  tk_forward_memory(with_copy));
	TKT_CHECK(tk_engine_detach(e, "policy") != 0, "a live adapter is not detached");
	tk_forward_close(live);
	tk_forward_close(bare);
	tk_forward_close(alone);
	tk_forward_close(with_copy);
	tk_train_close(t);
	TKT_CHECK(!tk_engine_has(e, "policy"), "closing the trainer takes its adapter back");
	tk_engine_close(e);
	free(a), free(b);
	tk_lora_free(lora), tk_lora_free(exported);
	tk_model_free(m);
}

static void test_live_adapter(void)
{
	live_adapter(FIX "tiny-llama");
	live_adapter(FIX "tiny-llama-tied");
	live_adapter(FIX "tiny-qwen3");
}

/* The base's logprobs from a trainer whose adapter has trained: those of
 * a new adapter (B = 0 adds exact zeros), bit for bit. */
static void test_base_logprobs(void)
{
	tk_model *m;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-qwen3") == 0, "%s", tk_error_message());
	tk_lora *trained, *fresh;
	tk_lora_config lc = {4, 8, TK_LORA_ALL};
	TKT_CHECK(tk_lora_create(&trained, m, &lc, 3) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_lora_create(&fresh, m, &lc, 4) == 0, "%s", tk_error_message());
	tk_train *t, *u;
	tk_train_config tc = {0, 64};
	TKT_CHECK(tk_train_open(&t, be, m, trained, &tc) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_train_open(&u, be, m, fresh, &tc) == 0, "%s", tk_error_message());
	train_two_steps(t);
	float w[18], base[18], want[18], policy[18];
	size_t starts[3] = {0, 9, 18};
	for (size_t i = 0; i < 18; i++)
		w[i] = i % 9 != 0;
	tk_train_batch b = {18, 2, &prompt[0][0], w, starts};
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 16, 0};
	tk_train_result res;
	TKT_CHECK(tk_train_base_logprobs(t, &b, base) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_train_forward(u, &b, &loss, &res, want) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_train_forward(t, &b, &loss, &res, policy) == 0, "%s", tk_error_message());
	check_same(base, want, 18, "base logprobs vs a new adapter's");
	TKT_CHECK(memcmp(base, policy, sizeof base) != 0, "the trained adapter changes them");
	tk_train *full;
	tk_train_config fc = {1, 64};
	TKT_CHECK(tk_train_open(&full, be, m, NULL, &fc) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_train_base_logprobs(full, &b, base) == TK_EUSAGE, "full training has no base");
	tk_train_close(full);
	tk_train_close(t);
	tk_train_close(u);
	tk_lora_free(trained), tk_lora_free(fresh);
	tk_model_free(m);
}

static void test_adapters_by_name(void)
{
	tk_model *m, *other;
	TKT_CHECK(tk_model_load(&m, FIX "tiny-llama") == 0, "%s", tk_error_message());
	TKT_CHECK(tk_model_load(&other, FIX "tiny-llama-tied") == 0, "%s", tk_error_message());
	tk_lora *lora, *foreign;
	tk_lora_config lc = {4, 8, TK_LORA_ALL};
	TKT_CHECK(tk_lora_create(&lora, m, &lc, 1) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_lora_create(&foreign, other, &lc, 1) == 0, "%s", tk_error_message());
	tk_engine *e;
	tk_engine_config ec = {0};
	TKT_CHECK(tk_engine_open(&e, be, m, &ec) == 0, "%s", tk_error_message());
	size_t base = tk_engine_memory(e);
	TKT_CHECK(tk_engine_attach(e, "a", lora) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_engine_attach(e, "a", lora) == TK_EUSAGE, "a name is taken once");
	TKT_CHECK(tk_engine_attach(e, "b", foreign) == TK_EDATA, "another model's adapter");
	TKT_CHECK(tk_engine_memory(e) > base, "the copy is counted");
	tk_forward *f;
	TKT_CHECK(tk_forward_open_engine(&f, e, "nope", 1, 8, 8) == TK_EUSAGE, "unknown name");
	TKT_CHECK(tk_forward_open_engine(&f, e, "a", 1, 8, 8) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_engine_detach(e, "a") == TK_EUSAGE, "borrowed: not detached");
	tk_forward_close(f);
	TKT_CHECK(tk_engine_detach(e, "a") == 0, "%s", tk_error_message());
	TKT_CHECK(tk_engine_memory(e) == base && !tk_engine_has(e, "a"), "detached");
	tk_train *t;
	tk_train_config tc = {0, 16};
	TKT_CHECK(tk_train_open_engine(&t, e, lora, "x", &tc, 0) == TK_EUSAGE,
		  "training needs an engine opened with .train");
	tk_engine_close(e);
	tk_lora_free(lora), tk_lora_free(foreign);
	tk_model_free(m), tk_model_free(other);
}

int main(void)
{
	if (tk_backend_open(&be, "cpu", 2)) {
		printf("Bail out! %s\n", tk_error_message());
		return 1;
	}
	TKT_RUN(test_live_adapter);
	TKT_RUN(test_base_logprobs);
	TKT_RUN(test_adapters_by_name);
	tk_backend_close(be);
	return tkt_done();
}
