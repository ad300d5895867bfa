#!/usr/bin/env bash
# Memory and speed of LoRA training on shapes whose float32 does not fit the
# machine: a random Llama-3.2-1B or Llama-3.1-8B shape with SmolLM2's
# tokenizer (vocab 49,152), written as a Q4_0 GGUF a tensor at a time
# (big_gguf.py; the 8B file is 4.5 GB), trained with LoRA rank 32 on all
# seven targets, records of 512 tokens of GSM8K text, one record a step.
#
# QUANT=q4_k_m (or another llama.cpp file type: q5_k_m, q6_k, ...) has
# llama.cpp's own quantizer (scripts/oracle/llama-venv.sh) requantize that
# file first, as the k-quant GGUFs users download are made (from random
# Q4_0 values here, not a trained model's: its k-quant blocks use fewer of
# their levels than a real file's, which costs nothing in memory or speed).
#
# Prints tk-sft's memory plan, the peak RSS of the whole process
# (/usr/bin/time, loading included) and the tokens/s of the median step
# after the first.  The model file is kept in WORK (default: a folder in
# $TMPDIR, removed at the end) so that a second run can reuse it.
#
#   scripts/bench/big.sh [SHAPE] [THREADS] [STEPS] [DTYPE]
#       SHAPE 1b or 8b (default 8b); STEPS default 3; DTYPE tk-sft's
#       --base-dtype (default auto: the file's own 4-bit blocks)
#
# JSONL= names the GSM8K train.jsonl (default ../shared/data/gsm8k/).
set -euo pipefail
cd "$(dirname "$0")/../.."

SHAPE=${1:-8b}
THREADS=${2:-$(nproc)}
STEPS=${3:-3}
DTYPE=${4:-auto}
LEN=512
BUILD=${BUILD:-build}
JSONL=${JSONL:-../shared/data/gsm8k/train.jsonl}
SMOL=$(scripts/get-model.sh smollm2-135m-instruct)
PY=$(scripts/oracle/venv.sh)
make -s --no-print-directory "$BUILD/bin/tk-sft" "$BUILD/bin/tk-render" "$BUILD/bin/tk-merge"
keep=${WORK:-}
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/big-bench.XXXXXX")}
mkdir -p "$work"
[ -n "$keep" ] || trap 'rm -rf "$work"' EXIT

# the shapes of the two models' Hugging Face config.json, vocab SmolLM2's
case $SHAPE in
1b) shape='"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
    "tie_word_embeddings": true, "rope_scaling": {"rope_type": "llama3", "factor": 32.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}' ;;
8b) shape='"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
    "tie_word_embeddings": false, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}' ;;
*) echo "big.sh: SHAPE is 1b or 8b, not '$SHAPE'" >&2; exit 64 ;;
esac
config() { # SHAPE_FIELDS -> an HF config.json on stdout
	printf '{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 49152,
  "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
  "bos_token_id": 1, "eos_token_id": 2, %s}\n' "$1"
}
model=$work/llama-$SHAPE-q4_0.gguf
if [ ! -s "$model" ]; then
	# the template: SmolLM2's tokenizer and tk's keys on a throwaway shape
	config '"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
    "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": true' \
		>"$work/template.json"
	"$BUILD/bin/tk-merge" -q --init "$work/template.json" --tokenizer "$SMOL" --force \
		-o "$work/template.gguf"
	config "$shape" >"$work/config.json"
	"$PY" scripts/bench/big_gguf.py "$work/template.gguf" "$work/config.json" "$model.part"
	mv "$model.part" "$model"
fi

if [ -n "${QUANT:-}" ]; then
	quant=$work/llama-$SHAPE-$QUANT.gguf
	if [ ! -s "$quant" ]; then
		"$(scripts/oracle/llama-venv.sh)" - "$model" "$quant.part" "$QUANT" <<'PY'
import ctypes, sys
import llama_cpp as L
src, out, kind = sys.argv[1:4]
params = L.llama_model_quantize_default_params()
params.ftype = getattr(L, 'LLAMA_FTYPE_MOSTLY_' + kind.upper())
params.allow_requantize = True
params.nthread = 0
sys.exit(1 if L.llama_model_quantize(src.encode(), out.encode(), ctypes.byref(params)) else 0)
PY
		mv "$quant.part" "$quant"
	fi
	model=$quant
fi

# STEPS records of LEN tokens of GSM8K text
"$PY" - "$JSONL" "$work/text.jsonl" "$((STEPS * LEN * 2))" <<'PY'
import json, sys
src, out, chars = sys.argv[1], sys.argv[2], int(sys.argv[3]) * 4
text = ''
with open(src, encoding='utf-8') as f:
    for line in f:
        d = json.loads(line)
        text += d['question'] + '\n' + d['answer'] + '\n\n'
        if len(text) > chars:
            break
with open(out, 'w', encoding='utf-8') as o:
    o.write(json.dumps({'text': text}) + '\n')
PY
"$BUILD/bin/tk-render" -q --text -m "$SMOL" --max-len "$LEN" -o "$work/all.tks" "$work/text.jsonl"

echo "# $SHAPE shape ($(du -h "$model" | cut -f1) ${QUANT:-q4_0} GGUF), --base-dtype $DTYPE, LoRA r 32, $STEPS steps of 1 x $LEN tokens, $THREADS threads"
echo "# $(nproc) cores, load before $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$work/run"
if ! /usr/bin/time -f 'peak RSS %M KiB, wall %e s' "$BUILD/bin/tk-sft" -m "$model" -o "$work/run" \
	--base-dtype "$DTYPE" --lora-rank 32 --lora-alpha 32 --lr 1e-4 --batch 1 \
	--steps "$STEPS" --no-shuffle --save-every 0 --max-len "$LEN" --micro-tokens "$LEN" \
	-t "$THREADS" "$work/all.tks" >/dev/null 2>"$work/sft.err"; then
	tail -n 5 "$work/sft.err" >&2
	exit 1
fi
grep -i 'plan\|MiB\|peak RSS' "$work/sft.err"
rates=$(grep -o '"time/tokens_per_sec": [0-9.]*' "$work/run/metrics.jsonl" | cut -d' ' -f2)
echo "tokens/s by step: $(echo $rates)"
echo "$rates" | sed 1d | sort -g | awk '{ v[NR] = $1 }
	END { if (NR) printf "median after the first: %.2f tokens/s\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
# loading, reading the weights and packing them: the time before step 1
head -n 1 "$work/run/metrics.jsonl" | awk -v len="$LEN" '{
	match($0, /"time\/tokens_per_sec": [0-9.]+/); tps = substr($0, RSTART + 23, RLENGTH - 23)
	match($0, /"time\/total": [0-9.]+/); total = substr($0, RSTART + 14, RLENGTH - 14)
	if (tps > 0) printf "before step 1 (loading and packing the base): %.0f s\n", total - len / tps }'
echo "# load after $(cut -d' ' -f1-3 /proc/loadavg)"
