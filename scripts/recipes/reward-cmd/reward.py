#!/usr/bin/env python3
"""Reward program for tk-rl --env cmd (protocol: tk-rl(1), REWARD PROTOCOL).

Task: "Write one English word that starts with the letter X." (meta.answer
is X).  Reward: 1 when the answer is a single word (letters only, a final
period or quotes allowed) starting with X, 0.2 for a single word starting
with another letter, 0 otherwise.  correct is the
full-reward case; metrics one_word and right_letter are averaged by tk-rl.

Reads one JSON line per sample on stdin, answers one line per sample on
stdout, flushed.  The same program grades tk-sample's output, whose lines
carry the same "text" and "meta" fields:
    tk-sample -m MODEL prompts.jsonl | python3 reward.py
"""
import json
import re
import sys

WORD = re.compile(r"[A-Za-z]+")


def grade(sample):
    text = sample.get("text", "").strip().rstrip(".!").strip().strip("\"'*")
    want = str(sample.get("meta", {}).get("answer", "")).lower()
    one_word = WORD.fullmatch(text) is not None
    right = one_word and want != "" and text.lower().startswith(want)
    reward = 1.0 if right else 0.2 if one_word else 0.0
    return {"reward": reward, "correct": right,
            "metrics": {"one_word": int(one_word), "right_letter": int(right)}}


def main():
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(grade(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
