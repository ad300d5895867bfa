#!/usr/bin/env bats
# tk-rl as a user runs it: learning from a reward program (a shell script),
# kill -TERM then --resume giving the uninterrupted run's bytes, reward
# programs that exit, hang or print garbage stopping the run with a
# checkpoint that resumes, the built-in environments, offline replay of
# --rollouts through --from-stream, and the usage refusals.

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	for i in $(seq 1 16); do
		printf '{"prompt": "Write something, number %d", "answer": "e"}\n' "$i"
	done > prompts.jsonl
	# reward 1 when the completion holds the letter e (the JSON "text" field
	# cannot hold an unescaped quote, so sed finds its end)
	cat > reward.sh <<-'EOF'
	#!/bin/sh
	while IFS= read -r line; do
		text=$(printf '%s\n' "$line" | sed 's/.*"text":"\(.*\)","complete".*/\1/')
		case "$text" in *e*) echo '{"reward": 1, "metrics": {"seen": 1}}';;
		*) echo '{"reward": 0, "metrics": {"seen": 1}}';; esac
	done
	EOF
	chmod +x reward.sh
}

# Options of a small run on the tiny model: 4 groups of 4, 2 tokens each.
small() {
	echo -m "$FIX/tiny-llama" --prompts prompts.jsonl --groups 4 --group-size 4 \
		--max-tokens 2 --full --lr 1e-2 --seed 3 -t 1 -q
}

# Mean of KEY over metrics lines FROM..TO (1-based) of a run.
mean_of() {
	sed -n "$3,$4p" "$1/metrics.jsonl" | grep -o "\"$2\":[0-9.e+-]*" |
		awk -F: '{ s += $2; n++ } END { printf "%.4f\n", s / n }'
}

# metrics.jsonl without the timing keys (which differ run to run).
untimed() {
	sed -E 's/"(time|throughput)\/[a-z_]+":[0-9.e+-]+,?//g; s/,}/}/' "$1/metrics.jsonl"
}

@test "--help lists every option" {
	run tk-rl --help
	[ "$status" -eq 0 ]
	for o in env prompts env-cmd env-timeout digits ops format-reward grade groups group-size \
		 steps loss clip-low clip-high dro-beta scale-by-std drop-flat-groups kl-coef \
		 max-tokens temperature top-p top-k stop renderer lora-rank lora-alpha lora-targets \
		 full lr lr-schedule warmup grad-clip weight-decay beta1 beta2 eps micro-tokens \
		 save-every resume from-stream batch dump-prompts rollouts max-turns max-episode-tokens \
		 overflow-reward episode-failures min-episodes partner partner-adapter evaluate; do
		[[ "$output" == *"--$o"* ]]
	done
}

# Chance: about 0.3 of two-token completions of the random model hold an
# e.  Stated threshold: the mean reward of steps 16..20 is above 0.8 (it
# reaches 1 around step 13), from under 0.5 over steps 1..3.
@test "learning: reward from a shell reward program rises from chance (~0.3) above 0.8 in 20 steps" {
	SECONDS=0
	run tk-rl -m "$FIX/tiny-llama" --env-cmd ./reward.sh --prompts prompts.jsonl --steps 20 \
		--groups 8 --group-size 8 --max-tokens 2 --full --lr 1e-2 --seed 1 -t 1 -q -o run
	[ "$status" -eq 0 ]
	echo "took $SECONDS s" >&3
	[ "$(wc -l < run/metrics.jsonl)" -eq 20 ]
	first=$(mean_of run 'env/all/reward/total' 1 3) last=$(mean_of run 'env/all/reward/total' 16 20)
	echo "reward $first -> $last" >&3
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(a < 0.5 && b > 0.8) }'
	# the sampler and the trainer compute the same model
	kl=$(grep -o '"optim/kl_sample_train_v1":[0-9.e+-]*' run/metrics.jsonl | cut -d: -f2 |
		awk '{ x = $1 < 0 ? -$1 : $1; if (x > m) m = x } END { print m + 0 }')
	echo "max |kl_sample_train_v1| $kl" >&3
	awk -v k="$kl" 'BEGIN { exit !(k < 0.01) }'
	# cookbook key names, and the program's metrics averaged
	for k in env/all/reward/total env/all/frac_mixed env/all/ac_tokens_per_turn optim/entropy \
		 optim/kl_sample_train_v2 env/all/seen time/sample throughput/sample_tokens_per_sec; do
		grep -q "\"$k\":" run/metrics.jsonl
	done
	run tk-merge --info run/final.tkc
	[ "$status" -eq 0 ]
}

