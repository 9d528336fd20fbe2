#!/usr/bin/env bash
# Installs what the reference proxies proxybench runs beside its own cores
# need (`proxybench cores` lists them): Debian's nginx (nginx-light would
# do; the full package is what operators run) and haproxy, and cmake,
# which the Pingora core's zlib-ng is built with (then build proxybench
# with `--features pingora`); and wrk, the external load client a cell
# may name (`client = "wrk"`); iproute2 (`ip`, `tc`), which a cell's
# network path is made with (`network = "lan"`); and OpenSSH, client and
# server, which a driver fleet is reached with (`run --drivers`) and its
# test stands up inside namespaces. Non-interactive; needs root (or sudo)
# and the Debian package mirrors. Installed packages' own services are kept
# from starting: proxybench starts the binaries itself, in the
# foreground, per cell.
set -euo pipefail

need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
present() {
    echo "reference proxies: $(nginx -v 2>&1 | tr -d '\n'), $(haproxy -v 2>&1 | head -1); $(cmake --version | head -1) for pingora (cargo build --release -p proxybench --features pingora); $(wrk -v 2>&1 | head -1 | cut -c1-40) as an external client; $(ssh -V 2>&1) for driver fleets"
}
if [ ${#need[@]} -eq 0 ]; then
    present
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-references: need root or sudo to install ${need[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# The packages' postinst scripts start their services; a policy-rc.d that
# forbids it keeps port 80 free and nothing running behind our back.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    made_policy=1
fi
cleanup() { if [ "$made_policy" -eq 1 ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

echo "install-references: apt-get install ${need[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
present
