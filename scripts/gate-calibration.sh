#!/usr/bin/env bash
# Calibrates the paired regression gate (`proxybench gate run`): how often
# does it fail when nothing changed (A/A: the build against itself ->
# false alarms), and how often does it catch a known regression (A/B:
# every request made INJECT % more expensive with --core-spin-iters ->
# detections)? Targets: 0/REPS false alarms, >= 90 % detections.
#
#   scripts/gate-calibration.sh [--reps 10] [--noise DUTY]
#                               [--inject PCT | --inject-iters N]
#                               [--mde-check] [--core NAME] [--policy FILE]
#                               [--scenario FILE] [--pairing MODE]
#                               [--keep DIR]
#
#   --reps N       comparisons of each kind (default 10)
#   --noise DUTY   run a background load the whole time: one unpinned
#                  thread spinning DUTY of every 20 ms (0.5 = half a CPU),
#                  the busy runner the gate must live with (pb-calibrate
#                  noise; started and stopped here, bounded by itself)
#   --inject PCT   the A/B regression, % of the core's CPU per request
#                  (default 10), measured in the conditions the comparisons
#                  run in (with the background load, when there is one:
#                  it makes every request dearer, and +10 % of the quiet
#                  cost would be a smaller regression there)
#   --inject-iters N  the A/B regression as N spin iterations per
#                  request. The spin loop's speed is timed at its best
#                  (pb-calibrate spin-ns); inside a core woken for every
#                  request it runs slower, and any spin at all costs a
#                  little more than its iterations, so the A/B rounds'
#                  own estimates are the injection's size in situ: the
#                  summary prints their median, and this picks the
#                  iterations that make it the size the target is about
#   --mde-check    afterwards, REPS more A/B runs injecting 1.5x the
#                  median minimum detectable effect the A/A runs printed
#                  (in situ: scaled by what the A/B rounds measured of
#                  their injection): the MDE is honest if they are
#                  (nearly) all detected
#   --core NAME    the core judged (default tokio-tower)
#   --policy FILE  default ci/gate.toml (its [paired] section)
#   --scenario F   default ci/gate-paired.toml (gate run's own default)
#   --pairing MODE gate run's --pairing: together (its default: both
#                  builds' trials of a pair at once on the same CPUs),
#                  split or alternate (A B B A)
#   --keep DIR     keep every gate run's gate.json there
#
# Each comparison is one `gate run` (pairs of trials taken as --pairing
# says, judged at its planned looks until decided or its budget is spent), so
# an inconclusive run counts as neither a false alarm nor a detection;
# the figures are printed per round: the estimated change, its interval,
# the pairs it took and the MDE.
#
# Writes a summary to
# ci/calibration/<date>-<host>-<quiet|noise-DUTY>-<pairing>.txt
# (kept in the repository: the record of what the gate can see here).
# Not run in CI: under a minute per comparison on a 2-core machine with
# --pairing together (up to 3 minutes with alternate).
# Exit 0 when the targets are met, 1 when not, 2 on errors.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

reps=10 noise="" inject=10 inject_iters="" mde_check=0 core=tokio-tower
policy=ci/gate.toml scenario=ci/gate-paired.toml keep="" pairing=together
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --noise) noise="$2"; shift 2 ;;
    --inject) inject="$2"; shift 2 ;;
    --inject-iters) inject_iters="$2"; shift 2 ;;
    --mde-check) mde_check=1; shift ;;
    --core) core="$2"; shift 2 ;;
    --policy) policy="$2"; shift 2 ;;
    --scenario) scenario="$2"; shift 2 ;;
    --pairing) pairing="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    -h|--help) sed -n 2,56p "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$reps" in ''|0|*[!0-9]*) echo "--reps takes a whole number >= 1" >&2; exit 2 ;; esac
case "$inject_iters" in *[!0-9]*|0) echo "--inject-iters takes a whole number >= 1" >&2; exit 2 ;; esac
case "$pairing" in together|split|alternate) ;;
*) echo "--pairing takes together, split or alternate, got '$pairing'" >&2; exit 2 ;; esac

cargo build --release --locked -p proxybench -p pb-bench --bins
pb=target/release/proxybench
cal=target/release/pb-calibrate

