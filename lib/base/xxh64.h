/* XXH64, the 64-bit xxHash of a byte buffer (the algorithm zstd's frames
 * use for their checksums), written from its public specification: fast
 * enough (GB/s) to fingerprint a model's weight files. */
#ifndef TK_XXH64_H
#define TK_XXH64_H

#include <stddef.h>
#include <stdint.h>

uint64_t tk_xxh64(const void *data, size_t len, uint64_t seed);

#endif
