#!/usr/bin/env bash
# Coverage-guided fuzzing of the proxies' HTTP codec and engine with
# cargo fuzz (libFuzzer, AddressSanitizer), each target for as long as
# asked. The invariants are harness/fuzzing's (pb-fuzzing); the targets
# are fuzz/fuzz_targets/. Installs cargo-fuzz from crates.io if missing;
# the machine's stable toolchain builds the targets (RUSTC_BOOTSTRAP lets
# it take the sanitizer flags cargo fuzz passes).
#
#   scripts/fuzz.sh [--seconds 60] [target ...]   (default: every target)
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
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    -*) echo "usage: $0 [--seconds N] [target ...]" >&2; exit 2 ;;
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

export RUSTC_BOOTSTRAP=1
cd fuzz
cargo fuzz build -O
failed=()
for target in "${targets[@]}"; do
  corpus="../target/fuzz-corpus/$target"
  mkdir -p "$corpus"
  log="../target/fuzz-corpus/$target.log"
  echo "fuzzing $target for ${seconds}s" >&2
  # A hard stop past the fuzzer's own limit: a target that hangs must not
  # hold CI.
  if timeout -s KILL $((seconds + 120)) cargo fuzz run -O "$target" "$corpus" "corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 \
      >"$log" 2>&1; then
    runs=$(grep -h "stat::number_of_executed_units" "$log" | awk '{ n += $2 } END { print n + 0 }')
    echo "  $target: $runs inputs in ${seconds}s, no failure" >&2
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
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no failure" >&2
