#!/usr/bin/env bash
# RLHF in three stages on preference pairs (HH-RLHF's harmless split):
#
#   1. SFT      tk-sft on the chosen replies of the RL prompts
#   2. judges   two judges, each a DPO adapter (tk-sft --loss dpo) trained
#               on its own disjoint part of the pairs: a Bradley-Terry
#               reward model whose score of a reply is its implicit reward,
#               Σ log p(judge) − Σ log p(base); their accuracy on held-out
#               pairs (tk-eval judge on tk-render --pairs records)
#   3. RL       tk-rl from the SFT adapter (--init-adapter), rewards from
#               judge 1 ranking each group's samples pairwise by that score
#               (--judge --judge-kind implicit), a KL penalty to the SFT
#               policy (--reference-adapter)
#
# The check: greedy answers of the RL policy and of the SFT policy to
# held-out prompts, put to judge 2 (not the one that gave the rewards) as
# pairs: the RL policy's win rate, with its standard error.  Answers that
# are the same text are ties, left out and counted.  Beside it, the answers'
# mean length and the share that stopped before MAXTOK: the judges' score
# is a sum over tokens, and a policy that wins by length shows there.
#
# Why not a generative judge (tk-render --judge: "which reply is better, A
# or B"): at 135M it stayed at chance on these pairs (scripts/recipes/
# README.md); the implicit reward ranks them from the first epoch.
#
#   PAIRS ─ split.py ─ judge1/judge2/judge-test/sft/rl-prompts/test-prompts
#
# Variables (environment):
#   MODEL    model (default: SmolLM2-135M-Instruct via scripts/get-model.sh)
#   PAIRS    HH-RLHF pairs, JSON Lines or .gz (default:
#            ../shared/data/hh-rlhf-harmless/test.jsonl.gz from the checkout)
#   OUT      output folder (default rlhf-out)
#   SPLIT    split.py's size options (default: its own: judges 400 each,
#            240 judge-test, 100 RL prompts, 200 test prompts)
#   SFT_STEPS [40]  JUDGE_EPOCHS [1]  BETA (the judges' DPO beta) [0.1]
#   RL_STEPS [20]  RL_GROUPS [8]  GROUP_SIZE [4]  RL_LR [LoRA size rule]
#   MAXTOK   tokens an answer [48]    KL [0.05]      BATCH [8]
#   MAXLEN   pairs longer than this are dropped [512]
#   THREADS, SEED [1]
#
# Figures on SmolLM2 are in scripts/recipes/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="${TK_BIN:-$root/build/bin}:$PATH"
MODEL=${MODEL:-$("$root/scripts/get-model.sh" smollm2-135m-instruct)}
PAIRS=${PAIRS:-$root/../shared/data/hh-rlhf-harmless/test.jsonl.gz}
OUT=${OUT:-rlhf-out}
SFT_STEPS=${SFT_STEPS:-40} JUDGE_EPOCHS=${JUDGE_EPOCHS:-1} BETA=${BETA:-0.1} RL_STEPS=${RL_STEPS:-20}
RL_GROUPS=${RL_GROUPS:-8} GROUP_SIZE=${GROUP_SIZE:-4} MAXTOK=${MAXTOK:-48} KL=${KL:-0.05}
BATCH=${BATCH:-8} MAXLEN=${MAXLEN:-512} SEED=${SEED:-1}
threads=${THREADS:+-t $THREADS}
rl_lr=${RL_LR:+--lr $RL_LR}
[ -r "$PAIRS" ] || { echo "rlhf: no pairs at $PAIRS (set PAIRS)" >&2; exit 66; }
mkdir -p "$OUT"
rm -rf "$OUT/sft" "$OUT/judge1" "$OUT/judge2" "$OUT/rl"
SECONDS=0
# shellcheck disable=SC2086
python3 "$here/split.py" "$PAIRS" "$OUT" --seed "$SEED" ${SPLIT:-} >"$OUT/split.json"

# 1. SFT on the chosen replies
tk-render -q -m "$MODEL" -o "$OUT/sft.tks" "$OUT/sft.jsonl"
tk-sft -q -m "$MODEL" $threads --steps "$SFT_STEPS" --batch "$BATCH" --seed "$SEED" \
	--save-every 0 -o "$OUT/sft" "$OUT/sft.tks"
t_sft=$SECONDS

# 2. Two judges on disjoint pairs, and their held-out accuracy
tk-render -q -m "$MODEL" --pairs --max-len "$MAXLEN" -o "$OUT/judge-test.tks" \
	"$OUT/judge-test.jsonl"
