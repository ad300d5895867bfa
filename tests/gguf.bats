#!/usr/bin/env bats
# GGUF files as users download them: a tiny Llama in k-quants and Q5 types
# (tests/fixtures/gguf/tiny-kquants.gguf, scripts/oracle/kquant_fixtures.py)
# is inspected, scored and sampled from, with the same numbers as the
# float32 model tk-merge exports from it.

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	KQ="$FIX/gguf/tiny-kquants.gguf"
	printf '%s\n' \
		'{"messages":[{"role":"user","content":"red cat"},{"role":"assistant","content":"red cat"}]}' \
		'{"messages":[{"role":"user","content":"blue moon tree"},{"role":"assistant","content":"blue moon"}]}' \
		>chats.jsonl
}

@test "--info names each tensor's stored type" {
	run tk-merge --info "$KQ"
	[ "$status" -eq 0 ]
	[[ "$output" == *"hidden: 256"* ]]
	[[ "$output" == *"model.embed_tokens.weight"*"q4_K"*"[512, 256]"* ]]
	[[ "$output" == *"model.layers.0.mlp.down_proj.weight"*"q6_K"* ]]
	for t in q2_K q3_K q5_K q8_K q5_0 q5_1 q8_0; do
		[[ "$output" == *" $t "* ]]
	done
}

@test "tk-eval and tk-sample give a k-quant GGUF's float32 export the same numbers" {
	tk-merge -q -m "$KQ" -o f32.gguf
	run tk-merge --info f32.gguf
	[[ "$output" != *"_K "* ]]
	tk-render -q -m "$KQ" chats.jsonl -o train.tks
	tk-eval nll -q -m "$KQ" train.tks | sed 's/,"model":.*//' >kq.json
	tk-eval nll -q -m f32.gguf train.tks | sed 's/,"model":.*//' >f32.json
	grep -q '"tokens":' kq.json
	cmp kq.json f32.json
	sample=(-q -n 2 --max-tokens 8 --temperature 0.9 --seed 3 --logprobs)
	tk-sample "${sample[@]}" -m "$KQ" chats.jsonl >kq.jsonl
	tk-sample "${sample[@]}" -m f32.gguf chats.jsonl >f32.jsonl
	[ "$(wc -l <kq.jsonl)" -eq 4 ]
	cmp kq.jsonl f32.jsonl
}
