"""The shared serving loop of the environment programs in this folder: the
program side of tk-rl's environment protocol, version 2 (tk-env 2, JSON
Lines over stdin/stdout; see tk-rl(1)).

An environment is an object with three methods:

    reset(request) -> reply dict   (messages, and optionally seat, seats, tools)
    step(request)  -> reply dict   (done, reward / rewards, seat, messages, metrics)
    close(episode_id)              (forget the episode; tk-rl ended it)

serve(env, name) reads one request per line, answers each with exactly one
line naming its "req", flushed at once, and never waits for more input
before answering a request it has; replies go out through a writer thread,
so reading requests never stalls on a full stdout pipe (tk-rl writes all live episodes' requests
of a round before it reads a reply).  Anything else the program prints
(print(), a library's chatter) goes to stderr: sys.stdout is pointed there
while serving, so no stray line can reach tk-rl.  A request that raises
is answered {"req": N, "error": "..."} (the episode fails; tk-rl applies
--episode-failures) and the traceback is logged on stderr.  A reply that
carries a non-finite number (NaN, inf) is turned into such an error too.

Standard library only; imported by the programs beside it (they run with
their own folder first on sys.path).
"""
import json
import queue
import sys
import threading
import traceback

PROTOCOL = 2


class EnvError(Exception):
    """A failure to report as the request's "error" without a traceback
    (an unknown episode, a seat that may not move)."""


def episode(games, r):
    """The state of the request's episode in the dict games, or EnvError."""
    g = games.get(r.get("episode"))
    if g is None:
        raise EnvError("unknown episode %r (never reset, or already ended)" % (r.get("episode"),))
    return g


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def _handle(env, name, r):
    op = r.get("op")
    if op == "hello":
        return {"protocol": PROTOCOL, "name": name}
    if op == "reset":
        return env.reset(r)
    if op == "step":
        return env.step(r)
    if op == "close":
        env.close(r.get("episode"))
        return {}
    raise ValueError("unknown op %r" % (op,))


def serve(env, name):
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints go to stderr, never to tk-rl
    stdin = sys.stdin.buffer
    # Replies are written by a thread of their own, so reading requests never
    # waits on a full stdout pipe: a caller that writes a whole round of
    # requests before reading a reply cannot deadlock with this program.
    replies = queue.Queue()

    def writer():
        broken = False
        while True:
            line = replies.get()
            if line is None:
                return
            if broken:
                continue
            try:
                out.write(line + "\n")
                out.flush()
            except BrokenPipeError:
                broken = True

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    while True:
        raw = stdin.readline()
        if not raw:
            break
        raw = raw.strip()
        if not raw:
            continue
        try:
            r = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            log("%s: ignoring a request line that is not JSON: %s" % (name, e))
            continue
        if not isinstance(r, dict) or not isinstance(r.get("req"), int):
            log("%s: ignoring a request without an integer \"req\": %.200s" % (name, raw))
            continue
        try:
            reply = dict(_handle(env, name, r))
            reply["req"] = r["req"]
            line = json.dumps(reply, allow_nan=False, separators=(",", ":"))
        except EnvError as e:
            log("%s: req %s (%s): %s" % (name, r["req"], r.get("op"), e))
            line = json.dumps({"req": r["req"], "error": str(e)})
        except Exception as e:  # the episode fails, the program goes on
            log("%s: req %s (%s, episode %s) failed:" % (name, r["req"], r.get("op"), r.get("episode")))
            traceback.print_exc(file=sys.stderr)
            line = json.dumps({"req": r["req"], "error": "%s: %s" % (type(e).__name__, e)})
        replies.put(line)
    replies.put(None)
    w.join()


def content_of(request):
    """The text of a step's assistant message: message.content (the
    completion without its tool calls and <think> block, as the chat format
    parsed it); the raw completion "text" only when there is no message."""
    msg = request.get("message")
    if not isinstance(msg, dict):
        t = request.get("text")
        return t if isinstance(t, str) else ""
    c = msg.get("content")
    if isinstance(c, list):  # content parts
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return c if isinstance(c, str) else ""
