#!/usr/bin/env bash
# The counter gate CI runs (called from .ci/run): kernel and allocation
# counts per request (system calls, io_uring submissions, heap
# allocations) of ci/gate-counters.toml, through the release binary,
# against the committed baseline results/baseline/counters.json, with the
# absolute thresholds of ci/gate.toml's [counters]. Deterministic: no
# statistics, one run of each cell's three trials (ci/README.md).
# Exit 0 pass, 1 regression, 2 unusable input (perf could not count, a
# cell failed: the message says which and why).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The build ci/icount-gate.sh made (the same packages, so the same
# features and no rebuild).
cargo build --release --locked -p proxybench -p pb-bench --bins
out=target/counters
rm -rf "$out"
target/release/proxybench run ci/gate-counters.toml --skip-conform \
    --out "$out" --reports "$out/reports"
target/release/proxybench gate --counters \
    --baseline results/baseline/counters.json \
    --current "$out/latest.json" \
    --policy ci/gate.toml
