/* tk_generate on the tiny Llama: results in request order, the same tokens
 * and logprobs whatever the batch, shared prefills, stop tokens, stop
 * strings, and the limits of max_tokens and the context. */
#include "tkt.h"

#include "kernels.h"
#include "tk_error.h"
#include "tk_forward.h"
#include "tk_sampler.h"

#include <stdint.h>

#include "tk_model.h"

#define MAX_REQ 8
#define MAX_NEW 16

typedef struct collected {
	size_t count, order_errors;
	int32_t tokens[MAX_REQ][MAX_NEW];
	float logprobs[MAX_REQ][MAX_NEW];
	size_t n[MAX_REQ];
	int finish[MAX_REQ];
} collected;

static int keep(void *ctx, size_t index, const tk_gen_result *r)
{
	collected *c = ctx;
	c->order_errors += index != c->count;
	c->count++;
	if (index >= MAX_REQ || r->n > MAX_NEW)
		return TK_ESOFTWARE;
	if (r->n) { // the arrays may be NULL when empty
		memcpy(c->tokens[index], r->tokens, r->n * sizeof *r->tokens);
		memcpy(c->logprobs[index], r->logprobs, r->n * sizeof *r->logprobs);
	}
	c->n[index] = r->n;
	c->finish[index] = r->finish;
	return TK_OK;
}

static struct tk_model *model;
static tk_backend *be;

static const int32_t prompt_a[] = {1, 17, 300, 42, 9};
static const int32_t prompt_b[] = {1, 88, 7};

static void requests(tk_gen_request *reqs)
{
	/* two samples of a, one of b, two of a again (not next to the first) */
	reqs[0] = (tk_gen_request){.prompt = prompt_a, .prompt_len = 5, .stream = 0};
	reqs[1] = (tk_gen_request){.prompt = prompt_a, .prompt_len = 5, .stream = 1};
	reqs[2] = (tk_gen_request){.prompt = prompt_b, .prompt_len = 3, .stream = 2};
	reqs[3] = (tk_gen_request){.prompt = prompt_a, .prompt_len = 5, .stream = 3};
	reqs[4] = (tk_gen_request){.prompt = prompt_a, .prompt_len = 5, .stream = 4};
}

static int generate(collected *c, tk_gen_options *o, const tk_gen_request *reqs, size_t n,
		    size_t context)
{
	tk_forward *f;
	int rc = tk_forward_open(&f, be, model, NULL, o->batch, context, 64);
	if (rc)
		return rc;
	memset(c, 0, sizeof *c);
	rc = tk_generate(f, o, reqs, n, keep, c);
	tk_forward_close(f);
	return rc;
}

