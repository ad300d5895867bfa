#!/usr/bin/env bats
# tk-sft as a user runs it: learning on a synthetic copy task (full and
# LoRA), kill -TERM then --resume giving the uninterrupted run's bytes,
# DPO on pairs, and the refusals (another tokenizer, empty stream, zero
# weights, records longer than --max-len, stdin epochs, reused folders).

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
}

# N chats whose assistant repeats the user's words (the copy task).
copy_chats() {
	awk -v n="$1" -v seed="${2:-7}" 'BEGIN {
		srand(seed); split("red blue green cat dog sun moon tree", w, " ")
		for (i = 0; i < n; i++) {
			k = 2 + int(rand() * 4); s = ""
			for (j = 0; j < k; j++) s = s (j ? " " : "") w[1 + int(rand() * 8)]
			printf "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},", s
			printf "{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", s
		}
	}'
}

# Mean train_mean_nll of metrics lines FROM..TO (1-based) of a run.
mean_loss() {
	sed -n "$2,$3p" "$1/metrics.jsonl" | grep -o '"train_mean_nll": [0-9.e+-]*' |
		awk '{ s += $2; n++ } END { printf "%.4f\n", s / n }'
}

# N chats whose assistant answers with the first word of the user's.
first_word_chats() {
	awk -v n="$1" 'BEGIN {
		srand(11); split("red blue green cat dog sun moon tree", w, " ")
		for (i = 0; i < n; i++) {
			k = 2 + int(rand() * 4); s = ""
			for (j = 0; j < k; j++) { x = w[1 + int(rand() * 8)]; s = s (j ? " " : "") x
				if (!j) a = x }
			printf "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},", s
			printf "{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", a
		}
	}'
}

copy_stream() {
	copy_chats 256 > copy.jsonl
	tk-render -q -m "${1:-$FIX/tiny-llama}" copy.jsonl -o copy.tks
}

@test "--help lists every option" {
	run tk-sft --help
	[ "$status" -eq 0 ]
	for o in lora-rank lora-alpha lora-targets full lr lr-schedule warmup batch-tokens \
		 batch steps epochs grad-clip weight-decay beta1 beta2 eps shuffle no-shuffle \
		 max-len save-every resume loss dpo-beta eval eval-every normalize micro-tokens \
		 recompute max-memory; do
		[[ "$output" == *"--$o"* ]]
	done
}

@test "full training from random init learns the copy task within seconds (loss < 1.5)" {
	tk-merge --init "$FIX/tiny-llama/config.json" --tokenizer "$FIX/tiny-llama" --seed 3 -o rand.tkc
	copy_stream rand.tkc
	# about 1.5 s on an idle machine; CPU time, so that a busy machine or a
	# sanitizer build (about 3x) does not fail it
	run /usr/bin/time -f 'cpu %U %S' tk-sft -m rand.tkc copy.tks -o run --full --lr 3e-3 \
		--epochs 2 --batch 8 -t 1 --seed 1 -q
	[ "$status" -eq 0 ]
	cpu=$(echo "$output" | awk '/^cpu/ { print $2 + $3 }')
	echo "took $cpu s of CPU" >&3
	awk -v c="$cpu" 'BEGIN { exit !(c < 30) }'
	[ "$(wc -l < run/metrics.jsonl)" -eq 64 ]
	first=$(mean_loss run 1 4) last=$(mean_loss run 57 64)
	echo "loss $first -> $last" >&3
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(a > 5 && b < 1.5) }'
	# the full checkpoint is a model again
	run tk-merge --info run/final.tkc
	[ "$status" -eq 0 ]
	[[ "$output" == *'"kind":	"full"'* ]]
}