@test "the same seed gives the same run; kill -TERM then --resume gives the uninterrupted run's bytes" {
	opts=($(small) --env-cmd ./reward.sh --steps 6 --save-every 4)
	run tk-rl "${opts[@]}" -o whole
	[ "$status" -eq 0 ]
	tk-rl "${opts[@]}" -o again
	cmp whole/final.tkc again/final.tkc
	tk-rl "${opts[@]}" -o cut 2>cut.err &
	pid=$!
	while [ "$(cat cut/metrics.jsonl 2>/dev/null | wc -l)" -lt 2 ]; do sleep 0.05; done
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 75 ]
	grep -q "continue with --resume cut" cut.err
	[ -s cut/checkpoints.jsonl ]
	run tk-rl "${opts[@]}" --resume cut
	[ "$status" -eq 0 ]
	cmp whole/final.tkc cut/final.tkc
	diff <(untimed whole) <(untimed cut)
}

# A reward program that fails at the second step (it counts its lines).
failing_program() {
	cat > bad.sh <<-EOF
	#!/bin/sh
	n=0
	while IFS= read -r line; do
		n=\$((n + 1))
		if [ \$n -gt 16 ]; then $1; fi
		echo '{"reward": 1}'
	done
	EOF
	chmod +x bad.sh
}

# The failure stops the run with a message and a checkpoint of step 1;
# the good program then resumes it to the end.
check_stops_and_resumes() {
	local code=$1 message=$2
	run tk-rl $(small) --env-cmd ./bad.sh --env-timeout 1 --steps 3 -o run
	echo "$output"
	[ "$status" -eq "$code" ]
	[[ "$output" == *"reward program './bad.sh'"*"$message"* ]]
	[[ "$output" == *"stopped at step 2"*"run/step-000001.tkc"*"--resume run"* ]]
	[ -f run/step-000001.tkc ]
	[ "$(wc -l < run/metrics.jsonl)" -eq 1 ]
	run tk-rl $(small) --env-cmd ./bad.sh --env-timeout 1 --steps 3 --resume run
	[ "$status" -eq "$code" ]  # the same program fails again, at once
	cp reward.sh bad.sh
	run tk-rl $(small) --env-cmd ./bad.sh --env-timeout 1 --steps 3 --resume run
	[ "$status" -eq 0 ]
	[ "$(wc -l < run/metrics.jsonl)" -eq 3 ]
}

@test "a reward program that exits stops the run (74) with a checkpoint; the run resumes" {
	failing_program 'exit 3'
	check_stops_and_resumes 74 "exited with status 3 after 0 of 16 answers"
}

@test "a reward program that hangs past --env-timeout is stopped (74); the run resumes" {
	failing_program 'sleep 600'
	SECONDS=0
	check_stops_and_resumes 74 "gave no answer for 1 s (--env-timeout)"
	[ "$SECONDS" -lt 60 ]
}

@test "a reward program that prints garbage stops the run (65), the line shown; the run resumes" {
	failing_program "echo 'reward: 1'"
	check_stops_and_resumes 65 "answer 1 of this step answered 'reward: 1': malformed JSON (near column 1)"
}

@test "a reward program that answers twice stops the run (65) at that step; the run resumes" {
	failing_program "echo '{\"reward\": 0}'"
	check_stops_and_resumes 65 "wrote a line no request asked for ("
}

@test "a prompt line or a reward answer holding a second object is refused by line" {
	printf '{"prompt": "a", "answer": "e"} {"prompt": "b"}\n' >two.jsonl
	run tk-rl $(small) --prompts two.jsonl --env-cmd ./reward.sh --steps 1 -o two
	[ "$status" -eq 65 ]
	[[ "$output" == *"two.jsonl:1: text after the JSON object (column 32)"* ]]
	failing_program "printf '{\"reward\": 1} {\"reward\": 0}\\n'; continue"
	check_stops_and_resumes 65 "answered '{\"reward\": 1} {\"reward\": 0}': text after the JSON object (column 15)"
}

@test "reward program metrics: tk-rl's own names, non-finite values refused (65); others under env/all/" {
	failing_program "echo '{\"reward\": 1, \"metrics\": {\"correct\": 1}}'; continue"
	check_stops_and_resumes 65 "metric \"correct\" is one tk-rl writes itself (env/all/correct)"
	rm -r run
	failing_program "echo '{\"reward\": 1, \"metrics\": {\"x\": 1e999}}'; continue"
	check_stops_and_resumes 65 "metric \"x\" is not finite"
	rm -r run
	tk-rl $(small) --env-cmd ./reward.sh --steps 1 -o ok
	grep -q '"env/all/seen":1' ok/metrics.jsonl
	[ "$(grep -o '"env/all/correct"' ok/metrics.jsonl | wc -l)" -le 1 ]
}

@test "a reward program that cannot start is named" {
	run tk-rl $(small) --env-cmd './no-such-program' --steps 2 -o run
	[ "$status" -eq 74 ]
	[[ "$output" == *"'./no-such-program' exited with status 127"* ]]
}

