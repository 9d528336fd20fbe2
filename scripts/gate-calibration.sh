#!/usr/bin/env bash
# Calibrates the statistical regression gate: how often does
# `proxybench gate` fail when nothing changed (A/A: the build against
# itself -> false alarms), and how often does it catch a known regression
# (A/B: every request made ~10 % more expensive with --core-spin-iters N
# -> detections)? Targets: 0/10 false alarms, >= 9/10 detections.
#
#   scripts/gate-calibration.sh [REPS] [TRIALS]
#     REPS    comparisons of each kind (default 10)
#     TRIALS  trials per side and comparison (default 20; the gate needs >= 5)
#   environment: POLICY (default ci/gate.toml), CORE (default tokio-tower),
#                INJECT_PCT (default 10), SCENARIO (default ci/gate-echo.toml),
#                KEEP (a directory: keep every round's stitched A, A2 and B
#                results files there, to study them afterwards)
#
# How:
# 1. Measure the core's CPU per request (one run, 5 trials) and the spin
#    loop's ns per iteration (pb-calibrate spin-ns, the same loop the cores
#    run); N = INJECT_PCT % of the CPU per request, in iterations.
# 2. For each comparison, make TRIALS single-trial runs of each of A, A'
#    (the same build again) and B (spin N), alternating A A' B, A' B A,
#    B A A', ... so that drift (another build starting on this machine)
#    hits all three alike, then stitch each side's trials into one results
#    file (pb-calibrate concat).
# 3. gate A vs A' (exit 1 = false alarm) and A vs B (exit 1 = detection).
#    A is shared by both comparisons of a round.
#
# Takes about 15 minutes on a 2-core machine (REPS x 3 x TRIALS runs of
# ~1.2 s).
# Not run in CI. Figures are only meaningful on an otherwise quiet machine;
# what else runs here is noise the gate has to live with.
# Exit 0 when both targets are met, 1 when not, 2 on errors.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

reps=${1:-10}
trials=${2:-20}
policy=${POLICY:-ci/gate.toml}
core=${CORE:-tokio-tower}
inject=${INJECT_PCT:-10}
scenario=${SCENARIO:-ci/gate-echo.toml}

cargo build --release --locked -p proxybench -p pb-bench --bins
pb=target/release/proxybench
cal=target/release/pb-calibrate

work=$(mktemp -d "${TMPDIR:-/tmp}/gate-calibration.XXXXXX")
trap 'rm -rf "$work"' EXIT
keep=${KEEP:-}
[ -n "$keep" ] && mkdir -p "$keep"


# run_once SPIN TRIALS DEST: one `proxybench run` of the scenario (without
# the conformance suite: it is not what is calibrated here).
run_once() {
    local out="$work/out"
    rm -rf "$out"
    if ! "$pb" run "$scenario" --cores "$core" --trials "$2" --out "$out" \
        --reports "$work/reports" --core-spin-iters "$1" \
        --skip-conform \
        >"$work/run.log" 2>&1; then
        echo "error: proxybench run failed:" >&2
        tail -20 "$work/run.log" >&2
        exit 2
    fi
    cp "$out/latest.json" "$3"
}

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f%%", (b / a - 1) * 100 }'; }

echo "== measuring: $core CPU per request, spin loop cost"
run_once 0 5 "$work/probe.json"
cpu_us=$("$cal" median --metric cpu_us_per_req "$work/probe.json")
ns_per_iter=$("$cal" spin-ns)
spin=$(awk -v c="$cpu_us" -v n="$ns_per_iter" -v p="$inject" \
    'BEGIN { printf "%d", (p / 100) * c * 1000 / n + 0.5 }')
echo "core CPU per request ${cpu_us} µs (median of 5 trials); spin loop ${ns_per_iter} ns/iteration"
echo "injected cost: --core-spin-iters $spin (~${inject} % of the CPU per request)"
echo "policy: $policy; $reps comparisons of each kind, $trials trials a side, sides alternated trial by trial"
echo

