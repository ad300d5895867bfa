#!/usr/bin/env bash
# Creates (once) the Python environment the oracle scripts run in and prints
# its python path.  Only the oracle generators use it: the C build and
# `make test` never need Python packages.
set -euo pipefail
home=${TK_HOME:-$HOME/.cache/tk}
venv=$home/oracle-venv
pins=(torch==2.15.0 transformers==5.24.0 tokenizers==0.23.3 gguf==0.19.0
      safetensors==0.8.0 numpy==2.4.6 jinja2==3.1.6 peft==0.21.2)
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, transformers, tokenizers, gguf, peft' 2>/dev/null; then
	mkdir -p "$home"
	python3 -m venv "$venv" >&2
	"$venv/bin/pip" install -q "${pins[@]}" >&2
fi
echo "$venv/bin/python"
