/* Private to lib/sampler*.c. */
#ifndef TK_SAMPLER_INTERNAL_H
#define TK_SAMPLER_INTERNAL_H

#include <stddef.h>

/* p[i] = e^((x[i] − max)·inv_t) in double for i < n (p NULL: not kept);
 * returns their sum.  x[i] <= max, so every weight is at most 1; weights
 * under e^−708 are 0.  Within a few ulp of libm's exp per weight; the sum
 * is taken in eight running parts, not one. */
double sampler_exp_weights(double *p, const float *x, size_t n, double max, double inv_t);

#endif
