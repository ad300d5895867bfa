/* Chat JSON Lines: a conversation line parsed as a chat, a preference pair
 * and a text line (tk_chat_parse*), then marked and rendered with every
 * renderer the fixture tokenizers support, with and without a generation
 * prompt; the same bytes parsed back as a sampled response.  Properties:
 * one weight per id, none on the first token, weights 0 or 1; and with
 * tiny-llama's tokenizer (which round-trips every byte string) the ids
 * decode to exactly the rendered text. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_render.h"
#include "tk_tokenizer.h"

#define MAX_RENDERERS 16

static tk_tokenizer *tokenizers[3];
static tk_renderer *renderers[MAX_RENDERERS];
static int round_trips[MAX_RENDERERS];  /* its tokenizer is tiny-llama's */
static size_t n_renderers;

static tk_tokenizer *load(const char *dir)
{
	char json[4096], config[4096];
	snprintf(json, sizeof json, "%s/tokenizer.json", fuzz_fixture(dir));
	snprintf(config, sizeof config, "%s/tokenizer_config.json", fuzz_fixture(dir));
	tk_tokenizer *tok;
	if (tk_tokenizer_load_json(&tok, json, config)) {
		fprintf(stderr, "fuzz_chat: %s\n", tk_error_message());
		exit(1);
	}
	return tok;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	tokenizers[0] = load("tiny-llama");
	tokenizers[1] = load("render/tiny-llama3");
	tokenizers[2] = load("render/tiny-qwen3");
	for (size_t t = 0; t < 3; t++)
		for (size_t i = 0; tk_renderer_names[i] && n_renderers < MAX_RENDERERS; i++)
			if (tk_renderer_open(&renderers[n_renderers], tk_renderer_names[i],
					     tokenizers[t]) == TK_OK)
				round_trips[n_renderers++] = t == 0;
	tk_error_clear();
	if (n_renderers < 3) {
		fprintf(stderr, "fuzz_chat: only %zu renderers open on the fixtures\n", n_renderers);
		exit(1);
	}
	return 0;
}

static void require_decodes_to_text(const tk_renderer *r, const tk_rendered *out)
{
	char *text;
	size_t len;
	FUZZ_REQUIRE(tk_tokenizer_decode(tk_renderer_tokenizer(r), out->ids.ids, out->ids.n, 0,
					 &text, &len) == TK_OK, "decode: %s", tk_error_message());
	FUZZ_REQUIRE(len == out->text_len && !memcmp(text, out->text, len),
		     "%s: the ids decode to other text than the rendered one", tk_renderer_name(r));
	free(text);
}

static void render_all(const tk_message *msgs, size_t n, tk_rendered *out)
{
	for (size_t i = 0; i < n_renderers; i++)
		for (unsigned flags = 0; flags <= TK_RENDER_GENERATION_PROMPT; flags++) {
			if (tk_render(renderers[i], msgs, n, flags, out) != TK_OK)
				continue;
			FUZZ_REQUIRE(!out->ids.n || out->weights[0] == 0,
				     "%s: the first token has a weight", tk_renderer_name(renderers[i]));
			for (size_t k = 0; k < out->ids.n; k++)
				FUZZ_REQUIRE(out->weights[k] == 0 || out->weights[k] == 1,
					     "%s: weight %g", tk_renderer_name(renderers[i]),
					     (double)out->weights[k]);
			if (round_trips[i])
				require_decodes_to_text(renderers[i], out);
		}
}

static void render_marked(tk_chat *c, tk_rendered *out)
{
	for (int train_on = TK_TRAIN_LAST_ASSISTANT; train_on <= TK_TRAIN_ALL; train_on++)
		if (tk_render_mark(c->msgs, c->n, train_on) == TK_OK)
			render_all(c->msgs, c->n, out);
}

static void parse_back(const char *line, size_t len)
{
	for (size_t i = 0; i < n_renderers; i++) {
		tk_response resp;
		if (tk_render_parse_text(renderers[i], line, len, &resp) == TK_OK)
			FUZZ_REQUIRE(resp.content != NULL, "a parsed response without content");
		tk_response_free(&resp);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	tk_chat c = {0};
	tk_rendered out = {0};
	if (tk_chat_parse(&c, line, size) == TK_OK)
		render_marked(&c, &out);
	if (tk_chat_parse_pair(&c, line, size) == TK_OK) {
		render_all(c.msgs, c.n, &out);
		render_all(c.alt, c.n_alt, &out);
	}
	tk_chat_parse_text(&c, line, size);
	parse_back(line, size);
	tk_rendered_free(&out);
	tk_chat_free(&c);
	tk_error_clear();
	return 0;
}
