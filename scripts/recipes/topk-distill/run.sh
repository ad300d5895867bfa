#!/usr/bin/env bash
# Top-K distillation: the teacher (the base with make demo's adapter, which
# answers "... The answer is \boxed{N}.") scores the training chats' answers
# with tk-eval logprobs --tks --top-k K, and the student (the base with a
# fresh adapter) is trained by tk-sft on those soft targets: at every
# answer token the cross-entropy against the teacher's top K renormalised,
# not the data's one token.
#
#   demo-train.jsonl ─ tk-render ─ tk-eval logprobs -a TEACHER --tks --top-k K
#                    ─ soft.tks ─ tk-sft (soft targets) ─ student
#
# The check: greedy answers to the held-out questions (scripts/data/
# demo-test.jsonl), graded with tk-eval score --task boxed, for the student
# before and after, and for the teacher; the tokens the teacher scores per
# second; the student's cross-entropy to the teacher's top-K on training
# chats it did not train on (the last HELDOUT; the teacher did train on them
# when it is trained here).
#
# Variables (environment):
#   MODEL     model (default: SmolLM2-135M-Instruct via scripts/get-model.sh)
#   TEACHER   the teacher's adapter (default: trained here as make demo does)
#   OUT       output folder (default topk-distill-out)
#   K [20]  STEPS [12]  BATCH [8]  TARGETS [soft]  LR [LoRA rule]  MAXTOK [40]
#   HELDOUT [30]: the last training chats kept out, for the cross-entropy
#   TEACHER_STEPS [12]  THREADS, SEED [1]
#
# Figures on SmolLM2 are in this folder's README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="${TK_BIN:-$root/build/bin}:$PATH"
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
OUT=${OUT:-topk-distill-out}
K=${K:-20} STEPS=${STEPS:-12} BATCH=${BATCH:-8} TARGETS=${TARGETS:-soft} MAXTOK=${MAXTOK:-40}
TEACHER_STEPS=${TEACHER_STEPS:-12} SEED=${SEED:-1} HELDOUT=${HELDOUT:-30}
threads=${THREADS:+-t $THREADS}
lr=${LR:+--lr $LR}
data=$root/scripts/data
mkdir -p "$OUT"
rm -rf "$OUT/teacher" "$OUT/student"
SECONDS=0

# the last HELDOUT training chats held out for the cross-entropy to the teacher
head -n "-$HELDOUT" "$data/demo-train.jsonl" >"$OUT/train.jsonl"
tail -n "$HELDOUT" "$data/demo-train.jsonl" >"$OUT/heldout.jsonl"
tk-render -q -m "$MODEL" -o "$OUT/train.tks" "$OUT/train.jsonl"
tk-render -q -m "$MODEL" -o "$OUT/test.tks" "$OUT/heldout.jsonl"
if [ -z "${TEACHER:-}" ]; then # make demo's adapter
	tk-sft -q -m "$MODEL" $threads --steps "$TEACHER_STEPS" --batch 8 --lora-rank 16 \
		--lora-alpha 32 --seed 1 --save-every 0 -o "$OUT/teacher" "$OUT/train.tks"
	TEACHER=$OUT/teacher/final.tkc
fi
t_teacher=$SECONDS

# the teacher's top K at every position of the training and held-out chats
t0=$(date +%s.%N)
tk-eval logprobs -q -m "$MODEL" -a "$TEACHER" $threads --tks --top-k "$K" \
	-o "$OUT/soft-train.tks" "$OUT/train.tks"
t_score=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
tk-eval logprobs -q -m "$MODEL" -a "$TEACHER" $threads --tks --top-k "$K" \
	-o "$OUT/soft-test.tks" "$OUT/test.tks"
scored=$(tk-render --show --json "$OUT/soft-train.tks" | grep -o '"n":[0-9]*' |
	cut -d: -f2 | awk '{ s += $1 } END { print s }')

grade() { # grade NAME [adapter options]
	local name=$1; shift
	tk-sample -q -m "$MODEL" "$@" $threads --temperature 0 --max-tokens "$MAXTOK" \
		--stop $'\n\n' -o "$OUT/answers-$name.jsonl" "$data/demo-test.jsonl"
	tk-eval score -q --task boxed -o "$OUT/score-$name.json" "$OUT/answers-$name.jsonl"
}
grade before
grade teacher -a "$TEACHER"

t0=$SECONDS
tk-sft -q -m "$MODEL" $threads $lr --targets "$TARGETS" --steps "$STEPS" --batch "$BATCH" \
	--seed "$SEED" --save-every 0 --eval "$OUT/soft-test.tks" --eval-every 1 \
	-o "$OUT/student" "$OUT/soft-train.tks"
t_sft=$((SECONDS - t0))
grade after -a "$OUT/student/final.tkc"

num() { grep -o "\"$1\": *[0-9.eE+-]*" "$2" | head -1 | sed 's/.*: *//'; }
ce() { grep -o '"test/nll": *[0-9.eE+-]*' "$OUT/student/metrics.jsonl" | sed 's/.*: *//' | sed -n "$1p"; }
printf '{"boxed_accuracy":{"before":%s,"after":%s,"teacher":%s},"answers":%s, ' \
	"$(num accuracy "$OUT/score-before.json")" "$(num accuracy "$OUT/score-after.json")" \
	"$(num accuracy "$OUT/score-teacher.json")" "$(num n "$OUT/score-after.json")" >"$OUT/result.json"
printf '"heldout_ce_to_teacher":{"first":%s,"last":%s},"k":%s,"targets":"%s", ' "$(ce 1)" \
	"$(ce '$')" "$K" "$TARGETS" >>"$OUT/result.json"
printf '"teacher_tokens_scored":%s,"teacher_tokens_per_sec":%s, ' "$scored" \
	"$(awk -v n="$scored" -v s="$t_score" 'BEGIN { printf "%.1f", n / (s > 0 ? s : 0.01) }')" \
	>>"$OUT/result.json"
printf '"seconds":{"teacher":%d,"scoring":%s,"distillation":%d,"all":%d}}\n' "$t_teacher" \
	"$t_score" "$t_sft" "$SECONDS" >>"$OUT/result.json"
cat "$OUT/result.json"
