/* tk-sample: batched generation from a model (and a LoRA adapter).  Reads
 * prompts (JSON Lines of {"messages": [...]} or {"prompt": "text"}, or a
 * .tks of generation prompts from tk-render --prompt), samples N
 * completions of each with continuous batching over a KV cache, and writes
 * one JSON line per sample in input order, or a token stream (--tks).  The
 * work is in lib/forward*.c and lib/sampler*.c; see tk-sample(1). */
#include "cli/tk_cli.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_progress.h"
#include "tk_render.h"
#include "tk_sampler.h"
#include "tk_tks.h"
#include "tk_utf8.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tk_backend.h"
#include "tk_forward.h"

#define MAX_STOPS 64
#define MAX_LINE ((size_t)64 << 20)

static const tk_option options[] = {
	{"model", 'm', "MODEL", "model to sample from (HF folder, .gguf, .tkc)"},
	{"adapter", 'a', "ADAPTER", "LoRA adapter .tkc to apply (made for MODEL)"},
	{"samples", 'n', "N", "completions per prompt (default 1)"},
	{"temperature", 0, "T", "sampling temperature, 0 for greedy (default 1)"},
	{"top-p", 0, "P", "keep the most probable tokens summing to P (default 1: all)"},
	{"top-k", 0, "K", "keep the K most probable tokens (default 0: all)"},
	{"max-tokens", 0, "N", "new tokens per completion, at most (default 256)"},
	{"stop", 0, "STR", "also stop when the completion's text holds STR (repeatable)"},
	{"logprobs", 0, NULL, "print each sampled token's logprob"},
	{"batch", 0, "N", "sequences decoding together (default 64)"},
	{"tks", 0, NULL, "write a token stream (.tks) instead of JSON Lines"},
	{"ignore-eos", 0, NULL, "do not stop at end-of-sequence or end-of-turn tokens (benchmarks)"},
	{"renderer", 0, "NAME", "chat renderer (default: from the model's chat template)"},
	{0},
};

enum {
	OPT_MODEL, OPT_ADAPTER, OPT_SAMPLES, OPT_TEMPERATURE, OPT_TOP_P, OPT_TOP_K,
	OPT_MAX_TOKENS, OPT_STOP, OPT_LOGPROBS, OPT_BATCH, OPT_TKS, OPT_IGNORE_EOS, OPT_RENDERER,
};

typedef struct settings {
	const char *model, *adapter, *input, *renderer;
	long long samples, max_tokens, batch;
	tk_sampler_params params;
	const char *stops[MAX_STOPS];
	size_t n_stops;
	int logprobs, tks, ignore_eos;
} settings;

/* One prompt: its tokens, the id and other fields of its input line. */
typedef struct prompt {
	tk_tokens ids;
	char *id_json;     // the line's "id" value, or NULL (then its index)
	char *meta_json;   // the line's other fields as an object, or NULL
	int chat;          // rendered by a chat renderer: parse responses with it
	uint64_t line;
} prompt;

typedef struct prompts {
	prompt *v;
	size_t n, cap;
} prompts;

/* What the sampling loop's output callback needs. */
typedef struct job {
	const settings *s;
	tk_cli *cli;
	const tk_model *model;
	const tk_renderer *renderer;
	const prompts *ps;
	tk_outfile *out;
	tk_tks_writer *tks;
	tk_progress progress;
	uint64_t done;
} job;

/* ---- options ------------------------------------------------------------ */

