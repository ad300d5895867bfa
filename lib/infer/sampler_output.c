/* What a sampling run stops at, and its samples as they are written: the
 * completion's text, one JSON line, or a record of a token stream
 * (tk_sampler.h).  tk-sample writes its output with these, so a sample
 * reads the same whoever made it. */
#include "tk_sampler.h"

#include "tk_error.h"
#include "tk_render.h"
#include "tk_tks.h"
#include "tk_tokenizer.h"
#include "tk_utf8.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- stops -------------------------------------------------------------- */

void tk_gen_stops_collect(tk_gen_stops *st, const struct tk_tokenizer *tok,
			  const struct tk_renderer *r, const char *const *extra, size_t n_extra)
{
	memset(st, 0, sizeof *st);
	int32_t eos = tk_tokenizer_eos(tok);
	if (eos >= 0)
		st->ids[st->n_ids++] = eos;
	const int32_t *ids = NULL;
	const char *const *strings = NULL;
	size_t n = r ? tk_renderer_stop_tokens(r, &ids) : 0;
	for (size_t i = 0; i < n && st->n_ids < TK_GEN_MAX_STOPS; i++)
		if (ids[i] != eos)
			st->ids[st->n_ids++] = ids[i];
	n = r ? tk_renderer_stop_strings(r, &strings) : 0;
	for (size_t i = 0; i < n && st->n_strings < TK_GEN_MAX_STOPS; i++)
		st->strings[st->n_strings++] = strings[i];
	for (size_t i = 0; i < n_extra && st->n_strings < 2 * TK_GEN_MAX_STOPS; i++)
		st->strings[st->n_strings++] = extra[i];
}

/* ---- the completion's text ---------------------------------------------- */

static int is_stop_token(const tk_sample_format *f, int32_t id)
{
	for (size_t i = 0; i < f->n_stop_ids; i++)
		if (f->stop_ids[i] == id)
			return 1;
	return 0;
}

/* Cuts text at the first of the cut strings. */
static void cut_text(const tk_sample_format *f, char *text, size_t *len)
{
	for (size_t i = 0; i < f->n_cuts; i++) {
		char *at = strstr(text, f->cuts[i]);
		if (at && (size_t)(at - text) < *len) {
			*len = (size_t)(at - text);
			text[*len] = '\0';
		}
	}
}

/* The text before any cut: the assistant message parsed back by the
 * renderer (chat prompts), or the tokens decoded without a final stop
 * token. */
static int raw_text(const tk_sample_format *f, const tk_prompt *p, const tk_gen_result *r,
		    char **text, size_t *len)
{
	if (p->chat && f->renderer) {
		tk_response resp = {0};
		int rc = tk_render_parse_response(f->renderer, r->tokens, r->n, &resp);
		if (!rc) {
			*text = resp.content;
			resp.content = NULL;
			*len = strlen(*text);
		}
		tk_response_free(&resp);
		return rc;
	}
	size_t n = r->n;
	if (n && r->finish == TK_FINISH_STOP && is_stop_token(f, r->tokens[n - 1]))
		n--;
	return tk_tokenizer_decode(f->tok, r->tokens, n, 0, text, len);
}

int tk_sample_text(const tk_sample_format *f, const tk_prompt *p, const tk_gen_result *r,
		   char **out)
{
	char *text = NULL;
	size_t len = 0;
	*out = NULL;
	int rc = raw_text(f, p, r, &text, &len);
	if (rc)
		return rc;
	cut_text(f, text, &len);
	*out = tk_utf8_valid_copy(text, len);
	free(text);
	return *out ? TK_OK : TK_EOSERR;
}

/* ---- a JSON line -------------------------------------------------------- */

static char *int_array(const int32_t *v, size_t n)
{
	char *s = tk_malloc(12 * n + 3), *o = s;
	if (!s)
		return NULL;
	*o++ = '[';
	for (size_t i = 0; i < n; i++)
		o += sprintf(o, i ? ",%d" : "%d", (int)v[i]);
	strcpy(o, "]");
	return s;
}

/* Logprobs to 7 significant digits (a float's precision is about 7). */
static char *float_array(const float *v, size_t n)
{
	char *s = tk_malloc(20 * n + 3), *o = s;
	if (!s)
		return NULL;
	*o++ = '[';
	for (size_t i = 0; i < n; i++)
		o += sprintf(o, i ? ",%.7g" : "%.7g", (double)v[i]);
	strcpy(o, "]");
	return s;
}

/* The prompt's id, or its index when its input had none. */
static cJSON *id_value(const tk_prompt *p, size_t index)
{
	cJSON *id = p->id_json ? cJSON_Parse(p->id_json) : NULL;
	return id ? id : cJSON_CreateNumber((double)index);
}

static const char *finish_name(const tk_gen_result *r)
{
	return r->finish == TK_FINISH_STOP ? "stop" : "length";
}

/* cJSON's adders return NULL when out of memory; *ok keeps the first. */
static void added(int *ok, const void *item)
{
	*ok = *ok && item;
}

/* A chat response's thinking block and tool calls, beside its text, when
 * it has them. */
