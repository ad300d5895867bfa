#!/usr/bin/env python3
"""proto_check.py: plays tk-rl's side of the environment protocol (tk-env 2)
against an environment program, with scripted players instead of a model,
and checks the program's side of the protocol on the way.

    proto_check.py [options] -- python3 guess_number.py --max 100

Like tk-rl, it starts the command (through /bin/sh -c when it is one
string, else as given), sends hello, then for each step writes the reset
requests of all its episodes (GROUPS x GROUP_SIZE, the members of a group
sharing a seed) before reading any reply, then plays the episodes in
rounds: every live episode's step request (or close, at --max-turns or
--close-after) written, then all the replies read and matched by "req", in
whatever order they come.  It checks that:

  - every request gets exactly one reply line naming its req (a reply to a
    req never asked or already answered, a line that is not a JSON object,
    or silence past --timeout seconds is a failure);
  - replies have the fields and types of the protocol (reset: messages,
    seat, seats, tools; step: done, reward/rewards finite, seat, messages,
    metrics of finite numbers; no unknown fields);
  - the seat named to move is played by "policy" or "partner";
  - nothing else is printed: after the last reply stdin is closed and the
    program must exit 0 without another line.

Prints one JSON line of results on stdout (episodes, how they ended,
requests/replies, replies that came before an earlier request's, turns, mean return per seat, each metric's mean over the
episodes) and exits 1 with a message on stderr at the first violation.
--dump FILE writes each episode's conversations, returns and metrics.

Players (--player for policy seats: given once, it plays every policy
seat; given several times, the first plays seat 0, the second seat 1, ...;
--partner-player for partner seats):
  say:TEXT[|TEXT...]   answer these texts in turn (cycling)
  guess-binary         binary search on "too high"/"too low" (guess_number)
  guess-random         a random "Guess: N" in [1, 100]
  ttt-random           a random free cell "Move: N" (tictactoe)
  ttt-first            the first free cell
  ttt-minimax          a perfect player (tictactoe.py's minimax)
  ttt-illegal          "Move: 10", always illegal
  search               tool_search: calls search with the question, then
                       answers with the gold answer only when the tool result
                       holds it (so correct = recall of the top passages),
                       "Answer: unknown" otherwise; without tools: unknown
  search-raw           a tool call that does not parse ({"raw": ...})
  twentyq-halving      twenty_questions: asks the attribute question that
                       splits the remaining words best, guesses at one left
  twentyq-oracle       the answerer seat: reads the secret word from its
                       system message and answers the scripted way
Also --junk: after hello, send a step and a close for an unknown episode
(each must still be answered once) before the episodes.
"""
import argparse
import json
import math
import os
import queue
import random
import re
import shlex
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

ROLES = {"system", "user", "assistant", "tool"}


class Violation(Exception):
    pass


def finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_messages(ms, where):
    if not isinstance(ms, list):
        raise Violation("%s: messages is not an array" % where)
    for m in ms:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise Violation("%s: bad message %r" % (where, m))


# ---------------------------------------------------------------- players

def last(conv, role):
    for m in reversed(conv):
        if m["role"] == role:
            return m["content"]
    return ""


def p_say(texts):
    def play(ctx):
        i = ctx["state"].get("i", 0)
        ctx["state"]["i"] = i + 1
        return {"role": "assistant", "content": texts[i % len(texts)]}
    return play


