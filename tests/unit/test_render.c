/* Renderers against the oracle: for every conversation of
 * tests/fixtures/render/chats.jsonl and tool-chats.jsonl (tools, tool
 * calls, tool messages, "trainable"), the text and ids tk renders equal
 * what transformers' apply_chat_template made of it (expected.jsonl,
 * written by scripts/oracle/render_fixtures.py), and the weights equal the
 * assistant masks, for the tiny tokenizer (chatml), its Llama 3, Llama 3.1,
 * Qwen2.5 and Qwen3 extensions, and SmolLM2 when its GGUF is on this
 * machine.  The renderer is the one detected from each model's chat
 * template. */
#include "tk_error.h"
#include "tk_model.h"
#include "tk_render.h"
#include "tkt.h"

#include <cjson/cJSON.h>
#include <glob.h>

#define FIX "tests/fixtures/render/"
#define MAX_CHATS 64

/* The conversations of chats.jsonl (set 0) and tool-chats.jsonl (set 1). */
static char *chat_lines[2][MAX_CHATS];
static size_t n_chats[2];

static void load_chats(int set, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	while (f && n_chats[set] < MAX_CHATS && getline(&line, &cap, f) > 0)
		chat_lines[set][n_chats[set]++] = strdup(line);
	free(line);
	if (f)
		fclose(f);
}

/* The SmolLM2 GGUF: $TK_SMOLLM2, or where scripts/get-model.sh and the
 * wheel put it. */
static char *smollm2_path(void)
{
	const char *env = getenv("TK_SMOLLM2");
	if (env && *env)
		return strdup(env);
	const char *home = getenv("HOME");
	char pattern[2][1024];
	snprintf(pattern[0], sizeof pattern[0], "%s/.cache/tk/models/*mol*135*nstruct*.gguf", home);
	snprintf(pattern[1], sizeof pattern[1], "%s/.cache/tk/smollm2/*/*mol*135*nstruct*.gguf", home);
	for (int i = 0; i < 2; i++) {
		glob_t g;
		if (glob(pattern[i], 0, NULL, &g) == 0 && g.gl_pathc) {
			char *p = strdup(g.gl_pathv[0]);
			globfree(&g);
			return p;
		}
		globfree(&g);
	}
	return NULL;
}

/* One model's tokenizer, loaded once. */
typedef struct model {
	const char *name;
	tk_tokenizer *tok;
	tk_model *full;
	int tried;
} model;

static model models[] = {{"tiny-tokenizer", 0, 0, 0}, {"tiny-llama3", 0, 0, 0},
			 {"tiny-qwen3", 0, 0, 0}, {"tiny-qwen25", 0, 0, 0},
			 {"tiny-llama31", 0, 0, 0}, {"smollm2", 0, 0, 0}};

static const tk_tokenizer *tokenizer_of(const char *name)
{
	for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
		model *m = &models[i];
		if (strcmp(m->name, name))
			continue;
		if (m->tried)
			return m->tok;
		m->tried = 1;
		if (!strcmp(name, "smollm2")) {
			char *path = smollm2_path();
			if (path && tk_model_load(&m->full, path) == TK_OK)
				m->tok = m->full->tokenizer;
			free(path);
			return m->tok;
		}
		char dir[256], json[300], config[300];
		snprintf(dir, sizeof dir, "%s%s", strcmp(name, "tiny-tokenizer") ? FIX : "tests/fixtures/", name);
		snprintf(json, sizeof json, "%s/tokenizer.json", dir);
		snprintf(config, sizeof config, "%s/tokenizer_config.json", dir);
		if (tk_tokenizer_load_json(&m->tok, json, config))
			printf("# %s: %s\n", name, tk_error_message());
		return m->tok;
	}
	return NULL;
}

static int equal_ids(const cJSON *want, const tk_tokens *got)
{
	if (!cJSON_IsArray(want) || (size_t)cJSON_GetArraySize(want) != got->n)
		return 0;
	size_t i = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, want)
		if (v->valueint != got->ids[i++])
			return 0;
	return 1;
}