@test "LoRA on a copy-trained model learns a new task (loss falls by half)" {
	# A LoRA leaves the embeddings and final norm of a random model frozen, so
	# their small logits cap what it can learn: the base is first trained
	# fully on the copy task, then an adapter learns "answer with the first
	# word".
	tk-merge --init "$FIX/tiny-llama/config.json" --tokenizer "$FIX/tiny-llama" --seed 3 -o rand.tkc
	copy_stream rand.tkc
	tk-sft -m rand.tkc copy.tks -o base --full --lr 1e-2 --epochs 4 --batch 8 -t 2 -q
	first_word_chats 256 > first.jsonl
	tk-render -q -m base/final.tkc first.jsonl -o first.tks
	# 3 epochs: the sanitizer build's -O1 rounds otherwise than -O3 and its
	# base ends a little worse trained (0.668 vs 0.654), leaving 2 epochs of
	# LoRA at 0.52 of their start where the -O3 build reaches 0.46
	run tk-sft -m base/final.tkc first.tks -o run --lr 1e-2 --lora-rank 8 --lora-alpha 16 \
		--epochs 3 --batch 8 -t 2 --seed 9
	[ "$status" -eq 0 ]
	[[ "$output" == *"LoRA training"* ]]
	first=$(mean_loss run 1 4) last=$(mean_loss run 89 96)
	echo "loss $first -> $last" >&3
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a / 2) }'
	run tk-merge --info run/final.tkc
	[ "$status" -eq 0 ]
	[[ "$output" == *'"kind":	"adapter"'* ]]
}

@test "the LoRA learning rate rule is printed when --lr is not given" {
	copy_stream
	run tk-sft -m "$FIX/tiny-llama" copy.tks -o run --steps 1
	[ "$status" -eq 0 ]
	[[ "$output" == *"lr 0.007353 from the LoRA rule 5e-4 * (2000 / hidden 64)^0.781 (Llama family)"* ]]
	grep -Eq '"lr":[[:space:]]+0\.00735' run/config.json
}

@test "kill -TERM mid-run, then --resume: final.tkc and metrics as the uninterrupted run's" {
	copy_stream
	opts=(-m "$FIX/tiny-llama" copy.tks --steps 80 --batch 8 --save-every 7 --lr 1e-2
	      --lora-rank 4 -t 2 --seed 5 --lr-schedule cosine --warmup 3)
	tk-sft "${opts[@]}" -q -o whole
	tk-sft "${opts[@]}" -q -o cut 2> cut.err &
	pid=$!
	while [ "$(cat cut/metrics.jsonl 2>/dev/null | wc -l)" -lt 10 ]; do sleep 0.02; done
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 75 ]
	grep -q "interrupted (signal 15) after step" cut.err
	grep -q "continue with --resume cut" cut.err
	[ ! -e cut/final.tkc ]
	run tk-sft "${opts[@]}" --resume cut
	[ "$status" -eq 0 ]
	[[ "$output" == *"resuming at step"* ]]
	cmp whole/final.tkc cut/final.tkc
	diff <(sed 's/, "time.*//' whole/metrics.jsonl) <(sed 's/, "time.*//' cut/metrics.jsonl)
}

