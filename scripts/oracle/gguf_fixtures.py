#!/usr/bin/env python3
"""GGUF reference fixtures, written with the `gguf` Python package.

  tests/fixtures/gguf/types.gguf + types.json
      a small GGUF holding metadata of every value type and one tensor of
      each type tk reads (F32, F16, BF16, Q8_0, Q4_0, Q4_1; the quantized ones
      quantized by gguf.quants), with the values gguf.quants.dequantize
      gives back for each tensor;
  tests/fixtures/gguf/smollm2-sample.json
      for SmolLM2-135M-Instruct.Q4_1.gguf (scripts/get-model.sh): its sha256
      and 256 consecutive dequantized values from tensors of each type it
      holds (Q8_0, Q4_1, F32), in ggml order (ne[0] fastest).

Usage: "$(scripts/oracle/venv.sh)" scripts/oracle/gguf_fixtures.py [SMOLLM2.gguf]
"""
import hashlib
import json
import os
import sys

import numpy as np
import gguf
from gguf.quants import dequantize, quantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "gguf")
Q = gguf.GGMLQuantizationType


def write_types():
    rng = np.random.default_rng(20241128)
    path = os.path.join(OUT, "types.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.15625)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo wörld")
    w.add_uint64("test.u64", 1 << 40)
    w.add_int64("test.i64", -(1 << 40))
    w.add_float64("test.f64", 2.718281828459045)
    w.add_array("test.i32_array", [3, -1, 4, -1, 5])
    w.add_array("test.str_array", ["a", "", "Ġthe", "日本"])
    expected = {"tensors": {}}
    shapes = {Q.F32: (2, 64), Q.F16: (3, 64), Q.BF16: (2, 64),
              Q.Q8_0: (4, 64), Q.Q4_0: (4, 64), Q.Q4_1: (4, 96)}
    for qtype, shape in shapes.items():
        x = rng.standard_normal(shape).astype(np.float32) * 0.5
        x[0, :8] = 0.0  # an all-small start exercises the zero scale
        name = "t_" + qtype.name.lower()
        if qtype == Q.F32:
            w.add_tensor(name, x)
        elif qtype == Q.F16:
            w.add_tensor(name, x.astype(np.float16))
        else:
            w.add_tensor(name, quantize(x, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    r = gguf.GGUFReader(path)
    for t in r.tensors:
        values = dequantize(t.data, t.tensor_type).reshape(-1)
        expected["tensors"][t.name] = {
            "type": t.tensor_type.name.lower(),
            "ne": [int(n) for n in t.shape],
            "values": [float(v) for v in values],
        }
    with open(os.path.join(OUT, "types.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")


SAMPLED = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
           "blk.7.ffn_down.weight", "blk.29.attn_output.weight",
           "blk.3.attn_norm.weight", "output_norm.weight"]


def write_smollm2(path):
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    r = gguf.GGUFReader(path)
    tensors = {t.name: t for t in r.tensors}
    sample = {"sha256": sha, "tensors": {}}
    for name in SAMPLED:
        t = tensors[name]
        values = dequantize(t.data, t.tensor_type).reshape(-1)
        start = (values.size // 3) // 32 * 32 + 32 * 5
        sample["tensors"][name] = {
            "type": t.tensor_type.name.lower(),
            "ne": [int(n) for n in t.shape],
            "start": int(start),
            "values": [float(v) for v in values[start:start + 256]],
            "head": [float(v) for v in values[:32]],
        }
    with open(os.path.join(OUT, "smollm2-sample.json"), "w") as f:
        json.dump(sample, f)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    write_types()
    home = os.environ.get("TK_HOME", os.path.expanduser("~/.cache/tk"))
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        home, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(model):
        write_smollm2(model)
    else:
        print(f"note: {model} missing (scripts/get-model.sh smollm2-135m-instruct); "
              "smollm2-sample.json not rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()
