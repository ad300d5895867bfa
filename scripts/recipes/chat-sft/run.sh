#!/usr/bin/env bash
# Chat SFT: render chats → LoRA fine-tune → held-out NLL before and after.
#
#   DATA ─ tk-render ─▶ train.tks ─ tk-sft ─▶ run/final.tkc
#   TEST ─ tk-render ─▶ test.tks  ─ tk-eval nll (base, then base + adapter)
#
# The example data (scripts/recipes/data/chat-*.jsonl, made by make-data.py)
# answers unit conversions in one fixed sentence ("8 hours is 480 minutes.").
# Prints one JSON line (also $OUT/result.json): held-out NLL per trained
# token before and after, and the seconds taken.
#
# Variables (environment):
#   MODEL   model (default: SmolLM2-135M-Instruct via scripts/get-model.sh)
#   DATA    training chats, JSONL {"messages": [...]} (default data/chat-train.jsonl, 128)
#   TEST    held-out chats (default data/chat-test.jsonl, 32)
#   OUT     output folder (default chat-sft-out); the run is OUT/run
#   EPOCHS [2]  BATCH [8]  LR [tk-sft's LoRA size rule]  RANK [32]
#   STEPS   optimizer steps instead of EPOCHS (unset: EPOCHS decides)
#   SAVE_EVERY [20]  THREADS [all cores]  SEED [1]
#
# Interrupted (SIGTERM/SIGINT: tk-sft writes a state checkpoint, exits 75,
# and so does this script), run it again with the same variables: it finds
# OUT/run unfinished and continues it with tk-sft --resume, bit for bit.
# A finished OUT/run is replaced by a new run.
#
# Measured here (SmolLM2-135M, 2 cores shared with other work, load ~11):
# train NLL 1.33, 0.75, 0.60 over the first three steps, about 85 s a step,
# so about 45 minutes for the default 32 steps (much less on a quiet
# machine); scripts/recipes/README.md has the table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="$root/build/bin:$PATH"
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
DATA=${DATA:-$here/../data/chat-train.jsonl}
TEST=${TEST:-$here/../data/chat-test.jsonl}
OUT=${OUT:-chat-sft-out}
EPOCHS=${EPOCHS:-2} BATCH=${BATCH:-8} RANK=${RANK:-32} SEED=${SEED:-1}
SAVE_EVERY=${SAVE_EVERY:-20}
threads=${THREADS:+-t $THREADS}
lr=${LR:+--lr $LR}
length=${STEPS:+--steps $STEPS}
length=${length:---epochs $EPOCHS}
mkdir -p "$OUT"

nll() { # nll REPORT [tk-eval options]: the report's nll
	local report=$1; shift
	tk-eval nll -q -m "$MODEL" $threads "$@" -o "$report" "$OUT/test.tks"
	sed 's/.*"nll": *\([0-9.eE+-]*\).*/\1/' "$report"
}

# tk-sft in the background, so that a SIGTERM (Slurm preemption) or SIGINT
# sent to this script reaches it: it finishes the step, writes a state
# checkpoint and exits 75, and so does this script.
sft() {
	tk-sft "$@" &
	local pid=$! rc=0
	trap 'kill -TERM $pid 2>/dev/null' TERM INT
	wait $pid || rc=$?
	while [ $rc -gt 128 ] && kill -0 $pid 2>/dev/null; do rc=0; wait $pid || rc=$?; done
	trap - TERM INT
	return $rc
}

SECONDS=0
opts=(-q -m "$MODEL" $threads $lr $length --batch "$BATCH" --lora-rank "$RANK"
      --seed "$SEED" --save-every "$SAVE_EVERY" --eval "$OUT/test.tks" "$OUT/train.tks")
if [ -e "$OUT/run/checkpoints.jsonl" ] && [ ! -e "$OUT/run/final.tkc" ]; then
	# An interrupted run: continue it, bit for bit (same data, same options).
	echo "chat-sft: resuming $OUT/run" >&2
	sft "${opts[@]}" --resume "$OUT/run"
else
	tk-render -q -m "$MODEL" -o "$OUT/train.tks" "$DATA"
	tk-render -q -m "$MODEL" -o "$OUT/test.tks" "$TEST"
	rm -rf "$OUT/run"
	sft "${opts[@]}" -o "$OUT/run"
fi
t_train=$SECONDS
before=$(nll "$OUT/nll-before.json")
after=$(nll "$OUT/nll-after.json" -a "$OUT/run/final.tkc")
printf '{"nll_before":%s,"nll_after":%s,"steps":%s,"seconds_train":%s,"seconds_total":%s}\n' \
	"$before" "$after" "$(grep -c '"train_mean_nll"' "$OUT/run/metrics.jsonl")" \
	"$t_train" "$SECONDS" | tee "$OUT/result.json"
