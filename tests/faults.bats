#!/usr/bin/env bats
# Faults a user meets: tk-sft killed with SIGKILL at 20 seeded points of a
# --save-every 1 run and resumed each time (the final adapter byte for byte
# the uninterrupted run's); a full disk under every command that writes
# (exit 74, nothing under the final name); and the reward-program
# misbehaviours of tk-rl(1) that tests/rl.bats does not already cover
# (a banner before the first request, answers before reading, a closed
# output, a process group left behind, a program that outlives the run).

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	# a full disk is a small tmpfs where this user may mount one (root)
	can_mount=0
	if [ "$(id -u)" -eq 0 ] && mkdir probe && mount -t tmpfs -o size=4k tk-probe probe 2>/dev/null; then
		umount probe && can_mount=1
	fi
	rmdir probe 2>/dev/null || true
}

teardown() {
	release_disk
}

# N chats whose assistant repeats the user's words (as tests/sft.bats).
copy_chats() {
	awk -v n="$1" 'BEGIN {
		srand(7); split("red blue green cat dog sun moon tree", w, " ")
		for (i = 0; i < n; i++) {
			k = 2 + int(rand() * 4); s = ""
			for (j = 0; j < k; j++) s = s (j ? " " : "") w[1 + int(rand() * 8)]
			printf "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},", s
			printf "{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", s
		}
	}'
}

lines_of() {
	if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi
}

# ---- kill -9 and --resume -------------------------------------------------

