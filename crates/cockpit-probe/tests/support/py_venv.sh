#!/bin/sh
# Create, once, the Python venv that runs the gRPC interop tests' server
# (vector_server.py): the packages of requirements.txt, prebuilt wheels from
# PyPI. Kept while requirements.txt is unchanged. Usage: py_venv.sh VENV_DIR
# Called by the tests (when the venv is missing) and by `cargo xtask ci`.
set -eu
venv="$1"
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/requirements.txt"
if [ -x "$venv/bin/python" ] && cmp -s "$req" "$venv/requirements.txt" &&
    "$venv/bin/python" -c 'import grpc, grpc_reflection, grpc_tools' 2>/dev/null; then
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