@test "--resume: a cut last line of checkpoints.jsonl is dropped with a warning, stale temporaries cleared" {
	copy_chats 32 > copy.jsonl
	tk-render -q -m "$FIX/tiny-llama" copy.jsonl -o copy.tks
	opts=(-m "$FIX/tiny-llama" copy.tks --steps 6 --batch 4 --save-every 2 --lr 1e-2
	      --lora-rank 4 -t 1 --seed 5 -q)
	tk-sft "${opts[@]}" -o whole
	tk-sft "${opts[@]}" -o cut
	# as if killed while appending step 4's record, and while writing a state
	[ "$(wc -l < cut/checkpoints.jsonl)" -eq 2 ]
	{ head -1 cut/checkpoints.jsonl; sed -n 2p cut/checkpoints.jsonl | head -c 25; } >cp.tmp
	mv cp.tmp cut/checkpoints.jsonl
	rm cut/final.tkc
	touch cut/.step-000006.tkc.tmp-Ab12Cd cut/.final.tkc.tmp-XyZ789
	# the user's own files, whatever their names, stay
	touch cut/.notes.tmp-Ab12Cd cut/step-000006.tkc.tmp-Ab12Cd cut/.final.tkc.tmp-long123 cut/mine.txt
	run tk-sft "${opts[@]}" --resume cut
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"cut/checkpoints.jsonl: ignored its last line, cut short (25 bytes)"* ]]
	cmp whole/final.tkc cut/final.tkc
	diff whole/checkpoints.jsonl cut/checkpoints.jsonl
	[ ! -e cut/.step-000006.tkc.tmp-Ab12Cd ] && [ ! -e cut/.final.tkc.tmp-XyZ789 ]
	[ -e cut/.notes.tmp-Ab12Cd ] && [ -e cut/step-000006.tkc.tmp-Ab12Cd ]
	[ -e cut/.final.tkc.tmp-long123 ] && [ -e cut/mine.txt ]
	# a record whole but for its newline is kept, and the next one starts a line
	head -c -1 whole/checkpoints.jsonl >cp.tmp && mv cp.tmp whole/checkpoints.jsonl
	rm whole/final.tkc
	run tk-sft "${opts[@]}" --resume whole
	[ "$status" -eq 0 ]
	[[ "$output" != *"ignored its last line"* ]]
	cmp whole/final.tkc cut/final.tkc
	[ "$(grep -c '^{.*}$' whole/checkpoints.jsonl)" -eq "$(wc -l < whole/checkpoints.jsonl)" ]
}

@test "--recompute and micro-batches of one record give the same adapter, less memory" {
	copy_stream
	opts=(-m "$FIX/tiny-llama" copy.tks --steps 6 --batch 8 --lr 1e-2 --lora-rank 4 -t 2 -q)
	tk-sft "${opts[@]}" -o plain
	tk-sft "${opts[@]}" -o again --recompute
	cmp plain/final.tkc again/final.tkc
	# accumulation over micro-batches: the same numbers up to rounding
	tk-sft "${opts[@]}" -o micro --micro-tokens 40
	a=$(sed -n 6p plain/metrics.jsonl | grep -o '"train_mean_nll": [0-9.]*' | cut -d' ' -f2)
	b=$(sed -n 6p micro/metrics.jsonl | grep -o '"train_mean_nll": [0-9.]*' | cut -d' ' -f2)
	awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }'
}

@test "--max-memory sizes the passes, and refuses a budget below the longest record" {
	copy_stream
	# the whole plan: base, adapter, optimizer, activations, workspace (-t 2: per thread)
	run tk-sft -m "$FIX/tiny-llama" copy.tks -o run --steps 2 --lr 1e-3 --max-memory 4 -t 2
	[ "$status" -eq 0 ]
	[[ "$output" == *"memory: base "*" of --max-memory 4"* ]]
	[[ "$output" =~ steps\ of\ batch\ 8,\ ([0-9]+)\ tokens\ a\ pass ]]
	[ "${BASH_REMATCH[1]}" -lt 432 ]
	# the same numbers as one pass, up to rounding
	tk-sft -m "$FIX/tiny-llama" copy.tks -o one --steps 2 --lr 1e-3 -q
	a=$(sed -n 2p one/metrics.jsonl | grep -o '"train_mean_nll": [0-9.]*' | cut -d' ' -f2)
	b=$(sed -n 2p run/metrics.jsonl | grep -o '"train_mean_nll": [0-9.]*' | cut -d' ' -f2)
	awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }'
	run tk-sft -m "$FIX/tiny-llama" copy.tks -o run2 --steps 2 --lr 1e-3 --max-memory 2.4 -t 2
	[ "$status" -eq 64 ]
	[[ "$output" == *"--max-memory 2.4 MiB holds passes of "*" tokens, fewer than the longest record's "* ]]
	[ ! -e run2 ]
	run tk-sft -m "$FIX/tiny-llama" copy.tks -o run3 --steps 2 --lr 1e-3 --max-memory 1 -t 2
	[ "$status" -eq 64 ]
	[[ "$output" == *"--max-memory 1 MiB is less than training holds before a pass's activations: base "* ]]
	[ ! -e run3 ]
}