@test "arithmetic: problems as JSON Lines, seeded; a run writes the cookbook metrics" {
	run tk-rl -m "$FIX/tiny-llama" --env arithmetic --digits 3 --ops add,sub --dump-prompts 5 --seed 2
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ]
	[[ "${lines[0]}" == *'"messages":[{"role":"user","content":"What is '*'? Answer with the number only."}]'* ]]
	a=$(tk-rl -m "$FIX/tiny-llama" --dump-prompts 5 --digits 3 --ops add,sub --seed 2)
	[ "$a" = "$output" ]
	b=$(tk-rl -m "$FIX/tiny-llama" --dump-prompts 5 --digits 3 --ops add,sub --seed 3)
	[ "$a" != "$b" ]
	run tk-rl -m "$FIX/tiny-llama" --env arithmetic --steps 2 --groups 2 --group-size 2 \
		--max-tokens 4 --seed 1 -t 1 -q -o arith --loss ppo --kl-coef 0.1
	[ "$status" -eq 0 ]
	grep -q '"env/all/correct":0' arith/metrics.jsonl
	grep -q '"kl_policy_base":' arith/metrics.jsonl
}

@test "math: GSM8K answers and the losses run; a bad prompt file names its line" {
	printf '{"question": "Tom has 3 apples and buys 4. How many?", "answer": "3 + 4 = 7\\n#### 7"}\n' > gsm.jsonl
	for loss in is ppo cispo dro pg; do
		run tk-rl -m "$FIX/tiny-llama" --prompts gsm.jsonl --steps 1 --groups 1 --group-size 2 \
			--max-tokens 3 --loss "$loss" -t 1 -q -o "math-$loss"
		[ "$status" -eq 0 ]
		grep -q '"optim/loss":' "math-$loss/metrics.jsonl"
	done
	printf '{"question": "ok", "answer": 1}\n{"question": "no answer"}\n' > bad.jsonl
	run tk-rl -m "$FIX/tiny-llama" --prompts bad.jsonl --steps 1 -o bad
	[ "$status" -eq 65 ]
	[[ "$output" == *"bad.jsonl:2: no \"answer\" to grade against"* ]]
}

@test "--rollouts then --from-stream replays the run offline, update for update" {
	run tk-rl $(small) --env-cmd ./reward.sh --steps 3 -o online --rollouts roll.tks
	[ "$status" -eq 0 ]
	run tk-render --show -m "$FIX/tiny-llama" roll.tks
	[ "$status" -eq 0 ]
	[[ "$output" == *"# record 48:"*"reward"* ]]
	run tk-rl -m "$FIX/tiny-llama" --full --lr 1e-2 -t 1 -q --from-stream roll.tks --batch 16 -o offline
	[ "$status" -eq 0 ]
	[ "$(wc -l < offline/metrics.jsonl)" -eq 3 ]
	# the same records, advantages and updates: the same model
	cmp online/final.tkc offline/final.tkc
	cat roll.tks | tk-rl -m "$FIX/tiny-llama" --full --lr 1e-2 -t 1 -q --from-stream - \
		--batch 16 -o piped
	cmp online/final.tkc piped/final.tkc
}

@test "usage: refusals name what is wrong" {
	run tk-rl -m "$FIX/tiny-llama" --env cmd --prompts prompts.jsonl
	[ "$status" -eq 64 ]
	[[ "$output" == *"--env cmd needs --env-cmd"* ]]
	run tk-rl -m "$FIX/tiny-llama" --env math
	[ "$status" -eq 64 ]
	[[ "$output" == *"--env math needs --prompts FILE"* ]]
	run tk-rl -m "$FIX/tiny-llama" --loss grpo
	[ "$status" -eq 64 ]
	[[ "$output" == *"'grpo' is not is, ppo, cispo, dro or pg"* ]]
	run tk-rl -m "$FIX/tiny-llama" --ops add,div
	[ "$status" -eq 64 ]
	run tk-rl -m "$FIX/tiny-llama" --prompts /nonexistent.jsonl
	[ "$status" -eq 66 ]
	run tk-rl $(small) --env-cmd ./reward.sh --env-timeout 1e7 --steps 1 -o long
	[ "$status" -eq 64 ]
	[[ "$output" == *"--env-timeout: '1e7' is not a number in [0.001, 1e+06]"* ]]
	run tk-rl $(small) --env-cmd ./reward.sh --steps 1 -o used
	[ "$status" -eq 0 ]
	run tk-rl $(small) --env-cmd ./reward.sh --steps 1 -o used
	[ "$status" -eq 73 ]
	[[ "$output" == *"already holds a run"* ]]
	run tk-rl $(small) --env-cmd ./reward.sh --steps 2 --resume used
	[ "$status" -eq 64 ]
	[[ "$output" == *"setting steps was 1, now 2"* ]]
}
