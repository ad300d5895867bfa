#!/usr/bin/env python3
"""Writes lib/base/unicode_table.c: the Unicode classes the pre-tokenizer
patterns use (\\p{L}, \\p{N}, \\s) as sorted code-point ranges.

    python3 scripts/oracle/gen_unicode_table.py > lib/base/unicode_table.c
    python3 scripts/oracle/gen_unicode_table.py nfc > lib/tokenizer/tokenizer_nfc_table.c

L is general category L* (Lu Ll Lt Lm Lo), N is N* (Nd Nl No), and
whitespace is the Unicode White_Space property, which is what \\s means in
Oniguruma (used by Hugging Face tokenizers) and in the Rust regex crate.
Python's unicodedata has no White_Space property, so the list is written
out here (it has been stable since Unicode 6.3).

D is what the Digits pre-tokenizer splits off: Rust's char::is_numeric,
like N but of a newer Unicode.  W is \\w as the Rust regex crate has it (tokenizers' single_word test of
added tokens): Alphabetic, marks, Nd, Pc and Join_Control.  Alphabetic is
approximated as L* + Nl + the So letters that are Other_Alphabetic (circled
and squared Latin letters).

Python's unicodedata lags the Unicode version of the engine it must agree
with (Python 3.11 has Unicode 14; the Oniguruma inside tokenizers 0.23 has
16, with some 9000 letters more).  So when the `tokenizers` package is
importable, \\p{L}, \\p{N} and \\s are taken from its own regex engine,
every code point tested, and \\w from the Rust regex crate it also uses
(through an added token's single_word), the differences from unicodedata
reported on stderr; without it the table comes from unicodedata alone."""
import sys
import unicodedata

WHITE_SPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0),
               (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
               (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)]

CLASS_L, CLASS_N, CLASS_S, CLASS_W, CLASS_D = 1, 2, 4, 8, 16
OTHER_ALPHABETIC_SO = [(0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169),
                       (0x1F170, 0x1F189)]


def classes():
    ws = set()
    for a, b in WHITE_SPACE:
        ws.update(range(a, b + 1))
    out = []
    for cp in range(0x110000):
        cat = unicodedata.category(chr(cp))
        c = 0
        if cat[0] == 'L':
            c |= CLASS_L
        if cat[0] == 'N':
            c |= CLASS_N | CLASS_D
        if cp in ws:
            c |= CLASS_S
        if (cat[0] in 'LM' or cat in ('Nd', 'Nl', 'Pc') or cp in (0x200C, 0x200D)
                or any(a <= cp <= b for a, b in OTHER_ALPHABETIC_SO)):
            c |= CLASS_W
        out.append(c)
    return out


def onig_sets():
    """The code points tokenizers' regex engine puts in each class."""
    from tokenizers import Regex, pre_tokenizers
    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    out = {}
    for name, pattern in (('L', r'\p{L}'), ('N', r'\p{N}'), ('S', r'\s')):
        split = pre_tokenizers.Split(Regex(pattern), behavior='removed')
        matched = set()
        for k in range(0, len(cps), 20000):
            chunk = cps[k:k + 20000]
            kept = bytearray(len(chunk))
            for _, (a, b) in split.pre_tokenize_str(''.join(map(chr, chunk))):
                kept[a:b] = b'\x01' * (b - a)
            matched.update(cp for i, cp in enumerate(chunk) if not kept[i])
        out[name] = matched
    return out


def rust_word_set():
    """The code points the Rust regex crate in tokenizers calls \\w, seen
    through an added token with single_word: it matches only when the
    next character is not a word character."""
    from tokenizers import AddedToken, Tokenizer, models
    tok = Tokenizer(models.BPE())
    tok.add_tokens([AddedToken('\x01', single_word=True)])
    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    word = set()
    for k in range(0, len(cps), 50000):
        chunk = cps[k:k + 50000]
        encs = tok.encode_batch(['\x01' + chr(cp) for cp in chunk],
                                add_special_tokens=False)
        word.update(cp for cp, e in zip(chunk, encs) if not e.ids)
    return word


