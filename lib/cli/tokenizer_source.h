/* What tk-render tokenizes with (-m MODEL): a model's tokenizer and chat
 * template, or only a tokenizer (a folder holding tokenizer.json and
 * tokenizer_config.json, or a tokenizer.json), with the fingerprints a
 * stream records. */
#ifndef TK_TOKENIZER_SOURCE_H
#define TK_TOKENIZER_SOURCE_H

#include "tk_model.h"
#include "tk_tokenizer.h"

typedef struct tk_tokenizer_source {
	tk_model *model;           /* NULL for a folder with only a tokenizer */
	tk_tokenizer *own_tok;
	const tk_tokenizer *tok;
	char model_fp[17];         /* "" without a model */
	char tok_fp[17];
} tk_tokenizer_source;

/* Loads path's tokenizer (a model's without its weights). */
int tk_tokenizer_source_load(tk_tokenizer_source *l, const char *path);
void tk_tokenizer_source_free(tk_tokenizer_source *l);

#endif
