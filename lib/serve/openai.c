/* OpenAI-compatible /v1/completions and /v1/chat/completions, as the
 * hosted service offers them for saved sampler weights (serve.h): "model"
 * is a tinker:// sampler path or a base model's name; a chat is rendered
 * with the model's chat template (detected) and its reply parsed back.
 * Answered when done (no streaming). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"
#include "serve_sample.h"
#include "tk_error.h"
#include "tk_model.h"
#include "tk_render.h"
#include "tk_tokenizer.h"
#include "tk_utf8.h"

typedef struct openai_job {
	cJSON *in;                  /* the request (owned) */
	int chat;
	char id[48];
} openai_job;

static void openai_job_free(void *ctx)
{
	openai_job *j = ctx;
	cJSON_Delete(j->in);
	free(j);
}

/* The sampler "model" names, loaded if need be (worker). */
static serve_sampler *model_sampler(serve *s, const char *model, serve_sampler *bare)
{
	if (!strncmp(model, "tinker://", 9))
		return serve_sampler_for_path(s, model);
	serve_base *b = serve_registry_base(s, model);
	if (!b)
		return NULL;
	*bare = (serve_sampler){.base = b};
	return bare;
}

/* The prompt: a chat rendered for generation, or text (or token ids). */
static int prompt_tokens(const openai_job *j, const tk_renderer *r, const tk_tokenizer *tok,
			 tk_tokens *ids)
{
	if (j->chat) {
		cJSON *wrap = cJSON_CreateObject();
		cJSON_AddItemReferenceToObject(wrap, "messages",
					       cJSON_GetObjectItemCaseSensitive(j->in, "messages"));
		char *line = cJSON_PrintUnformatted(wrap);
		cJSON_Delete(wrap);
		tk_chat chat = {0};
		tk_rendered out = {0};
		int rc = line ? tk_chat_parse(&chat, line, strlen(line)) : TK_EOSERR;
		if (!rc)
			rc = tk_render_chat(r, &chat, TK_RENDER_GENERATION_PROMPT, &out);
		for (size_t i = 0; !rc && i < out.ids.n; i++)
			rc = tk_tokens_push(ids, out.ids.ids[i]);
		tk_rendered_free(&out);
		tk_chat_free(&chat);
		free(line);
		return rc;
	}
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j->in, "prompt"), *t;
	if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(p->child))
		p = p->child;
	if (cJSON_IsString(p))
		return tk_tokenizer_encode(tok, p->valuestring, strlen(p->valuestring),
					   TK_ENCODE_ADD_BOS, ids);
	if (!cJSON_IsArray(p))
		return tk_fail(TK_EUSAGE, "prompt: a string or a list of token ids (one prompt "
			       "per request)");
	cJSON_ArrayForEach(t, p) {
		if (!cJSON_IsNumber(t) || t->valuedouble < 0)
			return tk_fail(TK_EUSAGE, "prompt: a list of token ids expected");
		if (tk_tokens_push(ids, (int32_t)t->valuedouble))
			return TK_EOSERR;
	}
	return 0;
}

/* The request's sampling fields in SampleRequest's form, then parsed. */
static int sample_request(const openai_job *j, const tk_tokens *ids, const tk_renderer *r,
			  serve_sample_req *q, char *err, size_t cap)
{
	cJSON *in = cJSON_CreateObject(), *sp = cJSON_AddObjectToObject(in, "sampling_params");
	cJSON *chunk = cJSON_CreateObject();
	cJSON_AddItemToObject(chunk, "tokens", cJSON_CreateIntArray((const int *)ids->ids, (int)ids->n));
	cJSON *chunks = cJSON_CreateArray();
	cJSON_AddItemToArray(chunks, chunk);
	cJSON_AddItemToObject(cJSON_AddObjectToObject(in, "prompt"), "chunks", chunks);
	cJSON_AddStringToObject(in, "base_model", "-");
	const char *keys[] = {"max_tokens", "temperature", "top_p", "top_k", "seed", "stop"};
	for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j->in, keys[k]);
		if (v)
			cJSON_AddItemToObject(sp, keys[k], cJSON_Duplicate(v, 1));
	}
	if (!cJSON_GetObjectItemCaseSensitive(sp, "max_tokens"))
		cJSON_AddNumberToObject(sp, "max_tokens", j->chat ? 512 : 16);
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(j->in, "n");
	cJSON_AddNumberToObject(in, "num_samples", cJSON_IsNumber(n) ? n->valuedouble : 1);
	int rc = serve_sample_parse(in, q, err, cap);
	cJSON_Delete(in);
	if (rc || !j->chat || q->stop_given)
		return rc;
	/* a chat ends where the template's assistant turn ends */
	const int32_t *stop_ids;
	size_t n_ids = tk_renderer_stop_tokens(r, &stop_ids);
	q->stop_ids = malloc((n_ids + 1) * sizeof *q->stop_ids);
	if (!q->stop_ids)
		return TK_EOSERR;
	memcpy(q->stop_ids, stop_ids, n_ids * sizeof *stop_ids);
	q->stop_ids[n_ids] = tk_tokenizer_eos(tk_renderer_tokenizer(r));
	q->n_stop_ids = n_ids + (q->stop_ids[n_ids] >= 0);
	q->stop_given = 1;
	return 0;
}

/* One choice: the text (cut before a stop string, the stop token left out)
 * or the parsed assistant message. */
