#!/usr/bin/env bats
# tk-sample as a user runs it: output fields and order, seeds and batch
# invariance, token streams in and out, adapters, and bad input.

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	M="$FIX/tiny-llama"
	cat >in.jsonl <<'EOF'
{"messages": [{"role": "user", "content": "hi there"}], "id": "first", "topic": "greeting"}
{"prompt": "Once upon a time"}

{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
EOF
}

@test "one JSON line per sample, in input order, with id, meta, sample, text, tokens, finish" {
	run tk-sample -q -m "$M" -n 2 --max-tokens 5 in.jsonl
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 6 ]
	[[ "${lines[0]}" == '{"id":"first","meta":{"topic":"greeting"},"sample":0,"text":'* ]]
	[[ "${lines[1]}" == '{"id":"first","meta":{"topic":"greeting"},"sample":1,'* ]]
	[[ "${lines[2]}" == '{"id":1,"meta":{},"sample":0,'* ]]
	# a final assistant message is the reference, not part of the prompt
	[[ "${lines[5]}" == '{"id":2,"meta":{"reference":"4"},"sample":1,'* ]]
	[[ "${lines[0]}" =~ \"tokens\":\[[0-9]+(,[0-9]+)*\] ]]
	[[ "${lines[0]}" == *'"finish":"'* ]]
	[[ "${lines[0]}" != *'"logprobs"'* ]]
}

@test "--logprobs: one negative number per token" {
	run tk-sample -q -m "$M" --max-tokens 4 --logprobs --seed 3 in.jsonl
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ \"logprobs\":\[-[0-9.e-]+,-[0-9.e-]+,-[0-9.e-]+,-[0-9.e-]+\] ]]
}

@test "the same seed gives the same samples whatever --batch; another seed others" {
	tk-sample -q -m "$M" -n 3 --max-tokens 12 --seed 11 --batch 1 in.jsonl >b1.jsonl
	tk-sample -q -m "$M" -n 3 --max-tokens 12 --seed 11 --batch 4 in.jsonl >b4.jsonl
	tk-sample -q -m "$M" -n 3 --max-tokens 12 --seed 11 -t 1 in.jsonl >b64.jsonl
	cmp b1.jsonl b4.jsonl
	cmp b1.jsonl b64.jsonl
	tk-sample -q -m "$M" -n 3 --max-tokens 12 --seed 12 in.jsonl >other.jsonl
	! cmp -s b1.jsonl other.jsonl
	# sample j of a prompt does not depend on how many are drawn
	tk-sample -q -m "$M" -n 1 --max-tokens 12 --seed 11 in.jsonl >n1.jsonl
	[ "$(sed -n 1p n1.jsonl)" = "$(sed -n 1p b1.jsonl)" ]
}

@test "temperature 0 is greedy: every sample the same" {
	run tk-sample -q -m "$M" -n 3 --temperature 0 --max-tokens 10 in.jsonl
	[ "$status" -eq 0 ]
	a=$(echo "${lines[0]}" | sed 's/"sample":[0-9]*//')
	b=$(echo "${lines[2]}" | sed 's/"sample":[0-9]*//')
	[ "$a" = "$b" ]
}

@test "--stop cuts the text and ends the sample" {
	tk-sample -q -m "$M" --max-tokens 40 --seed 5 in.jsonl >all.jsonl
	# a letter that occurs in the first completion's text
	ch=$(head -1 all.jsonl | sed 's/.*"text":"\([^"]*\)".*/\1/' | tr -cd 'a-z' | cut -c1)
	[ ${#ch} -eq 1 ] || skip "the first completion has no letter"
	run tk-sample -q -m "$M" --max-tokens 40 --seed 5 --stop "$ch" in.jsonl
	[ "$status" -eq 0 ]
	text=$(echo "${lines[0]}" | sed 's/.*"text":"\([^"]*\)".*/\1/')
	[[ "$text" != *"$ch"* ]]
	[[ "${lines[0]}" == *'"finish":"stop"}' ]]
	# the tokens end at the one that completed the stop string
	[ "$(echo "${lines[0]}" | grep -o '"tokens":\[[^]]*' | tr -cd , | wc -c)" -lt \
	  "$(head -1 all.jsonl | grep -o '"tokens":\[[^]]*' | tr -cd , | wc -c)" ]
}

@test "--tks writes a token stream with the completions weighted and their logprobs" {
	run tk-sample -q -m "$M" -n 2 --max-tokens 6 --tks -o s.tks in.jsonl
	[ "$status" -eq 0 ]
	run tk-merge --info s.tks
	[ "$status" -eq 0 ]
	[[ "$output" == *"records: 6"* ]]
	[[ "$output" == *'"kind":	"samples"'* ]]
	# a terminal or stdout needs -o for binary output
	run tk-sample -q -m "$M" --tks in.jsonl </dev/null
	[ "$status" -ne 0 ] || [ ! -t 1 ]
}

@test "a .tks of prompts from tk-render --prompt samples like the JSON Lines" {
	command -v tk-render >/dev/null || skip "tk-render not built"
	head -1 in.jsonl >one.jsonl
	tk-render -q -m "$M" --prompt -o p.tks one.jsonl || skip "tk-render --prompt failed"
	tk-sample -q -m "$M" -n 2 --max-tokens 8 --seed 4 p.tks >from-tks.jsonl
	tk-sample -q -m "$M" -n 2 --max-tokens 8 --seed 4 one.jsonl >from-jsonl.jsonl
	diff <(sed 's/.*"text"/"text"/' from-tks.jsonl) <(sed 's/.*"text"/"text"/' from-jsonl.jsonl)
	# the stream on stdin too
	tk-sample -q -m "$M" -n 2 --max-tokens 8 --seed 4 - <p.tks >stdin.jsonl
	cmp from-tks.jsonl stdin.jsonl
}

@test "an adapter for the model changes the samples" {
	tk-sample -q -m "$M" --temperature 0 --max-tokens 10 in.jsonl >base.jsonl
	run tk-sample -q -m "$M" -a "$FIX/logits/tiny-llama-adapter.tkc" --temperature 0 --max-tokens 10 in.jsonl
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[ "$output" != "$(cat base.jsonl)" ]
}

@test "bad adapter: one made for another base model" {
	run tk-sample -q -m "$M" -a "$FIX/logits/tiny-llama-tied-adapter.tkc" in.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-sample: "*"tiny-llama-tied-adapter.tkc: adapter was trained on another base model"* ]]
	run tk-sample -q -m "$M" -a in.jsonl in.jsonl
	[ "$status" -ne 0 ]
	[[ "$output" == "tk-sample: "*"in.jsonl"* ]]
}

@test "a prompt longer than the model's context" {
	long=$(for i in $(seq 400); do printf 'word%d ' "$i"; done)
	printf '{"prompt": "ok"}\n{"prompt": "%s"}\n' "$long" >long.jsonl
	run tk-sample -q -m "$M" -o out.jsonl long.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-sample: long.jsonl:2: a prompt of "*" tokens is longer than the model's context (255 positions"* ]]
	[ ! -e out.jsonl ]
}

@test "an empty input" {
	: >empty.jsonl
	run tk-sample -q -m "$M" empty.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-sample: empty.jsonl: no prompts in the input" ]]
	run tk-sample -q -m "$M" </dev/null
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-sample: stdin: no prompts in the input" ]]
}

@test "-n 0, a non-numeric temperature, bad top-p: usage errors" {
	run tk-sample -m "$M" -n 0 in.jsonl
	[ "$status" -eq 64 ]
	[[ "$output" == *"--samples: '0' is not an integer"* ]]
	run tk-sample -m "$M" --temperature warm in.jsonl
	[ "$status" -eq 64 ]
	[[ "$output" == *"--temperature: 'warm'"* ]]
	run tk-sample -m "$M" --top-p 1.5 in.jsonl
	[ "$status" -eq 64 ]
	run tk-sample in.jsonl
	[ "$status" -eq 64 ]
	[[ "$output" == *"-m MODEL is needed"* ]]
}

@test "malformed lines name the file and line" {
	printf '{"prompt": "a"}\n{"messages": [}\n' >bad.jsonl
	run tk-sample -q -m "$M" bad.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-sample: bad.jsonl:2: "* ]]
	printf '{"text": "a"}\n' >bad2.jsonl
	run tk-sample -q -m "$M" bad2.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *'bad2.jsonl:1: neither "messages" nor "prompt"'* ]]
}

@test "a second object on a prompt line is refused by line" {
	printf '{"prompt": "a"} {"prompt": "b"}\n' >two.jsonl
	run tk-sample -q -m "$M" two.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-sample: two.jsonl:1: text after the JSON object (column 17)" ]]
}

@test "--help lists every option" {
	run tk-sample --help
	[ "$status" -eq 0 ]
	for o in model adapter samples temperature top-p top-k max-tokens stop logprobs batch tks seed output threads; do
		[[ "$output" == *"--$o"* ]]
	done
}

@test "--ignore-eos: every completion runs to --max-tokens" {
	run tk-sample -q -m "$M" -n 4 --ignore-eos --max-tokens 30 --seed 2 in.jsonl
	[ "$status" -eq 0 ]
	for l in "${lines[@]}"; do
		[ "$(echo "$l" | grep -o '"tokens":\[[^]]*' | tr -cd , | wc -c)" -eq 29 ]
		[[ "$l" == *'"finish":"length"}' ]]
	done
}

@test "--max-tokens 0: empty completions, finish length" {
	run tk-sample -q -m "$M" --max-tokens 0 in.jsonl
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *'"text":"","tokens":[],"finish":"length"}' ]]
	run tk-sample -q -m "$M" --max-tokens 0 --tks -o z.tks in.jsonl
	[ "$status" -eq 0 ]
	[ -s z.tks ]
}
