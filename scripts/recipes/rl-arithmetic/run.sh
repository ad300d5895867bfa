#!/usr/bin/env bash
# Math RL on tk-rl's built-in arithmetic environment ("What is 47 + 38?
# Answer with the number only."), with greedy accuracy on held-out problems
# before and after.
#
#   tk-rl --dump-prompts (another seed) ─▶ held-out problems
#   tk-sample --temperature 0 ─ tk-eval score --task number   (before)
#   tk-rl --env arithmetic ─▶ run/final.tkc
#   tk-sample -a run/final.tkc ─ tk-eval score --task number  (after)
#
# Prints one JSON line (also $OUT/result.json): accuracy before and after,
# mean training reward of the first and the last steps, seconds taken.
# scripts/rl-arithmetic.sh is the longer, measured SmolLM2 run of the same.
#
# Variables (environment):
#   MODEL   model (default: SmolLM2-135M-Instruct via scripts/get-model.sh)
#   OUT     output folder (default rl-arithmetic-out)
#   DIGITS [2]  OPS [add]  STEPS [20]  N_GROUPS [8]  GROUP_SIZE [4]
#   MAXTOK [16]  HELDOUT [100]  LOSS [is]  LR [LoRA size rule]  THREADS  SEED [1]
#
# Expected: training reward and held-out accuracy rise.  Smoke-tested on a
# tiny model only; on SmolLM2 here (2 loaded cores) the defaults take over
# an hour (scripts/rl-arithmetic.sh is the measured run).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="$root/build/bin:$PATH"
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
OUT=${OUT:-rl-arithmetic-out}
DIGITS=${DIGITS:-2} OPS=${OPS:-add} STEPS=${STEPS:-20} N_GROUPS=${N_GROUPS:-8}
GROUP_SIZE=${GROUP_SIZE:-4} MAXTOK=${MAXTOK:-16} HELDOUT=${HELDOUT:-100}
LOSS=${LOSS:-is} SEED=${SEED:-1}
threads=${THREADS:+-t $THREADS}
lr=${LR:+--lr $LR}
env_opts=(--env arithmetic --digits "$DIGITS" --ops "$OPS")
mkdir -p "$OUT"
rm -rf "$OUT/run"

# Held-out problems: another seed's, less any the training run poses.
tk-rl -m "$MODEL" "${env_opts[@]}" --seed "$SEED" --dump-prompts $((STEPS * N_GROUPS)) \
	-o "$OUT/train-problems.jsonl"
tk-rl -m "$MODEL" "${env_opts[@]}" --seed $((SEED + 1000)) --dump-prompts $((2 * HELDOUT)) |
	awk 'NR == FNR { c = $0; sub(/^.*"content":/, "", c); seen[c]; next }
	     { c = $0; sub(/^.*"content":/, "", c)
	       if (!(c in seen) && !(c in kept) && n < max) { kept[c]; n++; print } }' \
		max="$HELDOUT" "$OUT/train-problems.jsonl" - >"$OUT/heldout.jsonl"

accuracy() { # accuracy NAME [tk-sample options]
	local name=$1; shift
	tk-sample -q -m "$MODEL" "$@" $threads --temperature 0 --max-tokens "$MAXTOK" \
		"$OUT/heldout.jsonl" -o "$OUT/samples-$name.jsonl"
	tk-eval score -q --task number -o "$OUT/score-$name.json" "$OUT/samples-$name.jsonl"
	sed 's/.*"accuracy": *\([0-9.]*\).*/\1/' "$OUT/score-$name.json"
}
reward() { # mean training reward of metrics lines FROM..TO
	sed -n "$1,$2p" "$OUT/run/metrics.jsonl" | grep -o '"env/all/reward/total": *[0-9.eE+-]*' |
		sed 's/.*: *//' | awk '{ s += $1; n++ } END { printf "%.3f", n ? s / n : 0 }'
}

SECONDS=0
before=$(accuracy before)
tk-rl -q -m "$MODEL" "${env_opts[@]}" --steps "$STEPS" --groups "$N_GROUPS" \
	--group-size "$GROUP_SIZE" --max-tokens "$MAXTOK" --loss "$LOSS" $lr $threads \
	--seed "$SEED" --save-every 5 -o "$OUT/run"
after=$(accuracy after -a "$OUT/run/final.tkc")
k=$(( STEPS < 5 ? STEPS : 5 ))
printf '{"accuracy_before":%s,"accuracy_after":%s,"held_out":%s,"reward_first_%s_steps":%s,"reward_last_%s_steps":%s,"seconds_total":%s}\n' \
	"$before" "$after" "$(grep -c . "$OUT/heldout.jsonl")" "$k" "$(reward 1 "$k")" "$k" \
	"$(reward $((STEPS - k + 1)) "$STEPS")" "$SECONDS" | tee "$OUT/result.json"
