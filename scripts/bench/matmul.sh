#!/usr/bin/env bash
# Measures this machine's single-precision matrix-multiply peak (OpenBLAS
# sgemm, square SIZE³ products, best of repeated runs) for MFU figures, and
# tk_matmul_forward's rates beside it (fast: not batch invariant, OpenBLAS;
# invariant: tk's own product, packing W on every call; packed: the same
# with W packed beforehand, as the forward does), square and at a
# decoder's shapes.
#
#   scripts/bench/matmul.sh [-t THREADS] [-n SIZE] [-s SECONDS] [--gflops]
#
# THREADS defaults to TK_THREADS or all cores.  --gflops prints only the
# peak, in GFLOP/s, for other scripts to divide by.  OpenBLAS picks its
# kernels from the CPU model and falls back to old SSE3 kernels ("Prescott",
# several times slower) on a CPU newer than itself.  tk's cpu backend then
# re-picks them from the CPU's features (kernels/cpu/backend.c), and this
# measures what tk gets.  Should the backend still report a generic core,
# the script also measures with OPENBLAS_CORETYPE set from the CPU flags,
# says how to use it, and takes the better figure as the peak (the
# machine's, not the misconfigured library's).
set -euo pipefail
cd "$(dirname "$0")/../.."

threads=${TK_THREADS:-0} size=2048 seconds=2 only=0
while [ $# -gt 0 ]; do
	case $1 in
	-t) threads=$2; shift 2 ;;
	-n) size=$2; shift 2 ;;
	-s) seconds=$2; shift 2 ;;
	--gflops) only=1; shift ;;
	-h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "matmul.sh: unknown option $1 (try --help)" >&2; exit 64 ;;
	esac
done

BUILD=${BUILD:-build}
make --no-print-directory -s "$BUILD/libtk.a" >/dev/null
bin="$BUILD/bench/matmul_peak"
mkdir -p "$(dirname "$bin")"
${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -O2 -fopenmp -Iinclude/tk -Ikernels \
	-I/usr/include/x86_64-linux-gnu scripts/bench/matmul_peak.c \
	"$BUILD/libtk.a" -lzstd -lcjson -lopenblas -lm -lpthread -o "$bin"

# The core type OpenBLAS should use on this CPU, from its flags.
coretype_for_cpu() {
	local flags
	flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
	case " $flags " in
	*" avx512f "*) echo SkylakeX ;;
	*" avx2 "*) echo Haswell ;;
	*) echo "" ;;
	esac
}

run() { "$bin" "$threads" "$size" "$seconds"; }
sgemm_of() { awk '$1 == "sgemm" { print $2 }'; }
table() { awk '$1 != "backend" { printf "  %-36s %8.1f GFLOP/s\n", $1, $2 }'; }

out=$(run)
peak=$(sgemm_of <<<"$out") how=""
backend=$(sed -n 's/^backend //p' <<<"$out")
core=$(coretype_for_cpu) fixed=""
if [[ $backend == *"(Prescott)"* || $backend == *"(Core2)"* ]] && [ -n "$core" ] &&
	[ -z "${OPENBLAS_CORETYPE:-}" ]; then
	fixed=$(OPENBLAS_CORETYPE=$core run)
	if awk -v a="$(sgemm_of <<<"$fixed")" -v b="$peak" 'BEGIN { exit !(a > b) }'; then
		peak=$(sgemm_of <<<"$fixed") how=" (with OPENBLAS_CORETYPE=$core)"
	fi
fi
if [ "$only" = 1 ]; then
	echo "$peak"
	exit 0
fi
echo "$backend; ${size}x${size}x${size} products"
table <<<"$out"
if [ -n "$fixed" ]; then
	echo "OpenBLAS did not recognise this CPU; with OPENBLAS_CORETYPE=$core:"
	table <<<"$fixed"
	echo "(export OPENBLAS_CORETYPE=$core before running tk to get these)"
fi
echo "sgemm peak: $peak GFLOP/s$how"