static int add_chat_parts(const tk_sample_format *f, const tk_prompt *p, const tk_gen_result *r,
			  cJSON *o, int *ok)
{
	if (!p->chat || !f->renderer)
		return TK_OK;
	tk_response resp = {0};
	int rc = tk_render_parse_response(f->renderer, r->tokens, r->n, &resp);
	if (!rc && resp.reasoning) {
		char *valid = tk_utf8_valid_copy(resp.reasoning, strlen(resp.reasoning));
		added(ok, valid ? cJSON_AddStringToObject(o, "reasoning_content", valid) : NULL);
		free(valid);
	}
	if (!rc && resp.tool_calls_json) {
		char *valid = tk_utf8_valid_copy(resp.tool_calls_json, strlen(resp.tool_calls_json));
		added(ok, valid ? cJSON_AddRawToObject(o, "tool_calls", valid) : NULL);
		free(valid);
	}
	tk_response_free(&resp);
	return rc;
}

int tk_sample_json(const tk_sample_format *f, const tk_prompt *p, size_t index, size_t sample,
		   const tk_gen_result *r, char **line)
{
	*line = NULL;
	char *text;
	int rc = tk_sample_text(f, p, r, &text);
	if (rc)
		return rc;
	cJSON *o = cJSON_CreateObject();
	cJSON *meta = p->meta_json ? cJSON_Parse(p->meta_json) : NULL;
	char *tokens = int_array(r->tokens, r->n);
	char *logprobs = f->logprobs ? float_array(r->logprobs, r->n) : NULL;
	int ok = o && tokens && (logprobs || !f->logprobs);
	added(&ok, cJSON_AddItemToObject(o, "id", id_value(p, index)) ? o : NULL);
	added(&ok, cJSON_AddItemToObject(o, "meta", meta ? meta : cJSON_CreateObject()) ? o : NULL);
	added(&ok, cJSON_AddNumberToObject(o, "sample", (double)sample));
	added(&ok, cJSON_AddStringToObject(o, "text", text));
	if (ok)
		rc = add_chat_parts(f, p, r, o, &ok);
	added(&ok, ok ? cJSON_AddRawToObject(o, "tokens", tokens) : NULL);
	if (logprobs)
		added(&ok, cJSON_AddRawToObject(o, "logprobs", logprobs));
	added(&ok, cJSON_AddStringToObject(o, "finish", finish_name(r)));
	if (ok && !rc)
		*line = cJSON_PrintUnformatted(o);
	free(text);
	free(tokens);
	free(logprobs);
	cJSON_Delete(o);
	if (rc)
		return rc;
	return *line ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}

/* ---- a record of a token stream ----------------------------------------- */

/* The record's meta: the prompt's fields, then id, sample, finish, text. */
static char *record_meta(const tk_sample_format *f, const tk_prompt *p, size_t index,
			 size_t sample, const tk_gen_result *r, int *rc)
{
	char *text;
	if ((*rc = tk_sample_text(f, p, r, &text)))
		return NULL;
	cJSON *meta = p->meta_json ? cJSON_Parse(p->meta_json) : cJSON_CreateObject();
	int ok = meta != NULL;
	added(&ok, cJSON_AddItemToObject(meta, "id", id_value(p, index)) ? meta : NULL);
	added(&ok, cJSON_AddNumberToObject(meta, "sample", (double)sample));
	added(&ok, cJSON_AddStringToObject(meta, "finish", finish_name(r)));
	added(&ok, cJSON_AddStringToObject(meta, "text", text));
	char *out = ok ? cJSON_PrintUnformatted(meta) : NULL;
	free(text);
	cJSON_Delete(meta);
	if (!out)
		*rc = tk_fail(TK_EOSERR, "out of memory");
	return out;
}

int tk_sample_write_record(const tk_sample_format *f, const tk_prompt *p, size_t index,
			   size_t sample, const tk_gen_result *r, struct tk_tks_writer *w)
{
	size_t np = p->ids.n, n = np + r->n;
	int32_t *tokens = tk_malloc(n * sizeof *tokens);
	float *weights = tokens ? tk_calloc(n, sizeof *weights) : NULL;
	float *logprobs = weights ? tk_calloc(n, sizeof *logprobs) : NULL;
	int rc = logprobs ? TK_OK : TK_EOSERR;
	char *meta = rc ? NULL : record_meta(f, p, index, sample, r, &rc);
	if (!rc) {
		memcpy(tokens, p->ids.ids, np * sizeof *tokens);
		if (r->n) { // the arrays may be NULL when empty
			memcpy(tokens + np, r->tokens, r->n * sizeof *tokens);
			memcpy(logprobs + np, r->logprobs, r->n * sizeof *logprobs);
		}
		for (size_t i = np; i < n; i++)
			weights[i] = 1.0f;
		tk_record rec;
		tk_record_init(&rec);
		rec.n = n;
		rec.tokens = tokens;
		rec.weights = weights;
		rec.logprobs = logprobs;
		rec.group = (int64_t)index;
		rec.meta = meta;
		rc = tk_tks_write(w, &rec);
	}
	free(meta);
	free(tokens);
	free(weights);
	free(logprobs);
	return rc;
}
