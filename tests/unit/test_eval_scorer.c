/* The scorer behind tk-eval nll and choice on the tiny Llama: token
 * logprobs against transformers' logits (tests/fixtures/logits/) and
 * against the trainer's with a LoRA adapter, long sequences cut into runs,
 * choices equal to whole sequences bit for bit, and the errors of bad
 * input. */
#include "tkt.h"

#include "kernels.h"
#include "tk_error.h"
#include "tk_eval.h"
#include "tk_lora.h"
#include "tk_train.h"

#include "tk_model.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define FIX "tests/fixtures/"
#define VOCAB 512

static struct tk_model *model(void)
{
	static struct tk_model *m;
	if (!m && tk_model_load(&m, FIX "tiny-llama"))
		return NULL;
	return m;
}

static tk_eval_scorer *scorer(size_t slots)
{
	tk_eval_scorer *s = NULL;
	int rc = model() ? tk_eval_scorer_open(&s, "cpu", 2, model(), NULL, slots) : -1;
	TKT_CHECK(rc == TK_OK, "scorer: %s", tk_error_message());
	return s;
}

static char *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*size = (size_t)n;
	}
	return buf;
}

/* log softmax(row)[t] in double. */
static double ref_logprob(const float *row, int32_t t)
{
	double max = row[0], sum = 0;
	for (size_t j = 1; j < VOCAB; j++)
		max = row[j] > max ? row[j] : max;
	for (size_t j = 0; j < VOCAB; j++)
		sum += exp((double)row[j] - max);
	return (double)row[t] - max - log(sum);
}

static void test_against_transformers(void)
{
	size_t size;
	char *text = slurp(FIX "logits/tiny-llama.json", &size);
	float *logits = (float *)slurp(FIX "logits/tiny-llama.f32", &size);
	cJSON *json = text ? cJSON_Parse(text) : NULL;
	tk_eval_scorer *s = scorer(1);
	TKT_CHECK(json && logits && s, "fixtures and scorer");
	size_t row = 0, checked = 0;
	double worst = 0;
	const cJSON *p, *prompts = json ? cJSON_GetObjectItem(json, "prompts") : NULL;
	cJSON_ArrayForEach(p, prompts) {
		size_t n = (size_t)cJSON_GetArraySize(p), i = 0;
		int32_t ids[64];
		float lp[64];
		const cJSON *v;
		cJSON_ArrayForEach(v, p) ids[i++] = (int32_t)v->valueint;
		int rc = s ? tk_eval_scorer_sequence(s, ids, n, lp) : -1;
		TKT_CHECK(rc == TK_OK, "sequence: %s", tk_error_message());
		TKT_CHECK(lp[0] == 0, "position 0 has no prediction");
		for (i = 1; !rc && i < n; i++, checked++) {
			double d = fabs(lp[i] - ref_logprob(logits + (row + i - 1) * VOCAB, ids[i]));
			worst = d > worst ? d : worst;
		}
		row += n;
	}
	TKT_CHECK(checked > 30 && worst < 1e-4, "%zu logprobs, worst error %.3g", checked, worst);
	tk_eval_scorer_close(s);
	cJSON_Delete(json);
	free(text);
	free(logits);
}

static void random_tokens(int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ids[i] = (int32_t)(tkt_rand64() % VOCAB);
}

/* 250 tokens: two runs of the scorer's chunk, and a reopened cache; the
 * logprobs of a prefix do not depend on what follows. */
static void test_long_sequence(void)
{
	enum { N = 250 };
	int32_t ids[N];
	float whole[N], prefix[N];
	random_tokens(ids, N);
	tk_eval_scorer *s = scorer(1);
	int rc = s ? tk_eval_scorer_sequence(s, ids, 40, prefix) : -1;
	if (!rc)
		rc = tk_eval_scorer_sequence(s, ids, N, whole);
	TKT_CHECK(rc == TK_OK, "sequence: %s", tk_error_message());
	TKT_CHECK(!memcmp(whole, prefix, 40 * sizeof *whole), "a prefix's logprobs are the same bits");
	int finite = 1;
	for (size_t i = 1; i < N; i++)
		finite &= isfinite(whole[i]) && whole[i] < 0;
	TKT_CHECK(finite, "every logprob finite and negative");
	/* twice the same sequence: the same bits */
	float again[N];
	rc = s ? tk_eval_scorer_sequence(s, ids, N, again) : -1;
	TKT_CHECK(!rc && !memcmp(whole, again, sizeof whole), "repeatable");
	tk_eval_scorer_close(s);
}

static void test_choices_equal_sequences(void)
{
	int32_t prompt[7], a[1], b[5], c[140];
	random_tokens(prompt, 7);
	random_tokens(a, 1);
	random_tokens(b, 5);
	random_tokens(c, 140);
	const int32_t *conts[3] = {a, b, c};
	size_t lens[3] = {1, 5, 140};
	double sums[3];
	tk_eval_scorer *s = scorer(3);
	int rc = s ? tk_eval_scorer_choices(s, prompt, 7, conts, lens, 3, sums) : -1;
	TKT_CHECK(rc == TK_OK, "choices: %s", tk_error_message());
	for (size_t k = 0; !rc && k < 3; k++) {
		int32_t seq[160];
		float lp[160];
		memcpy(seq, prompt, sizeof prompt);
		memcpy(seq + 7, conts[k], lens[k] * sizeof *seq);
		rc = tk_eval_scorer_sequence(s, seq, 7 + lens[k], lp);
		double want = 0;
		for (size_t i = 7; i < 7 + lens[k]; i++)
			want += lp[i];
		TKT_CHECK(!rc && sums[k] == want, "choice %zu: %.17g, alone %.17g", k, sums[k], want);
	}
	tk_eval_scorer_close(s);
}

