#!/usr/bin/env bats
# The golden outputs (tests/golden.sh): tk-sample, tk-sft and tk-eval give
# the committed bytes on the tiny models.  A change that moves code moves
# no bit; one meant to change bits regenerates them and says why.
#
# The bytes are those of the default build (-O3): its vectorised sums
# (omp simd reductions) add in another order than a build without the
# vectoriser (make asan's -O1), so other optimisation levels are skipped,
# saying so.

setup() {
	flags="$(dirname "$TK_BIN")/flags"
	if [ -f "$flags" ] && ! grep -q -- ' -O3 ' "$flags"; then
		skip "the golden bytes are the -O3 build's; this build ($(grep -o -- ' -O[0-9s] ' "$flags")) adds its sums in another order"
	fi
}

@test "golden outputs: sample (batch 1 and 64), sft (LoRA, full, DPO), eval give the committed bytes" {
	"$BATS_TEST_DIRNAME/golden.sh" "$BATS_TEST_TMPDIR/now"
	diff -r "$BATS_TEST_DIRNAME/fixtures/golden" "$BATS_TEST_TMPDIR/now"
}

@test "golden outputs: batch 1 and batch 64 sample the same bits" {
	cmp "$BATS_TEST_DIRNAME/fixtures/golden/sample-b1.jsonl" \
	    "$BATS_TEST_DIRNAME/fixtures/golden/sample-b64.jsonl"
}
