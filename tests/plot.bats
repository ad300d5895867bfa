#!/usr/bin/env bats
# scripts/plot-metrics: runs' metrics.jsonl to one PNG.

setup() {
	cd "$BATS_TEST_TMPDIR"
	PLOT="$BATS_TEST_DIRNAME/../scripts/plot-metrics"
	command -v gnuplot >/dev/null || skip "gnuplot is not installed"
	mkdir -p a b
	for s in 1 2 3 4 5; do
		echo "{\"step\": $s, \"train_mean_nll\": $((10 - s)), \"optim/lr\": 0.001, \"grad_norm\": 1.5}"
	done >a/metrics.jsonl
	sed 's/"train_mean_nll": /"train_mean_nll": 1/' a/metrics.jsonl >b/metrics.jsonl
}

@test "two runs overlaid into one PNG" {
	run "$PLOT" -o cmp.png a b
	[ "$status" -eq 0 ]
	[ "$output" = cmp.png ]
	[ "$(head -c 8 cmp.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	[ "$(stat -c %s cmp.png)" -gt 10000 ]
}

@test "chosen metrics only; a metric no run has is an error" {
	run "$PLOT" -o one.png -m train_mean_nll a/metrics.jsonl
	[ "$status" -eq 0 ]
	run "$PLOT" -o none.png -m env/all/reward/total a
	[ "$status" -ne 0 ]
	[[ "$output" == *"none of the metrics env/all/reward/total"* ]]
	[ ! -e none.png ]
}

@test "bad input names the file and line, missing input exits 66" {
	printf '{"step": 1, "train_mean_nll": 2}\nnot json\n' >bad.jsonl
	run "$PLOT" -o bad.png bad.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"bad.jsonl:2: not JSON"* ]]
	run "$PLOT" -o x.png nothere
	[ "$status" -eq 66 ]
}
