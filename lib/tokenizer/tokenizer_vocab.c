/* Building a tokenizer from the vocabulary GGUF metadata carries
 * (tokenizer.ggml.*), as the GGUF reader hands it over. */
#include "tokenizer_internal.h"

#include "tk_error.h"

#include <string.h>

struct spec_merges {
	const tk_vocab_spec *spec;
};

static int get_merge(void *ctx, size_t i, const char **a, size_t *alen,
		     const char **b, size_t *blen)
{
	const tk_vocab_spec *spec = ((struct spec_merges *)ctx)->spec;
	const char *m = spec->merges[i];
	size_t len = spec->merge_lens ? spec->merge_lens[i] : strlen(m);
	const char *sp = memchr(m, ' ', len);
	if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - m)))
		return tk_fail(TK_EDATA, "tokenizer.ggml.merges[%zu] (\"%.*s\") is not two tokens separated by one space",
			       i, (int)(len < 100 ? len : 100), m);
	*a = m;
	*alen = (size_t)(sp - m);
	*b = sp + 1;
	*blen = len - *alen - 1;
	return TK_OK;
}

static int check_type(int32_t type, size_t id)
{
	if (type < TK_TOKEN_NORMAL || type > TK_TOKEN_BYTE)
		return tk_fail(TK_EDATA, "tokenizer.ggml.token_type[%zu] = %d is not a token type (1..6)",
			       id, (int)type);
	return TK_OK;
}

static int fill(tk_tokenizer *t, const tk_vocab_spec *spec)
{
	int rc;
	for (size_t id = 0; id < spec->n_tokens; id++) {
		const char *text = spec->tokens[id];
		if (!text)
			return tk_fail(TK_EDATA, "tokenizer.ggml.tokens[%zu] is missing", id);
		size_t len = spec->token_lens ? spec->token_lens[id] : strlen(text);
		int32_t type = spec->token_types ? spec->token_types[id] : TK_TOKEN_NORMAL;
		if ((rc = check_type(type, id)) ||
		    (rc = tk_tokenizer_set_token(t, (int32_t)id, text, len, type)))
			return rc;
	}
	struct spec_merges ctx = {spec};
	if ((rc = tk_pre_from_name(t, spec->pre)) ||
	    (rc = tk_tokenizer_add_merges(t, spec->n_merges, get_merge, &ctx,
					  "tokenizer.ggml.merges")) ||
	    (rc = tk_tokenizer_finish(t)))
		return rc;
	int32_t bos = spec->bos_id, eos = spec->eos_id, pad = spec->pad_id;
	if ((rc = tk_tokenizer_set_ids(t, bos < 0 ? -1 : bos, eos < 0 ? -1 : eos,
				       pad < 0 ? -1 : pad)))
		return rc;
	t->add_bos = spec->add_bos != 0;
	if (spec->chat_template &&
	    !(t->chat_template = tk_strdup(spec->chat_template)))
		return TK_EOSERR;
	return TK_OK;
}

int tk_tokenizer_from_vocab(tk_tokenizer **out, const tk_vocab_spec *spec)
{
	*out = NULL;
	if (spec->model && strcmp(spec->model, "gpt2") != 0)
		return tk_fail(TK_EDATA, "tokenizer.ggml.model \"%s\" is not supported (only gpt2, byte-level BPE)",
			       spec->model);
	if (spec->n_merges && !spec->merges)
		return tk_fail(TK_EDATA, "tokenizer.ggml.merges missing");
	if (!spec->tokens)
		return tk_fail(TK_EDATA, "tokenizer.ggml.tokens missing");
	tk_tokenizer *t;
	int rc = tk_tokenizer_alloc(&t, spec->n_tokens);
	if (rc)
		return rc;
	if ((rc = fill(t, spec))) {
		tk_tokenizer_free(t);
		return rc;
	}
	*out = t;
	return TK_OK;
}
