/* Prompts to sample from: JSON Lines of chats ({"messages": [...]}) or raw
 * text ({"prompt": "..."}), or a .tks of generation prompts that
 * tk-render --prompt wrote, read into token ids with the id and the other
 * fields of each input kept for the samples made from it. */
#include "tk_error.h"
#include "tk_io.h"
#include "tk_render.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A JSON Lines prompt longer than this is refused, not parsed. */
#define MAX_LINE ((size_t)64 << 20)

void tk_prompt_free(tk_prompt *p)
{
	tk_tokens_free(&p->ids);
	free(p->id_json);
	free(p->meta_json);
	memset(p, 0, sizeof *p);
}

void tk_prompts_free(tk_prompts *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		tk_prompt_free(&ps->v[i]);
	free(ps->v);
	memset(ps, 0, sizeof *ps);
}

/* A new zeroed prompt at the end of ps, or NULL (TK_EOSERR). */
static tk_prompt *new_prompt(tk_prompts *ps)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 64;
		tk_prompt *v = tk_realloc(ps->v, cap * sizeof *v);
		if (!v)
			return NULL;
		ps->v = v;
		ps->cap = cap;
	}
	tk_prompt *p = &ps->v[ps->n++];
	memset(p, 0, sizeof *p);
	return p;
}

/* Splits a meta object (text; NULL or not an object: nothing to keep)
 * into its "id" value and the other fields. */
static int split_id(tk_prompt *p, const char *meta_text)
{
	cJSON *meta = meta_text ? cJSON_Parse(meta_text) : NULL;
	if (!meta)
		return TK_OK;
	int rc = TK_OK;
	cJSON *id = cJSON_DetachItemFromObjectCaseSensitive(meta, "id");
	if (id) {
		p->id_json = cJSON_PrintUnformatted(id);
		cJSON_Delete(id);
		if (!p->id_json)
			rc = tk_fail(TK_EOSERR, "out of memory");
	}
	if (!rc && meta->child && !(p->meta_json = cJSON_PrintUnformatted(meta)))
		rc = tk_fail(TK_EOSERR, "out of memory");
	cJSON_Delete(meta);
	return rc;
}

/* The chat's meta with a final assistant message (last, or NULL) as its
 * "reference" unless it has one, as tk-render --prompt does. */
static int chat_meta(tk_prompt *p, const tk_chat *chat, const tk_message *last)
{
	cJSON *meta = chat->meta ? cJSON_Parse(chat->meta) : cJSON_CreateObject();
	if (!meta)
		return tk_fail(TK_EOSERR, "out of memory");
	if (last && !cJSON_HasObjectItem(meta, "reference") &&
	    !cJSON_AddItemToObject(meta, "reference", cJSON_CreateStringReference(last->content))) {
		cJSON_Delete(meta);
		return tk_fail(TK_EOSERR, "out of memory");
	}
	char *text = cJSON_PrintUnformatted(meta);
	cJSON_Delete(meta);
	int rc = text ? split_id(p, text) : tk_fail(TK_EOSERR, "out of memory");
	free(text);
	return rc;
}

/* {"messages": [...]}: the generation prompt as the renderer makes it. */
static int messages_line(tk_prompt *p, const tk_renderer *r, const char *line, size_t len)
{
	if (!r)
		return tk_fail(TK_ECONFIG, "messages need a chat renderer");
	tk_chat chat = {0};
	tk_rendered out = {0};
	int rc = tk_chat_parse(&chat, line, len);
	size_t n = chat.n;
	const tk_message *last = n ? &chat.msgs[n - 1] : NULL;
	int reference = !rc && last && last->role == TK_ROLE_ASSISTANT;
	n -= reference;
	if (!rc && n == 0)
		rc = tk_fail(TK_EDATA, "no message to prompt with");
	tk_chat prompt = chat;
	prompt.n = n;
	if (!rc)
		rc = tk_render_chat(r, &prompt, TK_RENDER_GENERATION_PROMPT, &out);
	if (!rc) {
		p->ids = out.ids;
		out.ids = (tk_tokens){0};
		p->chat = 1;
		rc = chat_meta(p, &chat, reference ? last : NULL);
	}
	tk_rendered_free(&out);
	tk_chat_free(&chat);
	return rc;
}

/* {"prompt": "raw text", ...}: encoded as it is (special tokens written in
 * it recognised, bos added when the tokenizer asks for it). */
static int text_line(tk_prompt *p, const tk_tokenizer *tok, cJSON *j)
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
		rc = meta ? split_id(p, meta) : tk_fail(TK_EOSERR, "out of memory");
		free(meta);
	}
	return rc;
}

int tk_prompt_parse(tk_prompt *p, const char *line, size_t len, const tk_tokenizer *tok,
		    const tk_renderer *r)
{
	memset(p, 0, sizeof *p);
	cJSON *j = tk_jsonl_parse(line, len);
	int rc;
	if (!j)
		rc = TK_EDATA;
	else if (cJSON_HasObjectItem(j, "messages"))
		rc = messages_line(p, r, line, len);
	else if (cJSON_HasObjectItem(j, "prompt"))
		rc = text_line(p, tok, j);
	else
		rc = tk_fail(TK_EDATA, "neither \"messages\" nor \"prompt\"");
	cJSON_Delete(j);
	return rc;
}

