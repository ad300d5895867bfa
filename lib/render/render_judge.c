/* The generative judge's question (tk_render.h): a conversation and two
 * replies to it, asked as one user message whose answer is the letter of
 * the better reply.  tk-render --judge writes it for training from
 * preference pairs and tk-rl --judge asks it of a group's completions, so
 * the judge is trained and used on the same words. */
#include "tk_error.h"
#include "tk_io.h"
#include "tk_render.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char judge_intro[] =
	"Two assistants replied to the conversation below. Which reply is better: more "
	"helpful, honest and harmless? Answer with the letter only, A or B.\n\n"
	"[Conversation]\n";

typedef struct text {
	char *s;
	size_t n, cap;
	int failed;
} text;

static void put(text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->n + n + 1 > t->cap) {
		size_t cap = (t->n + n + 1) * 2;
		char *p = tk_realloc(t->s, cap);
		if (!p) {
			t->failed = 1;
			return;
		}
		t->s = p, t->cap = cap;
	}
	memcpy(t->s + t->n, s, n);
	t->n += n;
	t->s[t->n] = '\0';
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

static const char *speaker(int role)
{
	return role == TK_ROLE_USER ? "User: " : role == TK_ROLE_ASSISTANT ? "Assistant: "
	       : role == TK_ROLE_SYSTEM ? "System: " : "Tool: ";
}

static char *finish(text *t, const char *a, size_t a_len, const char *b, size_t b_len)
{
	puts_(t, "\n[Reply A]\n");
	put(t, a, a_len);
	puts_(t, "\n\n[Reply B]\n");
	put(t, b, b_len);
	if (t->failed) {
		free(t->s);
		tk_fail(TK_EOSERR, "out of memory");
		return NULL;
	}
	return t->s;
}

char *tk_judge_question(const tk_message *conv, size_t n, const char *a, size_t a_len,
			const char *b, size_t b_len)
{
	text t = {0};
	puts_(&t, judge_intro);
	for (size_t i = 0; i < n; i++) {
		puts_(&t, speaker(conv[i].role));
		put(&t, conv[i].content, conv[i].content_len);
		puts_(&t, "\n");
	}
	return finish(&t, a, a_len, b, b_len);
}

int tk_judge_question_json(const char *messages_json, const char *a, const char *b, char **out)
{
	cJSON *msgs = cJSON_Parse(messages_json);
	if (!cJSON_IsArray(msgs)) {
		cJSON_Delete(msgs);
		return tk_fail(TK_EDATA, "a judge's conversation is not a JSON array of messages");
	}
	text t = {0};
	puts_(&t, judge_intro);
	const cJSON *m;
	cJSON_ArrayForEach(m, msgs) {
		const char *role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "role"));
		const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "content"));
		puts_(&t, speaker(role ? tk_role_parse(role) : TK_ROLE_USER));
		puts_(&t, content ? content : "");
		puts_(&t, "\n");
	}
	cJSON_Delete(msgs);
	*out = finish(&t, a, strlen(a), b, strlen(b));
	return *out ? TK_OK : TK_EOSERR;
}

/* The assistant text of msgs[from..n), its messages joined by blank lines. */
static char *reply_text(const tk_message *msgs, size_t from, size_t n)
{
	text t = {0};
	for (size_t i = from; i < n; i++) {
		if (msgs[i].role != TK_ROLE_ASSISTANT)
			continue;
		if (t.n)
			puts_(&t, "\n\n");
		put(&t, msgs[i].content, msgs[i].content_len);
	}
	if (!t.failed && !t.s)
		put(&t, "", 0);
	if (t.failed) {
		free(t.s);
		return NULL;
	}
	return t.s;
}

/* The messages msgs and alt share: the pair's prompt. */
static size_t shared_prefix(const tk_chat *c)
{
	size_t k = 0;
	while (k < c->n && k < c->n_alt && c->msgs[k].content == c->alt[k].content)
		k++;
	return k;
}

int tk_chat_judge(tk_chat *c, int chosen_first)
{
	size_t k = shared_prefix(c);
	char *chosen = reply_text(c->msgs, k, c->n), *rejected = reply_text(c->alt, k, c->n_alt);
	char *q = chosen && rejected
		  ? chosen_first ? tk_judge_question(c->msgs, k, chosen, strlen(chosen), rejected,
						     strlen(rejected))
				 : tk_judge_question(c->msgs, k, rejected, strlen(rejected), chosen,
						     strlen(chosen))
		  : NULL;
	free(chosen);
	free(rejected);
	if (!q)
		return tk_fail(TK_EOSERR, "out of memory");
	free(c->owned);
	c->owned = q;
	c->msgs[0] = (tk_message){.role = TK_ROLE_USER, .content = q, .content_len = strlen(q)};
	const char *letter = chosen_first ? "A" : "B";
	c->msgs[1] = (tk_message){.role = TK_ROLE_ASSISTANT, .content = letter, .content_len = 1,
				  .train = 1};
	c->n = 2;
	c->n_alt = 0;
	return TK_OK;
}
