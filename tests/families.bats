#!/usr/bin/env bats
# Model families beyond Llama as a user meets them: a tiny Qwen3 (per-head
# q/k norms) trained with LoRA and --full, and a tiny Mistral whose sliding
# window (8 keys) is shorter than the texts, scored like transformers.

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
}

# Mean train_mean_nll of metrics lines FROM..TO (1-based) of a run.
mean_loss() {
	sed -n "$2,$3p" "$1/metrics.jsonl" | grep -o '"train_mean_nll": [0-9.e+-]*' |
		awk '{ s += $2; n++ } END { printf "%.4f\n", s / n }'
}

copy_chats() {
	awk -v n="$1" 'BEGIN { srand(5); split("red blue green cat dog sun moon tree", w, " ")
		for (i = 0; i < n; i++) { k = 2 + int(rand() * 4); s = ""
			for (j = 0; j < k; j++) s = s (j ? " " : "") w[1 + int(rand() * 8)]
			printf "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},", s
			printf "{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", s } }'
}

first_word_chats() {
	awk -v n="$1" 'BEGIN { srand(11); split("red blue green cat dog sun moon tree", w, " ")
		for (i = 0; i < n; i++) { k = 2 + int(rand() * 4); s = ""
			for (j = 0; j < k; j++) { x = w[1 + int(rand() * 8)]; s = s (j ? " " : "") x
				if (!j) a = x }
			printf "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},", s
			printf "{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", a } }'
}

@test "tk-sft trains a tiny Qwen3: --full learns the copy task, then LoRA a new one on it" {
	copy_chats 128 >chats.jsonl
	tk-render -q -m "$FIX/tiny-qwen3" chats.jsonl -o chats.tks
	tk-sft -q -m "$FIX/tiny-qwen3" chats.tks -o full --full --epochs 4 --batch 8 --lr 1e-2 --seed 1
	first=$(mean_loss full 1 3) last=$(mean_loss full 62 64)
	echo "# full: loss $first -> $last"
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 1.0 && b < a / 4) }'
	# the checkpoint holds the trained q/k norms, and loads as a model
	tk-merge --info full/final.tkc | grep -q 'model.layers.1.self_attn.k_norm.weight'
	first_word_chats 128 >first.jsonl
	tk-render -q -m full/final.tkc first.jsonl -o first.tks
	tk-sft -q -m full/final.tkc first.tks -o lora --lr 1e-2 --lora-rank 8 --lora-alpha 16 \
		--steps 64 --batch 8 --seed 1
	first=$(mean_loss lora 1 3) last=$(mean_loss lora 62 64)
	echo "# LoRA: loss $first -> $last"
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a / 2) }'
	echo '{"prompt": "red cat"}' | tk-sample -q -m full/final.tkc -a lora/final.tkc \
		--max-tokens 4 - | grep -q '"finish"'
}

@test "a sliding window shorter than the texts: tk-eval nll equals transformers' within 1e-4" {
	want=$(grep -o '"nll": [0-9.]*' "$FIX/logits/tiny-mistral-nll.json" | awk '{ print $2 }')
	full=$(grep -o '"nll_full_attention": [0-9.]*' "$FIX/logits/tiny-mistral-nll.json" | awk '{ print $2 }')
	sed -n 's/.*"texts": \[\(.*\)\], "tokens".*/\1/p' "$FIX/logits/tiny-mistral-nll.json" |
		sed 's/", "/"\n"/g' | sed 's/^\(.*\)$/{"text": \1}/' >texts.jsonl
	[ "$(wc -l <texts.jsonl)" -eq 6 ]
	tk-render -q -m "$FIX/tiny-mistral" --text texts.jsonl -o texts.tks
	got=$(tk-eval nll -q -m "$FIX/tiny-mistral" texts.tks | grep -o '"nll":[0-9.]*' | cut -d: -f2)
	echo "# tk $got, transformers $want (full attention: $full)"
	awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }'
	awk -v a="$got" -v b="$full" 'BEGIN { d = a - b; exit !(d > 1e-3 || d < -1e-3) }'
}