/* ---- reading a file ----------------------------------------------------- */

static int read_jsonl(tk_prompts *ps, FILE *in, const char *path, const tk_tokenizer *tok,
		      const tk_renderer *r)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t number = 0;
	int rc = TK_OK;
	while (!rc && (len = getline(&line, &cap, in)) >= 0) {
		number++;
		if (tk_jsonl_blank(line, (size_t)len))
			continue;
		if ((size_t)len > MAX_LINE) {
			rc = tk_fail(TK_EDATA, "%s:%" PRIu64 ": line longer than %zu bytes", path,
				     number, MAX_LINE);
			break;
		}
		tk_prompt *p = new_prompt(ps);
		rc = p ? tk_prompt_parse(p, line, (size_t)len, tok, r) : TK_EOSERR;
		if (p)
			p->line = number;
		if (rc)
			tk_fail_context(rc, "%s:%" PRIu64 ": ", path, number);
	}
	if (!rc && ferror(in))
		rc = tk_fail(TK_EIO, "%s: read error", path);
	free(line);
	return rc;
}

/* The stream's tokens must be tok's; 1 in *chat when a renderer made it. */
static int check_stream(const tk_tks_reader *r, const char *path, const tk_tokenizer *tok,
			int *chat)
{
	cJSON *meta = cJSON_Parse(tk_tks_reader_meta(r));
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer");
	char want[17];
	snprintf(want, sizeof want, "%016" PRIx64, tk_tokenizer_fingerprint(tok));
	int rc = TK_OK;
	if (cJSON_IsString(fp) && strcmp(fp->valuestring, want) != 0)
		rc = tk_fail(TK_EDATA, "%s: made with another tokenizer (%s) than the model's (%s)",
			     path, fp->valuestring, want);
	*chat = cJSON_HasObjectItem(meta, "renderer");
	cJSON_Delete(meta);
	return rc;
}

static int copy_record(tk_prompts *ps, const tk_record *rec, uint64_t number, int chat,
		       const char *path)
{
	tk_prompt *p = new_prompt(ps);
	if (!p)
		return TK_EOSERR;
	for (size_t i = 0; i < rec->n; i++)
		if (tk_tokens_push(&p->ids, rec->tokens[i]))
			return tk_fail(TK_EOSERR, "out of memory");
	p->chat = chat;
	p->line = number;
	int rc = split_id(p, rec->meta);
	if (!rc && rec->n == 0)
		rc = tk_fail(TK_EDATA, "%s: record %" PRIu64 ": an empty prompt", path, number);
	return rc;
}

static int read_tks(tk_prompts *ps, const char *path, const tk_tokenizer *tok)
{
	tk_tks_reader *r;
	int rc = tk_tks_reader_open(&r, path), chat = 0;
	if (rc)
		return rc;
	rc = check_stream(r, path, tok, &chat);
	tk_record rec;
	tk_record_init(&rec);
	while (!rc && (rc = tk_tks_read(r, &rec)) == TK_OK)
		rc = copy_record(ps, &rec, tk_tks_reader_count(r), chat, path);
	tk_record_free(&rec);
	tk_tks_reader_close(r);
	return rc == TK_END ? TK_OK : rc;
}

/* Copies the rest of in (stdin) to a temporary file, its name in path:
 * the .tks reader reads a descriptor, so the bytes stdio has already
 * buffered must go with it. */
static int stdin_to_file(FILE *in, char *path, size_t cap)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, cap, "%s/tk-prompts-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!out) {
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return tk_fail(TK_ECANTCREAT, "cannot make a temporary file for the stream on stdin");
	}
	char buf[1 << 16];
	size_t n;
	int rc = TK_OK;
	while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = tk_fail(TK_EIO, "%s: write failed", path);
	if (!rc && ferror(in))
		rc = tk_fail(TK_EIO, "stdin: read error");
	if (fclose(out) && !rc)
		rc = tk_fail(TK_EIO, "%s: write failed", path);
	if (rc)
		unlink(path);
	return rc;
}

/* A .tks on stdin goes through a temporary file, named in its messages. */
static int read_tks_input(tk_prompts *ps, FILE *in, const char *path, const tk_tokenizer *tok)
{
	char tmp[4096];
	int from_stdin = in == stdin;
	int rc = from_stdin ? stdin_to_file(in, tmp, sizeof tmp) : TK_OK;
	tk_close_input(in);
	if (rc)
		return rc;
	rc = read_tks(ps, from_stdin ? tmp : path, tok);
	if (from_stdin)
		unlink(tmp);
	return rc;
}

int tk_prompts_read(tk_prompts *ps, const char *path, const tk_tokenizer *tok,
		    const tk_renderer *r)
{
	memset(ps, 0, sizeof *ps);
	FILE *in;
	int rc = tk_open_input(&in, path);
	if (rc)
		return rc;
	int c = getc(in);
	if (c != EOF)
		ungetc(c, in);
	if (c == 0x28) { // zstd's magic is 28 b5 2f fd; anything else is JSON Lines
		rc = read_tks_input(ps, in, path, tok);
	} else {
		rc = read_jsonl(ps, in, path, tok, r);
		tk_close_input(in);
	}
	if (!rc && ps->n == 0)
		rc = tk_fail(TK_EDATA, "%s: no prompts in the input", strcmp(path, "-") ? path : "stdin");
	return rc;
}
