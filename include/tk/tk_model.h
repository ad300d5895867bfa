/* A language model as tk holds it: configuration, tokenizer and fp32
 * weights on the host, named as Hugging Face names them
 * ("model.layers.0.self_attn.q_proj.weight", matrices [out, in] row-major).
 *
 *   tk_model *m;
 *   if (tk_model_load(&m, path))     // HF folder, .gguf or .tkc
 *           die(tk_error_message());
 *   const tk_model_tensor *wq = tk_model_find(m, "model.layers.0.self_attn.q_proj.weight");
 *   tk_model_free(m);
 *
 * Whatever the source, the same model loads to the same config, tensors
 * and bits: GGUF's q/k row permutation (llama.cpp's convert_hf_to_gguf) is
 * undone and its quantized types are dequantized at load.  F32 tensors
 * that lie aligned in a safetensors or GGUF file point into the private
 * (copy-on-write) mapping of that file instead of being copied; writing
 * into them never changes the file.
 *
 * Tied embeddings are held once: with config.tied_embeddings the tensor
 * list has no "lm_head.weight", and tk_model_find("lm_head.weight")
 * returns the embedding tensor. */
#ifndef TK_MODEL_H
#define TK_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "tk_tkc.h"        /* TK_TENSOR_MAX_DIMS */
#include "tk_tokenizer.h"

#define TK_ARCH_MAX 32

/* RoPE frequency scaling (config rope_type). */
enum tk_model_rope { TK_MODEL_ROPE_DEFAULT = 0, TK_MODEL_ROPE_LINEAR = 1, TK_MODEL_ROPE_LLAMA3 = 2 };

typedef struct tk_model_config {
	char architecture[TK_ARCH_MAX]; /* HF model_type: "llama", "mistral", "qwen2", "qwen3" */
	int n_layers;
	int hidden;               /* hidden_size */
	int n_heads;
	int n_kv_heads;
	int head_dim;
	int intermediate;         /* MLP inner size */
	int vocab;                /* rows of the embedding */
	int max_positions;        /* max_position_embeddings */
	float rope_theta;
	int rope_type;            /* enum tk_model_rope */
	float rope_factor;        /* Llama-3 scaling (rope_type LLAMA3) */
	float rope_low_freq_factor;
	float rope_high_freq_factor;
	int rope_original_max_positions;
	float rms_norm_eps;
	int tied_embeddings;
	int attention_bias;       /* q/k/v projections have biases (Qwen2) */
	int qk_norm;              /* RMSNorm on q and k per head (Qwen3) */
	int sliding_window;       /* keys a query sees, itself included; 0: all */
	int full_attention_layers;/* layers below this see all keys (Qwen's
	                           * max_window_layers); 0 for Mistral */
	int32_t bos_id, eos_id;   /* -1 when none */
} tk_model_config;

typedef struct tk_model_tensor {
	char *name;
	int ndim;
	int64_t shape[TK_TENSOR_MAX_DIMS];  /* HF order: [out, in] for a matrix */
	size_t numel;
	float *data;              /* (numel); NULL when deferred (tk_model_load_lazy) */
	const char *stored_as;    /* dtype in the source file: "f32", "bf16", "q4_1", ... */
	int owned;                /* 1: allocated by the model; 0: into a mapping */
	const void *deferred;     /* private: where a deferred tensor's values lie */
} tk_model_tensor;

typedef struct tk_model_source tk_model_source;

typedef struct tk_model {
	tk_model_config config;
	size_t n_tensors;
	tk_model_tensor *tensors; /* (n_tensors), sorted by layer then name */
	tk_tokenizer *tokenizer;  /* NULL when the source has none */
	char *path;               /* what it was loaded from */
	const char *format;       /* "hf", "gguf" or "tkc" */
	tk_model_source *source;  /* private: keeps mappings alive */
} tk_model;

/* ---- loading (lib/model/model_load.c) ---------------------------------------- */

/* PATH: a Hugging Face folder (config.json, model.safetensors or sharded,
 * tokenizer.json, tokenizer_config.json), a .gguf file, or a full .tkc
 * checkpoint; told apart by what the path is and by the file's magic.
 * Every tensor the config implies must be present with its shape; errors
 * name the file and the tensor. */
int tk_model_load(tk_model **out, const char *path);
void tk_model_free(tk_model *m);  /* safe on NULL */
/* The same, but a GGUF tensor that would have to be converted (quantized,
 * f16, bf16, permuted) is deferred: its data stays NULL and
 * tk_model_tensor_read gives its values when they are wanted, so that a
 * model far larger than memory in float32 (an 8B model's 4-bit GGUF) can
 * be packed one tensor at a time (tk_engine_open).  Other sources load
 * as tk_model_load does.  What reads t->data directly (tk_forward_open,
 * full training, export) needs tk_model_load. */
