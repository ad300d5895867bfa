#!/usr/bin/env python3
"""Writes the recipes' small example data (the project's own text, seeded):

  chat-train.jsonl, chat-test.jsonl   chats: unit conversions answered in one
                                      fixed, checkable sentence (chat SFT)
  prefs.jsonl                         preference pairs: the same questions, a
                                      short exact answer chosen over a rambling
                                      or wrong one (DPO)
  prefs-boxed.jsonl                   preference pairs (DPO's default): two-digit
                                      sums and differences, the answer ending in
                                      \\boxed{N} chosen over the same answer
                                      without the box, a wrong box or a ramble
  word-prompts.jsonl                  prompts for the reward-program recipe:
                                      "Write one word that starts with X."

    python3 scripts/recipes/data/make-data.py   (run from anywhere)
"""
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
UNITS = [  # (big unit, small unit, factor)
    ("kilograms", "grams", 1000), ("kilometres", "metres", 1000),
    ("hours", "minutes", 60), ("minutes", "seconds", 60), ("days", "hours", 24),
    ("weeks", "days", 7), ("metres", "centimetres", 100), ("litres", "millilitres", 1000),
    ("dozens", "items", 12), ("years", "months", 12),
]
ASK = ["How many {s} are in {n} {b}?", "Convert {n} {b} to {s}.",
       "{n} {b} is how many {s}?", "What is {n} {b} in {s}?"]


def question(rng):
    b, s, f = rng.choice(UNITS)
    n = rng.randint(2, 40)
    return rng.choice(ASK).format(n=n, b=b, s=s), f"{n} {b} is {n * f} {s}.", n * f, (n, b, s, f)


def boxed_pair(rng):
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    if rng.random() < 0.5:
        q, work, v, what = f"What is {a} plus {b}?", f"{a} + {b} = {a + b}.", a + b, "sum"
    else:
        a, b = max(a, b), min(a, b)
        q, work, v, what = f"What is {a} minus {b}?", f"{a} - {b} = {a - b}.", a - b, "difference"
    # the rejected answers open as the base model does, so that DPO moves
    # the first tokens of a greedy answer, not only its last
    bad = rng.choice([
        f"To find the {what} of {a} and {b}, we need to perform the operation. {work}",
        f"To solve this problem, we need to find the {what} between {a} and {b}.\n\n{work}\n\n"
        f"So, the answer is {v}.",
        f"To find the {what} of {a} and {b}, we look at the numbers. {work[:-1]}, "
        f"so the answer is \\boxed{{{v + rng.choice([-10, -1, 1, 10])}}}.",
        f"{work} The answer is {v}.",
    ])
    return {"prompt": q, "chosen": f"{work} The answer is \\boxed{{{v}}}.", "rejected": bad,
            "answer": v}


def chat(q, a):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def write(name, rows):
    with open(os.path.join(HERE, name), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def main():
    rng = random.Random(9)
    seen, train, test = set(), [], []
    while len(train) + len(test) < 160:
        q, a, _, _ = question(rng)
        if q in seen:
            continue
        seen.add(q)
        (test if len(test) < 32 and len(seen) % 5 == 0 else train).append(chat(q, a))
    write("chat-train.jsonl", train)
    write("chat-test.jsonl", test)

    prefs = []
    for _ in range(64):
        q, a, v, (n, b, s, f) = question(rng)
        bad = rng.choice([
            f"Great question! Converting units is something people do every day. "
            f"There are {f} {s} in one of the {b}, so you multiply, and you get {v} {s}.",
            f"{n} {b} is {v + rng.choice([-f, f, 10, -10])} {s}.",
            f"I think it is about {round(v, -1) or v} {s}, but please check.",
        ])
        prefs.append({"prompt": q, "chosen": a, "rejected": bad, "answer": v})
    write("prefs.jsonl", prefs)

    write("prefs-boxed.jsonl", [boxed_pair(rng) for _ in range(96)])

    letters = "abcdefghijklmnoprstw"
    write("word-prompts.jsonl", [
        {"id": f"w{i}", "messages": [{"role": "user", "content":
                                      f"Write one English word that starts with the letter {c}."}],
         "answer": c}
        for i, c in enumerate(letters)])


if __name__ == "__main__":
    main()
