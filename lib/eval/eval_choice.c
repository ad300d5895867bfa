/* Multiple-choice questions: reading them, and the tokens whose logprob
 * decides between the choices (the continuation of each choice after the
 * shared prompt), in chat form or as raw text. */
#include "eval_internal.h"
#include "tk_eval.h"
#include "tk_io.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

/* ---- parsing ------------------------------------------------------------ */

static int set_choices(tk_eval_question *q, const cJSON *arr)
{
	size_t n = (size_t)cJSON_GetArraySize(arr);
	if (n > q->cap) {
		const char **c = tk_realloc(q->choices, n * sizeof *c);
		if (!c)
			return TK_EOSERR;
		q->choices = c;
		q->cap = n;
	}
	size_t i = 0;
	for (const cJSON *it = arr->child; it; it = it->next, i++) {
		if (!cJSON_IsString(it))
			return tk_fail(TK_EDATA, "choice %zu is not a string", i);
		if (!it->valuestring[0])
			return tk_fail(TK_EDATA, "choice %zu is empty", i);
		q->choices[i] = it->valuestring;
	}
	q->n_choices = n;
	return n >= 2 ? TK_OK : tk_fail(TK_EDATA, "%zu choices: two at least are needed", n);
}

/* A letter ("B", "(B)"), an index as a string ("1"), a label of ARC's
 * {"label": [...]}, or a choice's own text. */
static int answer_from_string(tk_eval_question *q, const char *s, const cJSON *labels)
{
	size_t i = 0;
	for (const cJSON *l = labels ? labels->child : NULL; l; l = l->next, i++)
		if (cJSON_IsString(l) && !strcmp(l->valuestring, s) && i < q->n_choices) {
			q->answer = i;
			return TK_OK;
		}
	for (i = 0; i < q->n_choices; i++)
		if (!strcmp(q->choices[i], s)) {
			q->answer = i;
			return TK_OK;
		}
	const char *p = s;
	while (*p == ' ' || *p == '(')
		p++;
	int letter = (p[0] >= 'A' && p[0] <= 'Z') ? p[0] : (p[0] >= 'a' && p[0] <= 'z') ? p[0] - 32 : 0;
	if (letter && !is_alpha(p[1]) && (size_t)(letter - 'A') < q->n_choices) {
		q->answer = (size_t)(letter - 'A');
		return TK_OK;
	}
	char *end;
	long k = strtol(s, &end, 10);
	if (end != s && *end == '\0' && k >= 0 && (size_t)k < q->n_choices) {
		q->answer = (size_t)k;
		return TK_OK;
	}
	return tk_fail(TK_EDATA, "answer \"%.60s\" is none of the %zu choices", s, q->n_choices);
}

static int set_answer(tk_eval_question *q, const cJSON *a, const cJSON *labels)
{
	if (cJSON_IsNumber(a)) {
		double v = a->valuedouble;
		if (v >= 0 && v < (double)q->n_choices && v == (double)(size_t)v) {
			q->answer = (size_t)v;
			return TK_OK;
		}
		return tk_fail(TK_EDATA, "answer %g is not an index of the %zu choices (0-based)",
			       v, q->n_choices);
	}
	if (cJSON_IsString(a))
		return answer_from_string(q, a->valuestring, labels);
	return tk_fail(TK_EDATA, "no \"answer\" (an index from 0, a letter or a choice's text)");
}

int tk_eval_question_parse(tk_eval_question *q, const char *line, size_t len)
{
	cJSON_Delete(q->json);
	cJSON *o = q->json = tk_jsonl_parse(line, len);
	if (!o)
		return TK_EDATA;
	const cJSON *question = cJSON_GetObjectItemCaseSensitive(o, "question");
	const cJSON *choices = cJSON_GetObjectItemCaseSensitive(o, "choices");
	const cJSON *labels = NULL;
	if (cJSON_IsObject(choices)) {      /* ARC: {"text": [...], "label": [...]} */
		labels = cJSON_GetObjectItemCaseSensitive(choices, "label");
		choices = cJSON_GetObjectItemCaseSensitive(choices, "text");
	}
	const cJSON *answer = cJSON_GetObjectItemCaseSensitive(o, "answer");
	if (!answer)
		answer = cJSON_GetObjectItemCaseSensitive(o, "answerKey");
	if (!cJSON_IsString(question))
		return tk_fail(TK_EDATA, "no \"question\" string");
	if (!cJSON_IsArray(choices))
		return tk_fail(TK_EDATA, "no \"choices\" array of strings");
	q->question = question->valuestring;
	int rc = set_choices(q, choices);
	return rc ? rc : set_answer(q, answer, labels);
}