def rust_numeric_set():
    """The code points tokenizers' Digits pre-tokenizer splits off (Rust's
    char::is_numeric, of a newer Unicode than Oniguruma's \\p{N})."""
    from tokenizers import pre_tokenizers
    digits = pre_tokenizers.Digits(individual_digits=True)
    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    out = set()
    for k in range(0, len(cps), 20000):
        chunk = cps[k:k + 20000]
        starts = {a for _, (a, b) in digits.pre_tokenize_str(
            '\x01'.join(map(chr, chunk))) if b - a == 1}
        # a numeric character is a piece of its own, at offset 2 i; other
        # characters join the separators around them
        out.update(cp for i, cp in enumerate(chunk) if 2 * i in starts)
    return out


def align_with_onig(cls):
    try:
        sets = onig_sets()
    except ImportError:
        print('tokenizers not importable: table from unicodedata alone',
              file=sys.stderr)
        return cls
    for bit, name in ((CLASS_L, 'L'), (CLASS_N, 'N'), (CLASS_S, 'S')):
        added = removed = 0
        for cp in range(0x110000):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            want = cp in sets[name]
            if want and not cls[cp] & bit:
                cls[cp] |= bit
                if bit == CLASS_L:
                    cls[cp] |= CLASS_W
                added += 1
            elif not want and cls[cp] & bit:
                cls[cp] &= ~bit
                removed += 1
        print('%s: %d code points added, %d removed by Oniguruma' %
              (name, added, removed), file=sys.stderr)
    word = rust_word_set()
    added = removed = 0
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if cp in word and not cls[cp] & CLASS_W:
            cls[cp] |= CLASS_W
            added += 1
        elif cp not in word and cls[cp] & CLASS_W:
            cls[cp] &= ~CLASS_W
            removed += 1
    print('W: %d code points added, %d removed by the Rust regex crate' %
          (added, removed), file=sys.stderr)
    numeric = rust_numeric_set()
    added = removed = 0
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if cp in numeric and not cls[cp] & CLASS_D:
            cls[cp] |= CLASS_D
            added += 1
        elif cp not in numeric and cls[cp] & CLASS_D:
            cls[cp] &= ~CLASS_D
            removed += 1
    print('D: %d code points added, %d removed by Rust is_numeric' %
          (added, removed), file=sys.stderr)
    return cls


def ranges(cls):
    res = []
    start = 0
    for cp in range(1, 0x110001):
        if cp == 0x110000 or cls[cp] != cls[start]:
            if cls[start]:
                res.append((start, cp - 1, cls[start]))
            start = cp
    return res


def main():
    rs = ranges(align_with_onig(classes()))
    w = sys.stdout.write
    w("/* Generated by scripts/oracle/gen_unicode_table.py from Python's\n"
      " * unicodedata (Unicode %s) aligned with the regex engine of\n"
      " * tokenizers; do not edit.  Sorted, disjoint ranges of\n"
      " * code points with their classes (1 letter L*, 2 number N*,\n"
      " * 4 White_Space, 8 word character \\w, 16 numeric for Digits). */\n"
      % unicodedata.unidata_version)
    w('#include "unicode.h"\n\n')
    w("const struct tk_unicode_range tk_unicode_ranges[] = {\n")
    for a, b, c in rs:
        w("\t{0x%05X, 0x%05X, %d},\n" % (a, b, c))
    w("};\n\n")
    w("const size_t tk_unicode_n_ranges = sizeof tk_unicode_ranges / sizeof tk_unicode_ranges[0];\n")


