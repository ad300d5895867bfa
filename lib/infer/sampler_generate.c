/* tk_generate: continuous batching of sampling requests over one
 * tk_forward (tk_sampler.h).  Each step runs one forward over the slots in
 * use: one new token for each decoding request and the whole prompt of
 * each request just started (consecutive requests with the same prompt
 * share one prefill and fork its cache), then draws a token for each. */
#include "tk_sampler.h"

#include "tk_error.h"
#include "tk_forward.h"
#include "tk_tokenizer.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

typedef struct item {
	int32_t *tokens;   // (limit) the completion so far
	float *logprobs;   // (limit)
	size_t n, limit;
	int finish, done;
	tk_rng rng;
} item;

typedef struct gen {
	tk_forward *f;
	const tk_gen_options *o;
	const tk_gen_request *reqs;
	size_t n_reqs, batch, vocab;
	tk_sampler **samplers; // (n_samplers) one per thread drawing
	int n_samplers;
	item *items;          // (n_reqs)
	size_t *slot_item;    // (batch) request in each slot, or NONE
	size_t *row;          // (batch) logits row of each slot in this step
	size_t *leader;       // (batch) slot whose prefill a new slot shares, or NONE
	size_t *b_slots, *b_counts; // (batch) the forward run
	int32_t *b_tokens;    // (batch · longest prompt)
	float *logits;        // (batch, vocab)
	size_t next, emitted, longest_stop;
} gen;

static int check_requests(const gen *g)
{
	size_t context = tk_forward_context(g->f);
	for (size_t i = 0; i < g->n_reqs; i++)
		if (g->reqs[i].prompt_len == 0 || g->reqs[i].prompt_len >= context)
			return tk_fail(TK_EUSAGE, "request %zu: a prompt of %zu tokens leaves no room "
				       "in a context of %zu", i, g->reqs[i].prompt_len, context);
	if (g->batch == 0 || g->batch > tk_forward_slots(g->f))
		return tk_fail(TK_EUSAGE, "batch %zu: the forward has %zu slots", g->batch,
			       tk_forward_slots(g->f));
	for (size_t i = 0; g->o->pinned && i < g->n_reqs; i++) {
		const tk_gen_request *r = &g->reqs[i];
		if (r->slot >= g->batch || r->cached >= r->prompt_len ||
		    r->cached > tk_forward_length(g->f, r->slot))
			return tk_fail(TK_EUSAGE, "request %zu: slot %zu (of %zu) holding %zu of its "
				       "%zu tokens cannot continue it", i, r->slot, g->batch,
				       r->cached, r->prompt_len);
	}
	if (g->o->n_stop_strings && !g->o->tok)
		return tk_fail(TK_EUSAGE, "stop strings need a tokenizer");
	return TK_OK;
}

static int gen_alloc(gen *g)
{
	size_t longest = 1;
	for (size_t i = 0; i < g->n_reqs; i++)
		longest = g->reqs[i].prompt_len > longest ? g->reqs[i].prompt_len : longest;
	for (size_t i = 0; i < g->o->n_stop_strings; i++) {
		size_t len = strlen(g->o->stop_strings[i]);
		g->longest_stop = len > g->longest_stop ? len : g->longest_stop;
	}
	g->items = tk_calloc(g->n_reqs ? g->n_reqs : 1, sizeof *g->items);
	g->slot_item = tk_malloc(g->batch * sizeof *g->slot_item);
	g->row = tk_malloc(g->batch * sizeof *g->row);
	g->leader = tk_malloc(g->batch * sizeof *g->leader);
	g->b_slots = tk_malloc(g->batch * sizeof *g->b_slots);
	g->b_counts = tk_malloc(g->batch * sizeof *g->b_counts);
	g->b_tokens = tk_malloc(g->batch * longest * sizeof *g->b_tokens);
	g->logits = tk_malloc(g->batch * g->vocab * sizeof *g->logits);
	if (!g->items || !g->slot_item || !g->row || !g->leader || !g->b_slots || !g->b_counts ||
	    !g->b_tokens || !g->logits)
		return TK_EOSERR;
	for (size_t s = 0; s < g->batch; s++)
		g->slot_item[s] = NONE;
	g->n_samplers = omp_get_max_threads();
	g->samplers = tk_calloc((size_t)g->n_samplers, sizeof *g->samplers);
	if (!g->samplers)
		return TK_EOSERR;
	for (int t = 0; t < g->n_samplers; t++) {
		int rc = tk_sampler_open(&g->samplers[t], g->vocab, &g->o->params);
		if (rc)
			return rc;
	}
	return TK_OK;
}

