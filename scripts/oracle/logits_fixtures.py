#!/usr/bin/env python3
"""Reference logits and greedy generations from transformers, for
tests/unit/test_forward*.c.  Writes tests/fixtures/logits/:

  tiny-llama.json, tiny-llama-tied.json, tiny-qwen3.json, tiny-mistral.json + .f32
      token-id prompts of several lengths and the logits of every position
      of each (float32 little-endian, rows back to back, vocab 512), and a
      greedy generation of 32 tokens from each prompt;
  tiny-llama-lora.safetensors + tiny-llama-lora.json + .f32
      a PEFT LoRA adapter (rank 4, alpha 8, all seven targets, B random so
      it changes the output) and the logits of the adapted tiny-llama;
  smollm2.json + smollm2.f32
      SmolLM2-135M-Instruct built in transformers from the same GGUF that
      tk loads (gguf_file=, dequantized by gguf-py): a few short prompts,
      the logits of their last position at every STRIDE-th vocabulary id
      (the file stays small), and greedy generations of 32 tokens (eos not
      stopping them).

All in float32 on the CPU with eager attention.  The C tests never need
Python; rerun this only to regenerate.

Usage: "$(scripts/oracle/venv.sh)" scripts/oracle/logits_fixtures.py [SMOLLM2.gguf]
       "$(scripts/oracle/venv.sh)" scripts/oracle/logits_fixtures.py --tiny FOLDER...
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "logits")
STRIDE = 7          # SmolLM2 logits kept: ids 0, 7, 14, ...
NEW_TOKENS = 32

TINY_PROMPTS = [
    [1],
    [1, 17, 300, 42, 9, 255],
    [1] + [(i * 37 + 11) % 512 for i in range(20)],
    [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
]

torch.manual_seed(0)
torch.set_grad_enabled(False)


def all_logits(model, ids):
    out = model(torch.tensor([ids]))
    return out.logits[0].float().numpy()


def greedy(model, ids):
    out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         do_sample=False, max_new_tokens=NEW_TOKENS,
                         min_new_tokens=NEW_TOKENS, eos_token_id=None, pad_token_id=0)
    return [int(t) for t in out[0, len(ids):]]


def write(name, meta, rows):
    np.concatenate(rows).astype("<f4").tofile(os.path.join(OUT, name + ".f32"))
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(meta, f)
        f.write("\n")


def tiny(folder):
    model = AutoModelForCausalLM.from_pretrained(os.path.join(FIX, folder),
                                                 torch_dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    rows = [all_logits(model, p) for p in TINY_PROMPTS]
    meta = {"model": folder, "vocab": 512, "prompts": TINY_PROMPTS,
            "rows": "every position of every prompt",
            "greedy": [greedy(model, p) for p in TINY_PROMPTS]}
    write(folder, meta, rows)


def tiny_lora():
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    model = AutoModelForCausalLM.from_pretrained(os.path.join(FIX, "tiny-llama"),
                                                 torch_dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                        "gate_proj", "up_proj", "down_proj"])
    peft = get_peft_model(model, config).eval()
    g = torch.Generator().manual_seed(5)
    tensors = {}
    for name, p in peft.named_parameters():
        if "lora_" in name:
            p.copy_(0.2 * torch.randn(p.shape, generator=g))
            # PEFT's own names carry the adapter name: drop ".default"
            tensors[name.replace(".default", "")] = p.detach().clone().contiguous()
    save_file(tensors, os.path.join(OUT, "tiny-llama-lora.safetensors"))
    rows = [all_logits(peft, p) for p in TINY_PROMPTS]
    meta = {"model": "tiny-llama", "adapter": "tiny-llama-lora.safetensors",
            "r": 4, "lora_alpha": 8, "vocab": 512, "prompts": TINY_PROMPTS,
            "rows": "every position of every prompt"}
    write("tiny-llama-lora", meta, rows)


def smollm2(gguf_path):
    folder, name = os.path.split(gguf_path)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name,
                                                 torch_dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    chat = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                   add_generation_prompt=True, tokenize=True)
    if isinstance(chat, dict) or hasattr(chat, "input_ids"):
        chat = chat["input_ids"]
    prompts = [tok.encode("The quick brown fox"),
               tok.encode("def fibonacci(n):"),
               list(chat)]
    rows = [all_logits(model, p)[-1][::STRIDE] for p in prompts]
    meta = {"model": name, "vocab": int(model.config.vocab_size), "stride": STRIDE,
            "prompts": prompts, "rows": "last position, ids 0, stride, 2 stride, ...",
            "greedy": [greedy(model, p) for p in prompts]}
    write("smollm2", meta, [r[None, :] for r in rows])


def main():
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:2] == ["--tiny"]:
        for folder in sys.argv[2:]:
            tiny(folder)
        return
    tiny("tiny-llama")
    tiny("tiny-qwen3")
    tiny("tiny-mistral")
    tiny("tiny-llama-tied")
    tiny_lora()
    gguf_path = sys.argv[1] if len(sys.argv) > 1 else subprocess.run(
        [os.path.join(ROOT, "scripts", "get-model.sh"), "smollm2-135m-instruct"],
        capture_output=True, text=True, check=True).stdout.strip()
    smollm2(gguf_path)


if __name__ == "__main__":
    main()