def nfc_tables():
    """Canonical combining classes, full canonical decompositions and the
    primary composites, for the NFC normalizer (lib/tokenizer/tokenizer_nfc.c).
    Hangul syllables are left out: they are composed by arithmetic.

    The reference is the NFC normalizer of tokenizers, whose tables are
    older than Python's (Unicode 9: it leaves U+0EBA, U+1ACC and the other
    marks added since as they are).  So what Python's unicodedata says is
    kept only where tokenizers agrees: decompositions are tokenizers' own
    NFD of each character, combining classes are kept for the marks it
    reorders, composites for the pairs it composes."""
    from tokenizers import normalizers
    hf_nfd, hf_nfc = normalizers.NFD(), normalizers.NFC()

    def hangul(cp):
        return 0xAC00 <= cp <= 0xD7A3

    def known_mark(cp, c):
        # a mark tokenizers knows is reordered: one of class c > 1 after
        # U+0334 (class 1), one of class 1 before U+0301 (class 230)
        probe = ('x' + chr(cp) + '\u0334') if c > 1 else ('x\u0301' + chr(cp))
        return hf_nfd.normalize_str(probe) == unicodedata.normalize('NFD', probe)

    ccc = []
    for cp in range(0x110000):
        c = unicodedata.combining(chr(cp))
        if c and known_mark(cp, c):
            if ccc and ccc[-1][1] == cp - 1 and ccc[-1][2] == c:
                ccc[-1][1] = cp
            else:
                ccc.append([cp, cp, c])
    decomp = []
    cps = [cp for cp in range(0xA0, 0x110000)
           if not 0xD800 <= cp <= 0xDFFF and not hangul(cp)]
    for k in range(0, len(cps), 4096):
        chunk = cps[k:k + 4096]
        parts = hf_nfd.normalize_str('\x01'.join(map(chr, chunk))).split('\x01')
        assert len(parts) == len(chunk)
        for cp, d in zip(chunk, parts):
            if d != chr(cp):
                decomp.append((cp, [ord(x) for x in d]))
    pairs = []
    for cp, _ in decomp:
        raw = unicodedata.decomposition(chr(cp))
        parts = [int(x, 16) for x in raw.split()] if raw and not raw.startswith('<') else []
        if (len(parts) == 2 and
                hf_nfc.normalize_str(chr(parts[0]) + chr(parts[1])) == chr(cp)):
            pairs.append((parts[0], parts[1], cp))
    pairs.sort()
    w = sys.stdout.write
    w("/* Generated by scripts/oracle/gen_unicode_table.py nfc from Python's\n"
      " * unicodedata (Unicode %s) as far as tokenizers' NFC agrees; do not\n"
      " * edit.  The tables of NFC\n"
      " * (lib/tokenizer/tokenizer_nfc.c): canonical combining classes as ranges, full\n"
      " * canonical decompositions, and primary composites by their pair. */\n"
      % unicodedata.unidata_version)
    w('#include "tokenizer_nfc.h"\n\n')
    w("const struct tk_nfc_ccc tk_nfc_ccc[] = {\n")
    for a, b, c in ccc:
        w("\t{0x%05X, 0x%05X, %d},\n" % (a, b, c))
    w("};\nconst size_t tk_nfc_n_ccc = sizeof tk_nfc_ccc / sizeof tk_nfc_ccc[0];\n\n")
    flat = []
    w("const struct tk_nfc_decomp tk_nfc_decomp[] = {\n")
    for cp, cps in decomp:
        w("\t{0x%05X, %d, %d},\n" % (cp, len(flat), len(cps)))
        flat.extend(cps)
    w("};\nconst size_t tk_nfc_n_decomp = sizeof tk_nfc_decomp / sizeof tk_nfc_decomp[0];\n\n")
    w("const uint32_t tk_nfc_decomp_cps[] = {\n")
    for k in range(0, len(flat), 8):
        w("\t" + " ".join("0x%05X," % x for x in flat[k:k + 8]) + "\n")
    w("};\n\n")
    w("const struct tk_nfc_pair tk_nfc_pairs[] = {\n")
    for a, b, c in pairs:
        w("\t{0x%05X, 0x%05X, 0x%05X},\n" % (a, b, c))
    w("};\nconst size_t tk_nfc_n_pairs = sizeof tk_nfc_pairs / sizeof tk_nfc_pairs[0];\n")


if __name__ == '__main__':
    if sys.argv[1:] == ['nfc']:
        nfc_tables()
    else:
        main()
