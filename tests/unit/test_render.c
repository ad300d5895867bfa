/* Renderers against the oracle: for every conversation of
 * tests/fixtures/render/chats.jsonl, the text and ids tk renders equal
 * what transformers' apply_chat_template made of it (expected.jsonl,
 * written by scripts/oracle/render_fixtures.py), and the weights equal the
 * assistant masks, for the tiny tokenizer (chatml), its Llama 3 and Qwen3
 * extensions, and SmolLM2 when its GGUF is on this machine.  The renderer
 * is the one detected from each model's chat template. */
#include "tk_error.h"
#include "tk_model.h"
#include "tk_render.h"
#include "tkt.h"

#include <cjson/cJSON.h>
#include <glob.h>

#define FIX "tests/fixtures/render/"
#define MAX_CHATS 64

static char *chat_lines[MAX_CHATS];
static size_t n_chats;

static void load_chats(void)
{
	FILE *f = fopen(FIX "chats.jsonl", "r");
	char *line = NULL;
	size_t cap = 0;
	while (f && n_chats < MAX_CHATS && getline(&line, &cap, f) > 0)
		chat_lines[n_chats++] = strdup(line);
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
			 {"tiny-qwen3", 0, 0, 0}, {"smollm2", 0, 0, 0}};

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
	static const char *const modes[] = {"mask_last", "mask_all"};
	for (int mode = 0; mode < 2; mode++) {
		TKT_CHECK(tk_render_mark(chat->msgs, chat->n, mode) == TK_OK, "%s", label);
		TKT_CHECK(tk_render(rr, chat->msgs, chat->n, 0, &out) == TK_OK, "%s: %s",
			  label, tk_error_message());
		const char *text = cJSON_GetObjectItem(want, "text")->valuestring;
		TKT_CHECK(!strcmp(out.text, text), "%s: text\n#   got  %s\n#   want %s", label,
			  out.text, text);
		int same = equal_ids(cJSON_GetObjectItem(want, "ids"), &out.ids);
		TKT_CHECK(same, "%s: ids differ", label);
		if (!same)
			print_ids("got", &out.ids);
		const cJSON *mask = cJSON_GetObjectItem(want, modes[mode]);
		if (!mask)
			continue;
		TKT_CHECK((size_t)cJSON_GetArraySize(mask) == out.ids.n, "%s: mask length", label);
		size_t bad = weight_mismatch(mask, &out);
		TKT_CHECK(bad == 0, "%s %s: weight of token %zu is %g", label, modes[mode],
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
	TKT_CHECK(tk_render(rr, chat->msgs, n, TK_RENDER_GENERATION_PROMPT, &out) == TK_OK,
		  "%s", label);
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
	char label[128];
	snprintf(label, sizeof label, "%s/%s chat %d", name, renderer, k);
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
	TKT_CHECK(k >= 0 && (size_t)k < n_chats, "%s: no such chat", label);
	if (k >= 0 && (size_t)k < n_chats &&
	    tk_chat_parse(&chat, chat_lines[k], strlen(chat_lines[k])) == TK_OK) {
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
	load_chats();
	TKT_CHECK(n_chats >= 10, "%zu chats in " FIX "chats.jsonl", n_chats);
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
	TKT_CHECK(c.compared >= 30, "only %d compared", c.compared);
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
	for (size_t i = 0; i < n_chats; i++)
		free(chat_lines[i]);
	return tkt_done();
}
