#!/usr/bin/env bash
# Creates (once) a Python environment holding llama.cpp through the
# llama-cpp-python package, built from source for this CPU, and prints its
# python path.  Two scripts use it: the optional llama.cpp peer of
# scripts/bench/sample.sh and scripts/oracle/q4km_fixture.py (llama.cpp's
# own quantizer).  Nothing in the C build or `make test` needs it.
#
# The build compiles llama.cpp (8 minutes here with one job); it is
# native (GGML_NATIVE: this CPU's AVX-512, VNNI, AMX), as a user's
# `pip install llama-cpp-python` builds it, and leaves out the multimodal
# library, the examples and the tools, which neither script uses.
# LLAMA_JOBS sets the build's parallel jobs (default: all cores).
set -euo pipefail
home=${TK_HOME:-$HOME/.cache/tk}
venv=$home/llama-venv
version=0.3.36
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
	mkdir -p "$home"
	python3 -m venv "$venv" >&2
	"$venv/bin/pip" install -q scikit-build-core numpy typing-extensions diskcache jinja2 >&2
	CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
	CMAKE_BUILD_PARALLEL_LEVEL=${LLAMA_JOBS:-$(nproc)} \
		"$venv/bin/pip" install -q --no-deps --no-build-isolation "llama-cpp-python==$version" >&2
fi
echo "$venv/bin/python"
