/* Samples as tk-sample writes them (lib/infer/sampler_output.c): the stops
 * of a run, a completion's text (decoded or parsed back by the renderer,
 * the final stop token left out, cut at --stop, valid UTF-8), the JSON
 * line byte for byte, and the token-stream record. */
#include "tk_error.h"
#include "tk_render.h"
#include "tk_sampler.h"
#include "tk_tks.h"
#include "tkt.h"

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

/* text's tokens, then the token end (< 0: none), into ids. */
static size_t encode(const char *text, int32_t end, int32_t *ids, size_t cap)
{
	tk_tokens t = {0};
	tk_tokenizer_encode(tokenizer(), text, strlen(text), 0, &t);
	size_t n = 0;
	for (; n < t.n && n < cap; n++)
		ids[n] = t.ids[n];
	if (end >= 0 && n < cap)
		ids[n++] = end;
	tk_tokens_free(&t);
	return n;
}

static void test_stops(void)
{
	if (!renderer())
		TKT_SKIP("no renderer");
	const char *extra[] = {"###", "\n\n"};
	tk_gen_stops st;
	tk_gen_stops_collect(&st, tokenizer(), renderer(), extra, 2);
	const int32_t *ids;
	const char *const *strings;
	size_t n_ids = tk_renderer_stop_tokens(renderer(), &ids);
	size_t n_strings = tk_renderer_stop_strings(renderer(), &strings);
	int32_t eos = tk_tokenizer_eos(tokenizer());
	TKT_CHECK(eos >= 0 && st.n_ids >= 1 && st.ids[0] == eos, "eos %d first", eos);
	for (size_t i = 0; i < n_ids; i++) {
		size_t seen = 0;
		for (size_t j = 0; j < st.n_ids; j++)
			seen += st.ids[j] == ids[i];
		TKT_CHECK(seen == 1, "renderer stop token %d once", ids[i]);
	}
	TKT_CHECK(st.n_strings == n_strings + 2 && !strcmp(st.strings[n_strings], "###") &&
		  !strcmp(st.strings[n_strings + 1], "\n\n"), "%zu strings", st.n_strings);
	tk_gen_stops_collect(&st, tokenizer(), NULL, extra, 1);
	TKT_CHECK(st.n_ids == 1 && st.ids[0] == eos && st.n_strings == 1, "without a renderer: "
		  "%zu ids, %zu strings", st.n_ids, st.n_strings);
}

static void test_text(void)
{
	if (!renderer())
		TKT_SKIP("no renderer");
	int32_t eos = tk_tokenizer_eos(tokenizer()), ids[64];
	size_t n = encode("hello world", eos, ids, 64);
	tk_gen_stops st;
	tk_gen_stops_collect(&st, tokenizer(), renderer(), NULL, 0);
	tk_sample_format f = {.tok = tokenizer(), .renderer = renderer(), .stop_ids = st.ids,
			      .n_stop_ids = st.n_ids};
	tk_prompt raw = {0}, chat = {.chat = 1};
	tk_gen_result r = {.tokens = ids, .n = n, .finish = TK_FINISH_STOP};
	char *text = NULL;
	TKT_CHECK(tk_sample_text(&f, &raw, &r, &text) == TK_OK && !strcmp(text, "hello world"),
		  "the final stop token is not text: '%s'", text);
	free(text);
	// a completion cut by its length keeps its last token, whatever it is
	r.finish = TK_FINISH_LENGTH;
	TKT_CHECK(tk_sample_text(&f, &raw, &r, &text) == TK_OK && strlen(text) > 11 &&
		  !strncmp(text, "hello world", 11), "'%s'", text);
	free(text);
	// a chat prompt's completion is parsed back by the renderer
	size_t m = encode("hi there", st.n_ids > 1 ? st.ids[1] : eos, ids, 64);
	r = (tk_gen_result){.tokens = ids, .n = m, .finish = TK_FINISH_STOP};
	TKT_CHECK(tk_sample_text(&f, &chat, &r, &text) == TK_OK && !strcmp(text, "hi there"),
		  "'%s'", text);
	free(text);
	// cut at the first --stop string it holds
	const char *cuts[] = {"z", "re", " t"};
	f.cuts = cuts;
	f.n_cuts = 3;
	TKT_CHECK(tk_sample_text(&f, &chat, &r, &text) == TK_OK && !strcmp(text, "hi"), "'%s'",
		  text);
	free(text);
	// empty completions (arrays may be NULL)
	r = (tk_gen_result){.finish = TK_FINISH_LENGTH};
	TKT_CHECK(tk_sample_text(&f, &raw, &r, &text) == TK_OK && !strcmp(text, ""), "'%s'", text);
	free(text);
}

