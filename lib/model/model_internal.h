/* Shared between the lib/model_*.c files; not part of the API. */
#ifndef TK_MODEL_INTERNAL_H
#define TK_MODEL_INTERNAL_H

#include <cjson/cJSON.h>

#include "tk_gguf.h"
#include "tk_model.h"
#include "tk_safetensors.h"
#include "tk_tkc.h"

/* What a loaded model's tensors may point into. */
struct tk_model_source {
	tk_safetensors *st;
	tk_gguf *gguf;
	tk_tkc *tkc;
	int meta_only;   /* tk_model_load_meta: config and tokenizer, no weights */
	int lazy;        /* tk_model_load_lazy: converted tensors deferred */
};

/* Appends a tensor; with owned set the model frees data (also when this
 * call fails). */
int model_add_tensor(tk_model *m, const char *name, int ndim, const int64_t *shape,
		     float *data, int owned, const char *stored_as);
/* Orders tensors: embedding, layers by number, then the rest. */
void model_sort_tensors(tk_model *m);

int model_load_hf(tk_model *m, const char *dir);
int model_load_gguf(tk_model *m, const char *path);
/* A deferred GGUF tensor's values (dequantized, rows permuted back). */
int model_gguf_read(const tk_model *m, const tk_model_tensor *t, float *dst);
int model_load_tkc(tk_model *m, const char *path);

/* llama.cpp stores Llama's q/k rows of each head interleaved (pairs of
 * rotary dimensions next to each other) where HF keeps the two halves
 * apart.  to_gguf: HF -> GGUF order; else GGUF -> HF.  rows = n_head *
 * head_dim, each row of cols floats. */
int model_permute_rows(float *data, size_t rows, size_t cols, int n_head, int to_gguf);
/* Whether the architecture's GGUF carries that permutation. */
int model_gguf_permutes(const char *arch);

/* Tokenizer in other forms (lib/model/model_tokenizer.c). */
int model_tokenizer_from_gguf(tk_tokenizer **out, const tk_gguf *g);
int model_tokenizer_to_gguf(const tk_tokenizer *tok, tk_gguf_writer *w);
cJSON *model_tokenizer_to_json(const tk_tokenizer *tok);
int model_tokenizer_from_json(tk_tokenizer **out, const cJSON *o, const char *what);

#endif
