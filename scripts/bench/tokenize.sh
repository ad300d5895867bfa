#!/usr/bin/env bash
# Tokenizer encoding speed, tk beside Hugging Face tokenizers (Rust, via
# its Python binding) on the same text, one thread each, and the ratio of
# their MB/s by CPU time (wall time printed too; on a busy machine only the
# CPU figures compare).
# The text: the "question" of every line of a JSON Lines file (GSM8K's
# train.jsonl, found beside the checkout in ../shared/data, by default), each encoded as its own text.  The tokenizer:
# SmolLM2's (from its GGUF, see scripts/get-model.sh; the HF reference is
# built from the same vocabulary as scripts/oracle/tokenizer_fixtures.py
# does), or the tiny test tokenizer when the model is absent.  Both sides
# must produce the same ids (their count and hash are compared).
#
#   scripts/bench/tokenize.sh [JSONL] [REPEAT]
set -euo pipefail
cd "$(dirname "$0")/../.."

JSONL=${1:-../shared/data/gsm8k/train.jsonl}
REPEAT=${2:-5}
BUILD=${BUILD:-build}
TK_HOME=${TK_HOME:-$HOME/.cache/tk}
GGUF=$TK_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf
PY=$(scripts/oracle/venv.sh)

make -s --no-print-directory "$BUILD/libtk.a"
work=$(mktemp -d "${TMPDIR:-/tmp}/tokenize-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -Wextra -Werror -Iinclude/tk \
	scripts/bench/tokenize.c "$BUILD/libtk.a" \
	-fopenmp -lzstd -lcjson -lopenblas -lm -lpthread -o "$work/tokenize"

# one question per line (newlines inside a question become spaces)
"$PY" - "$JSONL" "$work/text.txt" <<'PY'
import json, sys
with open(sys.argv[1], encoding='utf-8') as f, open(sys.argv[2], 'w', encoding='utf-8') as out:
    for line in f:
        if line.strip():
            out.write(json.loads(line)['question'].replace('\n', ' ') + '\n')
PY

if [ -f "$GGUF" ]; then
	which=smollm2; tk_args=(--gguf "$GGUF")
else
	echo "tokenize.sh: $GGUF absent: using the tiny test tokenizer" >&2
	which=tiny; tk_args=(--json tests/fixtures/tiny-tokenizer/tokenizer.json)
fi
echo "text: $(wc -l <"$work/text.txt") questions, $(wc -c <"$work/text.txt") bytes from $JSONL; tokenizer: $which"

tk_line=$(OMP_NUM_THREADS=1 "$work/tokenize" "${tk_args[@]}" "$work/text.txt" "$REPEAT")
echo "$tk_line"
hf_line=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$PY" - "$which" "$GGUF" "$work/text.txt" "$REPEAT" <<'PY'
import sys, time
sys.path.insert(0, 'scripts/oracle')
from tokenizers import Tokenizer
import tokenizer_fixtures as tf
which, gguf, path, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tok = (tf.smollm2_from_gguf(gguf) if which == 'smollm2'
       else Tokenizer.from_file('tests/fixtures/tiny-tokenizer/tokenizer.json'))
data = open(path, 'rb').read()
lines = data.decode('utf-8').split('\n')
if lines and lines[-1] == '':
    lines.pop()
best = best_cpu = 1e30
for _ in range(repeat):
    t0, c0 = time.perf_counter(), time.process_time()
    encs = tok.encode_batch(lines, add_special_tokens=False)
    best = min(best, time.perf_counter() - t0)
    best_cpu = min(best_cpu, time.process_time() - c0)
h = 0xcbf29ce484222325
n = 0
for e in encs:
    for i in e.ids:
        h = ((h ^ i) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    n += len(e.ids)
print('hf: %.1f MB/s of CPU, %.1f MB/s wall (%d bytes, %d ids, best of %d) ids-hash %016x'
      % (len(data) / best_cpu / 1e6, len(data) / best / 1e6, len(data), n, repeat, h))
PY
)
echo "$hf_line"
tk_mbs=$(sed -E 's/^tk: ([0-9.]+) MB.*/\1/' <<<"$tk_line")
hf_mbs=$(sed -E 's/^hf: ([0-9.]+) MB.*/\1/' <<<"$hf_line")
tk_hash=${tk_line##*ids-hash }
hf_hash=${hf_line##*ids-hash }
awk -v a="$tk_mbs" -v b="$hf_mbs" 'BEGIN { printf "ratio tk/hf: %.2fx (MB/s of CPU, one thread each)\n", a / b }'
if [ "$tk_hash" != "$hf_hash" ]; then
	echo "tokenize.sh: the ids differ from tokenizers' (hash $tk_hash vs $hf_hash)" >&2
	exit 1
fi
echo "ids: identical"