@test "--batch-tokens packs records up to the budget; an epoch is all the records" {
	copy_stream
	run tk-sft -m "$FIX/tiny-llama" copy.tks -o run --batch-tokens 300 --lr 1e-3 -t 1 -q
	[ "$status" -eq 0 ]
	total=0
	for n in $(grep -o '"num_tokens": [0-9]*' run/metrics.jsonl | cut -d' ' -f2); do
		[ "$n" -le 300 ]
		total=$((total + n))
	done
	[ "$total" -eq "$(tk-merge --info copy.tks | sed -n 's/^tokens: //p')" ]
}

@test "--resume with other settings is refused, naming the setting" {
	copy_stream
	tk-sft -m "$FIX/tiny-llama" copy.tks -o run --steps 4 --save-every 2 --lr 1e-3 -q
	run tk-sft -m "$FIX/tiny-llama" copy.tks --steps 4 --save-every 2 --lr 2e-3 --resume run
	[ "$status" -eq 64 ]
	[[ "$output" == *"setting lr was 0.001, now 0.002"* ]]
	# and a used folder is not overwritten without --resume
	run tk-sft -m "$FIX/tiny-llama" copy.tks -o run --steps 4 --lr 1e-3
	[ "$status" -eq 73 ]
	[[ "$output" == *"already holds a run"*"--resume run"* ]]
}

@test "a stream rendered for another tokenizer is refused, naming both fingerprints" {
	copy_chats 8 > copy.jsonl
	tk-render -q -m "$FIX/render/tiny-llama3" copy.jsonl -o other.tks
	run tk-sft -m "$FIX/tiny-llama" other.tks -o run
	[ "$status" -eq 65 ]
	[[ "$output" =~ other.tks\ was\ rendered\ with\ tokenizer\ [0-9a-f]{16},\ but\ .*tiny-llama\ has\ tokenizer\ [0-9a-f]{16} ]]
	[ ! -e run ]
}

@test "an empty stream is refused clearly" {
	: > empty.jsonl
	tk-render -q -m "$FIX/tiny-llama" empty.jsonl -o empty.tks
	run tk-sft -m "$FIX/tiny-llama" empty.tks -o run
	[ "$status" -eq 65 ]
	[[ "$output" == "tk-sft: empty.tks has no records: nothing to train on" ]]
}

@test "a stream whose weights are all zero is refused clearly" {
	copy_chats 8 > copy.jsonl
	tk-render -q -m "$FIX/tiny-llama" --prompt copy.jsonl -o prompts.tks
	run tk-sft -m "$FIX/tiny-llama" prompts.tks -o run
	[ "$status" -eq 65 ]
	[[ "$output" == *"no record has a non-zero loss weight (all weights are zero)"* ]]
}

@test "records longer than --max-len are skipped with a count, or refused when all are" {
	copy_stream
	run tk-sft -m "$FIX/tiny-llama" copy.tks -o run --max-len 10
	[ "$status" -eq 65 ]
	[[ "$output" == *"every record is longer than --max-len 10 (longest "*" tokens)"* ]]
	run tk-sft -m "$FIX/tiny-llama" copy.tks -o run --max-len 40 --steps 2 --lr 1e-3
	[ "$status" -eq 0 ]
	[[ "$output" =~ skipped\ [0-9]+\ of\ 256\ records\ longer\ than\ --max-len\ 40 ]]
}

@test "stdin is read once: --epochs 2 and --shuffle need a file" {
	copy_stream
	run tk-sft -m "$FIX/tiny-llama" --epochs 2 - < copy.tks
	[ "$status" -eq 64 ]
	[[ "$output" == *"need the stream in a file"* ]]
	run tk-sft -m "$FIX/tiny-llama" -o run --steps 2 --lr 1e-3 -q - < copy.tks
	[ "$status" -eq 0 ]
	[ -s run/final.tkc ]
}

