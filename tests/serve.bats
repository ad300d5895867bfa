#!/usr/bin/env bats
# tk-serve against the real tinker SDK (0.38.0, from PyPI into a cached
# venv: scripts/serve/venv.sh) on the tiny model: the SDK's results compared
# with tk-eval and tk-sample on the same tokens, weights and adapters.
# The checks are scripts/serve/conformance.py's.

MODEL="$BATS_TEST_DIRNAME/fixtures/tiny-llama"
CONF="$BATS_TEST_DIRNAME/../scripts/serve/conformance.py"

setup_file() {
	export WORK="$BATS_FILE_TMPDIR"
	cd "$WORK"
	local py
	py=$("$BATS_TEST_DIRNAME/../scripts/serve/venv.sh" 2>venv.log) && rc=0 || rc=$?
	if [ "$rc" -eq 2 ]; then
		export SKIP_SDK="PyPI cannot be reached: the tinker SDK cannot be installed"
	elif [ "$rc" -ne 0 ]; then
		cat venv.log >&2
		return 1
	fi
	export PY="$py"
	printf 'the quick brown fox jumps over the lazy dog\nhello world again and again\n' >t.txt
	printf 'the quick brown fox\n' >p.txt
	tk-render -q -m "$MODEL" --text t.txt -o t.tks
	tk-render -q -m "$MODEL" --text p.txt -o p.tks
	tk-render --show --json t.tks >recs.jsonl
	tk-render --show --json p.tks >prompt.jsonl
	[ -z "${SKIP_SDK:-}" ] || return 0
	# serve.rc gets the server's exit status (the SIGTERM test reads it)
	(
		tk-serve -q -p 0 -t 2 -m "tiny=$MODEL" --state-dir "$WORK/state" 2>serve.log &
		echo $! >serve.pid
		wait $!
		echo $? >serve.rc
	) 3>&- &
	for _ in $(seq 100); do
		grep -q 'listening on' serve.log && break
		sleep 0.1
	done
	export URL
	URL=$(grep -o 'http://[^ ]*' serve.log)
	[ -n "$URL" ]
}

teardown_file() {
	[ -f "$WORK/serve.pid" ] && kill -TERM "$(cat "$WORK/serve.pid")" 2>/dev/null || true
}

setup() {
	cd "$WORK"
}

need_sdk() {
	[ -z "${SKIP_SDK:-}" ] || skip "$SKIP_SDK"
}

# conformance.py CHECK [ARGS]: its JSON in $output
check() {
	need_sdk
	run "$PY" "$CONF" "$1" "$URL" tiny recs.jsonl "${@:2}"
	[ "$status" -eq 0 ] || { echo "$output"; cat serve.log; return 1; }
	output=$(tail -n 1 <<<"$output")
}

# field JSON KEY
field() {
	"$PY" -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])[sys.argv[2]]))' "$1" "$2"
}

# close A B RTOL: |A - B| <= RTOL * |B|
close() {
	"$PY" -c 'import sys; a, b, r = map(float, sys.argv[1:]); print(a, b, abs(a - b)); sys.exit(abs(a - b) > r * abs(b))' "$@"
}

@test "cross_entropy forward_backward: its loss is tk-eval nll on the same tokens and weights" {
	check ce
	served=$(field "$output" nll)
	eval_nll=$(tk-eval nll -q -m "$MODEL" t.tks)
	close "$served" "$(field "$eval_nll" nll)" 1e-12
}

@test "optim_step, sampler weights: tk-eval nll and greedy tk-sample with the saved adapter agree with the server" {
	check train prompt.jsonl 8
	out=$output
	[[ "$(field "$out" path)" == '"tinker://'*'/sampler_weights/trained"' ]]
	run="$(field "$out" path | tr -d '"')"
	adapter="state/${run#tinker://}.tkc"
	[ -f "$adapter" ]
	close "$(field "$out" nll)" "$(field "$(tk-eval nll -q -m "$MODEL" -a "$adapter" t.tks)" nll)" 1e-12
	sampled=$(tk-sample -q -m "$MODEL" -a "$adapter" --temperature 0 --ignore-eos --max-tokens 8 p.tks)
	[ "$(field "$out" tokens)" = "$(field "$sampled" tokens)" ]
	# prompt logprobs: the trainer's forward on the same weights
	"$PY" -c 'import sys; sys.exit(not float(sys.argv[1]) <= 1e-5)' "$(field "$out" prompt_lp_err)"
}

@test "save_state -> load_state: the next step is the same, with a new client or the same one" {
	check resume
	a=$(field "$output" a)
	[ "$(field "$output" b)" = "$a" ]
	[ "$(field "$output" a2)" = "$a" ]
	# without the optimizer: fresh moments make another step
	[ "$(field "$output" fresh)" != "$a" ]
	[ "$(field "$output" info_rank)" = 4 ]
	[ "$(field "$output" info_base)" = '"tiny"' ]
	state=$(field "$output" state | tr -d '"')
	[ -f "state/${state#tinker://}.tkc" ]
	[ -f "state/${state#tinker://}.adapter.tkc" ]
}

@test "importance_sampling, and an SDK custom loss giving the built-in loss's update" {
	check rl
	# the step moved the logprobs, and both paths moved them alike
	"$PY" -c 'import sys; sys.exit(not float(sys.argv[1]) > 1e-3)' "$(field "$output" moved)"
	"$PY" -c 'import sys; sys.exit(not float(sys.argv[1]) <= 1e-6)' "$(field "$output" custom_vs_builtin)"
}

@test "bad requests get the API's status codes, a bad datum is named, the server keeps serving" {
	check errors
	[ "$(field "$output" unknown_base)" = 404 ]
	[ "$(field "$output" not_json)" = 400 ]
	[ "$(field "$output" unknown_client)" = 404 ]
	[ "$(field "$output" not_protobuf)" = 400 ]
	[ "$(field "$output" unknown_path)" = 404 ]
	[[ "$(field "$output" bad_datum)" == *"400"*"datum 1: target_tokens[0]"* ]]
	[ "$(field "$output" still_works)" != null ]
}

@test "/v1/completions on saved sampler weights: tk-sample's greedy text; /v1/chat/completions answers a message" {
	check train prompt.jsonl 8
	path=$(field "$output" path | tr -d '"')
	check openai "$path" prompt.jsonl 8
	out=$output
	run="${path#tinker://}"
	sampled=$(tk-sample -q -m "$MODEL" -a "state/$run.tkc" --temperature 0 --ignore-eos --max-tokens 8 p.tks)
	[ "$(field "$out" text)" = "$(field "$sampled" text)" ]
	[ "$(field "$out" finish)" = '"length"' ]
	[ "$(field "$out" unknown_model)" = 404 ]
}

@test "SIGTERM: tk-serve exits 0 and the saved checkpoints stay" {
	need_sdk
	pid=$(cat serve.pid)
	kill -TERM "$pid"
	for _ in $(seq 100); do [ -f serve.rc ] && break; sleep 0.1; done
	rm serve.pid
	[ "$(cat serve.rc)" = 0 ]
	run find state -name '*.tkc'
	[ -n "$output" ]
	for f in $output; do tk-merge --info "$f" >/dev/null; done
}

@test "tk-serve: a --model without NAME=PATH, and an address it cannot bind, are refused" {
	run tk-serve --model nothing
	[ "$status" -eq 64 ]
	[[ "$output" == *"NAME=PATH"* ]]
	run tk-serve --host 203.0.113.1 -p 1
	[ "$status" -eq 71 ]
	[[ "$output" == *"tk-serve: cannot listen on 203.0.113.1:1"* ]]
}