static void parse_options(settings *s, tk_cli *cli, int argc, char **argv)
{
	*s = (settings){.samples = 1, .max_tokens = 256, .batch = 64,
			.params = {1.0f, 0, 1.0f}};
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0) {
		switch (o) {
		case OPT_MODEL: s->model = v; break;
		case OPT_ADAPTER: s->adapter = v; break;
		case OPT_SAMPLES: s->samples = tk_cli_int(cli, "samples", v, 1, 1 << 20); break;
		case OPT_TEMPERATURE:
			s->params.temperature = (float)tk_cli_double(cli, "temperature", v, 0, 1e6);
			break;
		case OPT_TOP_P: s->params.top_p = (float)tk_cli_double(cli, "top-p", v, 1e-9, 1); break;
		case OPT_TOP_K: s->params.top_k = (int)tk_cli_int(cli, "top-k", v, 0, INT32_MAX); break;
		case OPT_MAX_TOKENS: s->max_tokens = tk_cli_int(cli, "max-tokens", v, 0, 1 << 24); break;
		case OPT_STOP:
			if (s->n_stops == MAX_STOPS || !*v)
				tk_die(TK_EUSAGE, "--stop: at most %d non-empty strings", MAX_STOPS);
			s->stops[s->n_stops++] = v;
			break;
		case OPT_LOGPROBS: s->logprobs = 1; break;
		case OPT_BATCH: s->batch = tk_cli_int(cli, "batch", v, 1, 1 << 16); break;
		case OPT_TKS: s->tks = 1; break;
		case OPT_IGNORE_EOS: s->ignore_eos = 1; break;
		case OPT_RENDERER: s->renderer = v; break;
		}
	}
	if (!s->model)
		tk_die(TK_EUSAGE, "-m MODEL is needed");
	if (argc - cli->first_operand > 1)
		tk_die(TK_EUSAGE, "one input at most (got %d)", argc - cli->first_operand);
	s->input = cli->first_operand < argc ? argv[cli->first_operand] : "-";
}

/* ---- input -------------------------------------------------------------- */

static prompt *new_prompt(prompts *ps)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 64;
		prompt *v = realloc(ps->v, cap * sizeof *v);
		if (!v)
			tk_die(TK_EOSERR, "out of memory");
		ps->v = v;
		ps->cap = cap;
	}
	prompt *p = &ps->v[ps->n++];
	memset(p, 0, sizeof *p);
	return p;
}

static void free_prompts(prompts *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		tk_tokens_free(&ps->v[i].ids);
		free(ps->v[i].id_json);
		free(ps->v[i].meta_json);
	}
	free(ps->v);
}

/* Splits a meta object (text) into its "id" value and the other fields. */
static int split_id(prompt *p, const char *meta_text)
{
	cJSON *meta = meta_text ? cJSON_Parse(meta_text) : NULL;
	if (!meta)
		return TK_OK;
	cJSON *id = cJSON_DetachItemFromObjectCaseSensitive(meta, "id");
	if (id) {
		p->id_json = cJSON_PrintUnformatted(id);
		cJSON_Delete(id);
	}
	p->meta_json = meta->child ? cJSON_PrintUnformatted(meta) : NULL;
	cJSON_Delete(meta);
	return TK_OK;
}

/* {"messages": [...]}: the generation prompt as the renderer makes it; a
 * final assistant message becomes meta's "reference", as tk-render
 * --prompt does. */
static int messages_line(prompt *p, const tk_renderer *r, const char *line, size_t len)
{
	if (!r)
		return TK_ECONFIG; // the renderer's error is the message
	tk_chat chat = {0};
	tk_rendered out = {0};
	int rc = tk_chat_parse(&chat, line, len);
	size_t n = chat.n;
	const tk_message *last = n ? &chat.msgs[n - 1] : NULL;
	int reference = !rc && last && last->role == TK_ROLE_ASSISTANT;
	n -= reference;
	if (!rc && n == 0)
		rc = tk_fail(TK_EDATA, "no message to prompt with");
	if (!rc)
		rc = tk_render(r, chat.msgs, n, TK_RENDER_GENERATION_PROMPT, &out);
	if (!rc) {
		p->ids = out.ids;
		out.ids = (tk_tokens){0};
		p->chat = 1;
		cJSON *meta = chat.meta ? cJSON_Parse(chat.meta) : cJSON_CreateObject();
		if (meta && reference && !cJSON_HasObjectItem(meta, "reference"))
			cJSON_AddItemToObject(meta, "reference", cJSON_CreateStringReference(last->content));
		char *text = meta ? cJSON_PrintUnformatted(meta) : NULL;
		split_id(p, text);
		free(text);
		cJSON_Delete(meta);
	}
	tk_rendered_free(&out);
	tk_chat_free(&chat);
	return rc;
}

