#!/usr/bin/env bats
# libtk as a C programmer uses it: the public headers (include/tk/) each
# compile on their own, and a program built against the installed headers
# and library runs a model (scripts/examples/greedy.c).

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	# bats run by hand has no TK_BIN: the default build, not the checkout's root
	BUILD_DIR=$(dirname "${TK_BIN:-$REPO/build/bin}")
}

@test "every public header compiles on its own, twice included, C11 -Wall -Wextra -Werror -pedantic" {
	for h in "$REPO"/include/tk/*.h; do
		printf '#include <tk/%s>\n#include <tk/%s>\n' "${h##*/}" "${h##*/}" |
			cc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$REPO/include" -x c - ||
			{ echo "# ${h##*/} does not compile on its own"; return 1; }
	done
}

@test "public headers name only public headers; private ones are not installed" {
	run grep -ho '#include "[^"]*"' "$REPO"/include/tk/*.h
	for inc in "${lines[@]}"; do
		f=${inc#*\"}; f=${f%\"}
		[ -f "$REPO/include/tk/$f" ] || { echo "# $inc: not a public header"; return 1; }
	done
	[ ! -e "$REPO/include/tk/tk_cli.h" ]
}

@test "a program built against the installed headers and library runs the model as tk-sample does" {
	prefix="$BATS_TEST_TMPDIR/prefix"
	make -s -C "$REPO" install PREFIX="$prefix" BUILD="$BUILD_DIR"
	flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs tk)
	[[ "$flags" == *"-I$prefix/include"* ]]
	cc -std=c11 -Wall -Wextra -Werror "$REPO/scripts/examples/greedy.c" $flags -o "$BATS_TEST_TMPDIR/greedy"
	run "$BATS_TEST_TMPDIR/greedy" "$REPO/tests/fixtures/tiny-llama" "Once upon a time" 6
	[ "$status" -eq 0 ]
	want=$(echo '{"prompt": "Once upon a time"}' |
		tk-sample -q -m "$REPO/tests/fixtures/tiny-llama" --temperature 0 --ignore-eos \
			--max-tokens 6 - | sed -E 's/.*"tokens":(\[[0-9,]*\]).*/\1/')
	[[ "${lines[0]}" == "Once upon a time"* ]]
	[ "${lines[1]}" = "$want" ]
	run "$BATS_TEST_TMPDIR/greedy" "$BATS_TEST_TMPDIR/no-such-model" "x" 1
	[ "$status" -eq 1 ]
	[[ "$output" == "greedy: "*"no-such-model"* ]]
}
