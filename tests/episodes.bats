#!/usr/bin/env bats
# tk-rl --env episodes: the environment protocol 2 (tk-rl(1) ENVIRONMENT
# PROTOCOL) as a user meets it.  Episodes of 1 to 5 turns; the KV cache
# kept across turns; programs that hang, exit, lie about request numbers,
# send invalid JSON or a non-finite reward mid-episode stopping the run
# with a state checkpoint that --resume redoes with the same draws;
# kill -TERM mid-episode then --resume giving the same bytes; failed
# episodes retried or dropped; the turn and token limits; several seats
# (self-play, a partner model); held-out evaluation.

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	ENV="$FIX/episodes/env.py"
	command -v python3 >/dev/null || skip "python3 is not installed"
}

# A small run: 2 groups of 2 episodes a step, 4 tokens a turn.
small() {
	echo -m "$FIX/tiny-llama" --env episodes --groups 2 --group-size 2 --max-tokens 4 \
		--lr 1e-2 --seed 3 -t 1 -q
}

metric() { # rundir, line, key
	sed -n "$2p" "$1/metrics.jsonl" | grep -o "\"$3\":[0-9.e+-]*" | cut -d: -f2
}

@test "episodes of 1, 3 and 5 turns; the kept KV cache prefills fewer tokens" {
	for n in 1 3 5; do
		run tk-rl $(small) --env-cmd "$ENV --turns $n" --steps 2 -o run$n
		[ "$status" -eq 0 ]
		[ "$(metric run$n 2 env/all/turns_per_episode)" = "$n" ]
		[ "$(metric run$n 2 env/all/total_episodes)" = 4 ]
		[ "$(metric run$n 2 env/all/turns)" = "$n" ]     # the program's metric
	done
	pre=$(metric run5 1 episodes/prefill_tokens) all=$(metric run5 1 episodes/prompt_tokens)
	echo "5 turns: prefilled $pre of $all prompt tokens" >&3
	[ "$pre" -lt $((all / 2)) ]
	# one turn: nothing kept, but the 4 episodes' equal first prompts share one prefill
	[ "$(( $(metric run1 1 episodes/prefill_tokens) * 4 ))" = "$(metric run1 1 episodes/prompt_tokens)" ]
	# the sampler's logprobs are the trainer's: the turns' tokens are exact
	kl=$(metric run5 1 optim/kl_sample_train_v1)
	awk -v k="$kl" 'BEGIN { exit !(k < 1e-5 && k > -1e-5) }'
}

# The failure at the program's 13th step request (step 2, its first
# round) stops the run with step 1's state; a good program resumes it to
# the uninterrupted run's bytes.
check_stops_and_resumes() { # mode, status, message
	run tk-rl $(small) --env-cmd "$ENV --turns 3" --steps 3 -o whole
	[ "$status" -eq 0 ]
	printf '#!/bin/sh\nexec "%s" --turns 3 --fail %s --at 13\n' "$ENV" "$1" > env.sh
	chmod +x env.sh
	run tk-rl $(small) --env-cmd ./env.sh --env-timeout 1 --steps 3 -o run
	echo "$output"
	[ "$status" -eq "$2" ]
	[[ "$output" == *"environment program './env.sh'"*"$3"* ]]
	[[ "$output" == *"stopped at step 2"*"run/step-000001.tkc"*"--resume run"* ]]
	[ "$(wc -l < run/metrics.jsonl)" -eq 1 ]
	printf '#!/bin/sh\nexec "%s" --turns 3\n' "$ENV" > env.sh
	run tk-rl $(small) --env-cmd ./env.sh --env-timeout 1 --steps 3 --resume run
	[ "$status" -eq 0 ]
	cmp whole/final.tkc run/final.tkc
	diff <(cut -d, -f1-8 whole/metrics.jsonl) <(cut -d, -f1-8 run/metrics.jsonl)
}

@test "a program that hangs mid-episode is stopped at --env-timeout; the run resumes" {
	check_stops_and_resumes hang 74 "gave no answer for 1 s"
}

