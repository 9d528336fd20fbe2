#!/usr/bin/env bash
# Makes a Python virtual environment with HdrHistogram's Python reader
# (PyPI package `hdrhistogram`, module `hdrh`, pinned) and prints its
# python's path. The test that checks our .hlog files with it
# (harness/cli/tests/hdr_readers.rs) calls this; so can a user who wants
# to read the files with HdrHistogram's own code:
#
#   scripts/python-hdrh.sh [VENV_DIR]     (default target/hdrh-venv)
#
# Uses $PYTHON, else python3; when there is none (or it lacks venv) and
# this runs as root with apt-get, installs Debian's python3 and
# python3-venv first. Needs PyPI for the package. Idempotent: a venv that
# already has the pinned version is reused.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pin="hdrhistogram==0.10.8"
venv=${1:-target/hdrh-venv}
python=${PYTHON:-python3}

if [ -f "$venv/.installed-$pin" ] && [ -x "$venv/bin/python" ]; then
    echo "$venv/bin/python"
    exit 0
fi

usable() { command -v "$python" >/dev/null 2>&1 && "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; }
if ! usable; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "python-hdrh: installing Debian's python3 and python3-venv" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq python3 python3-venv >&2
        python=python3
    fi
    usable || { echo "python-hdrh: no usable $python with venv (set PYTHON, or run as root to install Debian's python3-venv)" >&2; exit 2; }
fi

"$python" -m venv --clear "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pin" >&2
touch "$venv/.installed-$pin"
echo "$venv/bin/python"
