/* Drawing the next token from a row of logits: temperature, top-k, top-p,
 * seeded, with the token's logprob.
 *
 *   tk_sampler *s;
 *   tk_sampler_params p = {.temperature = 0.7f, .top_k = 50, .top_p = 0.9f};
 *   tk_sampler_open(&s, vocab, &p);
 *   tk_rng rng;
 *   tk_sampler_seed(&rng, seed, stream);        // one stream per sample
 *   float lp;
 *   int32_t id = tk_sampler_draw(s, logits, &rng, &lp);
 *   tk_sampler_close(s);
 *
 * The distribution drawn from, as transformers' generate warps it
 * (temperature, then top-k, then top-p):
 *   q = softmax(logits / T); keep the k most probable tokens (k = 0: all);
 *   of those, keep the smallest set of most probable tokens whose
 *   probability (renormalised after top-k) sums to at least top_p
 *   (1: all); draw from what is kept, renormalised.
 * Ties in probability are ranked by lower id first.  Temperature 0 is
 * greedy: the highest logit (lowest id on ties), without touching the RNG.
 *
 * The logprob reported is always that of the model: log softmax of the
 * unmodified logits at the chosen id (what a trainer re-scoring the sample
 * computes), whatever the temperature and cuts; at temperature 1 without
 * cuts it is the log-probability the token was drawn with.  Computed in
 * double precision.
 *
 * A sampler holds scratch space of the vocabulary's size; one per thread. */
#ifndef TK_SAMPLER_H
#define TK_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "tk_rng.h"

typedef struct tk_sampler_params {
	float temperature;  /* >= 0; 0: greedy */
	int top_k;          /* >= 0; 0: no cut */
	float top_p;        /* in (0, 1]; 1: no cut */
} tk_sampler_params;

typedef struct tk_sampler tk_sampler;

/* TK_EUSAGE for parameters out of range (temperature negative or not
 * finite, top_k negative, top_p outside (0, 1]). */
int tk_sampler_open(tk_sampler **out, size_t vocab, const tk_sampler_params *p);
void tk_sampler_close(tk_sampler *s);  /* safe on NULL */

/* Seeds rng for one stream of draws: the same (seed, stream) always gives
 * the same draws, and different streams are independent, so sample j of
 * prompt i draws the same tokens whatever else is sampled with it. */
void tk_sampler_seed(tk_rng *rng, uint64_t seed, uint64_t stream);

/* Draws a token id from logits (vocab); logprob (may be NULL) gets the
 * model's log-probability of it (see above).  Logits must be finite or
 * -inf (a masked token), not all -inf. */
int32_t tk_sampler_draw(tk_sampler *s, const float *logits, tk_rng *rng, float *logprob);

/* The tokens the distribution keeps, most probable first, with their
 * renormalised probabilities; returns how many (1 for greedy).  ids and
 * probs need room for vocab entries.  (What tk_sampler_draw draws from.) */
size_t tk_sampler_support(tk_sampler *s, const float *logits, int32_t *ids, double *probs);

/* log softmax(logits)[id], in double. */
double tk_log_softmax_at(const float *logits, size_t vocab, int32_t id);

/* ---- generation (lib/infer/sampler_generate.c) -------------------------------
 * Sampling many requests through one tk_forward with continuous batching:
 * up to `batch` requests decode together; a finished one frees its slot for
 * the next.  Consecutive requests with the same prompt (same pointer and
 * length: n samples of one prompt) share one prefill (tk_forward_fork).
 * Request i draws from its own stream tk_sampler_seed(seed, stream), and
 * the forward is batch invariant, so its tokens do not depend on batch nor
 * on the other requests. */

struct tk_forward;
struct tk_tokenizer;

enum tk_finish { TK_FINISH_STOP = 0, TK_FINISH_LENGTH = 1 };

typedef struct tk_gen_request {
	const int32_t *prompt;   /* (prompt_len) */
	size_t prompt_len;       /* >= 1 and < the forward's context */
	uint64_t stream;         /* RNG stream, e.g. prompt index · n + sample */
	/* With tk_gen_options.pinned: the slot the request runs in, and how
	 * many leading prompt tokens that slot already holds from an earlier
	 * call (the caller vouches they are prompt[0..cached), e.g. the last
	 * turn's prompt and completion); only the rest is prefilled. */
	size_t slot;
	size_t cached;           /* < prompt_len, <= tk_forward_length(slot) */
} tk_gen_request;

typedef struct tk_gen_result {
	const int32_t *tokens;   /* (n) the completion, its stop token included;
	                          * the arrays may be NULL when n is 0 */
	const float *logprobs;   /* (n) model logprobs (see tk_sampler_draw), or 0s */
	size_t n;
	int finish;              /* enum tk_finish */
} tk_gen_result;