void tk_eval_question_free(tk_eval_question *q)
{
	cJSON_Delete(q->json);
	free(q->choices);
	*q = (tk_eval_question){0};
}

/* ---- tokens ------------------------------------------------------------- */

static int copy_tokens(tk_tokens *dst, const int32_t *ids, size_t n)
{
	dst->n = 0;
	for (size_t i = 0; i < n; i++)
		if (tk_tokens_push(dst, ids[i]))
			return TK_EOSERR;
	return TK_OK;
}

static int grow_choices(tk_eval_choice_tokens *t, size_t n)
{
	if (n > t->cap) {
		tk_tokens *cont = tk_realloc(t->cont, n * sizeof *cont);
		if (!cont)
			return TK_EOSERR;
		t->cont = cont;
		size_t *bytes = tk_realloc(t->bytes, n * sizeof *bytes);
		if (!bytes)
			return TK_EOSERR;
		t->bytes = bytes;
		memset(t->cont + t->cap, 0, (n - t->cap) * sizeof *cont);
		t->cap = n;
	}
	t->n = n;
	return TK_OK;
}

static int is_stop(const tk_renderer *r, int32_t id)
{
	const int32_t *stops;
	size_t n = tk_renderer_stop_tokens(r, &stops);
	for (size_t i = 0; i < n; i++)
		if (stops[i] == id)
			return 1;
	return 0;
}

static int starts_with(const tk_tokens *a, const tk_tokens *prefix)
{
	return a->n > prefix->n &&
	       !memcmp(a->ids, prefix->ids, prefix->n * sizeof *prefix->ids);
}

/* The assistant's answer as the template writes it after the prompt: the
 * trained tokens less the end of turn. */
static int chat_continuation(tk_eval_choice_tokens *t, const tk_renderer *r,
			     const tk_tokenizer *tok, tk_message *msgs, size_t c)
{
	tk_tokens *cont = &t->cont[c];
	int rc = tk_render_mark(msgs, 2, TK_TRAIN_LAST_ASSISTANT);
	if (!rc)
		rc = tk_render(r, msgs, 2, 0, &t->full);
	if (rc)
		return rc;
	size_t np = t->prompt.n, end = t->full.ids.n;
	while (end > np && t->full.weights[end - 1] == 0)
		end--;
	while (end > np && is_stop(r, t->full.ids.ids[end - 1]))
		end--;
	if (starts_with(&t->full.ids, &t->prompt) && end > np)
		return copy_tokens(cont, t->full.ids.ids + np, end - np);
	/* the template joins prompt and answer in a way that does not cut
	 * cleanly: the answer's own tokens */
	cont->n = 0;
	return tk_tokenizer_encode(tok, msgs[1].content, msgs[1].content_len, 0, cont);
}

static int tokenize_chat(const tk_eval_question *q, const tk_renderer *r,
			 const tk_tokenizer *tok, tk_eval_choice_tokens *t)
{
	tk_message msgs[2] = {
		{.role = TK_ROLE_USER, .content = q->question, .content_len = strlen(q->question)},
		{.role = TK_ROLE_ASSISTANT},
	};
	int rc = tk_render(r, msgs, 1, TK_RENDER_GENERATION_PROMPT, &t->full);
	if (!rc)
		rc = copy_tokens(&t->prompt, t->full.ids.ids, t->full.ids.n);
	for (size_t c = 0; !rc && c < q->n_choices; c++) {
		msgs[1].content = q->choices[c];
		msgs[1].content_len = strlen(q->choices[c]);
		t->bytes[c] = msgs[1].content_len;
		rc = chat_continuation(t, r, tok, msgs, c);
	}
	return rc;
}

/* lm-evaluation-harness's split: context + continuation encoded whole,
 * the continuation being what follows the context's own tokens. */
