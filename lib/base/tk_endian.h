/* Little-endian fields of tk's file formats, whatever the host's order. */
#ifndef TK_ENDIAN_H
#define TK_ENDIAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void tk_put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void tk_put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t tk_get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t tk_get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline int tk_host_is_little_endian(void)
{
	const uint32_t one = 1;
	unsigned char b;
	memcpy(&b, &one, 1);
	return b == 1;
}

/* Reverses the bytes of each `size`-byte element (big-endian hosts). */
static inline void tk_swap_elements(void *data, size_t nbytes, size_t size)
{
	unsigned char *p = data;
	for (size_t at = 0; at + size <= nbytes; at += size)
		for (size_t i = 0; i < size / 2; i++) {
			unsigned char t = p[at + i];
			p[at + i] = p[at + size - 1 - i];
			p[at + size - 1 - i] = t;
		}
}

#endif
