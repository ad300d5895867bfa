#!/usr/bin/env python3
"""Tic-tac-toe: an environment program for tk-rl --env episodes (tk-env
protocol 2; see README.md beside this file and tk-rl(1)).

Game: a 3x3 board, cells numbered 1-9 row by row; X (seat 0) moves first.
The seat to move gets the board (free cells shown by their number) and its
mark as a user message and answers "Move: N".  Parsing: the first
"Move: N" (case-insensitive, "Move N" accepted), else a message that is
just one digit, else (with --lenient, for small models that rarely keep a
format) the first lone digit 1-9 of the reply; anything else is
unparsable.

Who plays:
  - training episodes ("split":"train"): self-play by default
    ("seats":["policy","policy"]: both seats are the policy, both trained);
    --train-opponent random|minimax makes the program play seat 1 instead.
  - test episodes ("split":"test", tk-rl --evaluate): the policy plays seat
    0 against the program's scripted player --opponent random|minimax
    (default random; "seats":["policy"]).  The scripted player makes its
    moves inside the replies (when it moves first, inside the reset reply's
    board).  --opponent self makes test episodes self-play too.
  With a scripted opponent, who moves first is drawn from the seed (--first
  policy|opponent|seed, default seed: half the groups each way); X always
  moves first, so the policy's mark is X or O accordingly.
  random: a uniformly random free cell; minimax: a perfect player (never
  loses; ties among its best moves broken at random).  Both are seeded from
  the reset's seed, so a group's episodes meet the same opponent.

Rewards, at the end of the episode: win 1, draw DRAW (default 0), loss -1.
An illegal move (an occupied cell, a number outside 1-9) or an unparsable
one ends the game: that seat gets ILLEGAL (default -1), the other seat
FORFEIT (default 0: the other seat did nothing to earn a win).
Self-play: "rewards":[r0, r1] on the final reply.  Scripted opponent: the
policy's "reward" on its final reply (the scripted moves happen inside the
policy's replies, so the policy is always the seat that just moved).

Metrics (final reply; seat 0's view in self-play, the policy's with an
opponent): win, draw, loss (0/1), illegal (0/1: the game ended on an
illegal or unparsable move, by either seat in self-play), moves (cells
filled), policy_first (0/1, scripted opponent only).

Options: --opponent, --train-opponent, --first, --draw-reward,
--illegal-reward, --forfeit-reward, --system (a short system message).
"""
import argparse
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkenv  # noqa: E402

LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]
MOVE = re.compile(r"move\**\s*[:=]?\s*\**\s*(-?\d+)", re.IGNORECASE)


def winner(b):
    for i, j, k in LINES:
        if b[i] and b[i] == b[j] == b[k]:
            return b[i]
    return "draw" if all(b) else None


def other(mark):
    return "O" if mark == "X" else "X"


_memo = {}


def _value(b, mark):
    """The game's value for `mark`, who is to move: 1 win, 0 draw, -1 loss."""
    key = ("".join(c or "." for c in b), mark)
    if key not in _memo:
        w = winner(b)
        if w == "draw":
            v = 0
        elif w:
            v = 1 if w == mark else -1
        else:
            v = -2
            for i in range(9):
                if not b[i]:
                    b[i] = mark
                    v = max(v, -_value(b, other(mark)))
                    b[i] = ""
        _memo[key] = v
    return _memo[key]


def best_move(b, mark, rng):
    """A perfect move (0-8) for `mark` on board b; ties broken by rng."""
    best, moves = -3, []
    for i in range(9):
        if not b[i]:
            b[i] = mark
            v = -_value(b, other(mark))
            b[i] = ""
            if v > best:
                best, moves = v, [i]
            elif v == best:
                moves.append(i)
    return rng.choice(moves)


def show(b):
    rows = [" %s | %s | %s " % tuple(b[r * 3 + c] or str(r * 3 + c + 1) for c in range(3)) for r in range(3)]
    return "\n---+---+---\n".join(rows)


def parse_move(text, lenient=False):
    m = MOVE.search(text)
    if m:
        return int(m.group(1))
    t = text.strip().strip(".*`")
    if re.fullmatch(r"\d", t):
        return int(t)
    # --lenient: the first lone digit 1-9 ("I take 5."), for small models
    m = re.search(r"(?<!\d)[1-9](?!\d)", text) if lenient else None
    return int(m.group(0)) if m else None


