#!/usr/bin/env bash
# On-policy distillation: the student (the base model) samples answers to
# arithmetic questions, the teacher (the base with make demo's adapter,
# which answers "... The answer is \boxed{N}.") scores every token the
# student sampled, and tk-rl --teacher turns the per-token reverse KL into
# the advantages.  No reward, no grader: --env prompts poses the questions
# and the teacher is the only signal.
#
#   teacher adapter (scripts/data/demo-train.jsonl, as make demo trains it)
#   questions ─ tk-rl --env prompts --teacher MODEL --teacher-adapter T ─ student
#
# The check: greedy answers to the held-out questions (scripts/data/
# demo-test.jsonl), graded with tk-eval score --task boxed, for the
# student before and after, and for the teacher; and the tokens the
# teacher scores per second (tk-rl's throughput/teacher_tokens_per_sec).
#
# Variables (environment):
#   MODEL     model (default: SmolLM2-135M-Instruct via scripts/get-model.sh)
#   TEACHER   the teacher's adapter (default: trained here as make demo does)
#   OUT       output folder (default onpolicy-distill-out)
#   STEPS [20]  RL_GROUPS [8]  GROUP_SIZE [4]  MAXTOK [40]  COEF [1]  LR [LoRA rule]
#   TEACHER_STEPS [12]  THREADS, SEED [1]
#
# Figures on SmolLM2 are in scripts/recipes/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="${TK_BIN:-$root/build/bin}:$PATH"
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
OUT=${OUT:-onpolicy-distill-out}
STEPS=${STEPS:-20} RL_GROUPS=${RL_GROUPS:-8} GROUP_SIZE=${GROUP_SIZE:-4} MAXTOK=${MAXTOK:-40}
COEF=${COEF:-1} TEACHER_STEPS=${TEACHER_STEPS:-12} SEED=${SEED:-1}
threads=${THREADS:+-t $THREADS}
lr=${LR:+--lr $LR}
data=$root/scripts/data
mkdir -p "$OUT"
rm -rf "$OUT/teacher" "$OUT/student"
SECONDS=0

if [ -z "${TEACHER:-}" ]; then # make demo's adapter
	tk-render -q -m "$MODEL" -o "$OUT/demo-train.tks" "$data/demo-train.jsonl"
	tk-sft -q -m "$MODEL" $threads --steps "$TEACHER_STEPS" --batch 8 --lora-rank 16 \
		--lora-alpha 32 --seed 1 --save-every 0 -o "$OUT/teacher" "$OUT/demo-train.tks"
	TEACHER=$OUT/teacher/final.tkc
fi
t_teacher=$SECONDS

# the questions alone: the training chats without their answers
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)["messages"]
    print(json.dumps({"messages": [x for x in m if x["role"] != "assistant"]}))
' "$data/demo-train.jsonl" >"$OUT/questions.jsonl"

grade() { # grade NAME [adapter options]
	local name=$1; shift
	tk-sample -q -m "$MODEL" "$@" $threads --temperature 0 --max-tokens "$MAXTOK" \
		--stop $'\n\n' -o "$OUT/answers-$name.jsonl" "$data/demo-test.jsonl"
	tk-eval score -q --task boxed -o "$OUT/score-$name.json" "$OUT/answers-$name.jsonl"
}
grade before
grade teacher -a "$TEACHER"

t0=$SECONDS
tk-rl -q -m "$MODEL" $threads $lr --env prompts --prompts "$OUT/questions.jsonl" \
	--teacher "$MODEL" --teacher-adapter "$TEACHER" --teacher-coef "$COEF" \
	--steps "$STEPS" --groups "$RL_GROUPS" --group-size "$GROUP_SIZE" --max-tokens "$MAXTOK" \
	--stop $'\n\n' --seed "$SEED" --save-every 0 -o "$OUT/student"
t_rl=$((SECONDS - t0))
grade after -a "$OUT/student/final.tkc"

num() { grep -o "\"$1\": *[0-9.eE+-]*" "$2" | head -1 | sed 's/.*: *//'; }
mean() { grep -o "\"$1\":[0-9.eE+-]*" "$2" | cut -d: -f2 | awk '{ s += $1; n++ } END { printf "%.1f", s / n }'; }
kl() { grep -o '"teacher/kl":[0-9.eE+-]*' "$OUT/student/metrics.jsonl" | cut -d: -f2 | sed -n "$1p"; }
printf '{"boxed_accuracy":{"before":%s,"after":%s,"teacher":%s},"answers":%s, ' \
	"$(num accuracy "$OUT/score-before.json")" "$(num accuracy "$OUT/score-after.json")" \
	"$(num accuracy "$OUT/score-teacher.json")" "$(num n "$OUT/score-after.json")" >"$OUT/result.json"
printf '"teacher_kl":{"first":%s,"last":%s},"teacher_tokens_per_sec":%s, ' "$(kl 1)" "$(kl '$')" \
	"$(mean throughput/teacher_tokens_per_sec "$OUT/student/metrics.jsonl")" >>"$OUT/result.json"
printf '"seconds":{"teacher":%d,"distillation":%d,"all":%d}}\n' "$t_teacher" "$t_rl" \
	"$SECONDS" >>"$OUT/result.json"
cat "$OUT/result.json"