for j in 1 2; do
	tk-render -q -m "$MODEL" --pairs --max-len "$MAXLEN" -o "$OUT/judge$j.tks" \
		"$OUT/judge$j.jsonl"
	tk-sft -q -m "$MODEL" $threads --loss dpo --dpo-beta "$BETA" --epochs "$JUDGE_EPOCHS" \
		--batch "$BATCH" --seed "$SEED" --save-every 0 -o "$OUT/judge$j" "$OUT/judge$j.tks"
	tk-eval judge -q -m "$MODEL" -a "$OUT/judge$j/final.tkc" $threads \
		-o "$OUT/judge$j-accuracy.json" "$OUT/judge-test.tks"
done
t_judges=$SECONDS

# 3. RL against judge 1, near the SFT policy
tk-rl -q -m "$MODEL" $threads --init-adapter "$OUT/sft/final.tkc" --env prompts \
	--prompts "$OUT/rl-prompts.jsonl" --judge "$MODEL" --judge-adapter "$OUT/judge1/final.tkc" \
	--judge-kind implicit $rl_lr --kl-coef "$KL" --reference-adapter "$OUT/sft/final.tkc" --steps "$RL_STEPS" \
	--groups "$RL_GROUPS" --group-size "$GROUP_SIZE" --max-tokens "$MAXTOK" --seed "$SEED" \
	--save-every 0 -o "$OUT/rl"
t_rl=$SECONDS

# The check: RL against SFT on held-out prompts, as judge 2 sees it
for p in sft rl; do
	tk-sample -q -m "$MODEL" -a "$OUT/$p/final.tkc" $threads --temperature 0 \
		--max-tokens "$MAXTOK" -o "$OUT/answers-$p.jsonl" "$OUT/test-prompts.jsonl"
done
python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
load = lambda p: {json.loads(l)["id"]: json.loads(l) for l in open(f"{out}/answers-{p}.jsonl")}
sft, rl = load("sft"), load("rl")
prompts = [json.loads(l) for l in open(f"{out}/test-prompts.jsonl")]
ties = 0
with open(f"{out}/rl-vs-sft.jsonl", "w") as f:
    for p in prompts:
        a, b = rl[p["id"]]["text"].strip(), sft[p["id"]]["text"].strip()
        if a == b:
            ties += 1
            continue
        f.write(json.dumps({"prompt": p["messages"], "chosen": a, "rejected": b}) + "\n")
# answer lengths: a judge that pays for length shows here (tk-rl(1), --judge)
mean = lambda d: sum(len(r["tokens"]) for r in d.values()) / max(1, len(d))
stopped = lambda d: sum(r.get("finish") == "stop" for r in d.values()) / max(1, len(d))
json.dump({"ties": ties, "tokens_sft": mean(sft), "tokens_rl": mean(rl),
           "stopped_sft": stopped(sft), "stopped_rl": stopped(rl)}, open(f"{out}/ties.json", "w"))
EOF
tk-render -q -m "$MODEL" --pairs -o "$OUT/rl-vs-sft.tks" "$OUT/rl-vs-sft.jsonl"
tk-eval judge -q -m "$MODEL" -a "$OUT/judge2/final.tkc" $threads -o "$OUT/win-rate.json" \
	"$OUT/rl-vs-sft.tks"

num() { grep -o "\"$1\": *[0-9.eE+-]*" "$2" | head -1 | sed 's/.*: *//'; }
printf '{"judge1_accuracy":%s,"judge1_stderr":%s, ' \
	"$(num accuracy "$OUT/judge1-accuracy.json")" "$(num stderr "$OUT/judge1-accuracy.json")" \
	>"$OUT/result.json"
printf '"judge2_accuracy":%s,"judge2_stderr":%s,"judge_test_pairs":%s, ' \
	"$(num accuracy "$OUT/judge2-accuracy.json")" "$(num stderr "$OUT/judge2-accuracy.json")" \
	"$(num records "$OUT/judge2-accuracy.json")" >>"$OUT/result.json"
printf '"win_rate_rl_vs_sft":%s,"win_rate_stderr":%s,"compared":%s,"ties":%s, ' \
	"$(num accuracy "$OUT/win-rate.json")" "$(num stderr "$OUT/win-rate.json")" \
	"$(num records "$OUT/win-rate.json")" "$(num ties "$OUT/ties.json")" >>"$OUT/result.json"
printf '"answer_tokens":{"sft":%s,"rl":%s},"answers_stopped":{"sft":%s,"rl":%s}, ' \
	"$(num tokens_sft "$OUT/ties.json")" "$(num tokens_rl "$OUT/ties.json")" \
	"$(num stopped_sft "$OUT/ties.json")" "$(num stopped_rl "$OUT/ties.json")" >>"$OUT/result.json"
printf '"seconds":{"sft":%d,"judges":%d,"rl":%d,"all":%d}}\n' "$t_sft" \
	"$((t_judges - t_sft))" "$((t_rl - t_judges))" "$SECONDS" >>"$OUT/result.json"
cat "$OUT/result.json"