/* {"prompt": "raw text", ...}: encoded as it is (special tokens written in
 * it recognised, bos added when the tokenizer asks for it). */
static int text_line(prompt *p, const tk_tokenizer *tok, cJSON *j)
{
	cJSON *text = cJSON_DetachItemFromObjectCaseSensitive(j, "prompt");
	int rc = TK_OK;
	if (!cJSON_IsString(text))
		rc = tk_fail(TK_EDATA, "\"prompt\" is not a string (give a chat as \"messages\")");
	else
		rc = tk_tokenizer_encode(tok, text->valuestring, strlen(text->valuestring),
					 TK_ENCODE_SPECIAL | TK_ENCODE_ADD_BOS, &p->ids);
	if (!rc && p->ids.n == 0)
		rc = tk_fail(TK_EDATA, "the prompt is empty");
	cJSON_Delete(text);
	if (!rc) {
		char *meta = cJSON_PrintUnformatted(j);
		split_id(p, meta);
		free(meta);
	}
	return rc;
}

static int parse_line(prompts *ps, const tk_model *m, const tk_renderer *r, const char *line,
		      size_t len)
{
	cJSON *j = tk_jsonl_parse(line, len);
	int rc = TK_OK;
	prompt *p = new_prompt(ps);
	if (!j)
		rc = TK_EDATA;
	else if (cJSON_HasObjectItem(j, "messages"))
		rc = messages_line(p, r, line, len);
	else if (cJSON_HasObjectItem(j, "prompt"))
		rc = text_line(p, m->tokenizer, j);
	else
		rc = tk_fail(TK_EDATA, "neither \"messages\" nor \"prompt\"");
	cJSON_Delete(j);
	return rc;
}

static void read_jsonl(prompts *ps, FILE *in, const settings *s, const tk_model *m,
		       const tk_renderer *r, const char *renderer_error)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t number = 0;
	while ((len = getline(&line, &cap, in)) >= 0) {
		number++;
		if (tk_jsonl_blank(line, (size_t)len))
			continue;
		if ((size_t)len > MAX_LINE)
			tk_die(TK_EDATA, "%s:%" PRIu64 ": line longer than %zu bytes", s->input, number, MAX_LINE);
		int rc = parse_line(ps, m, r, line, (size_t)len);
		if (rc == TK_ECONFIG && !r)
			tk_die(TK_ECONFIG, "%s:%" PRIu64 ": messages need a chat renderer: %s", s->input,
			       number, renderer_error);
		if (rc)
			tk_die(rc, "%s:%" PRIu64 ": %s", s->input, number, tk_error_message());
		ps->v[ps->n - 1].line = number;
	}
	free(line);
}

static void read_tks(prompts *ps, const settings *s, const tk_model *m)
{
	tk_tks_reader *r;
	tk_check(tk_tks_reader_open(&r, s->input));
	cJSON *meta = cJSON_Parse(tk_tks_reader_meta(r));
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer");
	char want[17];
	snprintf(want, sizeof want, "%016" PRIx64, tk_tokenizer_fingerprint(m->tokenizer));
	if (cJSON_IsString(fp) && strcmp(fp->valuestring, want) != 0)
		tk_die(TK_EDATA, "%s: made with another tokenizer (%s) than the model's (%s)",
		       s->input, fp->valuestring, want);
	int chat = cJSON_HasObjectItem(meta, "renderer");
	cJSON_Delete(meta);
	tk_record rec;
	tk_record_init(&rec);
	int rc;
	while ((rc = tk_tks_read(r, &rec)) == TK_OK) {
		prompt *p = new_prompt(ps);
		for (size_t i = 0; i < rec.n; i++)
			if (tk_tokens_push(&p->ids, rec.tokens[i]))
				tk_die(TK_EOSERR, "out of memory");
		p->chat = chat;
		p->line = tk_tks_reader_count(r);
		split_id(p, rec.meta);
		if (rec.n == 0)
			tk_die(TK_EDATA, "%s: record %" PRIu64 ": an empty prompt", s->input, p->line);
	}
	if (rc != TK_END)
		tk_die(rc, "%s", tk_error_message());
	tk_record_free(&rec);
	tk_tks_reader_close(r);
}