@test "kill -9 at 20 seeded points of a --save-every 1 run, each time --resume: final.tkc as the uninterrupted run's" {
	copy_chats 64 >copy.jsonl
	tk-render -q -m "$FIX/tiny-llama" copy.jsonl -o copy.tks
	opts=(-m "$FIX/tiny-llama" copy.tks --steps 200 --batch 4 --save-every 1 --lr 1e-2
	      --lora-rank 4 -t 1 --seed 5 -q)
	tk-sft "${opts[@]}" -o whole
	# kill point k: once checkpoints.jsonl has N_k lines (rising by 2..9),
	# then D_k ms more (0..9), so that kills land inside steps, checkpoint
	# writes and appends alike; the same points every run (awk's seed)
	points=$(awk 'BEGIN { srand(22); n = 0
		for (k = 0; k < 20; k++) { n += 2 + int(rand() * 8); printf "%d:%d\n", n, int(rand() * 10) } }')
	kills=0
	tk-sft "${opts[@]}" -o cut 2>cut.err &
	pid=$!
	for point in $points; do
		n=${point%:*} ms=${point#*:}
		while [ "$(lines_of cut/checkpoints.jsonl)" -lt "$n" ] && kill -0 "$pid" 2>/dev/null; do
			sleep 0.002
		done
		sleep "0.00$ms"
		kill -9 "$pid" 2>/dev/null || break  # ran to its end: fewer kills, caught below
		status=0
		wait "$pid" || status=$?
		[ "$status" -eq 137 ]
		kills=$((kills + 1))
		tk-sft "${opts[@]}" --resume cut 2>>cut.err &
		pid=$!
	done
	status=0
	wait "$pid" || status=$?
	cat cut.err
	[ "$status" -eq 0 ]
	[ "$kills" -eq 20 ]
	cmp whole/final.tkc cut/final.tkc
	diff whole/checkpoints.jsonl cut/checkpoints.jsonl
	# no temporary file of a killed write is left behind
	[ -z "$(ls -A cut | grep -- '\.tmp-' || true)" ]
}

# ---- disk full ---------------------------------------------------------------

# Mounts a tmpfs of KIB KiB on ./full (0: one filled to the last byte)
# where this user may mount one; else ./full is a plain folder and
# run_full runs the command under `ulimit -f KIB` with SIGXFSZ ignored, so
# that a write past the limit fails (EFBIG) as one past a full disk fails
# (ENOSPC).
full_disk() { # kib
	mkdir -p full
	full_kib=$1 mounted=0
	if [ "$can_mount" = 1 ]; then
		mount -t tmpfs -o "size=$(( $1 > 4 ? $1 : 4 ))k" tk-faults full
		mounted=1
		if [ "$1" -eq 0 ]; then cat /dev/zero >full/.filler 2>/dev/null || true; fi
	fi
}

release_disk() {
	if [ "${mounted:-0}" = 1 ]; then umount full; fi
	mounted=0
	rm -rf full
}

# Room for half of what PATH (a file or folder) holds: half its total on
# a tmpfs, half its largest file under `ulimit -f` (a limit per file).
half_room() { # path
	if [ "$can_mount" = 1 ]; then
		echo $(( $(du -sk "$1" | cut -f1) / 2 ))
	else
		find "$1" -type f -printf '%s\n' | sort -n | tail -n 1 | awk '{ print int($1 / 2048) }'
	fi
}

# bats' run of the command on the full disk.
run_full() {
	if [ "$mounted" = 1 ]; then
		run "$@"
	else
		run bash -c 'trap "" XFSZ; ulimit -f "$0"; exec "$@"' "$full_kib" "$@"
	fi
}

# Runs COMMAND (where @OUT@ stands for its output path) once with room,
# then on a disk with no room and on one with room for half its output:
# each time it must exit 74 and leave nothing under NAME, nor a
# temporary file.
check_full_disk() { # name command...
	local name=$1 free
	shift
	mkdir -p roomy
	run "${@//@OUT@/roomy/$name}"
	echo "$output"
	[ "$status" -eq 0 ]
	for free in 0 $(half_room "roomy/$name"); do
		[ "$free" -eq 0 ] || [ "$free" -ge 8 ] || continue
		full_disk "$free"
		run_full "${@//@OUT@/full/$name}"
		echo "# $name, $free KiB free: $output"
		[ "$status" -eq 74 ]
		[ ! -e "full/$name" ]
		[ -z "$(ls -A full | grep -v '^\.filler$' || true)" ]
		release_disk
	done
}

@test "disk full: tk-render (stream and --show) exits 74 and leaves no file" {
	copy_chats 400 >copy.jsonl
	check_full_disk out.tks tk-render -q -m "$FIX/tiny-llama" -o @OUT@ copy.jsonl
	check_full_disk out.txt tk-render -q --show -o @OUT@ roomy/out.tks
}

@test "disk full: tk-sample (JSON Lines and --tks) exits 74 and leaves no file" {
	for i in $(seq 1 16); do printf '{"prompt": "Say something, number %d"}\n' "$i"; done >prompts.jsonl
	sample=(tk-sample -q -m "$FIX/tiny-llama" -n 4 --max-tokens 16 --seed 1 -t 1 -o @OUT@)
	check_full_disk out.jsonl "${sample[@]}" prompts.jsonl
	check_full_disk out.tks "${sample[@]}" --tks prompts.jsonl
}

@test "disk full: tk-eval score, nll and choice exit 74 and leave no file" {
	for i in $(seq 1 40); do cat "$FIX/eval/exact-samples.jsonl"; done >samples.jsonl
	check_full_disk score.txt tk-eval score -q --task exact --answers "$FIX/eval/exact-answers.jsonl" \
		-o @OUT@ samples.jsonl
	copy_chats 64 >copy.jsonl
	tk-render -q -m "$FIX/tiny-llama" copy.jsonl -o copy.tks
	check_full_disk nll.txt tk-eval nll -q -m "$FIX/tiny-llama" -t 1 -o @OUT@ copy.tks
	check_full_disk choice.txt tk-eval choice -q -m "$FIX/tiny-llama" -t 1 -o @OUT@ \
		"$FIX/eval/questions.jsonl"
}

@test "disk full: tk-merge exports (hf, gguf, tkc, peft), --init and --average exit 74 and leave no file" {
	check_full_disk hf tk-merge -q -m "$FIX/tiny-llama" --format hf -o @OUT@
	check_full_disk m.gguf tk-merge -q -m "$FIX/tiny-llama" -o @OUT@
	check_full_disk m.tkc tk-merge -q -m "$FIX/tiny-llama" -o @OUT@
	check_full_disk peft tk-merge -q -m "$FIX/tiny-llama" -a "$FIX/export/adapter.tkc" --format peft -o @OUT@
	check_full_disk init.tkc tk-merge -q --init "$FIX/tiny-llama/config.json" --tokenizer "$FIX/tiny-llama" \
		--seed 3 -o @OUT@
	check_full_disk avg.tkc tk-merge -q --average "$FIX/export/adapter.tkc" "$FIX/export/adapter.tkc" -o @OUT@
}

# A run folder on a full disk: exit 74, no final.tkc, and every state
# checkpoint there whole (tk-merge --info reads it through).
check_full_run() { # name command... (@OUT@: the run folder)
	local name=$1 free
	shift
	run "${@//@OUT@/$name}"
	[ "$status" -eq 0 ]
	for free in 0 $(half_room "$name"); do
		full_disk "$free"
		run_full "${@//@OUT@/full/run}"
		echo "# $free KiB free: $output"
		[ "$status" -eq 74 ]
		[ ! -e full/run/final.tkc ]
		for c in full/run/step-*.tkc; do
			[ -e "$c" ] || continue
			tk-merge --info "$c" >/dev/null
		done
		release_disk
	done
}

@test "disk full: tk-sft and tk-rl stop with 74, no final.tkc, every checkpoint whole" {
	copy_chats 64 >copy.jsonl
	tk-render -q -m "$FIX/tiny-llama" copy.jsonl -o copy.tks
	check_full_run sft tk-sft -q -m "$FIX/tiny-llama" copy.tks --steps 12 --batch 4 --save-every 1 --lr 1e-2 \
		--lora-rank 4 -t 1 -o @OUT@
	check_full_run rl tk-rl -q -m "$FIX/tiny-llama" --env arithmetic --groups 2 --group-size 2 --max-tokens 2 \
		--full --lr 1e-3 --steps 6 --save-every 1 -t 1 -o @OUT@
}

# ---- reward programs (tk-rl(1) REWARD PROTOCOL) --------------------------------

# A small tk-rl run (as tests/rl.bats) scored by $env_cmd (default
# ./prog.sh, which `program` writes).
rl_run() {
	for i in $(seq 1 16); do
		printf '{"prompt": "Write something, number %d", "answer": "e"}\n' "$i"
	done >prompts.jsonl
	run tk-rl -q -m "$FIX/tiny-llama" --prompts prompts.jsonl --groups 4 --group-size 4 \
		--max-tokens 2 --full --lr 1e-2 --seed 3 -t 1 --env-cmd "${env_cmd:-./prog.sh}" "$@" -o run
	echo "$output"
}

program() {
	printf '#!/bin/sh\n%s\n' "$1" >prog.sh
	chmod +x prog.sh
}

# Whether process PID has ended: gone, or a zombie (an orphan's zombie
# may wait long for a reaper where PID 1 is no init).
ended() {
	local stat
	stat=$(ps -o stat= -p "$1") || return 0
	[[ $stat == Z* ]]
}

@test "a reward program's banner before the first request is refused (65), the line shown" {
	program 'echo "reward server ready"
while IFS= read -r l; do echo "{\"reward\": 1}"; done'
	rl_run --steps 2
	[ "$status" -eq 65 ]
	# as a line no request asked for when tk-rl reads it before its first
	# request, else as a malformed first answer: a race either way refused
	[[ "$output" == *"'reward server ready'"* ]]
}

@test "a reward program that answers a whole step before reading it is refused (65)" {
	program 'i=0; while [ $i -lt 16 ]; do echo "{\"reward\": 1}"; i=$((i + 1)); done
sleep 1
while IFS= read -r l; do echo "{\"reward\": 1}"; done'
	rl_run --steps 2
	[ "$status" -eq 65 ]
}

# The program is started as 'exec ./prog.sh': Debian's /bin/sh (dash)
# runs a plain "sh -c ./prog.sh" as a child and keeps the answer pipe open
# itself, so that a closed output shows only at --env-timeout there.
@test "a reward program that closes its output but keeps running stops the run (74) before the timeout" {
	program 'exec >&-
sleep 600'
	SECONDS=0
	env_cmd='exec ./prog.sh' rl_run --steps 2 --env-timeout 60
	[ "$status" -eq 74 ]
	[ "$SECONDS" -lt 30 ]
	[ ! -e run/final.tkc ]
}

@test "a hung reward program is killed with its process group at --env-timeout" {
	program 'sleep 600 &
echo $! >child.pid
while IFS= read -r l; do :; done'
	rl_run --steps 2 --env-timeout 1
	[ "$status" -eq 74 ]
	[[ "$output" == *"gave no answer for 1 s"* ]]
	sleep 0.2
	ended "$(cat child.pid)"
}

@test "answers cut across writes and blank lines between them are read as the answers they are" {
	program 'while IFS= read -r l; do printf "\n{\"rew"; sleep 0.01; printf "ard\": 1}\n\n"; done'
	rl_run --steps 2
	[ "$status" -eq 0 ]
	[ -e run/final.tkc ]
}

@test "a reward program that outlives the end of the run is killed; the run succeeds" {
	program 'trap "" TERM HUP
echo $$ >prog.pid
while IFS= read -r l; do echo "{\"reward\": 1}"; done
while :; do sleep 0.1; done'
	SECONDS=0
	rl_run --steps 1
	[ "$status" -eq 0 ]
	[ "$SECONDS" -lt 20 ]
	sleep 0.2
	ended "$(cat prog.pid)"
}
