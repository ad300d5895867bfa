#!/usr/bin/env bash
# LoRA training speed and memory: tk-sft beside PyTorch + PEFT on the same
# tokens, threads and settings, in the same run.
#
# Model: SmolLM2-135M-Instruct (its GGUF, scripts/get-model.sh; PyTorch
# loads the same file through transformers' gguf_file=, dequantized to
# float32).  Data: GSM8K text joined and cut into records of exactly LEN
# tokens by tk-render --text; every token trained.  Settings on both sides:
# LoRA rank 32, alpha 32, all seven targets, AdamW (0.9, 0.95, 1e-8, no
# weight decay), constant lr 1e-4, grad clip 1, BATCH records a step, STEPS
# steps (default 8); float32, eager attention for PyTorch.  Throughput is
# that of the median step after the first (warm-up), by wall time, on both
# sides (a shared VM's speed varies from step to step); peak RSS is the
# whole process's (/usr/bin/time), model loading included.
#
#   scripts/bench/sft.sh [THREADS] [STEPS] [BATCH] [LEN]
#
# JSONL= names the GSM8K train.jsonl (default: ../shared/data/gsm8k/
# beside the checkout, where this workplace keeps it).
set -euo pipefail
cd "$(dirname "$0")/../.."

THREADS=${1:-$(nproc)}
STEPS=${2:-8}
BATCH=${3:-1}
LEN=${4:-512}
BUILD=${BUILD:-build}
JSONL=${JSONL:-../shared/data/gsm8k/train.jsonl}
GGUF=$(scripts/get-model.sh smollm2-135m-instruct)
PY=$(scripts/oracle/venv.sh)

make -s --no-print-directory "$BUILD/bin/tk-sft" "$BUILD/bin/tk-render"
work=$(mktemp -d "${TMPDIR:-/tmp}/sft-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# one long document of GSM8K text, cut into LEN-token records (all but the
# last exactly LEN long)
need=$((STEPS * BATCH + 1))
"$PY" - "$JSONL" "$work/text.jsonl" "$need" "$LEN" <<'PY'
import json, sys
src, out, need, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
parts = []
with open(src, encoding='utf-8') as f:
    for line in f:
        d = json.loads(line)
        parts.append(d['question'] + '\n' + d['answer'] + '\n\n')
        if len(parts) > need * length // 40:
            break
with open(out, 'w', encoding='utf-8') as o:
    o.write(json.dumps({'text': ''.join(parts)}) + '\n')
PY
"$BUILD/bin/tk-render" -q --text -m "$GGUF" --max-len "$LEN" -o "$work/all.tks" "$work/text.jsonl"
echo "data: $((STEPS * BATCH)) records of $LEN tokens; $STEPS steps of $BATCH; $THREADS threads"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (wall-time figures; compare on a quiet machine)"

# both sides train on the stream's first STEPS x BATCH records, in order
tk_rss=$( { /usr/bin/time -f 'RSS %M' "$BUILD/bin/tk-sft" -m "$GGUF" -o "$work/run" \
	--lora-rank 32 --lora-alpha 32 --lr 1e-4 --lr-schedule constant --grad-clip 1 \
	--batch "$BATCH" --steps "$STEPS" --no-shuffle --save-every 0 --max-len "$LEN" \
	--micro-tokens $((BATCH * LEN)) -t "$THREADS" -q "$work/all.tks" >/dev/null; } 2>&1 |
	sed -n 's/^RSS //p')
tk_tps=$(sed -n '2,$p' "$work/run/metrics.jsonl" | head -n $((STEPS - 1)) |
	grep -o '"time/tokens_per_sec": [0-9.]*' | cut -d' ' -f2 | sort -g |
	awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
tk_loss=$(sed -n '1p' "$work/run/metrics.jsonl" | grep -o '"train_mean_nll": [0-9.]*' | cut -d' ' -f2)

py_out=$( { OMP_NUM_THREADS=$THREADS /usr/bin/time -f 'RSS %M' "$PY" - "$GGUF" "$work/all.tks" \
	"$THREADS" "$STEPS" "$BATCH" "$LEN" "$BUILD/bin/tk-render" <<'PY'
import json, os, subprocess, sys, time
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
gguf, tks, threads, steps, batch, length, render = sys.argv[1:8]
threads, steps, batch, length = int(threads), int(steps), int(batch), int(length)
torch.set_num_threads(threads)
show = subprocess.run([render, '--show', '--json', tks], capture_output=True, text=True, check=True)
rows = [r['tokens'] for r in map(json.loads, show.stdout.splitlines())]
rows = rows[:steps * batch]
assert all(len(r) == length for r in rows), 'records shorter than the length'
folder, name = os.path.split(gguf)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32,
                                             attn_implementation='eager')
cfg = LoraConfig(r=32, lora_alpha=32, lora_dropout=0.0, target_modules=[
    'q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'])
model = get_peft_model(model, cfg)
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
times, first = [], None
for s in range(steps):
    ids = torch.tensor(rows[s * batch:(s + 1) * batch])
    t0 = time.perf_counter()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    times.append(time.perf_counter() - t0)
    if first is None:
        first = out.loss.item()
rest = sorted(times[1:])
mid = len(rest) // 2
median = rest[mid] if len(rest) % 2 else (rest[mid - 1] + rest[mid]) / 2
tps = batch * length / median
print('PY %.1f %.6f' % (tps, first))
PY
} 2>&1 )
py_tps=$(echo "$py_out" | sed -n 's/^PY \([0-9.]*\) .*/\1/p')
py_loss=$(echo "$py_out" | sed -n 's/^PY [0-9.]* \(.*\)/\1/p')
py_rss=$(echo "$py_out" | sed -n 's/^RSS //p')
if [ -z "$py_tps" ]; then echo "$py_out" >&2; exit 1; fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'first-step loss: tk %s, PyTorch %s\n' "$tk_loss" "$py_loss"
printf 'tk-sft          %10.1f tokens/s   peak RSS %7.1f MiB\n' "$tk_tps" "$(echo "$tk_rss / 1024" | bc -l)"
printf 'PyTorch + PEFT  %10.1f tokens/s   peak RSS %7.1f MiB\n' "$py_tps" "$(echo "$py_rss / 1024" | bc -l)"
printf 'ratio tk / PyTorch: speed %.2fx, memory %.2fx\n' "$(echo "$tk_tps / $py_tps" | bc -l)" \
	"$(echo "$tk_rss / $py_rss" | bc -l)"
