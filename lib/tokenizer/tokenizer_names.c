/* Pre-tokenizers by their GGUF names (llama.cpp's tokenizer.ggml.pre),
 * both ways. */
#include "tokenizer_internal.h"

#include "tk_error.h"

#include <string.h>

static const struct {
	const char *name;
	uint8_t steps[3];
	uint8_t n_steps;
	uint8_t ignore_merges;
	uint8_t nfc; /* the HF tokenizers of these models normalize to NFC */
} pre_names[] = {
	/* first of each kind: the name tk_tokenizer_pre_name reports */
	{"gpt2", {TK_PRE_GPT2}, 1, 0, 0},
	{"default", {TK_PRE_GPT2}, 1, 0, 0},
	{"mpt", {TK_PRE_GPT2}, 1, 0, 0},
	{"olmo", {TK_PRE_GPT2}, 1, 0, 0},
	{"jais", {TK_PRE_GPT2}, 1, 0, 0},
	{"llama-bpe", {TK_PRE_LLAMA3}, 1, 1, 0},
	{"llama3", {TK_PRE_LLAMA3}, 1, 1, 0},
	{"llama-v3", {TK_PRE_LLAMA3}, 1, 1, 0},
	{"smaug-bpe", {TK_PRE_LLAMA3}, 1, 1, 0},
	{"qwen2", {TK_PRE_QWEN2}, 1, 0, 1},
	{"stablelm2", {TK_PRE_QWEN2}, 1, 0, 0},
	{"deepseek-r1-qwen", {TK_PRE_QWEN2}, 1, 0, 1},
	{"smollm", {TK_PRE_DIGITS_ISOLATED, TK_PRE_GPT2}, 2, 0, 0},
	{"starcoder", {TK_PRE_DIGITS_ISOLATED, TK_PRE_GPT2}, 2, 0, 0},
	{"refact", {TK_PRE_DIGITS_ISOLATED, TK_PRE_GPT2}, 2, 0, 0},
	{"codeshell", {TK_PRE_DIGITS_ISOLATED, TK_PRE_GPT2}, 2, 0, 0},
	{"command-r", {TK_PRE_DIGITS_ISOLATED, TK_PRE_GPT2}, 2, 0, 0},
	{"exaone", {TK_PRE_DIGITS_ISOLATED, TK_PRE_GPT2}, 2, 0, 0},
	{"minerva-7b", {TK_PRE_DIGITS_ISOLATED, TK_PRE_GPT2}, 2, 0, 0},
};

int tk_pre_from_name(tk_tokenizer *t, const char *name)
{
	if (!name)
		name = "default";
	for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
		if (strcmp(pre_names[i].name, name) == 0) {
			memcpy(t->pre, pre_names[i].steps, pre_names[i].n_steps);
			t->n_pre = pre_names[i].n_steps;
			t->ignore_merges = pre_names[i].ignore_merges;
			t->nfc = pre_names[i].nfc;
			return TK_OK;
		}
	}
	return tk_fail(TK_EDATA, "unsupported pre-tokenizer \"%s\" (known: gpt2, llama-bpe, qwen2, smollm and their aliases)",
		       name);
}

const char *tk_tokenizer_pre_name(const tk_tokenizer *t)
{
	for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
		if (pre_names[i].n_steps == t->n_pre &&
		    memcmp(pre_names[i].steps, t->pre, t->n_pre) == 0)
			return pre_names[i].name;
	return "custom";
}
