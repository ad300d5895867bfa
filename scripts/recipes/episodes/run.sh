#!/usr/bin/env bash
# Multi-turn RL on an environment program (tk-rl --env episodes, protocol 2),
# with the mean return of held-out episodes before and after.
#
#   tk-rl --evaluate HELDOUT [EVAL_CMD...]  (before; the bare model)
#   tk-rl --env episodes --env-cmd ENV_CMD ─▶ run/final.tkc
#   tk-rl --evaluate HELDOUT --resume run   (after)
#
# The four recipes of issue "Interactive RL" (guess-number, tool-use,
# tictactoe, twenty-questions) are this script with their settings.
# Prints one JSON line (also $OUT/result.json): for each evaluation the
# mean return before and after with its standard error and the metrics
# KEYS, the mean training reward of the first and last steps, seconds.
#
# Variables (environment):
#   ENV_CMD    the environment program (required), e.g.
#              "python3 scripts/recipes/envs/guess_number.py"
#   EVALS      evaluations, NAME=COMMAND separated by ';' (default main=$ENV_CMD)
#   KEYS       metrics reported besides the return, space-separated (default env/all/turns_per_episode)
#   MODEL      model (default: SmolLM2-135M-Instruct via scripts/get-model.sh)
#   OUT        output folder (default episodes-out)
#   STEPS [20]  N_GROUPS [8]  GROUP_SIZE [4]  MAXTOK [16]  MAX_TURNS [8]
#   HELDOUT [200]  EVAL_TEMP [0]  LOSS [is]  LR [LoRA size rule]  THREADS  SEED [1]
#   RL_OPTS    more tk-rl options for training (--partner, --max-episode-tokens...)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="$root/build/bin:$PATH"
: "${ENV_CMD:?set ENV_CMD to the environment program}"
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
OUT=${OUT:-episodes-out}
EVALS=${EVALS:-main=$ENV_CMD}
KEYS=${KEYS:-env/all/turns_per_episode}
STEPS=${STEPS:-20} N_GROUPS=${N_GROUPS:-8} GROUP_SIZE=${GROUP_SIZE:-4} MAXTOK=${MAXTOK:-16}
MAX_TURNS=${MAX_TURNS:-8} HELDOUT=${HELDOUT:-200} EVAL_TEMP=${EVAL_TEMP:-0}
LOSS=${LOSS:-is} SEED=${SEED:-1}
threads=${THREADS:+-t $THREADS}
lr=${LR:+--lr $LR}
read -r -a rl_opts <<<"${RL_OPTS:-}"
mkdir -p "$OUT"
rm -rf "$OUT/run"
common=(-m "$MODEL" --env episodes --max-turns "$MAX_TURNS" --max-tokens "$MAXTOK" --seed "$SEED"
	"${rl_opts[@]}")

# The value of "KEY": in a one-line JSON result.
num() { grep -o "\"$1\":[-0-9.e+]*" "$2" | head -1 | cut -d: -f2; }

# evaluate WHEN [--resume RUN]: each evaluation's line into $OUT/eval-NAME-WHEN.json
evaluate() {
	local when=$1 name cmd; shift
	IFS=';' read -r -a evals <<<"$EVALS"
	for e in "${evals[@]}"; do
		name=${e%%=*} cmd=${e#*=}
		tk-rl -q "${common[@]}" --env-cmd "$cmd" --groups 8 --group-size 8 $threads \
			--temperature "$EVAL_TEMP" --evaluate "$HELDOUT" "$@" >"$OUT/eval-$name-$when.json"
	done
}
reward() { # mean training reward of metrics lines FROM..TO
	sed -n "$1,$2p" "$OUT/run/metrics.jsonl" | grep -o '"env/all/reward/total":[-0-9.eE+]*' |
		cut -d: -f2 | awk '{ s += $1; n++ } END { printf "%.4f", n ? s / n : 0 }'
}

SECONDS=0
evaluate before
t_before=$SECONDS
tk-rl -q "${common[@]}" --env-cmd "$ENV_CMD" --steps "$STEPS" --groups "$N_GROUPS" \
	--group-size "$GROUP_SIZE" --loss "$LOSS" $lr $threads --save-every 5 -o "$OUT/run"
t_train=$((SECONDS - t_before))
evaluate after --resume "$OUT/run"
k=$(( STEPS < 5 ? STEPS : 5 ))
{
	printf '{"held_out":%s' "$HELDOUT"
	IFS=';' read -r -a evals <<<"$EVALS"
	for e in "${evals[@]}"; do
		n=${e%%=*}
		for w in before after; do
			f="$OUT/eval-$n-$w.json"
			printf ',"%s_%s":%s,"%s_%s_stderr":%s' "$n" "$w" "$(num eval/mean_return "$f")" \
				"$n" "$w" "$(num eval/stderr "$f")"
			for key in $KEYS; do
				printf ',"%s_%s_%s":%s' "$n" "$w" "${key##*/}" "$(num "$key" "$f")"
			done
		done
	done
	printf ',"reward_first_%s_steps":%s,"reward_last_%s_steps":%s' "$k" "$(reward 1 "$k")" "$k" \
		"$(reward $((STEPS - k + 1)) "$STEPS")"
	printf ',"seconds_train":%s,"seconds_total":%s}\n' "$t_train" "$SECONDS"
} | tee "$OUT/result.json"