def p_guess_binary(ctx):
    st, conv = ctx["state"], ctx["conv"]
    if "lo" not in st:
        m = re.search(r"from (\d+) to (\d+)", last(conv, "user"))
        st["lo"], st["hi"] = (int(m.group(1)), int(m.group(2))) if m else (1, 100)
    else:
        fb = last(conv, "user")
        m = re.search(r"(-?\d+) is too (high|low)", fb)
        if m:
            n = int(m.group(1))
            if m.group(2) == "high":
                st["hi"] = n - 1
            else:
                st["lo"] = n + 1
    return {"role": "assistant", "content": "Guess: %d" % ((st["lo"] + st["hi"]) // 2)}


def p_guess_random(ctx):
    return {"role": "assistant", "content": "Guess: %d" % ctx["rng"].randint(1, 100)}


def board_cells(conv):
    """Free cells (digits) and occupied ones from the last board shown."""
    text = last(conv, "user")
    rows = [ln for ln in text.splitlines() if re.fullmatch(r"\s*\S\s*\|\s*\S\s*\|\s*\S\s*", ln)][-3:]
    cells = [c.strip() for ln in rows for c in ln.split("|")]
    return cells


def p_ttt(kind):
    def play(ctx):
        cells = board_cells(ctx["conv"])
        free = [i + 1 for i, c in enumerate(cells) if c.isdigit()]
        if kind == "illegal" or not free:
            n = 10
        elif kind == "first":
            n = free[0]
        elif kind == "minimax":
            import tictactoe
            b = ["" if c.isdigit() else c for c in cells]
            mark = "X" if b.count("X") == b.count("O") else "O"
            n = tictactoe.best_move(b, mark, ctx["rng"]) + 1
        else:
            n = ctx["rng"].choice(free)
        return {"role": "assistant", "content": "Move: %d" % n}
    return play


def tool_text(call):
    return "<tool_call>\n%s\n</tool_call>" % json.dumps(call["function"])


def p_search(ctx):
    import make_corpus
    st, conv = ctx["state"], ctx["conv"]
    if "gold" not in st:
        q = last(conv, "user")
        st["gold"] = make_corpus.answer_for(q)
        if ctx["tools"]:
            call = {"type": "function", "function": {"name": "search", "arguments": {"query": q}}}
            return {"role": "assistant", "content": "", "tool_calls": [call]}, tool_text(call)
    result = last(conv, "tool")
    ans = st["gold"] if st["gold"] and st["gold"].lower() in result.lower() else "unknown"
    return {"role": "assistant", "content": "Answer: %s" % ans}


def p_search_raw(ctx):
    raw = '{"name": "search", "arguments": {"query": '
    if ctx["state"].get("done"):
        return {"role": "assistant", "content": "Answer: unknown"}
    ctx["state"]["done"] = True
    return {"role": "assistant", "content": "", "tool_calls": [{"raw": raw}]}, "<tool_call>%s</tool_call>" % raw


def p_twentyq_halving(ctx):
    import twenty_questions as tq
    st, conv = ctx["state"], ctx["conv"]
    if "cands" not in st:
        st["cands"] = [w for w in tq.WORDS]
        st["asked"] = set()
    elif st.get("attr"):
        yes = last(conv, "user").strip().lower().startswith("yes")
        a = st["attr"]
        st["cands"] = [w for w in st["cands"] if (a in tq.WORDS[w]) == yes]
    elif st.get("guess"):
        st["cands"] = [w for w in st["cands"] if w != st["guess"]]
    st["attr"] = st["guess"] = None
    cands = st["cands"]
    best = None
    if len(cands) > 1:
        for attr, question in tq.QUESTIONS:
            if attr in st["asked"]:
                continue
            k = sum(attr in tq.WORDS[w] for w in cands)
            score = abs(2 * k - len(cands))
            if 0 < k < len(cands) and (best is None or score < best[0]):
                best = (score, attr, question)
    if best is None:
        st["guess"] = cands[0] if cands else "nothing"
        return {"role": "assistant", "content": "Guess: %s" % st["guess"]}
    st["attr"] = best[1]
    st["asked"].add(best[1])
    return {"role": "assistant", "content": best[2]}


def p_twentyq_oracle(ctx):
    import twenty_questions as tq
    conv = ctx["conv"]
    m = re.search(r"secret word is \"?([A-Za-z -]+?)\"?[.\n]", " ".join(x["content"] for x in conv if x["role"] != "assistant"))
    word = m.group(1).strip().lower() if m else ""
    a = tq.scripted_answer(word, last(conv, "user")) if word in tq.WORDS else "I don't know."
    return {"role": "assistant", "content": a}


def player(name):
    if name.startswith("say:"):
        return p_say(name[4:].split("|"))
    table = {"guess-binary": p_guess_binary, "guess-random": p_guess_random,
             "ttt-random": p_ttt("random"), "ttt-first": p_ttt("first"),
             "ttt-minimax": p_ttt("minimax"), "ttt-illegal": p_ttt("illegal"),
             "search": p_search, "search-raw": p_search_raw,
             "twentyq-halving": p_twentyq_halving, "twentyq-oracle": p_twentyq_oracle}
    if name not in table:
        raise SystemExit("proto_check: unknown player %r" % name)
    return table[name]


# ---------------------------------------------------------------- the driver

class Driver:
    def __init__(self, cmd, timeout):
        self.p = subprocess.Popen(cmd, shell=isinstance(cmd, str), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        self.timeout = timeout
        self.lines = queue.Queue()
        self.next_req = 0
        self.asked = {}      # req -> request, until answered
        self.answered = set()
        self.requests = self.replies = self.out_of_order = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            self.lines.put(raw)
        self.lines.put(None)

    def send(self, req):
        req = dict(req, req=self.next_req)
        self.next_req += 1
        self.asked[req["req"]] = req
        self.requests += 1
        self.p.stdin.write((json.dumps(req) + "\n").encode())
        return req["req"]

    def flush(self):
        self.p.stdin.flush()

    def collect(self, reqs):
        """Read until every req in reqs has its reply; returns {req: reply}."""
        self.flush()
        want, got = set(reqs), {}
        deadline = time.time() + self.timeout
        while want:
            try:
                raw = self.lines.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                raise Violation("no reply within %gs to req %s" % (self.timeout, sorted(want)[:5]))
            if raw is None:
                raise Violation("the program exited (status %s) with req %s unanswered"
                                % (self.p.wait(), sorted(want)[:5]))
            if not raw.strip():
                continue
            try:
                r = json.loads(raw)
            except ValueError:
                raise Violation("a reply line is not JSON: %.200r" % raw)
            if not isinstance(r, dict) or not isinstance(r.get("req"), int) or isinstance(r.get("req"), bool):
                raise Violation("a reply without an integer req: %.200r" % raw)
            n = r["req"]
            if n in self.answered:
                raise Violation("req %d answered twice: %.200r" % (n, raw))
            if n not in self.asked:
                raise Violation("a reply to req %d, never asked: %.200r" % (n, raw))
            if n not in want:
                raise Violation("reply to req %d, asked in an earlier round" % n)
            if n != min(want):
                self.out_of_order += 1
            self.answered.add(n)
            del self.asked[n]
            self.replies += 1
            want.discard(n)
            got[n] = r
            deadline = time.time() + self.timeout
        return got

    def finish(self):
        self.p.stdin.close()
        try:
            status = self.p.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise Violation("the program did not exit after stdin closed")
        extra = []
        while True:
            raw = self.lines.get(timeout=self.timeout)
            if raw is None:
                break
            if raw.strip():
                extra.append(raw)
        if extra:
            raise Violation("%d extra line(s) after the last reply: %.200r" % (len(extra), extra[0]))
        if status != 0:
            raise Violation("the program exited with status %d" % status)


RESET_KEYS = {"req", "seat", "messages", "tools", "seats", "error"}
STEP_KEYS = {"req", "reward", "rewards", "done", "seat", "messages", "metrics", "error"}


def check_reset(r, ep):
    where = "reset reply of %s" % ep["id"]
    if set(r) - RESET_KEYS:
        raise Violation("%s: unknown fields %s" % (where, sorted(set(r) - RESET_KEYS)))
    check_messages(r.get("messages"), where)
    seats = r.get("seats", ["policy"])
    if not isinstance(seats, list) or not seats or any(s not in ("policy", "partner") for s in seats):
        raise Violation("%s: bad seats %r" % (where, seats))
    seat = r.get("seat", 0)
    if not isinstance(seat, int) or not 0 <= seat < len(seats):
        raise Violation("%s: bad seat %r" % (where, seat))
    tools = r.get("tools", [])
    if not isinstance(tools, list) or any(
            not isinstance(t, dict) or t.get("type") != "function"
            or not isinstance(t.get("function"), dict) or not isinstance(t["function"].get("name"), str)
            for t in tools):
        raise Violation("%s: bad tools %r" % (where, tools))
    if not r["messages"]:
        raise Violation("%s: no messages (and no prompt was given)" % where)
    return seats, seat, tools


def check_step(r, ep):
    where = "step reply of %s turn %d" % (ep["id"], ep["turn"])
    if set(r) - STEP_KEYS:
        raise Violation("%s: unknown fields %s" % (where, sorted(set(r) - STEP_KEYS)))
    if not isinstance(r.get("done"), bool):
        raise Violation("%s: done is not a boolean" % where)
    if "reward" in r and not finite(r["reward"]):
        raise Violation("%s: reward %r is not a finite number" % (where, r["reward"]))
    if "rewards" in r:
        rs = r["rewards"]
        if not isinstance(rs, list) or len(rs) != len(ep["seats"]) or not all(finite(x) for x in rs):
            raise Violation("%s: rewards %r: not %d finite numbers" % (where, rs, len(ep["seats"])))
    ms = r.get("metrics", {})
    if not isinstance(ms, dict) or not all(finite(v) for v in ms.values()):
        raise Violation("%s: metrics %r are not numbers" % (where, ms))
    if not r["done"]:
        seat = r.get("seat", ep["seat"])
        if not isinstance(seat, int) or not 0 <= seat < len(ep["seats"]):
            raise Violation("%s: bad seat %r" % (where, seat))
        check_messages(r.get("messages", []), where)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=None)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--split", default="train", choices=["train", "test"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--player", action="append", help="a player (repeat: one per seat)")
    ap.add_argument("--partner-player", default="say:yes")
    ap.add_argument("--max-turns", type=int, default=50, help="close an episode at this many turns (50)")
    ap.add_argument("--close-after", type=int, default=0, help="close every episode after this many turns")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for a reply (20)")
    ap.add_argument("--junk", action="store_true", help="also send requests for an unknown episode")
    ap.add_argument("--dump", help="write each episode's transcript here (JSON Lines)")
    ap.add_argument("cmd", nargs="+", help="the environment command (after --)")
    a = ap.parse_args()
    cmd = a.cmd[0] if len(a.cmd) == 1 else a.cmd
    pnames = a.player or ["say:hello"]
    players = [player(n) for n in pnames]
    partner = player(a.partner_player)
    rng = random.Random(a.seed)
    d = Driver(cmd, a.timeout)
    dump = open(a.dump, "w") if a.dump else None
    eps_all = []
    ends = {"done": 0, "closed": 0, "error": 0}
    try:
        h = d.collect([d.send({"op": "hello", "protocol": 2})])
        h = list(h.values())[0]
        if h.get("protocol") != 2:
            raise Violation("hello: protocol %r, not 2" % h.get("protocol"))
        if a.junk:
            got = d.collect([d.send({"op": "step", "episode": "no-such", "seat": 0, "turn": 1,
                                     "message": {"role": "assistant", "content": "x"}, "text": "x",
                                     "finish": "stop"}),
                             d.send({"op": "close", "episode": "no-such", "reason": "dropped"})])
            if len(got) != 2:
                raise Violation("junk requests not answered")
        for step in range(a.steps):
            eps = []
            for g in range(a.groups):
                seed = rng.getrandbits(52)
                for i in range(a.group_size):
                    eid = ("test-%d-%d" % (step, g * a.group_size + i) if a.split == "test"
                           else "%d-%d-%d" % (step, g, i))
                    eps.append({"id": eid, "group": g, "index": i, "seed": seed, "turn": 0,
                                "state": {}, "convs": {}, "rng": random.Random("%d:%s" % (a.seed, eid))})
            reqs = {}
            for ep in eps:
                reqs[d.send({"op": "reset", "episode": ep["id"], "group": ep["group"], "index": ep["index"],
                             "split": a.split, "seed": ep["seed"]})] = ep
            got = d.collect(list(reqs))
            live = []
            for n, r in got.items():
                ep = reqs[n]
                eps_all.append(ep)
                if "error" in r:
                    ep["end"] = "error"
                    continue
                ep["seats"], ep["seat"], ep["tools"] = check_reset(r, ep)
                ep["returns"] = [0.0] * len(ep["seats"])
                ep["metrics"] = {}
                ep["convs"] = {s: [] for s in range(len(ep["seats"]))}
                ep["convs"][ep["seat"]].extend(r["messages"])
                live.append(ep)
            while live:
                reqs = {}
                for ep in live:
                    if ep["turn"] >= a.max_turns or (a.close_after and ep["turn"] >= a.close_after):
                        reqs[d.send({"op": "close", "episode": ep["id"],
                                     "reason": "max_turns"})] = (ep, None)
                        continue
                    s = ep["seat"]
                    ctx = {"conv": ep["convs"][s], "state": ep["state"].setdefault(s, {}), "rng": ep["rng"],
                           "seat": s, "tools": ep["tools"]}
                    play = partner if ep["seats"][s] == "partner" else players[min(s, len(players) - 1)]
                    out = play(ctx)
                    msg, text = out if isinstance(out, tuple) else (out, out["content"])
                    ep["convs"][s].append(msg)
                    ep["turn"] += 1
                    reqs[d.send({"op": "step", "episode": ep["id"], "seat": s, "turn": ep["turn"],
                                 "message": msg, "text": text, "finish": "stop"})] = (ep, msg)
                got = d.collect(list(reqs))
                nxt = []
                for n, r in got.items():
                    ep, msg = reqs[n]
                    if msg is None:
                        if set(r) != {"req"}:
                            raise Violation("close reply of %s: %r, want {\"req\"}" % (ep["id"], r))
                        ep["end"] = "closed"
                        continue
                    if "error" in r:
                        ep["end"] = "error"
                        ep["error"] = r["error"]
                        continue
                    check_step(r, ep)
                    ep["returns"][ep["seat"]] += r.get("reward", 0.0)
                    for k, x in enumerate(r.get("rewards", [])):
                        ep["returns"][k] += x
                    ep["metrics"].update(r.get("metrics", {}))
                    if r["done"]:
                        ep["end"] = "done"
                        continue
                    ep["seat"] = r.get("seat", ep["seat"])
                    ep["convs"][ep["seat"]].extend(r.get("messages", []))
                    nxt.append(ep)
                live = nxt
        d.finish()
    except Violation as e:
        print("proto_check: %s" % e, file=sys.stderr)
        try:
            d.p.kill()
        except OSError:
            pass
        sys.exit(1)
    n = len(eps_all)
    mkeys = sorted({k for ep in eps_all for k in ep.get("metrics", {})})
    nseat = max([len(ep.get("returns", [])) for ep in eps_all] or [0])
    fin = [ep for ep in eps_all if ep.get("end") in ("done", "closed")]
    for ep in eps_all:
        ends[ep.get("end", "error")] += 1
        if dump:
            dump.write(json.dumps({k: ep.get(k) for k in ("id", "group", "index", "seed", "seats", "tools", "convs",
                                                      "returns", "metrics", "end", "turn", "error")}) + "\n")
    res = {"episodes": n, "ended": ends, "requests": d.requests, "replies": d.replies,
           "out_of_order": d.out_of_order,
           "turns": round(sum(ep["turn"] for ep in eps_all) / max(1, n), 4),
           "returns": [round(sum(ep["returns"][k] for ep in fin if k < len(ep["returns"])) / max(1, len(fin)), 4)
                       for k in range(nseat)],
           "metrics": {k: round(sum(ep["metrics"][k] for ep in fin if k in ep["metrics"]) /
                                max(1, sum(k in ep["metrics"] for ep in fin)), 4) for k in mkeys}}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
