#!/usr/bin/env bats
# tk-sft and tk-rl as one trainer: the same options with the same help,
# and tk-rl's passes sized and remade as tk-sft's (--recompute,
# --max-memory), by one implementation (lib/cli/train_options.c).

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
}

# The help rows of the trainer options, as a command prints them.
train_rows() {
	"$1" --help | grep -E -- '--(model|lora-rank|lora-alpha|lora-targets|full|lr|lr-schedule|warmup|grad-clip|weight-decay|beta1|beta2|eps|micro-tokens|recompute|max-memory|save-every|resume) '
}

@test "tk-sft and tk-rl list the same trainer options with the same help" {
	train_rows tk-sft >sft.txt
	train_rows tk-rl >rl.txt
	[ "$(wc -l <sft.txt)" -eq 18 ]
	diff sft.txt rl.txt
}

@test "tk-rl --recompute: the same run, byte for byte; --max-memory too small is refused" {
	opts=(-m "$FIX/tiny-llama" --env arithmetic --groups 2 --group-size 4 --max-tokens 6
	      --steps 2 --seed 3 -t 1 -q --lr 1e-2)
	tk-rl "${opts[@]}" -o plain
	tk-rl "${opts[@]}" -o again --recompute
	cmp plain/final.tkc again/final.tkc
	run tk-rl "${opts[@]}" -o small --max-memory 3
	[ "$status" -eq 64 ]
	[[ "$output" == *"--max-memory 3 MiB holds passes of"*"add --recompute"* ]]
	[ ! -e small/final.tkc ]
	tk-rl "${opts[@]}" -o fits --max-memory 64
	cmp plain/final.tkc fits/final.tkc
}