static void print_ids(const char *what, const tk_tokens *t)
{
	printf("#   %s:", what);
	for (size_t i = 0; i < t->n && i < 80; i++)
		printf(" %d", t->ids[i]);
	printf("\n");
}

/* Weights equal the mask, except the first token (never weighted). */
static size_t weight_mismatch(const cJSON *mask, const tk_rendered *r)
{
	if ((size_t)cJSON_GetArraySize(mask) != r->ids.n)
		return 0;
	size_t i = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, mask) {
		float want = i == 0 ? 0.0f : (float)v->valueint;
		if (r->weights[i] != want)
			return i + 1;
		i++;
	}
	return 0;
}

typedef struct counts { int lines, compared, skipped; } counts;

static void check_training(const tk_renderer *rr, tk_chat *chat, const cJSON *want,
			   const char *label)
{
	tk_rendered out = {0};
	static const char *const keys[] = {"mask_last", "mask_all", "mask_turn"};
	static const int modes[] = {TK_TRAIN_LAST_ASSISTANT, TK_TRAIN_ALL_ASSISTANT,
				    TK_TRAIN_LAST_TURN};
	for (int mode = 0; mode < 3; mode++) {
		const cJSON *mask = cJSON_GetObjectItem(want, keys[mode]);
		if (mode == 2 && !mask)
			continue;
		TKT_CHECK(tk_render_mark(chat->msgs, chat->n, modes[mode]) == TK_OK, "%s: %s",
			  label, tk_error_message());
		TKT_CHECK(tk_render_chat(rr, chat, 0, &out) == TK_OK, "%s: %s",
			  label, tk_error_message());
		const char *text = cJSON_GetObjectItem(want, "text")->valuestring;
		TKT_CHECK(!strcmp(out.text, text), "%s: text\n#   got  %s\n#   want %s", label,
			  out.text, text);
		int same = equal_ids(cJSON_GetObjectItem(want, "ids"), &out.ids);
		TKT_CHECK(same, "%s: ids differ", label);
		if (!same)
			print_ids("got", &out.ids);
		if (!mask)
			continue;
		TKT_CHECK((size_t)cJSON_GetArraySize(mask) == out.ids.n, "%s: mask length", label);
		size_t bad = weight_mismatch(mask, &out);
		TKT_CHECK(bad == 0, "%s %s: weight of token %zu is %g", label, keys[mode],
			  bad - 1, bad ? out.weights[bad - 1] : 0);
	}
	tk_rendered_free(&out);
}

static void check_prompt(const tk_renderer *rr, tk_chat *chat, const cJSON *want,
			 const char *key_text, const char *key_ids, const char *label)
{
	if (!cJSON_GetObjectItem(want, key_text))
		return;
	size_t n = chat->n;
	if (n && chat->msgs[n - 1].role == TK_ROLE_ASSISTANT)
		n--;
	tk_rendered out = {0};
	tk_chat prompt = *chat;
	prompt.n = n;
	TKT_CHECK(tk_render_chat(rr, &prompt, TK_RENDER_GENERATION_PROMPT, &out) == TK_OK,
		  "%s: %s", label, tk_error_message());
	const char *text = cJSON_GetObjectItem(want, key_text)->valuestring;
	TKT_CHECK(!strcmp(out.text, text), "%s: %s\n#   got  %s\n#   want %s", label, key_text,
		  out.text, text);
	TKT_CHECK(equal_ids(cJSON_GetObjectItem(want, key_ids), &out.ids), "%s: %s", label, key_ids);
	for (size_t i = 0; i < out.ids.n; i++)
		TKT_CHECK(out.weights[i] == 0, "%s: prompt weight %zu", label, i);
	tk_rendered_free(&out);
}

