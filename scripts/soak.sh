#!/usr/bin/env bash
# Soak: each core at a fixed rate for minutes with its process sampled
# every second (scenarios/soak.toml: keep-alive at 2000 req/s, then a new
# connection per request at 300 req/s), judged by the soak rules: RSS
# growth after warm-up under 5 %, open descriptors flat, no failed
# request. Prints a verdict per core and cell, writes results (each
# interval's RSS, descriptors and sockets beside its latency) and a report
# whose timeline charts draw them; exits non-zero when any core broke a
# rule. Builds proxybench in release first.
#
#   scripts/soak.sh [--minutes 10] [--cores LIST | --all] [--out DIR] [-- RUN-FLAGS]
#
# RUN-FLAGS go to `proxybench run` (e.g. --skip-conform).
#
# Default cores: one per runtime (tokio-tower, tokio-tpc/borrowing,
# monoio, monoio-epoll, tokio-uring/borrowing, glommio), which share the
# engine and differ in what a leak would hide in; `--all` soaks every
# core. Each core runs alone, one cell after the other: 2 x minutes per
# core in all (two hours for the default six at 10 minutes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=10
cores="tokio-tower,tokio-tpc/borrowing,monoio,monoio-epoll,tokio-uring/borrowing,glommio"
out=results/soak
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --cores) cores="$2"; shift 2 ;;
    --all) cores=""; shift ;;
    --out) out="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n 2,19p "$0"; exit 0 ;;
    *) echo "usage: $0 [--minutes N] [--cores LIST | --all] [--out DIR] [-- RUN-FLAGS]" >&2; exit 2 ;;
  esac
done
case "$minutes" in
  ''|*[!0-9.]*) echo "--minutes takes a number, got '$minutes'" >&2; exit 2 ;;
esac

cargo build --release -q -p proxybench
args=(scenarios/soak.toml --out "$out" --reports reports/soak
  --duration "$(awk -v m="$minutes" 'BEGIN { print m * 60 }')")
if [ -n "$cores" ]; then
  args+=(--cores "$cores")
fi
# The run's table ends with the soak verdicts; its exit status is theirs.
exec target/release/proxybench run "${args[@]}" "$@"
