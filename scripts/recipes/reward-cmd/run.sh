#!/usr/bin/env bash
# RL with an external reward program: tk-rl --env cmd starts reward.py (any
# program speaking tk-rl(1)'s line protocol: a JSON sample in, {"reward": x}
# out) and trains on its rewards.  The task: answer "Write one English word
# that starts with the letter X." with just such a word.
#
# The same program grades greedy answers before and after, because
# tk-sample's lines carry the "text" and "meta" fields the protocol sends:
#   tk-sample ... PROMPTS | python3 reward.py   → mean reward, correct rate
#
# Prints one JSON line (also $OUT/result.json).
#
# Variables (environment):
#   MODEL    model (default: SmolLM2-135M-Instruct via scripts/get-model.sh)
#   PROMPTS  prompts JSONL {"messages"|"prompt", "answer", "id"}
#            (default data/word-prompts.jsonl: 20 letters)
#   REWARD   the reward program (default: python3 reward.py beside this file)
#   OUT      output folder (default reward-cmd-out)
#   STEPS [20]  N_GROUPS [4]  GROUP_SIZE [4]  MAXTOK [12]  LR  THREADS  SEED [1]
#
# Expected: the mean reward of greedy answers rises as the model learns to
# answer with one word.  Smoke-tested on a tiny model only; on SmolLM2 here
# (2 loaded cores) 20 steps would take about 50 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="$root/build/bin:$PATH"
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
PROMPTS=${PROMPTS:-$here/../data/word-prompts.jsonl}
REWARD=${REWARD:-python3 $here/reward.py}
OUT=${OUT:-reward-cmd-out}
STEPS=${STEPS:-20} N_GROUPS=${N_GROUPS:-4} GROUP_SIZE=${GROUP_SIZE:-4} MAXTOK=${MAXTOK:-12}
SEED=${SEED:-1}
threads=${THREADS:+-t $THREADS}
lr=${LR:+--lr $LR}
mkdir -p "$OUT"
rm -rf "$OUT/run"

grade() { # grade NAME [tk-sample options]: mean reward and correct rate of greedy answers
	local name=$1; shift
	tk-sample -q -m "$MODEL" "$@" $threads --temperature 0 --max-tokens "$MAXTOK" \
		"$PROMPTS" -o "$OUT/samples-$name.jsonl"
	sh -c "$REWARD" <"$OUT/samples-$name.jsonl" >"$OUT/rewards-$name.jsonl"
	awk '{ match($0, /"reward": *[0-9.eE+-]+/); r = substr($0, RSTART, RLENGTH); sub(/.*: */, "", r)
	       s += r; c += /"correct": *true/; n++ }
	     END { printf "{\"reward\":%.3f,\"correct\":%.3f}", s / n, c / n }' "$OUT/rewards-$name.jsonl"
}

SECONDS=0
before=$(grade before)
tk-rl -q -m "$MODEL" --env cmd --env-cmd "$REWARD" --prompts "$PROMPTS" --steps "$STEPS" \
	--groups "$N_GROUPS" --group-size "$GROUP_SIZE" --max-tokens "$MAXTOK" $lr $threads \
	--seed "$SEED" --save-every 10 -o "$OUT/run"
after=$(grade after -a "$OUT/run/final.tkc")
printf '{"before":%s,"after":%s,"steps":%s,"seconds_total":%s}\n' "$before" "$after" "$STEPS" \
	"$SECONDS" | tee "$OUT/result.json"
