/* What a loaded tokenizer tells about its vocabulary. */
#include "tokenizer_internal.h"

#include "tk_error.h"

#include <string.h>

static int in_range(const tk_tokenizer *t, int32_t id)
{
	return id >= 0 && (size_t)id < t->n_vocab;
}

int tk_tokenizer_set_ids(tk_tokenizer *t, int32_t bos, int32_t eos,
			 int32_t pad)
{
	int32_t v[3] = {bos, eos, pad};
	int32_t *dst[3] = {&t->bos, &t->eos, &t->pad};
	for (int k = 0; k < 3; k++)
		if (v[k] >= 0 && !in_range(t, v[k]))
			return tk_fail(TK_EDATA, "special token id %d out of range (vocabulary of %zu)",
				       (int)v[k], t->n_vocab);
	for (int k = 0; k < 3; k++)
		if (v[k] != -2)
			*dst[k] = v[k] < 0 ? -1 : v[k];
	return TK_OK;
}

size_t tk_tokenizer_vocab_size(const tk_tokenizer *t) { return t->n_vocab; }

const char *tk_tokenizer_piece(const tk_tokenizer *t, int32_t id, size_t *len)
{
	if (!in_range(t, id))
		return NULL;
	if (len)
		*len = t->piece_len[id];
	return t->piece + t->piece_off[id];
}

const char *tk_tokenizer_token_text(const tk_tokenizer *t, int32_t id,
				    size_t *len)
{
	if (!in_range(t, id))
		return NULL;
	if (len)
		*len = t->text_len[id];
	return t->text + t->text_off[id];
}

int tk_tokenizer_token_type(const tk_tokenizer *t, int32_t id)
{
	return in_range(t, id) ? t->type[id] : 0;
}

int tk_tokenizer_is_special(const tk_tokenizer *t, int32_t id)
{
	return in_range(t, id) && t->type[id] == TK_TOKEN_CONTROL;
}

int32_t tk_tokenizer_find(const tk_tokenizer *t, const char *bytes, size_t len)
{
	for (size_t i = 0; i < t->n_added; i++)
		if (t->added[i].len == len &&
		    memcmp(t->piece + t->added[i].off, bytes, len) == 0)
			return t->added[i].id;
	return tk_strmap_get(&t->piece_map, bytes, len);
}

size_t tk_tokenizer_n_merges(const tk_tokenizer *t) { return t->n_merges; }

int tk_tokenizer_merge(const tk_tokenizer *t, size_t rank, int32_t *left,
		       int32_t *right)
{
	if (rank >= t->n_merges)
		return tk_fail(TK_EUSAGE, "merge %zu out of range (%zu merges)",
			       rank, t->n_merges);
	*left = t->merge_pairs[2 * rank];
	*right = t->merge_pairs[2 * rank + 1];
	return TK_OK;
}

int32_t tk_tokenizer_bos(const tk_tokenizer *t) { return t->bos; }
int32_t tk_tokenizer_eos(const tk_tokenizer *t) { return t->eos; }
int32_t tk_tokenizer_pad(const tk_tokenizer *t) { return t->pad; }
int tk_tokenizer_add_bos(const tk_tokenizer *t) { return t->add_bos; }

const char *tk_tokenizer_chat_template(const tk_tokenizer *t)
{
	return t->chat_template;
}

uint64_t tk_tokenizer_fingerprint(const tk_tokenizer *t)
{
	return t->fingerprint;
}
