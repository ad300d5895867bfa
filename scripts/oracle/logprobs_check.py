#!/usr/bin/env python3
"""Checks tk-eval logprobs against transformers on SmolLM2-135M-Instruct.

A few texts (prose, code, numbers, one long enough to cross the scorer's
128-position chunks) and two chats are rendered by tk-render and scored by
`tk-eval logprobs --top-k K`; transformers loads the same GGUF (dequantized
by gguf-py, the values tk reads) and runs the same token ids.  Compared,
against log_softmax of transformers' float32 logits taken in float64:

  - each token's logprob;
  - the top-K logprobs, at tk's ids and as sorted values;
  - the top-K ids: a difference counts only where the two ids' logprobs
    differ by more than the tolerance (a near-tie may fall either way).

and, for the texts (every token weighted), `tk-eval nll --per-record`'s
nats (the trainer's fused cross-entropy, its log-sum-exp summed in
double) against transformers' sums: the difference over a record's
tokens, of the worst record.

Prints the max |err| of each and exits 1 when one is above 1e-4.

Usage (from the repository root, after make):
  "$(scripts/oracle/venv.sh)" scripts/oracle/logprobs_check.py \
      [--bin build/bin] [--k 5] [--threads 2] [SMOLLM2.gguf]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOLERANCE = 1e-4
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "In 1969, 3 astronauts flew 384,400 km to the Moon; the trip took about 76 hours.",
    " ".join([
        "Photosynthesis is the process by which green plants, algae and some bacteria",
        "turn light energy into chemical energy. In the chloroplasts, chlorophyll absorbs",
        "mostly blue and red light, and the energy drives the splitting of water into",
        "oxygen, protons and electrons. The electrons pass along a chain of carriers in",
        "the thylakoid membrane, pumping protons that power the synthesis of ATP, while",
        "NADPH is made at the end of the chain. In the Calvin cycle, which runs in the",
        "stroma, the enzyme RuBisCO fixes carbon dioxide onto a five-carbon sugar, and",
        "the ATP and NADPH from the light reactions reduce the products to sugars that",
        "the plant uses for growth or stores as starch. Almost all life on Earth depends",
        "on this process, directly or through food chains, and the oxygen it releases",
        "made the atmosphere we breathe over billions of years.",
    ]),
]
CHATS = [
    {"messages": [{"role": "user", "content": "What is the capital of France?"},
                  {"role": "assistant", "content": "The capital of France is Paris."}]},
    {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                  {"role": "user", "content": "Name three primary colours."},
                  {"role": "assistant", "content": "Red, yellow and blue."}]},
]


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def tk_scores(args, work):
    """tk-eval logprobs' lines for the texts and the chats."""
    texts = os.path.join(work, "texts.jsonl")
    chats = os.path.join(work, "chats.jsonl")
    with open(texts, "w") as f:
        for t in TEXTS:
            f.write(json.dumps({"text": t}) + "\n")
    with open(chats, "w") as f:
        for c in CHATS:
            f.write(json.dumps(c) + "\n")
    tk = lambda name: os.path.join(args.bin, name)
    lines = []
    for src, mode in ((texts, ["--text"]), (chats, [])):
        tks = src.replace(".jsonl", ".tks")
        run([tk("tk-render"), "-q", *mode, "-m", args.gguf, "-o", tks, src])
        out = run([tk("tk-eval"), "logprobs", "-q", "-m", args.gguf, "--top-k", str(args.k),
                   "-t", str(args.threads), tks])
        lines += [json.loads(l) for l in out.splitlines()]
    per = os.path.join(work, "nll.jsonl")
    run([tk("tk-eval"), "nll", "-q", "-m", args.gguf, "-t", str(args.threads),
         "--per-record", per, texts.replace(".jsonl", ".tks")])
    nats = [json.loads(l)["nats"] for l in open(per)]
    return lines, nats


def compare(model, rec, k, worst):
    tokens = rec["tokens"]
    with torch.no_grad():
        logits = model(torch.tensor([tokens])).logits[0].double()
    ref = F.log_softmax(logits, dim=-1)
    for i in range(1, len(tokens)):
        row = ref[i - 1]
        worst["positions"] += 1
        worst["logprob"] = max(worst["logprob"], abs(rec["logprobs"][i] - float(row[tokens[i]])))
        ids, lps = rec["top_ids"][i], rec["top_logprobs"][i]
        want_lp, want_ids = torch.topk(row, k)
        for r in range(k):
            worst["top_at_ids"] = max(worst["top_at_ids"], abs(lps[r] - float(row[ids[r]])))
            worst["top_sorted"] = max(worst["top_sorted"], abs(lps[r] - float(want_lp[r])))
            if ids[r] != int(want_ids[r]):
                worst["id_differences"] += 1
                gap = abs(float(row[ids[r]]) - float(row[int(want_ids[r])]))
                if gap > TOLERANCE:
                    worst["id_mismatches"] += 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("gguf", nargs="?")
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if not args.gguf:
        args.gguf = run([os.path.join(ROOT, "scripts", "get-model.sh"),
                         "smollm2-135m-instruct"]).strip()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="tk-logprobs-") as work:
        records, nats = tk_scores(args, work)
    folder, name = os.path.split(os.path.abspath(args.gguf))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    worst = dict(positions=0, logprob=0.0, top_at_ids=0.0, top_sorted=0.0,
                 id_differences=0, id_mismatches=0)
    for rec in records:
        compare(model, rec, args.k, worst)
    worst["nll"] = 0.0
    for rec, tk_nats in zip(records, nats):  # the texts come first
        with torch.no_grad():
            logits = model(torch.tensor([rec["tokens"]])).logits[0].double()
        ref = F.log_softmax(logits, dim=-1)
        want = -sum(float(ref[i - 1][t]) for i, t in enumerate(rec["tokens"]) if i > 0)
        worst["nll"] = max(worst["nll"], abs(tk_nats - want) / (len(rec["tokens"]) - 1))
    print(f"{len(records)} records, {worst['positions']} positions, top-{args.k}, "
          f"SmolLM2 ({name}) against transformers")
    print(f"logprob of each token: max |err| {worst['logprob']:.3g}")
    print(f"top-{args.k} logprobs at tk's ids: max |err| {worst['top_at_ids']:.3g}")
    print(f"top-{args.k} logprobs, sorted: max |err| {worst['top_sorted']:.3g}")
    print(f"tk-eval nll (the trainer's kernel) on the texts: |err| a token, worst record "
          f"{worst['nll']:.3g}")
    print(f"top-{args.k} ids differing: {worst['id_differences']} "
          f"({worst['id_mismatches']} not near-ties within {TOLERANCE:g})")
    bad = max(worst["logprob"], worst["top_at_ids"], worst["top_sorted"], worst["nll"]) > TOLERANCE
    sys.exit(1 if bad or worst["id_mismatches"] else 0)


if __name__ == "__main__":
    main()
