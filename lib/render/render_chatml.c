/* ChatML (SmolLM2, Qwen2.5, the tiny test tokenizer):
 *
 *   <|im_start|>system\nYou are ...<|im_end|>\n      (only with a default
 *   <|im_start|>user\nHi<|im_end|>\n                  system prompt and no
 *   <|im_start|>assistant\nHello<|im_end|>\n          system message)
 *
 * Trained: the content and <|im_end|>; not the header, not the "\n" after
 * the end of turn (the model stops at <|im_end|>). */
#include "render_impl.h"

#include <string.h>

enum { IM_START, IM_END };

static int chatml_open(tk_renderer *r)
{
	int rc = render_need_token(r, "<|im_start|>", &r->special[IM_START]);
	if (!rc)
		rc = render_need_token(r, "<|im_end|>", &r->special[IM_END]);
	if (rc)
		return rc;
	render_add_stop_token(r, r->special[IM_END]);
	render_add_stop_token(r, tk_tokenizer_eos(r->tok));
	return TK_OK;
}

static void turn(const tk_renderer *r, tk_rendered *out, const char *role,
		 const char *content, size_t len, int trained)
{
	rb_special(r, out, r->special[IM_START], 0);
	rb_str(r, out, role, 0);
	rb_str(r, out, "\n", 0);
	rb_text(r, out, content, len, trained);
	rb_special(r, out, r->special[IM_END], trained);
	rb_str(r, out, "\n", 0);
}

static void chatml_render(const tk_renderer *r, tk_rendered *out,
			  const tk_message *m, size_t n, unsigned flags)
{
	for (size_t i = 0; i < n; i++) {
		if (i == 0 && m[0].role != TK_ROLE_SYSTEM && r->default_system)
			turn(r, out, "system", r->default_system,
			     strlen(r->default_system), 0);
		turn(r, out, tk_role_name(m[i].role), m[i].content, m[i].content_len,
		     m[i].train);
	}
	if (flags & TK_RENDER_GENERATION_PROMPT) {
		rb_special(r, out, r->special[IM_START], 0);
		rb_str(r, out, "assistant\n", 0);
	}
}

const struct render_format render_chatml = {"chatml", chatml_open, chatml_render, NULL};
