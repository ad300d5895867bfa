#!/usr/bin/env bash
# The main job.  The demo pipeline (render → SFT → sample → eval → merge on
# SmolLM2-135M-Instruct) lands with its issue; until then this shows what
# was built.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
echo "tk: built in $BUILD/:"
for c in "$BUILD"/bin/tk-*; do
	[ -x "$c" ] && "$c" --version
done
echo "tk: the demo pipeline is not built yet (see README, Status)."
