#!/usr/bin/env python3
"""k-quant and Q5 GGUF fixtures, with the `gguf` Python package as the oracle.

  tests/fixtures/gguf/kquants.gguf + kquants.json
      one tensor of each type Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, Q5_0, Q5_1
      and the values gguf.quants.dequantize gives back for each.  Q5_0 and
      Q5_1 are quantized by gguf.quants; the k-quants (which gguf-py cannot
      quantize) are blocks of random bytes with scales set to sane values,
      the second block of each with an f16 subnormal or negative scale.
      gguf-py has no Q8_K dequantizer: its values are d * q computed here in
      float32 ("oracle": "numpy" in the JSON).
  tests/fixtures/gguf/tiny-kquants.gguf
      a tiny Llama (hidden 256, 2 layers, vocab 512, the tiny tokenizer)
      stored as a user's k-quant GGUF would be: layer 0 and the embeddings
      as llama.cpp's Q4_K_M mix (Q4_K, Q6_K for attn_v, ffn_down and
      output), layer 1 with one of each other type; norms F32.  Weights are
      random blocks (Q5_0, Q5_1, Q8_0 quantized from random normals).
  tests/fixtures/logits/tiny-kquants.json + .f32
      transformers' logits (float32, eager attention) of that model built
      from gguf-py's dequantized weights (q and k rows put back in Hugging
      Face order), for the prompts of logits_fixtures.py, and greedy
      generations of 32 tokens.

The C tests never need Python; rerun this only to regenerate.

Usage: "$(scripts/oracle/venv.sh)" scripts/oracle/kquant_fixtures.py
"""
import json
import os

import numpy as np
import torch
import gguf
from gguf.quants import dequantize, quantize
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")
Q = gguf.GGMLQuantizationType
QK_K = 256

