/* The built-in losses of tk-serve's forward_backward (losses.c). */
#ifndef TK_SERVE_LOSSES_H
#define TK_SERVE_LOSSES_H

#include "serve.h"
#include "tk_rl.h"

struct tk_train;

typedef struct serve_loss {
	int ce;                     /* cross_entropy; else rl */
	tk_rl_loss_params rl;
} serve_loss;

/* loss_fn and its config into l; 400's message in err. */
int serve_loss_parse(const char *name, const serve_fb *fb, serve_loss *l, char *err,
		     size_t cap);
/* Runs fb on t (gradients added unless forward_only): per position the
 * logprob of its target and its loss into lp_out and el_out (Σ n each),
 * the loss's sum into loss_sum.  A message in err on failure. */
int serve_loss_run(struct tk_train *t, size_t max_tokens, const serve_fb *fb,
		   const serve_loss *l, float *lp_out, float *el_out, double *loss_sum,
		   char *err, size_t cap);

#endif
