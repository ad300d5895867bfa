#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz/ (built by `make fuzz-build`
# into build/fuzz/fuzz/) and reports, per target, executions, coverage
# (libFuzzer's cov: edges, ft: features) and the verdict.
#
#   tests/fuzz/run.sh [--seconds N] [TARGET...]   (`make fuzz`)
#       N seconds per target (default 60), new inputs kept in
#       build/fuzz/corpus/TARGET, crashes in build/fuzz/artifacts/.
#   tests/fuzz/run.sh --tap                        (`make test`)
#       builds, then TK_FUZZ_SECONDS (default 3) per target from the
#       committed corpus in a scratch folder, as TAP lines; one skip line
#       where clang with libFuzzer is missing or TK_FUZZ_SECONDS is 0.
#
# Each target first runs, once each and with TK_FUZZ_STRICT=1, its
# regression inputs (tests/fuzz/regressions/TARGET/: bugs found and fixed,
# which must pass) and its known-bug inputs (tests/fuzz/known-bugs/TARGET/:
# bugs found and reported, not fixed yet, which must still fail: a skip
# line each; one that passes is reported, to be moved to regressions/),
# then fuzzes from its seeds (tests/fuzz/corpus/TARGET/) with its
# dictionary (tests/fuzz/dict/TARGET.dict).
set -uo pipefail
cd "$(dirname "$0")/../.."

tap=0 seconds=60 targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--tap) tap=1; seconds=${TK_FUZZ_SECONDS:-3} ;;
	--seconds) seconds=$2; shift ;;
	-*) echo "usage: $0 [--tap] [--seconds N] [TARGET...]" >&2; exit 64 ;;
	*) targets+=("$1") ;;
	esac
	shift
done
if [ ${#targets[@]} -eq 0 ]; then
	for src in tests/fuzz/fuzz_*.c; do
		t=${src##*/fuzz_}
		targets+=("${t%.c}")
	done
fi

bins=build/fuzz/fuzz
work=$(mktemp -d "${TMPDIR:-/tmp}/tk-fuzz-run.XXXXXX")
trap 'rm -rf "$work"' EXIT

# clang that links -fsanitize=fuzzer (Debian: clang and libclang-rt-N-dev)
have_libfuzzer() {
	command -v "${FUZZ_CC:-clang}" >/dev/null || return 1
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$work/probe.c"
	"${FUZZ_CC:-clang}" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" \
		>/dev/null 2>&1
}

skip_all() {
	echo "ok - fuzz # SKIP $1"
	exit 0
}

if [ $tap = 1 ]; then
	[ "$seconds" = 0 ] && skip_all "TK_FUZZ_SECONDS=0 turns the fuzz pass off"
	have_libfuzzer || skip_all "clang with libFuzzer is not installed (scripts/deps.sh installs it)"
	if ! make --no-print-directory -s -j"$(nproc)" fuzz-build >"$work/build.log" 2>&1; then
		sed 's/^/#   /' "$work/build.log" | tail -n 40
		echo "not ok - fuzz: make fuzz-build"
		exit 1
	fi
fi

# The last value of KEY (cov, ft, corp) on libFuzzer's status lines.
status_value() { # key log
	grep -o " $1: [0-9]*" "$2" | tail -n 1 | grep -o '[0-9]*$' || echo 0
}

# Runs the target's regression and known-bug inputs, then fuzzes it;
# prints its TAP lines.
run_target() { # target
	local t=$1 bin="$bins/fuzz_$1" log="$work/$1.log" corpus artifacts input
	if [ ! -x "$bin" ]; then
		echo "not ok - fuzz $t: $bin is not built (make fuzz-build)"
		return 1
	fi
	for input in tests/fuzz/regressions/"$t"/*; do
		[ -e "$input" ] || continue
		if ! TK_FUZZ_STRICT=1 "$bin" "$input" >"$log" 2>&1; then
			report_failure "$t" "$log" "regression input $input fails again"
			return 1
		fi
	done
	for input in tests/fuzz/known-bugs/"$t"/*; do
		[ -e "$input" ] || continue
		if TK_FUZZ_STRICT=1 "$bin" "$input" >"$log" 2>&1; then
			echo "not ok - fuzz $t: known-bug input $input passes now: move it to" \
				"tests/fuzz/regressions/$t/ and drop the harness's tolerance of it"
			return 1
		fi
		echo "ok - fuzz $t: $input # SKIP known bug, reported, not fixed yet ($(grep -m 1 -o \
			'==fuzz== property violated at [^ ]*\|SUMMARY: [A-Za-z]*Sanitizer: [a-z-]*' "$log"))"
	done
	if [ $tap = 1 ]; then
		corpus="$work/corpus-$t"
	else
		corpus="build/fuzz/corpus/$t"
	fi
	artifacts="build/fuzz/artifacts/$t-"
	mkdir -p "$corpus" "${artifacts%/*}"
	local dict=() start=$SECONDS
	[ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
	if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
		"${dict[@]}" -artifact_prefix="$artifacts" "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
		report_failure "$t" "$log" "crash after $((SECONDS - start)) s"
		return 1
	fi
	local runs
	runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$')
	printf 'ok - fuzz %s: %s runs in %d s, cov %s ft %s, corpus %s\n' "$t" "${runs:-?}" \
		"$((SECONDS - start))" "$(status_value cov "$log")" "$(status_value ft "$log")" \
		"$(status_value corp "$log")"
}

report_failure() { # target log what
	local summary input
	summary=$(grep -m 1 -E '^SUMMARY:|==fuzz== property|ERROR: libFuzzer' "$2" | head -c 300)
	input=$(grep -o "Test unit written to .*" "$2" | tail -n 1)
	grep -E -A 12 '^==[0-9]+==ERROR|==fuzz==|ERROR: libFuzzer' "$2" | head -n 30 | sed 's/^/#   /'
	echo "not ok - fuzz $1: $3: ${summary:-see the log}${input:+; ${input#Test unit written to }}"
}

failed=0
for t in "${targets[@]}"; do
	run_target "$t" || failed=$((failed + 1))
done
[ $tap = 1 ] || echo "$((${#targets[@]} - failed)) of ${#targets[@]} targets clean ($seconds s each)"
[ $failed -eq 0 ]
