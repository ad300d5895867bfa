/* The builder every format writes through: the template's string as text
 * runs and special tokens, encoded run by run between special tokens (as
 * `tokenizers` splits on added tokens before its pre-tokenizer), with each
 * token trained when its bytes overlap a trained span (the rule of
 * transformers' return_assistant_tokens_mask). */
#include "render_impl.h"
#include "tk_error.h"

#include <stdlib.h>
#include <string.h>

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return TK_OK;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = tk_realloc(*p, c * elem);
	if (!q)
		return TK_EOSERR;
	*p = q;
	*cap = c;
	return TK_OK;
}

static void fail(tk_rendered *out, int rc)
{
	if (out->status == TK_OK)
		out->status = rc;
}

static void append_text(tk_rendered *out, const char *s, size_t len)
{
	if (grow((void **)&out->text, &out->text_cap, out->text_len + len + 1, 1)) {
		fail(out, TK_EOSERR);
		return;
	}
	memcpy(out->text + out->text_len, s, len);
	out->text_len += len;
	out->text[out->text_len] = '\0';
}

void rb_begin(tk_rendered *out)
{
	out->ids.n = 0;
	out->text_len = 0;
	out->chunk_len = 0;
	out->n_spans = 0;
	out->status = TK_OK;
	append_text(out, "", 0);
}

/* Records [start, end) of the chunk as trained, merging with the span
 * before it when they touch. */
static void add_span(tk_rendered *out, size_t start, size_t end)
{
	size_t k = out->n_spans;
	if (k && out->spans[2 * k - 1] == start) {
		out->spans[2 * k - 1] = end;
		return;
	}
	if (grow((void **)&out->spans, &out->spans_cap, 2 * k + 2, sizeof *out->spans)) {
		fail(out, TK_EOSERR);
		return;
	}
	out->spans[2 * k] = start;
	out->spans[2 * k + 1] = end;
	out->n_spans = k + 1;
}

void rb_text(const tk_renderer *r, tk_rendered *out, const char *s, size_t len,
	     int trained)
{
	(void)r;
	if (len == 0 || out->status)
		return;
	if (grow((void **)&out->chunk, &out->chunk_cap, out->chunk_len + len, 1)) {
		fail(out, TK_EOSERR);
		return;
	}
	memcpy(out->chunk + out->chunk_len, s, len);
	if (trained)
		add_span(out, out->chunk_len, out->chunk_len + len);
	out->chunk_len += len;
	append_text(out, s, len);
}

void rb_str(const tk_renderer *r, tk_rendered *out, const char *s, int trained)
{
	rb_text(r, out, s, strlen(s), trained);
}

static int ensure_weights(tk_rendered *out)
{
	return grow((void **)&out->weights, &out->weights_cap, out->ids.n + 1,
		    sizeof *out->weights);
}

/* Encodes the pending chunk and weights its tokens by where they start. */
static void flush_chunk(const tk_renderer *r, tk_rendered *out)
{
	if (out->chunk_len == 0 || out->status)
		return;
	size_t first = out->ids.n;
	int rc = tk_tokenizer_encode(r->tok, out->chunk, out->chunk_len, 0, &out->ids);
	if (rc == TK_OK)
		rc = grow((void **)&out->weights, &out->weights_cap, out->ids.n,
			  sizeof *out->weights);
	if (rc) {
		fail(out, rc);
		return;
	}
	size_t at = 0, span = 0;
	for (size_t i = first; i < out->ids.n; i++) {
		size_t len = 0;
		tk_tokenizer_piece(r->tok, out->ids.ids[i], &len);
		while (span < out->n_spans && out->spans[2 * span + 1] <= at)
			span++;
		int trained = span < out->n_spans && out->spans[2 * span] < at + len;
		out->weights[i] = trained ? 1.0f : 0.0f;
		at += len;
	}
	out->chunk_len = 0;
	out->n_spans = 0;
}

void rb_special(const tk_renderer *r, tk_rendered *out, int32_t id, int trained)
{
	flush_chunk(r, out);
	if (out->status)
		return;
	if (tk_tokens_push(&out->ids, id) || ensure_weights(out)) {
		fail(out, TK_EOSERR);
		return;
	}
	out->weights[out->ids.n - 1] = trained ? 1.0f : 0.0f;
	size_t len = 0;
	const char *piece = tk_tokenizer_piece(r->tok, id, &len);
	if (piece)
		append_text(out, piece, len);
}

int rb_end(const tk_renderer *r, tk_rendered *out, unsigned flags)
{
	flush_chunk(r, out);
	if (out->status)
		return out->status;
	int prompt = flags & TK_RENDER_GENERATION_PROMPT;
	if (prompt || (flags & TK_RENDER_TRAIN_ALL))
		for (size_t i = 0; i < out->ids.n; i++)
			out->weights[i] = prompt ? 0.0f : 1.0f;
	if (out->ids.n)
		out->weights[0] = 0.0f;
	return TK_OK;
}

void tk_rendered_free(tk_rendered *out)
{
	tk_tokens_free(&out->ids);
	free(out->weights);
	free(out->text);
	free(out->chunk);
	free(out->spans);
	memset(out, 0, sizeof *out);
}
