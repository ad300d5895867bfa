/* The trainer's soft targets (tk_train_forward_backward_soft) on the tiny
 * Llama with a LoRA adapter: a top-K that is the data's own token, or the
 * hard weight 1, is the hard cross-entropy bit for bit (loss and every
 * gradient); a real top-K moves the loss and gradients, its res.nll is the
 * cross-entropy against the targets; bad targets are refused.  A dataset
 * keeps its records' top-K as distributions, as wide as the widest. */
#include "tk_backend.h"
#include "tk_dataset.h"
#include "tk_error.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_tks.h"
#include "tk_train.h"
#include "tkt.h"

#include <math.h>
#include <string.h>

#define TINY "tests/fixtures/tiny-llama"
#define N 12
#define K 3

static tk_backend *be;

/* Two records (5 and 7 tokens), weights 1 but on each record's first. */
static int32_t tokens[N] = {1, 17, 42, 99, 7, 1, 300, 301, 5, 6, 250, 2};
static float weights[N] = {0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1};
static size_t starts[3] = {0, 5, 12};

static tk_train *open_trainer(struct tk_model **model, tk_lora **lora)
{
	TKT_CHECK(tk_model_load(model, TINY) == 0, "%s", tk_error_message());
	tk_lora_config c = {4, 8, TK_LORA_ALL};
	TKT_CHECK(*model && tk_lora_create(lora, *model, &c, 7) == 0, "%s", tk_error_message());
	for (int l = 0; *lora && l < (*lora)->n_layers; l++) // B non-zero: A gets gradients too
		for (int k = 0; k < TK_LORA_N_TARGETS; k++) {
			tk_lora_pair *p = tk_lora_get(*lora, l, k);
			for (size_t i = 0; p && i < p->out * 4; i++)
				p->b[i] = 0.01f * (float)((i * 7 + (size_t)l) % 11) - 0.05f;
		}
	tk_train *t = NULL;
	tk_train_config tc = {0, 64};
	TKT_CHECK(*lora && tk_train_open(&t, be, *model, *lora, &tc) == 0, "%s", tk_error_message());
	return t;
}

/* The gradient of one adapter matrix after a step of kind soft (NULL:
 * hard), and the step's result. */
static void step(tk_train *t, const tk_train_soft *soft, tk_train_result *res, float *grad,
		 size_t n_grad)
{
	tk_train_batch b = {N, 2, tokens, weights, starts};
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_EXAMPLE, 2, 0};
	int rc = soft ? tk_train_forward_backward_soft(t, &b, &loss, soft, res)
		      : tk_train_forward_backward(t, &b, &loss, res, NULL);
	TKT_CHECK(rc == 0, "%s", tk_error_message());
	TKT_CHECK(tk_train_get(t, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
			       'g', grad, n_grad) == 0, "%s", tk_error_message());
	tk_train_zero_grad(t);
}

static void test_one_hot_soft_is_hard(void)
{
	struct tk_model *model = NULL;
	tk_lora *lora = NULL;
	tk_train *t = open_trainer(&model, &lora);
	if (!t)
		return;
	size_t n_grad = 4 * (size_t)model->config.hidden;
	float *g_hard = calloc(n_grad, sizeof(float)), *g_soft = calloc(n_grad, sizeof(float));
	int32_t ids[N * K];
	float q[N * K];
	for (size_t i = 0; i < N; i++) { // the data's token with probability 1, then empties
		ids[i * K] = tokens[i], q[i * K] = 1.0f;
		for (size_t s = 1; s < K; s++)
			ids[i * K + s] = -1, q[i * K + s] = 0.0f;
	}
	tk_train_result hard, soft0, soft1;
	step(t, NULL, &hard, g_hard, n_grad);
	tk_train_soft as_top = {K, ids, q, 0.0};
	step(t, &as_top, &soft0, g_soft, n_grad);
	TKT_CHECK(soft0.loss == hard.loss && !memcmp(g_soft, g_hard, n_grad * sizeof *g_soft),
		  "the token as its top-1: loss %.9g vs %.9g", soft0.loss, hard.loss);
	TKT_CHECK(fabs(soft0.nll - hard.nll) < 1e-4 * hard.nll && soft0.tokens == hard.tokens,
		  "nll %.9g vs %.9g", soft0.nll, hard.nll);
	for (size_t i = 0; i < N; i++) // another top-K, but all weight on the token
		ids[i * K + 1] = (tokens[i] + 1) % 512, q[i * K + 1] = 0.5f;
	tk_train_soft hard_only = {K, ids, q, 1.0};
	step(t, &hard_only, &soft1, g_soft, n_grad);
	TKT_CHECK(soft1.loss == hard.loss && !memcmp(g_soft, g_hard, n_grad * sizeof *g_soft),
		  "hard weight 1: loss %.9g vs %.9g", soft1.loss, hard.loss);
	/* the top-K itself: a different loss and gradient */
	for (size_t i = 0; i < N; i++)
		q[i * K] = 0.5f;
	tk_train_soft half = {K, ids, q, 0.0};
	tk_train_result mixed;
	step(t, &half, &mixed, g_soft, n_grad);
	TKT_CHECK(mixed.loss > hard.loss * 0.5 && mixed.loss != hard.loss &&
		  memcmp(g_soft, g_hard, n_grad * sizeof *g_soft), "a real top-K: loss %.9g", mixed.loss);
	/* bad targets */
	ids[4] = 512; // the tiny vocabulary is 512
	tk_train_batch b = {N, 2, tokens, weights, starts};
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_EXAMPLE, 2, 0};
	TKT_CHECK(tk_train_forward_backward_soft(t, &b, &loss, &half, &mixed) == TK_EDATA &&
		  strstr(tk_error_message(), "top-K id 512 of token 1 is outside the vocabulary"),
		  "%s", tk_error_message());
	ids[4] = 3;
	half.hard_weight = 1.5;
	TKT_CHECK(tk_train_forward_backward_soft(t, &b, &loss, &half, &mixed) == TK_EUSAGE,
		  "hard weight 1.5: %s", tk_error_message());
	free(g_hard), free(g_soft);
	tk_train_close(t);
	tk_lora_free(lora);
	tk_model_free(model);
}

