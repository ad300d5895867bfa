/* GPT-2's byte-level alphabet: every byte is written in a vocabulary as a
 * printable character, so that tokens are strings.  Printable Latin-1
 * bytes stand for themselves; the other 68 map to U+0100.. in byte order. */
#include "tokenizer_internal.h"

#include "base/unicode.h"

static int byte_is_printable(unsigned b)
{
	return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
	       (b >= 0xAE && b <= 0xFF);
}

uint32_t tk_byte_to_cp(unsigned b)
{
	/* the 68 unprintable bytes: 0x00-0x20, 0x7F-0xA0, 0xAD */
	if (byte_is_printable(b))
		return b;
	if (b <= 0x20)
		return 256 + b;
	if (b <= 0xA0)
		return 256 + 33 + (b - 0x7F);
	return 256 + 67;
}

int tk_cp_to_byte(uint32_t cp)
{
	if (cp < 256)
		return byte_is_printable(cp) ? (int)cp : -1;
	uint32_t k = cp - 256;
	if (k < 33)
		return (int)k;
	if (k < 67)
		return (int)(0x7F + k - 33);
	return k == 67 ? 0xAD : -1;
}

size_t tk_bytelevel_decode(const char *text, size_t n, char *out)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t len;
		uint32_t cp = tk_utf8_next(s + i, n - i, &len);
		int b = tk_cp_to_byte(cp);
		if (b < 0)
			return (size_t)-1;
		out[o++] = (char)b;
		i += len;
	}
	return o;
}