/* Copies the rest of stdin to a temporary file (the .tks reader reads a
 * descriptor, so the bytes stdio has already buffered must go with it). */
static char *stdin_to_file(FILE *in)
{
	const char *dir = getenv("TMPDIR");
	static char path[4096];
	snprintf(path, sizeof path, "%s/tk-sample-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!out)
		tk_die(TK_ECANTCREAT, "cannot make a temporary file for the stream on stdin");
	char buf[1 << 16];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			tk_die(TK_EIO, "%s: write failed", path);
	if (fclose(out))
		tk_die(TK_EIO, "%s: write failed", path);
	return path;
}

/* A .tks starts with zstd's magic (28 b5 2f fd); anything else is JSONL. */
static void read_input(prompts *ps, settings *s, const tk_model *m,
		       const tk_renderer *r, const char *renderer_error)
{
	FILE *in;
	tk_check(tk_open_input(&in, s->input));
	int c = getc(in);
	if (c != EOF)
		ungetc(c, in);
	if (c == 0x28) {
		const char *input = s->input;
		char *tmp = in == stdin ? stdin_to_file(in) : NULL;
		tk_close_input(in);
		if (tmp)
			s->input = tmp;
		read_tks(ps, s, m);
		if (tmp)
			unlink(tmp);
		s->input = input;
	} else {
		read_jsonl(ps, in, s, m, r, renderer_error);
		tk_close_input(in);
	}
	if (ps->n == 0)
		tk_die(TK_EDATA, "%s: no prompts in the input", strcmp(s->input, "-") ? s->input : "stdin");
}

/* ---- output ------------------------------------------------------------- */

static int is_stop_token(const tk_gen_options *o, int32_t id)
{
	for (size_t i = 0; i < o->n_stop_ids; i++)
		if (o->stop_ids[i] == id)
			return 1;
	return 0;
}

/* Cuts text at the first of the user's --stop strings. */
static void cut_at_stops(const settings *s, char *text, size_t *len)
{
	for (size_t i = 0; i < s->n_stops; i++) {
		char *at = strstr(text, s->stops[i]);
		if (at && (size_t)(at - text) < *len) {
			*len = (size_t)(at - text);
			text[*len] = '\0';
		}
	}
}

/* The completion's text: the assistant message parsed back by the
 * renderer (chat prompts), or the tokens decoded without a final stop
 * token; cut at a --stop string; valid UTF-8. */
static char *completion_text(const job *j, const prompt *p, const tk_gen_result *r,
			     const tk_gen_options *o)
{
	char *text = NULL;
	size_t len = 0;
	if (p->chat && j->renderer) {
		tk_response resp = {0};
		tk_check(tk_render_parse_response(j->renderer, r->tokens, r->n, &resp));
		text = resp.content;
		resp.content = NULL;
		len = strlen(text);
		tk_response_free(&resp);
	} else {
		size_t n = r->n;
		if (n && r->finish == TK_FINISH_STOP && is_stop_token(o, r->tokens[n - 1]))
			n--;
		tk_check(tk_tokenizer_decode(j->model->tokenizer, r->tokens, n, 0, &text, &len));
	}
	cut_at_stops(j->s, text, &len);
	char *clean = tk_utf8_valid_copy(text, len);
	free(text);
	if (!clean)
		tk_check(TK_EOSERR);
	return clean;
}

static char *int_array(const int32_t *v, size_t n)
{
	char *s = malloc(12 * n + 3), *o = s;
	if (!s)
		tk_die(TK_EOSERR, "out of memory");
	*o++ = '[';
	for (size_t i = 0; i < n; i++)
		o += sprintf(o, i ? ",%d" : "%d", (int)v[i]);
	strcpy(o, "]");
	return s;
}

/* Logprobs to 7 significant digits (a float's precision is about 7). */
static char *float_array(const float *v, size_t n)
{
	char *s = malloc(20 * n + 3), *o = s;
	if (!s)
		tk_die(TK_EOSERR, "out of memory");
	*o++ = '[';
	for (size_t i = 0; i < n; i++)
		o += sprintf(o, i ? ",%.7g" : "%.7g", (double)v[i]);
	strcpy(o, "]");
	return s;
}

static cJSON *id_value(const prompt *p, size_t index)
{
	cJSON *id = p->id_json ? cJSON_Parse(p->id_json) : NULL;
	return id ? id : cJSON_CreateNumber((double)index);
}

static int write_json(job *j, size_t pi, size_t sample, const tk_gen_result *r,
		      const tk_gen_options *o)
{
	const prompt *p = &j->ps->v[pi];
	cJSON *line = cJSON_CreateObject();
	cJSON *meta = p->meta_json ? cJSON_Parse(p->meta_json) : NULL;
	char *text = completion_text(j, p, r, o), *tokens = int_array(r->tokens, r->n);
	char *logprobs = j->s->logprobs ? float_array(r->logprobs, r->n) : NULL;
	cJSON_AddItemToObject(line, "id", id_value(p, pi));
	cJSON_AddItemToObject(line, "meta", meta ? meta : cJSON_CreateObject());
	cJSON_AddNumberToObject(line, "sample", (double)sample);
	cJSON_AddStringToObject(line, "text", text);
	cJSON_AddRawToObject(line, "tokens", tokens);
	if (logprobs)
		cJSON_AddRawToObject(line, "logprobs", logprobs);
	cJSON_AddStringToObject(line, "finish", r->finish == TK_FINISH_STOP ? "stop" : "length");
	char *out = cJSON_PrintUnformatted(line);
	int rc = out ? tk_outfile_write(j->out, out, strlen(out)) : tk_fail(TK_EOSERR, "out of memory");
	if (!rc)
		rc = tk_outfile_write(j->out, "\n", 1);
	free(out);
	free(text);
	free(tokens);
	free(logprobs);
	cJSON_Delete(line);
	return rc;
}

/* A record of prompt + completion: weights 1 on the completion, the
 * sampler's logprobs on it (0 on the prompt), the prompt's index as the
 * group; meta has id, sample, finish, text and the line's other fields. */
static int write_record(job *j, size_t pi, size_t sample, const tk_gen_result *r,
			const tk_gen_options *o)
{
	const prompt *p = &j->ps->v[pi];
	size_t np = p->ids.n, n = np + r->n;
	int32_t *tokens = malloc(n * sizeof *tokens);
	float *weights = calloc(n, sizeof *weights), *logprobs = calloc(n, sizeof *logprobs);
	if (!tokens || !weights || !logprobs)
		tk_die(TK_EOSERR, "out of memory");
	memcpy(tokens, p->ids.ids, np * sizeof *tokens);
	if (r->n) { // the arrays may be NULL when empty
		memcpy(tokens + np, r->tokens, r->n * sizeof *tokens);
		memcpy(logprobs + np, r->logprobs, r->n * sizeof *logprobs);
	}
	for (size_t i = np; i < n; i++)
		weights[i] = 1.0f;
	cJSON *meta = p->meta_json ? cJSON_Parse(p->meta_json) : cJSON_CreateObject();
	char *text = completion_text(j, p, r, o);
	cJSON_AddItemToObject(meta, "id", id_value(p, pi));
	cJSON_AddNumberToObject(meta, "sample", (double)sample);
	cJSON_AddStringToObject(meta, "finish", r->finish == TK_FINISH_STOP ? "stop" : "length");
	cJSON_AddStringToObject(meta, "text", text);
	char *meta_text = cJSON_PrintUnformatted(meta);
	tk_record rec;
	tk_record_init(&rec);
	rec.n = n;
	rec.tokens = tokens;
	rec.weights = weights;
	rec.logprobs = logprobs;
	rec.group = (int64_t)pi;
	rec.meta = meta_text;
	int rc = tk_tks_write(j->tks, &rec);
	free(meta_text);
	free(text);
	cJSON_Delete(meta);
	free(tokens);
	free(weights);
	free(logprobs);
	return rc;
}

typedef struct emit_ctx {
	job *j;
	const tk_gen_options *o;
} emit_ctx;

static int emit(void *ctx, size_t index, const tk_gen_result *r)
{
	emit_ctx *e = ctx;
	size_t n = (size_t)e->j->s->samples, pi = index / n, sample = index % n;
	int rc = e->j->tks ? write_record(e->j, pi, sample, r, e->o)
			   : write_json(e->j, pi, sample, r, e->o);
	tk_progress_update(&e->j->progress, ++e->j->done);
	return rc;
}

/* ---- running ------------------------------------------------------------ */

/* The model's eos, the renderer's stop tokens and strings, and --stop. */
typedef struct stops {
	int32_t ids[MAX_STOPS];
	const char *strings[2 * MAX_STOPS];
	tk_gen_options o;
} stops;

static void collect_stops(stops *st, const settings *s, const tk_model *m, const tk_renderer *r)
{
	size_t ni = 0, ns = 0;
	int32_t eos = tk_tokenizer_eos(m->tokenizer);
	if (eos >= 0)
		st->ids[ni++] = eos;
	const int32_t *ids = NULL;
	const char *const *strings = NULL;
	size_t n = r ? tk_renderer_stop_tokens(r, &ids) : 0;
	for (size_t i = 0; i < n && ni < MAX_STOPS; i++)
		if (ids[i] != eos)
			st->ids[ni++] = ids[i];
	n = r && !s->ignore_eos ? tk_renderer_stop_strings(r, &strings) : 0;
	for (size_t i = 0; i < n && ns < MAX_STOPS; i++)
		st->strings[ns++] = strings[i];
	for (size_t i = 0; i < s->n_stops; i++)
		st->strings[ns++] = s->stops[i];
	st->o.stop_ids = st->ids;
	st->o.n_stop_ids = s->ignore_eos ? 0 : ni;
	st->o.stop_strings = st->strings;
	st->o.n_stop_strings = ns;
	st->o.tok = m->tokenizer;
}

static void check_lengths(const prompts *ps, const settings *s, const tk_model *m)
{
	size_t context = (size_t)m->config.max_positions;
	for (size_t i = 0; i < ps->n; i++)
		if (ps->v[i].ids.n >= context)
			tk_die(TK_EDATA, "%s:%" PRIu64 ": a prompt of %zu tokens is longer than the "
			       "model's context (%zu positions, one left for a new token)",
			       strcmp(s->input, "-") ? s->input : "stdin", ps->v[i].line,
			       ps->v[i].ids.n, context - 1);
}

static tk_forward *open_forward(tk_backend *be, const tk_model *m, const tk_lora *lora,
				const prompts *ps, const settings *s, size_t requests)
{
	size_t longest = 0;
	for (size_t i = 0; i < ps->n; i++)
		longest = ps->v[i].ids.n > longest ? ps->v[i].ids.n : longest;
	size_t context = longest + (s->max_tokens ? (size_t)s->max_tokens : 1);
	if (context > (size_t)m->config.max_positions)
		context = (size_t)m->config.max_positions;
	size_t slots = (size_t)s->batch < requests ? (size_t)s->batch : requests;
	size_t pass = 1024 > slots ? 1024 : slots;
	tk_forward *f;
	tk_check(tk_forward_open(&f, be, m, lora, slots, context, pass));
	return f;
}

static tk_gen_request *make_requests(const prompts *ps, size_t n)
{
	tk_gen_request *reqs = calloc(ps->n * n, sizeof *reqs);
	if (!reqs)
		tk_die(TK_EOSERR, "out of memory");
	for (size_t i = 0; i < ps->n; i++)
		for (size_t j = 0; j < n; j++)
			reqs[i * n + j] = (tk_gen_request){ps->v[i].ids.ids, ps->v[i].ids.n,
							   ((uint64_t)i << 32) | j};
	return reqs;
}

static char *stream_meta(const tk_model *m, const tk_renderer *r, const settings *s)
{
	char fp[17], model_fp[17];
	snprintf(fp, sizeof fp, "%016" PRIx64, tk_tokenizer_fingerprint(m->tokenizer));
	tk_model_fingerprint_hex(m, model_fp);
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "tokenizer", fp);
	cJSON_AddStringToObject(meta, "model", model_fp);
	cJSON_AddNumberToObject(meta, "vocab_size", (double)tk_tokenizer_vocab_size(m->tokenizer));
	cJSON_AddStringToObject(meta, "source", s->input);
	cJSON_AddStringToObject(meta, "kind", "samples");
	if (r)
		cJSON_AddStringToObject(meta, "renderer", tk_renderer_name(r));
	if (s->adapter)
		cJSON_AddStringToObject(meta, "adapter", s->adapter);
	cJSON_AddNumberToObject(meta, "temperature", s->params.temperature);
	char *text = cJSON_PrintUnformatted(meta);
	cJSON_Delete(meta);
	if (!text)
		tk_die(TK_EOSERR, "out of memory");
	return text;
}