static void test_json(void)
{
	if (!tokenizer())
		TKT_SKIP("no tokenizer");
	int32_t ids[64];
	size_t n = encode("ab", -1, ids, 64);
	float lp[64] = {-0.5f, -1.25f, -3.0f};
	tk_sample_format f = {.tok = tokenizer(), .logprobs = 1};
	tk_prompt p = {.meta_json = "{\"topic\":\"x\"}"};
	tk_gen_result r = {.tokens = ids, .logprobs = lp, .n = n, .finish = TK_FINISH_LENGTH};
	char *line = NULL, want[512], list[128] = "", lps[128] = "";
	for (size_t i = 0; i < n; i++) {
		size_t at = strlen(list), at2 = strlen(lps);
		snprintf(list + at, sizeof list - at, "%s%d", i ? "," : "", (int)ids[i]);
		snprintf(lps + at2, sizeof lps - at2, "%s%.7g", i ? "," : "", (double)lp[i]);
	}
	snprintf(want, sizeof want, "{\"id\":4,\"meta\":{\"topic\":\"x\"},\"sample\":2,\"text\":\"ab\","
		 "\"tokens\":[%s],\"logprobs\":[%s],\"finish\":\"length\"}", list, lps);
	TKT_CHECK(tk_sample_json(&f, &p, 4, 2, &r, &line) == TK_OK && !strcmp(line, want),
		  "got  %s\nwant %s", line, want);
	free(line);
	// an id of the input's, no meta, no logprobs
	p = (tk_prompt){.id_json = "{\"a\":[1]}"};
	f.logprobs = 0;
	r = (tk_gen_result){.finish = TK_FINISH_STOP};
	TKT_CHECK(tk_sample_json(&f, &p, 0, 0, &r, &line) == TK_OK &&
		  !strcmp(line, "{\"id\":{\"a\":[1]},\"meta\":{},\"sample\":0,\"text\":\"\","
			  "\"tokens\":[],\"finish\":\"stop\"}"), "%s", line);
	free(line);
}

/* A chat completion with a tool call: "text" without the markup, the
 * parsed calls beside it. */
static void test_json_tool_calls(void)
{
	if (!renderer())
		TKT_SKIP("no renderer");
	int32_t ids[256];
	size_t n = encode("Let me look.\n<tool_call>\n{\"name\": \"search\", \"arguments\": "
			  "{\"q\": \"tk\"}}\n</tool_call>", -1, ids, 256);
	tk_sample_format f = {.tok = tokenizer(), .renderer = renderer()};
	tk_prompt p = {.chat = 1};
	tk_gen_result r = {.tokens = ids, .n = n, .finish = TK_FINISH_LENGTH};
	char *line = NULL;
	TKT_CHECK(tk_sample_json(&f, &p, 0, 0, &r, &line) == TK_OK && line, "%s", tk_error_message());
	TKT_CHECK(line && strstr(line, "\"text\":\"Let me look.\",\"tool_calls\":[{\"type\": "
				   "\"function\", \"function\": {\"name\": \"search\", "
				   "\"arguments\": {\"q\": \"tk\"}}}],\"tokens\""), "%s", line);
	TKT_CHECK(line && !strstr(line, "reasoning_content"), "no thinking: %s", line);
	free(line);
}

static void test_record(void)
{
	if (!tokenizer())
		TKT_SKIP("no tokenizer");
	char path[512];
	tkt_scratch_path(path, sizeof path, "samples.tks");
	int32_t prompt_ids[] = {1, 5, 9}, ids[64];
	size_t n = encode("ab", -1, ids, 64);
	float lp[64] = {-0.5f, -1.25f, -3.0f};
	tk_sample_format f = {.tok = tokenizer()};
	tk_prompt p = {.ids = {prompt_ids, 3, 3}, .id_json = "\"q\"", .meta_json = "{\"k\":1}"};
	tk_gen_result r = {.tokens = ids, .logprobs = lp, .n = n, .finish = TK_FINISH_STOP};
	tk_tks_writer *w;
	TKT_CHECK(tk_tks_writer_open(&w, path, NULL, 1) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_sample_write_record(&f, &p, 7, 1, &r, w) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_tks_writer_close(w) == TK_OK, "%s", tk_error_message());
	tk_tks_reader *rd;
	TKT_CHECK(tk_tks_reader_open(&rd, path) == TK_OK, "%s", tk_error_message());
	tk_record rec;
	tk_record_init(&rec);
	TKT_CHECK(tk_tks_read(rd, &rec) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(rec.n == 3 + n && rec.group == 7 && rec.logprobs, "n %zu group %lld", rec.n,
		  (long long)rec.group);
	for (size_t i = 0; i < rec.n && i < 3 + n && rec.logprobs; i++) {
		int32_t tok = i < 3 ? prompt_ids[i] : ids[i - 3];
		float weight = i < 3 ? 0.0f : 1.0f, logprob = i < 3 ? 0.0f : lp[i - 3];
		TKT_CHECK(rec.tokens[i] == tok && rec.weights[i] == weight &&
			  rec.logprobs[i] == logprob, "token %zu", i);
	}
	TKT_CHECK(rec.meta && !strcmp(rec.meta, "{\"k\":1,\"id\":\"q\",\"sample\":1,"
					  "\"finish\":\"stop\",\"text\":\"ab\"}"), "meta %s", rec.meta);
	tk_record_free(&rec);
	tk_tks_reader_close(rd);
}

int main(void)
{
	TKT_RUN(test_stops);
	TKT_RUN(test_text);
	TKT_RUN(test_json);
	TKT_RUN(test_json_tool_calls);
	TKT_RUN(test_record);
	tk_renderer_free(renderer());
	tk_tokenizer_free(tokenizer());
	return tkt_done();
}
