#!/usr/bin/env bats
# A real scheduler: a one-node Slurm on localhost (scripts/slurm/
# local-cluster.sh: a generated slurm.conf, auth/none, no munge) runs the
# SFT recipe (scripts/slurm/sft.sbatch) with sbatch --signal=USR1@N
# --requeue; Slurm's signal stops tk-sft at a checkpoint, the job requeues
# itself, resumes and ends with the uninterrupted run's final adapter.
# And srun starts two MPI ranks of tk-sft (PMIx) that train as one process.
# Skips, saying why, where the daemons cannot start (not root, no
# slurm-wlm).

load dist_helpers

setup_file() {
	export CLUSTER="$BATS_FILE_TMPDIR/cluster"
	REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
	if out=$("$REPO/scripts/slurm/local-cluster.sh" start "$CLUSTER" 2>&1); then
		export SLURM_UP=1
	else
		export SLURM_UP=0 SLURM_WHY="${out//$'\n'/ }"
	fi
}

teardown_file() {
	[ "$SLURM_UP" = 1 ] || return 0
	"$BATS_TEST_DIRNAME/../scripts/slurm/local-cluster.sh" stop "$CLUSTER"
}

setup() {
	[ "$SLURM_UP" = 1 ] || skip "no local Slurm: $SLURM_WHY"
	export SLURM_CONF="$CLUSTER/slurm.conf"
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
	MPI_BIN=${TK_MPI_BIN:-${TK_BIN%/bin}-mpi/bin}
	[ -x "$MPI_BIN/tk-sft" ] || MPI_BIN=
}

job_state() { scontrol show job "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }

# 0 while PID is stopped with no SIGUSR1 pending (bit 10 of its pending
# masks); Slurm sends SIGCONT after its signal, so a paused run wakes
# by itself when the signal comes.
paused() {
	local mask
	grep -q '^State:[[:space:]]*T' "/proc/$1/status" 2>/dev/null || return 1
	for mask in $(awk '/^(SigPnd|ShdPnd):/ { print $2 }' "/proc/$1/status" 2>/dev/null); do
		(( 0x$mask & 0x200 )) && return 1
	done
	return 0
}

@test "sbatch --signal=USR1@N --requeue: checkpoint, requeue, resume, the uninterrupted run's adapter" {
	# the requeued job must finish its 600 steps inside Slurm's one-minute
	# limit (the shortest there is), which a sanitizer build does not
	flags="$(dirname "$TK_BIN")/flags"
	if [ -f "$flags" ] && grep -q -- '-fsanitize' "$flags"; then
		skip "a sanitizer build is too slow for the one-minute time limit this job runs under"
	fi
	copy_stream
	args="--steps 600 --batch 8 --lr 1e-2 --lora-rank 4 --seed 5 --save-every 50 -q"
	tk-sft -m "$FIX/tiny-llama" copy.tks -t 1 $args -o whole
	run sbatch --parsable --time=1 --signal=USR1@50 --requeue --cpus-per-task=1 \
		--output="$PWD/job.out" \
		--export=ALL,TK_BIN="$TK_BIN",MODEL="$FIX/tiny-llama",DATA="$PWD/copy.tks",RUN="$PWD/run",TK_SFT_ARGS="$args" \
		"$REPO/scripts/slurm/sft.sbatch"
	[ "$status" -eq 0 ]
	job=${output%%;*}
	# Slurm checks time limits on a 30-second timer: the training is paused
	# (SIGSTOP) after its first checkpoints until the scheduler's signal is
	# pending, so that it lands mid-run without burning CPU meanwhile
	for _ in $(seq 600); do
		[ "$(cat run/metrics.jsonl 2>/dev/null | wc -l)" -ge 60 ] && break
		sleep 0.1
	done
	pid=$(pgrep -f "^[^ ]*/tk-sft .*-o $PWD/run")
	[ -n "$pid" ]
	kill -STOP "$pid"
	for _ in $(seq 900); do paused "$pid" || break; sleep 0.1; done
	! paused "$pid"
	kill -CONT "$pid" 2>/dev/null || true
	# a requeued job waits 120 s before it may start again: let it go now
	for _ in $(seq 1200); do
		state=$(job_state "$job")
		[ "$state" = COMPLETED ] || [ "$state" = FAILED ] || [ "$state" = CANCELLED ] && break
		if [ "$state" = PENDING ] && scontrol show job "$job" | grep -q 'Reason=BeginTime'; then
			scontrol update JobId="$job" StartTime=now
		fi
		sleep 0.1
	done
	cat job.out
	# what the scheduler says of the job, for a failure's report
	scontrol show job "$job" | grep -o 'JobState=[^ ]*\|Reason=[^ ]*\|Restarts=[^ ]*\|StartTime=[^ ]*'
	[ "$(job_state "$job")" = COMPLETED ]
	scontrol show job "$job" | grep -q 'Restarts=1'
	grep -q "interrupted (signal 10) after step" job.out
	grep -q "requeueing job $job" job.out
	grep -q "tk-sft start 1 of job $job: .*--resume $PWD/run" job.out
	cmp whole/final.tkc run/final.tkc
	diff <(sed 's/, "time.*//' whole/metrics.jsonl) <(sed 's/, "time.*//' run/metrics.jsonl)
}

@test "srun --mpi=pmix -n 2: two ranks of tk-sft train as one process" {
	[ -n "$MPI_BIN" ] || skip "no MPI build (make test builds it with mpicc)"
	copy_stream
	opts=(-m "$FIX/tiny-llama" copy.tks --steps 20 --batch 8 --lr 1e-2 --lora-rank 4 -t 1
	      --seed 5 -q)
	tk-sft "${opts[@]}" -o one
	# sanitized ranks (make asan): Open MPI's allocations at exit are not tk's
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		run timeout 120 srun --mpi=pmix -n 2 --cpus-per-task=1 "$MPI_BIN/tk-sft" "${opts[@]}" -o two
	[ "$status" -eq 0 ]
	losses_within one two 1e-5
	adapters_within one/final.tkc two/final.tkc 1e-5
}