static void test_bad_input(void)
{
	tk_eval_scorer *s = scorer(2);
	int32_t ids[300] = {1, 2, 3, VOCAB};
	float lp[300];
	int rc = s ? tk_eval_scorer_sequence(s, ids, 4, lp) : -1;
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "vocabulary"),
		  "token out of vocabulary: %d %s", rc, tk_error_message());
	random_tokens(ids, 300);
	rc = s ? tk_eval_scorer_sequence(s, ids, 300, lp) : -1;
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "context"),
		  "longer than the context: %d %s", rc, tk_error_message());
	const int32_t *conts[3] = {ids, ids, ids};
	size_t lens[3] = {1, 1, 1};
	double sums[3];
	rc = s ? tk_eval_scorer_choices(s, ids, 3, conts, lens, 3, sums) : -1;
	TKT_CHECK(rc == TK_EUSAGE, "more choices than slots: %d", rc);
	rc = s ? tk_eval_scorer_sequence(s, ids, 1, lp) : -1;
	TKT_CHECK(rc == TK_OK && lp[0] == 0, "one token: nothing to predict");
	tk_eval_scorer_close(s);
}

/* An adapter on every layer whose B is not zero, so that it matters. */
static tk_lora *busy_adapter(void)
{
	tk_lora *a = NULL;
	tk_lora_config c = {.rank = 4, .alpha = 8, .targets = TK_LORA_ALL};
	if (!model() || tk_lora_create(&a, model(), &c, 7))
		return NULL;
	for (int l = 0; l < a->n_layers; l++)
		for (int t = 0; t < TK_LORA_N_TARGETS; t++) {
			tk_lora_pair *p = tk_lora_get(a, l, t);
			for (size_t i = 0; p && i < p->out * 4; i++)
				p->b[i] = (float)(tkt_uniform() - 0.5) * 0.1f;
		}
	return a;
}

/* Three records through tk_train_forward (the trainer's packed batch and
 * fused cross-entropy) and through the scorer, one by one. */
static void test_equals_trainer(void)
{
	enum { N = 17 + 40 + 90 };
	size_t starts[4] = {0, 17, 57, N};
	int32_t ids[N];
	float w[N], lp_train[N], lp_eval[N], lp_base[N];
	random_tokens(ids, N);
	for (size_t i = 0; i < N; i++)
		w[i] = 1;
	tk_lora *a = busy_adapter();
	tk_backend *be = NULL;
	tk_train *t = NULL;
	tk_train_config c = {.full = 0, .max_tokens = 256};
	int rc = a ? tk_backend_open(&be, "cpu", 2) : -1;
	if (!rc)
		rc = tk_train_open(&t, be, model(), a, &c);
	tk_train_batch b = {N, 3, ids, w, starts};
	tk_train_loss loss = {TK_TRAIN_CE, TK_TRAIN_PER_TOKEN, N - 3, 0};
	tk_train_result res = {0};
	if (!rc)
		rc = tk_train_forward(t, &b, &loss, &res, lp_train);
	TKT_CHECK(rc == TK_OK, "trainer: %s", tk_error_message());
	tk_eval_scorer *s = NULL, *base = scorer(1);
	if (!rc)
		rc = tk_eval_scorer_open(&s, "cpu", 2, model(), a, 1);
	tk_eval_nll acc = {0};
	uint32_t bytes[N] = {0};
	for (size_t r = 0; !rc && r < 3; r++) {
		size_t at = starts[r], n = starts[r + 1] - at;
		rc = tk_eval_scorer_sequence(s, ids + at, n, lp_eval + at);
		if (!rc && base)
			rc = tk_eval_scorer_sequence(base, ids + at, n, lp_base + at);
		tk_eval_nll_add(&acc, lp_eval + at, w + at, bytes + at, n);
	}
	TKT_CHECK(rc == TK_OK, "scorer: %s", tk_error_message());
	double worst = 0, moved = 0;
	for (size_t i = 0; !rc && i < N; i++) {
		worst = fmax(worst, fabs(lp_eval[i] - lp_train[i]));
		moved = fmax(moved, fabs(lp_eval[i] - lp_base[i]));
	}
	TKT_CHECK(!rc && worst < 1e-5, "logprobs differ from the trainer's by %.3g", worst);
	TKT_CHECK(!rc && moved > 1e-3, "the adapter changes the logprobs (by %.3g)", moved);
	TKT_CHECK(!rc && acc.tokens == res.tokens && acc.weight == res.weight,
		  "tokens %llu/%zu weight %g/%g", (unsigned long long)acc.tokens, res.tokens,
		  acc.weight, res.weight);
	TKT_CHECK(!rc && fabs(acc.nats - res.nll) < 1e-6 * res.nll, "nll sum %.9g, trainer %.9g",
		  acc.nats, res.nll);
	printf("# largest logprob difference from the trainer: %.3g\n", worst);
	tk_eval_scorer_close(s);
	tk_eval_scorer_close(base);
	tk_train_close(t);
	tk_backend_close(be);
	tk_lora_free(a);
}

int main(void)
{
	TKT_RUN(test_against_transformers);
	TKT_RUN(test_long_sequence);
	TKT_RUN(test_choices_equal_sequences);
	TKT_RUN(test_bad_input);
	TKT_RUN(test_equals_trainer);
	tk_model_free(model());
	return tkt_done();
}
