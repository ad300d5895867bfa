#!/usr/bin/env python3
"""Tool use (retrieval): an environment program for tk-rl --env episodes
(tk-env protocol 2; see README.md beside this file and tk-rl(1)).

Task: a question about an invented creature of make_corpus.py's corpus
("Where does the Grelric glass-frog live?"), facts a model cannot know
without looking them up.  The reset reply declares one tool, `search`
(OpenAI form, in "tools"), whose result is the top --top (3) passages of
the corpus by BM25 (k1 1.5, b 0.75, over lower-case words; computed here).
The model calls it in the ChatML tool-calling form that Qwen2.5 uses,

    <tool_call>{"name": "search", "arguments": {"query": "Grelric glass-frog"}}</tool_call>

which tk-rl parses into the step's message.tool_calls (OpenAI form:
{"type":"function","function":{"name","arguments"}}, arguments an object
or a JSON string; a call that does not parse is an entry carrying "raw",
at the entry's top level or inside "function").  When the message has no
"tool_calls" field at all, <tool_call>...</tool_call> blocks in its content
are parsed here instead.  Each call is answered by one
{"role":"tool","content":...} message (numbered passages; or an error
text for a malformed call, a tool other than search, or past --max-calls)
and the episode goes on.  A turn without tool calls is the final answer:
the text after the last "Answer:" (else the whole reply), first line,
graded by make_corpus.grade() (every key token of the gold answer, at most
8 words); the episode ends.  (A turn with both tool calls and an answer is
a tool turn: the calls are answered, the text is not graded.)

Rewards: 1 for a right final answer; --format-reward (0.1) once per
episode, on the turn of its first well-formed search call; 0 otherwise.

--no-tool: the no-tool baseline: no tools declared, the question alone
(with the same "Answer:" instruction); one turn, graded the same way.

Metrics (every reply, last wins): tool_calls (calls made, well-formed or
not), bad_calls (malformed or unknown-tool calls), called (0/1: at least
one well-formed search), answered (0/1: the final reply had "Answer:"),
correct (0/1).

Split: "split":"test" draws from the test questions (entities i % 5 == 0),
"train" from the others: disjoint entities.  The item is drawn from the
reset's seed, so a group's episodes share the question.

Options: --corpus-seed (7) --entities (400) --top (3) --max-calls (4)
--format-reward (0.1) --no-tool.
--demos N [--split train|test] [--seed S]: instead of serving, print N
SFT warm-start demonstrations (JSON Lines, tk-render's input form
{"tools":[...], "messages":[system, user, assistant with tool_calls,
tool, assistant "Answer: ..."]}) from the chosen split's questions.
"""
import argparse
import json
import math
import os
import random
import re
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_corpus  # noqa: E402
import tkenv  # noqa: E402

STOP = set("the a an of in on and or is was does do did what who whom which where when how much many "
           "year first its it to by for".split())

SEARCH_TOOL = {"type": "function", "function": {
    "name": "search",
    "description": "Search the encyclopedia of invented creatures. Returns the best-matching passages.",
    "parameters": {"type": "object",
                   "properties": {"query": {"type": "string", "description": "what to look for"}},
                   "required": ["query"]}}}

SYSTEM_TOOL = ("You answer questions about invented creatures. You do not know these facts: look them up "
               "with the search tool, called as <tool_call>{\"name\": \"search\", \"arguments\": "
               "{\"query\": \"...\"}}</tool_call>. When you know the answer, reply 'Answer: ' and the "
               "short answer.")
SYSTEM_NOTOOL = ("You answer questions about invented creatures. Reply 'Answer: ' and the short answer.")


def words(text):
    return [w for w in make_corpus.tokens(text) if w not in STOP]


class BM25:
    def __init__(self, docs, k1=1.5, b=0.75):
        self.docs, self.k1, self.b = docs, k1, b
        self.tf = [Counter(words(d)) for d in docs]
        self.len = [sum(t.values()) for t in self.tf]
        self.avg = sum(self.len) / max(1, len(docs))
        df = Counter(w for t in self.tf for w in t)
        n = len(docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}
        self.index = {}
        for i, t in enumerate(self.tf):
            for w in t:
                self.index.setdefault(w, []).append(i)

    def top(self, query, k):
        score = Counter()
        for w in set(words(query)):
            for i in self.index.get(w, ()):
                f = self.tf[i][w]
                score[i] += self.idf[w] * f * (self.k1 + 1) / (
                    f + self.k1 * (1 - self.b + self.b * self.len[i] / self.avg))
        return sorted(score, key=lambda i: (-score[i], i))[:k]


def normalize_call(c):
    """(name, arguments dict) of a tool call entry, or None when malformed."""
    if not isinstance(c, dict) or "raw" in c:
        return None
    f = c.get("function", c)
    if not isinstance(f, dict) or "raw" in f or not isinstance(f.get("name"), str):
        return None
    args = f.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return None
    return (f["name"], args) if isinstance(args, dict) else None


TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)


def calls_of(request):
    msg = request.get("message")
    if isinstance(msg, dict) and "tool_calls" in msg:
        tc = msg["tool_calls"]
        return tc if isinstance(tc, list) else []
    out = []
    for m in TOOL_CALL.finditer(tkenv.content_of(request)):
        try:
            out.append({"type": "function", "function": json.loads(m.group(1).strip())})
        except ValueError:
            out.append({"raw": m.group(1)})
    return out


