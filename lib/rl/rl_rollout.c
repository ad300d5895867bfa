/* One RL step's rollouts (tk_rl.h): groups of samples from the policy,
 * their completions read back as text, scores, group-centred advantages,
 * the KL penalty, the update's records and the rollout stream. */
#include "tk_rl.h"

#include "tk_error.h"
#include "tk_eval.h"
#include "tk_forward.h"
#include "tk_render.h"
#include "tk_sampler.h"
#include "tk_tks.h"
#include "tk_tokenizer.h"
#include "tk_train.h"
#include "tk_utf8.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

typedef struct sampling {
	const tk_renderer *renderer;
	const char *const *cut;
	size_t n_cut;
	const tk_tokens *prompts;
	tk_rl_rollout *ro;
	size_t tokens;             // sampled
} sampling;

/* The completion as the renderer reads it back, cut at the first of the
 * cut strings (which the sampler keeps), valid UTF-8. */
static int completion_text(const sampling *sa, const tk_gen_result *g, tk_rl_rollout *ro)
{
	tk_response resp = {0};
	int rc = tk_render_parse_response(sa->renderer, g->tokens, g->n, &resp);
	if (rc)
		return rc;
	size_t len = strlen(resp.content);
	for (size_t i = 0; i < sa->n_cut; i++) {
		const char *at = strstr(resp.content, sa->cut[i]);
		if (at && (size_t)(at - resp.content) < len) {
			len = (size_t)(at - resp.content);
			resp.complete = 1;
		}
	}
	ro->text = tk_utf8_valid_copy(resp.content, len);
	ro->complete = resp.complete;
	tk_response_free(&resp);
	return ro->text ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}

static int keep_rollout(void *ctx, size_t index, const tk_gen_result *g)
{
	sampling *sa = ctx;
	tk_rl_rollout *ro = &sa->ro[index];
	const tk_tokens *prompt = &sa->prompts[ro->group];
	size_t n = prompt->n + g->n;
	ro->n = n;
	ro->n_prompt = prompt->n;
	ro->tokens = tk_calloc(n, sizeof *ro->tokens);
	ro->mask = tk_calloc(n, sizeof *ro->mask);
	ro->sampler = tk_calloc(n, sizeof *ro->sampler);
	ro->adv = tk_calloc(n, sizeof *ro->adv);
	if (!ro->tokens || !ro->mask || !ro->sampler || !ro->adv)
		return TK_EOSERR;
	memcpy(ro->tokens, prompt->ids, prompt->n * sizeof *ro->tokens);
	memcpy(ro->tokens + prompt->n, g->tokens, g->n * sizeof *ro->tokens);
	memcpy(ro->sampler + prompt->n, g->logprobs, g->n * sizeof *ro->sampler);
	for (size_t i = prompt->n; i < n; i++)
		ro->mask[i] = 1;
	sa->tokens += g->n;
	return completion_text(sa, g, ro);
}

int tk_rl_rollouts_sample(struct tk_forward *f, const tk_gen_options *o,
			  const tk_renderer *r, const char *const *cut, size_t n_cut,
			  const tk_tokens *prompts, size_t groups, size_t group_size,
			  uint64_t first, tk_rl_rollout **out, size_t *sampled)
{
	size_t n = groups * group_size;
	*out = NULL;
	tk_rl_rollout *ro = tk_calloc(n ? n : 1, sizeof *ro);
	tk_gen_request *reqs = tk_calloc(n ? n : 1, sizeof *reqs);
	if (!ro || !reqs) {
		free(ro);
		free(reqs);
		return TK_EOSERR;
	}
	for (size_t i = 0; i < n; i++) {
		const tk_tokens *ids = &prompts[i / group_size];
		ro[i].group = i / group_size;
		// stream: the prompt's number in the run and the sample's in its group
		uint64_t k = first + i / group_size;
		reqs[i] = (tk_gen_request){.prompt = ids->ids, .prompt_len = ids->n,
					  .stream = k * group_size + i % group_size};
	}
	tk_gen_options go = *o;
	go.batch = tk_forward_slots(f);
	go.logprobs = 1;
	sampling sa = {r, cut, n_cut, prompts, ro, 0};
	int rc = tk_generate(f, &go, reqs, n, keep_rollout, &sa);
	free(reqs);
	if (rc) {
		tk_rl_rollouts_free(ro, n);
		return rc;
	}
	*sampled = sa.tokens;
	*out = ro;
	return TK_OK;
}

