#!/usr/bin/env bash
# Golden outputs: the bytes tk writes for fixed inputs on the tiny models
# (tk-sample at batch 1 and 64, tk-sft LoRA, --full and DPO, tk-eval nll and
# score), so that a change meant to move code can show that it moved no bit.
#   tests/golden.sh OUTDIR        writes them (tk-* from PATH)
# tests/golden.bats compares a fresh OUTDIR with tests/fixtures/golden/;
# after a change that is meant to change bits, regenerate with
#   PATH=build/bin:$PATH tests/golden.sh tests/fixtures/golden
# and say why in the commit.  Binary files (checkpoints, token streams) are
# kept as SHA-256 sums; wall-clock fields are dropped from the metrics.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
fix=$here/fixtures
tiny=$fix/tiny-llama tied=$fix/tiny-llama-tied
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/tk-golden.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# The copy task: the assistant repeats the user's words.
awk 'BEGIN { srand(7); split("red blue green cat dog sun moon tree", w, " ")
	for (i = 0; i < 48; i++) { k = 2 + int(rand() * 4); s = ""
		for (j = 0; j < k; j++) s = s (j ? " " : "") w[1 + int(rand() * 8)]
		printf "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},", s
		printf "{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", s } }' >chats.jsonl
# Pairs: the copy preferred to a shuffled copy.
awk -F'"' '{ printf "{\"prompt\":\"%s\",\"chosen\":\"%s\",\"rejected\":\"%s tree\"}\n", $8, $8, $8 }' \
	chats.jsonl | head -n 16 >pairs.jsonl
head -n 12 chats.jsonl >prompts.jsonl

no_time() { sed -E 's/, "time\/[a-z_]+": [0-9.e+-]+//g' "$1"; }
sums() { (cd "$1" && sha256sum "${@:2}"); }

tk-render -q -m "$tiny" chats.jsonl -o train.tks
tk-render -q -m "$tiny" --pairs pairs.jsonl -o pairs.tks
tk-render -q -m "$tied" chats.jsonl -o train-tied.tks

sample=(-q -n 3 --max-tokens 10 --temperature 0.9 --top-p 0.95 --seed 5 --logprobs)
tk-sample "${sample[@]}" -m "$tiny" --batch 1 prompts.jsonl >"$out/sample-b1.jsonl"
tk-sample "${sample[@]}" -m "$tiny" --batch 64 prompts.jsonl >"$out/sample-b64.jsonl"
tk-sample "${sample[@]}" -m "$tied" -a "$fix/logits/tiny-llama-tied-adapter.tkc" \
	prompts.jsonl >"$out/sample-tied-adapter.jsonl"

sft=(-q -t 2 --seed 3 --steps 6 --batch 4 --save-every 3)
tk-sft "${sft[@]}" -m "$tiny" --lora-rank 4 train.tks -o lora
tk-sft "${sft[@]}" -m "$tied" --full --lr 1e-3 train-tied.tks -o full
tk-sft "${sft[@]}" -m "$tiny" --lora-rank 4 --loss dpo --batch 2 pairs.tks -o dpo
for r in lora full dpo; do
	no_time "$r/metrics.jsonl" >"$out/sft-$r.metrics.jsonl"
	sums "$r" final.tkc step-000003.tkc >"$out/sft-$r.sha256"
done
tk-sample "${sample[@]}" -m "$tiny" -a lora/final.tkc prompts.jsonl >"$out/sample-trained.jsonl"

tk-eval nll -q -m "$tiny" --per-record "$out/nll-records.jsonl" train.tks |
	sed -E 's/,"model":"[^"]*"//' >"$out/nll.json"
tk-eval nll -q -m "$tiny" -a lora/final.tkc train.tks | sed -E 's/,"model":"[^"]*","adapter":"[^"]*"//' \
	>"$out/nll-trained.json"
tk-eval score -q --task number --per-record "$out/score-records.jsonl" \
	"$fix/eval/gsm8k-samples.jsonl" >"$out/score.json"
