#!/usr/bin/env bash
# LoRA training speed, memory and loss: tk-sft beside PyTorch + PEFT on the
# same tokens, threads and settings, in the same run, each side at several
# dtypes of the frozen base.
#
# Model: SmolLM2-135M-Instruct (its GGUF, scripts/get-model.sh; PyTorch
# loads the same file through transformers' gguf_file=, dequantized to
# float32).  Data: GSM8K text joined and cut into records of exactly LEN
# tokens by tk-render --text; every token trained.  Settings on both sides:
# LoRA rank 32, alpha 32, all seven targets, AdamW (0.9, 0.95, 1e-8, no
# weight decay), constant lr 1e-4, grad clip 1, BATCH records a step, STEPS
# steps (default 8).  tk runs each --base-dtype of TK_DTYPES (default
# "f32 auto bf16-dot": float32 packed twice; the GGUF's own 4-bit values,
# exact; rounded to bf16 with bf16 products, the lm_head included, on AMX
# tiles where the CPU has them; TK_AMX=0 in the environment compares
# without); PyTorch each of PY_DTYPES
# (default "fp32 bf16": float32, or bf16 autocast of the forward), with
# its default attention (sdpa).  Throughput is that of the median step
# after the first (warm-up), by wall time (a shared VM's speed varies from
# step to step); peak RSS is the whole process's (/usr/bin/time), model
# loading included; "loss dev" is the largest relative difference of a
# step's loss from PyTorch float32's.  The last lines name tk's fastest
# setting whose losses stay within 1% of PyTorch float32's and its ratio to
# each PyTorch setting.
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
TK_DTYPES=${TK_DTYPES:-f32 auto bf16-dot}
PY_DTYPES=${PY_DTYPES:-fp32 bf16}
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

# both sides train on the stream's first STEPS x BATCH records, in order;
# each run prints "NAME TOKENS/S RSS_KIB LOSS1 LOSS2 ..."
run_tk() { # DTYPE
	local rss
	rss=$( { /usr/bin/time -f 'RSS %M' "$BUILD/bin/tk-sft" -m "$GGUF" -o "$work/run-$1" \
		--base-dtype "$1" --lora-rank 32 --lora-alpha 32 --lr 1e-4 --lr-schedule constant \
		--grad-clip 1 --batch "$BATCH" --steps "$STEPS" --no-shuffle --save-every 0 \
		--max-len "$LEN" --micro-tokens $((BATCH * LEN)) -t "$THREADS" -q "$work/all.tks" \
		>/dev/null; } 2>&1 | sed -n 's/^RSS //p')
	local tps losses
	tps=$(sed -n '2,$p' "$work/run-$1/metrics.jsonl" | head -n $((STEPS - 1)) |
		grep -o '"time/tokens_per_sec": [0-9.]*' | cut -d' ' -f2 | sort -g |
		awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	losses=$(grep -o '"train_mean_nll": [0-9.]*' "$work/run-$1/metrics.jsonl" | cut -d' ' -f2 |
		tr '\n' ' ')
	echo "tk:$1 $tps $rss $losses"
}

run_py() { # DTYPE
	local out
	out=$( { OMP_NUM_THREADS=$THREADS /usr/bin/time -f 'RSS %M' "$PY" - "$GGUF" "$work/all.tks" \
		"$THREADS" "$STEPS" "$BATCH" "$LEN" "$BUILD/bin/tk-render" "$1" <<'PY'
import contextlib, json, os, subprocess, sys, time
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
gguf, tks, threads, steps, batch, length, render, dtype = sys.argv[1:9]
threads, steps, batch, length = int(threads), int(steps), int(batch), int(length)
torch.set_num_threads(threads)
show = subprocess.run([render, '--show', '--json', tks], capture_output=True, text=True, check=True)
rows = [r['tokens'] for r in map(json.loads, show.stdout.splitlines())]
rows = rows[:steps * batch]
assert all(len(r) == length for r in rows), 'records shorter than the length'
folder, name = os.path.split(gguf)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32,
                                             attn_implementation='sdpa')
cfg = LoraConfig(r=32, lora_alpha=32, lora_dropout=0.0, target_modules=[
    'q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'])
model = get_peft_model(model, cfg)
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
autocast = (torch.autocast('cpu', dtype=torch.bfloat16) if dtype == 'bf16'
            else contextlib.nullcontext())
times, losses = [], []
for s in range(steps):
    ids = torch.tensor(rows[s * batch:(s + 1) * batch])
    t0 = time.perf_counter()
    with autocast:
        out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    times.append(time.perf_counter() - t0)
    losses.append(out.loss.item())
rest = sorted(times[1:])
mid = len(rest) // 2
median = rest[mid] if len(rest) % 2 else (rest[mid - 1] + rest[mid]) / 2
print('PY %.1f %s' % (batch * length / median, ' '.join('%.6f' % l for l in losses)))
PY
} 2>&1 )
	local line rss
	line=$(echo "$out" | sed -n 's/^PY //p')
	rss=$(echo "$out" | sed -n 's/^RSS //p')
	if [ -z "$line" ]; then echo "$out" >&2; exit 1; fi
	set -- "$1" $line
	local name=$1 tps=$2
	shift 2
	echo "py:$name $tps $rss $*"
}

results=()
for d in $PY_DTYPES; do results+=("$(run_py "$d")"); done
for d in $TK_DTYPES; do results+=("$(run_tk "$d")"); done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# the table, loss deviations from PyTorch float32's, and the verdict
printf '%s\n' "${results[@]}" | awk -v ref="py:fp32" '
{ name[NR] = $1; tps[NR] = $2; rss[NR] = $3; n[NR] = NF - 3
  for (i = 4; i <= NF; i++) loss[NR, i - 3] = $i
  if ($1 == ref) r = NR }
END {
  printf "%-14s %10s %12s %10s %10s\n", "setting", "tokens/s", "peak MiB", "loss 1", "loss dev"
  for (k = 1; k <= NR; k++) {
    dev[k] = 0
    for (i = 1; r && i <= n[k] && i <= n[r]; i++) {
      d = (loss[k, i] - loss[r, i]) / loss[r, i]; d = d < 0 ? -d : d
      if (d > dev[k]) dev[k] = d
    }
    printf "%-14s %10.1f %12.1f %10.4f %9.2f%%\n", name[k], tps[k], rss[k] / 1024, loss[k, 1], 100 * dev[k]
  }
  best = 0
  for (k = 1; k <= NR; k++)
    if (name[k] ~ /^tk:/ && dev[k] <= 0.01 && (!best || tps[k] > tps[best])) best = k
  if (!best) { print "no tk setting within 1% of PyTorch float32"; exit }
  printf "tk fastest within 1%%: %s", name[best]
  for (k = 1; k <= NR; k++)
    if (name[k] ~ /^py:/) printf ", %.2fx %s (memory %.2fx)", tps[best] / tps[k], name[k], rss[best] / rss[k]
  printf "\n"
}'
