/* LoRA adapters: low-rank updates of a base model's linear layers, held as
 * PEFT holds them, so that an adapter moves between tk and PEFT by name.
 *
 * For a target layer y = x·Wᵀ with W (out, in), the adapter adds
 *     y += scale · (x·Aᵀ)·Bᵀ,   A (r, in), B (out, r), scale = alpha / r
 * (PEFT's lora_A, lora_B and scaling).  New adapters start with A uniform
 * in ±1/√in (PEFT's kaiming_uniform_(a=√5)) and B = 0, so a fresh adapter
 * leaves the model unchanged.
 *
 *   tk_lora_config c = {.rank = 8, .alpha = 16, .targets = TK_LORA_ALL};
 *   tk_lora *a;
 *   tk_lora_create(&a, model, &c, seed);   // or tk_lora_load(&a, path, model)
 *   tk_lora_pair *q = tk_lora_get(a, 3, TK_LORA_Q);   // layer 3's q_proj
 *   ... q->a (r, in), q->b (out, r) are host fp32, writable ...
 *   tk_lora_save(a, "final.tkc", NULL);
 *   tk_lora_free(a);
 *
 * The file is a .tkc checkpoint (man/tk-formats.5) whose metadata is
 *   {"kind": "adapter",
 *    "base_fingerprint": "16 hex digits of tk_model_fingerprint(base)",
 *    "base_weights": "16 hex digits of tk_model_weights_hex(base)",
 *    "lora": {"r": 8, "lora_alpha": 16.0,
 *             "target_modules": ["q_proj", "k_proj", ...]},
 *    "config": {HF config.json of the base model},
 *    ...extra keys a writer adds (step, optimizer, RNG state...)}
 * ("base_weights" since tk 0.1: older adapters without it are checked by
 * the fingerprint alone) and whose tensors are f32, named in PEFT form:
 *   base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight  [r, in]
 *   base_model.model.model.layers.N.self_attn.q_proj.lora_B.weight  [out, r]
 * (mlp.gate_proj / up_proj / down_proj for the MLP targets).  A reader
 * refuses an adapter for another base model (fingerprint), for other base
 * weights of the same shape (a merged or re-quantized base: unless
 * tk_lora_accept_other_base), a missing or misshapen tensor, and unknown
 * targets. */
#ifndef TK_LORA_H
#define TK_LORA_H

#include <stddef.h>
#include <stdint.h>

struct tk_model;

/* The linear layers an adapter may target, in layer order. */
enum tk_lora_target {
	TK_LORA_Q, TK_LORA_K, TK_LORA_V, TK_LORA_O,
	TK_LORA_GATE, TK_LORA_UP, TK_LORA_DOWN,
	TK_LORA_N_TARGETS
};

#define TK_LORA_ATTN  0x0fu  /* q, k, v, o */
#define TK_LORA_MLP   0x70u  /* gate, up, down */
#define TK_LORA_ALL   0x7fu

typedef struct tk_lora_config {
	int rank;          /* r >= 1 */
	float alpha;       /* lora_alpha; scale = alpha / r */
	unsigned targets;  /* bit (1u << enum tk_lora_target) per target */
} tk_lora_config;

/* One target layer's pair of matrices, host fp32. */
typedef struct tk_lora_pair {
	float *a;          /* (rank, in) lora_A */
	float *b;          /* (out, rank) lora_B */
	size_t in, out;
} tk_lora_pair;

typedef struct tk_lora {
	tk_lora_config config;
	int n_layers;
	char base_fingerprint[17];   /* 16 hex digits */
	char base_weights[17];       /* 16 hex digits, "" unknown (an older adapter) */
	int other_base;              /* loaded for other base weights, accepted */
	char *base_config_json;      /* HF config.json of the base (malloc'd) */
	tk_lora_pair *pairs;         /* (n_layers, TK_LORA_N_TARGETS); a == NULL: not targeted */
	float *data;                 /* one block holding every a and b */
	size_t numel;                /* floats in data */
} tk_lora;

/* "q" / "q_proj" ... <-> enum; -1 / NULL when unknown. */
int tk_lora_target_parse(const char *name);
const char *tk_lora_target_name(int target);    /* "q" */
const char *tk_lora_target_module(int target);  /* "q_proj" */
/* A comma-separated list ("q,v", "q_proj,v_proj", "attn", "mlp", "all")
 * into a target mask; TK_EUSAGE naming the bad item. */
int tk_lora_targets_from_list(const char *list, unsigned *mask);

float tk_lora_scale(const tk_lora_config *c);  /* alpha / rank */

/* The PEFT tensor name of layer's target ('A' or 'B') into buf. */
int tk_lora_tensor_name(char *buf, size_t cap, int layer, int target, char which);

/* A new adapter for base (A random from seed, B zero).  TK_EUSAGE for a
 * rank < 1, no target, or alpha not finite. */
int tk_lora_create(tk_lora **out, const struct tk_model *base,
		   const tk_lora_config *c, uint64_t seed);
/* Reads an adapter checkpoint ("-": stdin) and checks it against base:
 * kind, fingerprint, config, every tensor's presence and shape.  base may
 * be NULL to read without the checks (tk-merge --info). */
int tk_lora_load(tk_lora **out, const char *path, const struct tk_model *base);
/* From now on tk_lora_load accepts an adapter whose base weights are not
 * base's (a 4-bit base it was trained on, a float original it serves on),
 * setting other_base and recording base's weights as its own; the
 * fingerprint (config and tokenizer) must still agree. */
void tk_lora_accept_other_base(int yes);
/* Writes the adapter atomically; extra_meta_json (NULL or a JSON object)
 * adds its keys to the metadata (e.g. "step"), never replacing the
 * adapter's own. */
int tk_lora_save(const tk_lora *l, const char *path, const char *extra_meta_json);
void tk_lora_free(tk_lora *l);  /* safe on NULL */

/* The pair of a layer's target, or NULL when that target is not adapted. */
tk_lora_pair *tk_lora_get(const tk_lora *l, int layer, int target);

#endif
