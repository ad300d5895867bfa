/* Bad input never crashes: mutated JSON lines through the three line
 * parsers and every renderer, random ids through response parsing and
 * --show.  Deterministic (tkt's generator); run under `make asan` it is the
 * sanitizer's fuzz pass over the render code. */
#include "tk_error.h"
#include "tk_render.h"
#include "tkt.h"

#define FIX "tests/fixtures/render/"
#define ROUNDS 20000

static const char *const lines[] = {
	("{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":"
	 "\"Gr\\u00fc\\u00dfe \\\"q\\\" {x}\"},{\"role\":\"assistant\",\"content\":\"<think>\\nr\\n"
	 "</think>\\n\\nA\",\"reasoning_content\":null}],\"id\":1}"),
	("{\"prompt\":[{\"role\":\"user\",\"content\":\"Q\"}],\"chosen\":\"A\",\"rejected\":"
	 "{\"role\":\"assistant\",\"content\":\"B\"}}"),
	"{\"text\":\"plain \\ud83d\\ude80 text\",\"meta\":[1,2,{\"k\":null}]}",
};

static const char tokens[] = "{}[]\":,\\ u0123456789abcdefnrt<|>\n\x80\xff";

static void mutate(char *buf, size_t *len, size_t cap)
{
	int edits = 1 + (int)(tkt_rand64() % 4);
	for (int e = 0; e < edits && *len; e++) {
		size_t at = tkt_rand64() % *len;
		switch (tkt_rand64() % 4) {
		case 0: /* replace */
			buf[at] = tokens[tkt_rand64() % (sizeof tokens - 1)];
			break;
		case 1: /* cut */
			*len = at;
			break;
		case 2: /* delete */
			memmove(buf + at, buf + at + 1, *len - at - 1);
			(*len)--;
			break;
		default: /* insert */
			if (*len + 1 < cap) {
				memmove(buf + at + 1, buf + at, *len - at);
				buf[at] = tokens[tkt_rand64() % (sizeof tokens - 1)];
				(*len)++;
			}
		}
	}
	buf[*len] = '\0';
}

static tk_tokenizer *load(const char *dir)
{
	char json[256], config[256];
	snprintf(json, sizeof json, "%s/tokenizer.json", dir);
	snprintf(config, sizeof config, "%s/tokenizer_config.json", dir);
	tk_tokenizer *tok = NULL;
	return tk_tokenizer_load_json(&tok, json, config) ? NULL : tok;
}

static void render_all(tk_renderer *const *rs, size_t n_rs, tk_chat *c, int kind,
		       tk_rendered *out)
{
	for (size_t i = 0; i < n_rs; i++) {
		if (kind == 0 && c->n) {
			tk_render_mark(c->msgs, c->n, (int)(tkt_rand64() % 3));
			tk_render(rs[i], c->msgs, c->n, (unsigned)(tkt_rand64() % 4), out);
		}
		if (kind == 1) {
			tk_render(rs[i], c->msgs, c->n, 0, out);
			tk_render(rs[i], c->alt, c->n_alt, 0, out);
		}
	}
}

static void test_mutated_lines(void)
{
	tk_tokenizer *tiny = load("tests/fixtures/tiny-tokenizer");
	tk_tokenizer *llama = load(FIX "tiny-llama3");
	tk_tokenizer *qwen = load(FIX "tiny-qwen3");
	TKT_CHECK(tiny && llama && qwen, "tokenizers: %s", tk_error_message());
	if (!tiny || !llama || !qwen)
		return;
	tk_renderer *rs[4] = {0};
	tk_renderer_open(&rs[0], "chatml", tiny);
	tk_renderer_open(&rs[1], "llama3", llama);
	tk_renderer_open(&rs[2], "qwen3", qwen);
	tk_renderer_open(&rs[3], "role-colon", tiny);
	tk_chat c = {0};
	tk_rendered out = {0};
	char buf[1024];
	int parsed = 0;
	for (int round = 0; round < ROUNDS; round++) {
		int kind = round % 3;
		size_t len = strlen(lines[kind]);
		memcpy(buf, lines[kind], len + 1);
		mutate(buf, &len, sizeof buf);
		int rc = kind == 0 ? tk_chat_parse(&c, buf, len) :
			 kind == 1 ? tk_chat_parse_pair(&c, buf, len) : tk_chat_parse_text(&c, buf, len);
		TKT_CHECK(rc == TK_OK || rc == TK_EDATA, "rc %d: %s", rc, tk_error_message());
		TKT_CHECK(rc == TK_OK || *tk_error_message(), "an error without a message");
		if (rc == TK_OK) {
			parsed++;
			render_all(rs, 4, &c, kind, &out);
		}
	}
	printf("# %d of %d mutated lines still parsed\n", parsed, ROUNDS);
	tk_chat_free(&c);
	tk_rendered_free(&out);
	for (int i = 0; i < 4; i++)
		tk_renderer_free(rs[i]);
	tk_tokenizer_free(tiny);
	tk_tokenizer_free(llama);
	tk_tokenizer_free(qwen);
}

static void test_random_ids(void)
{
	tk_tokenizer *qwen = load(FIX "tiny-qwen3");
	tk_renderer *r = NULL;
	if (!qwen || tk_renderer_open(&r, "qwen3", qwen))
		return;
	FILE *null = fopen("/dev/null", "w");
	int32_t ids[64];
	float weights[64];
	size_t vocab = tk_tokenizer_vocab_size(qwen);
	for (int round = 0; round < 2000; round++) {
		size_t n = tkt_rand64() % 64;
		for (size_t i = 0; i < n; i++) {
			ids[i] = (int32_t)(tkt_rand64() % vocab);
			weights[i] = (float)(tkt_rand64() % 3) * 0.5f;
		}
		tk_response resp;
		TKT_CHECK(tk_render_parse_response(r, ids, n, &resp) == TK_OK, "%s", tk_error_message());
		tk_response_free(&resp);
		tk_record rec;
		tk_record_init(&rec);
		rec.n = n;
		rec.tokens = ids;
		rec.weights = weights;
		TKT_CHECK(tk_render_show_text(null, qwen, &rec, 1, round & 1) == TK_OK, "show");
		TKT_CHECK(tk_render_show_json(null, qwen, &rec, 1) == TK_OK, "json");
	}
	fclose(null);
	tk_renderer_free(r);
	tk_tokenizer_free(qwen);
}

int main(void)
{
	TKT_RUN(test_mutated_lines);
	TKT_RUN(test_random_ids);
	return tkt_done();
}
