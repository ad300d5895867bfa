#!/usr/bin/env bats
# The environment programs of scripts/recipes/envs/ (tk-env protocol 2),
# played without tk by proto_check.py's scripted players: every request is
# answered by exactly one line naming its req, nothing else reaches stdout,
# many interleaved episodes, close, and each game's rules and rewards.

setup() {
	command -v python3 >/dev/null || skip "python3 is not installed"
	cd "$BATS_TEST_TMPDIR"
	E="$BATS_TEST_DIRNAME/../scripts/recipes/envs"
}

# pc [proto_check options] -- ENV...: runs proto_check, its result in res.json.
pc() {
	python3 "$E/proto_check.py" "$@" >res.json 2>err.txt
	local rc=$?
	cat err.txt >&2
	cat res.json
	return $rc
}

# check 'PYTHON EXPRESSION' over res.json's fields (episodes, ended,
# requests, replies, out_of_order, turns, returns, metrics).
check() {
	python3 -c 'import json, sys
d = json.load(open("res.json"))
if not eval(sys.argv[1], {}, d):
    sys.exit("check failed: %s\n%s" % (sys.argv[1], d))' "$1"
}

@test "guess_number: binary search solves every game within 7 guesses; 96 interleaved episodes" {
	pc --player guess-binary --steps 3 --groups 8 --group-size 4 -- python3 "$E/guess_number.py"
	check 'episodes == 96 and ended == {"done": 96, "closed": 0, "error": 0}'
	check 'requests == replies and metrics["solved"] == 1.0 and metrics["guesses"] <= 7'
	check 'metrics["unparsable"] == 0 and 1.0 <= returns[0] <= 1.3'
}

@test "guess_number: unparsable turns cost the penalty and use a guess; out of guesses ends at 0" {
	pc --player 'say:I think it is fifty|Guess: 101' --groups 2 -- python3 "$E/guess_number.py" --max-guesses 4
	check 'metrics == {"guesses": 4.0, "solved": 0.0, "unparsable": 2.0}'
	check 'abs(returns[0] - (-0.2)) < 1e-9'
	grep -q 'out of range' <(python3 "$E/proto_check.py" --player 'say:Guess: 101' --groups 1 --group-size 1 \
		--dump d.jsonl -- python3 "$E/guess_number.py" && cat d.jsonl)
}

@test "guess_number: close ends episodes mid-game; requests for unknown episodes still get one reply" {
	pc --junk --player guess-binary --close-after 2 -- python3 "$E/guess_number.py"
	check 'ended == {"done": 0, "closed": 16, "error": 0} and turns == 2 and requests == replies'
	grep -q "unknown episode 'no-such'" err.txt
}

@test "tictactoe: an illegal move loses for the seat that made it (-1, the other 0)" {
	pc --player ttt-illegal --player ttt-random -- python3 "$E/tictactoe.py"
	check 'returns == [-1.0, 0.0] and metrics["illegal"] == 1 and metrics["loss"] == 1 and turns == 1'
	pc --player ttt-random --player ttt-illegal -- python3 "$E/tictactoe.py"
	check 'returns == [0.0, -1.0] and metrics["illegal"] == 1 and metrics["win"] == 1 and turns == 2'
}

@test "tictactoe: self-play seats, zero-sum rewards; perfect players always draw" {
	pc --player ttt-random --groups 10 -- python3 "$E/tictactoe.py"
	check 'abs(returns[0] + returns[1]) < 1e-9 and metrics["illegal"] == 0'
	check 'abs(metrics["win"] + metrics["draw"] + metrics["loss"] - 1) < 1e-9 and 5 <= turns <= 9'
	pc --player ttt-minimax --groups 10 -- python3 "$E/tictactoe.py"
	check 'metrics["draw"] == 1 and turns == 9 and returns == [0.0, 0.0]'
}

@test "tictactoe: test episodes meet the scripted opponent; minimax never loses" {
	pc --split test --player ttt-random --groups 20 -- python3 "$E/tictactoe.py" --opponent minimax
	check 'metrics["win"] == 0 and metrics["loss"] > 0.5 and len(returns) == 1'
	check '0 < metrics["policy_first"] < 1'
	pc --split test --player ttt-minimax --groups 20 -- python3 "$E/tictactoe.py" --opponent minimax
	check 'metrics["draw"] == 1'
	pc --split test --player ttt-minimax --groups 20 -- python3 "$E/tictactoe.py" --opponent random
	check 'metrics["loss"] == 0 and metrics["win"] > 0.7'
}

