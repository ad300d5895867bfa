#!/usr/bin/env bash
# Decode speed of tk-sample beside transformers' generate, in the same run
# on the same machine with the same threads: SmolLM2-135M-Instruct (GGUF,
# fp32 after dequantization), greedy, batch 1 and batch 64 prompts x 128
# new tokens (end-of-sequence ignored on both sides).
#
# Decode tokens/s = batch * (NEW - 1) / (t(NEW new tokens) - t(1 new token)),
# so loading and prefill are left out on both sides.  The sides take turns
# for REPEAT rounds (default 3) and each time is the best of its rounds:
# on a shared VM the same binary varies by 10-15% from one run to the next,
# and its speed drifts over minutes.
#
#   scripts/bench/sample.sh [THREADS]      (default: all cores; or TK_THREADS)
#   NEW=128 BATCHES="1 64" REPEAT=3 to change the shape.
#
# LLAMA=1 adds llama.cpp as a third side at batch 1: the llama-cpp-python
# package (scripts/oracle/llama-venv.sh builds it for this CPU, once, about
# 8 minutes here; LLAMA_PY names another python that has it) on the same GGUF
# file with the same threads, llama_decode driven one token at a time from
# Python with greedy choices, timed as the other sides.  llama.cpp's extra
# buffer types (weights repacked for its AMX kernels) are off: on this
# AMX CPU they crash in ggml_backend_amx_mul_mat (llama.cpp issue 20824),
# so llama.cpp runs its AVX-512 VNNI dot products.  On a quiet machine
# run it with OMP_WAIT_POLICY=active: llama.cpp's OpenMP threads meet at a
# barrier after each of the ~1,000 nodes of a token's graph, and waiting
# passively made it 2.8x slower here (34.2 against 96.6 tokens/s).
#
# OpenMP threads wait passively (OMP_WAIT_POLICY=passive, both sides) unless
# the caller sets the policy: on a shared machine whose load exceeds its
# cores, spinning barriers cost both sides several times the work itself
# and the comparison measures the scheduler instead.
#
# Measured 2026-11-28 on the 2-core AVX-512 development VM, otherwise idle,
# 2 threads, taking turns, best of 3 rounds (OMP_WAIT_POLICY passive, then
# active):
#   batch 1:  tk 42.3 / 45.4 tok/s, torch 18.7 / 22.1 tok/s (2.26x / 2.05x)
#   batch 64: tk 531.2 / 597.6 tok/s, torch 309.0 / 298.8 tok/s (1.72x / 2.00x)
# and two later runs (passive): batch 1 2.02x, 2.01x; batch 64 564.4 / 278.2
# = 2.03x, 531.2 / 263.1 = 2.02x.
# With compact weights for forwards of at most 8 slots (kernels.h), a run
# the same day: batch 1 84.7 / 20.3 tok/s = 4.18x; batch 64 560.6 / 276.3
# = 2.03x.
# After sharing the product's items out dynamically (xwt.c), building at
# -O3 and making the RoPE angles once a pass, three runs the same day:
#   batch 1:  74.7 / 18.0 = 4.16x, 84.7 / 20.1 = 4.22x, 84.7 / 20.6 = 4.11x
#   batch 64: 602.1 / 259.9 = 2.32x, 620.5 / 285.2 = 2.18x,
#             615.8 / 285.3 = 2.16x
# At batch 64 about 74% of tk's time is in the batch-invariant product
# (kernels/cpu/xwt.c), 10% in attention over the KV cache.
# With llama.cpp (LLAMA=1, llama-cpp-python 0.3.36 built natively), batch
# 1, OMP_WAIT_POLICY=active, quiet, 2026-12-07: tk 105.8, llama.cpp 96.6,
# transformers 26.9 tok/s (tk 1.10x llama.cpp).
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
cd "$(dirname "$0")/../.."
THREADS=${1:-${TK_THREADS:-$(nproc)}}
NEW=${NEW:-128}
REPEAT=${REPEAT:-3}
BATCHES=${BATCHES:-"1 64"}
BUILD=${BUILD:-build}
make --no-print-directory -s BUILD="$BUILD" "$BUILD/bin/tk-sample" >/dev/null
MODEL=$(scripts/get-model.sh smollm2-135m-instruct)
PY=$(scripts/oracle/venv.sh)
LLAMA_PY=${LLAMA_PY:-}
if [ "${LLAMA:-0}" = 1 ] && [ -z "$LLAMA_PY" ]; then
	LLAMA_PY=$(scripts/oracle/llama-venv.sh)
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/tk-bench-sample.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 64 raw prompts of similar length.
for i in $(seq 0 63); do
	printf '{"prompt": "Write a short story about the number %d and a cat."}\n' "$i"
done >"$work/all.jsonl"

# Seconds tk-sample spent sampling (its progress line's elapsed time: from
# after the model is loaded to the last sample), as torch's side is timed
# with its model loaded.
tk_time_once() { # batch, new tokens -> seconds
	head -n "$1" "$work/all.jsonl" >"$work/in.jsonl"
	"$BUILD/bin/tk-sample" -m "$MODEL" -t "$THREADS" --temperature 0 --ignore-eos \
		--max-tokens "$2" --batch "$1" -o "$work/out.jsonl" "$work/in.jsonl" 2>"$work/err"
	local got
	got=$(head -n 1 "$work/out.jsonl" | grep -o '"tokens":\[[^]]*' | tr -cd , | wc -c)
	if [ "$((got + 1))" -ne "$2" ]; then
		echo "sample.sh: tk-sample made $((got + 1)) tokens, not $2" >&2
		exit 1
	fi
	tail -n 1 "$work/err" | sed -n 's/.*, \([0-9.]*\) s, .*/\1/p'
}

