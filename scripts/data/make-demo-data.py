#!/usr/bin/env python3
"""Writes the demo's data: arithmetic questions whose answers end in
\\boxed{N}, the format the demo teaches SmolLM2 (the model, asked plainly,
answers in free text).  All text is the project's own, generated here with a
fixed seed; the output is committed, so the demo needs no Python.

  scripts/data/make-demo-data.py   ->  scripts/data/demo-{train,valid,test}.jsonl
"""
import json
import os
import random

ADD = [
    "What is {a} plus {b}?",
    "Compute {a} + {b}.",
    "Add {a} and {b}.",
    "What do you get when you add {b} to {a}?",
    "If you have {a} apples and pick {b} more, how many apples do you have?",
    "A train carries {a} people and {b} more get on. How many people are on the train?",
    "Tom has {a} marbles. Anna gives him {b}. How many marbles does Tom have now?",
    "What is the sum of {a} and {b}?",
]
SUB = [
    "What is {a} minus {b}?",
    "Compute {a} - {b}.",
    "Subtract {b} from {a}.",
    "A shelf holds {a} books and {b} are taken away. How many books are left?",
    "Sara had {a} stickers and gave away {b}. How many stickers does she have left?",
    "What is the difference between {a} and {b}?",
]


def example(rng):
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    if rng.random() < 0.5:
        q, op, c = rng.choice(ADD), "+", a + b
    else:
        a, b = max(a, b), min(a, b)
        q, op, c = rng.choice(SUB), "-", a - b
    answer = f"{a} {op} {b} = {c}. The answer is \\boxed{{{c}}}."
    return q.format(a=a, b=b), answer, str(c)


def write(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    rng = random.Random(20261128)
    here = os.path.dirname(os.path.abspath(__file__))
    seen, rows = set(), []
    while len(rows) < 400:
        q, a, n = example(rng)
        if q in seen:
            continue
        seen.add(q)
        rows.append((q, a, n))
    chat = lambda q, a: {"messages": [{"role": "user", "content": q},
                                      {"role": "assistant", "content": a}]}
    write(os.path.join(here, "demo-train.jsonl"), [chat(q, a) for q, a, _ in rows[:300]])
    write(os.path.join(here, "demo-valid.jsonl"), [chat(q, a) for q, a, _ in rows[300:340]])
    write(os.path.join(here, "demo-test.jsonl"),
          [{"id": f"t{i}", "messages": [{"role": "user", "content": q}], "answer": n}
           for i, (q, _, n) in enumerate(rows[340:400])])


if __name__ == "__main__":
    main()
