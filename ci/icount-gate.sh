#!/usr/bin/env bash
# The deterministic regression gate CI runs (called from .ci/run):
# instruction counts under valgrind of the micro-benchmark stacks and of
# echo requests through the cores valgrind can run (tokio-tower,
# monoio-epoll), compared with the committed baseline
# results/baseline/icount.json under ci/gate.toml (2 % threshold).
# Exit 0 pass, 1 regression, 2 unusable input or a count that failed.
# Installs valgrind with apt-get when it is missing and we are root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

current=target/icount/current.json
scripts/icount.sh "$current"
target/release/proxybench gate \
    --baseline results/baseline/icount.json \
    --current "$current" \
    --policy ci/gate.toml
