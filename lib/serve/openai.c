/* OpenAI-compatible completions on saved sampler weights (serve.h). */
#include "serve.h"

void serve_openai_completions(serve *s, const cJSON *in, int chat, serve_reply *r)
{
	(void)s, (void)in;
	serve_reply_error(r, 501, "user", "%s: not served yet", chat ? "/v1/chat/completions"
								    : "/v1/completions");
}