typedef struct tk_gen_options {
	tk_sampler_params params;
	uint64_t seed;
	size_t max_tokens;       /* new tokens per request, at most */
	size_t batch;            /* requests decoding together, <= forward slots */
	int logprobs;            /* compute logprobs (else they are 0: faster) */
	const int32_t *stop_ids; /* (n_stop_ids) tokens that end a completion */
	size_t n_stop_ids;
	/* Strings that end a completion once its decoded text holds one
	 * (decoded with tok, special tokens kept); the tokens up to the one
	 * completing the string are kept. */
	const char *const *stop_strings;
	size_t n_stop_strings;
	const struct tk_tokenizer *tok;
	/* Requests run in their own slots (< batch), which keep their cache
	 * between calls: a multi-turn conversation prefills only what its
	 * last turn added.  A request waits for its slot to be free; requests
	 * start in order.  After the call a slot holds its request's prompt
	 * and completion but the completion's last token. */
	int pinned;
} tk_gen_options;

/* Called once per request, in request order; the result is valid during
 * the call.  A non-zero return stops tk_generate with that status. */
typedef int (*tk_gen_emit)(void *ctx, size_t index, const tk_gen_result *r);

/* Generates for reqs[0..n) and emits each result in order.  A completion
 * also ends (TK_FINISH_LENGTH) when it fills the forward's context. */
int tk_generate(struct tk_forward *f, const tk_gen_options *o, const tk_gen_request *reqs,
		size_t n, tk_gen_emit emit, void *ctx);

/* ---- stops and samples as written (lib/infer/sampler_output.c) ------------
 * A sample of prompt p (tk_render.h's tk_prompt, index its place in the
 * input) as tk-sample writes it: the completion's text, one JSON line, or
 * a record of a token stream (tk_tks.h). */

struct tk_renderer;
struct tk_prompt;
struct tk_tks_writer;

#define TK_GEN_MAX_STOPS 64

/* What ends a completion, for tk_gen_options' stop fields. */
typedef struct tk_gen_stops {
	int32_t ids[TK_GEN_MAX_STOPS];
	size_t n_ids;
	const char *strings[2 * TK_GEN_MAX_STOPS]; /* not owned */
	size_t n_strings;
} tk_gen_stops;

/* tok's eos, then r's stop tokens and stop strings (r NULL: none), then
 * the extra strings (a user's); TK_GEN_MAX_STOPS ids and as many
 * strings of r at most, the extra ones up to the array's end. */
void tk_gen_stops_collect(tk_gen_stops *st, const struct tk_tokenizer *tok,
			  const struct tk_renderer *r, const char *const *extra, size_t n_extra);

/* How a completion's text is made. */
typedef struct tk_sample_format {
	const struct tk_tokenizer *tok;     /* decodes the completions of raw prompts */
	const struct tk_renderer *renderer; /* parses those of chat prompts back into a
	                                     * message (NULL: they are decoded too) */
	const int32_t *stop_ids;            /* (n_stop_ids) a decoded completion's final
	                                     * stop token is left out of its text */
	size_t n_stop_ids;
	const char *const *cuts;            /* (n_cuts) the text is cut before the
	                                     * first of these it holds (--stop) */
	size_t n_cuts;
	int logprobs;                       /* JSON lines: a "logprobs" array */
} tk_sample_format;

/* The completion's text: the assistant message parsed back (chat prompts)
 * or the tokens decoded, cut, as valid UTF-8 (tk_utf8_valid_copy);
 * malloc'd in *text. */
int tk_sample_text(const tk_sample_format *f, const struct tk_prompt *p,
		   const tk_gen_result *r, char **text);

/* One JSON object, malloc'd in *line without a line end:
 *   {"id": the prompt's id (else index), "meta": its fields, "sample",
 *    "text", "reasoning_content" and "tool_calls" (chat prompts whose
 *    response has them: the thinking block, and tk_response's
 *    tool_calls_json), "tokens": [...], "logprobs": [...] (f->logprobs, 7
 *    significant digits), "finish": "stop" | "length"} */
int tk_sample_json(const tk_sample_format *f, const struct tk_prompt *p, size_t index,
		   size_t sample, const tk_gen_result *r, char **line);

/* Writes prompt + completion as one record: weights 1 on the completion
 * and 0 on the prompt, the sampler's logprobs on the completion (0 on the
 * prompt), index as the group; its meta holds the prompt's fields, then
 * id, sample, finish and text. */
int tk_sample_write_record(const tk_sample_format *f, const struct tk_prompt *p, size_t index,
			   size_t sample, const tk_gen_result *r, struct tk_tks_writer *w);

#endif
