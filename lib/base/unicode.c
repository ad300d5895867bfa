#include "unicode.h"

/* ASCII decides most characters of real text: a direct table for it (9 =
 * letter + word, 26 = number + word + digit), a binary search over the generated
 * ranges for the rest. */
const uint8_t tk_unicode_ascii_class[128] = {
	['\t'] = TK_UC_SPACE, ['\n'] = TK_UC_SPACE, ['\v'] = TK_UC_SPACE,
	['\f'] = TK_UC_SPACE, ['\r'] = TK_UC_SPACE, [' '] = TK_UC_SPACE,
	['0'] = 26, ['1'] = 26, ['2'] = 26, ['3'] = 26, ['4'] = 26,
	['5'] = 26, ['6'] = 26, ['7'] = 26, ['8'] = 26, ['9'] = 26,
	['A'] = 9, ['B'] = 9, ['C'] = 9, ['D'] = 9, ['E'] = 9, ['F'] = 9,
	['G'] = 9, ['H'] = 9, ['I'] = 9, ['J'] = 9, ['K'] = 9, ['L'] = 9,
	['M'] = 9, ['N'] = 9, ['O'] = 9, ['P'] = 9, ['Q'] = 9, ['R'] = 9,
	['S'] = 9, ['T'] = 9, ['U'] = 9, ['V'] = 9, ['W'] = 9, ['X'] = 9,
	['Y'] = 9, ['Z'] = 9,
	['a'] = 9, ['b'] = 9, ['c'] = 9, ['d'] = 9, ['e'] = 9, ['f'] = 9,
	['g'] = 9, ['h'] = 9, ['i'] = 9, ['j'] = 9, ['k'] = 9, ['l'] = 9,
	['m'] = 9, ['n'] = 9, ['o'] = 9, ['p'] = 9, ['q'] = 9, ['r'] = 9,
	['s'] = 9, ['t'] = 9, ['u'] = 9, ['v'] = 9, ['w'] = 9, ['x'] = 9,
	['y'] = 9, ['z'] = 9, ['_'] = TK_UC_WORD,
};

int tk_unicode_class_of(uint32_t cp)
{
	if (cp < 128)
		return tk_unicode_ascii_class[cp];
	size_t lo = 0, hi = tk_unicode_n_ranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < tk_unicode_ranges[mid].first)
			hi = mid;
		else if (cp > tk_unicode_ranges[mid].last)
			lo = mid + 1;
		else
			return tk_unicode_ranges[mid].cls;
	}
	return 0;
}

size_t tk_utf8_put(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}
