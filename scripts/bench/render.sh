#!/usr/bin/env bash
# Throughput of tk-render on one core: short chats (a user question and an
# assistant answer, about 40 tokens with SmolLM2's template) rendered to a
# token stream, in conversations per minute, against the target of 50k/min
# and, when the oracle environment is there, against transformers'
# apply_chat_template(tokenize=True) measured in the same run.
#
#   scripts/bench/render.sh [N] [MODEL]
#
# N: conversations (default 200000).  MODEL: default SmolLM2-135M-Instruct
# (scripts/get-model.sh), else the tiny test tokenizer.  The model's load
# time is measured apart (a run on no input) and left out of the rate.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-200000}
model=${2:-$(scripts/get-model.sh smollm2-135m-instruct 2>/dev/null || echo tests/fixtures/tiny-tokenizer)}
bin=${TK_BIN:-build/bin}
[ -x "$bin/tk-render" ] || make -s "$bin/tk-render"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tk-bench-render.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# Short chats, all different (numbers), some with a system prompt.
awk -v n="$n" 'BEGIN {
	for (i = 0; i < n; i++) {
		sys = i % 3 == 0 ? "{\"role\":\"system\",\"content\":\"You are a concise assistant.\"}," : ""
		printf "{\"id\":%d,\"messages\":[%s{\"role\":\"user\",\"content\":\"What is %d plus %d? Answer briefly.\"},", i, sys, i, i % 97
		printf "{\"role\":\"assistant\",\"content\":\"%d plus %d is %d.\"}]}\n", i, i % 97, i + i % 97
	}
}' >"$scratch/chats.jsonl"
: >"$scratch/empty.jsonl"

one_core() { if command -v taskset >/dev/null; then taskset -c 0 "$@"; else "$@"; fi; }
seconds() { # command... -> wall seconds
	local t0 t1
	t0=$(date +%s.%N)
	"$@"
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}

load=$(seconds one_core "$bin/tk-render" -q -t 1 -m "$model" -o "$scratch/e.tks" "$scratch/empty.jsonl")
total=$(seconds one_core "$bin/tk-render" -t 1 -m "$model" -o "$scratch/c.tks" "$scratch/chats.jsonl" 2>"$scratch/log")
# the summary line: "tk-render: N records, T tokens (W weighted) from ..."
tokens=$(sed -n 's/^tk-render: [0-9]* records, \([0-9]*\) tokens.*/\1/p' "$scratch/log")
rate=$(echo "$n * 60 / ($total - $load)" | bc -l)
printf 'tk-render: %d conversations (%d tokens) on one core in %.2f s (model load %.2f s)\n' \
	"$n" "$tokens" "$total" "$load"
printf 'tk-render: %.0f conversations/minute without the load, %.0f with it (target 50000: %s)\n' \
	"$rate" "$(echo "$n * 60 / $total" | bc -l)" \
	"$(echo "$n * 60 / $total >= 50000" | bc -l | sed 's/1/met/; s/0/NOT met/')"

# The peer: transformers on the same chats (a sample of them), when the
# oracle environment exists and the model is SmolLM2's GGUF.
py=${TK_HOME:-$HOME/.cache/tk}/oracle-venv/bin/python
if [ -x "$py" ] && [[ "$model" == *.gguf ]]; then
	head -n 20000 "$scratch/chats.jsonl" >"$scratch/sample.jsonl"
	peer=$(one_core "$py" - "$model" "$scratch/sample.jsonl" <<-'EOF' 2>/dev/null
	import json, os, sys, time
	from transformers import AutoTokenizer
	folder, name = os.path.split(os.path.abspath(sys.argv[1]))
	tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
	chats = [json.loads(l)["messages"] for l in open(sys.argv[2])]
	t0 = time.time()
	for c in chats:
	    tok.apply_chat_template(c, tokenize=True, return_dict=True, return_assistant_tokens_mask=False)
	print(len(chats) * 60 / (time.time() - t0))
	EOF
	) || peer=
	if [ -n "$peer" ]; then
		printf 'transformers apply_chat_template: %.0f conversations/minute; tk-render is %.1fx\n' \
			"$peer" "$(echo "$rate / $peer" | bc -l)"
	fi
fi