@test "a program that exits mid-episode stops the run (74); the run resumes" {
	check_stops_and_resumes exit 74 "exited with status 3"
}

@test "invalid JSON mid-episode stops the run (65); the run resumes" {
	check_stops_and_resumes json 65 "not json"
}

@test "a non-finite reward mid-episode stops the run (65); the run resumes" {
	check_stops_and_resumes inf 65 "\"reward\" is not a finite number"
}

@test "a reply to a request never sent is refused by number (65); the run resumes" {
	check_stops_and_resumes unknown 65 "a reply to request"
}

@test "a second reply to one request is refused, naming its episode (65); the run resumes" {
	check_stops_and_resumes twice 65 "a second reply to request"
}

@test "a program that does not speak protocol 2 is refused at hello" {
	run tk-rl $(small) --env-cmd "$ENV --fail version" --steps 1 -o run
	[ "$status" -eq 65 ]
	[[ "$output" == *"must speak protocol 2"* ]]
	run tk-rl $(small) --env-cmd "$ENV --fail banner" --steps 1 -o run2
	[ "$status" -eq 65 ]
	[[ "$output" == *"env.py ready"* ]]
}

@test "kill -TERM mid-episode then --resume gives the uninterrupted run's bytes" {
	opts=($(small) --env-cmd "$ENV --turns 5" --steps 6 --save-every 4 --max-tokens 8)
	run tk-rl "${opts[@]}" -o whole
	[ "$status" -eq 0 ]
	tk-rl "${opts[@]}" -o cut 2>cut.err &
	pid=$!
	while [ "$(cat cut/metrics.jsonl 2>/dev/null | wc -l)" -lt 2 ]; do sleep 0.02; done
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 75 ]
	grep -q "continue with --resume cut" cut.err
	run tk-rl "${opts[@]}" --resume cut
	[ "$status" -eq 0 ]
	cmp whole/final.tkc cut/final.tkc
}

@test "a failed episode is retried once from its reset, or dropped with its group" {
	run tk-rl $(small) --env-cmd "$ENV --fail error --at 2" --steps 1 -o retry
	[ "$status" -eq 0 ]
	[ "$(metric retry 1 env/all/total_episodes)" = 4 ]
	[ "$(metric retry 1 episodes/failed)" = 0 ]
	run tk-rl $(small) --env-cmd "$ENV --fail error --at 2" --steps 1 --episode-failures drop \
		-o drop
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 episodes failed"*"the test says so"* ]]
	[ "$(metric drop 1 episodes/failed)" = 1 ]
	[ "$(metric drop 1 episodes/dropped)" = 1 ]   # its group fell under --min-episodes 2
	[ "$(metric drop 1 env/all/total_episodes)" = 2 ]
	run tk-rl $(small) --env-cmd "$ENV --fail error --at 2" --steps 1 --episode-failures drop \
		--min-episodes 1 -o keep
	[ "$(metric keep 1 episodes/dropped)" = 0 ]
	[ "$(metric keep 1 env/all/total_episodes)" = 3 ]
}

@test "--max-turns ends long episodes; the token budget ends them with --overflow-reward" {
	run tk-rl $(small) --env-cmd "$ENV --turns 9" --max-turns 2 --steps 1 -o turns
	[ "$status" -eq 0 ]
	[ "$(metric turns 1 episodes/cut_max_turns)" = 4 ]
	[ "$(metric turns 1 env/all/turns_per_episode)" = 2 ]
	# an error answering a close changes nothing: the episode is over
	run tk-rl $(small) --env-cmd "$ENV --turns 9 --fail closeerror" --max-turns 2 --steps 1 -o closed
	[ "$status" -eq 0 ]
	[ "$(metric closed 1 episodes/cut_max_turns)" = 4 ]
	[ "$(metric closed 1 episodes/failed)" = 0 ]
	run tk-rl $(small) --env-cmd "$ENV --turns 50" --max-episode-tokens 120 \
		--overflow-reward -0.5 --steps 1 -o tokens
	[ "$status" -eq 0 ]
	[ "$(metric tokens 1 episodes/cut_max_tokens)" = 4 ]
	[ "$(metric tokens 1 env/all/reward/total)" = -0.5 ]
}

