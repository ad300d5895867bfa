#!/usr/bin/env python3
"""Reference loss and gradients of the cross-entropy against soft targets
(top-K distillation), from PyTorch autograd, for tests/unit/test_kernels_soft.c.
Writes tests/fixtures/train/soft-ce.safetensors (all float32):

  h (n, c), w (vocab, c)      hidden states and the unembedding
  ids (n, k)                  the teacher's top-K ids, -1 for an empty slot
                              (one row all empty, some rows part empty)
  teacher (n, k)              the teacher's logprobs of those ids (0 where empty)
  weight (n)                  the tokens' loss weights (one 0, one negative)
  q (n, k)                    softmax of teacher over a row's filled slots
  loss (n)                    -weight * sum_k q * log_softmax(h w^T)[ids]
  dh (n, c), dw (vocab, c)    the gradients of sum(loss)

n = 70 crosses tk's 64-token chunk; vocab 1700 is two vocabulary chunks
under a small workspace.  Computed in float64 from the float32 inputs.

Usage: "$(scripts/oracle/venv.sh)" scripts/oracle/soft_ce_fixtures.py
"""
import os

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "train", "soft-ce.safetensors")


def main():
    g = torch.Generator().manual_seed(19)
    n, c, vocab, k = 70, 24, 1700, 5
    h = torch.randn(n, c, generator=g) * 0.7
    w = torch.randn(vocab, c, generator=g) * 0.7
    ids = torch.stack([torch.randperm(vocab, generator=g)[:k] for _ in range(n)]).to(torch.int64)
    teacher = torch.log_softmax(torch.randn(n, k, generator=g) * 2, dim=1)
    teacher, order = teacher.sort(dim=1, descending=True)
    ids = ids.gather(1, order)
    ids[3, :] = -1          # no target
    ids[7, 3:] = -1         # a top-3 in a top-5
    ids[11, 0] = 1699       # the last column of the last chunk
    teacher[ids < 0] = 0
    weight = torch.rand(n, generator=g) + 0.1
    weight[4] = 0.0
    weight[9] = -0.5

    filled = ids >= 0
    hd, wd = h.double().requires_grad_(), w.double().requires_grad_()
    t64 = teacher.double().masked_fill(~filled, float("-inf"))
    q = torch.softmax(t64, dim=1).nan_to_num(0.0)   # the empty row: all 0
    logp = torch.log_softmax(hd @ wd.T, dim=1)
    picked = logp.gather(1, ids.clamp(min=0)) * filled
    loss = -weight.double() * (q * picked).sum(dim=1)
    loss.sum().backward()

    f32 = lambda x: x.detach().float().contiguous()
    save_file({"h": f32(h), "w": f32(w), "ids": f32(ids), "teacher": f32(teacher),
               "weight": f32(weight), "q": f32(q), "loss": f32(loss),
               "dh": f32(hd.grad), "dw": f32(wd.grad)}, OUT)
    print(OUT)


if __name__ == "__main__":
    main()
