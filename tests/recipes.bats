#!/usr/bin/env bats
# The recipes of scripts/recipes/ run end to end on tiny random models, with
# a few steps and a few tokens each: every stage runs, the outputs and the
# result line are there.  (What they learn on a real model is in
# scripts/recipes/README.md.)  The Slurm script is interrupted with SIGTERM,
# requeued through a stand-in scontrol and resumed to the uninterrupted
# run's adapter, bit for bit.

setup_file() {
	export TK_BIN=${TK_BIN:-$(cd "$BATS_TEST_DIRNAME/../build/bin" && pwd)}
	# The distillation and GSM8K prompts are longer than tiny-llama's 256
	# positions: the same model shape with 1024, random weights.
	if [ -x "$TK_BIN/tk-merge" ]; then
		sed 's/"max_position_embeddings": 256/"max_position_embeddings": 1024/' \
			"$BATS_TEST_DIRNAME/fixtures/tiny-llama/config.json" >"$BATS_FILE_TMPDIR/config.json"
		"$TK_BIN/tk-merge" -q --init "$BATS_FILE_TMPDIR/config.json" --seed 1 \
			--tokenizer "$BATS_TEST_DIRNAME/fixtures/tiny-llama" -o "$BATS_FILE_TMPDIR/tiny1k.tkc"
	fi
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	export PATH="$TK_BIN:$PATH"
	R="$BATS_TEST_DIRNAME/../scripts/recipes"
	D="$R/data"
	export MODEL="$BATS_TEST_DIRNAME/fixtures/tiny-llama" THREADS=1 SEED=3
	unset DATA TEST OUT STEPS EPOCHS BATCH LR
}

need() {
	for c in "$@"; do
		case $c in
		python3) command -v python3 >/dev/null || skip "python3 is not installed" ;;
		*) [ -x "$TK_BIN/$c" ] || skip "$c is not built yet" ;;
		esac
	done
}

# The number after "KEY": in FILE (a one-line JSON result).
num() { grep -o "\"$1\":[-0-9.e+]*" "$2" | head -1 | cut -d: -f2; }

@test "data: make-data.py writes the committed example data again" {
	need python3
	cp "$D/make-data.py" .
	python3 make-data.py
	for f in chat-train chat-test prefs prefs-boxed word-prompts; do cmp "$f.jsonl" "$D/$f.jsonl"; done
}

@test "chat-sft: render, LoRA SFT, held-out NLL before and after" {
	need tk-render tk-sft tk-eval
	head -16 "$D/chat-train.jsonl" >train.jsonl
	head -4 "$D/chat-test.jsonl" >test.jsonl
	DATA=train.jsonl TEST=test.jsonl OUT=out STEPS=3 BATCH=4 run "$R/chat-sft/run.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -s out/run/final.tkc ] && [ -s out/train.tks ] && [ -s out/test.tks ]
	[ "$(num steps out/result.json)" = 3 ]
	awk -v a="$(num nll_before out/result.json)" -v b="$(num nll_after out/result.json)" \
		'BEGIN { exit !(b < a) }'
}

@test "distill: teacher samples become chats without the system message, trained, checked" {
	need tk-sample tk-render tk-sft python3
	head -6 "$D/questions-train.jsonl" >q.jsonl
	head -3 "$D/questions-test.jsonl" >t.jsonl
	# a random model never writes the marker: KEEP=all trains on every answer
	MODEL="$BATS_FILE_TMPDIR/tiny1k.tkc" DATA=q.jsonl TEST=t.jsonl OUT=out SAMPLES=1 \
		MAXTOK=6 KEEP=all run "$R/distill/run.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"to-chats: kept 6 of 6 teacher samples"* ]]
	grep -q '"role": "system"' out/teacher-prompts.jsonl
	run grep -c '"role": "system"' out/student-chats.jsonl
	[ "$output" = 0 ]
	[ "$(grep -c '"role": "user"' out/student-chats.jsonl)" -eq 6 ]
	grep -q '"content": "Why is the sea salty?"' out/student-chats.jsonl
	[ -s out/run/final.tkc ]
	[ "$(num trained_on out/result.json)" = 6 ]
	[ "$(num held_out out/result.json)" = 3 ]
	[ -n "$(num student out/result.json)" ]
}

