#!/usr/bin/env bats
# GGUF files as users download them: a tiny Llama in k-quants and Q5 types
# (tests/fixtures/gguf/tiny-kquants.gguf, scripts/oracle/kquant_fixtures.py)
# and one quantized to Q4_K_M by llama.cpp itself (tiny-q4km.gguf,
# scripts/oracle/q4km_fixture.py) are inspected, scored and sampled from,
# with the same numbers as the float32 model tk-merge exports from them;
# tk-merge --init writes compact (bf16, Q8_0, Q4_0) GGUF models.

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

# tk-eval and tk-sample on GGUF $1 and on its float32 export: same bytes.
same_numbers_as_f32() {
	tk-merge -q -m "$1" -o f32.gguf
	run tk-merge --info f32.gguf
	[[ "$output" != *"_K "* ]]
	tk-render -q -m "$1" chats.jsonl -o train.tks
	tk-eval nll -q -m "$1" train.tks | sed 's/,"model":.*//' >kq.json
	tk-eval nll -q -m f32.gguf train.tks | sed 's/,"model":.*//' >f32.json
	grep -q '"tokens":' kq.json
	cmp kq.json f32.json
	sample=(-q -n 2 --max-tokens 8 --temperature 0.9 --seed 3 --logprobs)
	tk-sample "${sample[@]}" -m "$1" chats.jsonl >kq.jsonl
	tk-sample "${sample[@]}" -m f32.gguf chats.jsonl >f32.jsonl
	[ "$(wc -l <kq.jsonl)" -eq 4 ]
	cmp kq.jsonl f32.jsonl
}

@test "tk-eval and tk-sample give a k-quant GGUF's float32 export the same numbers" {
	same_numbers_as_f32 "$KQ"
}

@test "a Q4_K_M GGUF made by llama.cpp's quantizer: its types, and the same numbers as its float32 export" {
	run tk-merge --info "$FIX/gguf/tiny-q4km.gguf"
	[ "$status" -eq 0 ]
	[[ "$output" == *"model.layers.0.mlp.up_proj.weight"*"q4_K"* ]]
	[[ "$output" == *"model.layers.1.mlp.down_proj.weight"*"q6_K"* ]]
	[[ "$output" == *"lm_head.weight"*"q6_K"* ]]
	same_numbers_as_f32 "$FIX/gguf/tiny-q4km.gguf"
}

@test "--init --dtype writes a compact GGUF that loads and samples" {
	cfg="$FIX/tiny-llama/config.json"
	for t in f32 bf16 q8_0 q4_0; do
		tk-merge -q --init "$cfg" --tokenizer "$FIX/tiny-llama" --seed 7 --dtype "$t" -o "$t.gguf"
	done
	[ "$(stat -c %s q4_0.gguf)" -lt "$(stat -c %s q8_0.gguf)" ]
	[ "$(stat -c %s q8_0.gguf)" -lt "$(stat -c %s bf16.gguf)" ]
	[ "$(stat -c %s bf16.gguf)" -lt "$(stat -c %s f32.gguf)" ]
	run tk-merge --info q4_0.gguf
	[[ "$output" == *"model.layers.0.mlp.down_proj.weight"*"q4_0"*"[64, 128]"* ]]
	[[ "$output" == *"model.layers.0.input_layernorm.weight"*"f32"* ]]
	# the same random model, rounded: close to float32's loss, not equal
	tk-render -q -m q4_0.gguf chats.jsonl -o train.tks
	for t in f32 bf16 q8_0 q4_0; do
		tk-eval nll -q -m "$t.gguf" train.tks | sed 's/^{"nll":\([0-9.]*\).*/\1/' >"$t.nll"
	done
	awk -v a="$(cat f32.nll)" -v b="$(cat q8_0.nll)" 'BEGIN { d = a - b; exit !(d * d < 1e-4 && a != b) }'
	awk -v a="$(cat f32.nll)" -v b="$(cat q4_0.nll)" 'BEGIN { d = a - b; exit !(d * d < 1e-2) }'
	run tk-sample -q -m q4_0.gguf -n 1 --max-tokens 4 --seed 1 chats.jsonl
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "--init and -m refuse a quantized --dtype for formats other than GGUF" {
	cfg="$FIX/tiny-llama/config.json"
	run tk-merge --init "$cfg" --dtype q8_0 -o x.tkc
	[ "$status" -eq 64 ]
	[[ "$output" == *"writes float32: give -o OUT.gguf for --dtype q8_0"* ]]
	run tk-merge -m "$FIX/tiny-llama" --dtype q4_0 -o hf-out
	[ "$status" -eq 64 ]
	[[ "$output" == *"--dtype q4_0 is written to GGUF only"* ]]
	run tk-merge -m "$FIX/tiny-llama" --dtype q5_1 -o x.gguf
	[ "$status" -eq 64 ]
	[[ "$output" == *"expected f32, f16, bf16, q8_0 or q4_0"* ]]
	run tk-merge --init "$cfg" -o x.safetensors
	[ "$status" -eq 64 ]
	[ ! -e x.tkc ] && [ ! -e hf-out ] && [ ! -e x.gguf ] && [ ! -e x.safetensors ]
}