cat >"$work/torch_bench.py" <<'PYEOF'
import json, os, sys, time
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

path, threads, new, prompts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
repeat = int(sys.argv[5])
batches = [int(b) for b in sys.argv[6:]]
torch.set_num_threads(threads)
torch.set_grad_enabled(False)
folder, name = os.path.split(path)
tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
tok.padding_side = "left"
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
texts = [json.loads(l)["prompt"] for l in open(prompts)]
for b in batches:
    enc = tok(texts[:b], return_tensors="pt", padding=True)
    model.generate(**enc, do_sample=False, max_new_tokens=2, pad_token_id=tok.pad_token_id)  # warm up
    times = {}
    for n in (1, new):
        for _ in range(repeat):
            t0 = time.perf_counter()
            model.generate(**enc, do_sample=False, max_new_tokens=n, min_new_tokens=n,
                           pad_token_id=tok.pad_token_id)
            times[n] = min(times.get(n, 1e30), time.perf_counter() - t0)
    print(b, times[1], times[new], flush=True)
PYEOF

cat >"$work/llama_bench.py" <<'PYEOF'
import json, sys, time
import numpy as np
import llama_cpp as L

path, threads, new, prompts, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
quiet = L.llama_log_callback(lambda level, text, data: None)  # kept: llama.cpp calls it later
L.llama_log_set(quiet, None)
L.llama_backend_init()
mp = L.llama_model_default_params()
mp.use_extra_bufts = False  # the AMX repacked weights crash on this CPU (llama.cpp #20824)
model = L.llama_model_load_from_file(path.encode(), mp)
cp = L.llama_context_default_params()
cp.n_ctx, cp.n_batch, cp.n_threads, cp.n_threads_batch = 512, 512, threads, threads
ctx = L.llama_init_from_model(model, cp)
assert model and ctx, "llama.cpp could not load " + path
vocab = L.llama_model_get_vocab(model)
n_vocab = L.llama_vocab_n_tokens(vocab)
text = json.loads(open(prompts).readline())["prompt"].encode()
ids = (L.llama_token * 512)()
n_prompt = L.llama_tokenize(vocab, text, len(text), ids, 512, True, True)

def step(tokens):  # one llama_decode; the greedy next token
    batch = (L.llama_token * len(tokens))(*tokens)
    assert L.llama_decode(ctx, L.llama_batch_get_one(batch, len(tokens))) == 0
    logits = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
    return int(np.argmax(logits))

def generate(n):  # n greedy tokens after the prompt, one decode a token
    L.llama_memory_clear(L.llama_get_memory(ctx), True)
    out = [step(list(ids[:n_prompt]))]
    while len(out) < n:
        out.append(step([out[-1]]))
    return out

generate(2)  # warm up
times = {}
for n in (1, new):
    for _ in range(repeat):
        t0 = time.perf_counter()
        generate(n)
        times[n] = min(times.get(n, 1e30), time.perf_counter() - t0)
print(1, times[1], times[new], flush=True)
PYEOF

echo "# tk-sample vs transformers generate: SmolLM2-135M-Instruct, $THREADS threads, $NEW new tokens, best of $REPEAT"
echo "# $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=$OMP_WAIT_POLICY; $(python3 -c 'import platform; print(platform.processor() or platform.machine())' 2>/dev/null || uname -m)"
# The two sides take turns, REPEAT rounds, so that both see the same spells
# of a shared machine's speed; each time is the best of its rounds.
for _ in $(seq "$REPEAT"); do
	"$PY" "$work/torch_bench.py" "$MODEL" "$THREADS" "$NEW" "$work/all.jsonl" 1 $BATCHES \
		2>/dev/null >>"$work/torch.txt"
	if [ -n "$LLAMA_PY" ]; then
		"$LLAMA_PY" "$work/llama_bench.py" "$MODEL" "$THREADS" "$NEW" "$work/all.jsonl" 1 \
			>>"$work/llama.txt"
	fi
	for b in $BATCHES; do
		t1=$(tk_time_once "$b" 1)
		tn=$(tk_time_once "$b" "$NEW")
		echo "$b $t1 $tn" >>"$work/tk.txt"
	done
done
best() { # file, batch, column -> the smallest value
	awk -v b="$2" -v c="$3" '$1 == b { print $c }' "$1" | sort -g | head -n 1
}
printf '%-6s %14s %14s %8s\n' batch "tk tok/s" "torch tok/s" ratio
for b in $BATCHES; do
	t1=$(best "$work/tk.txt" "$b" 2) tn=$(best "$work/tk.txt" "$b" 3)
	p1=$(best "$work/torch.txt" "$b" 2) pn=$(best "$work/torch.txt" "$b" 3)
	tk_rate=$(echo "$b * ($NEW - 1) / ($tn - $t1)" | bc -l)
	pt_rate=$(echo "$b * ($NEW - 1) / ($pn - $p1)" | bc -l)
	printf '%-6s %14.1f %14.1f %7.2fx\n' "$b" "$tk_rate" "$pt_rate" "$(echo "$tk_rate / $pt_rate" | bc -l)"
	if [ -n "$LLAMA_PY" ] && [ "$b" = 1 ]; then
		l1=$(best "$work/llama.txt" 1 2) ln=$(best "$work/llama.txt" 1 3)
		ll_rate=$(echo "($NEW - 1) / ($ln - $l1)" | bc -l)
		printf '%-6s %14.1f %14s %7.2fx  (llama.cpp through llama-cpp-python: %.1f tok/s)\n' \
			"$b" "$tk_rate" "llama.cpp" "$(echo "$tk_rate / $ll_rate" | bc -l)" "$ll_rate"
	fi
done
