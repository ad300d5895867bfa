/* Taking a model out to the ecosystem: a LoRA adapter folded into the
 * base weights, Hugging Face folders (config.json, model.safetensors,
 * tokenizer files), PEFT adapter folders, and the safetensors writer and
 * atomic output folder they stand on.  (GGUF and full .tkc writers are in
 * tk_model.h.) */
#ifndef TK_EXPORT_H
#define TK_EXPORT_H

#include <stddef.h>

#include "tk_lora.h"
#include "tk_model.h"

/* ---- atomic output folder (lib/export/outdir.c) --------------------------------
 * Files go into a temporary folder beside the final one ("DIR/.NAME.tmp-
 * XXXXXX"); commit renames it into place, so an interrupted export leaves
 * no partial folder under the final name.  An existing final folder is
 * refused (TK_ECANTCREAT) unless force, in which case it is replaced only
 * at commit. */
typedef struct tk_outdir tk_outdir;

int tk_outdir_open(tk_outdir **out, const char *path, int force);
/* The path of NAME inside the temporary folder (valid until the next call). */
const char *tk_outdir_file(tk_outdir *d, const char *name);
int tk_outdir_commit(tk_outdir *d);  /* frees d */
void tk_outdir_abort(tk_outdir *d);  /* removes the temporary folder; safe on NULL */

/* ---- safetensors writer (lib/io/safetensors_write.c) ----------------------- */

typedef struct tk_st_entry {
	const char *name;
	int ndim;
	const int64_t *shape;
	const float *data;    /* float32, converted to the file's dtype */
} tk_st_entry;

/* Writes n tensors in dtype (TK_F32, TK_F16 or TK_BF16) with the given
 * "__metadata__" object text (NULL: {"format": "pt"}), atomically. */
int tk_safetensors_write(const char *path, const tk_st_entry *entries, size_t n,
			 int dtype, const char *metadata_json);

/* ---- folding and exports (lib/export/lora_merge.c, lib/export/export_hf.c) ------------ */

/* W += (alpha / r) · B·A for every adapted layer of m.  The adapter must
 * belong to m (tk_lora_load checked it). */
int tk_lora_merge_into(tk_model *m, const tk_lora *l);

/* A Hugging Face folder transformers loads: config.json, model.safetensors
 * (dtype TK_F32/F16/BF16), tokenizer.json and tokenizer_config.json
 * (copied from an HF source, written from the vocabulary otherwise),
 * generation_config.json. */
int tk_export_hf(const tk_model *m, const char *dir, int dtype, int force);

/* A PEFT adapter folder: adapter_config.json + adapter_model.safetensors,
 * loadable by PEFT (and vLLM) onto the original base. */
int tk_export_peft(const tk_lora *l, const char *base_name, const char *dir,
		   int dtype, int force);

/* tokenizer.json as Hugging Face tokenizers reads it, from the vocabulary
 * (lib/tokenizer/tokenizer_export.c); tokenizer_config.json beside it. */
int tk_tokenizer_write_hf(const tk_tokenizer *tok, const char *json_path,
			  const char *config_path);

#endif
