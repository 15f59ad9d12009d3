#!/bin/sh
# Create, once, a Python venv of prebuilt wheels from PyPI, kept while its
# requirements file is unchanged and its modules import.
#   py_venv.sh VENV_DIR [REQUIREMENTS MODULES]
# Without REQUIREMENTS: the gRPC interop tests' server (vector_server.py),
# this directory's requirements.txt, checked by importing grpc,
# grpc_reflection and grpc_tools. cockpit-deps's tests pass their own
# (the Python MCP SDK, chromadb) and the modules to import, comma-separated.
# Called by the tests (when the venv is missing) and by `cargo xtask ci`.
set -eu
venv="$1"
here="$(cd "$(dirname "$0")" && pwd)"
req="${2:-$here/requirements.txt}"
modules="${3:-grpc,grpc_reflection,grpc_tools}"
if [ -x "$venv/bin/python" ] && cmp -s "$req" "$venv/requirements.txt" &&
    "$venv/bin/python" -c "import $modules" 2>/dev/null; then
    exit 0
fi
tmp="$venv.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$venv")"
python3 -m venv "$tmp"
"$tmp/bin/python" -m pip install --quiet --disable-pip-version-check \
    --only-binary=:all: -r "$req"
cp "$req" "$tmp/requirements.txt"
rm -rf "$venv"
mv -T "$tmp" "$venv"