static void gen_free(gen *g)
{
	for (size_t i = 0; g->items && i < g->n_reqs; i++) {
		free(g->items[i].tokens);
		free(g->items[i].logprobs);
	}
	free(g->items);
	free(g->slot_item);
	free(g->row);
	free(g->leader);
	free(g->b_slots);
	free(g->b_counts);
	free(g->b_tokens);
	free(g->logits);
	for (int t = 0; g->samplers && t < g->n_samplers; t++)
		tk_sampler_close(g->samplers[t]);
	free(g->samplers);
}

/* Prepares request i; 0 when it needs no slot (nothing to generate). */
static int start_item(gen *g, size_t i)
{
	item *it = &g->items[i];
	size_t room = tk_forward_context(g->f) - g->reqs[i].prompt_len;
	it->limit = g->o->max_tokens < room ? g->o->max_tokens : room;
	tk_sampler_seed(&it->rng, g->o->seed, g->reqs[i].stream);
	if (it->limit == 0) {
		it->finish = TK_FINISH_LENGTH;
		it->done = 1;
		return 0;
	}
	it->tokens = tk_malloc(it->limit * sizeof *it->tokens);
	it->logprobs = tk_malloc(it->limit * sizeof *it->logprobs);
	return it->tokens && it->logprobs ? 1 : -1;
}

static void add_run(gen *g, size_t *nb, size_t *nt, size_t slot, const int32_t *ids, size_t count)
{
	g->b_slots[*nb] = slot;
	g->b_counts[*nb] = count;
	memcpy(g->b_tokens + *nt, ids, count * sizeof *ids);
	g->row[slot] = (*nb)++;
	*nt += count;
}

/* Pinned requests are rendered one by one, so equal prompts are found by
 * their tokens; either way a shared prefill gives the same bits. */
static int same_prompt(const tk_gen_options *o, const tk_gen_request *a, const tk_gen_request *b)
{
	if (a->prompt_len != b->prompt_len)
		return 0;
	if (!o->pinned)
		return a->prompt == b->prompt;
	return a->cached == 0 && b->cached == 0 &&
	       !memcmp(a->prompt, b->prompt, a->prompt_len * sizeof *a->prompt);
}

/* Request i starts in slot s: its prompt's new tokens join the run, or
 * it follows the prefill of the request started just before it, when
 * that one has the same prompt (*last_slot, *last_req: that request). */
static void place(gen *g, size_t i, size_t s, size_t *nb, size_t *nt, size_t *last_slot,
		  size_t *last_req)
{
	const tk_gen_request *r = &g->reqs[i];
	size_t keep = g->o->pinned ? r->cached : 0;
	g->slot_item[s] = i;
	tk_forward_truncate(g->f, s, keep);
	if (*last_slot != NONE && same_prompt(g->o, r, &g->reqs[*last_req])) {
		g->leader[s] = *last_slot;
	} else {
		add_run(g, nb, nt, s, r->prompt + keep, r->prompt_len - keep);
		*last_slot = s;
	}
	*last_req = i;
}

/* Fills free slots with the next requests, in order; a pinned request
 * waits for its own slot. */
static int fill_slots(gen *g, size_t *nb, size_t *nt)
{
	size_t last_slot = NONE, last_req = NONE;
	for (size_t s = 0; s < g->batch; s++)
		g->leader[s] = NONE;
	for (size_t s = 0; s < g->batch && g->next < g->n_reqs;) {
		size_t i = g->next, at = g->o->pinned ? g->reqs[i].slot : s;
		if (g->slot_item[at] != NONE) {
			if (g->o->pinned)
				break;
			s++;
			continue;
		}
		g->next++;
		int need = start_item(g, i);
		if (need < 0)
			return TK_EOSERR;
		if (need)
			place(g, i, at, nb, nt, &last_slot, &last_req);
	}
	return TK_OK;
}

