#!/usr/bin/env python3
"""Twenty questions: an environment program for tk-rl --env episodes
(tk-env protocol 2; see README.md beside this file and tk-rl(1)).

Game: a secret word from a built-in list of 40 (animals, foods, objects,
plants; WORDS below, each with a set of attributes), drawn from the reset's
seed.  The guesser (the policy, seat 0) asks one yes/no question a turn
(a reply ending in or holding "?") or guesses with "Guess: WORD".  A wrong
guess is answered "No, it is not WORD." and uses a turn; a reply that is
neither a question nor a guess is unparsable (PENALTY, a reminder, uses a
turn).  At most --max-questions (20) turns; the first user message lists
the 40 candidate words (--no-list hides it).

Answerer:
  scripted (default): knows the word's attributes and answers by keyword
    matching: a question naming one of the 40 words ("Is it a dog?") is
    answered by whether it is that word; otherwise each attribute whose
    keywords occur in the question (KEYWORDS below: "fly"/"wings" -> flies,
    "eat"/"food" -> food, "metal" -> metal, ...) is looked up, and the
    answer is "Yes." when the word has all of them ("Is it a farm
    animal?" = farm and animal), "No." otherwise; no keyword at all:
    "I don't know." (the question still counts).  Negations and "or" are
    not understood.
  partner (--answerer partner): "seats":["policy","partner"]; after each
    question seat 1 (the partner model) moves: its conversation starts with
    a system message holding the secret word and the rules, then each
    question as a user message; the first "yes" or "no" word in its reply
    is the answer ("I don't know." when neither).  Guesses are judged by
    the program, not the partner.  An episode takes up to 2 turns a
    question: give tk-rl --max-turns 2 * max-questions.

Rewards: a right guess = 1 + BONUS per unused turn (default 0.02: 1.38
for a guess on turn 1 ... 1.0 on turn 20); unparsable turn = PENALTY
(-0.1); out of turns: 0.  The partner's turns get 0 (never trained).

Metrics (last reply): questions (guesser turns used), solved (0/1),
guesses, unparsable, unknown ("I don't know" answers), and with the
partner, partner_agree (the share of the partner's answers that match the
scripted answerer's, over questions the scripted one can answer).

Split: word i is a test word when i % 5 == 0 (8 words): "split":"test"
episodes draw only those, training episodes only the others.

Options: --answerer scripted|partner, --max-questions (20), --penalty
(-0.1), --bonus (0.02), --no-list.
"""
import argparse
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkenv  # noqa: E402


def _w(attrs):
    return set(attrs.split())


WORDS = {
    "dog": _w("alive animal mammal pet legs"), "cat": _w("alive animal mammal pet legs small"),
    "horse": _w("alive animal mammal farm legs big"), "cow": _w("alive animal mammal farm legs big"),
    "elephant": _w("alive animal mammal wild legs big"), "mouse": _w("alive animal mammal wild legs small"),
    "whale": _w("alive animal mammal wild water big"), "eagle": _w("alive animal bird wild flies legs"),
    "chicken": _w("alive animal bird farm legs food"), "penguin": _w("alive animal bird wild water legs"),
    "shark": _w("alive animal fish wild water big"), "goldfish": _w("alive animal fish pet water small"),
    "bee": _w("alive animal insect wild flies small legs"), "ant": _w("alive animal insect wild small legs"),
    "snake": _w("alive animal reptile wild"), "frog": _w("alive animal wild water small legs"),
    "apple": _w("food fruit sweet plant small kitchen"), "banana": _w("food fruit sweet plant small kitchen"),
    "carrot": _w("food vegetable plant small kitchen"), "potato": _w("food vegetable plant small kitchen"),
    "bread": _w("food kitchen"), "cheese": _w("food kitchen"), "chocolate": _w("food sweet small"),
    "pizza": _w("food kitchen"), "car": _w("vehicle wheels metal big"), "bicycle": _w("vehicle wheels metal"),
    "airplane": _w("vehicle wheels metal big flies"), "boat": _w("vehicle water big"),
    "train": _w("vehicle wheels metal big"), "chair": _w("furniture wood legs"),
    "table": _w("furniture wood legs kitchen"), "bed": _w("furniture wood legs big"),
    "spoon": _w("kitchen metal small tool"), "knife": _w("kitchen metal small tool"),
    "hammer": _w("tool metal small"), "phone": _w("electronic small"), "computer": _w("electronic"),
    "shoe": _w("clothing small"), "tree": _w("alive plant wood wild big"), "rose": _w("alive plant small"),
}
NAMES = list(WORDS)

