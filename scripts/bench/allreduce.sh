#!/usr/bin/env bash
# The data-parallel all-reduce of one training step, measured: for the
# LoRA adapter's gradient (rank 32, every target) and for --full, on the
# tiny test model's and SmolLM2-135M's shapes, with RANKS ranks of this
# machine under mpirun (shared memory).  The float counts are what tk-sft
# reports as trainable; each line: shape, mode, floats, MB, median ms of
# the all-reduce, the algorithm's bandwidth (2(p-1)/p bytes a rank).
#
#   scripts/bench/allreduce.sh [RANKS] [REPS]      (defaults 2, 20)
#
# Builds the MPI variant into BUILD-mpi (BUILD default build) if needed.
# Run it on a quiet machine; README's scaling note projects from it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ranks=${1:-2} reps=${2:-20}
BUILD=${BUILD:-build}
mpi=$BUILD-mpi
make --no-print-directory -s MPI=1 BUILD="$mpi" "$mpi/libtk.a" "$mpi/bin/tk-sft" "$mpi/bin/tk-render" >/dev/null
mkdir -p "$mpi/bench"
bin=$mpi/bench/allreduce
mpicc -std=c11 -D_DEFAULT_SOURCE -O2 -fopenmp -DTK_MPI=1 -Iinclude/tk -Ikernels \
	scripts/bench/allreduce.c "$mpi/libtk.a" -lzstd -lcjson -lopenblas -lm -lpthread -o "$bin"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The trainable floats tk-sft reports for MODEL (LoRA rank 32, or --full).
trainable() { # MODEL [--full]
	printf '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}\n' \
		> "$scratch/one.jsonl"
	"$mpi/bin/tk-render" -q -m "$1" "$scratch/one.jsonl" -o "$scratch/one.tks"
	rm -rf "$scratch/run"
	"$mpi/bin/tk-sft" -m "$1" "$scratch/one.tks" --steps 1 --lr 1e-5 -t 1 -o "$scratch/run" \
		"${@:2}" 2>&1 | grep -o '[0-9]* trainable parameters' | cut -d' ' -f1
}

smol=$(scripts/get-model.sh smollm2-135m-instruct 2>/dev/null) || smol=
echo "# $ranks ranks, $reps all-reduces each, median; $(nproc) cores; Open MPI $(mpirun --version | head -n 1 | awk '{print $NF}')"
echo "# shape mode floats MB ms GB/s"
for model in tests/fixtures/tiny-llama ${smol:+"$smol"}; do
	name=$(basename "$model" | sed 's/\..*//')
	for mode in lora full; do
		if [ "$mode" = full ]; then n=$(trainable "$model" --full); else n=$(trainable "$model" --lora-rank 32); fi
		mpirun -np "$ranks" "$bin" "$reps" "$n" |
			awk -v s="$name" -v m="$mode" '{ printf "%s %s %d %.1f %s %s\n", s, m, $1, $2 / 1e6, $4, $5 }'
	done
done
