"""A random Llama-shaped model as a Q4_0 GGUF, written a tensor at a time,
for the memory and speed figures of shapes whose float32 does not fit the
machine (an 8B model is 32 GB in float32; tk-merge --init holds a model in
float32).  The tokenizer and tk's keys come from TEMPLATE.gguf (any model
tk-merge wrote with --tokenizer); the shape from an HF CONFIG.json.  The
weights are random Q4_0 blocks (d about 0.005: values within about ±0.04,
as a trained model's), the norms ones.  Run with the oracle venv's python
(scripts/oracle/venv.sh: gguf, numpy).

    python big_gguf.py TEMPLATE.gguf CONFIG.json OUT.gguf [SEED]
"""
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

QK = 32
BLOCK_BYTES = 18  # f16 d, then 16 bytes of nibbles


def q4_0_rows(rng, rows, cols):
    """(rows, cols / 32 * 18) bytes of random Q4_0 blocks."""
    blocks = rows * cols // QK
    d = (0.004 + 0.002 * rng.random(blocks)).astype(np.float16).view(np.uint8).reshape(blocks, 2)
    q = rng.integers(0, 256, size=(blocks, 16), dtype=np.uint8)
    q[:, 0] &= 0xf0  # level 0 in every block, as ggml's quantizer puts the largest there
    return np.concatenate([d, q], axis=1).reshape(rows, cols // QK * BLOCK_BYTES)


def copy_fields(reader, writer, skip):
    """Every key of the template but tk's shape keys, as it is typed there."""
    for name, field in reader.fields.items():
        if name.startswith(('GGUF.', 'llama.', 'tk.rope.')) or name in skip:
            continue
        kind = field.types[0]
        if kind == GGUFValueType.ARRAY:
            sub = field.types[1]
            if sub == GGUFValueType.STRING:
                values = [bytes(field.parts[i]).decode('utf-8') for i in field.data]
            else:
                values = [field.parts[i][0].item() for i in field.data]
            writer.add_array(name, values)
        elif kind == GGUFValueType.STRING:
            writer.add_string(name, bytes(field.parts[field.data[0]]).decode('utf-8'))
        else:
            value = field.parts[field.data[0]][0].item()
            {GGUFValueType.UINT32: writer.add_uint32, GGUFValueType.INT32: writer.add_int32,
             GGUFValueType.FLOAT32: writer.add_float32, GGUFValueType.BOOL: writer.add_bool,
             GGUFValueType.UINT64: writer.add_uint64}[kind](name, value)


def main():
    template, config_path, out = sys.argv[1:4]
    rng = np.random.default_rng(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    c = json.load(open(config_path))
    hidden, inter, layers = c['hidden_size'], c['intermediate_size'], c['num_hidden_layers']
    heads, kv = c['num_attention_heads'], c['num_key_value_heads']
    head_dim = c.get('head_dim', hidden // heads)
    vocab, tied = c['vocab_size'], c.get('tie_word_embeddings', False)
    scaling = c.get('rope_scaling') or {}
    reader = GGUFReader(template)
    w = GGUFWriter(out, 'llama')
    copy_fields(reader, w, {'general.architecture'})
    w.add_uint32('llama.block_count', layers)
    w.add_uint32('llama.context_length', c['max_position_embeddings'])
    w.add_uint32('llama.embedding_length', hidden)
    w.add_uint32('llama.feed_forward_length', inter)
    w.add_uint32('llama.attention.head_count', heads)
    w.add_uint32('llama.attention.head_count_kv', kv)
    w.add_uint32('llama.attention.key_length', head_dim)
    w.add_uint32('llama.attention.value_length', head_dim)
    w.add_uint32('llama.rope.dimension_count', head_dim)
    w.add_uint32('llama.vocab_size', vocab)
    w.add_float32('llama.rope.freq_base', float(c.get('rope_theta', 10000.0)))
    w.add_float32('llama.attention.layer_norm_rms_epsilon', float(c['rms_norm_eps']))
    if scaling.get('rope_type') == 'llama3':
        w.add_float32('tk.rope.llama3.factor', float(scaling['factor']))
        w.add_float32('tk.rope.llama3.low_freq_factor', float(scaling['low_freq_factor']))
        w.add_float32('tk.rope.llama3.high_freq_factor', float(scaling['high_freq_factor']))
        w.add_uint32('tk.rope.llama3.original_context_length',
                     int(scaling['original_max_position_embeddings']))
    # (name, rows, cols) in HF order (out, in); norms as (n,)
    mats = [('token_embd.weight', vocab, hidden)]
    if not tied:
        mats.append(('output.weight', vocab, hidden))
    norms = [('output_norm.weight', hidden)]
    for l in range(layers):
        b = 'blk.%d.' % l
        norms += [(b + 'attn_norm.weight', hidden), (b + 'ffn_norm.weight', hidden)]
        mats += [(b + 'attn_q.weight', heads * head_dim, hidden),
                 (b + 'attn_k.weight', kv * head_dim, hidden),
                 (b + 'attn_v.weight', kv * head_dim, hidden),
                 (b + 'attn_output.weight', hidden, heads * head_dim),
                 (b + 'ffn_gate.weight', inter, hidden), (b + 'ffn_up.weight', inter, hidden),
                 (b + 'ffn_down.weight', hidden, inter)]
    for name, n in norms:
        w.add_tensor_info(name, (n,), np.dtype(np.float32), n * 4)
    for name, rows, cols in mats:
        w.add_tensor_info(name, (rows, cols // QK * BLOCK_BYTES), np.dtype(np.uint8),
                          rows * cols // QK * BLOCK_BYTES, raw_dtype=GGMLQuantizationType.Q4_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, n in norms:
        w.write_tensor_data(np.ones(n, dtype=np.float32))
    for name, rows, cols in mats:
        w.write_tensor_data(q4_0_rows(rng, rows, cols))
    w.close()


if __name__ == '__main__':
    main()
