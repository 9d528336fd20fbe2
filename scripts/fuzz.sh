#!/usr/bin/env bash
# Coverage-guided fuzzing of the proxies' HTTP codec and engine with
# cargo fuzz (libFuzzer, AddressSanitizer), each target for as long as
# asked. The invariants are harness/fuzzing's (pb-fuzzing); the targets
# are fuzz/fuzz_targets/. Installs cargo-fuzz from crates.io if missing;
# the machine's stable toolchain builds the targets (RUSTC_BOOTSTRAP lets
# it take the sanitizer flags cargo fuzz passes).
#
#   scripts/fuzz.sh [--seconds 60 | --runs N] [--seed S] [target ...]
#
# Default: every target, 60 s each, a fresh random seed. `--runs N` with
# `--seed S` makes a run repeatable (libFuzzer then walks the same inputs
# for the same tree); CI fuzzes that way, so a finding there reproduces
# here with the same command, and never depends on how busy the runner was
# (a seeded run starts from the committed seeds alone).
#
# Each target starts from its committed seeds (fuzz/corpus/<target>/) and
# from what earlier runs here found (target/fuzz-corpus/<target>/, where
# new inputs go, so the tree stays clean). A failing input is saved under
# fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/ with a
# name that says what it found, and `cargo test -p pb-fuzzing` replays it
# from then on. Exit status: 0 when no target failed, 1 otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=60
runs=""
seed=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    -h|--help) sed -n 2,22p "$0"; exit 0 ;;
    -*) echo "usage: $0 [--seconds N | --runs N] [--seed S] [target ...]" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(request_head response_head chunked exchange)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz from crates.io" >&2
  cargo install --locked --quiet cargo-fuzz
fi

# What bounds each target: its inputs when counted, otherwise its time.
bound=(-max_total_time="$seconds")
what="${seconds}s"
if [ -n "$runs" ]; then
  bound=(-runs="$runs")
  what="$runs inputs"
  # A generous wall-clock stop for the counted run below.
  seconds=1800
fi
if [ -n "$seed" ]; then
  bound+=(-seed="$seed")
  what="$what, seed $seed"
fi

export RUSTC_BOOTSTRAP=1
cd fuzz
cargo fuzz build -O
failed=()
for target in "${targets[@]}"; do
  corpus="../target/fuzz-corpus/$target"
  if [ -n "$seed" ]; then
    # Repeatable: from the committed seeds alone, whatever ran here before.
    corpus="../target/fuzz-corpus/seeded/$target"
    rm -rf "$corpus"
  fi
  mkdir -p "$corpus"
  log="../target/fuzz-corpus/$target.log"
  echo "fuzzing $target ($what)" >&2
  # A hard stop past the fuzzer's own limit: a target that hangs must not
  # hold CI.
  if timeout -s KILL $((seconds + 120)) cargo fuzz run -O "$target" "$corpus" "corpus/$target" -- \
      "${bound[@]}" -print_final_stats=1 \
      >"$log" 2>&1; then
    done_runs=$(grep -h "stat::number_of_executed_units" "$log" | awk '{ n += $2 } END { print n + 0 }')
    done_secs=$(grep -h "stat::average_exec_per_sec" "$log" | awk -v n="$done_runs" '{ r += $2 } END { if (r > 0) printf "%.0f", n / r; else print "?" }')
    echo "  $target: $done_runs inputs in about ${done_secs}s, no failure" >&2
  else
    failed+=("$target")
    echo "  $target: FAILED; the input is under fuzz/artifacts/$target/:" >&2
    grep -m 1 -A 4 "panicked at" "$log" >&2 || tail -n 20 "$log" >&2
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${failed[*]} failed" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $what each, no failure" >&2
