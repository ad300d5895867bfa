/* The few Unicode facts the tokenizer needs: UTF-8 decoding that never
 * fails, and the classes its pre-tokenizer patterns use. */
#ifndef TK_UNICODE_H
#define TK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum tk_unicode_class {
	TK_UC_LETTER = 1, /* \p{L} */
	TK_UC_NUMBER = 2, /* \p{N} */
	TK_UC_SPACE = 4,  /* \s: White_Space */
	TK_UC_WORD = 8,   /* \w of the Rust regex crate */
	TK_UC_DIGIT = 16  /* Rust's char::is_numeric: what Digits splits off */
};

struct tk_unicode_range {
	uint32_t first, last;
	uint8_t cls;
};

extern const struct tk_unicode_range tk_unicode_ranges[];
extern const size_t tk_unicode_n_ranges;

/* Classes of code point cp (0 for none, and for invalid bytes). */
int tk_unicode_class_of(uint32_t cp);
extern const uint8_t tk_unicode_ascii_class[128];
static inline int tk_unicode_class(uint32_t cp)
{
	return cp < 128 ? tk_unicode_ascii_class[cp] : tk_unicode_class_of(cp);
}

/* One character of s[0..n) (n >= 1): its code point and length.  An
 * invalid or truncated sequence is one byte long with a code point above
 * 0x10FFFF, so that it has no class and is kept as a byte. */
static inline uint32_t tk_utf8_next(const unsigned char *s, size_t n,
				    size_t *len)
{
	unsigned c = s[0];
	if (c < 0x80) {
		*len = 1;
		return c;
	}
	size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
	if (need == 0 || c > 0xF4 || need > n)
		goto invalid;
	uint32_t cp = c & (0x7F >> need);
	for (size_t k = 1; k < need; k++) {
		if ((s[k] & 0xC0) != 0x80)
			goto invalid;
		cp = (cp << 6) | (s[k] & 0x3F);
	}
	/* overlong, surrogate or out of range */
	if ((need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		goto invalid;
	*len = need;
	return cp;
invalid:
	*len = 1;
	return 0x110000u + c;
}

/* Appends the UTF-8 form of cp to out (room for 4); returns the length. */
size_t tk_utf8_put(uint32_t cp, char *out);

#endif