@test "self-play trains both seats; a partner model's turns are never trained" {
	run tk-rl $(small) --env-cmd "$ENV --turns 4 --seats policy,policy" --steps 1 -o self
	[ "$status" -eq 0 ]
	grep -q '"env/seat1/reward/total"' self/metrics.jsonl
	[ "$(metric self 1 env/all/turns_per_episode)" = 2 ]   # each seat's trajectory: 2 turns
	[ "$(metric self 1 env/all/total_ac_tokens)" = 64 ]    # 4 episodes x 4 turns x 4 tokens
	run tk-rl $(small) --env-cmd "$ENV --turns 4 --seats policy,partner" --steps 1 -o lone
	[ "$status" -eq 64 ]
	[[ "$output" == *"no --partner was given"* ]]
	run tk-rl $(small) --env-cmd "$ENV --turns 4 --seats policy,partner" --partner "$FIX/tiny-llama" \
		--steps 1 -o partner
	[ "$status" -eq 0 ]
	[ "$(metric partner 1 env/all/total_ac_tokens)" = 32 ]  # the policy's 2 turns of each
	[ "$(metric partner 1 optim/trained_samples)" -le 4 ]
}

@test "an episode's return minus its group's mean is the advantage of every token it sampled, however many records its turns made" {
	run tk-rl $(small) --group-size 3 --env-cmd "$ENV --turns 4" --steps 1 --rollouts r.tks -o run
	[ "$status" -eq 0 ]
	tk-render --show --json r.tks > r.jsonl
	python3 - <<-'EOF'
	import json, collections
	recs = [json.loads(l) for l in open("r.jsonl")]
	episode = {}   # id -> (group, return, advantage)
	for r in recs:
	    sampled = [a for a, w in zip(r["advantages"], r["weights"]) if w]
	    assert sampled and len(set(sampled)) == 1, sampled
	    assert all(a == 0 for a, w in zip(r["advantages"], r["weights"]) if not w)
	    e = (r["group"], r["reward"], sampled[0])
	    assert episode.setdefault(r["meta"]["text"], e) == e, (episode[r["meta"]["text"]], e)
	groups = collections.defaultdict(list)
	for g, ret, a in episode.values():
	    groups[g].append((ret, a))
	assert len(episode) == 6 and len(groups) == 2
	for v in groups.values():
	    mean = sum(ret for ret, _ in v) / len(v)
	    for ret, a in v:
	        assert abs(a - (ret - mean)) < 1e-6, (v, mean)
	EOF
}

@test "--evaluate plays held-out episodes and prints their mean return with its standard error" {
	run tk-rl $(small) --env-cmd "$ENV --turns 2" --evaluate 6
	[ "$status" -eq 0 ]
	[[ "$output" == *'"eval/episodes":6'* ]]
	[[ "$output" == *'"eval/mean_return":'* && "$output" == *'"eval/stderr":'* ]]
	[ ! -e rl-run ]   # nothing written
	run tk-rl $(small) --env-cmd "$ENV --turns 2" --steps 2 -o run
	run tk-rl $(small) --env-cmd "$ENV --turns 2" --evaluate 6 --resume run
	[ "$status" -eq 0 ]
	[[ "$output" == *'"step":2'* ]]
}

@test "episode options are refused without --env episodes" {
	run tk-rl -m "$FIX/tiny-llama" --max-turns 3 --steps 1
	[ "$status" -eq 64 ]
	[[ "$output" == *"are for --env episodes"* ]]
	run tk-rl -m "$FIX/tiny-llama" --env episodes --steps 1
	[ "$status" -eq 64 ]
	[[ "$output" == *"--env episodes needs --env-cmd"* ]]
}
