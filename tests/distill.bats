#!/usr/bin/env bats
# Top-K distillation as a user runs it: a teacher (the tiny Llama with an
# adapter trained here on a copy task) scores the data with tk-eval
# logprobs --tks --top-k K, tk-sft trains a fresh student adapter on those
# soft targets, and the student's held-out cross-entropy to the teacher's
# targets goes down; --targets chooses hard, soft or mixed; the refusals.

setup() {
	cd "$BATS_TEST_TMPDIR"
	TINY="$BATS_TEST_DIRNAME/fixtures/tiny-llama"
	cp "$BATS_FILE_TMPDIR"/*.tks .
}

# Once for the file: 48 training and 16 held-out chats, a teacher trained
# on them, and its top 8 on both (soft-train.tks, soft-held.tks).
setup_file() {
	cd "$BATS_FILE_TMPDIR"
	TINY="$BATS_TEST_DIRNAME/fixtures/tiny-llama"
	copy_chats 48 7 | tk-render -q -m "$TINY" -o train.tks -
	copy_chats 16 99 | tk-render -q -m "$TINY" -o held.tks -
	tk-sft -q -t 2 --seed 1 -m "$TINY" --lora-rank 8 --lr 1e-2 --steps 30 --batch 8 \
		train.tks -o teacher
	for s in train held; do
		tk-eval logprobs -q -m "$TINY" -a teacher/final.tkc --tks --top-k 8 \
			-o "soft-$s.tks" "$s.tks"
	done
}

# N chats whose assistant repeats the user's words (the copy task).
copy_chats() {
	awk -v n="$1" -v seed="$2" 'BEGIN {
		srand(seed); split("red blue green cat dog sun moon tree", w, " ")
		for (i = 0; i < n; i++) {
			k = 2 + int(rand() * 4); s = ""
			for (j = 0; j < k; j++) s = s (j ? " " : "") w[1 + int(rand() * 8)]
			printf "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},", s
			printf "{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", s
		}
	}'
}

# The test/nll values of a run's metrics, one a line.
test_nll() {
	grep -o '"test/nll": [0-9.e+-]*' "$1/metrics.jsonl" | cut -d' ' -f2
}

@test "distill: tk-sft on a teacher's top-K lowers the held-out cross-entropy to the teacher" {
	tk-sft -q -t 2 --seed 3 -m "$TINY" --lora-rank 8 --lr 3e-3 --steps 30 --batch 8 \
		--eval soft-held.tks --eval-every 1 soft-train.tks -o run
	grep -q '"targets":[[:space:]]*"soft"' run/config.json
	first=$(test_nll run | head -1) last=$(test_nll run | tail -1)
	echo "held-out cross-entropy to the teacher: $first -> $last"
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.97 * a) }'
	# each evaluation's value is its own, in order: mostly going down
	test_nll run | awk 'NR > 1 { down += $1 < prev } { prev = $1 } END { exit !(down >= 0.8 * (NR - 1)) }'
	# the targets were the teacher's, not the data's: hard training on the
	# same stream ends elsewhere
	tk-sft -q -t 2 --seed 3 -m "$TINY" --lora-rank 8 --lr 3e-3 --steps 30 --batch 8 \
		--targets hard soft-train.tks -o hard
	! cmp -s run/final.tkc hard/final.tkc
	! grep -q '"targets"' hard/config.json
}

@test "distill: --targets mixed with --hard-weight 1 is hard training, bit for bit" {
	args=(-q -t 2 --seed 5 -m "$TINY" --lora-rank 4 --steps 3 --batch 8)
	tk-sft "${args[@]}" --targets hard train.tks -o hard
	tk-sft "${args[@]}" --targets mixed --hard-weight 1 soft-train.tks -o mixed1
	tk-sft "${args[@]}" --targets mixed --hard-weight 0.5 soft-train.tks -o mixed5
	cmp hard/final.tkc mixed1/final.tkc
	! cmp -s hard/final.tkc mixed5/final.tkc
	grep -q '"hard_weight":[[:space:]]*0.5' mixed5/config.json
}

@test "distill: refusals name the problem" {
	run tk-sft -q -m "$TINY" --targets soft train.tks -o r1
	[ "$status" -eq 65 ]
	[[ "$output" == *"--targets soft: train.tks carries no top-K"* ]]
	run tk-sft -q -m "$TINY" --targets fuzzy soft-train.tks -o r2
	[ "$status" -eq 64 ]
	[[ "$output" == *"--targets: 'fuzzy' is not hard, soft or mixed"* ]]
	run tk-sft -q -m "$TINY" --loss dpo --targets soft soft-train.tks -o r3
	[ "$status" -eq 64 ]
	[[ "$output" == *"--targets soft is for --loss ce"* ]]
	run tk-sft -q -m "$TINY" --targets mixed --hard-weight 2 soft-train.tks -o r4
	[ "$status" -eq 64 ]
}
