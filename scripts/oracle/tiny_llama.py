#!/usr/bin/env python3
"""Creates the tiny random model fixtures with transformers (fixed seed).

  tests/fixtures/tiny-llama/       untied embeddings
  tests/fixtures/tiny-llama-tied/  tied embeddings
  tests/fixtures/tiny-qwen3/       Qwen3: per-head q/k norms
  tests/fixtures/tiny-mistral/     Mistral with a sliding window of 8 keys,
                                   shorter than the test prompts and records

Each folder gets config.json, model.safetensors (F32), the tiny tokenizer
(tokenizer.json, tokenizer_config.json copied from tests/fixtures/tiny-tokenizer/
when it exists) and expected.json: a few values of selected tensors, read back
through the safetensors library, that tests/unit/test_model_load.c compares
against.  The C tests never need Python; rerun this only to regenerate.

Usage: "$(scripts/oracle/venv.sh)" scripts/oracle/tiny_llama.py [FOLDER...]
(default: all four)
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import load_file
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen3Config, Qwen3ForCausalLM)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")
TOKENIZER_DIR = os.path.join(FIX, "tiny-tokenizer")

# Tensors whose values the load test checks, and which flat indices.
SAMPLED = [
    "model.embed_tokens.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.self_attn.k_proj.weight",
    "model.layers.1.self_attn.v_proj.weight",
    "model.layers.1.self_attn.o_proj.weight",
    "model.layers.0.mlp.gate_proj.weight",
    "model.layers.1.mlp.down_proj.weight",
    "model.layers.0.input_layernorm.weight",
    "model.norm.weight",
    "lm_head.weight",
]


SHAPE = dict(vocab_size=512, hidden_size=64, intermediate_size=128,
             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             max_position_embeddings=256, rope_theta=10000.0, bos_token_id=1,
             eos_token_id=2)
FAMILIES = {
    "llama": (LlamaConfig, LlamaForCausalLM, dict(rms_norm_eps=1e-5)),
    "qwen3": (Qwen3Config, Qwen3ForCausalLM, dict(rms_norm_eps=1e-6, head_dim=16)),
    "mistral": (MistralConfig, MistralForCausalLM,
                dict(rms_norm_eps=1e-5, head_dim=16, sliding_window=8)),
}


def make(folder, tied, seed, family="llama"):
    torch.manual_seed(seed)
    config_class, model_class, extra = FAMILIES[family]
    config = config_class(**SHAPE, **extra, tie_word_embeddings=tied, torch_dtype="float32")
    model = model_class(config).eval()
    with torch.no_grad():
        # Norm weights start at 1.0: perturb them so a swapped or dropped
        # norm shows in the comparison.
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.1 * torch.randn_like(p))
    out = os.path.join(FIX, folder)
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    for extra in ("generation_config.json",):
        path = os.path.join(out, extra)
        if os.path.exists(path):
            os.remove(path)
    copy_tokenizer(out)
    if family == "llama":
        write_expected(out, tied)


def copy_tokenizer(out):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(TOKENIZER_DIR, name)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(out, name))
        else:
            print(f"note: {src} missing; rerun once the tiny tokenizer exists",
                  file=sys.stderr)


def write_expected(out, tied):
    weights = load_file(os.path.join(out, "model.safetensors"))
    expected = {"tied": tied, "tensor_count": len(weights), "tensors": {}}
    for name in SAMPLED:
        if name not in weights:
            assert tied and name == "lm_head.weight", name
            continue
        t = weights[name].float().contiguous()
        flat = t.reshape(-1)
        n = flat.numel()
        idx = sorted({0, 1, 7, n // 3, n // 2, n - 2, n - 1})
        expected["tensors"][name] = {
            "shape": list(t.shape),
            "index": idx,
            "value": [float(flat[i]) for i in idx],
            "sum": float(flat.double().sum()),
        }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


MODELS = {
    "tiny-llama": dict(tied=False, seed=1234),
    "tiny-llama-tied": dict(tied=True, seed=4321),
    "tiny-qwen3": dict(tied=False, seed=2024, family="qwen3"),
    "tiny-mistral": dict(tied=False, seed=2025, family="mistral"),
}


def main():
    for folder in sys.argv[1:] or list(MODELS):
        make(folder, **MODELS[folder])


if __name__ == "__main__":
    main()