void tk_rl_rollouts_free(tk_rl_rollout *ro, size_t n)
{
	for (size_t i = 0; ro && i < n; i++) {
		free(ro[i].tokens);
		free(ro[i].mask);
		free(ro[i].sampler);
		free(ro[i].adv);
		free(ro[i].text);
	}
	free(ro);
}

int tk_rl_rollouts_advantages(tk_rl_rollout *ro, size_t n, int scale_by_std,
			      tk_rl_step_stats *st)
{
	double *reward = tk_calloc(n ? n : 1, sizeof *reward), *adv = tk_calloc(n ? n : 1, sizeof *adv);
	int64_t *group = tk_calloc(n ? n : 1, sizeof *group);
	int rc = reward && adv && group ? TK_OK : TK_EOSERR;
	for (size_t i = 0; !rc && i < n; i++)
		reward[i] = ro[i].reward, group[i] = (int64_t)ro[i].group;
	if (!rc)
		rc = tk_rl_advantages(reward, group, n, scale_by_std, adv, &st->groups);
	for (size_t i = 0; !rc && i < n; i++)
		for (size_t t = ro[i].n_prompt; t < ro[i].n; t++)
			ro[i].adv[t] = (float)adv[i];
	free(reward);
	free(adv);
	free(group);
	return rc;
}

/* The step's rollouts end to end in flat arrays, for the KL penalty. */
typedef struct flat {
	float *q, *base, *mask, *adv;
	size_t total;
} flat;

static int flat_open(flat *fl, const tk_rl_rollout *ro, size_t n)
{
	fl->total = 0;
	for (size_t i = 0; i < n; i++)
		fl->total += ro[i].n;
	size_t t = fl->total ? fl->total : 1;
	fl->q = tk_calloc(t, sizeof *fl->q), fl->base = tk_calloc(t, sizeof *fl->base);
	fl->mask = tk_calloc(t, sizeof *fl->mask), fl->adv = tk_calloc(t, sizeof *fl->adv);
	return fl->q && fl->base && fl->mask && fl->adv ? TK_OK : TK_EOSERR;
}

static void flat_close(flat *fl)
{
	free(fl->q), free(fl->base), free(fl->mask), free(fl->adv);
}

/* The penalty folded into the advantages once fl.base holds the base's
 * logprobs; fl.q, mask and adv are copied from ro here. */
static void fold_penalty(flat *fl, tk_rl_rollout *ro, size_t n, double coef, tk_rl_step_stats *st)
{
	size_t at = 0;
	for (size_t i = 0; i < n; at += ro[i].n, i++) {
		memcpy(fl->q + at, ro[i].sampler, ro[i].n * sizeof *fl->q);
		memcpy(fl->mask + at, ro[i].mask, ro[i].n * sizeof *fl->mask);
		memcpy(fl->adv + at, ro[i].adv, ro[i].n * sizeof *fl->adv);
	}
	st->kl_base = tk_rl_kl_penalty(fl->q, fl->base, fl->mask, fl->total, coef, fl->adv);
	st->has_kl_base = 1;
	at = 0;
	for (size_t i = 0; i < n; at += ro[i].n, i++)
		memcpy(ro[i].adv, fl->adv + at, ro[i].n * sizeof *fl->adv);
}

int tk_rl_rollouts_kl(tk_eval_scorer *ref, tk_rl_rollout *ro, size_t n, double coef,
		      tk_rl_step_stats *st)
{
	flat fl;
	int rc = flat_open(&fl, ro, n);
	size_t at = 0;
	for (size_t i = 0; !rc && i < n; at += ro[i].n, i++)
		rc = tk_eval_scorer_sequence(ref, ro[i].tokens, ro[i].n, fl.base + at);
	if (!rc)
		fold_penalty(&fl, ro, n, coef, st);
	flat_close(&fl);
	return rc;
}

/* Rollouts first.. packed into one pass of at most micro tokens: the
 * base's logprobs of each into base (their tokens back to back). */
static int base_pass(tk_train *t, size_t micro, const tk_rl_rollout *ro, size_t n,
		     size_t *first, int32_t *tokens, size_t *starts, float *base)
{
	size_t i = *first, at = 0, records = 0;
	starts[0] = 0;
	while (i < n && (records == 0 || at + ro[i].n <= micro)) {
		memcpy(tokens + at, ro[i].tokens, ro[i].n * sizeof *tokens);
		at += ro[i++].n;
		starts[++records] = at;
	}
	tk_train_batch b = {at, records, tokens, NULL, starts};
	*first = i;
	return tk_train_base_logprobs(t, &b, base);
}

