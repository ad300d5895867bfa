#!/usr/bin/env bash
# A multi-turn tk-rl step (--env episodes) on SmolLM2-135M-Instruct: the
# 5-turn test environment (tests/fixtures/episodes/env.py), 4 groups x 8
# episodes, 16 new tokens a turn, LoRA rank 32, THREADS threads, STEPS
# steps.  Reports, per episode, the prompt tokens prefilled with each
# seat's KV slot kept between turns against the prompt tokens of all its
# turns (what prefilling every turn from scratch runs), and over steps 2..
# (the first is warm-up) the median step time, sampled tokens/s (the
# rounds' decode and prefill) and trained tokens/s.
#
#   scripts/bench/episodes.sh [STEPS] [THREADS] [TURNS]    (default 4 2 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-4} THREADS=${2:-2} TURNS=${3:-5}
BUILD=${BUILD:-build}
GGUF=$(scripts/get-model.sh smollm2-135m-instruct)
make -s --no-print-directory "$BUILD/bin/tk-rl"
work=$(mktemp -d "${TMPDIR:-/tmp}/episodes-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$BUILD/bin/tk-rl" -q -m "$GGUF" --env episodes --env-cmd "python3 tests/fixtures/episodes/env.py --turns $TURNS" \
	--groups 4 --group-size 8 --max-tokens 16 --max-turns "$TURNS" --steps "$STEPS" -t "$THREADS" \
	--seed 1 -o "$work/run"
# mean of KEY over metrics lines 2..
mean() {
	sed -n '2,$p' "$work/run/metrics.jsonl" | grep -o "\"$1\":[0-9.e+-]*" | cut -d: -f2 |
		awk '{ s += $1; n++ } END { printf "%.1f", s / n }'
}
median_step() {
	sed -n '2,$p' "$work/run/metrics.jsonl" | grep -o '"time/step":[0-9.e+-]*' | cut -d: -f2 |
		sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m }'
}
episodes=$(mean env/all/total_episodes)
pre=$(mean episodes/prefill_tokens) all=$(mean episodes/prompt_tokens)
awk -v t="$TURNS" -v e="$episodes" -v p="$pre" -v a="$all" -v s="$(median_step)" \
	-v st="$(mean throughput/sample_tokens_per_sec)" -v tt="$(mean throughput/train_tokens_per_sec)" \
	-v th="$THREADS" 'BEGIN {
	printf "{\"turns\":%d,\"episodes_a_step\":%d,\"prefilled_per_episode\":%.1f,", t, e, p / e
	printf "\"prompt_tokens_per_episode\":%.1f,\"prefill_ratio\":%.3f,\"median_step_s\":%s,", a / e, p / a, s
	printf "\"sample_tokens_per_s\":%s,\"train_tokens_per_s\":%s,\"threads\":%d}\n", st, tt, th }'
