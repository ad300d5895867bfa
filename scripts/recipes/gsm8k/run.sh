#!/usr/bin/env bash
# GSM8K: few-shot evaluation of a model, and RL on the train split.
#
#   scripts/recipes/gsm8k/run.sh GSM8K_DIR [eval|rl|both]     (default both)
#
# GSM8K_DIR holds train.jsonl and test.jsonl, lines {"question", "answer"}
# whose answer ends "#### N" (the data set is not part of tk: it is
# published as "openai/gsm8k", MIT licence; a copy may sit beside the
# checkout in ../shared/data/gsm8k).
#
# eval  The first SHOTS train problems, their worked solutions cleaned of
#       the <<...>> calculator notes and ending "The answer is N.", are put
#       before each test question as earlier chat turns; the model answers
#       greedily (tk-sample), the last number of its answer is graded against
#       the "#### N" reference (tk-eval score --task number), and the accuracy
#       is printed with its 95% Wilson confidence interval.
# rl    tk-rl --env math on the train split (zero-shot prompts, reward 1 for
#       the right last number, KL penalty to the base), then eval again with
#       the adapter.
#
# Prints one JSON line per evaluation (also $OUT/eval-*.json).
#
# Variables (environment):
#   MODEL   model (default: SmolLM2-135M-Instruct via scripts/get-model.sh)
#   OUT     output folder (default gsm8k-out)
#   LIMIT   test problems evaluated, from the start (default 200; 0: all 1319)
#   SHOTS [4]  MAXTOK (answer tokens) [256]
#   STEPS [50]  N_GROUPS [8]  GROUP_SIZE [8]  KL [0.01]  LR [LoRA size rule]
#   THREADS  SEED [1]
#
# Expected: SmolLM2-135M-Instruct is weak at GSM8K (a few percent; not
# measured here).  On this loaded 2-core machine a 200-problem evaluation
# with 4 shots (prompts of about 800 tokens) takes hours, and so does RL: it is a recipe for a bigger machine, which the same
# commands use unchanged.  See the README table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="$root/build/bin:$PATH"
[ $# -ge 1 ] || { echo "usage: $0 GSM8K_DIR [eval|rl|both]" >&2; exit 64; }
dir=$1 what=${2:-both}
for f in train test; do
	[ -r "$dir/$f.jsonl" ] || { echo "gsm8k: no $dir/$f.jsonl" >&2; exit 66; }
done
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
OUT=${OUT:-gsm8k-out}
LIMIT=${LIMIT:-200} SHOTS=${SHOTS:-4} MAXTOK=${MAXTOK:-256}
STEPS=${STEPS:-50} N_GROUPS=${N_GROUPS:-8} GROUP_SIZE=${GROUP_SIZE:-8} KL=${KL:-0.01}
SEED=${SEED:-1}
threads=${THREADS:+-t $THREADS}
lr=${LR:+--lr $LR}
mkdir -p "$OUT"

# Few-shot prompts: chat JSONL with the reference answer kept as "answer".
python3 - "$dir" "$SHOTS" "$LIMIT" >"$OUT/test-prompts.jsonl" <<'PY'
import json, re, sys
d, shots, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def solution(ans):
    work, final = ans.rsplit("####", 1)
    work = re.sub(r"<<[^>]*>>", "", work).strip()
    return f"{work}\nThe answer is {final.strip()}."
turns = []
with open(f"{d}/train.jsonl") as f:
    for line in f:
        if len(turns) >= 2 * shots:
            break
        ex = json.loads(line)
        turns += [{"role": "user", "content": ex["question"]},
                  {"role": "assistant", "content": solution(ex["answer"])}]
with open(f"{d}/test.jsonl") as f:
    for i, line in enumerate(f):
        if limit and i >= limit:
            break
        ex = json.loads(line)
        print(json.dumps({"id": i, "messages": turns + [{"role": "user", "content": ex["question"]}],
                          "answer": ex["answer"]}))
PY

evaluate() { # evaluate NAME [tk-sample options]
	local name=$1; shift
	SECONDS=0
	tk-sample -q -m "$MODEL" "$@" $threads --temperature 0 --max-tokens "$MAXTOK" \
		"$OUT/test-prompts.jsonl" -o "$OUT/samples-$name.jsonl"
	tk-eval score -q --task number --per-record "$OUT/graded-$name.jsonl" \
		-o "$OUT/score-$name.json" "$OUT/samples-$name.jsonl"
	# accuracy with a 95% Wilson score interval
	awk -v name="$name" -v shots="$SHOTS" -v s="$SECONDS" '{
		match($0, /"n": *[0-9]+/); n = substr($0, RSTART, RLENGTH); sub(/.*: */, "", n)
		match($0, /"correct": *[0-9]+/); c = substr($0, RSTART, RLENGTH); sub(/.*: */, "", c)
		p = c / n; z = 1.96; d = 1 + z * z / n
		mid = (p + z * z / (2 * n)) / d
		half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
		printf "{\"model\":\"%s\",\"shots\":%d,\"n\":%d,\"correct\":%d,\"accuracy\":%.4f,\"ci95\":[%.4f,%.4f],\"seconds\":%d}\n",
			name, shots, n, c, p, mid - half, mid + half, s
	}' "$OUT/score-$name.json" | tee "$OUT/eval-$name.json"
}

case $what in
eval | both) evaluate base ;;
rl) ;;
*) echo "usage: $0 GSM8K_DIR [eval|rl|both]" >&2; exit 64 ;;
esac
if [ "$what" != eval ]; then
	rm -rf "$OUT/run"
	tk-rl -q -m "$MODEL" --env math --grade number --prompts "$dir/train.jsonl" \
		--steps "$STEPS" --groups "$N_GROUPS" --group-size "$GROUP_SIZE" \
		--max-tokens "$MAXTOK" --kl-coef "$KL" $lr $threads --seed "$SEED" \
		--save-every 10 -o "$OUT/run"
	evaluate rl -a "$OUT/run/final.tkc"
fi