int tk_rl_rollouts_kl_base(tk_train *t, size_t micro, tk_rl_rollout *ro, size_t n, double coef,
			   tk_rl_step_stats *st)
{
	flat fl;
	int rc = flat_open(&fl, ro, n);
	int32_t *tokens = tk_calloc(micro ? micro : 1, sizeof *tokens);
	size_t *starts = tk_calloc(n + 1, sizeof *starts);
	if (!rc && (!tokens || !starts))
		rc = TK_EOSERR;
	for (size_t i = 0, at = 0; !rc && i < n;) {
		size_t from = i;
		rc = base_pass(t, micro, ro, n, &i, tokens, starts, fl.base + at);
		for (; from < i; from++)
			at += ro[from].n;
	}
	if (!rc)
		fold_penalty(&fl, ro, n, coef, st);
	free(tokens);
	free(starts);
	flat_close(&fl);
	return rc;
}

static int group_is_flat(const tk_rl_rollout *ro, size_t i, size_t per)
{
	size_t first = (i / per) * per;
	for (size_t j = first; j < first + per; j++)
		if (ro[j].reward != ro[first].reward)
			return 0;
	return 1;
}

tk_rl_record *tk_rl_rollouts_records(const tk_rl_rollout *ro, size_t n, size_t group_size,
				     int drop_flat, size_t *kept, double *tokens,
				     tk_rl_step_stats *st)
{
	tk_rl_record *recs = tk_calloc(n ? n : 1, sizeof *recs);
	*kept = 0;
	*tokens = 0;
	for (size_t i = 0; recs && i < n; i++) {
		if (drop_flat && group_is_flat(ro, i, group_size)) {
			st->dropped++;
			continue;
		}
		recs[(*kept)++] = (tk_rl_record){ro[i].tokens, ro[i].n, ro[i].mask, ro[i].sampler,
						 ro[i].adv};
		*tokens += (double)(ro[i].n - ro[i].n_prompt);
	}
	return recs;
}

static char *rollout_meta(const tk_rl_prompt *p, int64_t step, const char *text)
{
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddItemToObject(meta, "id", cJSON_Parse(p->id_json));
	cJSON_AddNumberToObject(meta, "step", (double)step);
	cJSON_AddStringToObject(meta, "text", text);
	char *line = cJSON_PrintUnformatted(meta);
	cJSON_Delete(meta);
	return line;
}

int tk_rl_rollouts_write(tk_tks_writer *w, int64_t step, const tk_rl_prompt *prompts,
			 size_t groups, const tk_rl_rollout *ro, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *meta = rollout_meta(&prompts[ro[i].group], step, ro[i].text);
		tk_record rec;
		tk_record_init(&rec);
		rec.n = ro[i].n;
		rec.tokens = ro[i].tokens;
		rec.weights = ro[i].mask;
		rec.logprobs = ro[i].sampler;
		rec.advantages = ro[i].adv;
		rec.group = (step - 1) * (int64_t)groups + (int64_t)ro[i].group;
		rec.has_reward = 1;
		rec.reward = ro[i].reward;
		rec.meta = meta;
		int rc = meta ? tk_tks_write(w, &rec) : tk_fail(TK_EOSERR, "out of memory");
		free(meta);
		if (rc)
			return rc;
	}
	return TK_OK;
}

int tk_rl_rollouts_writer_open(tk_tks_writer **out, const char *path, const char *tokenizer_fp,
			       const char *model_fp, size_t vocab, const char *renderer)
{
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "tokenizer", tokenizer_fp);
	cJSON_AddStringToObject(meta, "model", model_fp);
	cJSON_AddNumberToObject(meta, "vocab_size", (double)vocab);
	cJSON_AddStringToObject(meta, "renderer", renderer);
	cJSON_AddStringToObject(meta, "source", "tk-rl");
	cJSON_AddStringToObject(meta, "kind", "rollouts");
	char *text = cJSON_PrintUnformatted(meta);
	cJSON_Delete(meta);
	int rc = text ? tk_tks_writer_open(out, path, text, 1) : tk_fail(TK_EOSERR, "out of memory");
	free(text);
	return rc;
}