static void open_output(job *j, const tk_cli *cli, const settings *s)
{
	if (s->tks) {
		char *meta = stream_meta(j->model, j->renderer, s);
		tk_check(tk_tks_writer_open(&j->tks, cli->output, meta, 1));
		free(meta);
	} else {
		tk_check(tk_outfile_open(&j->out, cli->output, 0));
	}
}

static void close_output(job *j, int rc)
{
	if (rc) {
		tk_tks_writer_abort(j->tks);
		tk_outfile_abort(j->out);
		tk_check(rc);
	}
	tk_check(j->tks ? tk_tks_writer_close(j->tks) : tk_outfile_commit(j->out));
}

static tk_renderer *open_renderer(const settings *s, const tk_model *m, char *error, size_t cap)
{
	tk_renderer *r = NULL;
	int rc = s->renderer ? tk_renderer_open(&r, s->renderer, m->tokenizer)
			     : tk_renderer_detect(&r, m->tokenizer);
	if (rc && s->renderer)
		tk_die(rc, "--renderer %s: %s", s->renderer, tk_error_message());
	if (rc)
		snprintf(error, cap, "%s", tk_error_message());
	return rc ? NULL : r;
}

int main(int argc, char **argv)
{
	tk_cli cli = {.name = "tk-sample", .usage = "-m MODEL [OPTIONS] [IN]",
		      .summary = "Sample completions of prompts (JSON Lines or .tks) from a model.",
		      .options = options, .common = TK_CLI_THREADS | TK_CLI_BACKEND | TK_CLI_SEED | TK_CLI_OUTPUT};
	tk_cli_init(&cli);
	settings s;
	parse_options(&s, &cli, argc, argv);
	tk_model *m;
	tk_check(tk_model_load(&m, s.model));
	if (!m->tokenizer)
		tk_die(TK_ECONFIG, "%s: the model has no tokenizer", s.model);
	tk_lora *lora = NULL;
	if (s.adapter)
		tk_check(tk_lora_load(&lora, s.adapter, m));
	char renderer_error[512] = "";
	tk_renderer *r = open_renderer(&s, m, renderer_error, sizeof renderer_error);
	prompts ps = {0};
	read_input(&ps, &s, m, r, renderer_error);
	check_lengths(&ps, &s, m);
	size_t total = ps.n * (size_t)s.samples;
	tk_backend *be;
	tk_check(tk_backend_open(&be, cli.backend, cli.threads));
	tk_forward *f = open_forward(be, m, lora, &ps, &s, total);
	tk_lora_free(lora);
	tk_model_drop_weights(m); // the forward holds its own copy
	stops st = {0};
	collect_stops(&st, &s, m, r);
	st.o.params = s.params;
	st.o.seed = cli.seed;
	st.o.max_tokens = (size_t)s.max_tokens;
	st.o.batch = tk_forward_slots(f);
	st.o.logprobs = s.logprobs || s.tks;
	tk_gen_request *reqs = make_requests(&ps, (size_t)s.samples);
	job j = {.s = &s, .cli = &cli, .model = m, .renderer = r, .ps = &ps};
	open_output(&j, &cli, &s);
	tk_progress_start(&j.progress, "sample", "samples", total, cli.quiet);
	emit_ctx e = {&j, &st.o};
	int rc = tk_generate(f, &st.o, reqs, total, emit, &e);
	close_output(&j, rc);
	tk_progress_finish(&j.progress);
	free(reqs);
	tk_forward_close(f);
	tk_backend_close(be);
	free_prompts(&ps);
	tk_renderer_free(r);
	tk_model_free(m);
	return 0;
}
