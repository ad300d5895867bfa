/* Prompts to sample from (lib/render/render_prompts.c): raw text and chat
 * lines with their ids and fields, a final assistant message kept as the
 * reference, token streams of prompts, and errors named by file and line. */
#include "tk_error.h"
#include "tk_render.h"
#include "tk_tks.h"
#include "tkt.h"

#include <inttypes.h>

#define TINY "tests/fixtures/tiny-llama/"

static tk_tokenizer *tokenizer(void)
{
	static tk_tokenizer *tok;
	if (!tok && tk_tokenizer_load_json(&tok, TINY "tokenizer.json", TINY "tokenizer_config.json"))
		printf("# %s\n", tk_error_message());
	return tok;
}

static tk_renderer *renderer(void)
{
	static tk_renderer *r;
	if (!r && tokenizer() && tk_renderer_open(&r, "chatml", tokenizer()))
		printf("# %s\n", tk_error_message());
	return r;
}

static int same_ids(const tk_tokens *a, const tk_tokens *b)
{
	return a->n == b->n && (a->n == 0 || !memcmp(a->ids, b->ids, a->n * sizeof *a->ids));
}

static int parse(tk_prompt *p, const char *line, const tk_renderer *r)
{
	return tk_prompt_parse(p, line, strlen(line), tokenizer(), r);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_text_prompt(void)
{
	if (!tokenizer())
		TKT_SKIP("no tokenizer");
	tk_prompt p;
	int rc = parse(&p, "{\"prompt\": \"Once upon\", \"id\": 7, \"topic\": \"t\"}\n", NULL);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	tk_tokens want = {0};
	tk_tokenizer_encode(tokenizer(), "Once upon", 9, TK_ENCODE_SPECIAL | TK_ENCODE_ADD_BOS, &want);
	TKT_CHECK(same_ids(&p.ids, &want), "%zu ids, want %zu", p.ids.n, want.n);
	TKT_CHECK(p.id_json && !strcmp(p.id_json, "7"), "id %s", p.id_json);
	TKT_CHECK(p.meta_json && !strcmp(p.meta_json, "{\"topic\":\"t\"}"), "meta %s", p.meta_json);
	TKT_CHECK(!p.chat, "a raw prompt is not a chat");
	tk_tokens_free(&want);
	tk_prompt_free(&p);
	// no id, no other field: both NULL
	TKT_CHECK(parse(&p, "{\"prompt\": \"x\"}", NULL) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(!p.id_json && !p.meta_json, "id %s meta %s", p.id_json, p.meta_json);
	tk_prompt_free(&p);
}

static void test_chat_prompt(void)
{
	if (!renderer())
		TKT_SKIP("no renderer");
	const char *line = "{\"messages\": [{\"role\": \"user\", \"content\": \"2+2?\"}, "
			   "{\"role\": \"assistant\", \"content\": \"4\"}], \"id\": \"q\"}";
	tk_prompt p;
	TKT_CHECK(parse(&p, line, renderer()) == TK_OK, "%s", tk_error_message());
	tk_message user = {.role = TK_ROLE_USER, .content = "2+2?", .content_len = 4};
	tk_rendered want = {0};
	tk_render(renderer(), &user, 1, TK_RENDER_GENERATION_PROMPT, &want);
	TKT_CHECK(same_ids(&p.ids, &want.ids), "the answer is not part of the prompt");
	TKT_CHECK(p.chat == 1, "chat %d", p.chat);
	TKT_CHECK(p.id_json && !strcmp(p.id_json, "\"q\""), "id %s", p.id_json);
	TKT_CHECK(p.meta_json && !strcmp(p.meta_json, "{\"reference\":\"4\"}"), "meta %s",
		  p.meta_json);
	tk_rendered_free(&want);
	tk_prompt_free(&p);
	// a reference of its own is kept
	line = "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", "
	       "\"content\": \"a\"}], \"reference\": \"keep\"}";
	TKT_CHECK(parse(&p, line, renderer()) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(p.meta_json && !strcmp(p.meta_json, "{\"reference\":\"keep\"}"), "meta %s",
		  p.meta_json);
	tk_prompt_free(&p);
}

static void test_bad_lines(void)
{
	if (!renderer())
		TKT_SKIP("no renderer");
	static const struct { const char *line, *message; int rc; } bad[] = {
		{"{\"text\": \"a\"}", "neither \"messages\" nor \"prompt\"", TK_EDATA},
		{"{\"prompt\": 5}", "\"prompt\" is not a string", TK_EDATA},
		{"{\"prompt\": \"\"}", "the prompt is empty", TK_EDATA},
		{"{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}]}",
		 "no message to prompt with", TK_EDATA},
		{"{\"prompt\": \"a\"} {}", "text after the JSON object", TK_EDATA},
		{"[1]", "not a JSON object", TK_EDATA},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		tk_prompt p;
		int rc = parse(&p, bad[i].line, renderer());
		TKT_CHECK(rc == bad[i].rc && strstr(tk_error_message(), bad[i].message),
			  "%s: %d %s", bad[i].line, rc, tk_error_message());
		tk_prompt_free(&p);
	}
	tk_prompt p;
	int rc = parse(&p, "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}", NULL);
	TKT_CHECK(rc == TK_ECONFIG && !strcmp(tk_error_message(), "messages need a chat renderer"),
		  "%d %s", rc, tk_error_message());
	tk_prompt_free(&p);
}

static void test_read_jsonl(void)
{
	if (!renderer())
		TKT_SKIP("no renderer");
	char path[512], msg[600];
	tkt_scratch_path(path, sizeof path, "prompts.jsonl");
	write_file(path, "{\"prompt\": \"a\"}\n\n   \n"
			 "{\"messages\": [{\"role\": \"user\", \"content\": \"b\"}], \"id\": 3}\n");
	tk_prompts ps;
	TKT_CHECK(tk_prompts_read(&ps, path, tokenizer(), renderer()) == TK_OK, "%s",
		  tk_error_message());
	TKT_CHECK(ps.n == 2 && ps.v[0].line == 1 && ps.v[1].line == 4 && !ps.v[0].chat &&
		  ps.v[1].chat, "%zu prompts", ps.n);
	tk_prompts_free(&ps);
	TKT_CHECK(ps.n == 0 && !ps.v, "freed and zeroed");

	write_file(path, "{\"prompt\": \"a\"}\n{\"messages\": [}\n");
	int rc = tk_prompts_read(&ps, path, tokenizer(), renderer());
	snprintf(msg, sizeof msg, "%s:2: ", path);
	TKT_CHECK(rc == TK_EDATA && !strncmp(tk_error_message(), msg, strlen(msg)), "%s",
		  tk_error_message());
	tk_prompts_free(&ps);

	write_file(path, "{\"messages\": [{\"role\": \"user\", \"content\": \"b\"}]}\n");
	rc = tk_prompts_read(&ps, path, tokenizer(), NULL);
	snprintf(msg, sizeof msg, "%s:1: messages need a chat renderer", path);
	TKT_CHECK(rc == TK_ECONFIG && !strcmp(tk_error_message(), msg), "%s", tk_error_message());
	tk_prompts_free(&ps);

	write_file(path, "\n");
	rc = tk_prompts_read(&ps, path, tokenizer(), renderer());
	snprintf(msg, sizeof msg, "%s: no prompts in the input", path);
	TKT_CHECK(rc == TK_EDATA && !strcmp(tk_error_message(), msg), "%s", tk_error_message());
	tk_prompts_free(&ps);

	rc = tk_prompts_read(&ps, "tests/fixtures/no-such-prompts.jsonl", tokenizer(), NULL);
	TKT_CHECK(rc == TK_ENOINPUT, "%d %s", rc, tk_error_message());
	tk_prompts_free(&ps);
}

/* A stream of two prompts, made with the fingerprint fp. */
static int write_stream(const char *path, const char *fp, size_t n_second)
{
	char meta[256];
	snprintf(meta, sizeof meta, "{\"tokenizer\": \"%s\", \"renderer\": \"chatml\"}", fp);
	tk_tks_writer *w;
	int rc = tk_tks_writer_open(&w, path, meta, 1);
	if (rc)
		return rc;
	int32_t tokens[] = {1, 2, 3};
	float weights[3] = {0};
	tk_record rec;
	tk_record_init(&rec);
	rec.n = 3;
	rec.tokens = tokens;
	rec.weights = weights;
	rec.meta = "{\"id\": \"a\", \"k\": 1}";
	rc = tk_tks_write(w, &rec);
	rec.n = n_second;
	rec.meta = NULL;
	if (!rc)
		rc = tk_tks_write(w, &rec);
	if (rc) {
		tk_tks_writer_abort(w);
		return rc;
	}
	return tk_tks_writer_close(w);
}

static void test_read_tks(void)
{
	if (!tokenizer())
		TKT_SKIP("no tokenizer");
	char path[512], fp[17], msg[600];
	tkt_scratch_path(path, sizeof path, "prompts.tks");
	snprintf(fp, sizeof fp, "%016" PRIx64, tk_tokenizer_fingerprint(tokenizer()));
	TKT_CHECK(write_stream(path, fp, 2) == TK_OK, "%s", tk_error_message());
	tk_prompts ps;
	TKT_CHECK(tk_prompts_read(&ps, path, tokenizer(), NULL) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(ps.n == 2 && ps.v[0].ids.n == 3 && ps.v[1].ids.n == 2 && ps.v[0].ids.ids[2] == 3,
		  "%zu prompts", ps.n);
	TKT_CHECK(ps.n == 2 && ps.v[0].chat && ps.v[1].chat && ps.v[1].line == 2,
		  "a stream with a renderer holds chats, records numbered from 1");
	TKT_CHECK(ps.n && ps.v[0].id_json && !strcmp(ps.v[0].id_json, "\"a\"") &&
		  ps.v[0].meta_json && !strcmp(ps.v[0].meta_json, "{\"k\":1}"),
		  "id %s meta %s", ps.v[0].id_json, ps.v[0].meta_json);
	TKT_CHECK(ps.n == 2 && !ps.v[1].id_json && !ps.v[1].meta_json, "no meta: nothing");
	tk_prompts_free(&ps);

	TKT_CHECK(write_stream(path, "0123456789abcdef", 2) == TK_OK, "%s", tk_error_message());
	int rc = tk_prompts_read(&ps, path, tokenizer(), NULL);
	snprintf(msg, sizeof msg, "%s: made with another tokenizer (0123456789abcdef) than the "
		 "model's (%s)", path, fp);
	TKT_CHECK(rc == TK_EDATA && !strcmp(tk_error_message(), msg), "%s", tk_error_message());
	tk_prompts_free(&ps);

	TKT_CHECK(write_stream(path, fp, 0) == TK_OK, "%s", tk_error_message());
	rc = tk_prompts_read(&ps, path, tokenizer(), NULL);
	snprintf(msg, sizeof msg, "%s: record 2: an empty prompt", path);
	TKT_CHECK(rc == TK_EDATA && !strcmp(tk_error_message(), msg), "%s", tk_error_message());
	tk_prompts_free(&ps);
}

int main(void)
{
	TKT_RUN(test_text_prompt);
	TKT_RUN(test_chat_prompt);
	TKT_RUN(test_bad_lines);
	TKT_RUN(test_read_jsonl);
	TKT_RUN(test_read_tks);
	tk_renderer_free(renderer());
	tk_tokenizer_free(tokenizer());
	return tkt_done();
}
