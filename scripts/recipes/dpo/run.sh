#!/usr/bin/env bash
# DPO from preference pairs: tk-render --pairs → tk-sft --loss dpo, then two
# held-out checks, base model against base + adapter:
#   prefers_chosen  the fraction of held-out pairs whose chosen answer has the
#                   lower per-token NLL (tk-eval nll --per-record), before/after
#   reward_accuracy the fraction whose chosen answer gains more summed
#                   log-probability from the adapter than the rejected one
#                   (DPO's implicit reward)
#   answer accuracy greedy answers to the held-out prompts graded by
#                  tk-eval score --task TASK against the pairs' "answer"
#
# The default pairs (scripts/recipes/data/prefs-plural.jsonl, made by
# make-data.py) ask 'What is the plural of "mouse"? Answer with the word
# only.' and prefer the bare word ("mice") to the sentence a small model
# answers with ('The plural of "mouse" is ...') holding a wrong plural,
# or to a wrong word: SmolLM2-135M knows most of these plurals but never
# answers with the word alone, so the greedy answers graded exactly show
# what DPO taught.  data/prefs-boxed.jsonl (two-digit sums ending in
# \boxed{N}: DATA=.../prefs-boxed.jsonl TASK=boxed) asks for arithmetic a
# 135M model does not have; data/prefs.jsonl (unit conversions preferring
# "8 hours is 480 minutes." to a wrong number, a hedge or a ramble) is
# harder still: DATA=.../prefs.jsonl TASK=number.
# Lines are {"prompt", "chosen", "rejected"} (tk-render(1) --pairs); an
# "answer" field, when present, is used by the answer check.
#
# Variables (environment):
#   MODEL   model (default: SmolLM2-135M-Instruct via scripts/get-model.sh)
#   DATA    preference pairs JSONL (default data/prefs-plural.jsonl, 96)
#   TASK    how answers are graded: exact (default), number, boxed
#   HELDOUT pairs held out from the end of DATA (default 16)
#   OUT     output folder (default dpo-out)
#   EPOCHS [1]  BATCH (pairs a step) [8]  BETA [0.1]  LR [LoRA size rule]
#   STEPS   instead of EPOCHS   MAXTOK [40]   THREADS   SEED [1]
#
# Expected: the held-out pairs preferred, the reward accuracy and the exact
# answers rise above the base model's; figures on SmolLM2 in the README.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="$root/build/bin:$PATH"
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
DATA=${DATA:-$here/../data/prefs-plural.jsonl}
TASK=${TASK:-exact}
HELDOUT=${HELDOUT:-16}
OUT=${OUT:-dpo-out}
EPOCHS=${EPOCHS:-1} BATCH=${BATCH:-8} BETA=${BETA:-0.1} MAXTOK=${MAXTOK:-40} SEED=${SEED:-1}
threads=${THREADS:+-t $THREADS}
lr=${LR:+--lr $LR}
length=${STEPS:+--steps $STEPS}
length=${length:---epochs $EPOCHS}
mkdir -p "$OUT"
rm -rf "$OUT/run"

SECONDS=0
grep . "$DATA" >"$OUT/pairs.jsonl" # (a file, not a pipe: head would close it early)
n=$(wc -l <"$OUT/pairs.jsonl")
head -n $((n - HELDOUT)) "$OUT/pairs.jsonl" >"$OUT/train-pairs.jsonl"
tail -n "$HELDOUT" "$OUT/pairs.jsonl" >"$OUT/test-pairs.jsonl"
tk-render -q -m "$MODEL" --pairs -o "$OUT/train.tks" "$OUT/train-pairs.jsonl"
tk-render -q -m "$MODEL" --pairs -o "$OUT/test.tks" "$OUT/test-pairs.jsonl"
tk-sft -q -m "$MODEL" $threads $lr $length --loss dpo --dpo-beta "$BETA" --batch "$BATCH" \
	--seed "$SEED" --save-every 0 -o "$OUT/run" "$OUT/train.tks"
t_train=$SECONDS

# Pair checks: records come chosen, rejected, chosen, ...  prefers: the
# fraction of pairs whose chosen answer has the lower per-token NLL (base,
# then with the adapter); reward_acc: the fraction whose chosen answer gains
# more summed log-probability from the adapter than the rejected one does.
tk-eval nll -q -m "$MODEL" $threads --per-record "$OUT/nll-base.jsonl" -o /dev/null "$OUT/test.tks"
tk-eval nll -q -m "$MODEL" -a "$OUT/run/final.tkc" $threads \
	--per-record "$OUT/nll-dpo.jsonl" -o /dev/null "$OUT/test.tks"
field() { grep -o "\"$1\": *[0-9.eE+-]*" "$2" | sed 's/.*: *//'; }
pairs() { # pairs COLUMNS...: the fraction of pairs where AWK-EXPR holds
	paste -d' ' "${@:2}" | awk "NR % 2 { split(\$0, c); next } { split(\$0, r); n++; k += ($1) }
		END { printf \"%.3f\", n ? k / n : 0 }"
}
prefers_before=$(pairs 'c[1] < r[1]' <(field nll "$OUT/nll-base.jsonl"))
prefers_after=$(pairs 'c[1] < r[1]' <(field nll "$OUT/nll-dpo.jsonl"))
reward_acc=$(pairs 'c[1] - c[2] > r[1] - r[2]' <(field nats "$OUT/nll-base.jsonl") \
	<(field nats "$OUT/nll-dpo.jsonl"))

# Answer accuracy, when the pairs carry an answer.
acc() { # acc NAME [tk-sample options]
	local name=$1; shift
	tk-sample -q -m "$MODEL" "$@" $threads --temperature 0 --max-tokens "$MAXTOK" \
		"$OUT/test-prompts.jsonl" -o "$OUT/samples-$name.jsonl"
	tk-eval score -q --task "$TASK" -o "$OUT/score-$name.json" "$OUT/samples-$name.jsonl"
	sed 's/.*"accuracy": *\([0-9.]*\).*/\1/' "$OUT/score-$name.json"
}
before=null after=null
if grep -q '"answer"' "$OUT/test-pairs.jsonl"; then
	python3 -c '
import json, sys
for line in sys.stdin:
    p = json.loads(line)
    msgs = p["prompt"] if isinstance(p["prompt"], list) else [{"role": "user", "content": p["prompt"]}]
    print(json.dumps({"messages": msgs, "answer": p["answer"]}))
' <"$OUT/test-pairs.jsonl" >"$OUT/test-prompts.jsonl"
	before=$(acc base)
	after=$(acc dpo -a "$OUT/run/final.tkc")
fi
printf '{"prefers_chosen_before":%s,"prefers_chosen_after":%s,"reward_accuracy":%s,"answer_accuracy_before":%s,"answer_accuracy_after":%s,"train_pairs":%s,"held_out_pairs":%s,"seconds_train":%s,"seconds_total":%s}\n' \
	"$prefers_before" "$prefers_after" "$reward_acc" "$before" "$after" $((n - HELDOUT)) "$HELDOUT" "$t_train" "$SECONDS" |
	tee "$OUT/result.json"