# The question each attribute is asked with by scripted guessers (proto_check's twentyq-halving).
QUESTIONS = [
    ("alive", "Is it alive?"), ("animal", "Is it an animal?"), ("mammal", "Is it a mammal?"),
    ("bird", "Is it a bird?"), ("fish", "Is it a fish?"), ("insect", "Is it an insect?"),
    ("reptile", "Is it a reptile?"), ("pet", "Is it kept as a pet?"), ("farm", "Does it live on a farm?"),
    ("wild", "Does it live in the wild?"), ("flies", "Can it fly?"), ("water", "Does it swim or float on water?"),
    ("big", "Is it bigger than a person?"), ("small", "Does it fit in your hand?"), ("legs", "Does it have legs?"),
    ("food", "Can you eat it?"), ("fruit", "Is it a fruit?"), ("vegetable", "Is it a vegetable?"),
    ("sweet", "Is it sweet?"), ("vehicle", "Is it a vehicle?"), ("wheels", "Does it have wheels?"),
    ("metal", "Is it made of metal?"), ("wood", "Is it made of wood?"), ("electronic", "Is it electronic?"),
    ("kitchen", "Is it found in a kitchen?"), ("furniture", "Is it furniture?"), ("tool", "Is it a tool?"),
    ("clothing", "Do you wear it?"), ("plant", "Is it a plant?"),
]

# Keywords (regular expressions over the lower-case question) of each attribute.
KEYWORDS = {
    "alive": r"\balive\b|\bliving\b", "animal": r"\banimals?\b|\bcreature", "mammal": r"\bmammal",
    "bird": r"\bbirds?\b|feather", "fish": r"\bfish(es)?\b|\bfins?\b", "insect": r"\binsects?\b|\bbugs?\b",
    "reptile": r"\breptile|\bscales\b", "pet": r"\bpets?\b|domestic", "farm": r"\bfarm",
    "wild": r"\bwild|jungle|forest", "flies": r"\bfly\b|\bflies\b|\bflying\b|\bwings?\b",
    "water": r"water|\bswim|\bsea\b|ocean|river|\blake", "big": r"\bbig|large|huge|heavy",
    "small": r"\bsmall|\bhand\b|tiny|little|pocket", "legs": r"\blegs?\b", "food": r"\beat|edible|\bfood",
    "fruit": r"\bfruit", "vegetable": r"vegetable", "sweet": r"\bsweet|sugar|dessert",
    "vehicle": r"vehicle|transport|\bride\b|\bdrive", "wheels": r"\bwheel", "metal": r"metal|steel|iron",
    "wood": r"\bwood", "electronic": r"electr|batter|\bplug|screen", "kitchen": r"kitchen|\bcook",
    "furniture": r"furniture|sit on", "tool": r"\btools?\b", "clothing": r"\bwear|cloth",
    "plant": r"\bplants?\b|flower|\bgrows?\b",
}
GUESS = re.compile(r"guess\**\s*[:=]?\s*\**\s*(?:(?:a|an|the)\s+)?([a-z]+)", re.IGNORECASE)


def named_word(text):
    t = text.lower()
    for w in NAMES:
        if re.search(r"\b%ss?\b" % w, t):
            return w
    return None


def scripted_answer(word, question):
    """"Yes.", "No." or "I don't know." for a question about word."""
    n = named_word(question)
    if n:
        return "Yes." if n == word else "No."
    q = question.lower()
    attrs = [a for a, rx in KEYWORDS.items() if re.search(rx, q)]
    if not attrs:
        return "I don't know."
    return "Yes." if all(a in WORDS[word] for a in attrs) else "No."


def parse_guess(text):
    m = GUESS.search(text)
    if not m:
        return None
    g = m.group(1).lower()
    return g[:-1] if g not in WORDS and g.endswith("s") and g[:-1] in WORDS else g


def parse_yes_no(text):
    m = re.search(r"\b(yes|no)\b", text.lower())
    return (m.group(1).capitalize() + ".") if m else "I don't know."