int tk_model_load_lazy(tk_model **out, const char *path);
/* A tensor's values, the same floats tk_model_load gives, into dst
 * (t->numel floats). */
int tk_model_tensor_read(const tk_model *m, const tk_model_tensor *t, float *dst);

/* The config, tokenizer and fingerprint alone, without reading a weight
 * (n_tensors 0): what tokenizing needs, at the cost of parsing headers. */
int tk_model_load_meta(tk_model **out, const char *path);

/* Frees the weights once they are no longer needed (tk_forward_open has
 * copied them): the model keeps its config, tokenizer and fingerprint,
 * with n_tensors 0, as tk_model_load_meta leaves it. */
void tk_model_drop_weights(tk_model *m);

const tk_model_tensor *tk_model_find(const tk_model *m, const char *name);

/* Checks that every tensor the config implies is there with the right
 * shape (what tk_model_load runs before returning). */
int tk_model_check(const tk_model *m);

/* ---- configuration (lib/model/model_config.c) -------------------------------- */

/* Parses a Hugging Face config.json object (text).  rope_scaling and
 * transformers 5's rope_parameters are both understood; a RoPE scaling
 * other than "default" and "llama3" is refused (TK_ECONFIG).  `what` names
 * the source in errors. */
int tk_model_config_from_json(tk_model_config *c, const char *json, const char *what);
/* The config as HF config.json text (malloc'd), readable by transformers
 * and by tk_model_config_from_json. */
char *tk_model_config_to_json(const tk_model_config *c);
/* Sanity of the numbers (positive sizes, heads divisible by kv heads...). */
int tk_model_config_validate(const tk_model_config *c, const char *what);
int tk_model_config_equal(const tk_model_config *a, const tk_model_config *b);

/* ---- identity (lib/model/model_fingerprint.c) -------------------------------- */

/* A 64-bit FNV-1a hash of the config (numbers as stored, floats by their
 * float32 bits) and the tokenizer's fingerprint.  Token streams and
 * checkpoints record it as 16 hex digits (tk_model_fingerprint_hex). */
uint64_t tk_model_fingerprint(const tk_model *m);
void tk_model_fingerprint_hex(const tk_model *m, char out[17]);
/* The fingerprint of the weights themselves, which the one above leaves
 * out: XXH64 of the model's weight files (a .gguf or .tkc; a folder's
 * .safetensors in name order), as 16 hex digits; "" for a model with no
 * file.  Hashed once per file and remembered in TK_HOME/weight-fingerprints
 * (lib/model/model_weights.c).  Adapters record it (tk_lora.h). */
int tk_model_weights_hex(const tk_model *m, char out[17]);

/* What tk-merge --info prints: source, architecture, config values,
 * tokenizer kind and vocab size, tensors with stored dtype and shape,
 * parameter count, fingerprint. */
void tk_model_describe(const tk_model *m, FILE *out);

/* ---- random init (lib/model/model_init.c) ------------------------------------ */

/* A model with transformers' Llama initialisation (matrices and embedding
 * ~ N(0, 0.02^2) from tk_rng seeded with seed, biases 0, norms 1).  On
 * success the model owns tokenizer (which may be NULL); on failure the
 * caller still does. */
int tk_model_init_random(tk_model **out, const tk_model_config *config,
			 tk_tokenizer *tokenizer, uint64_t seed);

/* ---- names (lib/model/model_names.c) ----------------------------------------- */

/* GGUF tensor name <-> HF name ("blk.3.attn_q.weight" <->
 * "model.layers.3.self_attn.q_proj.weight").  Return 0 when the name has
 * no counterpart (e.g. GGUF's rope_freqs.weight). */
int tk_model_name_from_gguf(const char *gguf, char *hf, size_t cap);
int tk_model_name_to_gguf(const char *hf, char *gguf, size_t cap);

/* ---- writing (lib/model/model_gguf.c, lib/model/model_tkc.c) ----------------------- */

/* Writes the model as GGUF v3 the way llama.cpp expects it (llama.* keys,
 * tokenizer.ggml.* vocabulary, q/k rows permuted for Llama), tensors in
 * type (TK_GGML_F32, F16, BF16, Q8_0 or Q4_0; norms, and matrices whose
 * rows are not whole blocks, F32). */
int tk_model_write_gguf(const tk_model *m, const char *path, int type);

/* The metadata a full checkpoint carries, as JSON text (malloc'd):
 *   {"kind": "full", "config": {HF config}, "fingerprint": "16 hex",
 *    "tokenizer": {"model", "pre", "tokens", "token_types", "merges",
 *                  "bos_id", "eos_id", "pad_id", "add_bos", "chat_template"}}
 * Other writers (tk-sft) may add keys to it. */
char *tk_model_tkc_meta(const tk_model *m);
/* Writes all weights (f32) with that metadata. */
int tk_model_write_tkc(const tk_model *m, const char *path);

#endif
