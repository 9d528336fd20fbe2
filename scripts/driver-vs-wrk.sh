#!/usr/bin/env bash
# Driver efficiency against wrk: requests per driver CPU-second, the
# tools pinned to the same CPU, loading the same HTTP target (proxybench's
# origin, or a core started with --target-core) with the same connections
# and duration, in one run: proxybench's driver on each backend (epoll,
# io_uring), then wrk. Installs wrk from Debian's packages if missing.
#
#   scripts/driver-vs-wrk.sh [--connections 50] [--duration 10] [--target-core monoio]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

connections=50
duration=10
target_core=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --target-core) target_core="$2"; shift 2 ;;
    *) echo "usage: $0 [--connections N] [--duration S] [--target-core NAME]" >&2; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk from Debian's packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q
bin=target/release/proxybench
cpus=$(nproc)
target_cpu=0
driver_cpu=$(( cpus > 1 ? 1 : 0 ))

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

ready_addr() { # file -> addr from the readiness line
  for _ in $(seq 100); do
    if grep -q proxybench-ready "$1" 2>/dev/null; then
      sed -n 's/.*addr=\([^ ]*\).*/\1/p' "$1"; return 0
    fi
    sleep 0.05
  done
  echo "no readiness line in $1" >&2; return 1
}

"$bin" origin --id o --cpus "$target_cpu" >"$tmp/origin" & pids+=($!)
addr=$(ready_addr "$tmp/origin")
if [ -n "$target_core" ]; then
  printf '[[pool]]\nname = "o"\nupstreams = ["%s"]\n[[route]]\npool = "o"\n' "$addr" >"$tmp/proxy.toml"
  "$bin" proxy --core "$target_core" --scenario http-forward --config "$tmp/proxy.toml" --cpus "$target_cpu" >"$tmp/proxy" & pids+=($!)
  addr=$(ready_addr "$tmp/proxy")
fi
echo "target: $addr${target_core:+ (through $target_core)}, driver CPU $driver_cpu, $connections connections, ${duration}s each" >&2

python3 - "$bin" "$addr" "$connections" "$duration" "$driver_cpu" <<'PY'
import json, re, resource, subprocess, sys
binary, addr, conns, duration, cpu = sys.argv[1:]

def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

# proxybench's driver on each backend: tiny body, keep-alive, closed
# loop, one thread.
pb = {}
for driver in ["epoll", "io_uring"]:
    out = subprocess.run(
        [binary, "load", "--target", addr, "--http", "get", "--message-bytes", "0",
         "--connections", conns, "--duration", duration, "--warmup", "1",
         "--threads", "1", "--cpus", cpu, "--driver", driver, "--json"],
        check=True, capture_output=True, text=True).stdout
    trial = json.loads(out[out.index("{"):])
    pb[driver] = (trial["qps"], trial["driver_cpu_us_per_req"])

# wrk, pinned the same way; its CPU from the kernel's accounting.
before = children_cpu()
w = subprocess.run(["taskset", "-c", cpu, "wrk", "-t1", f"-c{conns}", f"-d{duration}s",
                    f"http://{addr}/?size=0"], check=True, capture_output=True, text=True).stdout
wrk_cpu = children_cpu() - before
total = int(re.search(r"(\d+) requests in", w).group(1))
wrk_rps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
wrk_cpu_per_req = wrk_cpu * 1e6 / total

wrk_eff = 1e6 / wrk_cpu_per_req
for driver, (rps, cpu_per_req) in pb.items():
    print(f"proxybench {driver:<8}: {rps:10.0f} req/s  {cpu_per_req:6.2f} µs driver CPU/req  {1e6 / cpu_per_req:10.0f} req per CPU-second")
print(f"wrk                : {wrk_rps:10.0f} req/s  {wrk_cpu_per_req:6.2f} µs driver CPU/req  {wrk_eff:10.0f} req per CPU-second")
for driver, (_, cpu_per_req) in pb.items():
    print(f"efficiency ratio (proxybench {driver} / wrk): {1e6 / cpu_per_req / wrk_eff:.2f}x")
PY