work=$(mktemp -d "${TMPDIR:-/tmp}/gate-calibration.XXXXXX")
noise_pid=""
noise_started=0
stop_noise() {
    if [ -n "$noise_pid" ]; then
        # The duty achieved: its CPU time (utime + stime, in clock ticks)
        # over the wall time it ran.
        local ticks
        ticks=$(awk '{ print $14 + $15 }' "/proc/$noise_pid/stat" 2>/dev/null || echo "")
        if [ -n "$ticks" ] && [ $((SECONDS - noise_started)) -gt 0 ]; then
            awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v s="$((SECONDS - noise_started))" \
                'BEGIN { printf "%.2f\n", t / hz / s }' >"$work/noise.out"
        fi
        kill "$noise_pid" 2>/dev/null || true
        wait "$noise_pid" 2>/dev/null || true
        noise_pid=""
    fi
}
trap 'stop_noise; rm -rf "$work"' EXIT
[ -n "$keep" ] && mkdir -p "$keep"

if [ -n "$noise" ] && [ "$noise" != 0 ]; then
    # Bounded by itself too: at most four hours even if this script dies.
    "$cal" noise --duty "$noise" --threads 1 --seconds 14400 >/dev/null &
    noise_pid=$! noise_started=$SECONDS
    label="noise-$noise"
    echo "background load: one thread spinning $noise of every 20 ms (pid $noise_pid)"
else
    label=quiet
fi
label="$label-$pairing"

echo "== measuring: $core CPU per request, spin loop cost"
if ! "$pb" run "$scenario" --cores "$core" --trials 5 --out "$work/probe" \
    --reports "$work/reports" --skip-conform -q >"$work/probe.log" 2>&1; then
    echo "error: proxybench run failed:" >&2; tail -20 "$work/probe.log" >&2; exit 2
fi
cpu_us=$("$cal" median --metric cpu_us_per_req "$work/probe/latest.json")
ns_per_iter=$("$cal" spin-ns)
spin_for() { awk -v c="$cpu_us" -v n="$ns_per_iter" -v p="$1" 'BEGIN { printf "%d", (p / 100) * c * 1000 / n + 0.5 }'; }
if [ -n "$inject_iters" ]; then
    spin=$inject_iters
    inject=$(awk -v c="$cpu_us" -v n="$ns_per_iter" -v i="$spin" 'BEGIN { printf "%.1f", i * n / 1000 / c * 100 }')
else
    spin=$(spin_for "$inject")
fi
echo "core CPU per request ${cpu_us} µs (median of 5 trials); spin loop ${ns_per_iter} ns/iteration"
echo "injected cost: --core-spin-iters $spin (~${inject} % of the CPU per request)"

echo "policy: $policy; $reps comparisons of each kind"
echo

# gate KIND SPIN ROUND: one `gate run`; prints "VERDICT CHANGE INTERVAL PAIRS MDE".
gate() {
    local code=0 out="$work/$1-$3"
    "$pb" gate run "$scenario" --baseline-exe "$pb" --candidate-exe "$pb" \
        --cores "$core" --policy "$policy" --core-spin-iters "$2" --pairing "$pairing" \
        --out "$out" -q --format json >"$out.json" 2>"$out.log" || code=$?
    case $code in
    0|1|3) ;;
    *) echo "error: gate run exited $code:" >&2; tail -20 "$out.log" >&2; exit 2 ;;
    esac
    [ -n "$keep" ] && cp "$out.json" "$keep/$label-$1-$3.json"
    python3 - "$out.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
r = g["rows"][0]
iv = r["interval"] or [float("nan")] * 2
print(f'{g["verdict"]} {r["change"] * 100:+.1f}% [{iv[0] * 100:+.1f},{iv[1] * 100:+.1f}] {r["pairs"]} {r["mde"] * 100:.1f}%')
PY
}

