#!/usr/bin/env bash
# The tinker-cookbook's RL loop (recipes/math_rl/train.py, its arithmetic
# environment; `rl`) or its supervised loop (supervised/train.py on
# scripts/data/demo-train.jsonl through FromConversationFileBuilder, started
# by scripts/serve/cookbook_sl.py; `sl`) run against tk-serve, unchanged but
# for what its config takes
# as arguments: the base URL, the model name (a local HF folder, so that
# transformers finds the tokenizer offline), the renderer (the cookbook picks
# renderers by model name and knows no SmolLM2) and the learning rate (its
# helper knows only Llama and Qwen).  Prints the run's metrics and wall time.
# Usage: scripts/serve/cookbook.sh rl|sl MODEL.gguf PYTHON [STEPS [THREADS [MAX_TOKENS]]]
# PYTHON: an environment with tinker==0.38.0 and tinker-cookbook==0.6.1
# (the cookbook needs torch; tk-serve does not).
set -euo pipefail
loop=$1 model=$2 py=$3 steps=${4:-20} threads=${5:-2} max_tokens=${6:-5}
here=$(cd "$(dirname "$0")" && pwd)
bin=${TK_BIN:-$here/../../build/bin}
work=$(mktemp -d)
trap 'kill "$(cat "$work/pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
# the tokenizer files transformers reads (the GGUF's own vocabulary)
"$bin/tk-merge" -q -m "$model" --dtype bf16 -o "$work/hf"
name=$work/hf
"$bin/tk-serve" -q -p 0 -t "$threads" -m "$name=$model" --state-dir "$work/state" \
	2>"$work/serve.log" &
echo $! >"$work/pid"
for _ in $(seq 300); do grep -q 'listening on' "$work/serve.log" && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' "$work/serve.log")
start=$(date +%s.%N)
if [ "$loop" = rl ]; then
	set -- -m tinker_cookbook.recipes.math_rl.train env=arithmetic \
		loss_fn=importance_sampling group_size=4 groups_per_batch=8 max_tokens="$max_tokens"
else
	set -- "$here/cookbook_sl.py" recipe_name=tk-serve \
		dataset_builder=tinker_cookbook.supervised.data:FromConversationFileBuilder \
		dataset_builder.file_path="$here/../data/demo-train.jsonl" \
		dataset_builder.common_config.model_name_for_tokenizer="$name" \
		dataset_builder.common_config.renderer_name=role_colon \
		dataset_builder.common_config.max_length=512 dataset_builder.common_config.batch_size=8
fi
TINKER_API_KEY=tml-local "$py" "$@" base_url="$url" model_name="$name" renderer_name=role_colon \
	learning_rate=1e-3 max_steps="$steps" eval_every=0 save_every=0 \
	log_path="$work/run" >"$work/cookbook.log" 2>&1 ||
	{ tail -n 30 "$work/cookbook.log"; cat "$work/serve.log"; exit 1; }
end=$(date +%s.%N)
"$py" - "$work/run/metrics.jsonl" "$start" "$end" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = [k for k in ("env/all/reward/total", "env/all/correct", "env/all/format",
                    "train_mean_nll") if k in rows[0]]
for r in rows:
    print(r.get("step", "?"), " ".join(f"{k.split('/')[-1]}={r[k]:.3f}" for k in keys if k in r))
print(f"wall {float(sys.argv[3]) - float(sys.argv[2]):.1f} s for {len(rows)} steps")
PY
