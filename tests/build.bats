#!/usr/bin/env bats
# The build as a user drives it: install, uninstall, and a failed compile
# that leaves nothing behind.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	BUILD_DIR=$(dirname "$TK_BIN")
}

@test "make install puts every command, libtk, headers and man pages under PREFIX; uninstall removes them" {
	prefix="$BATS_TEST_TMPDIR/prefix"
	run make -s -C "$REPO" install PREFIX="$prefix" BUILD="$BUILD_DIR"
	[ "$status" -eq 0 ]
	for c in "$TK_BIN"/tk-*; do
		[ -x "$prefix/bin/${c##*/}" ]
		[ -f "$prefix/share/man/man1/${c##*/}.1" ]
	done
	[ -f "$prefix/lib/libtk.a" ]
	[ -f "$prefix/include/tk/tk_error.h" ]
	[ -f "$prefix/share/man/man7/tk.7" ]
	[ -f "$prefix/share/man/man5/tk-formats.5" ]
	"$prefix/bin/tk-merge" --version
	run make -s -C "$REPO" uninstall PREFIX="$prefix" BUILD="$BUILD_DIR"
	[ "$status" -eq 0 ]
	[ -z "$(find "$prefix" -type f)" ]
}

@test "a source that fails to compile leaves no object file behind" {
	# under tests/, where no build glob looks, so other builds never see it
	name=broken_for_test_$$
	src="$REPO/tests/$name.c"
	printf 'int broken(void) { return undeclared_name; }\n' >"$src"
	run make -C "$REPO" BUILD="$BATS_TEST_TMPDIR/b" "$BATS_TEST_TMPDIR/b/obj/tests/$name.o"
	rm -f "$src"
	[ "$status" -ne 0 ]
	[[ "$output" == *undeclared_name* ]]
	[ ! -e "$BATS_TEST_TMPDIR/b/obj/tests/$name.o" ]
}

@test "plain make builds the library and every command" {
	run make -n -C "$REPO" BUILD="$BATS_TEST_TMPDIR/fresh"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$BATS_TEST_TMPDIR/fresh/libtk.a"* ]]
	for c in tk-render tk-sft tk-rl tk-sample tk-eval tk-merge; do
		[[ "$output" == *"$BATS_TEST_TMPDIR/fresh/bin/$c"* ]]
	done
}

@test "changing the flags rebuilds every object; the same flags rebuild none" {
	b="$BATS_TEST_TMPDIR/flags"
	make -s -C "$REPO" BUILD="$b" "$b/obj/lib/base/utf8.o"
	run make -n -C "$REPO" BUILD="$b" "$b/obj/lib/base/utf8.o"
	[[ "$output" != *"lib/base/utf8.c"* ]]
	run make -n -C "$REPO" BUILD="$b" OPT=-O1 "$b/obj/lib/base/utf8.o"
	[[ "$output" == *"-O1"*"lib/base/utf8.c"* ]]
}
