/* Offline RL: batches of scored rollouts read from a token stream, each
 * record checked and given advantages (its own, or its reward centred in
 * its group within the batch), ready for tk_rl_update (tk_rl.h). */
#include "tk_rl.h"

#include "tk_error.h"
#include "tk_tks.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct tk_rl_stream {
	const char *path;
	tk_tks_reader *in;
	size_t batch, micro;
	int loss;                  // enum tk_rl_loss_kind
	tk_record *recs;           // (batch) as read
	float **mask, **adv;       // (batch) each (n)
	tk_rl_record *out;         // (batch) what the update gets
	size_t n;
};

/* A stream made with another tokenizer is refused, naming both. */
static int check_tokenizer(const tk_rl_stream *s, const char *tokenizer)
{
	cJSON *meta = cJSON_Parse(tk_tks_reader_meta(s->in));
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer");
	int rc = TK_OK;
	if (cJSON_IsString(fp) && tokenizer && *tokenizer && strcmp(fp->valuestring, tokenizer))
		rc = tk_fail(TK_EDATA, "%s was made with tokenizer %s, but the model has tokenizer %s",
			     s->path, fp->valuestring, tokenizer);
	cJSON_Delete(meta);
	return rc;
}

int tk_rl_stream_open(tk_rl_stream **out, const char *path, size_t batch, int loss,
		      size_t micro, const char *tokenizer)
{
	*out = NULL;
	tk_rl_stream *s = tk_calloc(1, sizeof *s);
	if (!s)
		return TK_EOSERR;
	*s = (tk_rl_stream){.path = path, .batch = batch, .micro = micro, .loss = loss};
	s->recs = tk_calloc(batch, sizeof *s->recs);
	s->mask = tk_calloc(batch, sizeof *s->mask);
	s->adv = tk_calloc(batch, sizeof *s->adv);
	s->out = tk_calloc(batch, sizeof *s->out);
	int rc = s->recs && s->mask && s->adv && s->out ? TK_OK : TK_EOSERR;
	for (size_t i = 0; !rc && i < batch; i++)
		tk_record_init(&s->recs[i]);
	if (!rc)
		rc = tk_tks_reader_open(&s->in, path);
	if (!rc)
		rc = check_tokenizer(s, tokenizer);
	if (rc) {
		tk_rl_stream_close(s);
		return rc;
	}
	*out = s;
	return TK_OK;
}

void tk_rl_stream_close(tk_rl_stream *s)
{
	if (!s)
		return;
	if (s->in)
		tk_tks_reader_close(s->in);
	for (size_t i = 0; s->recs && i < s->batch; i++) {
		tk_record_free(&s->recs[i]);
		free(s->mask[i]);
		free(s->adv[i]);
	}
	free(s->recs);
	free(s->mask);
	free(s->adv);
	free(s->out);
	free(s);
}

static int check_record(const tk_rl_stream *s, const tk_record *rec, uint64_t number)
{
	if (!rec->advantages && !rec->has_reward)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has neither advantages nor a reward "
			       "to train on", s->path, number);
	if (!rec->logprobs && s->loss != TK_RL_PG)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has no sampler logprobs, which "
			       "--loss %s needs (--loss pg does without)", s->path, number,
			       tk_rl_loss_name(s->loss));
	if (rec->n > s->micro)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has %zu tokens, more than "
			       "--micro-tokens %zu", s->path, number, rec->n, s->micro);
	if (!rec->advantages && rec->group < 0)
		return tk_fail(TK_EDATA, "%s: record %" PRIu64 " has a reward but no group to centre "
			       "it in", s->path, number);
	return TK_OK;
}

/* Reads up to a batch of records into recs, their masks from the weights. */
static int read_records(tk_rl_stream *s)
{
	s->n = 0;
	while (s->n < s->batch) {
		tk_record *rec = &s->recs[s->n];
		int rc = tk_tks_read(s->in, rec);
		if (rc == TK_END)
			break;
		if (!rc)
			rc = check_record(s, rec, tk_tks_reader_count(s->in));
		if (rc)
			return rc == TK_EDATA ? rc : tk_fail_context(rc, "%s: ", s->path);
		free(s->mask[s->n]);
		free(s->adv[s->n]);
		s->mask[s->n] = tk_calloc(rec->n ? rec->n : 1, sizeof **s->mask);
		s->adv[s->n] = tk_calloc(rec->n ? rec->n : 1, sizeof **s->adv);
		if (!s->mask[s->n] || !s->adv[s->n])
			return TK_EOSERR;
		for (size_t t = 1; t < rec->n; t++)
			s->mask[s->n][t] = rec->weights[t] != 0;
		s->n++;
	}
	return TK_OK;
}

/* Advantages of records without them: reward − group mean in the batch. */
static int advantages(tk_rl_stream *s, int scale_by_std, tk_rl_step_stats *st)
{
	size_t m = s->n ? s->n : 1;
	double *reward = tk_calloc(m, sizeof *reward), *adv = tk_calloc(m, sizeof *adv);
	int64_t *group = tk_calloc(m, sizeof *group);
	int rc = reward && adv && group ? TK_OK : TK_EOSERR;
	for (size_t i = 0; !rc && i < s->n; i++) {
		reward[i] = s->recs[i].reward;
		group[i] = s->recs[i].group;
		st->reward_sum += reward[i];
		st->reward2_sum += reward[i] * reward[i];
	}
	st->samples = s->n;
	if (!rc)
		rc = tk_rl_advantages(reward, group, s->n, scale_by_std, adv, &st->groups);
	for (size_t i = 0; !rc && i < s->n; i++)
		for (size_t t = 0; t < s->recs[i].n; t++)
			s->adv[i][t] = s->recs[i].advantages ? s->recs[i].advantages[t] : (float)adv[i];
	free(reward);
	free(adv);
	free(group);
	return rc;
}

int tk_rl_stream_next(tk_rl_stream *s, int scale_by_std, const tk_rl_record **recs, size_t *n,
		      double *tokens, tk_rl_step_stats *st)
{
	*n = 0;
	*tokens = 0;
	int rc = read_records(s);
	if (!rc && st)
		rc = advantages(s, scale_by_std, st);
	if (rc)
		return rc;
	for (size_t i = 0; i < s->n; i++) {
		const tk_record *rec = &s->recs[i];
		s->out[i] = (tk_rl_record){rec->tokens, rec->n, s->mask[i], rec->logprobs, s->adv[i]};
		for (size_t t = 1; t < rec->n; t++)
			*tokens += s->mask[i][t] != 0;
	}
	*recs = s->out;
	*n = s->n;
	return TK_OK;
}