@test "distill: by default only answers holding the marker are kept (none: tk-sft refuses)" {
	need tk-sample tk-render tk-sft python3
	head -2 "$D/questions-train.jsonl" >q.jsonl
	MODEL="$BATS_FILE_TMPDIR/tiny1k.tkc" DATA=q.jsonl OUT=out SAMPLES=1 MAXTOK=4 \
		run "$R/distill/run.sh"
	[ "$status" -ne 0 ]
	[[ "$output" == *"kept 0 of 2 teacher samples"* ]]
}

@test "dpo: pairs rendered, DPO trained, held-out preferences and answers checked" {
	need tk-render tk-sft tk-eval tk-sample python3
	head -12 "$D/prefs.jsonl" >prefs.jsonl
	DATA=prefs.jsonl HELDOUT=4 OUT=out STEPS=3 BATCH=2 MAXTOK=4 run "$R/dpo/run.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(wc -l <out/train-pairs.jsonl)" -eq 8 ] && [ "$(wc -l <out/test-pairs.jsonl)" -eq 4 ]
	grep -q '"dpo_loss"' out/run/metrics.jsonl
	for k in prefers_chosen_before prefers_chosen_after reward_accuracy answer_accuracy_before \
		answer_accuracy_after; do [ -n "$(num $k out/result.json)" ]; done
	[ "$(num held_out_pairs out/result.json)" = 4 ]
}

@test "rlhf: SFT, two DPO judges on disjoint pairs, RL against one, the win rate by the other" {
	need tk-render tk-sft tk-eval tk-rl tk-sample python3
	python3 -c '
import json
for i in range(64):
    t = "\n\nHuman: name a colour, number %d\n\nAssistant: " % i
    print(json.dumps({"chosen": t + "Blue, number %d." % i, "rejected": t + "No."}))
' | gzip >pairs.jsonl.gz
	MODEL="$BATS_FILE_TMPDIR/tiny1k.tkc" PAIRS=pairs.jsonl.gz OUT=out SFT_STEPS=2 RL_STEPS=2 \
		RL_GROUPS=2 GROUP_SIZE=2 MAXTOK=4 SPLIT="--judge 16 --judge-test 16 --rl 8 --test 8" \
		run "$R/rlhf/run.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	# the parts are disjoint
	cat out/judge1.jsonl out/judge2.jsonl out/judge-test.jsonl | sort | uniq -d >dup
	[ ! -s dup ]
	[ "$(grep -c . out/judge1.jsonl)" -eq 16 ] && [ "$(grep -c . out/test-prompts.jsonl)" -eq 8 ]
	grep -q '"judge/comparisons":2' out/rl/metrics.jsonl    # 2 groups of 2: one pair each
	grep -q '"init_adapter":' out/rl/config.json
	for k in judge1_accuracy judge2_accuracy judge2_stderr win_rate_rl_vs_sft; do
		[ -n "$(num $k out/result.json)" ]
	done
	[ "$(num judge_test_pairs out/result.json)" = 16 ]
}

@test "onpolicy-distill: the student samples, the teacher scores, boxed accuracy before and after" {
	need tk-render tk-sft tk-eval tk-rl tk-sample python3
	MODEL="$BATS_FILE_TMPDIR/tiny1k.tkc" OUT=out STEPS=2 RL_GROUPS=2 GROUP_SIZE=2 MAXTOK=4 \
		TEACHER_STEPS=2 run "$R/onpolicy-distill/run.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '"teacher/kl"' out/student/metrics.jsonl)" -eq 2 ]
	! grep -q '"role": *"assistant"' out/questions.jsonl
	for k in before after teacher teacher_tokens_per_sec; do [ -n "$(num $k out/result.json)" ]; done
	[ "$(num answers out/result.json)" = 60 ]
}

@test "topk-distill: the teacher's top-K scored, tk-sft on soft targets, boxed accuracy before and after" {
	need tk-render tk-sft tk-eval tk-sample
	OUT=out K=4 STEPS=2 BATCH=4 MAXTOK=4 TEACHER_STEPS=2 run "$R/topk-distill/run.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '"targets":[[:space:]]*"soft"' out/student/config.json
	[ "$(grep -c '"test/nll"' out/student/metrics.jsonl)" -ge 2 ]
	tk-render --show --json out/soft-train.tks | head -1 | grep -q '"top_logprobs"'
	for k in before after teacher first last teacher_tokens_per_sec; do
		[ -n "$(num $k out/result.json)" ]
	done
	[ "$(num answers out/result.json)" = 60 ]
	[ "$(num k out/result.json)" = 4 ]
}

