#!/usr/bin/env bats
# Teachers, judges and chaining in tk-rl and tk-sft: --substeps (PPO and
# CISPO clip once the policy moves off the sampler), on-policy distillation
# from a --teacher, rewards from a --judge's pairwise comparisons (and
# tk-render --judge, its training data), --init-adapter and a --reference
# for the KL penalty, --eval-prompts, and the refusals.

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	M="$FIX/tiny-llama"
	ADAPTER="$FIX/export/adapter.tkc"   # a trained adapter of the tiny model
	for i in $(seq 1 16); do
		printf '{"prompt": "Write something, number %d", "answer": "e"}\n' "$i"
	done > prompts.jsonl
	cat > reward.sh <<-'EOF'
	#!/bin/sh
	while IFS= read -r line; do
		text=$(printf '%s\n' "$line" | sed 's/.*"text":"\(.*\)","complete".*/\1/')
		case "$text" in *e*) echo '{"reward": 1}';; *) echo '{"reward": 0}';; esac
	done
	EOF
	chmod +x reward.sh
}

# The values of KEY, one a line, in a run's metrics.
values() { grep -o "\"$2\":[0-9.e+-]*" "$1/metrics.jsonl" | cut -d: -f2; }

# N preference pairs "say i" -> "i" over "no", rendered into pairs.tks.
make_pairs() {
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
		printf "{\"prompt\":\"say %d\",\"chosen\":\"%d\",\"rejected\":\"no\"}\n", i, i }' > pairs.jsonl
	tk-render -q -m "$M" --pairs pairs.jsonl -o pairs.tks
}

rl() { tk-rl -m "$M" --env-cmd ./reward.sh --prompts prompts.jsonl --max-tokens 4 -t 1 -q --seed 1 "$@"; }

@test "--substeps 4: is, ppo and cispo train different adapters; the clipped fraction is logged" {
	for loss in is ppo cispo; do
		rl --steps 2 --groups 4 --group-size 8 --lr 2e-2 --substeps 4 --loss $loss -o $loss
	done
	[ "$(cmp -s is/final.tkc ppo/final.tkc; echo $?)" -ne 0 ]
	[ "$(cmp -s is/final.tkc cispo/final.tkc; echo $?)" -ne 0 ]
	[ "$(cmp -s ppo/final.tkc cispo/final.tkc; echo $?)" -ne 0 ]
	# importance sampling never clips; ppo and cispo do once the ratio moves
	[ "$(values is optim/clipped_frac | sort -u)" = 0 ]
	awk '$1 > 0 { f = 1 } END { exit !f }' <(values ppo optim/clipped_frac)
	awk '$1 > 0 { f = 1 } END { exit !f }' <(values cispo optim/clipped_frac)
	# 2 sampled steps of 4 optimizer steps each
	[ "$(wc -l < ppo/metrics.jsonl)" -eq 2 ]
	grep -q '"step": *8' ppo/checkpoints.jsonl
}

@test "--substeps 1: ppo is importance sampling (the ratio is 1)" {
	rl --steps 2 --groups 4 --group-size 8 --lr 2e-2 --loss is -o is
	rl --steps 2 --groups 4 --group-size 8 --lr 2e-2 --loss ppo -o ppo
	cmp is/final.tkc ppo/final.tkc
	[ "$(values ppo optim/clipped_frac | sort -u)" = 0 ]
}

@test "--teacher: the base as its own teacher has no KL; a trained teacher's KL falls as the student learns" {
	tk-rl -m "$M" --env arithmetic --steps 1 --groups 2 --group-size 4 --max-tokens 8 \
		--teacher "$M" -t 1 -q --seed 1 -o self
	awk '{ exit !($1 < 1e-6 && $1 > -1e-6) }' <(values self teacher/kl)
	tk-rl -m "$M" --env arithmetic --steps 6 --groups 2 --group-size 4 --max-tokens 8 \
		--teacher "$M" --teacher-adapter "$ADAPTER" -t 1 -q --seed 1 -o distil
	first=$(values distil teacher/kl | head -1) last=$(values distil teacher/kl | tail -1)
	echo "teacher KL $first -> $last" >&3
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(a > 1e-3 && b < a / 2) }'
	grep -q '"throughput/teacher_tokens_per_sec":' distil/metrics.jsonl
}