@test "metrics.jsonl, checkpoints.jsonl and config.json have the documented keys" {
	copy_chats 64 > copy.jsonl
	tk-render -q -m "$FIX/tiny-llama" copy.jsonl -o copy.tks
	head -n 16 copy.tks > /dev/null
	run tk-sft -m "$FIX/tiny-llama" copy.tks -o run --steps 6 --save-every 3 --lr 1e-3 \
		--eval copy.tks --eval-every 3 -q
	[ "$status" -eq 0 ]
	line=$(head -n 1 run/metrics.jsonl)
	for k in step train_mean_nll optim/lr optim/grad_norm num_tokens time/tokens_per_sec \
		 time/total; do
		[[ "$line" == *"\"$k\": "* ]]
	done
	grep -q '"step": 3, "test/nll": ' run/metrics.jsonl
	grep -q '"step": 6, "test/nll": ' run/metrics.jsonl
	[ "$(wc -l < run/checkpoints.jsonl)" -eq 1 ]
	grep -q '"step": 3, "path": "step-000003.tkc", "data": {"epoch": 0, "index": 24}' \
		run/checkpoints.jsonl
	[ -s run/step-000003.tkc ]
	grep -q '"model_fingerprint"' run/config.json
	grep -q '"data_fingerprint"' run/config.json
}

@test "DPO on preference pairs trains and logs accuracy" {
	awk 'BEGIN { for (i = 0; i < 16; i++)
		printf "{\"prompt\":\"say %d\",\"chosen\":\"%d\",\"rejected\":\"no\"}\n", i, i }' > pairs.jsonl
	tk-render -q -m "$FIX/tiny-llama" --pairs pairs.jsonl -o pairs.tks
	run tk-sft -m "$FIX/tiny-llama" pairs.tks -o run --loss dpo --dpo-beta 0.5 --batch 4 \
		--steps 8 --lr 1e-2 --lora-rank 4
	[ "$status" -eq 0 ]
	grep -q '"dpo_loss": ' run/metrics.jsonl
	grep -q '"accuracy": ' run/metrics.jsonl
	run tk-sft -m "$FIX/tiny-llama" pairs.tks -o run2 --loss dpo --full --lr 1e-3
	[ "$status" -eq 64 ]
	[[ "$output" == *"--loss dpo needs LoRA"* ]]
}

@test "--resume keeps the run's own pass size when --micro-tokens is not given" {
	printf '{"messages":[{"role":"user","content":"say hi"},{"role":"assistant","content":"hi there, friend"}]}\n%.0s' 1 2 3 4 5 6 7 8 >c.jsonl
	tk-render -m "$BATS_TEST_DIRNAME/fixtures/tiny-llama" c.jsonl -o t.tks 2>/dev/null
	tk-sft -m "$BATS_TEST_DIRNAME/fixtures/tiny-llama" t.tks -o run --steps 4 --batch 4 --save-every 2 -t 1 -q
	# as if an older build had worked out another default pass size
	python3 -c 'import json; p="run/config.json"; c=json.load(open(p)); c["settings"]["micro_tokens"]=40; json.dump(c, open(p, "w"))'
	run tk-sft -m "$BATS_TEST_DIRNAME/fixtures/tiny-llama" t.tks --resume run --steps 4 --batch 4 --save-every 2 -t 1 -q
	[ "$status" -eq 0 ]
	run tk-sft -m "$BATS_TEST_DIRNAME/fixtures/tiny-llama" t.tks --resume run --steps 4 --batch 4 --save-every 2 -t 1 -q --micro-tokens 100
	[ "$status" -eq 64 ]
	[[ "$output" == *"setting micro_tokens was 40, now 100"* ]]
}