@test "rl-arithmetic: held-out problems, greedy accuracy before and after RL" {
	need tk-rl tk-sample tk-eval
	OUT=out STEPS=2 N_GROUPS=2 GROUP_SIZE=2 MAXTOK=4 HELDOUT=6 run "$R/rl-arithmetic/run.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c . out/heldout.jsonl)" -eq 6 ]
	# held-out problems are none of the training ones
	run grep -cFxf out/train-problems.jsonl out/heldout.jsonl
	[ "$output" = 0 ]
	[ "$(grep -c '"step"' out/run/metrics.jsonl)" -eq 2 ] && [ -s out/run/final.tkc ]
	[ -n "$(num accuracy_after out/result.json)" ]
}

@test "gsm8k: few-shot eval with a 95% interval, then RL on the train split" {
	need tk-rl tk-sample tk-eval python3
	mkdir gsm
	for f in train test; do
		for i in 1 2 3; do
			printf '{"question": "Ann has %d apples and buys %d more. How many apples has she?", "answer": "She has %d+%d=<<%d+%d=%d>>%d apples.\\n#### %d"}\n' \
				$i $((i + 2)) $i $((i + 2)) $i $((i + 2)) $((2 * i + 2)) $((2 * i + 2)) $((2 * i + 2))
		done >gsm/$f.jsonl
	done
	MODEL="$BATS_FILE_TMPDIR/tiny1k.tkc" OUT=out SHOTS=2 MAXTOK=4 STEPS=2 N_GROUPS=2 \
		GROUP_SIZE=2 run "$R/gsm8k/run.sh" gsm
	echo "$output"
	[ "$status" -eq 0 ]
	# two shots: four turns before the question, cleaned of <<...>>
	grep -q 'She has 1+3=4 apples.\\nThe answer is 4.' out/test-prompts.jsonl
	[ "$(sed 's/"answer":.*//' out/test-prompts.jsonl | grep -c '<<')" = 0 ]
	[ "$(num n out/eval-base.json)" = 3 ] && [ "$(num n out/eval-rl.json)" = 3 ]
	# the Wilson interval holds the accuracy; 0 of 3 gives [0, 0.5615]
	sed 's/.*"accuracy":\([0-9.]*\),"ci95":\[\([0-9.]*\),\([0-9.]*\)\].*/\1 \2 \3/' out/eval-base.json |
		awk '{ exit !($2 <= $1 && $1 <= $3 && $3 > $2) }'
	if [ "$(num correct out/eval-base.json)" = 0 ]; then grep -q '"ci95":\[0.0000,0.5615\]' out/eval-base.json; fi
	[ -s out/run/final.tkc ]
	run "$R/gsm8k/run.sh" nowhere
	[ "$status" -eq 66 ]
	run "$R/gsm8k/run.sh"
	[ "$status" -eq 64 ]
}

@test "reward-cmd: tk-rl trains on reward.py's rewards; reward.py grades samples too" {
	need tk-rl tk-sample python3
	printf '%s\n' '{"text":"Apple.","meta":{"answer":"a"}}' '{"text":"Banana","meta":{"answer":"a"}}' \
		'{"text":"Sure, apple","meta":{"answer":"a"}}' | python3 "$R/reward-cmd/reward.py" >r.jsonl
	[ "$(sed -n 1p r.jsonl)" = '{"reward": 1.0, "correct": true, "metrics": {"one_word": 1, "right_letter": 1}}' ]
	grep -q '"reward": 0.2' <(sed -n 2p r.jsonl)
	grep -q '"reward": 0.0' <(sed -n 3p r.jsonl)
	OUT=out STEPS=2 N_GROUPS=2 GROUP_SIZE=2 MAXTOK=4 run "$R/reward-cmd/run.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '"env/all/right_letter"' out/run/metrics.jsonl
	[ "$(grep -c . out/rewards-after.jsonl)" -eq 20 ]
	grep -q '"before":{"reward":' out/result.json
}