@test "tk-render --judge: one chat a pair, the chosen reply A or B as the seed says, the letter trained" {
	printf '%s\n' '{"prompt": "Say hi", "chosen": "Hi there!", "rejected": "No."}' \
		'{"prompt": [{"role": "user", "content": "2+2?"}], "chosen": "4", "rejected": "5"}' \
		'{"prompt": "Name a colour", "chosen": "Blue.", "rejected": "Seven."}' > pairs.jsonl
	for seed in 1 2 3 4 5 6; do
		tk-render -m "$M" --judge --seed $seed pairs.jsonl -o j$seed.tks
		tk-render --show -m "$M" j$seed.tks > j$seed.txt
	done
	[ "$(grep -c '^# record' j1.txt)" -eq 3 ]
	grep -q 'User: 2+2?' j1.txt
	# the trained span is the letter of the chosen reply wherever it was put
	cat j*.txt | awk '/^\[Reply A\]/ { getline; a = $0 } /^\[Reply B\]/ { getline; b = $0 }
		/^\[\[[AB]<\|im_end\|>\]\]/ { l = substr($0, 3, 1); c = (l == "A") ? a : b; n[l]++
			if (c !~ /^(Hi there!|4|Blue\.)(<\|im_end\|>)?$/) bad++ }
		END { exit !(n["A"] > 0 && n["B"] > 0 && !bad) }'
	# the same seed, the same file
	tk-render -m "$M" --judge --seed 1 pairs.jsonl -o again.tks
	cmp j1.tks again.tks
	# both orders: two records a pair, A then B
	tk-render -m "$M" --judge --both-orders pairs.jsonl -o both.tks
	[ "$(tk-render --show -m "$M" both.tks | grep -o '^\[\[[AB]' | tr -d '[' | tr -d '\n')" = ABABAB ]
}

@test "--judge: every pair of a group compared both ways; rewards in [-1, 1] summing to 0 in a group" {
	tk-rl -m "$M" --prompts prompts.jsonl --env-cmd ./reward.sh --judge "$M" \
		--judge-adapter "$ADAPTER" --steps 2 --groups 2 --group-size 4 --max-tokens 6 \
		-t 1 -q --seed 1 -o judged --rollouts roll.tks
	[ "$(values judged judge/comparisons | sort -u)" = 24 ]   # 2 groups x 4 x 3
	tk-render --show --json roll.tks | python3 -c '
import json, sys, collections
groups = collections.defaultdict(list)
for line in sys.stdin:
    r = json.loads(line)
    groups[(r["meta"]["step"] if "step" in r.get("meta", {}) else 0, r["group"])].append(r["reward"])
assert len(groups) >= 2, groups
for g, rs in groups.items():
    assert len(rs) == 4, (g, rs)
    assert abs(sum(rs)) < 1e-9, (g, rs)
    assert all(-1 <= x <= 1 and abs(x * 6 - round(x * 6)) < 1e-9 for x in rs), (g, rs)
'
}

@test "--judge-kind implicit: a DPO adapter's implicit rewards rank a group; tk-eval judge scores pairs by them" {
	make_pairs 16
	tk-sft -q -m "$M" pairs.tks -o dpo --loss dpo --dpo-beta 0.5 --batch 4 --steps 8 --lr 1e-2 \
		--lora-rank 4
	# tk-eval judge on pairs: the implicit reward (base nats − adapter nats) of
	# each reply, the chosen one right when higher, as tk-eval nll counts them
	tk-eval judge -q -m "$M" -a dpo/final.tkc pairs.tks > acc.json
	tk-eval nll -q -m "$M" --per-record base.jsonl -o /dev/null pairs.tks
	tk-eval nll -q -m "$M" -a dpo/final.tkc --per-record dpo.jsonl -o /dev/null pairs.tks
	python3 - acc.json base.jsonl dpo.jsonl <<-'PY'
	import json, sys
	acc = json.load(open(sys.argv[1]))
	base = [json.loads(l)["nats"] for l in open(sys.argv[2])]
	dpo = [json.loads(l)["nats"] for l in open(sys.argv[3])]
	r = [b - d for b, d in zip(base, dpo)]
	right = sum(r[i] > r[i + 1] for i in range(0, len(r), 2))
	assert acc["kind"] == "implicit" and acc["records"] == 16, acc
	assert acc["right"] == right and right >= 12, (acc, right)
	margin = sum(r[i] - r[i + 1] for i in range(0, len(r), 2)) / 16
	assert abs(acc["margin"] - margin) < 1e-6 * max(1, abs(margin)), (acc, margin)
	PY
	run tk-eval judge -q -m "$M" pairs.tks
	[ "$status" -eq 64 ] && [[ "$output" == *"-a ADAPTER is needed"* ]]
	# tk-rl: each pair of a group once; a rollout's reward its wins minus
	# losses by the same implicit reward of its completion
	tk-rl -m "$M" --prompts prompts.jsonl --env-cmd ./reward.sh --judge "$M" \
		--judge-adapter dpo/final.tkc --judge-kind implicit --steps 2 --groups 2 \
		--group-size 4 --max-tokens 6 -t 1 -q --seed 1 -o judged --rollouts roll.tks
	[ "$(values judged judge/comparisons | sort -u)" = 12 ]   # 2 groups x 6 pairs
	grep -q '"judge_kind":[[:space:]]*"implicit"' judged/config.json
	tk-eval nll -q -m "$M" --per-record rb.jsonl -o /dev/null roll.tks
	tk-eval nll -q -m "$M" -a dpo/final.tkc --per-record rd.jsonl -o /dev/null roll.tks
	tk-render --show --json roll.tks | python3 -c '
import json, sys, collections
base = [json.loads(l)["nats"] for l in open("rb.jsonl")]
dpo = [json.loads(l)["nats"] for l in open("rd.jsonl")]
groups = collections.defaultdict(list)
for i, line in enumerate(sys.stdin):
    r = json.loads(line)
    groups[r["group"]].append((base[i] - dpo[i], r["reward"]))
assert len(groups) == 4, groups
for g in groups.values():
    s = [x for x, _ in g]
    want = [sum((a > b) - (a < b) for b in s) / 3 for a in s]
    assert all(abs(w - got) < 1e-9 for w, (_, got) in zip(want, g)), (g, want)
'
	run tk-rl -m "$M" --env arithmetic --judge "$M" --judge-kind implicit
	[ "$status" -eq 64 ] && [[ "$output" == *"--judge-kind implicit needs"* ]]
}