@test "tool_search: the search result holds the passage naming the entity; right answers score 1.1" {
	pc --player search --groups 25 --group-size 2 --steps 2 --dump d.jsonl -- python3 "$E/tool_search.py"
	check 'metrics["correct"] == 1 and metrics["called"] == 1 and metrics["tool_calls"] == 1'
	check 'abs(returns[0] - 1.1) < 1e-9 and turns == 2'
	python3 - <<'PY'
import json, re
for line in open("d.jsonl"):
    e = json.loads(line)
    c = e["convs"]["0"]
    assert [m["role"] for m in c] == ["system", "user", "assistant", "tool", "assistant"], c
    name = re.search(r"[A-Z]\w+ [a-z]+-[a-z]+", c[1]["content"]).group(0)
    assert c[3]["content"].startswith("1. The %s " % name), (name, c[3]["content"])
    assert e["tools"][0]["function"]["name"] == "search"
PY
}

@test "tool_search: malformed calls, no-tool baseline, wrong answers" {
	pc --player search-raw -- python3 "$E/tool_search.py"
	check 'metrics["bad_calls"] == 1 and metrics["called"] == 0 and returns == [0.0]'
	pc --player search --dump d.jsonl -- python3 "$E/tool_search.py" --no-tool
	check 'turns == 1 and metrics["tool_calls"] == 0 and metrics["correct"] == 0'
	! grep -q '"tools": \[{' d.jsonl
	pc --player 'say:Answer: the Sik marshes, 20 grams, 1879, copper, charcoal, Zorcod' -- python3 "$E/tool_search.py"
	check 'metrics["answered"] == 1 and metrics["correct"] == 0'
}

