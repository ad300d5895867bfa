/* The forward on SmolLM2-135M-Instruct (GGUF, dequantized at load) against
 * transformers built from the same GGUF (tests/fixtures/logits/smollm2.*):
 * last-position logits within 2e-3 and greedy generation of 32 tokens
 * token for token, all prompts decoded in one batch.  Skips when the model
 * has not been fetched (scripts/get-model.sh smollm2-135m-instruct). */
#include "tkt.h"

#include "kernels.h"
#include "tk_error.h"
#include "tk_forward.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <unistd.h>

#include "tk_model.h"

#define MAX_PROMPTS 8
#define NEW 32

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

static const char *model_path(void)
{
	static char path[1024];
	const char *home = getenv("HOME");
	snprintf(path, sizeof path, "%s/.cache/tk/models/SmolLM2-135M-Instruct.Q4_1.gguf",
		 home ? home : "");
	return access(path, R_OK) == 0 ? path : NULL;
}

static size_t argmax(const float *x, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

static void test_smollm2_logits_and_greedy(void)
{
	const char *path = model_path();
	if (!path)
		TKT_SKIP("SmolLM2-135M-Instruct.Q4_1.gguf not fetched (scripts/get-model.sh "
			 "smollm2-135m-instruct)");
	size_t size;
	char *text = slurp("tests/fixtures/logits/smollm2.json", &size);
	cJSON *fx = text ? cJSON_Parse(text) : NULL;
	free(text);
	float *want = (float *)slurp("tests/fixtures/logits/smollm2.f32", &size);
	TKT_CHECK(fx && want, "fixtures");
	struct tk_model *m;
	tk_backend *be;
	TKT_CHECK(tk_model_load(&m, path) == 0, "%s", tk_error_message());
	TKT_CHECK(tk_backend_open(&be, "cpu", 0) == 0, "backend");
	size_t V = (size_t)cJSON_GetObjectItem(fx, "vocab")->valueint;
	size_t stride = (size_t)cJSON_GetObjectItem(fx, "stride")->valueint;
	size_t kept = (V + stride - 1) / stride;
	const cJSON *prompts = cJSON_GetObjectItem(fx, "prompts");
	size_t n = (size_t)cJSON_GetArraySize(prompts), slots[MAX_PROMPTS], counts[MAX_PROMPTS];
	int32_t ids[1024];
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		const cJSON *p = cJSON_GetArrayItem(prompts, (int)i), *v;
		slots[i] = i;
		counts[i] = (size_t)cJSON_GetArraySize(p);
		cJSON_ArrayForEach(v, p) ids[total++] = (int32_t)v->valueint;
	}
	tk_forward *f;
	TKT_CHECK(tk_forward_open(&f, be, m, NULL, n, 128, 256) == 0, "%s", tk_error_message());
	tk_model_free(m);
	float *logits = malloc(n * V * sizeof *logits), *strided = malloc(kept * sizeof *strided);
	tk_forward_batch b = {n, slots, counts, ids, 0};
	const cJSON *greedy = cJSON_GetObjectItem(fx, "greedy");
	for (int step = 0; step < NEW; step++) {
		TKT_CHECK(tk_forward_run(f, &b, logits) == TK_OK, "%s", tk_error_message());
		for (size_t i = 0; i < n; i++) {
			if (step == 0) {
				for (size_t j = 0; j < kept; j++)
					strided[j] = logits[i * V + j * stride];
				TKT_CHECK_CLOSE(strided, want + i * kept, kept, 2e-3);
				double worst = 0;
				for (size_t k = 0; k < kept; k++)
					worst = fmax(worst, fabs((double)strided[k] - want[i * kept + k]));
				printf("# prompt %zu: max abs error %.3g over %zu logits\n", i, worst, kept);
			}
			ids[i] = (int32_t)argmax(logits + i * V, V);
			counts[i] = 1;
			int expect = cJSON_GetArrayItem(cJSON_GetArrayItem(greedy, (int)i), step)->valueint;
			TKT_CHECK(ids[i] == expect, "prompt %zu token %d: %d, transformers %d", i, step,
				  ids[i], expect);
		}
	}
	free(logits);
	free(strided);
	free(want);
	tk_forward_close(f);
	tk_backend_close(be);
	cJSON_Delete(fx);
}

int main(void)
{
	TKT_RUN(test_smollm2_logits_and_greedy);
	return tkt_done();
}
