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
  prefs-plural.jsonl                  preference pairs (DPO's default): "What is
                                      the plural of X? Answer with the word only."
                                      the bare word chosen over the sentence a
                                      small model answers with, or a wrong plural
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


# (singular, plural): regular, -es, -ies, -ves and irregular nouns
PLURALS = [tuple(w.split("/")) for w in """
cat/cats dog/dogs book/books tree/trees car/cars house/houses apple/apples bird/birds
chair/chairs table/tables door/doors window/windows river/rivers mountain/mountains
flower/flowers garden/gardens pencil/pencils teacher/teachers student/students farmer/farmers
road/roads bridge/bridges shoe/shoes hat/hats cup/cups plate/plates spoon/spoons ship/ships
train/trains horse/horses cow/cows frog/frogs lion/lions tiger/tigers bear/bears star/stars
cloud/clouds song/songs game/games friend/friends king/kings queen/queens egg/eggs
box/boxes bus/buses church/churches dish/dishes fox/foxes watch/watches glass/glasses
brush/brushes class/classes bench/benches dress/dresses match/matches kiss/kisses tax/taxes
peach/peaches beach/beaches wish/wishes lunch/lunches
city/cities baby/babies party/parties story/stories lady/ladies country/countries berry/berries
fly/flies family/families puppy/puppies body/bodies cherry/cherries army/armies penny/pennies
child/children man/men woman/women mouse/mice foot/feet tooth/teeth goose/geese person/people
ox/oxen louse/lice
leaf/leaves knife/knives wife/wives wolf/wolves half/halves shelf/shelves loaf/loaves
life/lives calf/calves thief/thieves elf/elves
""".split()]


def plural_pair(rng, singular, plural):
    # the rejected replies open as the base model's do ("The plural of ...")
    # but never hold the right plural where it would be the answer (DPO
    # lowers every token of a rejected reply, and lowering the right word
    # would teach the singular), or go on after the right word (the pair
    # then differs only where the chosen reply stops)
    q = f'What is the plural of "{singular}"? Answer with the word only.'
    naive = singular + "s"
    bad = rng.choice([
        f'The plural of "{singular}" is "{singular}".',
        f'The answer is "{singular}".',
        f'{plural} are more than one {singular}.',
        f'{plural}, because there is more than one {singular}.',
    ] + ([naive, f'The plural of "{singular}" is "{naive}".'] if naive != plural else []))
    return {"prompt": q, "chosen": plural, "rejected": bad, "answer": plural}


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

    prng = random.Random(11) # its own: the files above stay as they were
    nouns = PLURALS[:]
    prng.shuffle(nouns)
    write("prefs-plural.jsonl", [plural_pair(prng, s, p) for s, p in nouns])

    letters = "abcdefghijklmnoprstw"
    write("word-prompts.jsonl", [
        {"id": f"w{i}", "messages": [{"role": "user", "content":
                                      f"Write one English word that starts with the letter {c}."}],
         "answer": c}
        for i, c in enumerate(letters)])


if __name__ == "__main__":
    main()
