#!/usr/bin/env bash
# Prompt distillation as one pipe: a teacher context (a long system message
# plus three worked examples) makes the model answer in a house style, every
# answer ending with a line "TL;DR: ...".  The answers it samples are
# rendered WITHOUT that context and fine-tuned into a LoRA adapter, so the
# student keeps the style when asked the bare question.
#
#   teacher prompts ─ tk-sample ─ to-chats (python3) ─ tk-render ─ tk-sft
#
# tk-sample prints {"id","meta","sample","text","finish",...}; tk-render reads
# {"messages": [...]}.  No command turns the one into the other, so a
# ten-line python3 filter does: it takes the bare question (kept in meta),
# pairs it with the sampled text, and keeps only answers that finished and
# hold the marker (rejection sampling).
#
# The check: the fraction of greedy answers to held-out questions, asked
# with no system message, that contain "TL;DR:", for the base model and for
# the student (printed as one JSON line and kept in $OUT/result.json).
#
# Variables (environment):
#   MODEL     model (default: SmolLM2-135M-Instruct via scripts/get-model.sh)
#   DATA      questions to distil on, chat JSONL with one user message
#             (default: scripts/recipes/data/questions-train.jsonl, 50)
#   TEST      held-out questions (default: data/questions-test.jsonl, 20)
#   OUT       output folder (default: distill-out)
#   SAMPLES   teacher samples per question [4]   TEMP  their temperature [0.8]
#   MAXTOK    tokens per answer [64]             BATCH tk-sft batch [8]
#   LR        learning rate [tk-sft's default]   THREADS, SEED [1]
#   KEEP      marker: train on teacher answers holding the marker [default];
#             all: on every answer (the smoke test's random model has none)
#
# Measured here (SmolLM2-135M, 2 cores at load ~11): with its context the
# teacher wrote the marker in 70 of 85 samples; trained on the 57 finished
# ones (11 steps of 4, LR=2e-3), the student ended 20 of 20 held-out answers
# with a TL;DR line, the base model 0 of 20.  With DATA= the first 16
# questions, SAMPLES=2 BATCH=4 LR=2e-3 (about 8 minutes): 16 of 20 against
# 0 of 20.  Teacher sampling is the slow part here; see the README.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="$root/build/bin:$PATH"
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
DATA=${DATA:-$here/../data/questions-train.jsonl}
TEST=${TEST:-$here/../data/questions-test.jsonl}
OUT=${OUT:-distill-out}
SAMPLES=${SAMPLES:-4} TEMP=${TEMP:-0.8} MAXTOK=${MAXTOK:-64} BATCH=${BATCH:-8}
SEED=${SEED:-1}
threads=${THREADS:+-t $THREADS}
lr=${LR:+--lr $LR}
MARKER='TL;DR:'
mkdir -p "$OUT"
rm -rf "$OUT/run"

# The teacher context, put before each question.
teacher_prompts() {
	python3 -c '
import json, sys
system = ("You are a helpful assistant. Answer every question in one to three short "
          "sentences. Then always end your answer with a final line that starts with "
          "\"TL;DR:\" followed by a summary of at most eight words. Never skip the TL;DR line.")
shots = [
    ("Why is the sky blue?", "Sunlight scatters off the air, and blue light scatters the most, "
     "so the sky looks blue.\nTL;DR: scattered blue sunlight."),
    ("How do plants make food?", "Plants use sunlight, water and carbon dioxide to make sugar "
     "in their leaves. This is called photosynthesis.\nTL;DR: plants make sugar from sunlight."),
    ("What is a volcano?", "A volcano is an opening in the ground where hot melted rock comes "
     "out.\nTL;DR: a mountain that spits melted rock."),
]
for line in sys.stdin:
    if not line.strip():
        continue
    q = [m for m in json.loads(line)["messages"] if m["role"] == "user"][-1]["content"]
    msgs = [{"role": "system", "content": system}]
    for u, a in shots:
        msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
    msgs.append({"role": "user", "content": q})
    print(json.dumps({"messages": msgs, "question": q}))
' <"$1"
}

# Samples (tk-sample's JSON Lines) to chats without the teacher context.
to_chats() {
	python3 -c '
import json, sys
marker, kept, seen = sys.argv[1], 0, 0
for line in sys.stdin:
    s = json.loads(line)
    seen += 1
    if marker and (s["finish"] != "stop" or marker not in s["text"]):
        continue
    kept += 1
    print(json.dumps({"messages": [{"role": "user", "content": s["meta"]["question"]},
                                   {"role": "assistant", "content": s["text"]}]}), flush=True)
print(f"to-chats: kept {kept} of {seen} teacher samples", file=sys.stderr)
' "$1"
}

# Fraction of a samples file whose text holds the marker.
follow_rate() {
	python3 -c '
import json, sys
n = k = 0
for line in open(sys.argv[1]):
    n += 1
    k += sys.argv[2] in json.loads(line)["text"]
print(f"{k / n:.3f}" if n else "null")
' "$1" "$MARKER"
}

SECONDS=0
teacher_prompts "$DATA" >"$OUT/teacher-prompts.jsonl"
# The pipe: teacher samples -> chats without the context -> tokens -> LoRA.
tk-sample -q -m "$MODEL" $threads -n "$SAMPLES" --temperature "$TEMP" --max-tokens "$MAXTOK" \
	--seed "$SEED" "$OUT/teacher-prompts.jsonl" |
	tee "$OUT/teacher-samples.jsonl" |
	to_chats "$([ "${KEEP:-marker}" = all ] || echo "$MARKER")" |
	tee "$OUT/student-chats.jsonl" |
	tk-render -q -m "$MODEL" - |
	tk-sft -q -m "$MODEL" $threads $lr --batch "$BATCH" --no-shuffle --seed "$SEED" \
		--save-every 0 -o "$OUT/run" -
t_train=$SECONDS

# Held-out questions, no system message: base model, then the student.
tk-sample -q -m "$MODEL" $threads --temperature 0 --max-tokens "$MAXTOK" \
	"$TEST" -o "$OUT/base-samples.jsonl"
tk-sample -q -m "$MODEL" -a "$OUT/run/final.tkc" $threads --temperature 0 \
	--max-tokens "$MAXTOK" "$TEST" -o "$OUT/student-samples.jsonl"
teacher=$(follow_rate "$OUT/teacher-samples.jsonl")
base=$(follow_rate "$OUT/base-samples.jsonl")
student=$(follow_rate "$OUT/student-samples.jsonl")
kept=$(wc -l <"$OUT/student-chats.jsonl")
printf '{"marker":"%s","teacher_with_context":%s,"base":%s,"student":%s,"trained_on":%s,"held_out":%s,"seconds_train":%s,"seconds_total":%s}\n' \
	"$MARKER" "$teacher" "$base" "$student" "$kept" "$(grep -c . "$TEST")" "$t_train" "$SECONDS" |
	tee "$OUT/result.json"
