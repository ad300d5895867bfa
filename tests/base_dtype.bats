#!/usr/bin/env bats
# tk-sft --base-dtype: the frozen base held once in a compact form gives
# the float32 base's run bit for bit in less memory; a form that cannot
# hold the model's values is refused naming the weight.

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	awk 'BEGIN { for (i = 0; i < 16; i++) printf "{\"messages\":[{\"role\":\"user\",\"content\":\"cat %d\"},{\"role\":\"assistant\",\"content\":\"dog %d\"}]}\n", i, i }' >chats.jsonl
	# the tiny model in Q8_0 blocks: its layers' values are exactly 8-bit blocks
	tk-merge -q -m "$FIX/tiny-llama" -o q8.gguf --dtype q8_0
	tk-render -q -m q8.gguf chats.jsonl -o chats.tks
}

run_sft() { # OUT BASE
	tk-sft -m q8.gguf chats.tks -o "$1" --steps 3 --batch 4 --lora-rank 4 --lr 1e-2 \
		--seed 1 --base-dtype "$2" 2>"$1.err"
}

@test "tk-sft --base-dtype auto and q8 give the f32 base's run bit for bit, in less memory" {
	run_sft f32 f32
	run_sft auto auto
	run_sft q8 q8
	cmp f32/final.tkc auto/final.tkc
	cmp f32/final.tkc q8/final.tkc
	grep -o '"train_mean_nll": [0-9.e-]*' f32/metrics.jsonl >f32.loss
	grep -o '"train_mean_nll": [0-9.e-]*' auto/metrics.jsonl | diff f32.loss -
	mib() { sed -n 's/.*parameters, \([0-9.]*\) MiB on.*/\1/p' "$1.err"; }
	echo "# trainer memory: f32 $(mib f32) MiB, auto $(mib auto) MiB"
	awk -v a="$(mib auto)" -v f="$(mib f32)" 'BEGIN { exit !(a > 0 && a < f * 0.75) }'
}

@test "tk-sft --base-dtype q4 on 8-bit values is refused naming the weight; an unknown form is a usage error" {
	run tk-sft -q -m q8.gguf chats.tks -o q4 --steps 1 --base-dtype q4
	[ "$status" -eq 65 ]
	[[ "$output" == *"layer 0's q_proj does not hold exactly in q4"* ]]
	run tk-sft -q -m q8.gguf chats.tks -o x --steps 1 --base-dtype q4_1
	[ "$status" -eq 64 ]
	[[ "$output" == *"--base-dtype: 'q4_1' is not auto, f32, bf16, q8, q4 or bf16-dot"* ]]
}
