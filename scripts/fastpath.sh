#!/usr/bin/env bash
# Our cores beside nginx and HAProxy on the fast path, in one command:
# installs the reference proxies (scripts/install-references.sh), builds
# proxybench in release, runs scenarios/fastpath.toml (conformance first,
# then five interleaved trials per core and cell), and prints per cell
# each core's median CPU per request as a multiple of nginx's, with its
# p99, syscalls and allocations per request, and whether the fast-path
# targets hold: at the fixed rate, the best of our cores at or below
# 0.8x nginx and every mission core at or below 1.2x.
#
#   scripts/fastpath.sh [--out DIR] [extra `proxybench run` flags, e.g. --skip-conform]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=results/fastpath
if [ "${1:-}" = "--out" ]; then
  out="$2"
  shift 2
fi

scripts/install-references.sh
cargo build --release -q -p proxybench
bin=target/release/proxybench
"$bin" run scenarios/fastpath.toml --out "$out" --reports "reports/fastpath" "$@"
"$bin" export --in "$out/latest.json" | awk -F, '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  $col["status"] != "ok" { next }
  {
    # the cell without its core (a core name may hold a slash)
    core = $col["core"]; key = substr($col["cell"], 1, length($col["cell"]) - length(core) - 1)
    if (!(key in seen)) { seen[key] = 1; cells[++ncells] = key; fixed[key] = ($col["mode"] == "open") }
    if (!((key, core) in n)) order[key, ++ncores[key]] = core
    k = ++n[key, core]
    cpu[key, core, k] = $col["core_cpu_us_per_req"] + 0
    p99[key, core, k] = $col["p99_us"] + 0
    sysc[key, core, k] = $col["syscalls_per_req"]
    allocs[key, core, k] = $col["allocations_per_req"]
  }
  function median(arr, key, core, count,    i, j, t, v) {
    for (i = 1; i <= count; i++) v[i] = arr[key, core, i] + 0
    for (i = 2; i <= count; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return count % 2 ? v[(count + 1) / 2] : (v[count / 2] + v[count / 2 + 1]) / 2
  }
  END {
    mission["tokio-tower"] = mission["monoio"] = mission["monoio-epoll"] = mission["glommio"] = 1
    failed = 0
    for (c = 1; c <= ncells; c++) {
      key = cells[c]
      if (!((key, "nginx") in n)) { print key ": no nginx trial to compare with"; failed = 1; continue }
      base = median(cpu, key, "nginx", n[key, "nginx"])
      printf "\n%s (medians of %d trials)\n", key, n[key, "nginx"]
      printf "  %-22s %12s %9s %10s %9s %10s\n", "core", "cpu us/req", "x nginx", "p99 us", "sysc/req", "allocs/req"
      best = ""; worst_mission = 0
      for (i = 1; i <= ncores[key]; i++) {
        core = order[key, i]; m = median(cpu, key, core, n[key, core]); r = m / base
        s = sysc[key, core, 1]; a = allocs[key, core, 1]
        printf "  %-22s %12.2f %8.2fx %10.0f %9s %10s\n", core, m, r, median(p99, key, core, n[key, core]),
          s == "" ? "n/a" : sprintf("%.2f", median(sysc, key, core, n[key, core])),
          a == "" ? "n/a" : sprintf("%.2f", median(allocs, key, core, n[key, core]))
        if (core != "nginx" && core != "haproxy" && (best == "" || r < best_r)) { best = core; best_r = r }
        if (core in mission && r > worst_mission) { worst_mission = r; worst_core = core }
      }
      if (fixed[key]) {
        printf "  target: best of ours <= 0.80x nginx: %s %.2fx -> %s\n", best, best_r, best_r <= 0.8 ? "met" : "NOT met"
        printf "  target: every mission core <= 1.20x nginx: worst %s %.2fx -> %s\n", worst_core, worst_mission, worst_mission <= 1.2 ? "met" : "NOT met"
      }
    }
    exit failed
  }'
