# Helpers of tests/mpi.bats and tests/slurm.bats (bats `load`): the copy
# task's stream, and comparisons of two runs.  They use $FIX and $MPI_BIN
# (or tk-merge / tk-render on PATH).

copy_stream() {
	awk -v n=64 'BEGIN { srand(7); split("red blue green cat dog sun moon tree", w, " ")
		for (i = 0; i < n; i++) {
			k = 2 + int(rand() * 4); s = ""
			for (j = 0; j < k; j++) s = s (j ? " " : "") w[1 + int(rand() * 8)]
			printf "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},", s
			printf "{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", s
		} }' > copy.jsonl
	"${MPI_BIN:+$MPI_BIN/}tk-render" -q -m "$FIX/tiny-llama" copy.jsonl -o copy.tks
}

# The largest |a - b| over two adapters' tensors (exported as PEFT float32
# safetensors), failing when it is over TOL.
adapters_within() { # A.tkc B.tkc TOL
	"${MPI_BIN:+$MPI_BIN/}tk-merge" -q -m "$FIX/tiny-llama" -a "$1" --format peft -o a.peft
	"${MPI_BIN:+$MPI_BIN/}tk-merge" -q -m "$FIX/tiny-llama" -a "$2" --format peft -o b.peft
	python3 - a.peft/adapter_model.safetensors b.peft/adapter_model.safetensors "$3" <<'EOF'
import array, json, struct, sys
def load(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        head, data = json.loads(f.read(n)), f.read()
    out = {}
    for name, t in head.items():
        if name != '__metadata__':
            assert t['dtype'] == 'F32', t['dtype']
            x = array.array('f'); x.frombytes(data[t['data_offsets'][0]:t['data_offsets'][1]])
            out[name] = x
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a and a.keys() == b.keys(), 'the adapters hold different tensors'
worst = max((abs(x - y), name) for name in a for x, y in zip(a[name], b[name]))
print('%d tensors, max |a - b| %.3g (%s)' % (len(a), worst[0], worst[1]))
sys.exit(worst[0] > float(sys.argv[3]))
EOF
	rm -rf a.peft b.peft
}

# The train_mean_nll column of two runs' metrics agree within TOL.
losses_within() { # RUN_A RUN_B TOL
	paste <(grep -o '"train_mean_nll": [0-9.e+-]*' "$1/metrics.jsonl" | cut -d' ' -f2) \
	      <(grep -o '"train_mean_nll": [0-9.e+-]*' "$2/metrics.jsonl" | cut -d' ' -f2) |
		awk -v tol="$3" '{ n++; d = $1 - $2; if ($2 == "" || d > tol || d < -tol) bad++ }
			END { exit !(n > 0 && !bad) }'
}