@test "--init-adapter starts from a trained adapter; a --reference with it has no KL at the start" {
	tk-rl -m "$M" --env arithmetic --steps 1 --groups 2 --group-size 4 --max-tokens 8 \
		--init-adapter "$ADAPTER" --kl-coef 0.1 --reference-adapter "$ADAPTER" -t 1 -q --seed 1 -o same
	awk '{ exit !($1 < 1e-6 && $1 > -1e-6) }' <(values same kl_policy_base)
	tk-rl -m "$M" --env arithmetic --steps 1 --groups 2 --group-size 4 --max-tokens 8 \
		--init-adapter "$ADAPTER" --kl-coef 0.1 -t 1 -q --seed 1 -o base
	awk '{ exit !($1 > 1e-4 || $1 < -1e-4) }' <(values base kl_policy_base)
	grep -q '"init_adapter":' same/config.json
	# tk-sft: zero learning rate keeps the adapter it started from
	printf '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello there"}]}\n' > chat.jsonl
	tk-render -m "$M" chat.jsonl -o chat.tks
	tk-sft -m "$M" --init-adapter "$ADAPTER" --lr 0 --steps 1 -q -o sft chat.tks
	a=$(tk-eval nll -m "$M" -a "$ADAPTER" -q chat.tks | grep -o '"nll":[0-9.]*')
	b=$(tk-eval nll -m "$M" -a sft/final.tkc -q chat.tks | grep -o '"nll":[0-9.]*')
	c=$(tk-eval nll -m "$M" -q chat.tks | grep -o '"nll":[0-9.]*')
	[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ]
}

@test "an adapter on other base weights of the same shape is refused naming both; --accept-base says so and goes on" {
	export TK_HOME="$BATS_TEST_TMPDIR/home"
	tk-rl -m "$M" --env arithmetic --steps 1 --groups 1 --group-size 2 --max-tokens 2 -q -o run
	tk-merge -q --init "$M/config.json" --seed 2 --tokenizer "$M" -o other.tkc
	printf '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}\n' > chat.jsonl
	tk-render -q -m "$M" chat.jsonl -o chat.tks
	run tk-eval nll -q -m other.tkc -a run/final.tkc chat.tks
	[ "$status" -eq 65 ]
	mine=$(grep ' tests/fixtures/tiny-llama/model.safetensors$\| .*/tiny-llama/model.safetensors$' "$TK_HOME/weight-fingerprints" | head -1)
	[ -n "$mine" ]
	other=$(grep ' other.tkc$' "$TK_HOME/weight-fingerprints" | cut -d' ' -f6)
	[[ "$output" == *"trained on other base weights ("*"; this model's, other.tkc, are $other)"* ]]
	[[ "$output" == *"--accept-base"* ]]
	run tk-eval nll -q -m other.tkc -a run/final.tkc --accept-base chat.tks
	[ "$status" -eq 0 ]
	[[ "$output" == *"trained on other base weights than other.tkc's; used on them as --accept-base asks"* ]]
	# a file is hashed once: the cache has one line for it however often it is used
	tk-eval nll -q -m other.tkc -a run/final.tkc --accept-base chat.tks >/dev/null 2>&1
	[ "$(grep -c ' other.tkc$' "$TK_HOME/weight-fingerprints")" -eq 1 ]
	# its own base takes it without a word
	run tk-eval nll -q -m "$M" -a run/final.tkc chat.tks
	[ "$status" -eq 0 ] && [[ "$output" != *"base weights"* ]]
}