static int raw_continuation(tk_eval_choice_tokens *t, const tk_tokenizer *tok,
			    const char *question, const char *choice, size_t c)
{
	size_t qlen = strlen(question);
	int space = qlen > 0 && !is_space(question[qlen - 1]);
	sbuf text = {0};
	sbuf_puts(&text, question);
	sbuf_put(&text, " ", (size_t)space);
	sbuf_puts(&text, choice);
	char *whole;
	int rc = sbuf_take(&text, &whole);
	if (rc)
		return rc;
	t->whole.n = 0;
	rc = tk_tokenizer_encode(tok, whole, strlen(whole), TK_ENCODE_ADD_BOS, &t->whole);
	t->bytes[c] = strlen(whole) - qlen;
	tk_tokens *cont = &t->cont[c];
	cont->n = 0;
	if (!rc && starts_with(&t->whole, &t->prompt))
		rc = copy_tokens(cont, t->whole.ids + t->prompt.n, t->whole.n - t->prompt.n);
	else if (!rc)
		rc = tk_tokenizer_encode(tok, whole + qlen, strlen(whole + qlen), 0, cont);
	free(whole);
	return rc;
}

static int tokenize_raw(const tk_eval_question *q, const tk_tokenizer *tok,
			tk_eval_choice_tokens *t)
{
	t->prompt.n = 0;
	int rc = tk_tokenizer_encode(tok, q->question, strlen(q->question), TK_ENCODE_ADD_BOS,
				     &t->prompt);
	for (size_t c = 0; !rc && c < q->n_choices; c++)
		rc = raw_continuation(t, tok, q->question, q->choices[c], c);
	return rc;
}

static const char *const letters[] = {
	"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M",
	"N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z",
};

/* q with its choices listed and answered by letter (MMLU's prompt):
 *   QUESTION\nA. first\nB. second\nAnswer:
 * The strings point into q and t->listed. */
static int letter_view(const tk_eval_question *q, tk_eval_choice_tokens *t,
		       tk_eval_question *view)
{
	if (q->n_choices > 26)
		return tk_fail(TK_EDATA, "%zu choices: 26 at most can be lettered", q->n_choices);
	sbuf b = {0};
	sbuf_puts(&b, q->question);
	for (size_t c = 0; c < q->n_choices; c++) {
		sbuf_putc(&b, '\n');
		sbuf_puts(&b, letters[c]);
		sbuf_puts(&b, ". ");
		sbuf_puts(&b, q->choices[c]);
	}
	sbuf_puts(&b, "\nAnswer:");
	free(t->listed);
	int rc = sbuf_take(&b, &t->listed);
	*view = *q;
	view->question = t->listed;
	view->choices = (const char **)letters;
	return rc;
}

int tk_eval_choice_tokenize(const tk_eval_question *q, const tk_renderer *renderer,
			    const tk_tokenizer *tok, unsigned flags,
			    tk_eval_choice_tokens *out)
{
	tk_eval_question view = *q;
	int rc = grow_choices(out, q->n_choices);
	if (!rc && (flags & TK_EVAL_CHOICE_LETTERS))
		rc = letter_view(q, out, &view);
	if (!rc)
		rc = renderer ? tokenize_chat(&view, renderer, tok, out)
			      : tokenize_raw(&view, tok, out);
	if (rc)
		return rc;
	if (out->prompt.n == 0)
		return tk_fail(TK_EDATA, "the question gives no token to start from "
			       "(empty, and the tokenizer adds no bos)");
	for (size_t c = 0; c < out->n; c++)
		if (out->cont[c].n == 0)
			return tk_fail(TK_EDATA, "choice %zu is empty", c);
	return TK_OK;
}

void tk_eval_choice_tokens_free(tk_eval_choice_tokens *t)
{
	tk_tokens_free(&t->prompt);
	for (size_t c = 0; c < t->cap; c++)
		tk_tokens_free(&t->cont[c]);
	free(t->cont);
	free(t->bytes);
	tk_rendered_free(&t->full);
	tk_tokens_free(&t->whole);
	free(t->listed);
	*t = (tk_eval_choice_tokens){0};
}

size_t tk_eval_argmax(const double *scores, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (scores[i] > scores[best])
			best = i;
	return best;
}
