#!/usr/bin/env bash
# Instruction counts under valgrind (cachegrind, --cache-sim=no):
# instructions per call of every micro-benchmark stack (tower clone, tower
# Buffer, service-async, plain async fn; 1, 4 and 16 layers) and per echo
# request through tokio-tower and monoio-epoll (valgrind cannot run
# io_uring programs). About a minute after the build.
#
#   scripts/icount.sh [OUT.json]        default: target/icount/latest.json
#   scripts/icount.sh results/baseline/icount.json    # refresh the baseline
#
# Always builds with the same cargo command: the counts depend on the
# features cargo unifies across the packages built together, so a binary
# from another build command (e.g. `cargo bench`) would count differently.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-target/icount/latest.json}

if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "valgrind missing: installing it with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
    else
        echo "error: valgrind is required (apt-get install valgrind)" >&2
        exit 2
    fi
fi

cargo build --release --locked -p proxybench -p pb-bench --bins
target/release/pb-icount measure --proxybench target/release/proxybench --out "$out"