@test "--eval-prompts: held-out prompts scored greedily at the start, every N steps and at the end" {
	head -4 prompts.jsonl > held.jsonl
	rl --steps 5 --groups 2 --group-size 4 --eval-prompts held.jsonl --eval-every 2 -o ev
	[ "$(grep -c '"test/env/all/reward/total"' ev/metrics.jsonl)" -eq 4 ]  # steps 0, 2, 4, 5
	[ "$(grep '"test/samples"' ev/metrics.jsonl | grep -o '"step":[0-9]*' | cut -d: -f2 | tr '\n' ' ')" = "0 2 4 5 " ]
	[ "$(values ev test/samples | sort -u)" = 4 ]
}

@test "teachers, judges and references: the refusals" {
	run tk-rl -m "$M" --env arithmetic --teacher-adapter "$ADAPTER"
	[ "$status" -eq 64 ] && [[ "$output" == *"--teacher-adapter needs --teacher MODEL"* ]]
	run tk-rl -m "$M" --env arithmetic --reference-adapter "$ADAPTER"
	[ "$status" -eq 64 ] && [[ "$output" == *"--kl-coef reference"* ]]
	run tk-rl -m "$M" --env arithmetic --init-adapter "$ADAPTER" --lora-rank 4
	[ "$status" -eq 64 ] && [[ "$output" == *"the adapter's own"* ]]
	run tk-rl -m "$M" --env arithmetic --eval-every 3
	[ "$status" -eq 64 ] && [[ "$output" == *"--eval-prompts FILE"* ]]
	run tk-rl -m "$M" --env arithmetic --steps 1 --teacher "$FIX/tiny-qwen3" -q -o other
	[ "$status" -eq 65 ] && [[ "$output" == *"--teacher $FIX/tiny-qwen3: its tokenizer is not the policy's"* ]]
	run tk-rl -m "$M" --env arithmetic --eval-prompts held.jsonl -q -o gen
	[ "$status" -ne 0 ]
}

@test "DPO logs the chosen and rejected replies' implicit rewards; their difference is the margin" {
	make_pairs 16
	tk-sft -q -m "$M" pairs.tks -o run --loss dpo --dpo-beta 0.5 --batch 4 --steps 8 --lr 1e-2 \
		--lora-rank 4
	python3 - run/metrics.jsonl <<-'PY'
	import json, sys
	lines = [json.loads(l) for l in open(sys.argv[1])]
	assert len(lines) == 8
	for m in lines:
	    assert abs(m["rewards/chosen"] - m["rewards/rejected"] - m["margin"]) < 1e-6, m
	assert lines[-1]["rewards/chosen"] > lines[-1]["rewards/rejected"], lines[-1]
	PY
}

@test "DPO --reference-adapter: the reference is the model with that adapter, not the bare model" {
	make_pairs 8
	dpo() { tk-sft -q -m "$M" pairs.tks --loss dpo --batch 4 --steps 2 --init-adapter "$ADAPTER" "$@"; }
	dpo --reference-adapter "$ADAPTER" -o same
	dpo -o bare
	grep -q '"reference_adapter":' same/config.json
	python3 - same/metrics.jsonl bare/metrics.jsonl <<-'PY'
	import json, sys
	same = json.loads(open(sys.argv[1]).readline())
	bare = json.loads(open(sys.argv[2]).readline())
	# starting from the reference itself, the first step's rewards are 0
	for k in ("rewards/chosen", "rewards/rejected", "margin"):
	    assert abs(same[k]) < 1e-5, (k, same)
	# against the bare model the trained adapter already has rewards
	assert abs(bare["rewards/chosen"]) > 1e-3, bare
	assert abs(same["dpo_loss"] - 0.6931471805599453) < 1e-5, same
	PY
	run tk-sft -q -m "$M" pairs.tks --reference-adapter "$ADAPTER" -o ce
	[ "$status" -eq 64 ] && [[ "$output" == *"--loss dpo"* ]]
	run tk-sft -q -m "$M" pairs.tks --loss dpo --reference-adapter missing.tkc -o missing
	[ "$status" -eq 66 ]
}
