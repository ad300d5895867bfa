#!/usr/bin/env python3
"""Guess-the-number: an environment program for tk-rl --env episodes
(tk-env protocol 2; see README.md beside this file and tk-rl(1)).

Game: the program picks a hidden integer in [1, MAX] from the reset's
"seed" (the episodes of a group share the seed, so they share the number).
The model answers "Guess: N" each turn; the program replies, as a user
message, "N is too high", "N is too low" (with the guesses left) or ends the
episode on "correct".  At most MAX_GUESSES guesses.

Parsing: the first "Guess: N" in the assistant message's content (case-
insensitive, "Guess N" and "Guess = N" accepted, markdown stars around it
ignored).  A turn with no such guess is unparsable: it costs the penalty,
counts as one of the guesses, and the episode goes on with a reminder of the
format (so an episode always ends within MAX_GUESSES turns).  A guess
outside [1, MAX] is a valid guess answered "out of range".

Rewards (summed over the episode): solved = 1 + BONUS for each guess left
unused (defaults: 1.0 solved on the 7th guess ... 1.30 on the 1st);
unparsable turn = PENALTY (default -0.1); not solved = 0.

Metrics (last reply of an episode): guesses (turns used), solved (0/1),
unparsable (count).

Split: the number space has no held-out items; "split":"test" episodes
draw their number the same way (seeded), from a different stream than
training ("test" salts the seed), so a test episode never repeats a
training episode's seed-to-number pairing.

Options: --max N (100), --max-guesses K (7), --penalty X (-0.1),
--bonus X (0.05 per unused guess), --system (add a system message).
"""
import argparse
import random
import re
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkenv  # noqa: E402

GUESS = re.compile(r"guess\**\s*(?:[:=]|is)?\s*\**\s*(-?\d+)", re.IGNORECASE)


def parse_guess(text):
    m = GUESS.search(text)
    return int(m.group(1)) if m else None


class GuessNumber:
    def __init__(self, args):
        self.a = args
        self.games = {}

    def reset(self, r):
        a = self.a
        salt = "test" if r.get("split") == "test" else "train"
        rng = random.Random("%s:%d" % (salt, int(r.get("seed", 0))))
        target = rng.randint(1, a.max)
        self.games[r["episode"]] = {"target": target, "guesses": 0, "unparsable": 0}
        msgs = []
        if a.system:
            msgs.append({"role": "system", "content":
                         "You play guess-the-number. Always answer with exactly one line: Guess: N"})
        msgs.append({"role": "user", "content":
                     "I am thinking of an integer from 1 to %d. Find it in at most %d guesses. "
                     "Answer like this: Guess: 50. I will tell you whether your number is too "
                     "high, too low or correct." % (a.max, a.max_guesses)})
        return {"seat": 0, "messages": msgs}

    def step(self, r):
        a = self.a
        g = tkenv.episode(self.games, r)
        g["guesses"] += 1
        left = a.max_guesses - g["guesses"]
        n = parse_guess(tkenv.content_of(r))
        reward = 0.0
        if n is None:
            g["unparsable"] += 1
            reward = a.penalty
            feedback = "I could not read a guess. Answer with 'Guess: N', N an integer from 1 to %d." % a.max
        elif n == g["target"]:
            reward = 1.0 + a.bonus * left
            return self._end(r, g, reward, solved=1)
        elif n < 1 or n > a.max:
            feedback = "%d is out of range: the number is from 1 to %d." % (n, a.max)
        elif n > g["target"]:
            feedback = "%d is too high." % n
        else:
            feedback = "%d is too low." % n
        if left <= 0:
            return self._end(r, g, reward, solved=0)
        feedback += " %d guess%s left." % (left, "" if left == 1 else "es")
        return {"reward": reward, "done": False, "seat": 0,
                "messages": [{"role": "user", "content": feedback}],
                "metrics": self._metrics(g, 0)}

    def _metrics(self, g, solved):
        return {"guesses": g["guesses"], "solved": solved, "unparsable": g["unparsable"]}

    def _end(self, r, g, reward, solved):
        self.games.pop(r["episode"], None)
        return {"reward": reward, "done": True, "metrics": self._metrics(g, solved)}

    def close(self, episode):
        self.games.pop(episode, None)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max", type=int, default=100, help="the number is in [1, MAX] (100)")
    p.add_argument("--max-guesses", type=int, default=7, help="guesses per episode (7)")
    p.add_argument("--penalty", type=float, default=-0.1, help="reward of an unparsable turn (-0.1)")
    p.add_argument("--bonus", type=float, default=0.05, help="extra reward per unused guess when solved (0.05)")
    p.add_argument("--system", action="store_true", help="start with a short system message")
    a = p.parse_args()
    if a.max < 1 or a.max_guesses < 1:
        p.error("--max and --max-guesses must be at least 1")
    tkenv.serve(GuessNumber(a), "guess_number")


if __name__ == "__main__":
    main()