/* Records without a top-K, with a top-2 of weights and a top-3 of
 * logprobs: one top-3 of distributions, rows padded. */
static void test_dataset_keeps_top_k(void)
{
	char path[4096];
	tkt_scratch_path(path, sizeof path, "soft.tks");
	int32_t tok[3] = {4, 5, 6}, ids2[6] = {-1, -1, 7, 8, 9, -1}, ids3[9] = {-1, -1, -1, 1, 2, 3, 4, 5, -1};
	float w[3] = {0, 1, 1}, ws2[6] = {0, 0, 3, 1, 2, 0}, lp3[9] = {0, 0, 0, -1, -2, -3, -0.5f, -0.5f, 0};
	tk_record r[3];
	for (int i = 0; i < 3; i++) {
		tk_record_init(&r[i]);
		r[i].n = 3, r[i].tokens = tok, r[i].weights = w;
	}
	r[1].top_k = 2, r[1].top_ids = ids2, r[1].top_values = ws2, r[1].top_weights = 1;
	r[2].top_k = 3, r[2].top_ids = ids3, r[2].top_values = lp3;
	tk_tks_writer *wr;
	int rc = tk_tks_writer_open(&wr, path, "{}", 1);
	for (int i = 0; !rc && i < 3; i++)
		rc = tk_tks_write(wr, &r[i]);
	TKT_CHECK(!rc && tk_tks_writer_close(wr) == 0, "%s", tk_error_message());
	tk_dataset *d = NULL;
	tk_dataset_options o = {0, 0};
	TKT_CHECK(tk_dataset_load(&d, path, &o) == 0 && d, "%s", tk_error_message());
	if (!d)
		return;
	TKT_CHECK(d->top_k == 3 && d->n_tokens == 9, "top-%zu over %zu tokens", d->top_k, d->n_tokens);
	TKT_CHECK(d->top_ids[0] == -1 && d->top_ids[8] == -1 && d->top_q[2] == 0, "record 0: empty rows");
	const int32_t *row = d->top_ids + 4 * 3; // record 1, token 1: ids 7, 8, then padding
	const float *q = d->top_q + 4 * 3;
	TKT_CHECK(row[0] == 7 && row[1] == 8 && row[2] == -1 && q[0] == 0.75f && q[1] == 0.25f &&
		  q[2] == 0, "record 1 token 1: %d %d %d, %g %g %g", row[0], row[1], row[2], q[0], q[1], q[2]);
	q = d->top_q + 8 * 3; // record 2, token 2: two equal logprobs
	TKT_CHECK(q[0] == 0.5f && q[1] == 0.5f && q[2] == 0, "record 2 token 2: %g %g %g", q[0], q[1], q[2]);
	q = d->top_q + 7 * 3; // softmax of -1, -2, -3
	double z = exp(-1.0) + exp(-2.0) + exp(-3.0);
	TKT_CHECK(fabs(q[0] - exp(-1.0) / z) < 1e-7 && fabs(q[2] - exp(-3.0) / z) < 1e-7,
		  "record 2 token 1: %g %g %g", q[0], q[1], q[2]);
	tk_dataset_free(d);
}

int main(void)
{
	if (tk_backend_open(&be, "cpu", 2)) {
		printf("Bail out! %s\n", tk_error_message());
		return 1;
	}
	TKT_RUN(test_one_hot_soft_is_hard);
	TKT_RUN(test_dataset_keeps_top_k);
	tk_backend_close(be);
	return tkt_done();
}
