#!/usr/bin/env bash
# Tool use (scripts/recipes/envs/tool_search.py): questions about invented
# creatures a model cannot know; a "search" tool (BM25 over a generated
# corpus) in the common ChatML tool-calling form (SmolLM2's template has
# none: <tool_call>{"name": ..., "arguments": ...}</tool_call> in the
# assistant turn, results in a tool turn, as Qwen2.5 does; tk's chatml
# renderer).  Reward 1 for the right answer + 0.1 for a well-formed call.
#
#   tool_search.py --demos ─ tk-render --train-on last-assistant-turn ─ tk-sft
#     ─ tk-merge ─▶ warm.tkc (a short SFT warm-start on demonstrations)
#   scripts/recipes/episodes/run.sh on warm.tkc: held-out accuracy with the
#     tool and without it (--no-tool, the baseline), before and after RL
#
# Variables as scripts/recipes/episodes/run.sh's, and DEMOS [64] SFT_STEPS
# [24] (defaults here: STEPS 20, 8 groups of 4, 48 tokens a turn, 4 turns).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
envs=$here/../envs
export PATH="$root/build/bin:$PATH"
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
export OUT=${OUT:-tool-use-out}
DEMOS=${DEMOS:-64} SFT_STEPS=${SFT_STEPS:-24} SEED=${SEED:-1}
threads=${THREADS:+-t $THREADS}
mkdir -p "$OUT"
SECONDS=0
python3 "$envs/tool_search.py" --demos "$DEMOS" --seed "$SEED" >"$OUT/demos.jsonl"
tk-render -q -m "$MODEL" --renderer chatml --train-on last-assistant-turn "$OUT/demos.jsonl" \
	-o "$OUT/demos.tks"
rm -rf "$OUT/sft"
tk-sft -q -m "$MODEL" "$OUT/demos.tks" --steps "$SFT_STEPS" --batch 4 --seed "$SEED" $threads \
	-o "$OUT/sft"
tk-merge -q -m "$MODEL" -a "$OUT/sft/final.tkc" -o "$OUT/warm.tkc" --force
echo "warm-start: $SECONDS s" >&2
export MODEL="$OUT/warm.tkc"
export ENV_CMD=${ENV_CMD:-python3 $envs/tool_search.py}
export EVALS=${EVALS:-tool=python3 $envs/tool_search.py;notool=python3 $envs/tool_search.py --no-tool}
export MAXTOK=${MAXTOK:-48} MAX_TURNS=${MAX_TURNS:-4}
export KEYS=${KEYS:-env/all/correct env/all/called env/all/tool_calls}
export RL_OPTS=${RL_OPTS:---renderer chatml --max-episode-tokens 1024}
exec "$here/../episodes/run.sh"