class TicTacToe:
    def __init__(self, args):
        self.a = args
        self.games = {}

    def prompt(self, g, mark, before=""):
        return {"role": "user", "content":
                "%sYou play %s in tic-tac-toe. The board (free cells show their number):\n%s\n"
                "Answer with 'Move: N', N a free cell from 1 to 9."
                % (before, mark, show(g["board"]))}

    def reset(self, r):
        a = self.a
        test = r.get("split") == "test"
        opp = a.opponent if test else a.train_opponent
        opp = None if opp == "self" else opp
        seed = int(r.get("seed", 0))
        rng = random.Random("%s:%d" % ("test" if test else "train", seed))
        g = {"board": [""] * 9, "opponent": opp, "rng": rng, "moves": 0}
        self.games[r["episode"]] = g
        msgs = []
        if a.system:
            msgs.append({"role": "system", "content": "You are a tic-tac-toe player."})
        if opp is None:
            g["marks"] = ["X", "O"]
            msgs.append(self.prompt(g, "X"))
            return {"seat": 0, "seats": ["policy", "policy"], "messages": msgs}
        first = a.first if a.first != "seed" else ("policy" if rng.random() < 0.5 else "opponent")
        g["policy_first"] = int(first == "policy")
        g["marks"] = ["X", "O"] if first == "policy" else ["O", "X"]
        before = ""
        if first == "opponent":
            n = self.opponent_move(g)
            before = "Your opponent (X) played %d. " % (n + 1)
        msgs.append(self.prompt(g, g["marks"][0], before))
        return {"seat": 0, "seats": ["policy"], "messages": msgs}

    def opponent_move(self, g):
        b, mark = g["board"], g["marks"][1]
        if g["opponent"] == "minimax":
            n = best_move(b, mark, g["rng"])
        else:
            n = g["rng"].choice([i for i in range(9) if not b[i]])
        b[n] = mark
        g["moves"] += 1
        return n

    def step(self, r):
        a = self.a
        g = tkenv.episode(self.games, r)
        seat = r.get("seat", 0)
        nseats = 1 if g["opponent"] else 2
        if seat not in range(nseats) or seat != g.get("turn_seat", 0):
            raise tkenv.EnvError("seat %r may not move now (seat %d to move)" % (seat, g.get("turn_seat", 0)))
        b, mark = g["board"], g["marks"][seat]
        n = parse_move(tkenv.content_of(r), a.lenient)
        if n is None or not 1 <= n <= 9 or b[n - 1]:
            return self.end(r, g, loser=seat, illegal=True)
        b[n - 1] = mark
        g["moves"] += 1
        w = winner(b)
        if w:
            return self.end(r, g, loser=None if w == "draw" else 1 - seat)
        if g["opponent"]:
            m = self.opponent_move(g)
            w = winner(b)
            if w:
                return self.end(r, g, loser=None if w == "draw" else 0)
            return {"reward": 0.0, "done": False, "seat": 0,
                    "messages": [self.prompt(g, g["marks"][0], "Your opponent (%s) played %d. "
                                             % (g["marks"][1], m + 1))],
                    "metrics": self.metrics(g, None, False)}
        g["turn_seat"] = 1 - seat
        msgs = [self.prompt(g, g["marks"][1 - seat], "Your opponent (%s) played %d. " % (mark, n))]
        if g["moves"] == 1 and a.system:  # seat 1's conversation starts here
            msgs.insert(0, {"role": "system", "content": "You are a tic-tac-toe player."})
        return {"reward": 0.0, "done": False, "seat": 1 - seat, "messages": msgs,
                "metrics": self.metrics(g, None, False)}

    def metrics(self, g, loser, illegal, done=False):
        m = {"win": int(done and loser == 1), "draw": int(done and loser is None),
             "loss": int(done and loser == 0), "illegal": int(illegal), "moves": g["moves"]}
        if g["opponent"]:
            m["policy_first"] = g["policy_first"]
        return m

    def end(self, r, g, loser, illegal=False):
        """loser: 0/1 (seat index; with an opponent 1 is the opponent), None = draw."""
        a = self.a
        self.games.pop(r["episode"], None)
        if loser is None:
            rs = [a.draw_reward, a.draw_reward]
        elif illegal:
            rs = [a.forfeit_reward, a.forfeit_reward]
            rs[loser] = a.illegal_reward
        else:
            rs = [1.0, 1.0]
            rs[loser] = -1.0
        out = {"done": True, "metrics": self.metrics(g, loser, illegal, True)}
        if g["opponent"]:
            out["reward"] = rs[0]
        else:
            out["rewards"] = rs
        return out

    def close(self, episode):
        self.games.pop(episode, None)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--opponent", default="random", choices=["random", "minimax", "self"],
                   help="who plays seat 1 in test episodes (random)")
    p.add_argument("--train-opponent", default="self", choices=["random", "minimax", "self"],
                   help="who plays seat 1 in training episodes (self: self-play)")
    p.add_argument("--first", default="seed", choices=["policy", "opponent", "seed"],
                   help="with a scripted opponent, who moves first (seed: drawn per group)")
    p.add_argument("--draw-reward", type=float, default=0.0, help="(0)")
    p.add_argument("--illegal-reward", type=float, default=-1.0,
                   help="reward of the seat that moves illegally (-1)")
    p.add_argument("--forfeit-reward", type=float, default=0.0,
                   help="reward of the other seat when a seat moves illegally (0)")
    p.add_argument("--system", action="store_true", help="start with a short system message")
    p.add_argument("--lenient", action="store_true",
                   help="without 'Move: N', the first lone digit 1-9 of the reply is the move")
    tkenv.serve(TicTacToe(p.parse_args()), "tictactoe")


if __name__ == "__main__":
    main()
