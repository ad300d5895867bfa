#!/usr/bin/env python3
"""make_corpus.py: the invented-world corpus and questions of the tool-use
recipe (tool_search.py), generated deterministically from a seed.

Each entity is an invented creature ("the Velmorian glass-frog") with five
attributes, told in two passages:

    The Velmorian glass-frog lives in the Tarsk marshes and weighs 41 grams.
    The Velmorian glass-frog was first described by Ilsa Domren in 1873.
    Its coloring is slate grey.

and asked about in five questions (where does it live, how much does it
weigh, who first described it, in what year, what is its coloring).  Names
are drawn from syllables, so a model cannot know the facts without
searching; the creature kinds (glass-frog, ember-moth, ...) and the name
parts repeat across entities, so the search has near-miss passages to rank
below the right ones.

Split: entity i is a test entity when i % 5 == 0 (a fifth of them): the
test questions are about entities no training question mentions (the
corpus holds every entity's passages; the search needs them).

Grading (grade()): the answer is the text after the last "Answer:" (else
the whole reply), its first line; it is right when it holds every key
token of the gold answer (place: its name and kind, "tarsk marshes";
weight: the number; describer: the surname; year: the year; coloring: its
words) and is at most 8 words long (listing candidates does not pay).

    make_corpus.py --out DIR [--seed 7] [--entities 400]

writes DIR/corpus.jsonl ({"id","entity","text"}) and DIR/questions-train.jsonl,
DIR/questions-test.jsonl in tk-rl/tk-sample's prompt form ({"id",
"messages", "answer", "meta": {"keys", "entity", "kind"}}), e.g. for a
no-tool baseline with tk-sample.  tool_search.py builds the same in memory.
"""
import argparse
import json
import os
import random
import re

ONSETS = ["V", "T", "K", "Dr", "M", "S", "Br", "Ost", "Hal", "Z", "Qu", "N", "L", "Yr", "C", "Gr", "P", "Th"]
NUCLEI = ["el", "ar", "o", "i", "u", "e", "ae", "ya", "or", "an"]
CODAS = ["m", "v", "sk", "th", "n", "r", "l", "d", "z", "k"]
KINDS = [("glass-frog", "grams", 5, 90), ("ember-moth", "grams", 2, 48), ("reed-fox", "kilograms", 3, 49),
         ("salt-heron", "kilograms", 2, 44), ("stone-beetle", "grams", 2, 60), ("cloud-eel", "kilograms", 2, 80),
         ("thorn-lizard", "grams", 40, 900), ("marsh-hare", "kilograms", 2, 41), ("ice-wren", "grams", 8, 60),
         ("dune-snail", "grams", 3, 70)]
HABITATS = ["marshes", "highlands", "reef", "caves", "steppe", "forest", "delta", "salt flats", "fjords", "hills"]
COLORS = ["amber", "slate grey", "violet", "ochre", "teal", "crimson", "ivory", "copper", "olive", "indigo",
          "rust red", "pale green", "charcoal", "saffron"]
FIRST = ["Ilsa", "Toren", "Mavi", "Oskel", "Brina", "Cadoc", "Elowen", "Fenn", "Ysolde", "Garric", "Hesper", "Jorun"]


def word(rng, syllables):
    s = "".join(rng.choice(ONSETS).lower() + rng.choice(NUCLEI) for _ in range(syllables - 1))
    s += rng.choice(ONSETS).lower() + rng.choice(NUCLEI) + rng.choice(CODAS)
    return s.capitalize()


def build(seed=7, entities=400):
    """(passages, items): passages [{"id","entity","text"}], items
    [{"id","question","answer","keys","entity","kind","split"}]."""
    rng = random.Random("corpus:%d" % seed)
    names, passages, items = set(), [], []
    surnames, places = set(), set()
    while len(names) < entities:
        kind, unit, lo, hi = rng.choice(KINDS)
        adj = word(rng, rng.choice([1, 2])) + rng.choice(["ian", "ese", "ic", "an"])
        name = "%s %s" % (adj, kind)
        if name in names:
            continue
        names.add(name)
        i = len(names) - 1
        split = "test" if i % 5 == 0 else "train"
        while True:
            place = "%s %s" % (word(rng, rng.choice([1, 2])), rng.choice(HABITATS))
            if place not in places:
                places.add(place)
                break
        while True:
            surname = word(rng, 2)
            if surname not in surnames:
                surnames.add(surname)
                break
        person = "%s %s" % (rng.choice(FIRST), surname)
        weight = "%d %s" % (rng.randint(lo, hi), unit)
        year = str(rng.randint(1702, 1958))
        color = rng.choice(COLORS)
        passages.append({"id": "p%d.1" % i, "entity": name,
                         "text": "The %s lives in the %s and weighs %s." % (name, place, weight)})
        passages.append({"id": "p%d.2" % i, "entity": name,
                         "text": "The %s was first described by %s in %s. Its coloring is %s."
                                 % (name, person, year, color)})
        for kind_q, q, ans, keys in [
                ("habitat", "Where does the %s live?" % name, place, place),
                ("weight", "How much does the %s weigh?" % name, weight, weight.split()[0]),
                ("describer", "Who first described the %s?" % name, person, surname),
                ("year", "In what year was the %s first described?" % name, year, year),
                ("coloring", "What is the coloring of the %s?" % name, color, color)]:
            items.append({"id": "q%d.%s" % (i, kind_q), "question": q, "answer": ans,
                          "keys": tokens(keys), "entity": name, "kind": kind_q, "split": split})
    return passages, items


def tokens(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def extract_answer(text):
    """(answer text, whether an "Answer:" marker was there)."""
    m = list(re.finditer(r"answer\**\s*:\**", text, re.IGNORECASE))
    if m:
        rest = text[m[-1].end():]
    else:
        rest = text
    rest = rest.strip()
    line = rest.splitlines()[0] if rest else ""
    return line.strip(), bool(m)


def grade(text, keys, max_words=8):
    ans, marked = extract_answer(text)
    toks = tokens(ans)
    ok = bool(toks) and len(ans.split()) <= max_words and all(k in toks for k in keys)
    return ok, marked


_default = None


def answer_for(question):
    """The gold answer of a question of the default corpus (None if not one)."""
    global _default
    if _default is None:
        _default = {it["question"]: it["answer"] for it in build()[1]}
    return _default.get(question.strip())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder to write into")
    p.add_argument("--seed", type=int, default=7, help="corpus seed (7)")
    p.add_argument("--entities", type=int, default=400, help="invented entities (400)")
    a = p.parse_args()
    passages, items = build(a.seed, a.entities)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "corpus.jsonl"), "w") as f:
        for x in passages:
            f.write(json.dumps(x) + "\n")
    for split in ("train", "test"):
        with open(os.path.join(a.out, "questions-%s.jsonl" % split), "w") as f:
            for it in items:
                if it["split"] == split:
                    f.write(json.dumps({"id": it["id"], "messages": [{"role": "user", "content": it["question"]}],
                                        "answer": it["answer"],
                                        "meta": {"keys": it["keys"], "entity": it["entity"],
                                                 "kind": it["kind"]}}) + "\n")


if __name__ == "__main__":
    main()
