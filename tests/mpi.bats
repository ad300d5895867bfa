#!/usr/bin/env bats
# Data parallelism under mpirun (man/tk-dist.7): two ranks train as one
# process with the same global batch, a stop reaches both and resumes on
# one or two ranks, a killed rank ends the job with the last checkpoint
# whole; a plain build refuses to run as one of several ranks.  The MPI
# commands are `make test`'s $(BUILD)-mpi variant (TK_MPI_BIN to override).

load dist_helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	MPI_BIN=${TK_MPI_BIN:-${TK_BIN%/bin}-mpi/bin}
	command -v mpirun >/dev/null || skip "mpirun is not installed (scripts/deps.sh installs openmpi-bin)"
	[ -x "$MPI_BIN/tk-sft" ] || skip "no MPI build at $MPI_BIN (make test builds it with mpicc)"
	# CI runs as root; two ranks on however few cores
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	export OMPI_MCA_rmaps_base_oversubscribe=1
	# ranks on one host talk through shared memory (no network probing)
	export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
}

# Under `make asan` the ranks are sanitized too; Open MPI's plugins leave
# their allocations at exit (not tk's), so leak reports are off for them.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

mpi() { # NP CMD ARGS...
	local np=$1; shift
	timeout 120 mpirun -np "$np" "$@"
}

# Waits (at most a minute) until FILE has N lines.
wait_lines() { # FILE N
	for _ in $(seq 3000); do
		[ "$(cat "$1" 2>/dev/null | wc -l)" -ge "$2" ] && return 0
		sleep 0.02
	done
	echo "$1 never reached $2 lines" >&2
	return 1
}

opts() { # the run every test takes: 40 steps of 8 records
	echo -m "$FIX/tiny-llama" copy.tks --steps 40 --batch 8 --save-every 5 --lr 1e-2 \
	     --lora-rank 4 -t 1 --seed 5
}

@test "mpirun -np 2: the loss curve and final adapter of one process with the same global batch" {
	copy_stream
	"$MPI_BIN/tk-sft" $(opts) -q -o one
	run mpi 2 "$MPI_BIN/tk-sft" $(opts) -o two
	[ "$status" -eq 0 ]
	# rank 0 alone prints and writes; the other says nothing
	[ "$(grep -c '^step 40/40' <<<"$output")" -eq 1 ]
	[[ "$output" != *"tk-sft[1]"* ]]
	[ "$(wc -l < two/metrics.jsonl)" -eq 40 ]
	diff <(grep -o '"num_tokens": [0-9]*' one/metrics.jsonl) \
	     <(grep -o '"num_tokens": [0-9]*' two/metrics.jsonl)
	losses_within one two 1e-5
	adapters_within one/final.tkc two/final.tkc 1e-5
}

@test "SIGUSR1 to mpirun: both ranks checkpoint at one step and exit 75; resumed on 1 rank and on 2" {
	copy_stream
	"$MPI_BIN/tk-sft" $(opts) -q -o one
	mpi 2 "$MPI_BIN/tk-sft" $(opts) -q -o two
	mpirun -np 2 "$MPI_BIN/tk-sft" $(opts) -o cut 2> cut.err &
	pid=$!
	wait_lines cut/metrics.jsonl 12
	kill -USR1 "$pid"  # mpirun passes it on to every rank
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 75 ]
	[ "$(grep -c 'interrupted (signal 10) after step' cut.err)" -eq 2 ]
	[ ! -e cut/final.tkc ]
	step=$(tail -n 1 cut/checkpoints.jsonl | grep -o '"step": [0-9]*' | cut -d' ' -f2)
	[ "$step" -ge 12 ] && [ "$step" -lt 40 ]
	# on two ranks again: the uninterrupted two-rank run's bytes
	cp -r cut cut1
	run mpi 2 "$MPI_BIN/tk-sft" $(opts) --resume cut
	[ "$status" -eq 0 ]
	[[ "$output" == *"resuming at step $step"* ]]
	cmp two/final.tkc cut/final.tkc
	# on one rank: the run goes on from the same state and data position
	run "$MPI_BIN/tk-sft" $(opts) --resume cut1
	[ "$status" -eq 0 ]
	[ "$(wc -l < cut1/metrics.jsonl)" -eq 40 ]
	losses_within one cut1 1e-5
	adapters_within one/final.tkc cut1/final.tkc 1e-5
}