def format_results(bm, ids):
    return "\n".join("%d. %s" % (k + 1, bm.docs[i]) for k, i in enumerate(ids))


class ToolSearch:
    def __init__(self, a):
        self.a = a
        passages, items = make_corpus.build(a.corpus_seed, a.entities)
        self.bm = BM25([p["text"] for p in passages])
        self.items = {s: [it for it in items if it["split"] == s] for s in ("train", "test")}
        self.games = {}

    def reset(self, r):
        a = self.a
        split = "test" if r.get("split") == "test" else "train"
        it = random.Random("%s:%d" % (split, int(r.get("seed", 0)))).choice(self.items[split])
        self.games[r["episode"]] = {"item": it, "calls": 0, "bad": 0, "called": 0}
        sys_msg = SYSTEM_NOTOOL if a.no_tool else SYSTEM_TOOL
        out = {"seat": 0, "messages": [{"role": "system", "content": sys_msg},
                                       {"role": "user", "content": it["question"]}]}
        if not a.no_tool:
            out["tools"] = [SEARCH_TOOL]
        return out

    def metrics(self, g, answered=0, correct=0):
        return {"tool_calls": g["calls"], "bad_calls": g["bad"], "called": g["called"],
                "answered": answered, "correct": correct}

    def step(self, r):
        a = self.a
        g = tkenv.episode(self.games, r)
        calls = [] if a.no_tool else calls_of(r)
        if calls:
            reward, msgs = 0.0, []
            for c in calls:
                g["calls"] += 1
                nc = normalize_call(c)
                if g["calls"] > a.max_calls:
                    text = "Error: no more searches (at most %d). Answer now: 'Answer: ...'." % a.max_calls
                elif nc is None:
                    g["bad"] += 1
                    text = ("Error: the tool call could not be read. Call search as <tool_call>{\"name\": "
                            "\"search\", \"arguments\": {\"query\": \"...\"}}</tool_call>.")
                elif nc[0] != "search" or not isinstance(nc[1].get("query"), str) or not nc[1]["query"].strip():
                    g["bad"] += 1
                    text = "Error: the only tool is search, with one argument: query (a non-empty string)."
                else:
                    text = format_results(self.bm, self.bm.top(nc[1]["query"], a.top)) or "No passage matches."
                    if not g["called"]:
                        g["called"] = 1
                        reward += a.format_reward
                msgs.append({"role": "tool", "content": text})
            return {"reward": reward, "done": False, "seat": 0, "messages": msgs, "metrics": self.metrics(g)}
        ok, marked = make_corpus.grade(tkenv.content_of(r), g["item"]["keys"])
        self.games.pop(r["episode"], None)
        return {"reward": 1.0 if ok else 0.0, "done": True, "metrics": self.metrics(g, int(marked), int(ok))}

    def close(self, episode):
        self.games.pop(episode, None)


def demos(a):
    """SFT warm-start conversations: search, then answer from the result."""
    passages, items = make_corpus.build(a.corpus_seed, a.entities)
    bm = BM25([p["text"] for p in passages])
    rng = random.Random("demos:%d" % a.seed)
    pool = [it for it in items if it["split"] == a.split]
    rng.shuffle(pool)
    n = 0
    for it in pool:
        if n >= a.demos:
            break
        query = it["question"] if rng.random() < 0.5 else "%s %s" % (it["entity"], it["kind"])
        result = format_results(bm, bm.top(query, a.top))
        if it["answer"].lower() not in result.lower():
            continue  # only demonstrations whose search finds the fact
        call = {"type": "function", "function": {"name": "search", "arguments": {"query": query}}}
        print(json.dumps({"tools": [SEARCH_TOOL], "messages": [
            {"role": "system", "content": SYSTEM_TOOL},
            {"role": "user", "content": it["question"]},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": result},
            {"role": "assistant", "content": "Answer: %s" % it["answer"]}]}))
        n += 1
    if n < a.demos:
        print("tool_search: only %d demonstrations" % n, file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus-seed", type=int, default=7, help="make_corpus seed (7)")
    p.add_argument("--entities", type=int, default=400, help="invented entities (400)")
    p.add_argument("--top", type=int, default=3, help="passages a search returns (3)")
    p.add_argument("--max-calls", type=int, default=4, help="tool calls answered per episode (4)")
    p.add_argument("--format-reward", type=float, default=0.1,
                   help="reward for the first well-formed search call of an episode (0.1)")
    p.add_argument("--no-tool", action="store_true", help="the no-tool baseline: no tools, the question alone")
    p.add_argument("--demos", type=int, default=0, help="print N SFT demonstrations and exit")
    p.add_argument("--split", default="train", choices=["train", "test"], help="--demos: questions from (train)")
    p.add_argument("--seed", type=int, default=1, help="--demos: which questions (1)")
    a = p.parse_args()
    if a.demos:
        try:
            demos(a)
        except BrokenPipeError:  # | head
            sys.stderr.close()
        return
    tkenv.serve(ToolSearch(a), "tool_search")


if __name__ == "__main__":
    main()
