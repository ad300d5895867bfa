/* The random number generator every seeded thing in tk uses: xoshiro256**
 * seeded through splitmix64.  Its whole state is four words, so checkpoints
 * store it and a resumed run draws the same numbers. */
#ifndef TK_RNG_H
#define TK_RNG_H

#include <stdint.h>

typedef struct tk_rng {
	uint64_t s[4];
} tk_rng;

void tk_rng_seed(tk_rng *r, uint64_t seed);
uint64_t tk_rng_next(tk_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double tk_rng_uniform(tk_rng *r);
/* Standard normal (Box-Muller; uses two uniforms per call, no cache, so
 * the state alone says what comes next). */
double tk_rng_normal(tk_rng *r);
/* Uniform integer in [0, n), without modulo bias. */
uint64_t tk_rng_below(tk_rng *r, uint64_t n);

#endif
