#!/usr/bin/env python3
"""A reward program for tk-rl --env cmd (the protocol is in tk-rl(1)).

tk-rl starts it once and writes one JSON line per sample to its stdin:
    {"id": ..., "group": ..., "messages": [...], "text": "...",
     "complete": true, "meta": {"answer": "42", ...}}
It answers each line, in order, with one line on stdout:
    {"reward": 1.0, "correct": true, "metrics": {"has_number": 1}}

This one rewards a completion whose last number is the prompt's answer
(meta.answer), with a small bonus for answering with the number alone.
Anything on stderr goes to tk-rl's stderr; stdout is the protocol only.

    tk-rl -m MODEL --prompts prompts.jsonl \\
        --env-cmd 'python3 scripts/examples/reward-answer.py --bonus 0.1'
"""
import argparse
import json
import re
import sys

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def last_number(text):
    found = NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


def reference(answer):
    # GSM8K answers end with "#### 72"
    answer = str(answer)
    if "####" in answer:
        answer = answer.split("####")[-1]
    return last_number(answer)


def grade(sample, bonus):
    want = reference(sample.get("meta", {}).get("answer", ""))
    got = last_number(sample["text"])
    correct = want is not None and got is not None and float(got) == float(want)
    bare = re.fullmatch(r"\s*-?\d+\s*", sample["text"]) is not None
    reward = float(correct) + (bonus if bare else 0.0)
    return {"reward": reward, "correct": correct,
            "metrics": {"has_number": int(got is not None), "bare": int(bare)}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bonus", type=float, default=0.0,
                        help="added when the completion is the number alone")
    args = parser.parse_args()
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = grade(json.loads(line), args.bonus)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
