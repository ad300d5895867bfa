/* Whole models through lib's public API on the "cpu" and the "ref"
 * backend: the logits of tk_forward (prefill and a decode step, with and
 * without a LoRA adapter) and every LoRA gradient of one
 * tk_train_forward_backward agree within TOL relative to the largest
 * |ref| value of each output, for tests/fixtures/tiny-llama and tiny-qwen3
 * (q/k norms).  The worst error of each is printed as a TAP comment. */
#include "tkt.h"

#include "kernels.h"
#include "tk_error.h"
#include "tk_forward.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_train.h"

#include <stdint.h>

#define FIX "tests/fixtures/"
#define TOL 1e-5 /* |cpu − ref| <= TOL · max |ref| */

static const char *const kinds[2] = {"cpu", "ref"};
static tk_backend *backends[2];

/* The worst relative error of got against want (relative to max |want|). */
static double worst_error(const float *got, const float *want, size_t n, size_t *at)
{
	double scale = 0, worst = 0;
	*at = 0;
	for (size_t i = 0; i < n; i++)
		scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);
		if (d > worst || d != d) {
			worst = d, *at = i;
			if (d != d)
				return INFINITY;
		}
	}
	return scale > 0 ? worst / scale : worst;
}

static void report(const char *what, const float *cpu, const float *ref, size_t n)
{
	size_t at;
	double rel = worst_error(cpu, ref, n, &at);
	printf("# %-40s worst %.2g relative (tol %.0g) at [%zu]: cpu %.9g ref %.9g\n", what, rel,
	       TOL, at, cpu[at], ref[at]);
	TKT_CHECK(rel <= TOL, "%s: worst %.3g relative", what, rel);
}

static float *floats(size_t n)
{
	float *p = calloc(n ? n : 1, sizeof *p);
	if (!p)
		exit(2);
	return p;
}

/* An adapter on every target with B random too (B = 0, as tk_lora_create
 * leaves it, would make every A gradient 0). */
static tk_lora *adapter_for(const tk_model *m)
{
	tk_lora *a = NULL;
	tk_lora_config c = {4, 8, TK_LORA_ALL};
	TKT_CHECK(tk_lora_create(&a, m, &c, 7) == 0, "%s", tk_error_message());
	for (int l = 0; a && l < a->n_layers; l++)
		for (int t = 0; t < TK_LORA_N_TARGETS; t++) {
			tk_lora_pair *p = tk_lora_get(a, l, t);
			for (size_t i = 0; p && i < p->out * (size_t)c.rank; i++)
				p->b[i] = (float)((2 * tkt_uniform() - 1) * 0.05);
		}
	return a;
}

/* ---- logits ------------------------------------------------------------- */

#define PROMPT_A 17
#define PROMPT_B 9

/* Prefill of two prompts (every position's logits) and one decode step of
 * each: (PROMPT_A + PROMPT_B + 2, vocab) into out. */
static int run_logits(tk_backend *be, const tk_model *m, const tk_lora *a, const int32_t *ids,
		      float *out)
{
	size_t vocab = (size_t)m->config.vocab;
	tk_forward *f = NULL;
	int rc = tk_forward_open(&f, be, m, a, 2, 64, 32);
	if (rc)
		return rc;
	size_t slots[2] = {0, 1}, counts[2] = {PROMPT_A, PROMPT_B};
	tk_forward_batch prefill = {2, slots, counts, ids, 1};
	rc = tk_forward_run(f, &prefill, out);
	size_t ones[2] = {1, 1};
	int32_t next[2] = {ids[3], ids[5]};
	tk_forward_batch decode = {2, slots, ones, next, 0};
	if (!rc)
		rc = tk_forward_run(f, &decode, out + (PROMPT_A + PROMPT_B) * vocab);
	tk_forward_close(f);
	return rc;
}

static void check_logits(const char *name, const tk_model *m, const tk_lora *a)
{
	size_t vocab = (size_t)m->config.vocab, rows = PROMPT_A + PROMPT_B + 2;
	int32_t ids[PROMPT_A + PROMPT_B];
	for (size_t i = 0; i < PROMPT_A + PROMPT_B; i++)
		ids[i] = (int32_t)(tkt_rand64() % vocab);
	float *logits[2] = {floats(rows * vocab), floats(rows * vocab)};
	for (int b = 0; b < 2; b++)
		TKT_CHECK(run_logits(backends[b], m, a, ids, logits[b]) == 0, "%s: %s", kinds[b],
			  tk_error_message());
	char what[96];
	snprintf(what, sizeof what, "%s logits%s", name, a ? " + LoRA" : "");
	report(what, logits[0], logits[1], rows * vocab);
	free(logits[0]), free(logits[1]);
}

/* ---- LoRA gradients ------------------------------------------------------ */

/* Every LoRA gradient, A then B of each target of each layer, back to back;
 * returns how many floats. */
