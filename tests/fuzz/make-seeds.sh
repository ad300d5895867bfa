#!/usr/bin/env bash
# Regenerates the seed corpora in tests/fuzz/corpus/TARGET/ (committed):
# a few small inputs per harness, from the fixtures and from the writers
# (tests/fuzz/make_seeds.c).  Binary formats that live in a zstd stream
# also get their decompressed bytes as seeds, which the harnesses
# compress themselves (harness.h, fuzz_write_zstd).
#   tests/fuzz/make-seeds.sh          (uses BUILD=build, built if needed)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
make -s --no-print-directory BUILD="$BUILD" all >/dev/null
out=tests/fuzz/corpus
fx=tests/fixtures
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tk-seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

targets=(tks tkc gguf safetensors tokenizer_json config chat encode rl_answer eval jsonl cli)
rm -rf "$out"
for t in "${targets[@]}"; do mkdir -p "$out/$t"; done

cc -std=c11 -D_DEFAULT_SOURCE -Iinclude/tk -Ilib tests/fuzz/make_seeds.c "$BUILD/libtk.a" \
	-fopenmp -lzstd -lcjson -lopenblas -lm -lpthread -o "$tmp/make_seeds"
"$tmp/make_seeds" "$out" "$fx/tiny-llama" "$tmp/micro-hf"
cp "$tmp/micro-hf/model.safetensors" "$out/safetensors/micro-bf16.safetensors"

# token streams as tk-render makes them: chats, pairs, a concatenation
"$BUILD/bin/tk-render" -q -m "$fx/tiny-llama" -o "$tmp/chats.tks" <(head -n 3 "$fx/render/chats.jsonl")
cp "$tmp/chats.tks" "$out/tks/chats.tks"
cat "$tmp/chats.tks" "$out/tks/two-records.tks" >"$out/tks/two-parts.tks"
printf '%s\n' '{"prompt": "Say yes.", "chosen": "Yes.", "rejected": "No."}' >"$tmp/pairs.jsonl"
"$BUILD/bin/tk-render" -q --pairs -m "$fx/tiny-llama" -o "$out/tks/pairs.tks" "$tmp/pairs.jsonl"
cp "$fx/tks/v1-two-records.tks" "$out/tks/"   # a version-1 stream
for f in "$out"/tks/*.tks "$out"/tkc/*.tkc; do
	zstd -q -dc "$f" >"${f%.*}.raw"
done

cp "$fx/gguf/types.gguf" "$out/gguf/"

cp "$fx/tiny-llama/tokenizer.json" "$out/tokenizer_json/tiny-llama.json"
cp "$fx/render/tiny-qwen3/tokenizer.json" "$out/tokenizer_json/tiny-qwen3.json"
cp "$tmp/micro-hf/tokenizer.json" "$out/tokenizer_json/written.json"
# a vocabulary small enough for the fuzzer to reshape quickly
python3 - "$fx/tiny-llama/tokenizer.json" "$out/tokenizer_json/small.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
vocab = {k: v for k, v in t["model"]["vocab"].items() if v < 40}
t["model"]["vocab"] = vocab
t["model"]["merges"] = []
t["added_tokens"] = t["added_tokens"][:2]
json.dump(t, open(sys.argv[2], "w"), separators=(",", ":"))
PY

cp "$fx/tiny-llama/config.json" "$out/config/tiny-llama.json"
cp "$fx/tiny-qwen3/config.json" "$out/config/tiny-qwen3.json"
cp "$fx/tiny-mistral/config.json" "$out/config/tiny-mistral.json"
cp "$tmp/micro-hf/config.json" "$out/config/written.json"
printf '%s\n' '{"model_type":"llama","hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"intermediate_size":8,"vocab_size":16,"max_position_embeddings":64,"rope_theta":500000.0,"rms_norm_eps":1e-05,"tie_word_embeddings":true,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":32},"bos_token_id":1,"eos_token_id":[2,3]}' >"$out/config/llama3-rope.json"

n=0
while IFS= read -r line; do
	n=$((n + 1)); printf '%s' "$line" >"$out/chat/chat-$n.jsonl"
done < <(head -n 4 "$fx/render/chats.jsonl")
printf '%s' '{"prompt": [{"role": "user", "content": "Hi"}], "chosen": {"role": "assistant", "content": "Hello"}, "rejected": "Go away", "id": 3}' >"$out/chat/pair.jsonl"
printf '%s' '{"text": "Plain text, with <|im_end|> inside.", "source": "x"}' >"$out/chat/text.jsonl"
printf '%s' '{"messages": [{"role": "assistant", "content": "ok", "reasoning_content": "think"}]}' >"$out/chat/reasoning.jsonl"
printf '%s' '<think>why</think>The answer.<|im_end|>' >"$out/chat/response.txt"

printf '%s' 'Hello, world! 123 4567  ' >"$out/encode/ascii.txt"
printf 'caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xff\xfe <|im_start|>user\n' >"$out/encode/unicode.txt"
printf "It's 3.14159 — isn't it?\r\n\t  x" >"$out/encode/mixed.txt"

printf '%s' '{"reward": 1.0}' >"$out/rl_answer/plain.jsonl"
printf '%s' '{"reward": -0.5, "correct": true, "metrics": {"len": 12, "ok": true, "name": "x"}}' >"$out/rl_answer/metrics.jsonl"
printf '%s' '{"reward": 0, "correct": 0}  ' >"$out/rl_answer/numeric-correct.jsonl"
printf '%s' '{"reward": 1e999}' >"$out/rl_answer/infinite.jsonl"

printf '%s\0%s' 'so she pays $1,000.' 'reasoning #### 1000' >"$out/eval/number"
printf '%s\0%s' 'Thus \boxed{\frac{1}{2}} is it.' '\boxed{0.5}' >"$out/eval/boxed"
printf '%s\0%s' 'The answer is (C).' '2' >"$out/eval/choice"
printf '%s\0%s' '  "Paris."  ' 'paris' >"$out/eval/exact"
printf '%s\0%s' 'x = \dfrac{3}{4}^\circ and \text{50}\%' '-3/4' >"$out/eval/latex"

printf '%s' '{"a": [1, 2.5, "x", null, true, {"b": {}}], "c": "\u00e9\n"}' >"$out/jsonl/object.jsonl"
printf '%s' '   {"a":1}   ' >"$out/jsonl/spaces.jsonl"
printf '%s' '{"a":1} x' >"$out/jsonl/trailing.jsonl"

printf '%s\0' -n 5 --lr 0.1 --format x -v --resume -t 2 --seed 7 -o out.tks in.jsonl >"$out/cli/all"
printf '%s\0' -vqn5 --max-len=7 -- -x >"$out/cli/clustered"
printf '%s\0' --lr=2 >"$out/cli/bad-value"
printf '%s\0' --help >"$out/cli/help"

for t in "${targets[@]}"; do
	printf '%-16s %3d files %8d bytes\n' "$t" "$(ls "$out/$t" | wc -l)" "$(cat "$out/$t"/* | wc -c)"
done
