#!/usr/bin/env python3
"""Transformers' NLL of six texts under tiny-mistral's sliding window (8
keys; the texts run to 40-60 tokens), for tests/eval.bats: tk-render
--text then tk-eval nll must give the same number within 1e-4.  Writes
tests/fixtures/logits/tiny-mistral-nll.json: the texts, the token ids
(as tk-render --text cuts them: the tokenizer's ids, eos last), the NLL
per weighted token (every token but the first), and the NLL the same
model gives with full attention, to show the window matters.

Usage: "$(scripts/oracle/venv.sh)" scripts/oracle/window_nll.py
"""
import json
import os

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")
MODEL = os.path.join(FIX, "tiny-mistral")
TEXTS = [
    "the cat sat on the mat and the dog ran after the red ball in the sun",
    "once upon a time there was a small green tree that grew by the river bank",
    "red blue green cat dog sun moon tree red blue green cat dog sun moon tree",
    "a model that reads only the last eight tokens forgets the start of this line",
    "numbers like 12, 345 and 6789 cut into pieces the tiny tokenizer knows",
    "the quick brown fox jumps over the lazy dog while the moon rises slowly",
]


def nll(model, ids):
    total, count = 0.0, 0
    for seq in ids:
        with torch.no_grad():
            logits = model(torch.tensor([seq])).logits[0].double()
        lp = F.log_softmax(logits, dim=-1)
        total -= float(lp[:-1].gather(1, torch.tensor(seq[1:])[:, None]).sum())
        count += len(seq) - 1
    return total / count


def main():
    tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    eos = model.config.eos_token_id
    ids = [tok.encode(t).ids + [eos] for t in TEXTS]
    windowed = nll(model, ids)
    model.config.sliding_window = None
    full = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32, sliding_window=None,
                                                attn_implementation="eager").eval()
    out = {"model": "tiny-mistral", "sliding_window": 8, "texts": TEXTS, "tokens": ids,
           "nll": windowed, "nll_full_attention": nll(full, ids)}
    with open(os.path.join(FIX, "logits", "tiny-mistral-nll.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"window 8: {windowed:.6f}   full attention: {out['nll_full_attention']:.6f}")


if __name__ == "__main__":
    main()
