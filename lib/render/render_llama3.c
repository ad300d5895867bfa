/* Llama 3 (the Meta-Llama-3-Instruct template):
 *
 *   <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>
 *   <|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>
 *
 * The template trims each content (Jinja's trim: Python's str.strip()).
 * Trained: the content and <|eot_id|>.  Llama 3.0's template has no tools
 * (llama3.1 has). */
#include "render_impl.h"

enum { BEGIN, START_HEADER, END_HEADER, EOT };

int render_llama3_open(tk_renderer *r)
{
	static const char *const names[] = {"<|begin_of_text|>", "<|start_header_id|>",
					    "<|end_header_id|>", "<|eot_id|>"};
	for (int i = 0; i < 4; i++) {
		int rc = render_need_token(r, names[i], &r->special[i]);
		if (rc)
			return rc;
	}
	render_add_stop_token(r, r->special[EOT]);
	render_add_stop_token(r, tk_tokenizer_find(r->tok, "<|eom_id|>", 10));
	render_add_stop_token(r, tk_tokenizer_eos(r->tok));
	return TK_OK;
}

/* Length of the Unicode whitespace character Python's str.isspace() knows
 * at s (n bytes left), or 0. */
static size_t space_at(const unsigned char *s, size_t n)
{
	if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || s[0] == ' ' ||
		       (s[0] >= 0x1c && s[0] <= 0x1f)))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;
	if (n < 3)
		return 0;
	unsigned c = (unsigned)(s[0] & 0x0f) << 12 | (unsigned)(s[1] & 0x3f) << 6 |
		     (s[2] & 0x3f);
	if ((s[0] & 0xf0) != 0xe0 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
		return 0;
	int space = c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
		    c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
	return space ? 3 : 0;
}

/* Start of the last whitespace character ending at s + n, or n. */
static size_t space_before(const unsigned char *s, size_t n)
{
	for (size_t k = 1; k <= 3 && k <= n; k++)
		if (space_at(s + n - k, k) == k)
			return n - k;
	return n;
}

void render_trim(const char **s, size_t *n)
{
	const unsigned char *p = (const unsigned char *)*s;
	size_t len = *n, k;
	while (len && (k = space_at(p, len))) {
		p += k;
		len -= k;
	}
	size_t cut;
	while (len && (cut = space_before(p, len)) < len)
		len = cut;
	*s = (const char *)p;
	*n = len;
}

static void header(const tk_renderer *r, tk_rendered *out, const char *role)
{
	rb_special(r, out, r->special[START_HEADER], 0);
	rb_str(r, out, role, 0);
	rb_special(r, out, r->special[END_HEADER], 0);
	rb_str(r, out, "\n\n", 0);
}

static void llama3_render(const tk_renderer *r, tk_rendered *out, const tk_message *m,
			  size_t n, const struct cJSON *tools, unsigned flags)
{
	(void)tools; /* none: the format has no tools (refused before) */
	for (size_t i = 0; i < n; i++) {
		if (i == 0)
			rb_special(r, out, r->special[BEGIN], 0);
		header(r, out, tk_role_name(m[i].role));
		const char *c = m[i].content;
		size_t len = m[i].content_len;
		render_trim(&c, &len);
		rb_text(r, out, c, len, m[i].train);
		rb_special(r, out, r->special[EOT], m[i].train);
	}
	if (flags & TK_RENDER_GENERATION_PROMPT)
		header(r, out, "assistant");
}

const struct render_format render_llama3 = {
	.name = "llama3", .open = render_llama3_open, .render = llama3_render,
};
