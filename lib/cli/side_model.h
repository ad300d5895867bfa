/* A model a run uses beside the one it trains: the partner of a game
 * (--partner), a teacher that scores the policy's samples (--teacher), a
 * judge (--judge), a KL reference (--reference).  When it is the policy's
 * base (the same fingerprint) its adapter is attached to the policy's
 * engine and the base is held once; otherwise it gets an engine of its
 * own.  The same base means the same fingerprint and the same weights
 * (tk_model_weights_hex): a merged model of the base's shape is another.
 * Its tokenizer must be the policy's: it reads the policy's tokens. */
#ifndef TK_SIDE_MODEL_H
#define TK_SIDE_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct tk_backend;
struct tk_engine;
struct tk_eval_scorer;
struct tk_forward;
struct tk_model;

typedef struct tk_side_model {
	const char *role;           /* its option's name: "partner", "teacher", ... */
	struct tk_engine *engine;   /* where it runs */
	struct tk_engine *own;      /* its own engine, or NULL */
	struct tk_model *model;
	const char *adapter;        /* the attached adapter's name, or NULL: the bare base */
	int attached;               /* detach at close */
} tk_side_model;

/* The policy a side model is loaded beside: engine NULL with --full (the
 * side model then gets an engine of its own). */
typedef struct tk_side_policy {
	struct tk_backend *be;
	struct tk_engine *engine;
	const char *fingerprint;    /* the policy base's (tk_model_fingerprint_hex) */
	const char *weights;        /* and its weights' (tk_model_weights_hex) */
	uint64_t tokenizer;         /* the policy's tokenizer fingerprint */
} tk_side_policy;

/* Loads model (NULL: nothing) with adapter (NULL: none) for role, whose
 * adapter is attached under the role's name.  Messages name --ROLE and
 * --ROLE-adapter.  TK_EDATA for another tokenizer. */
int tk_side_model_open(tk_side_model *m, const char *role, const char *model,
		       const char *adapter, const tk_side_policy *policy);
int tk_side_model_forward(tk_side_model *m, size_t slots, size_t context,
			  struct tk_forward **out);
/* A scorer of the side model's logprobs (tk_eval.h) on its engine. */
int tk_side_model_scorer(tk_side_model *m, size_t slots, struct tk_eval_scorer **out);
void tk_side_model_close(tk_side_model *m);  /* safe on an unopened one */

#endif
