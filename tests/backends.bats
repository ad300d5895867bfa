#!/usr/bin/env bats
# --backend and TK_BACKEND as a user meets them: the reference backend
# (kernels/ref, plain C) gives what the cpu backend gives, through every
# command that runs a model; an unknown backend is refused by name.

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	M="$FIX/tiny-llama"
	printf '%s\n' '{"prompt": "Once upon a time"}' '{"prompt": "red blue green"}' >in.jsonl
}

@test "every command that runs a model takes --backend" {
	for c in tk-sample tk-sft tk-rl; do
		"$c" --help | grep -q -- '--backend NAME'
	done
	tk-eval nll --help | grep -q -- '--backend NAME'
	tk-eval choice --help | grep -q -- '--backend NAME'
}

@test "tk-sample: greedy tokens of the ref backend equal the cpu backend's; TK_BACKEND picks it too" {
	tk-sample -q -m "$M" --temperature 0 --max-tokens 12 in.jsonl | sed 's/"text":"[^"]*",//' >cpu.jsonl
	tk-sample -q -m "$M" --temperature 0 --max-tokens 12 --backend ref in.jsonl |
		sed 's/"text":"[^"]*",//' >ref.jsonl
	TK_BACKEND=ref tk-sample -q -m "$M" --temperature 0 --max-tokens 12 in.jsonl |
		sed 's/"text":"[^"]*",//' >env.jsonl
	diff cpu.jsonl ref.jsonl
	diff cpu.jsonl env.jsonl
}

@test "tk-eval nll and a tk-sft run agree between backends within 1e-5" {
	awk 'BEGIN { for (i = 0; i < 24; i++) printf "{\"messages\":[{\"role\":\"user\",\"content\":\"cat %d\"},{\"role\":\"assistant\",\"content\":\"dog %d\"}]}\n", i, i }' >chats.jsonl
	tk-render -q -m "$M" chats.jsonl -o chats.tks
	cpu=$(tk-eval nll -q -m "$M" chats.tks | grep -o '"nll":[0-9.]*' | cut -d: -f2)
	ref=$(tk-eval nll -q -m "$M" --backend ref chats.tks | grep -o '"nll":[0-9.]*' | cut -d: -f2)
	echo "# nll cpu $cpu ref $ref"
	awk -v a="$cpu" -v b="$ref" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }'
	tk-sft -q -m "$M" chats.tks -o a --steps 3 --batch 8 --lora-rank 4 --lr 1e-2 --seed 1
	tk-sft -q -m "$M" chats.tks -o b --steps 3 --batch 8 --lora-rank 4 --lr 1e-2 --seed 1 --backend ref
	la=$(tail -n 1 a/metrics.jsonl | grep -o '"train_mean_nll": [0-9.]*' | awk '{ print $2 }')
	lb=$(tail -n 1 b/metrics.jsonl | grep -o '"train_mean_nll": [0-9.]*' | awk '{ print $2 }')
	echo "# step-3 loss cpu $la ref $lb"
	awk -v a="$la" -v b="$lb" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }'
}

@test "an unknown backend is refused, naming the ones built in" {
	run tk-sample -q -m "$M" --backend nope in.jsonl
	[ "$status" -ne 0 ]
	[[ "$output" == *'backend "nope"'*cpu*ref* ]]
	printf "%s\n" "{\"text\": \"a cat\"}" | tk-render -q -m "$M" --text - -o one.tks
	TK_BACKEND=nope run tk-eval nll -q -m "$M" one.tks
	[ "$status" -ne 0 ]
	[[ "$output" == *'"nope"'* ]]
}