static int contains(const char *hay, size_t n, const char *needle, size_t m)
{
	for (size_t i = 0; m && i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

static int hits_stop_string(const gen *g, const item *it)
{
	size_t k = it->n < g->longest_stop ? it->n : g->longest_stop;
	char *text;
	size_t len;
	if (tk_tokenizer_decode(g->o->tok, it->tokens + it->n - k, k, 0, &text, &len))
		return 0;
	int hit = 0;
	for (size_t i = 0; i < g->o->n_stop_strings && !hit; i++) {
		size_t sl = strlen(g->o->stop_strings[i]);
		hit = contains(text, len, g->o->stop_strings[i], sl);
	}
	free(text);
	return hit;
}

static int is_stop_id(const tk_gen_options *o, int32_t id)
{
	for (size_t i = 0; i < o->n_stop_ids; i++)
		if (o->stop_ids[i] == id)
			return 1;
	return 0;
}

/* Draws slot s's next token and ends its request when it should. */
static void draw_for(gen *g, size_t s, tk_sampler *sampler)
{
	item *it = &g->items[g->slot_item[s]];
	const float *logits = g->logits + g->row[s] * g->vocab;
	it->logprobs[it->n] = 0.0f;
	int32_t id = tk_sampler_draw(sampler, logits, &it->rng,
				     g->o->logprobs ? &it->logprobs[it->n] : NULL);
	it->tokens[it->n++] = id;
	if (is_stop_id(g->o, id) || (g->longest_stop && hits_stop_string(g, it)))
		it->finish = TK_FINISH_STOP, it->done = 1;
	else if (it->n == it->limit)
		it->finish = TK_FINISH_LENGTH, it->done = 1;
	if (it->done)
		g->slot_item[s] = NONE;
}

static int emit_ready(gen *g, tk_gen_emit emit, void *ctx)
{
	while (g->emitted < g->n_reqs && g->items[g->emitted].done) {
		item *it = &g->items[g->emitted];
		tk_gen_result r = {it->tokens, it->logprobs, it->n, it->finish};
		int rc = emit(ctx, g->emitted, &r);
		free(it->tokens);
		free(it->logprobs);
		it->tokens = NULL;
		it->logprobs = NULL;
		g->emitted++;
		if (rc)
			return rc;
	}
	return TK_OK;
}

static int step(gen *g)
{
	size_t nb = 0, nt = 0, *leader = g->leader;
	for (size_t s = 0; s < g->batch; s++) { // decoding slots: their last token
		g->row[s] = NONE;
		size_t i = g->slot_item[s];
		if (i != NONE)
			add_run(g, &nb, &nt, s, &g->items[i].tokens[g->items[i].n - 1], 1);
	}
	int rc = fill_slots(g, &nb, &nt);
	if (rc || nb == 0)
		return rc;
	tk_forward_batch b = {nb, g->b_slots, g->b_counts, g->b_tokens, 0};
	if ((rc = tk_forward_run(g->f, &b, g->logits)))
		return rc;
	for (size_t s = 0; s < g->batch; s++)
		if (leader[s] != NONE) {
			tk_forward_fork(g->f, s, leader[s]);
			g->row[s] = g->row[leader[s]];
		}
	/* Each slot draws from its own stream, so the threads' order does not
	 * matter; a vocabulary-sized pass per draw is worth spreading. */
#pragma omp parallel for schedule(dynamic) num_threads(g->n_samplers) if (g->batch > 1)
	for (size_t s = 0; s < g->batch; s++)
		if (g->slot_item[s] != NONE)
			draw_for(g, s, g->samplers[omp_get_thread_num()]);
	return TK_OK;
}

int tk_generate(tk_forward *f, const tk_gen_options *o, const tk_gen_request *reqs, size_t n,
		tk_gen_emit emit, void *ctx)
{
	gen g = {.f = f, .o = o, .reqs = reqs, .n_reqs = n, .batch = o->batch,
		 .vocab = tk_forward_vocab(f)};
	int rc = check_requests(&g);
	if (!rc)
		rc = gen_alloc(&g);
	while (!rc && g.emitted < n) {
		rc = step(&g);
		if (!rc)
			rc = emit_ready(&g, emit, ctx);
	}
	gen_free(&g);
	return rc;
}