static size_t lora_gradients(const tk_train *t, const tk_lora *a, float *out)
{
	size_t at = 0;
	char name[160];
	for (int l = 0; l < a->n_layers; l++)
		for (int k = 0; k < TK_LORA_N_TARGETS; k++) {
			const tk_lora_pair *p = tk_lora_get(a, l, k);
			size_t sizes[2] = {p->in * (size_t)a->config.rank,
					   p->out * (size_t)a->config.rank};
			for (int ab = 0; ab < 2; ab++) {
				tk_lora_tensor_name(name, sizeof name, l, k, ab ? 'B' : 'A');
				TKT_CHECK(tk_train_get(t, name, 'g', out + at, sizes[ab]) == 0, "%s: %s",
					  name, tk_error_message());
				at += sizes[ab];
			}
		}
	return at;
}

/* Two records (20 and 13 tokens), per-token cross-entropy. */
static void check_gradients(const char *name, const tk_model *m)
{
	size_t vocab = (size_t)m->config.vocab, n = 33;
	int32_t tokens[33];
	float weights[33];
	for (size_t i = 0; i < n; i++)
		tokens[i] = (int32_t)(tkt_rand64() % vocab), weights[i] = (float)(0.5 + tkt_uniform());
	size_t starts[3] = {0, 20, 33};
	tk_train_batch batch = {n, 2, tokens, weights, starts};
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, 30.0, 0.0};
	tk_lora *a = adapter_for(m);
	if (!a)
		return;
	float *grads[2] = {floats(a->numel), floats(a->numel)}; // every A and B
	float *logprobs[2] = {floats(n), floats(n)}, losses[2] = {0, 0};
	size_t count = 0;
	for (int b = 0; b < 2; b++) {
		tk_train *t = NULL;
		tk_train_config c = {0, 64};
		tk_train_result res = {0};
		int rc = tk_train_open(&t, backends[b], m, a, &c);
		if (!rc)
			rc = tk_train_forward_backward(t, &batch, &loss, &res, logprobs[b]);
		TKT_CHECK(rc == 0, "%s: %s", kinds[b], tk_error_message());
		if (!rc)
			count = lora_gradients(t, a, grads[b]);
		losses[b] = (float)res.loss;
		tk_train_close(t);
	}
	char what[96];
	snprintf(what, sizeof what, "%s loss", name);
	report(what, &losses[0], &losses[1], 1);
	snprintf(what, sizeof what, "%s logprobs", name);
	report(what, logprobs[0], logprobs[1], n);
	snprintf(what, sizeof what, "%s LoRA gradients (%zu)", name, count);
	report(what, grads[0], grads[1], count);
	/* each tensor against its own scale too: the small ones count */
	double worst = 0;
	size_t at = 0, offset = 0, worst_offset = 0, worst_len = 0;
	for (int l = 0; l < a->n_layers; l++)
		for (int k = 0; k < TK_LORA_N_TARGETS; k++)
			for (int ab = 0; ab < 2; ab++) {
				const tk_lora_pair *p = tk_lora_get(a, l, k);
				size_t len = (ab ? p->out : p->in) * (size_t)a->config.rank, i;
				double rel = worst_error(grads[0] + offset, grads[1] + offset, len, &i);
				if (rel > worst)
					worst = rel, at = i, worst_offset = offset, worst_len = len;
				offset += len;
			}
	printf("# %-40s worst %.2g relative to its tensor (of %zu floats)\n", name, worst, worst_len);
	TKT_CHECK(worst <= TOL, "%s: a tensor's worst %.3g relative at [%zu]", name, worst,
		  worst_offset + at);
	for (int b = 0; b < 2; b++)
		free(grads[b]), free(logprobs[b]);
	tk_lora_free(a);
}

static void check_model(const char *name)
{
	char dir[128];
	snprintf(dir, sizeof dir, FIX "%s", name);
	tk_model *m = NULL;
	TKT_CHECK(tk_model_load(&m, dir) == 0, "%s", tk_error_message());
	if (!m)
		return;
	check_logits(name, m, NULL);
	tk_lora *a = adapter_for(m);
	if (a)
		check_logits(name, m, a);
	tk_lora_free(a);
	check_gradients(name, m);
	tk_model_free(m);
}

static void test_tiny_llama(void) { check_model("tiny-llama"); }
static void test_tiny_qwen3(void) { check_model("tiny-qwen3"); }

int main(void)
{
	for (int b = 0; b < 2; b++)
		if (tk_backend_open(&backends[b], kinds[b], 0)) {
			printf("Bail out! %s\n", tk_error_message());
			return 1;
		}
	TKT_RUN(test_tiny_llama);
	TKT_RUN(test_tiny_qwen3);
	for (int b = 0; b < 2; b++)
		tk_backend_close(backends[b]);
	return tkt_done();
}
