/* Role-colon, for base models without a chat template:
 *
 *   System: S\n\nUser: Q\n\nAssistant: A\n\nUser:
 *
 * (bos first when the tokenizer adds one).  Trained: " A\n\n" and the
 * "User:" that follows, so that the model learns to end its turn with the
 * stop string "\n\nUser:"; the last assistant message gets that "User:"
 * as a tail of its own.  The generation prompt ends in "Assistant:". */
#include "render_impl.h"
#include "tk_error.h"

#include <string.h>

static int role_colon_open(tk_renderer *r)
{
	render_add_stop_token(r, tk_tokenizer_eos(r->tok));
	return render_add_stop_string(r, "\n\nUser:");
}

static const char *header(int role)
{
	return role == TK_ROLE_SYSTEM ? "System:" : role == TK_ROLE_USER ? "User:" : "Assistant:";
}

static void role_colon_render(const tk_renderer *r, tk_rendered *out, const tk_message *m,
			      size_t n, const struct cJSON *tools, unsigned flags)
{
	(void)tools; /* none: the format has no tools (refused before) */
	int32_t bos = tk_tokenizer_bos(r->tok);
	if (n && tk_tokenizer_add_bos(r->tok) && bos >= 0)
		rb_special(r, out, bos, 0);
	int tail = 0; /* the previous assistant message was trained */
	for (size_t i = 0; i < n; i++) {
		int user_after_trained = tail && m[i].role == TK_ROLE_USER;
		rb_str(r, out, header(m[i].role), user_after_trained);
		int t = m[i].train;
		rb_str(r, out, " ", t);
		rb_text(r, out, m[i].content, m[i].content_len, t);
		rb_str(r, out, "\n\n", t);
		tail = m[i].role == TK_ROLE_ASSISTANT && t;
	}
	if (tail)
		rb_str(r, out, "User:", 1);
	if (flags & TK_RENDER_GENERATION_PROMPT)
		rb_str(r, out, "Assistant:", 0);
}

static int role_colon_parse(const tk_renderer *r, const char *text, size_t len,
			    tk_response *out)
{
	(void)r;
	if (len && text[0] == ' ')
		text++, len--;
	while (len && (text[len - 1] == '\n'))
		len--;
	out->content = tk_malloc(len + 1);
	if (!out->content)
		return TK_EOSERR;
	memcpy(out->content, text, len);
	out->content[len] = '\0';
	return TK_OK;
}

const struct render_format render_role_colon = {
	.name = "role-colon", .open = role_colon_open, .render = role_colon_render,
	.parse = role_colon_parse,
};
