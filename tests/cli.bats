#!/usr/bin/env bats
# The conventions every command shares: help, version, usage errors with
# sysexits codes, "tk-NAME: message" diagnostics, missing and bad input.

setup() {
	cd "$BATS_TEST_TMPDIR"
}

commands() {
	local c
	for c in "$TK_BIN"/tk-*; do [ -x "$c" ] && echo "${c##*/}"; done
}

@test "every command answers --help on stdout with exit 0, listing the common options" {
	[ -n "$(commands)" ]
	for c in $(commands); do
		run "$c" --help
		[ "$status" -eq 0 ]
		[[ "$output" == "Usage: $c "* ]]
		[[ "$output" == *"-h, --help"* ]]
		[[ "$output" == *"--version"* ]]
		[[ "$output" == *"-q, --quiet"* ]]
		run "$c" -h
		[ "$status" -eq 0 ]
	done
}

@test "every command prints its name and version" {
	for c in $(commands); do
		run "$c" --version
		[ "$status" -eq 0 ]
		[[ "$output" =~ ^$c\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	done
}

@test "an unknown option is a usage error (64) naming the option" {
	for c in $(commands); do
		run "$c" --no-such-option
		[ "$status" -eq 64 ]
		[[ "$output" == "$c: unknown option --no-such-option"* ]]
		[[ "$output" == *"Try '$c --help'"* ]]
	done
}

@test "every command has a man page that names it" {
	for c in $(commands); do
		[ -f "$BATS_TEST_DIRNAME/../man/$c.1" ]
		grep -q "$c" "$BATS_TEST_DIRNAME/../man/$c.1"
	done
}

@test "tk-merge: no mode is a usage error" {
	run tk-merge
	[ "$status" -eq 64 ]
	[[ "$output" == "tk-merge: nothing to do"* ]]
}

@test "tk-merge --info: a missing file exits 66 naming it" {
	run tk-merge --info nothere.tks
	[ "$status" -eq 66 ]
	[[ "$output" == "tk-merge: nothere.tks: cannot open"* ]]
}

@test "tk-merge --info: garbage exits 65 naming the file" {
	head -c 1000 /dev/urandom >junk.tks
	run tk-merge --info junk.tks
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-merge: junk.tks: "* ]]
	printf 'not a checkpoint\n' >junk.tkc
	run tk-merge --info junk.tkc
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-merge: junk.tkc: "* ]]
}

@test "tk-merge --info: an empty file is reported, not crashed on" {
	: >empty.tks
	run tk-merge --info empty.tks
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-merge: empty.tks: "* ]]
}