@test "slurm: SIGTERM → checkpoint, exit 75, requeue; the rerun resumes to the same adapter" {
	need tk-render tk-sft tk-eval
	head -16 "$D/chat-train.jsonl" >train.jsonl
	head -4 "$D/chat-test.jsonl" >test.jsonl
	mkdir bin
	printf '#!/bin/sh\necho "$@" >"%s/requeued"\n' "$PWD" >bin/scontrol
	chmod +x bin/scontrol
	export DATA=$PWD/train.jsonl TEST=$PWD/test.jsonl STEPS=40 BATCH=4 SAVE_EVERY=5
	OUT=$PWD/whole bash "$R/slurm/sft.sbatch"
	PATH=$PWD/bin:$PATH SLURM_JOB_ID=42 OUT=$PWD/cut bash "$R/slurm/sft.sbatch" >cut.log 2>&1 &
	pid=$!
	while [ "$(cat cut/run/metrics.jsonl 2>/dev/null | wc -l)" -lt 8 ]; do sleep 0.05; done
	kill -TERM $pid
	status=0
	wait $pid || status=$?
	cat cut.log
	[ "$status" -eq 75 ]
	grep -q "interrupted (signal 15)" cut.log
	[ "$(cat requeued)" = "requeue 42" ]
	[ ! -e cut/run/final.tkc ]
	SLURM_RESTART_COUNT=1 OUT=$PWD/cut run bash "$R/slurm/sft.sbatch"
	[ "$status" -eq 0 ]
	[[ "$output" == *"resuming"* ]]
	cmp whole/run/final.tkc cut/run/final.tkc
	diff <(sed 's/, "time.*//' whole/run/metrics.jsonl) <(sed 's/, "time.*//' cut/run/metrics.jsonl)
}

# ---- the recipes of multi-turn episodes (tk-rl --env episodes) --------------

# A recipe of scripts/recipes/episodes/run.sh on the tiny model: before and
# after evaluations for each of EVALS' names, two training steps.
check_episodes_recipe() { # recipe, eval names...
	local recipe=$1; shift
	OUT=out STEPS=2 N_GROUPS=2 GROUP_SIZE=2 MAXTOK=${MAXTOK:-4} HELDOUT=4 run "$R/$recipe/run.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '"step"' out/run/metrics.jsonl)" -eq 2 ] && [ -s out/run/final.tkc ]
	grep -q '"env/all/turns_per_episode"' out/run/metrics.jsonl
	for name in "$@"; do
		[ -n "$(num "${name}_before" out/result.json)" ]
		[ -n "$(num "${name}_after_stderr" out/result.json)" ]
		grep -q '"eval/episodes":4' "out/eval-$name-after.json"
	done
}

@test "guess-number: held-out episodes before and after multi-turn RL" {
	need tk-rl python3
	MODEL=$BATS_FILE_TMPDIR/tiny1k.tkc check_episodes_recipe guess-number main
	[ -n "$(num main_after_solved out/result.json)" ]
}

@test "tictactoe: self-play training, held-out games against random and minimax" {
	need tk-rl python3
	MODEL=$BATS_FILE_TMPDIR/tiny1k.tkc check_episodes_recipe tictactoe random minimax
	grep -q '"env/seat1/reward/total"' out/run/metrics.jsonl   # both seats trained
}

@test "twenty-questions: the scripted answerer, and a partner model answering" {
	need tk-rl python3
	MODEL=$BATS_FILE_TMPDIR/tiny1k.tkc MAX_TURNS=3 check_episodes_recipe twenty-questions main
	rm -rf out
	MODEL=$BATS_FILE_TMPDIR/tiny1k.tkc ANSWERER=partner PARTNER=$BATS_FILE_TMPDIR/tiny1k.tkc \
		MAX_TURNS=4 check_episodes_recipe twenty-questions main
	grep -q '"env/all/partner_agree"' out/run/metrics.jsonl
}

@test "tool-use: SFT warm-start on demonstrations, then RL with the search tool; the no-tool baseline" {
	need tk-rl tk-render tk-sft tk-merge python3
	MODEL=$BATS_FILE_TMPDIR/tiny1k.tkc DEMOS=4 SFT_STEPS=1 MAX_TURNS=2 \
		check_episodes_recipe tool-use tool notool
	[ -s out/warm.tkc ]
	grep -q '"env/all/called"' out/eval-tool-after.json
}