false_alarms=0 aa_inconclusive=0 detections=0 ab_inconclusive=0
mdes=() ab_changes=()
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
summary="$work/summary.txt"
{
    echo "gate calibration, $(date -u +%Y-%m-%dT%H:%MZ), host $(hostname), $(nproc) CPUs, $label"
    echo "core $core, ${cpu_us} µs/req; injected +${inject} % (--core-spin-iters $spin); policy $policy"
    echo "scenario $scenario, pairing $pairing"
    echo "round  A/A verdict    change [interval]       pairs  MDE    | A/B verdict    change [interval]       pairs  MDE"
} >"$summary"
started=$SECONDS
for rep in $(seq 1 "$reps"); do
    # gate's `exit 2` ends only the command substitution: pass it on.
    line=$(gate aa 0 "$rep") || exit 2
    read -r aa aa_change aa_iv aa_pairs aa_mde <<<"$line"
    line=$(gate ab "$spin" "$rep") || exit 2
    read -r ab ab_change ab_iv ab_pairs ab_mde <<<"$line"
    [ "$aa" = regression ] && false_alarms=$((false_alarms + 1))
    [ "$aa" = inconclusive ] && aa_inconclusive=$((aa_inconclusive + 1))
    [ "$ab" = regression ] && detections=$((detections + 1))
    [ "$ab" = inconclusive ] && ab_inconclusive=$((ab_inconclusive + 1))
    mdes+=("${aa_mde%\%}")
    ab_changes+=("${ab_change%\%}")
    printf "%5d  %-13s  %-22s  %5s  %-6s | %-13s  %-22s  %5s  %s\n" "$rep" "$aa" "$aa_change $aa_iv" \
        "$aa_pairs" "$aa_mde" "$ab" "$ab_change $ab_iv" "$ab_pairs" "$ab_mde" | tee -a "$summary"
    echo "   [$((SECONDS - started)) s elapsed]"
done

need=$(((reps * 9 + 9) / 10))
ab_median=$(printf '%s\n' "${ab_changes[@]}" | median)
{
    echo "false alarms: $false_alarms/$reps (target 0/$reps); A/A inconclusive: $aa_inconclusive"
    echo "detections:   $detections/$reps (target >= $need/$reps); A/B inconclusive: $ab_inconclusive"
    echo "the injection in situ: median A/B estimate ${ab_median} % for --core-spin-iters $spin (+${inject} % at the spin loop's best speed)"
} | tee -a "$summary"
met=1
[ "$false_alarms" -eq 0 ] && [ "$detections" -ge "$need" ] || met=0

if [ "$mde_check" = 1 ]; then
    mde=$(printf '%s\n' "${mdes[@]}" | median)
    check=$(awk -v m="$mde" 'BEGIN { printf "%.1f", 1.5 * m }')
    # Iterations for 1.5x the MDE in situ: the A/B rounds' injection
    # scaled by what they measured of it.
    check_spin=$(awk -v s="$spin" -v c="$check" -v m="$ab_median" \
        'BEGIN { if (m + 0 <= 0) exit 1; printf "%d", s * c / m + 0.5 }') || {
        echo "error: the A/B rounds measured no injection (median $ab_median %); no MDE check" >&2; exit 2; }
    echo "median MDE of the A/A runs: ${mde} %; injecting 1.5x in situ: +${check} % (--core-spin-iters $check_spin)" | tee -a "$summary"
    caught=0 mde_changes=()
    for rep in $(seq 1 "$reps"); do
        line=$(gate mde "$check_spin" "$rep") || exit 2
        read -r v change iv pairs m <<<"$line"
        [ "$v" = regression ] && caught=$((caught + 1))
        mde_changes+=("${change%\%}")
        printf "%5d  %-13s  %-22s  %5s  %s\n" "$rep" "$v" "$change $iv" "$pairs" "$m" | tee -a "$summary"
    done
    echo "1.5x MDE detected: $caught/$reps (target >= $need/$reps); median estimate $(printf '%s\n' "${mde_changes[@]}" | median) %" | tee -a "$summary"
    [ "$caught" -ge "$need" ] || met=0
fi
stop_noise
if [ -s "$work/noise.out" ]; then
    echo "background load: duty achieved $(cat "$work/noise.out") of one CPU" | tee -a "$summary"
fi

mkdir -p ci/calibration
record="ci/calibration/$(date -u +%Y-%m-%d)-$(hostname)-$label.txt"
cp "$summary" "$record"
echo "summary: $record"
if [ "$met" = 1 ]; then
    echo "calibration: targets met"
else
    echo "calibration: targets NOT met"
    exit 1
fi
