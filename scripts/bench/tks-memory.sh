#!/usr/bin/env bash
# Writes a token stream of 2 GiB of tokens (512Mi int32 tokens, plus as
# many float weights, in records of 4096 tokens), reads it back, and prints
# time, throughput and peak resident memory of each; both must stay under
# 200 MB whatever the stream's size, and the reader must get the same data
# back (checksums agree).  Exits non-zero otherwise.
#
#   scripts/bench/tks-memory.sh            # the full 2 GiB run
#   TOKENS=16777216 scripts/bench/tks-memory.sh   # a quick one
#
# Knobs (environment): TOKENS, RECORD (tokens per record), THREADS
# (compression workers; default: all cores), LEVEL (zstd level, default 1),
# LIMIT_MB (default 200), TMPDIR (where the stream is written, then
# removed; it needs about 2.5 GB).
set -euo pipefail
cd "$(dirname "$0")/../.."

TOKENS=${TOKENS:-536870912}
RECORD=${RECORD:-4096}
THREADS=${THREADS:-$(nproc 2>/dev/null || echo 2)}
LEVEL=${LEVEL:-1}
LIMIT_MB=${LIMIT_MB:-200}
BUILD=${BUILD:-build}

make -s --no-print-directory "$BUILD/libtk.a"
work=$(mktemp -d "${TMPDIR:-/tmp}/tks-memory.XXXXXX")
trap 'rm -rf "$work"' EXIT
${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -Wextra -Werror -Iinclude/tk \
	scripts/bench/tks-memory.c "$BUILD/libtk.a" \
	-fopenmp -lzstd -lcjson -lopenblas -lm -lpthread -o "$work/tks-memory"

# Runs the helper, prints its line; leaves the peak RSS (KiB) that
# /usr/bin/time saw (else the helper's own getrusage figure) and the data
# checksum in $work/LABEL.rss and $work/LABEL.sum.
run() { # label, helper arguments...
	local label=$1; shift
	local out
	if [ -x /usr/bin/time ]; then
		out=$(/usr/bin/time -v -o "$work/time.$label" "$work/tks-memory" "$@")
		awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.$label" >"$work/$label.rss"
	else
		out=$("$work/tks-memory" "$@")
		sed 's/.*peak_rss_mb=\([0-9.]*\).*/\1/' <<<"$out" | awk '{printf "%d\n", $1 * 1024}' >"$work/$label.rss"
	fi
	echo "$label: $out"
	sed 's/.*checksum=//' <<<"$out" >"$work/$label.sum"
}

echo "tks-memory: $TOKENS tokens ($((TOKENS * 4 / 1048576)) MiB of tokens, as much again of weights)," \
	"records of $RECORD, zstd level $LEVEL, $THREADS threads"
run write write "$work/stream.tks" "$TOKENS" "$RECORD" "$THREADS" "$LEVEL"
echo "file: $(($(stat -c %s "$work/stream.tks") / 1048576)) MiB compressed"
run read read "$work/stream.tks"

mb() { awk '{printf "%.1f", $1 / 1024}' "$work/$1.rss"; }
echo "peak RSS: write $(mb write) MB, read $(mb read) MB (limit $LIMIT_MB MB)"
status=0
if ! cmp -s "$work/write.sum" "$work/read.sum"; then
	echo "FAIL: the data read back differs from the data written"
	status=1
fi
for label in write read; do
	if [ "$(cat "$work/$label.rss")" -ge $((LIMIT_MB * 1024)) ]; then
		echo "FAIL: $label peak memory above $LIMIT_MB MB"
		status=1
	fi
done
[ $status -eq 0 ] && echo "ok: bounded memory, data intact"
exit $status
