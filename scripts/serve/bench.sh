#!/usr/bin/env bash
# The cost of the HTTP/JSON/protobuf path: one LoRA step (forward_backward +
# optim_step) of BATCH records through tk-serve with the tinker SDK, against
# the same step in tk-sft on the same records, model, rank and threads.
# Prints per-step medians (the first step left out) and the overhead.
# Usage: scripts/serve/bench.sh MODEL [BATCH [STEPS [LEN [THREADS]]]]
# Run it on a quiet machine.
set -euo pipefail
model=$1 batch=${2:-8} steps=${3:-6} len=${4:-256} threads=${5:-2}
here=$(cd "$(dirname "$0")" && pwd)
bin=${TK_BIN:-$here/../../build/bin}
py=$("$here/venv.sh")
data=$here/../../../shared/data/gsm8k/train.jsonl
work=$(mktemp -d)
trap 'kill "$(cat "$work/pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
# documents of gsm8k questions and answers, cut into records of LEN tokens
"$py" -c 'import itertools, json, sys
for line in itertools.islice(open(sys.argv[1]), int(sys.argv[2])):
    d = json.loads(line); print(json.dumps({"text": d["question"] + "\n" + d["answer"]}))' \
	"$data" $((batch * steps * 4)) >"$work/docs.jsonl"
"$bin/tk-render" -q -m "$model" --text -n "$len" "$work/docs.jsonl" -o "$work/all.tks"
"$bin/tk-render" --show --json -o "$work/show.jsonl" "$work/all.tks"
head -n $((batch * steps)) "$work/show.jsonl" >"$work/recs.jsonl"
# tk-sft --no-shuffle takes the stream's records in order, BATCH a step:
# the same records the client sends
"$bin/tk-sft" -q -m "$model" --batch "$batch" --steps "$steps" --no-shuffle --lora-rank 32 \
	--grad-clip 0 --base-dtype f32 --save-every 0 -t "$threads" -o "$work/sft" "$work/all.tks"
"$bin/tk-serve" -q -p 0 -t "$threads" --base-dtype f32 -m "bench=$model" \
	--state-dir "$work/state" 2>"$work/serve.log" &
echo $! >"$work/pid"
for _ in $(seq 300); do grep -q 'listening on' "$work/serve.log" && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' "$work/serve.log")
"$py" "$here/bench_client.py" "$url" bench "$work/recs.jsonl" "$batch" "$steps" 32 >"$work/api.json"
"$py" - "$work/sft/metrics.jsonl" "$work/api.json" <<'PY'
import json, statistics, sys
sft = [json.loads(l) for l in open(sys.argv[1])]
sft_ms = [1000 * m["num_tokens"] / m["time/tokens_per_sec"] for m in sft]
api = json.load(open(sys.argv[2]))
a, b = statistics.median(sft_ms[1:]), statistics.median(api["ms"][1:])
toks = statistics.median(api["tokens"][1:])
print(f"tokens/step {toks:.0f}  tk-sft {a:.1f} ms/step  tk-serve {b:.1f} ms/step  "
      f"overhead {100 * (b - a) / a:+.1f}%")
print("tk-sft ms:", " ".join(f"{x:.0f}" for x in sft_ms))
print("tk-serve ms:", " ".join(f"{x:.0f}" for x in api["ms"]))
PY
