/* Batch plans (tk_batch.h): batches by records and by tokens, the most
 * tokens a batch holds, step counts, loss denominators, and micro-batches
 * that never split a unit and give the whole batch's gradient. */
#include "tkt.h"

#include "tk_backend.h"
#include "tk_batch.h"
#include "tk_error.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_tks.h"

#include <stdint.h>

static char path[4096];

/* Records of the given lengths over the tiny vocabulary, weight 1 but at
 * each record's first token; weight 2 on record 1's tokens. */
static tk_dataset *dataset(const size_t *len, size_t n)
{
	snprintf(path, sizeof path, "%s/batch-plan.tks", tkt_tmpdir());
	tk_tks_writer *w;
	TKT_CHECK(tk_tks_writer_open(&w, path, "{}", 1) == 0, "%s", tk_error_message());
	int32_t tokens[64];
	float weights[64];
	for (size_t r = 0; r < n; r++) {
		for (size_t i = 0; i < len[r]; i++) {
			tokens[i] = (int32_t)((r * 37 + i * 11) % 500 + 3);
			weights[i] = i == 0 ? 0 : r == 1 ? 2 : 1;
		}
		tk_record rec;
		tk_record_init(&rec);
		rec.n = len[r], rec.tokens = tokens, rec.weights = weights;
		TKT_CHECK(tk_tks_write(w, &rec) == 0, "%s", tk_error_message());
	}
	TKT_CHECK(tk_tks_writer_close(w) == 0, "%s", tk_error_message());
	tk_dataset *d;
	tk_dataset_options o = {0, 0};
	TKT_CHECK(tk_dataset_load(&d, path, &o) == 0, "%s", tk_error_message());
	return d;
}

static const size_t lengths[6] = {5, 9, 3, 12, 7, 4};

static void test_batches(void)
{
	tk_dataset *d = dataset(lengths, 6);
	tk_batch_rule by_records = {4, 0}, by_tokens = {0, 16};
	TKT_CHECK(tk_batch_most_tokens(d, &by_records) == 12 + 9 + 7 + 5, "4 longest units");
	TKT_CHECK(tk_batch_most_tokens(d, &by_tokens) == 16, "the token budget");
	tk_batch_plan *p;
	TKT_CHECK(tk_batch_plan_open(&p, d, &by_tokens, 16) == 0, "%s", tk_error_message());
	size_t order[6] = {0, 1, 2, 3, 4, 5}, out[6], index = 0, sizes[6], k = 0;
	while ((sizes[k] = tk_batch_take(p, order, &index, out)) > 0)
		k++;
	// 5+9 | 3+12 | 7+4: a unit that would pass the budget opens the next batch
	TKT_CHECK(k == 3 && sizes[0] == 2 && sizes[1] == 2 && sizes[2] == 2, "%zu batches", k);
	TKT_CHECK(tk_batch_count_steps(p, 2, 1, 0) == 6, "two epochs of three");
	size_t all[6] = {0, 1, 2, 3, 4, 5};
	tk_train_loss ex = tk_batch_loss(p, all, 6, TK_TRAIN_CE, TK_TRAIN_PER_EXAMPLE, 0);
	tk_train_loss tok = tk_batch_loss(p, all, 6, TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 0);
	TKT_CHECK(ex.denominator == 6, "per example: %g", ex.denominator);
	TKT_CHECK(tok.denominator == (40 - 6) + 8, "per token, weights summed: %g", tok.denominator);
	tk_batch_plan_close(p);
	tk_dataset_free(d);
}

/* Micro-batches of at most 13 tokens: the same gradients as one pass of
 * the whole batch, the same loss. */
static void test_micro_batches(void)
{
	tk_backend *be;
	TKT_CHECK(tk_backend_open(&be, "cpu", 2) == 0, "%s", tk_error_message());
	tk_model *m;
	TKT_CHECK(tk_model_load(&m, "tests/fixtures/tiny-llama") == 0, "%s", tk_error_message());
	tk_dataset *d = dataset(lengths, 6);
	tk_batch_rule rule = {6, 0};
	size_t all[6] = {0, 1, 2, 3, 4, 5}, ran;
	float *g[2];
	double loss[2];
	for (int k = 0; k < 2; k++) {
		tk_lora *lora;
		tk_lora_config lc = {4, 8, TK_LORA_ALL};
		TKT_CHECK(tk_lora_create(&lora, m, &lc, 5) == 0, "%s", tk_error_message());
		tk_train *t;
		tk_train_config tc = {0, 64};
		TKT_CHECK(tk_train_open(&t, be, m, lora, &tc) == 0, "%s", tk_error_message());
		tk_batch_plan *p;
		TKT_CHECK(tk_batch_plan_open(&p, d, &rule, k ? 13 : 64) == 0, "%s", tk_error_message());
		tk_train_loss l = tk_batch_loss(p, all, 6, TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 0);
		tk_train_result res;
		TKT_CHECK(tk_batch_run(p, t, d, all, 6, &l, 1, &res, &ran) == 0, "%s",
			  tk_error_message());
		TKT_CHECK(ran == 40, "tokens run %zu", ran);
		loss[k] = res.loss;
		g[k] = malloc(128 * 4 * sizeof *g[k]);
		TKT_CHECK(tk_train_get(t, "base_model.model.model.layers.1.mlp.up_proj.lora_B.weight",
				       'g', g[k], 128 * 4) == 0, "%s", tk_error_message());
		tk_batch_plan_close(p);
		tk_train_close(t);
		tk_lora_free(lora);
	}
	TKT_CHECK(fabs(loss[0] - loss[1]) < 1e-6 * fabs(loss[0]), "loss %g vs %g", loss[0], loss[1]);
	double worst = 0, scale = 0;
	for (size_t i = 0; i < 128 * 4; i++) {
		worst = fmax(worst, fabs((double)g[0][i] - g[1][i]));
		scale = fmax(scale, fabs(g[0][i]));
	}
	TKT_CHECK(scale > 0 && worst <= 1e-5 * scale, "gradient differs by %g (scale %g)", worst,
		  scale);
	free(g[0]), free(g[1]);
	tk_dataset_free(d);
	tk_model_free(m);
	tk_backend_close(be);
}

int main(void)
{
	TKT_RUN(test_batches);
	TKT_RUN(test_micro_batches);
	return tkt_done();
}
