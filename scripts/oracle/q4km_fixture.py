#!/usr/bin/env python3
"""A Q4_K_M GGUF as users get them: quantized by llama.cpp's own quantizer.

kquant_fixtures.py writes k-quant blocks of random bytes, which tests every
bit of the block formats but not what a real quantizer writes (scales fitted
to the data, llama.cpp's choice of a type per tensor).  This script writes
the tiny Llama of kquant_fixtures.py (hidden 256, 2 layers, vocab 512, the
tiny tokenizer) in float32 with random normal weights, has llama.cpp
quantize it to Q4_K_M (llama_model_quantize, through llama-cpp-python), and
writes:

  tests/fixtures/gguf/tiny-q4km.gguf
      llama.cpp's output, committed as is.
  tests/fixtures/logits/tiny-q4km.json + .f32
      transformers' logits (float32, eager attention) of the model built
      from gguf-py's dequantization of that file, for the prompts of
      kquant_fixtures.py, and greedy generations of 32 tokens.

The C tests never need Python; rerun this only to regenerate.

Usage: "$(scripts/oracle/venv.sh)" scripts/oracle/q4km_fixture.py
       (runs llama.cpp from "$(scripts/oracle/llama-venv.sh)"; LLAMA_PY
       names another python that has llama_cpp)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import gguf
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kquant_fixtures as kq  # noqa: E402  (the tiny Llama's shape, tokenizer, logits)

Q = gguf.GGMLQuantizationType
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(kq.FIX, "gguf", "tiny-q4km.gguf")
HEADS = {"attn_q": kq.SHAPE["num_attention_heads"], "attn_k": kq.SHAPE["num_key_value_heads"]}

QUANTIZE = r"""
import ctypes, sys
import llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
params.nthread = 1
rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(),
                                    ctypes.byref(params))
sys.exit(1 if rc else 0)
"""


def write_float_model(path):
    """The user's original: every matrix float32, random normal."""
    rng = np.random.default_rng(20261207)
    w = gguf.GGUFWriter(path, "llama")
    kq.add_config(w)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    kq.add_tokenizer(w)
    hidden, vocab = kq.SHAPE["hidden_size"], kq.SHAPE["vocab_size"]

    def matrix(name, rows, cols):
        w.add_tensor(name, (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32))

    def norm(name):
        w.add_tensor(name, (1.0 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))

    matrix("token_embd.weight", vocab, hidden)
    for layer in range(kq.SHAPE["num_hidden_layers"]):
        for g, _, rows, cols in kq.LAYER:
            matrix(f"blk.{layer}.{g}.weight", rows, cols)
        norm(f"blk.{layer}.attn_norm.weight")
        norm(f"blk.{layer}.ffn_norm.weight")
    norm("output_norm.weight")
    matrix("output.weight", vocab, hidden)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama_python():
    if os.environ.get("LLAMA_PY"):
        return os.environ["LLAMA_PY"]
    return subprocess.run([os.path.join(HERE, "llama-venv.sh")], check=True,
                          capture_output=True, text=True).stdout.strip()


def hf_name(gguf_name):
    fixed = {"token_embd.weight": "model.embed_tokens.weight",
             "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}
    if gguf_name in fixed:
        return fixed[gguf_name], 0
    _, layer, part, _ = gguf_name.split(".")
    norms = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
    if part in norms:
        return f"model.layers.{layer}.{norms[part]}.weight", 0
    hf = {g: h for g, h, _, _ in kq.LAYER}[part]
    return f"model.layers.{layer}.{hf}.weight", HEADS.get(part, 0)


def state_of(path):
    """Hugging Face weights from gguf-py's dequantization; the types used."""
    state, types = {}, {}
    for t in gguf.GGUFReader(path).tensors:
        rows = [int(n) for n in reversed(t.shape.tolist())]  # gguf ne is (cols, rows)
        values = dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)
        values = values.reshape(rows)
        name, heads = hf_name(t.name)
        state[name] = torch.from_numpy(kq.hf_row_order(values, heads) if heads else values)
        types[t.name] = t.tensor_type.name
    return state, types


def main():
    with tempfile.TemporaryDirectory() as tmp:
        original = os.path.join(tmp, "tiny-f32.gguf")
        write_float_model(original)
        subprocess.run([llama_python(), "-c", QUANTIZE, original, OUT], check=True)
    state, types = state_of(OUT)
    for name, qtype in sorted(types.items()):
        print(f"{name}: {qtype}")
    assert "Q4_K" in types.values() and "Q6_K" in types.values(), types
    kq.write_logits(state, "tiny-q4km")


if __name__ == "__main__":
    main()