@test "tool_search: train and test questions are about disjoint entities; demos are conversations with tools" {
	pc --player 'say:Answer: x' --groups 200 --group-size 1 --dump train.jsonl -- python3 "$E/tool_search.py"
	pc --split test --player 'say:Answer: x' --groups 200 --group-size 1 --dump test.jsonl -- python3 "$E/tool_search.py"
	python3 - <<'PY'
import json, re
def ents(f):
    return {re.search(r"[A-Z]\w+ [a-z]+-[a-z]+", json.loads(l)["convs"]["0"][1]["content"]).group(0)
            for l in open(f)}
tr, te = ents("train.jsonl"), ents("test.jsonl")
assert len(tr) > 50 and len(te) > 30 and not (tr & te), (len(tr), len(te), tr & te)
PY
	python3 "$E/tool_search.py" --demos 5 >demos.jsonl
	[ "$(wc -l <demos.jsonl)" -eq 5 ]
	python3 - <<'PY'
import json
for l in open("demos.jsonl"):
    d = json.loads(l)
    roles = [m["role"] for m in d["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant"], roles
    call = d["messages"][2]["tool_calls"][0]["function"]
    assert call["name"] == "search" and isinstance(call["arguments"]["query"], str)
    assert d["tools"][0]["type"] == "function"
    assert d["messages"][4]["content"].startswith("Answer: ")
PY
}

@test "twenty_questions: a halving guesser always finds the word (scripted answerer)" {
	pc --player twentyq-halving --groups 20 --group-size 2 -- python3 "$E/twenty_questions.py"
	check 'metrics["solved"] == 1 and metrics["questions"] <= 10 and metrics["unknown"] == 0 and returns[0] > 1.2'
	pc --player 'say:Is it alive?|hmm|Guess: zebra|What is it made of?' --groups 4 -- python3 "$E/twenty_questions.py"
	check 'metrics["questions"] == 20 and metrics["unparsable"] == 5 and metrics["unknown"] == 5 and metrics["solved"] == 0'
	check 'abs(returns[0] + 0.5) < 1e-9'
}

@test "twenty_questions: the partner seat answers; its yes/no is parsed; its turns get no reward" {
	pc --player twentyq-halving --partner-player twentyq-oracle --dump d.jsonl -- \
		python3 "$E/twenty_questions.py" --answerer partner
	check 'metrics["solved"] == 1 and metrics["partner_agree"] == 1 and len(returns) == 2 and returns[1] == 0'
	grep -q 'The secret word is' d.jsonl
	pc --player twentyq-halving --partner-player 'say:Maybe.' -- python3 "$E/twenty_questions.py" --answerer partner
	check 'metrics["unknown"] > 0'
}

@test "proto_check: replies out of order are matched by req; a stray line or a second answer is refused" {
	# an environment that answers all the requests it has in reverse order
	cat >rev.py <<PY
import json, os, select, sys
sys.path.insert(0, "$E")
import guess_number, tkenv
class A: max = 100; max_guesses = 7; penalty = -0.1; bonus = 0.05; system = False
env = guess_number.GuessNumber(A)
buf = b""
while True:
    chunk = os.read(0, 1 << 16)
    if not chunk:
        break
    buf += chunk
    while select.select([0], [], [], 0.05)[0]:
        more = os.read(0, 1 << 16)
        if not more:
            break
        buf += more
    *lines, buf = buf.split(b"\n")
    out = []
    for l in lines:
        r = json.loads(l)
        rep = {"protocol": 2} if r["op"] == "hello" else {} if r["op"] == "close" else getattr(env, r["op"])(r)
        out.append(json.dumps(dict(rep, req=r["req"])))
    sys.stdout.write("".join(o + "\n" for o in reversed(out)))
    sys.stdout.flush()
PY
	pc --player guess-binary --groups 8 -- python3 rev.py
	check 'metrics["solved"] == 1 and episodes == 32 and out_of_order > 100'
	# a banner line, a duplicate answer: refused by name
	printf 'import sys\nprint("starting up")\nsys.stdout.flush()\nexec(open("rev.py").read())\n' >banner.py
	run pc --player guess-binary -- python3 banner.py
	[ "$status" -eq 1 ] && [[ "$output" == *"a reply line is not JSON"*"starting up"* ]]
	sed 's/^    sys.stdout.write(/    out = out + out[:1]\n    sys.stdout.write(/' rev.py >dup.py
	run pc --player guess-binary -- python3 dup.py
	[ "$status" -eq 1 ] && [[ "$output" == *"answered twice"* ]]
}

@test "envs: a stray print() in an environment goes to stderr, not to the protocol" {
	cat >noisy.py <<PY
import sys
sys.path.insert(0, "$E")
import guess_number, tkenv
class Noisy(guess_number.GuessNumber):
    def reset(self, r):
        print("debug: reset", r["episode"])
        return super().reset(r)
class A: max = 100; max_guesses = 7; penalty = -0.1; bonus = 0.05; system = False
tkenv.serve(Noisy(A), "noisy")
PY
	pc --player guess-binary -- python3 noisy.py
	check 'metrics["solved"] == 1'
	grep -q "debug: reset 0-0-0" err.txt
}

@test "envs: every program answers hello with protocol 2 and runs 512 interleaved episodes" {
	for env in guess_number tictactoe tool_search twenty_questions; do
		pc --groups 64 --group-size 8 --player 'say:Guess: 50|Move: 5|Answer: x|Is it alive?' -- python3 "$E/$env.py"
		check 'episodes == 512 and ended["error"] == 0 and requests == replies'
	done
}

@test "envs: a caller writing 1024 requests (>64 KiB) before reading any reply does not deadlock" {
	for env in tool_search guess_number; do
		timeout 60 python3 - "$E/$env.py" <<'PY'
import json, subprocess, sys
n = 1024
p = subprocess.Popen([sys.executable, sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
p.stdin.write(b'{"req":0,"op":"hello","protocol":2}\n')
for i in range(n):
    p.stdin.write(json.dumps({"req": i + 1, "op": "reset", "episode": "0-%d-0" % i, "group": i,
                              "index": 0, "split": "train", "seed": i}).encode() + b"\n")
p.stdin.flush()
reqs = sorted(json.loads(p.stdout.readline())["req"] for _ in range(n + 1))
assert reqs == list(range(n + 1)), reqs[:5]
p.stdin.close()
assert p.stdout.read() == b"" and p.wait() == 0
PY
	done
}