# verdict BASELINE CURRENT: prints pass or REGRESSION (the gate's table
# is left in $work/gate.txt); anything else is an error.
verdict() {
    local code=0
    "$pb" gate --baseline "$1" --current "$2" --policy "$policy" >"$work/gate.txt" 2>&1 || code=$?
    case $code in
    0) echo pass ;;
    1) echo REGRESSION ;;
    *) echo "error: gate exited $code:" >&2; cat "$work/gate.txt" >&2; echo error ;;
    esac
}

# clock SECONDS: "4m05s".
clock() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

false_alarms=0
detections=0
started=$SECONDS
for rep in $(seq 1 "$reps"); do
    dir="$work/rep$rep"
    mkdir -p "$dir/a" "$dir/a2" "$dir/b"
    a=() a2=() b=()
    for k in $(seq 1 "$trials"); do
        # Rotate the order so no side always runs first.
        case $(((rep + k) % 3)) in
        0) order="a a2 b" ;;
        1) order="a2 b a" ;;
        *) order="b a a2" ;;
        esac
        for side in $order; do
            case $side in
            a) run_once 0 1 "$dir/a/$k.json"; a+=("$dir/a/$k.json") ;;
            a2) run_once 0 1 "$dir/a2/$k.json"; a2+=("$dir/a2/$k.json") ;;
            b) run_once "$spin" 1 "$dir/b/$k.json"; b+=("$dir/b/$k.json") ;;
            esac
        done
    done
    "$cal" concat --out "$dir/A.json" "${a[@]}"
    "$cal" concat --out "$dir/A2.json" "${a2[@]}"
    "$cal" concat --out "$dir/B.json" "${b[@]}"
    if [ -n "$keep" ]; then
        for f in A A2 B; do cp "$dir/$f.json" "$keep/round$rep-$f.json"; done
    fi

    med_a=$("$cal" median --metric cpu_us_per_req "$dir/A.json")
    med_a2=$("$cal" median --metric cpu_us_per_req "$dir/A2.json")
    med_b=$("$cal" median --metric cpu_us_per_req "$dir/B.json")
    aa=$(verdict "$dir/A.json" "$dir/A2.json")
    [ "$aa" = error ] && exit 2
    if [ "$aa" = REGRESSION ]; then
        false_alarms=$((false_alarms + 1))
        cp "$work/gate.txt" "$work/aa-$rep.txt"
    fi
    ab=$(verdict "$dir/A.json" "$dir/B.json")
    [ "$ab" = error ] && exit 2
    if [ "$ab" = REGRESSION ]; then
        detections=$((detections + 1))
    else
        cp "$work/gate.txt" "$work/ab-$rep.txt"
    fi
    elapsed=$((SECONDS - started))
    eta=$((elapsed * (reps - rep) / rep))
    printf "round %2d/%d: A/A %-10s (cpu %s)   A/B %-10s (cpu %s)   [%s elapsed, ETA %s]\n" \
        "$rep" "$reps" "$aa" "$(pct "$med_a" "$med_a2")" "$ab" "$(pct "$med_a" "$med_b")" \
        "$(clock "$elapsed")" "$(clock "$eta")"
done

echo
for f in "$work"/aa-*.txt; do
    [ -e "$f" ] || continue
    echo "-- false alarm, round ${f##*/aa-}:"; cat "$f"
done
for f in "$work"/ab-*.txt; do
    [ -e "$f" ] || continue
    echo "-- missed, round ${f##*/ab-}:"; cat "$f"
done
echo "false alarms: $false_alarms/$reps (target 0/$reps)"
echo "detections:   $detections/$reps (target >= $(((reps * 9 + 9) / 10))/$reps)"
if [ "$false_alarms" -eq 0 ] && [ $((detections * 10)) -ge $((reps * 9)) ]; then
    echo "calibration: targets met"
else
    echo "calibration: targets NOT met"
    exit 1
fi