static cJSON *choice(const openai_job *j, const tk_renderer *r, const serve_sample_req *q,
		     const serve_seq *seq, size_t index)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddNumberToObject(c, "index", (double)index);
	size_t n = seq->n;
	for (size_t k = 0; n && seq->stop && k < q->n_stop_ids; k++)
		if (seq->tokens[n - 1] == q->stop_ids[k]) {
			n--;
			break;
		}
	if (j->chat) {
		tk_response resp = {0};
		char *msg = NULL;
		if (!tk_render_parse_response(r, seq->tokens, seq->n, &resp) &&
		    !tk_response_message_json(&resp, &msg)) {
			/* a cut character or a stray byte: U+FFFD, so the JSON is UTF-8 */
			char *valid = tk_utf8_valid_copy(msg, strlen(msg));
			cJSON_AddItemToObject(c, "message", valid ? cJSON_Parse(valid) : NULL);
			free(valid);
		}
		free(msg);
		tk_response_free(&resp);
	} else {
		char *text = NULL;
		size_t len = 0;
		tk_tokenizer_decode(tk_renderer_tokenizer(r), seq->tokens, n, 0, &text, &len);
		for (size_t k = 0; text && seq->stop && k < q->n_stop_strings; k++) {
			char *at = strstr(text, q->stop_strings[k]);
			if (at)
				*at = 0;
		}
		char *valid = text ? tk_utf8_valid_copy(text, strlen(text)) : NULL;
		cJSON_AddStringToObject(c, "text", valid ? valid : "");
		free(valid);
		free(text);
	}
	cJSON_AddStringToObject(c, "finish_reason", seq->stop ? "stop" : "length");
	return c;
}

static cJSON *answer(const openai_job *j, const tk_renderer *r, const serve_sample_req *q,
		     const serve_seq *seqs)
{
	cJSON *o = cJSON_CreateObject(), *choices = cJSON_CreateArray();
	cJSON_AddStringToObject(o, "id", j->id);
	cJSON_AddStringToObject(o, "object", j->chat ? "chat.completion" : "text_completion");
	cJSON_AddNumberToObject(o, "created", (double)time(NULL));
	cJSON_AddItemToObject(o, "model",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j->in, "model"), 1));
	size_t completion = 0;
	for (size_t i = 0; i < q->n; i++) {
		cJSON_AddItemToArray(choices, choice(j, r, q, &seqs[i], i));
		completion += seqs[i].n;
	}
	cJSON_AddItemToObject(o, "choices", choices);
	cJSON *u = cJSON_AddObjectToObject(o, "usage");
	cJSON_AddNumberToObject(u, "prompt_tokens", (double)q->prompt_len);
	cJSON_AddNumberToObject(u, "completion_tokens", (double)completion);
	cJSON_AddNumberToObject(u, "total_tokens", (double)(q->prompt_len + completion));
	return o;
}

static void openai_run(serve *s, void *ctx, serve_reply *r)
{
	openai_job *j = ctx;
	const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j->in, "model"));
	serve_sampler bare, *p = model_sampler(s, model, &bare);
	if (!p) {
		serve_reply_error(r, 404, "user", "model %s: %s", model, tk_error_message());
		return;
	}
	const tk_tokenizer *tok = p->base->model->tokenizer;
	tk_renderer *rend = NULL;
	tk_tokens ids = {0};
	serve_sample_req *q = calloc(1, sizeof *q);
	serve_seq *seqs = NULL;
	char err[600] = "";
	int rc = q ? tk_renderer_detect(&rend, tok) : TK_EOSERR;
	if (!rc)
		rc = prompt_tokens(j, rend, tok, &ids);
	if (rc)
		snprintf(err, sizeof err, "%s", tk_error_message());
	if (!rc)
		rc = sample_request(j, &ids, rend, q, err, sizeof err);
	if (!rc)
		rc = serve_sample_run(s, p, q, &seqs, NULL, err, sizeof err);
	if (rc)
		serve_reply_error(r, rc == TK_EOSERR || rc == TK_ESOFTWARE ? 500 : 400,
				  rc == TK_EOSERR || rc == TK_ESOFTWARE ? "server" : "user", "%s", err);
	else
		serve_reply_json(r, 200, answer(j, rend, q, seqs));
	if (q)
		serve_seqs_free(seqs, q->n);
	serve_sample_req_free(q);
	tk_tokens_free(&ids);
	tk_renderer_free(rend);
}

void serve_openai_completions(serve *s, const cJSON *in, int chat, serve_reply *r)
{
	const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "model"));
	if (!model || (chat && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(in, "messages")))) {
		serve_reply_error(r, 400, "user", "%s needs \"model\"%s", chat ? "chat/completions"
				  : "completions", chat ? " and \"messages\"" : "");
		return;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "stream"))) {
		serve_reply_error(r, 400, "user", "stream: not served; ask without it");
		return;
	}
	openai_job *j = calloc(1, sizeof *j);
	if (!j || !(j->in = cJSON_Duplicate(in, 1))) {
		free(j);
		serve_reply_error(r, 500, "server", "out of memory");
		return;
	}
	j->chat = chat;
	serve_new_id(s, chat ? "chatcmpl" : "cmpl", j->id, sizeof j->id);
	serve_queue_run(s, openai_run, openai_job_free, j, r);
}