@test "a rank killed mid-run ends the job non-zero; the last checkpoint is whole and resumes" {
	copy_stream
	"$MPI_BIN/tk-sft" $(opts) -q -o one
	mpirun -np 2 "$MPI_BIN/tk-sft" $(opts) -q -o "$PWD/run" 2> run.err &
	pid=$!
	wait_lines run/checkpoints.jsonl 2
	victim=$(pgrep -f -- "-o $PWD/run" | grep -vx "$pid" | tail -n 1)
	[ -n "$victim" ]
	kill -KILL "$victim"
	status=0
	wait "$pid" || status=$?
	[ "$status" -ne 0 ]
	[ ! -e run/final.tkc ]
	[ -z "$(pgrep -f -- "-o $PWD/run")" ]  # no rank left behind
	run "$MPI_BIN/tk-sft" $(opts) --resume run
	[ "$status" -eq 0 ]
	[[ "$output" == *"resuming at step"* ]]
	adapters_within one/final.tkc run/final.tkc 1e-5
}

@test "a failure on one rank aborts every rank with its status" {
	copy_stream
	mkdir taken && echo '{}' > taken/checkpoints.jsonl
	run mpi 2 "$MPI_BIN/tk-sft" $(opts) -o taken
	[ "$status" -eq 73 ]
	[[ "$output" == *"already holds a run"* ]]
}

@test "a plain build started as one of several ranks refuses, naming make MPI=1" {
	copy_stream
	run mpi 2 "$TK_BIN/tk-sft" $(opts) -o plain
	[ "$status" -eq 78 ]
	[[ "$output" == *"built without MPI"*"make MPI=1"* ]]
	[ ! -e plain/checkpoints.jsonl ]
}

@test "tk-rl under mpirun -np 2: the rewards and final adapter of one process with the same seed" {
	for i in $(seq 1 16); do
		printf '{"prompt": "Write something, number %d", "answer": "e"}\n' "$i"
	done > prompts.jsonl
	# reward 1 when the completion holds the letter e
	cat > reward.sh <<-'EOF'
	#!/bin/sh
	while IFS= read -r line; do
		text=$(printf '%s\n' "$line" | sed 's/.*"text":"\(.*\)","complete".*/\1/')
		case "$text" in *e*) echo '{"reward": 1}';; *) echo '{"reward": 0}';; esac
	done
	EOF
	chmod +x reward.sh
	opts=(-m "$FIX/tiny-llama" --prompts prompts.jsonl --env-cmd ./reward.sh --groups 4
	      --group-size 4 --max-tokens 4 --lr 2e-3 --seed 3 -t 1 --steps 3)
	"$MPI_BIN/tk-rl" "${opts[@]}" -q -o one
	run mpi 2 "$MPI_BIN/tk-rl" "${opts[@]}" -o two
	[ "$status" -eq 0 ]
	[ "$(grep -c '^step 3/3' <<<"$output")" -eq 1 ]
	rewards() { grep -o '"env/all/reward/total":[0-9.e+-]*' "$1/metrics.jsonl"; }
	[ "$(rewards one | wc -l)" -eq 3 ]
	# the draws do not depend on which rank sampled them; not all equal
	diff <(rewards one) <(rewards two)
	[ "$(rewards one | sort -u | wc -l)" -gt 1 ]
	adapters_within one/final.tkc two/final.tkc 1e-5
	# what needs the whole batch at once is refused, not run wrongly
	run mpi 2 "$MPI_BIN/tk-rl" "${opts[@]}" --kl-coef 0.1 -o kl
	[ "$status" -eq 64 ]
	[[ "$output" == *"--kl-coef"*"not yet with several ranks"* ]]
}

@test "tk-sample under mpirun -np 2: one process's samples, in input order; tk-eval refuses" {
	for i in $(seq 1 5); do printf '{"prompt": "Say something, number %d"}\n' "$i"; done > p.jsonl
	opts=(-m "$FIX/tiny-llama" p.jsonl -n 3 --max-tokens 5 --seed 4 -t 1 -q)
	"$MPI_BIN/tk-sample" "${opts[@]}" -o one.jsonl
	run mpi 2 "$MPI_BIN/tk-sample" "${opts[@]}" -o two.jsonl
	[ "$status" -eq 0 ]
	[ "$(wc -l < one.jsonl)" -eq 15 ]
	cmp one.jsonl two.jsonl
	# to standard output: rank 0's alone
	mpi 2 "$MPI_BIN/tk-sample" "${opts[@]}" > out.jsonl
	cmp one.jsonl out.jsonl
	run mpi 2 "$MPI_BIN/tk-eval" nll -m "$FIX/tiny-llama" two.jsonl
	[ "$status" -eq 64 ]
	[[ "$output" == *"tk-eval: runs on one rank for now"* ]]
}
