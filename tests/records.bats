#!/usr/bin/env bats
# tk-render --from-json, the way back from --show --json: a token stream
# through JSON Lines and back is the same stream (the records tk-rl trains
# on, rewards, logprobs, top-K and all), and a grader in Python attaches
# rewards in a pipe between tk-sample --tks and tk-rl --from-stream.

setup() {
	cd "$BATS_TEST_TMPDIR"
	FIX="$BATS_TEST_DIRNAME/fixtures"
	TINY="$FIX/tiny-llama"
	for i in $(seq 1 8); do
		printf '{"messages": [{"role": "user", "content": "Write something, number %d"}]}\n' "$i"
	done > prompts.jsonl
}

@test "records: --show --json then --from-json gives the same records" {
	tk-render -q -m "$TINY" -o chats.tks "$FIX/render/chats.jsonl"
	tk-eval logprobs -q -m "$TINY" --tks --top-k 3 -o scored.tks chats.tks
	tk-render -q -m "$TINY" --prompt -o prompts.tks prompts.jsonl
	tk-sample -q -m "$TINY" --tks -n 2 --max-tokens 4 --seed 1 -o samples.tks prompts.tks
	for s in chats scored samples "$FIX/tks/v1-two-records"; do
		tk-render --show --json "$s.tks" >a.jsonl
		tk-render -q --from-json -o back.tks a.jsonl
		tk-render --show --json back.tks >b.jsonl
		cmp a.jsonl b.jsonl
	done
	grep -q '"top_logprobs"' <(tk-render --show --json scored.tks)
	# with -m the stream names the tokenizer, and text and pieces are ignored
	tk-render --show --json -m "$TINY" chats.tks | tk-render -q --from-json -m "$TINY" - >m.tks
	tk-eval nll -q -m "$TINY" m.tks >m.json
	tk-eval nll -q -m "$TINY" chats.tks >c.json
	cmp m.json c.json
}

@test "records: a grader in Python between tk-sample --tks and tk-rl --from-stream" {
	tk-render -q -m "$TINY" --prompt prompts.jsonl -o prompts.tks
	tk-sample -q -m "$TINY" --tks -n 4 --max-tokens 3 --temperature 1 --seed 2 prompts.tks |
		tk-render --show --json - | python3 "$FIX/records/grade.py" |
		tk-render -q --from-json -m "$TINY" - |
		tk-rl -q -m "$TINY" --full --lr 1e-2 -t 1 --from-stream - --batch 16 -o run
	[ "$(wc -l < run/metrics.jsonl)" -eq 2 ] # 32 samples, 16 an update
	[ -s run/final.tkc ]
	# the rewards it trained on are the grader's
	tk-sample -q -m "$TINY" --tks -n 4 --max-tokens 3 --temperature 1 --seed 2 prompts.tks |
		tk-render --show --json - | python3 "$FIX/records/grade.py" >graded.jsonl
	python3 - graded.jsonl <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 32
assert all(r["reward"] == (1.0 if "e" in r["meta"]["text"] else 0.0) for r in recs)
assert all(len(r["logprobs"]) == r["n"] and r["group"] >= 0 for r in recs)
PY
	grep -o '"env/all/reward/total": [0-9.e+-]*\|"reward[a-z_/]*": [0-9.e+-]*' run/metrics.jsonl | head -2
}

@test "records: --from-json refuses bad lines by number, leaving no file" {
	tk-render -q -m "$TINY" -o chats.tks "$FIX/render/chats.jsonl"
	tk-render --show --json chats.tks | head -2 >good.jsonl
	for bad in '{"weights": [0, 1]}' '{"tokens": [1, 2], "weights": [0]}' \
		'{"tokens": [1, -2], "weights": [0, 1]}' \
		'{"tokens": [1, 2], "weights": [0, 1], "top_ids": [[], [3]]}' \
		'{"tokens": [1, 2], "weights": [0, 1], "pair_role": "best"}' 'not json'; do
		{ cat good.jsonl; echo "$bad"; } >bad.jsonl
		run tk-render -q --from-json -o out.tks bad.jsonl
		[ "$status" -eq 65 ]
		[[ "$output" == *"bad.jsonl:3: "* ]]
		[ ! -e out.tks ]
	done
	echo '{"tokens": [1, 600], "weights": [0, 1]}' >big.jsonl
	run tk-render -q --from-json -m "$TINY" -o out.tks big.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"big.jsonl:1: "*"token 1 is 600, outside the vocabulary 0..511"* ]]
}