# Where each k-quant keeps its f16 scales (byte offsets in a block), and
# the size of d (dmin) that gives weights of a few hundredths: the largest
# product of scale and quant is about 0.1.
KQUANT = {
    Q.Q2_K: dict(d=80, dmin=82, d_size=2e-3, dmin_size=3e-3),
    Q.Q3_K: dict(d=108, d_size=8e-4),
    Q.Q4_K: dict(d=0, dmin=2, d_size=1e-4, dmin_size=8e-4),
    Q.Q5_K: dict(d=0, dmin=2, d_size=5e-5, dmin_size=8e-4),
    Q.Q6_K: dict(d=208, d_size=2.5e-5),
    Q.Q8_K: dict(d_size=8e-4),
}
TINY_PROMPTS = [
    [1],
    [1, 17, 300, 42, 9, 255],
    [1] + [(i * 37 + 11) % 512 for i in range(20)],
    [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
]
NEW_TOKENS = 32


def set_f16(blocks, at, values):
    blocks[:, at:at + 2] = values.astype(np.float16).reshape(-1, 1).view(np.uint8)


def kquant_blocks(qtype, n_blocks, rng, odd_scales=False):
    """Random blocks of a k-quant; odd_scales: the last block's d is an f16
    subnormal (Q4_K/Q5_K: dmin) or negative (Q3_K, Q6_K, Q8_K)."""
    spec = KQUANT[qtype]
    size = gguf.GGML_QUANT_SIZES[qtype][1]
    blocks = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    d = spec["d_size"] * rng.uniform(0.5, 1.5, n_blocks)
    dmin = spec.get("dmin_size", 0) * rng.uniform(0.5, 1.5, n_blocks)
    if odd_scales:
        if qtype in (Q.Q3_K, Q.Q6_K, Q.Q8_K):
            d[-1] = -d[-1]
        else:
            dmin[-1] = 2.0 ** -20  # an f16 subnormal
    if qtype == Q.Q8_K:
        blocks[:, 0:4] = d.astype("<f4").reshape(-1, 1).view(np.uint8)
        return blocks
    set_f16(blocks, spec["d"], d)
    if "dmin" in spec:
        set_f16(blocks, spec["dmin"], dmin)
    return blocks


def q8_k_values(blocks):
    """x = d * q: gguf-py has no Q8_K dequantizer."""
    d = blocks[:, 0:4].copy().view("<f4").astype(np.float32)
    q = blocks[:, 4:4 + QK_K].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(-1)


def quantized(qtype, rows, cols, rng, odd_scales=False):
    """A (rows, cols) tensor of qtype as raw bytes (rows, bytes per row)."""
    if qtype in KQUANT:
        n = rows * cols // QK_K
        return kquant_blocks(qtype, n, rng, odd_scales).reshape(rows, -1)
    x = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    x[0, :8] = 0.0  # an all-small start exercises the zero scale
    return quantize(x, qtype)


def values_of(raw, qtype):
    if qtype == Q.Q8_K:
        block = gguf.GGML_QUANT_SIZES[qtype][1]
        return q8_k_values(raw.reshape(-1, block)), "numpy"
    return dequantize(raw, qtype).reshape(-1).astype(np.float32), "gguf.quants.dequantize"


def write_types():
    rng = np.random.default_rng(20250301)
    path = os.path.join(FIX, "gguf", "kquants.gguf")
    w = gguf.GGUFWriter(path, "llama")
    shapes = {Q.Q2_K: (2, 256), Q.Q3_K: (2, 256), Q.Q4_K: (2, 256), Q.Q5_K: (2, 256),
              Q.Q6_K: (2, 256), Q.Q8_K: (2, 256), Q.Q5_0: (4, 64), Q.Q5_1: (4, 64)}
    expected = {"tensors": {}}
    for qtype, (rows, cols) in shapes.items():
        raw = quantized(qtype, rows, cols, rng, odd_scales=True)
        name = "t_" + qtype.name.lower()
        w.add_tensor(name, raw, raw_dtype=qtype)
        values, oracle = values_of(raw, qtype)
        expected["tensors"][name] = {"type": qtype.name.lower(), "ne": [cols, rows],
                                     "oracle": oracle,
                                     "values": [float(v) for v in values]}
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    check_read_back(path, expected)
    with open(os.path.join(FIX, "gguf", "kquants.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")


def check_read_back(path, expected):
    """The file as gguf-py reads it gives the values written down."""
    for t in gguf.GGUFReader(path).tensors:
        want = expected["tensors"][t.name]["values"]
        got, _ = values_of(np.asarray(t.data), t.tensor_type)
        assert np.array_equal(got, np.asarray(want, dtype=np.float32)), t.name


# ---- the tiny k-quant Llama ------------------------------------------------

SHAPE = dict(vocab_size=512, hidden_size=256, intermediate_size=256, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=64,
             max_position_embeddings=256, rope_theta=10000.0, rms_norm_eps=1e-5,
             bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
# (gguf name, Hugging Face name, rows, cols) of each matrix, per layer
LAYER = [("attn_q", "self_attn.q_proj", 256, 256), ("attn_k", "self_attn.k_proj", 128, 256),
         ("attn_v", "self_attn.v_proj", 128, 256), ("attn_output", "self_attn.o_proj", 256, 256),
         ("ffn_gate", "mlp.gate_proj", 256, 256), ("ffn_up", "mlp.up_proj", 256, 256),
         ("ffn_down", "mlp.down_proj", 256, 256)]
LAYER_TYPES = [
    [Q.Q4_K, Q.Q4_K, Q.Q6_K, Q.Q4_K, Q.Q4_K, Q.Q4_K, Q.Q6_K],   # Q4_K_M's mix
    [Q.Q2_K, Q.Q3_K, Q.Q5_K, Q.Q8_K, Q.Q5_0, Q.Q5_1, Q.Q8_0],
]


def hf_row_order(w, n_head):
    """llama.cpp stores q and k rows of each head interleaved (2i, 2i+1 from
    the two rotary halves); Hugging Face keeps the halves apart."""
    rows, cols = w.shape
    return w.reshape(n_head, rows // n_head // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def add_tokenizer(w):
    with open(os.path.join(FIX, "tiny-tokenizer", "tokenizer.json")) as f:
        tok = json.load(f)
    with open(os.path.join(FIX, "tiny-tokenizer", "tokenizer_config.json")) as f:
        cfg = json.load(f)
    vocab = tok["model"]["vocab"]
    tokens = [None] * len(vocab)
    for text, i in vocab.items():
        tokens[i] = text
    special = {a["id"] for a in tok["added_tokens"] if a["special"]}
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([3 if i in special else 1 for i in range(len(tokens))])
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m
                        for m in tok["model"]["merges"]])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template(cfg["chat_template"])


def add_config(w):
    w.add_name("tiny k-quants")
    w.add_block_count(SHAPE["num_hidden_layers"])
    w.add_context_length(SHAPE["max_position_embeddings"])
    w.add_embedding_length(SHAPE["hidden_size"])
    w.add_feed_forward_length(SHAPE["intermediate_size"])
    w.add_head_count(SHAPE["num_attention_heads"])
    w.add_head_count_kv(SHAPE["num_key_value_heads"])
    w.add_key_length(SHAPE["head_dim"])
    w.add_value_length(SHAPE["head_dim"])
    w.add_rope_dimension_count(SHAPE["head_dim"])
    w.add_vocab_size(SHAPE["vocab_size"])
    w.add_rope_freq_base(SHAPE["rope_theta"])
    w.add_layer_norm_rms_eps(SHAPE["rms_norm_eps"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)


def add_matrix(w, state, rng, gguf_name, hf_name, qtype, rows, cols, heads=0):
    raw = quantized(qtype, rows, cols, rng)
    w.add_tensor(gguf_name, raw, raw_dtype=qtype)
    values, _ = values_of(raw, qtype)
    values = values.reshape(rows, cols)
    state[hf_name] = torch.from_numpy(hf_row_order(values, heads) if heads else values)


def add_norm(w, state, rng, gguf_name, hf_name):
    x = (1.0 + 0.1 * rng.standard_normal(SHAPE["hidden_size"])).astype(np.float32)
    w.add_tensor(gguf_name, x)
    state[hf_name] = torch.from_numpy(x)


def write_model():
    rng = np.random.default_rng(20250302)
    path = os.path.join(FIX, "gguf", "tiny-kquants.gguf")
    w = gguf.GGUFWriter(path, "llama")
    add_config(w)
    add_tokenizer(w)
    state = {}
    hidden, vocab = SHAPE["hidden_size"], SHAPE["vocab_size"]
    add_matrix(w, state, rng, "token_embd.weight", "model.embed_tokens.weight", Q.Q4_K,
               vocab, hidden)
    for layer, types in enumerate(LAYER_TYPES):
        for (g, h, rows, cols), qtype in zip(LAYER, types):
            heads = {"attn_q": SHAPE["num_attention_heads"],
                     "attn_k": SHAPE["num_key_value_heads"]}.get(g, 0)
            add_matrix(w, state, rng, f"blk.{layer}.{g}.weight",
                       f"model.layers.{layer}.{h}.weight", qtype, rows, cols, heads)
        add_norm(w, state, rng, f"blk.{layer}.attn_norm.weight",
                 f"model.layers.{layer}.input_layernorm.weight")
        add_norm(w, state, rng, f"blk.{layer}.ffn_norm.weight",
                 f"model.layers.{layer}.post_attention_layernorm.weight")
    add_norm(w, state, rng, "output_norm.weight", "model.norm.weight")
    add_matrix(w, state, rng, "output.weight", "lm_head.weight", Q.Q6_K, vocab, hidden)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return state


def write_logits(state, name="tiny-kquants"):
    torch.set_grad_enabled(False)
    config = LlamaConfig(**SHAPE, attn_implementation="eager")
    model = LlamaForCausalLM(config).float().eval()
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("rotary" in k for k in missing), (missing, unexpected)
    rows = [model(torch.tensor([p])).logits[0].float().numpy() for p in TINY_PROMPTS]
    greedy = []
    for p in TINY_PROMPTS:
        out = model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                             do_sample=False, max_new_tokens=NEW_TOKENS,
                             min_new_tokens=NEW_TOKENS, eos_token_id=None, pad_token_id=0)
        greedy.append([int(t) for t in out[0, len(p):]])
    out = os.path.join(FIX, "logits", name)
    np.concatenate(rows).astype("<f4").tofile(out + ".f32")
    meta = {"model": f"gguf/{name}.gguf", "vocab": 512, "prompts": TINY_PROMPTS,
            "rows": "every position of every prompt", "greedy": greedy}
    with open(out + ".json", "w") as f:
        json.dump(meta, f)
        f.write("\n")


def main():
    write_types()
    write_logits(write_model())


if __name__ == "__main__":
    main()
