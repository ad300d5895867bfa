#!/usr/bin/env bash
# tk-rl step time and memory, this checkout against another revision built
# in a scratch folder, taking turns in one run: SmolLM2-135M-Instruct,
# --env arithmetic, 4 groups x 8 samples, 32 new tokens, LoRA rank 32,
# THREADS threads, STEPS steps each; without and with --kl-coef 0.05.
# Reports each side's median step wall time (metrics' time/step, the first
# step left out as warm-up) and peak RSS (/usr/bin/time), and the ratio.
#
#   scripts/bench/rl.sh [BEFORE_REV] [STEPS] [THREADS]    (default bf6a0e2 6 2)
set -euo pipefail
cd "$(dirname "$0")/../.."

BEFORE=${1:-bf6a0e2}
STEPS=${2:-6}
THREADS=${3:-2}
BUILD=${BUILD:-build}
GGUF=$(scripts/get-model.sh smollm2-135m-instruct)

make -s --no-print-directory "$BUILD/bin/tk-rl"
work=$(mktemp -d "${TMPDIR:-/tmp}/rl-bench.XXXXXX")
trap 'git worktree remove --force "$work/before" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/before" "$BEFORE" >/dev/null 2>&1
make -s --no-print-directory -C "$work/before" build/bin/tk-rl >/dev/null

# median of time/step over steps 2.. of a run folder
median_step() {
	sed -n '2,$p' "$1/metrics.jsonl" | grep -o '"time/step": *[0-9.e+-]*' | sed 's/.*: *//' |
		sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m }'
}

run_side() { # binary, out folder, extra options...
	local bin=$1 out=$2; shift 2
	/usr/bin/time -f '%M' -o "$out.rss" "$bin" -q -m "$GGUF" --env arithmetic --groups 4 \
		--group-size 8 --max-tokens 32 --lora-rank 32 -t "$THREADS" --steps "$STEPS" \
		--seed 1 -o "$out" "$@"
	echo "$(median_step "$out") $(($(cat "$out.rss") / 1024))"
}

printf '%-10s %-7s %12s %10s\n' kl side "s/step" "RSS MiB"
for kl in 0 0.05; do
	extra=()
	[ "$kl" = 0 ] || extra=(--kl-coef "$kl")
	read -r b_t b_m < <(run_side "$work/before/build/bin/tk-rl" "$work/b-$kl" ${extra[@]+"${extra[@]}"})
	read -r a_t a_m < <(run_side "$BUILD/bin/tk-rl" "$work/a-$kl" ${extra[@]+"${extra[@]}"})
	printf '%-10s %-7s %12s %10s\n' "$kl" before "$b_t" "$b_m" "$kl" after "$a_t" "$a_m"
	awk -v b="$b_t" -v a="$a_t" -v bm="$b_m" -v am="$a_m" -v kl="$kl" \
		'BEGIN { printf "kl %s: %.2fx faster, memory %.2fx\n", kl, b / a, am / bm }'
done
