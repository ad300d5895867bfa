#!/usr/bin/env python3
"""Reference losses, gradients and one AdamW step from PyTorch + PEFT, for
tests/unit/test_train.c.  Writes tests/fixtures/train/:

  lora-ce.safetensors   tiny-llama with a LoRA adapter (rank 4, alpha 8, all
      seven targets; A and B random so that both have gradients, stored as
      init.NAME), a batch of 3 records (batch.tokens, batch.weights,
      batch.starts as f32), the weighted cross-entropy normalised per
      example (loss), per-token logprobs (logprobs), every A/B gradient
      (grad.NAME), the grad norm, and the weights after one clipped AdamW
      step (step.NAME; settings in adamw = lr, beta1, beta2, eps, wd, clip).
  full-ce.safetensors   tiny-llama-tied trained fully, the same batch,
      normalised per token: loss and the gradient of every weight.
  lora-dpo.safetensors  tiny-llama with the same adapter, two preference
      pairs (chosen, rejected), DPO with beta 0.5 against the base model
      without the adapter: loss and every A/B gradient.

With --families, instead (the files above untouched):
  qwen3-lora-ce.safetensors, mistral-lora-ce.safetensors   as lora-ce (no
      AdamW step) on tiny-qwen3 (q/k norms) and tiny-mistral (a window of 8
      keys; records of 9 and 12 tokens exceed it).
  qwen3-full-ce.safetensors   as full-ce on tiny-qwen3: the q/k norm
      weights' gradients included.

Records are run one at a time (a packed row in tk: attention never crosses
records, so the two agree).  float32 on the CPU, eager attention.

Usage: "$(scripts/oracle/venv.sh)" scripts/oracle/train_fixtures.py [--families]
"""
import os
import sys

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "train")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ADAMW = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, wd=0.1, clip=0.05)
DPO_BETA = 0.5

g = torch.Generator().manual_seed(1234)


def record(n):
    tokens = torch.randint(0, 512, (n,), generator=g)
    weights = (torch.rand(n, generator=g) * 2).round(decimals=2)
    weights[: n // 3] = 0  # a prompt part
    return tokens, weights


def load(name):
    m = AutoModelForCausalLM.from_pretrained(os.path.join(FIX, name), dtype=torch.float32,
                                             attn_implementation="eager")
    m.eval()
    return m


def with_lora(model):
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, lora_dropout=0.0)
    pm = get_peft_model(model, cfg)
    init = {}
    for name, p in pm.named_parameters():
        if "lora_" in name:
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            init[tk_name(name)] = p.detach().clone()
    return pm, init


def tk_name(name):
    return name.replace(".default", "")


def token_logprobs(model, tokens):
    logits = model(tokens[None]).logits[0].float()
    lp = F.log_softmax(logits, dim=-1)
    out = torch.zeros(len(tokens))
    out = torch.cat([torch.zeros(1), lp[:-1].gather(1, tokens[1:, None])[:, 0]])
    return out


def ce_loss(model, records, per_example):
    total = sum(w[1:].sum() for _, w in records)
    loss, lps = 0.0, []
    for tokens, w in records:
        lp = token_logprobs(model, tokens)
        lps.append(lp.detach())
        nll = -(w[1:] * lp[1:]).sum()
        loss = loss + (nll / w[1:].sum() / len(records) if per_example else nll / total)
    return loss, torch.cat(lps)


def batch_tensors(records):
    starts = [0]
    for t, _ in records:
        starts.append(starts[-1] + len(t))
    return {
        "batch.tokens": torch.cat([t for t, _ in records]).float(),
        "batch.weights": torch.cat([w for _, w in records]).float(),
        "batch.starts": torch.tensor(starts, dtype=torch.float32),
    }


def lora_grads(pm):
    return {"grad." + tk_name(n): p.grad.detach().clone()
            for n, p in pm.named_parameters() if p.requires_grad}


def lora_ce(records, folder="tiny-llama", name="lora-ce", step=True):
    pm, init = with_lora(load(folder))
    loss, lps = ce_loss(pm, records, per_example=True)
    loss.backward()
    out = {"init." + k: v for k, v in init.items()}
    out.update(lora_grads(pm))
    if not step:
        out.update(batch_tensors(records))
        out["loss"] = loss.detach().reshape(1)
        out["logprobs"] = lps
        save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, name + ".safetensors"))
        return init
    params = [p for p in pm.parameters() if p.requires_grad]
    norm = torch.nn.utils.clip_grad_norm_(params, ADAMW["clip"])
    opt = torch.optim.AdamW(params, lr=ADAMW["lr"], betas=(ADAMW["beta1"], ADAMW["beta2"]),
                            eps=ADAMW["eps"], weight_decay=ADAMW["wd"])
    opt.step()
    for n, p in pm.named_parameters():
        if p.requires_grad:
            out["step." + tk_name(n)] = p.detach().clone()
    out.update(batch_tensors(records))
    out["loss"] = loss.detach().reshape(1)
    out["logprobs"] = lps
    out["grad_norm"] = norm.detach().reshape(1)
    out["adamw"] = torch.tensor([ADAMW[k] for k in ("lr", "beta1", "beta2", "eps", "wd", "clip")])
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, "lora-ce.safetensors"))
    return init


def full_ce(records, folder="tiny-llama-tied", name="full-ce"):
    m = load(folder)
    loss, _ = ce_loss(m, records, per_example=False)
    loss.backward()
    out = {"grad." + n: p.grad.detach().clone() for n, p in m.named_parameters()}
    out.update(batch_tensors(records))
    out["loss"] = loss.detach().reshape(1)
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, name + ".safetensors"))


def lora_dpo(pairs, init):
    pm, _ = with_lora(load("tiny-llama"))
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if p.requires_grad:
                p.copy_(init[tk_name(n)])
    records = [r for pair in pairs for r in pair]

    def seq_logprob(tokens, w):
        return (w[1:] * token_logprobs(pm, tokens)[1:]).sum()

    with torch.no_grad(), pm.disable_adapter():
        ref = [seq_logprob(t, w) for t, w in records]
    pi = [seq_logprob(t, w) for t, w in records]
    loss = 0.0
    for k in range(len(pairs)):
        z = DPO_BETA * ((pi[2 * k] - ref[2 * k]) - (pi[2 * k + 1] - ref[2 * k + 1]))
        loss = loss - F.logsigmoid(z) / len(pairs)
    loss.backward()
    out = lora_grads(pm)
    out.update(batch_tensors(records))
    out["loss"] = loss.detach().reshape(1)
    out["beta"] = torch.tensor([DPO_BETA])
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, "lora-dpo.safetensors"))


def families():
    g.manual_seed(99)
    records = [record(9), record(6), record(12)]
    lora_ce(records, "tiny-qwen3", "qwen3-lora-ce", step=False)
    full_ce(records, "tiny-qwen3", "qwen3-full-ce")
    lora_ce(records, "tiny-mistral", "mistral-lora-ce", step=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:] == ["--families"]:
        families()
        return
    torch.manual_seed(0)
    records = [record(9), record(6), record(12)]
    init = lora_ce(records)
    full_ce(records)
    pairs = [(record(7), record(9)), (record(10), record(5))]
    lora_dpo(pairs, init)


if __name__ == "__main__":
    main()