class TwentyQuestions:
    def __init__(self, a):
        self.a = a
        self.games = {}
        self.split = {"test": [w for i, w in enumerate(NAMES) if i % 5 == 0],
                      "train": [w for i, w in enumerate(NAMES) if i % 5 != 0]}

    def reset(self, r):
        a = self.a
        split = "test" if r.get("split") == "test" else "train"
        word = random.Random("%s:%d" % (split, int(r.get("seed", 0)))).choice(self.split[split])
        self.games[r["episode"]] = {"word": word, "questions": 0, "guesses": 0, "unparsable": 0,
                                    "unknown": 0, "agree": 0, "judged": 0, "pending": None,
                                    "partner_started": False}
        text = ("Let's play twenty questions. I am thinking of a word%s. Ask me one yes/no question "
                "per turn (ending with '?'), or guess with 'Guess: WORD'. You have %d turns; a wrong "
                "guess uses one." % ("" if a.no_list else " (one of: %s)" % ", ".join(NAMES), a.max_questions))
        out = {"seat": 0, "messages": [{"role": "user", "content": text}]}
        if a.answerer == "partner":
            out["seats"] = ["policy", "partner"]
        return out

    def metrics(self, g, solved=0):
        m = {"questions": g["questions"], "solved": solved, "guesses": g["guesses"],
             "unparsable": g["unparsable"], "unknown": g["unknown"]}
        if self.a.answerer == "partner":
            m["partner_agree"] = g["agree"] / g["judged"] if g["judged"] else 0.0
        return m

    def to_guesser(self, g, answer, reward=0.0):
        left = self.a.max_questions - g["questions"]
        if left <= 0:
            return {"reward": reward, "done": True, "metrics": self.metrics(g)}
        return {"reward": reward, "done": False, "seat": 0,
                "messages": [{"role": "user", "content": "%s (%d turn%s left.)"
                              % (answer, left, "" if left == 1 else "s")}],
                "metrics": self.metrics(g)}

    def step(self, r):
        a = self.a
        g = tkenv.episode(self.games, r)
        seat = r.get("seat", 0)
        want = 1 if g["pending"] is not None else 0
        if seat != want:
            raise tkenv.EnvError("seat %r may not move now (seat %d to move)" % (seat, want))
        text = tkenv.content_of(r)
        if seat == 1:  # the partner's answer to the pending question
            answer = parse_yes_no(text)
            truth = scripted_answer(g["word"], g["pending"])
            g["pending"] = None
            if answer == "I don't know.":
                g["unknown"] += 1
            if truth != "I don't know.":
                g["judged"] += 1
                g["agree"] += int(answer == truth)
            out = self.to_guesser(g, answer)
            if out["done"]:
                self.games.pop(r["episode"], None)
            return out
        g["questions"] += 1
        guess = parse_guess(text)
        reward = 0.0
        if guess is not None:
            g["guesses"] += 1
            if guess == g["word"]:
                self.games.pop(r["episode"], None)
                return {"reward": 1.0 + a.bonus * (a.max_questions - g["questions"]), "done": True,
                        "metrics": self.metrics(g, 1)}
            answer = "No, it is not %s." % guess
        elif "?" in text:
            question = text.strip()
            if a.answerer == "partner":
                g["pending"] = question
                msgs = []
                if not g["partner_started"]:
                    g["partner_started"] = True
                    msgs.append({"role": "system", "content":
                                 "You answer in a game of twenty questions. The secret word is \"%s\". "
                                 "Answer each question about it with Yes or No only." % g["word"]})
                msgs.append({"role": "user", "content": question})
                return {"reward": 0.0, "done": False, "seat": 1, "messages": msgs, "metrics": self.metrics(g)}
            answer = scripted_answer(g["word"], question)
            if answer == "I don't know.":
                g["unknown"] += 1
        else:
            g["unparsable"] += 1
            reward = a.penalty
            answer = "Ask a yes/no question ending with '?', or guess with 'Guess: WORD'."
        out = self.to_guesser(g, answer, reward)
        if out["done"]:
            self.games.pop(r["episode"], None)
        return out

    def close(self, episode):
        self.games.pop(episode, None)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--answerer", default="scripted", choices=["scripted", "partner"],
                   help="who answers the questions (scripted)")
    p.add_argument("--max-questions", type=int, default=20, help="guesser turns per episode (20)")
    p.add_argument("--penalty", type=float, default=-0.1, help="reward of an unparsable turn (-0.1)")
    p.add_argument("--bonus", type=float, default=0.02, help="extra reward per unused turn when solved (0.02)")
    p.add_argument("--no-list", action="store_true", help="do not list the candidate words")
    tkenv.serve(TwentyQuestions(p.parse_args()), "twenty_questions")


if __name__ == "__main__":
    main()
