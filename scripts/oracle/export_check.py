#!/usr/bin/env python3
"""Checks tk-merge's exports against the reference stack, and records PEFT's
logits for tk's own forward to match.

  scripts/oracle/export_check.py   (run from the repository root, after make)

1. build/tests/test_export, with TK_EXPORT_KEEP, writes a random rank-4
   adapter on every target of tests/fixtures/tiny-llama (adapter.tkc), the
   model with it folded in as an HF folder (hf/) and as a PEFT folder
   (peft/).
2. transformers loads hf/; PEFT loads peft/ onto the original tiny-llama;
   their logits on a few prompts must agree within 1e-4.
3. tk-merge writes GGUF, which the gguf package reads back: tensors, shapes,
   architecture and tokenizer metadata.
4. PEFT's logits go to tests/fixtures/export/peft_logits.json, and the
   adapter to tests/fixtures/export/adapter.tkc.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

ROOT = os.getcwd()
TINY = os.path.join(ROOT, "tests/fixtures/tiny-llama")
PROMPTS = [[1, 20, 300, 45, 7, 99, 2], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [400]]


def logits_of(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def main():
    work = tempfile.mkdtemp(prefix="tk-export-")
    env = dict(os.environ, TK_EXPORT_KEEP=work, TKT_TMPDIR=work)
    # its last test compares with the fixture this script writes, so its
    # status is not ours: what counts is that the exports are there
    subprocess.run(["build/tests/test_export"], env=env, stdout=subprocess.DEVNULL)
    for name in ("adapter.tkc", "hf/model.safetensors", "peft/adapter_model.safetensors"):
        assert os.path.exists(os.path.join(work, name)), f"test_export wrote no {name}"

    merged = AutoModelForCausalLM.from_pretrained(os.path.join(work, "hf"), dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32)
    peft = PeftModel.from_pretrained(base, os.path.join(work, "peft"))
    plain = AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32)
    worst, moved = 0.0, 0.0
    fixture = []
    for ids in PROMPTS:
        a, b, c = logits_of(merged, ids), logits_of(peft, ids), logits_of(plain, ids)
        worst = max(worst, float(np.abs(a - b).max()))
        moved = max(moved, float(np.abs(b - c).max()))
        fixture.append({"tokens": ids, "logits": [[round(float(x), 7) for x in row] for row in b]})
    print(f"hf export vs PEFT(base + peft export): max abs logit difference {worst:.3g}")
    print(f"the adapter moves the logits by up to {moved:.3g} (it is not a no-op)")
    assert worst < 1e-4, worst
    assert moved > 1e-2, moved

    gguf_path = os.path.join(work, "merged.gguf")
    subprocess.run(["build/bin/tk-merge", "-m", TINY, "-a", os.path.join(work, "adapter.tkc"),
                    "-o", gguf_path], check=True)
    from gguf import GGUFReader
    r = GGUFReader(gguf_path)
    names = {t.name: [int(d) for d in t.shape] for t in r.tensors}
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    n_vocab = len(r.fields["tokenizer.ggml.tokens"].data)
    print(f"gguf export: {len(names)} tensors, architecture {arch}, {n_vocab} tokens")
    assert arch == "llama" and n_vocab == 512 and len(names) == 21, (arch, n_vocab, len(names))
    assert "blk.1.ffn_down.weight" in names and "token_embd.weight" in names

    os.makedirs("tests/fixtures/export", exist_ok=True)
    # the adapter itself, for the command tests (tests/merge.bats)
    with open(os.path.join(work, "adapter.tkc"), "rb") as src, \
            open("tests/fixtures/export/adapter.tkc", "wb") as dst:
        dst.write(src.read())
    with open("tests/fixtures/export/peft_logits.json", "w") as f:
        json.dump({"adapter": "test_export's random_adapter (rank 4, alpha 8, all targets)",
                   "prompts": fixture}, f, separators=(",", ":"))
    print("wrote tests/fixtures/export/peft_logits.json")


if __name__ == "__main__":
    sys.exit(main())