static void check_line(const cJSON *want, counts *c)
{
	const char *name = cJSON_GetObjectItem(want, "model")->valuestring;
	const char *renderer = cJSON_GetObjectItem(want, "renderer")->valuestring;
	int k = cJSON_GetObjectItem(want, "chat")->valueint;
	int set = cJSON_GetObjectItem(want, "chats") != NULL;
	char label[128];
	snprintf(label, sizeof label, "%s/%s %schat %d", name, renderer, set ? "tool " : "", k);
	c->lines++;
	const tk_tokenizer *tok = tokenizer_of(name);
	if (!tok) {
		c->skipped++;
		return;
	}
	tk_renderer *rr = NULL;
	TKT_CHECK(tk_renderer_detect(&rr, tok) == TK_OK, "%s: %s", label, tk_error_message());
	if (!rr)
		return;
	TKT_CHECK(!strcmp(tk_renderer_name(rr), renderer), "%s: detected %s", label,
		  tk_renderer_name(rr));
	tk_chat chat = {0};
	TKT_CHECK(k >= 0 && (size_t)k < n_chats[set], "%s: no such chat", label);
	const char *line = k >= 0 && (size_t)k < n_chats[set] ? chat_lines[set][k] : NULL;
	int parsed = line && tk_chat_parse(&chat, line, strlen(line)) == TK_OK;
	TKT_CHECK(!line || parsed, "%s: %s", label, tk_error_message());
	if (parsed) {
		check_training(rr, &chat, want, label);
		check_prompt(rr, &chat, want, "prompt_text", "prompt_ids", label);
		tk_renderer *nothink = NULL;
		if (tk_renderer_open(&nothink, "qwen3-nothink", tok) == TK_OK)
			check_prompt(nothink, &chat, want, "prompt_nothink_text",
				     "prompt_nothink_ids", label);
		tk_renderer_free(nothink);
		c->compared++;
	}
	tk_chat_free(&chat);
	tk_renderer_free(rr);
}

static void test_oracle(void)
{
	load_chats(0, FIX "chats.jsonl");
	load_chats(1, FIX "tool-chats.jsonl");
	TKT_CHECK(n_chats[0] >= 10, "%zu chats in " FIX "chats.jsonl", n_chats[0]);
	TKT_CHECK(n_chats[1] >= 6, "%zu chats in " FIX "tool-chats.jsonl", n_chats[1]);
	FILE *f = fopen(FIX "expected.jsonl", "r");
	TKT_CHECK(f != NULL, "cannot open " FIX "expected.jsonl");
	if (!f)
		return;
	counts c = {0};
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		cJSON *want = cJSON_Parse(line);
		TKT_CHECK(want != NULL, "bad expected line");
		if (want)
			check_line(want, &c);
		cJSON_Delete(want);
	}
	free(line);
	fclose(f);
	printf("# %d oracle renderings, %d compared, %d skipped (model not here)\n",
	       c.lines, c.compared, c.skipped);
	TKT_CHECK(c.compared >= 46, "only %d compared", c.compared);
}

static void test_smollm2_default_system(void)
{
	const tk_tokenizer *tok = tokenizer_of("smollm2");
	if (!tok)
		TKT_SKIP("SmolLM2 GGUF not found (scripts/get-model.sh smollm2-135m-instruct)");
	tk_renderer *r = NULL;
	TKT_CHECK(tk_renderer_detect(&r, tok) == TK_OK, "%s", tk_error_message());
	const char *sys = r ? tk_renderer_default_system(r) : NULL;
	TKT_CHECK(sys && !strcmp(sys, "You are a helpful AI assistant named SmolLM, "
				 "trained by Hugging Face"), "default system %s", sys ? sys : "(none)");
	tk_renderer_free(r);
}

int main(void)
{
	TKT_RUN(test_oracle);
	TKT_RUN(test_smollm2_default_system);
	for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
		if (models[i].full)
			tk_model_free(models[i].full);
		else if (models[i].tok)
			tk_tokenizer_free(models[i].tok);
	}
	for (int set = 0; set < 2; set++)
		for (size_t i = 0; i < n_chats[set]; i++)
			free(chat_lines[set][i]);
	return tkt_done();
}