static void test_same_results_whatever_the_batch(void)
{
	tk_gen_request reqs[5];
	requests(reqs);
	tk_gen_options o = {.params = {1.0f, 0, 1.0f}, .seed = 77, .max_tokens = 12, .logprobs = 1};
	static collected one, other;
	o.batch = 1;
	TKT_CHECK(generate(&one, &o, reqs, 5, 64) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(one.count == 5 && one.order_errors == 0, "emitted %zu, out of order %zu",
		  one.count, one.order_errors);
	const size_t batches[] = {2, 3, 5};
	for (size_t b = 0; b < 3; b++) {
		o.batch = batches[b];
		TKT_CHECK(generate(&other, &o, reqs, 5, 64) == TK_OK, "%s", tk_error_message());
		TKT_CHECK(memcmp(&one, &other, sizeof one) == 0, "batch %zu differs from batch 1",
			  batches[b]);
	}
	/* the two samples of one prompt differ (own streams) */
	TKT_CHECK(memcmp(one.tokens[0], one.tokens[1], sizeof one.tokens[0]) != 0, "same samples");
	/* logprobs are those of the model, < 0 */
	for (size_t i = 0; i < one.n[0]; i++)
		TKT_CHECK(one.logprobs[0][i] < 0.0f, "logprob %g", one.logprobs[0][i]);
	/* a request's result does not depend on the other requests */
	o.batch = 2;
	TKT_CHECK(generate(&other, &o, reqs + 3, 1, 64) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(other.n[0] == one.n[3] &&
		  memcmp(other.tokens[0], one.tokens[3], one.n[3] * sizeof(int32_t)) == 0,
		  "request 3 alone differs");
}

static void test_stops_and_limits(void)
{
	tk_gen_request reqs[5];
	requests(reqs);
	tk_gen_options o = {.params = {0.0f, 0, 1.0f}, .max_tokens = 10, .batch = 2};
	static collected greedy, c;
	TKT_CHECK(generate(&greedy, &o, reqs, 3, 64) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(greedy.n[0] == 10 && greedy.finish[0] == TK_FINISH_LENGTH, "n %zu", greedy.n[0]);
	/* the third greedy token as a stop token: three tokens, it included */
	int32_t stop = greedy.tokens[0][2];
	size_t first = 0;
	while (greedy.tokens[0][first] != stop)
		first++;
	o.stop_ids = &stop;
	o.n_stop_ids = 1;
	TKT_CHECK(generate(&c, &o, reqs, 1, 64) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(c.n[0] == first + 1 && c.finish[0] == TK_FINISH_STOP, "stop: n %zu", c.n[0]);
	/* a context of prompt + 4 leaves room for 4 new tokens */
	o.n_stop_ids = 0;
	TKT_CHECK(generate(&c, &o, reqs, 1, 5 + 4) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(c.n[0] == 4 && c.finish[0] == TK_FINISH_LENGTH, "context: n %zu", c.n[0]);
	TKT_CHECK(memcmp(c.tokens[0], greedy.tokens[0], 4 * sizeof(int32_t)) == 0, "context tokens");
	/* max_tokens 0: empty results, in order */
	o.max_tokens = 0;
	TKT_CHECK(generate(&c, &o, reqs, 3, 64) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(c.count == 3 && c.n[0] == 0 && c.n[2] == 0 && c.order_errors == 0, "max 0");
	/* a prompt that fills the context is refused */
	o.max_tokens = 4;
	TKT_CHECK(generate(&c, &o, reqs, 1, 5) == TK_EUSAGE, "full context accepted");
}

static void test_stop_strings_need_a_tokenizer(void)
{
	tk_gen_request reqs[5];
	requests(reqs);
	tk_gen_options o = {.params = {0.0f, 0, 1.0f}, .max_tokens = 10, .batch = 1};
	static const char *const strings[] = {"x"};
	o.stop_strings = strings;
	o.n_stop_strings = 1;
	collected c;
	TKT_CHECK(generate(&c, &o, reqs, 1, 64) == TK_EUSAGE, "stop strings without a tokenizer");
}

/* A second turn continues the first in its pinned slot: only the tokens
 * the turn adds are prefilled, and the samples are the bits a fresh
 * forward gives for the whole conversation. */
static void test_pinned_slots_continue_a_conversation(void)
{
	tk_gen_options o = {.params = {1.0f, 0, 1.0f}, .seed = 5, .max_tokens = 6, .batch = 2,
			    .logprobs = 1, .pinned = 1};
	tk_gen_request reqs[2] = {{.prompt = prompt_a, .prompt_len = 5, .stream = 0, .slot = 1},
				  {.prompt = prompt_b, .prompt_len = 3, .stream = 1, .slot = 0}};
	tk_forward *f;
	TKT_CHECK(tk_forward_open(&f, be, model, NULL, 2, 64, 64) == TK_OK, "%s", tk_error_message());
	static collected first, second, fresh;
	TKT_CHECK(tk_generate(f, &o, reqs, 2, keep, &first) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_forward_length(f, 1) == 5 + first.n[0] - 1, "slot 1 holds %zu",
		  tk_forward_length(f, 1));
	/* turn 2 of conversation a: prompt, completion, two observation tokens */
	int32_t turn[32];
	size_t n = 0;
	memcpy(turn, prompt_a, sizeof prompt_a);
	n = 5;
	memcpy(turn + n, first.tokens[0], first.n[0] * sizeof *turn);
	n += first.n[0];
	turn[n++] = 11;
	turn[n++] = 12;
	tk_gen_request next = {.prompt = turn, .prompt_len = n, .stream = 9, .slot = 1,
			       .cached = tk_forward_length(f, 1)};
	TKT_CHECK(tk_generate(f, &o, &next, 1, keep, &second) == TK_OK, "%s", tk_error_message());
	/* a slot can also keep less than it holds (a turn that changed its end) */
	next.cached = 3;
	static collected partial;
	TKT_CHECK(tk_generate(f, &o, &next, 1, keep, &partial) == TK_OK, "%s", tk_error_message());
	/* a request may not claim more than its slot holds */
	next.cached = n - 1;
	tk_forward_clear(f, 1);
	TKT_CHECK(tk_generate(f, &o, &next, 1, keep, &partial) == TK_EUSAGE, "claimed cache accepted");
	tk_forward_close(f);
	tk_gen_options plain = o;
	plain.pinned = 0;
	next.cached = 0;
	TKT_CHECK(generate(&fresh, &plain, &next, 1, 64) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(second.n[0] == fresh.n[0] && fresh.n[0] > 0 &&
		  !memcmp(second.tokens[0], fresh.tokens[0], fresh.n[0] * sizeof(int32_t)) &&
		  !memcmp(second.logprobs[0], fresh.logprobs[0], fresh.n[0] * sizeof(float)),
		  "the continued turn differs from a fresh prefill");
	TKT_CHECK(!memcmp(partial.tokens[0], fresh.tokens[0], fresh.n[0] * sizeof(int32_t)),
		  "a partly kept cache differs");
}

int main(void)
{
	if (tk_backend_open(&be, "cpu", 0) || tk_model_load(&model, "tests/fixtures/tiny-llama")) {
		printf("# %s\n", tk_error_message());
		return 1;
	}
	TKT_RUN(test_same_results_whatever_the_batch);
	TKT_RUN(test_stops_and_limits);
	TKT_RUN(test_stop_strings_need_a_tokenizer);
	TKT_RUN(test_pinned_slots_continue_a_conversation);
	tk_model_free(model);
	tk_backend_close(be);
	return tkt_done();
}
