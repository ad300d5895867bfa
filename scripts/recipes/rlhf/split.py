#!/usr/bin/env python3
"""Splits HH-RLHF preference pairs for the rlhf recipe.

usage: split.py PAIRS.jsonl[.gz] OUTDIR [--max-chars N] [--seed S]
                [--judge N] [--judge-test N] [--rl N] [--test N]

Each line {"chosen": TRANSCRIPT, "rejected": TRANSCRIPT} ("\\n\\nHuman: ..."
"\\n\\nAssistant: ..." turns that share all but the last assistant turn)
becomes {"prompt": [messages], "chosen": TEXT, "rejected": TEXT}.  Pairs
whose transcripts are longer than --max-chars, or do not share their
prompt, are left out.  The rest, shuffled with --seed, are cut into
disjoint parts:
  judge1.jsonl, judge2.jsonl  pairs each judge is trained on (--judge each)
  judge-test.jsonl            held-out pairs for the judges' accuracy
  sft.jsonl                   prompt + chosen chats of the RL prompts
  rl-prompts.jsonl            the prompts RL samples on (--rl)
  test-prompts.jsonl          held-out prompts for the win rate (--test)
"""
import argparse
import gzip
import json
import random
import re
import sys

TURN = re.compile(r"\n\n(Human|Assistant): ")


def messages(transcript):
    parts = TURN.split(transcript)
    if parts[0].strip():
        return None
    out = []
    for role, text in zip(parts[1::2], parts[2::2]):
        out.append({"role": "user" if role == "Human" else "assistant", "content": text.strip()})
    return out


def pair(line):
    d = json.loads(line)
    c, r = messages(d["chosen"]), messages(d["rejected"])
    if not c or not r or c[:-1] != r[:-1] or c[-1]["role"] != "assistant" or r[-1]["role"] != "assistant":
        return None
    if c[-1]["content"] == r[-1]["content"] or not c[-1]["content"] or not r[-1]["content"]:
        return None
    return {"prompt": c[:-1], "chosen": c[-1]["content"], "rejected": r[-1]["content"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs")
    ap.add_argument("outdir")
    ap.add_argument("--max-chars", type=int, default=700)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--judge", type=int, default=400)
    ap.add_argument("--judge-test", type=int, default=240)
    ap.add_argument("--rl", type=int, default=100)
    ap.add_argument("--test", type=int, default=200)
    a = ap.parse_args()
    opener = gzip.open if a.pairs.endswith(".gz") else open
    kept = []
    with opener(a.pairs, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            if len(d["chosen"]) > a.max_chars or len(d["rejected"]) > a.max_chars:
                continue
            p = pair(line)
            if p:
                kept.append(p)
    random.Random(a.seed).shuffle(kept)
    sizes = [("judge1", a.judge), ("judge2", a.judge), ("judge-test", a.judge_test),
             ("rl", a.rl), ("test", a.test)]
    need = sum(n for _, n in sizes)
    if len(kept) < need:
        sys.exit(f"split.py: {len(kept)} usable pairs, {need} needed: lower the part sizes")
    at, parts = 0, {}
    for name, n in sizes:
        parts[name] = kept[at:at + n]
        at += n

    def write(name, rows):
        with open(f"{a.outdir}/{name}", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")

    for name in ("judge1", "judge2", "judge-test"):
        write(f"{name}.jsonl", parts[name])
    write("sft.jsonl", [{"messages": p["prompt"] + [{"role": "assistant", "content": p["chosen"]}]}
                        for p in parts["rl"]])
    write("rl-prompts.jsonl", [{"messages": p["prompt"]} for p in parts["rl"]])
    write("test-prompts.jsonl", [{"id": i, "messages": p["prompt"]} for i, p in enumerate(parts["test"])])
    print(json.dumps({"usable": len(kept), **{k: len(v) for k, v in parts.items()}}))


if __name__ == "__main__":
    main()
