#!/usr/bin/env bash
# Creates (once) the Python environment with the tinker SDK that
# tests/serve.bats drives tk-serve with, and prints its python path.
# Exit 2 when PyPI cannot be reached (the test then skips, saying so).
set -euo pipefail
sdk=tinker==0.38.0
home=${TK_HOME:-$HOME/.cache/tk}
venv=$home/serve-venv-${sdk/==/-}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import tinker, numpy' 2>/dev/null; then
	echo "$venv/bin/python"
	exit 0
fi
mkdir -p "$home"
rm -rf "$venv.tmp"
python3 -m venv "$venv.tmp" >&2 || { echo "scripts/serve/venv.sh: python3 -m venv failed (python3-venv missing?)" >&2; exit 1; }
if ! "$venv.tmp/bin/pip" install -q "$sdk" numpy >&2; then
	rm -rf "$venv.tmp"
	if ! python3 -c 'import urllib.request; urllib.request.urlopen("https://pypi.org/simple/tinker/", timeout=10)' 2>/dev/null; then
		echo "scripts/serve/venv.sh: PyPI cannot be reached" >&2
		exit 2
	fi
	echo "scripts/serve/venv.sh: pip install $sdk failed" >&2
	exit 1
fi
rm -rf "$venv"
mv "$venv.tmp" "$venv"
# the venv's scripts name their own folder; a moved venv keeps working for
# `python` itself, which is all the test runs
echo "$venv/bin/python"
