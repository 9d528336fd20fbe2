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
#   scripts/soak.sh [--minutes 10] [--cores LIST | --all] [--parallel N]
#                   [--out DIR] [-- RUN-FLAGS]
#
# RUN-FLAGS go to `proxybench run` (e.g. --skip-conform).
#
# Default cores: one per runtime (tokio-tower, tokio-tpc/borrowing,
# monoio, monoio-epoll, tokio-uring/borrowing, glommio), which share the
# engine and differ in what a leak would hide in; `--all` soaks every
# core. Each core runs alone, one cell after the other: 2 x minutes per
# core in all (two hours for the default six at 10 minutes).
#
# --parallel N splits the cores into N groups soaked at the same time,
# one `proxybench run` each on two CPUs of its own (core on one, driver
# and origin on the other; results in DIR/group-K, its log beside them),
# so on a machine with 16 CPUs every core of the 32 takes 4 x 2 x minutes
# with N = 8 rather than 32 x 2 x minutes. It needs 2 x N CPUs: groups
# sharing CPUs would overload them (tried on 2 CPUs with N = 8: p99 of
# seconds, the driver behind its schedule), and the soak would judge
# the overload, not the cores. Busy-polling cores (glommio-spin*) keep a
# CPU busy while they run, so they go into one group of their own.
# The binary is copied first: a rebuild during an hours-long soak must
# not swap the program the runner starts its cores from.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=10
cores="tokio-tower,tokio-tpc/borrowing,monoio,monoio-epoll,tokio-uring/borrowing,glommio"
out=results/soak
parallel=1
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --cores) cores="$2"; shift 2 ;;
    --all) cores=""; shift ;;
    --parallel) parallel="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n 2,30p "$0"; exit 0 ;;
    *) echo "usage: $0 [--minutes N] [--cores LIST | --all] [--parallel N] [--out DIR] [-- RUN-FLAGS]" >&2; exit 2 ;;
  esac
done
case "$minutes" in
  ''|*[!0-9.]*) echo "--minutes takes a number, got '$minutes'" >&2; exit 2 ;;
esac

case "$parallel" in
  ''|0|*[!0-9]*) echo "--parallel takes a whole number >= 1, got '$parallel'" >&2; exit 2 ;;
esac

cargo build --release -q -p proxybench
bin=$(mktemp -d "${TMPDIR:-/tmp}/soak-bin.XXXXXX")
cp target/release/proxybench "$bin/proxybench"
pb="$bin/proxybench"
duration=$(awk -v m="$minutes" 'BEGIN { print m * 60 }')

if [ "$parallel" -eq 1 ]; then
  trap 'rm -rf "$bin"' EXIT
  args=(scenarios/soak.toml --out "$out" --reports reports/soak --duration "$duration")
  if [ -n "$cores" ]; then
    args+=(--cores "$cores")
  fi
  # The run's table ends with the soak verdicts; its exit status is theirs.
  status=0
  "$pb" run "${args[@]}" "$@" || status=$?
  exit "$status"
fi

# Groups: busy-polling cores in one group of their own, the rest dealt
# round-robin to the others.
if [ -z "$cores" ]; then
  cores=$("$pb" cores | awk 'NR > 1 && $1 !~ /^(rows|reason:)/ && $3 == "yes" && $2 !~ /^(nginx|haproxy|hyper|pingora)$/ { print $1 }' | paste -sd, -)
fi
IFS=, read -r -a all <<<"$cores"
spin="" plain=()
for core in "${all[@]}"; do
  if [[ "$core" == glommio-spin* ]]; then
    spin+="${spin:+,}$core"
  else
    plain+=("$core")
  fi
done
slots=$parallel
[ -n "$spin" ] && [ "$slots" -gt 1 ] && slots=$((slots - 1))
groups=()
for k in "${!plain[@]}"; do
  i=$((k % slots))
  groups[i]+="${groups[i]:+,}${plain[k]}"
done
[ -n "$spin" ] && groups+=("$spin")

cpus=$(nproc)
if [ $((2 * ${#groups[@]})) -gt "$cpus" ]; then
  echo "--parallel $parallel makes ${#groups[@]} groups, which need $((2 * ${#groups[@]})) CPUs (two each); this machine gives $cpus" >&2
  exit 2
fi
pids=()
children() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap 'children; wait; rm -rf "$bin"' EXIT
mkdir -p "$out"
for i in "${!groups[@]}"; do
  dir="$out/group-$((i + 1))"
  mkdir -p "$dir"
  echo "group $((i + 1)): ${groups[i]} (log: $dir/run.log)"
  "$pb" run scenarios/soak.toml --out "$dir" --reports "reports/soak/group-$((i + 1))" \
    --duration "$duration" --cores "${groups[i]}" --cpus "$((2 * i)),$((2 * i + 1))" \
    "$@" >"$dir/run.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[i]}"; then
    failed=1
    echo "group $((i + 1)) FAILED (${groups[i]}): $out/group-$((i + 1))/run.log"
  fi
done
pids=()
# Each group's soak verdicts, as its run printed them.
for i in "${!groups[@]}"; do
  echo "== group $((i + 1)): ${groups[i]}"
  sed -n '/^soak/,$p' "$out/group-$((i + 1))/run.log"
done
exit "$failed"
