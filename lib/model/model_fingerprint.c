/* A model's identity: FNV-1a 64 over the config and the tokenizer's own
 * fingerprint.  The config enters as fixed-width little-endian fields
 * (floats by their float32 bits), so the hash depends neither on how a
 * file spelled a number (1e-05 vs 9.99999975e-06) nor on the source
 * format. */
#include "tk_model.h"

#include <stdio.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv_bytes(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return fnv_bytes(h, b, 8);
}

static uint64_t fnv_int(uint64_t h, int64_t v)
{
	return fnv_u64(h, (uint64_t)v);
}

static uint64_t fnv_float(uint64_t h, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	return fnv_u64(h, u);
}

static uint64_t config_hash(uint64_t h, const tk_model_config *c)
{
	h = fnv_bytes(h, c->architecture, strlen(c->architecture) + 1);
	const int64_t ints[] = {
		c->n_layers, c->hidden, c->n_heads, c->n_kv_heads, c->head_dim,
		c->intermediate, c->vocab, c->max_positions, c->rope_type,
		c->rope_original_max_positions, c->tied_embeddings, c->attention_bias,
		c->qk_norm, c->bos_id, c->eos_id,
	};
	for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
		h = fnv_int(h, ints[i]);
	const float floats[] = {
		c->rope_theta, c->rope_factor, c->rope_low_freq_factor,
		c->rope_high_freq_factor, c->rms_norm_eps,
	};
	for (size_t i = 0; i < sizeof floats / sizeof *floats; i++)
		h = fnv_float(h, floats[i]);
	if (c->sliding_window) { // hashed only when set: older fingerprints stand
		h = fnv_int(h, c->sliding_window);
		h = fnv_int(h, c->full_attention_layers);
	}
	return h;
}

uint64_t tk_model_fingerprint(const tk_model *m)
{
	uint64_t h = fnv_bytes(FNV_OFFSET, "tk-model-v1", 11);
	h = config_hash(h, &m->config);
	return fnv_u64(h, m->tokenizer ? tk_tokenizer_fingerprint(m->tokenizer) : 0);
}

void tk_model_fingerprint_hex(const tk_model *m, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)tk_model_fingerprint(m));
}
