#!/usr/bin/env bash
# Renders a proxybench report and checks it the way a reader sees it: opens
# the page in headless Chromium from disk, fails if any image did not load
# or the page refers to anything outside its own directory, and saves a
# full-page screenshot.
#
#   scripts/report-screenshot.sh [RESULTS] [OUT_DIR]
#   scripts/report-screenshot.sh REPORT_DIR
#
#   RESULTS     results file (default: results/latest.json)
#   OUT_DIR     report directory (default: reports/screenshot); the
#               screenshot is written beside it as OUT_DIR.png
#   REPORT_DIR  an existing report (a directory with index.html): checked
#               and photographed as it is, not rendered again
#   BASELINE    (environment) a results file to compare with, passed as
#               --baseline
#
# Paths given are relative to the current directory; the defaults are
# relative to the repository root.
#
# Installs Debian's `chromium` with apt-get when it is missing (needs root).
# Exit status: 0 when every image loaded, 1 when the page is broken, 2 for
# usage or environment errors.
set -euo pipefail

die() { echo "report-screenshot: $*" >&2; exit 2; }
# An argument as an absolute path (the script runs from the repository root).
absolute() { if [[ $1 == /* ]]; then printf '%s' "$1"; else printf '%s/%s' "$PWD" "$1"; fi; }

given_results=${1:+$(absolute "$1")}
given_out=${2:+$(absolute "$2")}
if [[ -n ${BASELINE:-} ]]; then BASELINE=$(absolute "$BASELINE"); fi
cd "$(dirname "$0")/.."

if [[ $# -eq 1 && -d $given_results ]]; then
    out=$given_results
    [[ -f $out/index.html ]] || die "$out has no index.html"
else
    results=${given_results:-results/latest.json}
    out=${given_out:-reports/screenshot}
    [[ -f $results ]] || die "no results file at $results (run: cargo run --release -- run)"
    args=(report --in "$results" --out "$out")
    if [[ -n ${BASELINE:-} ]]; then args+=(--baseline "$BASELINE"); fi
    cargo run --quiet --release -- "${args[@]}" || die "proxybench report failed"
fi
shot="${out%/}.png"
[[ $shot == /* ]] || shot="$(pwd)/$shot"
html="$(cd "$out" && pwd)/index.html"
[[ -f $html ]] || die "no page at $html"

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
    [[ $(id -u) -eq 0 ]] || die "chromium is not installed and installing it needs root"
    echo "report-screenshot: installing chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends chromium >&2
    browser=$(command -v chromium) || die "chromium did not install"
fi

profile=$(mktemp -d)
probe_page=$(mktemp --suffix=.html)
trap 'rm -rf "$profile" "$probe_page"' EXIT

chrome() {
    "$browser" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync \
        --user-data-dir="$profile" --hide-scrollbars "$@" 2>/dev/null
}

# The page must be self-contained: no http(s) or protocol-relative URLs in
# src/href attributes or CSS url(...).
if grep -Eqi '(src|href)="(https?:)?//|url\((https?:)?//' "$html"; then
    echo "report-screenshot: $html refers to external assets:" >&2
    grep -Eoi '(src|href)="(https?:)?//[^"]*"|url\((https?:)?//[^)]*\)' "$html" >&2
    exit 1
fi

# Every image file must be there and complete: a truncated PNG still shows
# its top rows in a browser, so check the PNG signature and the IEND chunk
# that ends every whole PNG.
report_dir=$(dirname "$html")
files_bad=0
hexbytes() { od -An -tx1 | tr -d ' \n'; }
while IFS= read -r src; do
    file="$report_dir/$src"
    if [[ ! -s $file ]]; then
        echo "report-screenshot: $src: missing or empty" >&2
        files_bad=1
    elif [[ $src == *.png ]] &&
        { [[ $(head -c 8 "$file" | hexbytes) != 89504e470d0a1a0a ]] ||
          [[ $(tail -c 8 "$file" | hexbytes) != 49454e44ae426082 ]]; }; then
        echo "report-screenshot: $src: not a complete PNG" >&2
        files_bad=1
    fi
done < <(grep -o '<img [^>]*src="[^"]*"' "$html" | sed -E 's/.*src="([^"]*)"/\1/')
if [[ $files_bad -ne 0 ]]; then
    echo "report-screenshot: FAILED: images of $html are missing or broken" >&2
    exit 1
fi

# A copy of the page, with a <base> so relative paths still resolve to the
# report directory and a probe that runs once everything has loaded: it
# lists every <img> that did not load or has no pixels, and measures the
# page for the screenshot. (Image decoding promises are not used: under
# virtual time they do not always settle; completeness of the files is
# checked above instead.) The report itself carries no script.
dir_url="file://$(dirname "$html")/"
probe='<script>
window.addEventListener("load", function () {
  var bad = [];
  Array.prototype.forEach.call(document.images, function (img) {
    if (!img.complete || img.naturalWidth === 0) bad.push(img.getAttribute("src"));
  });
  var r = document.createElement("pre");
  r.id = "pb-probe";
  r.textContent = "images=" + document.images.length + " broken=" + bad.length +
    " [" + bad.join(",") + "] height=" + document.documentElement.scrollHeight;
  document.body.appendChild(r);
});
</script>'
shopt -u patsub_replacement 2>/dev/null || true # keep '&' literal below
page=$(<"$html")
page=${page/<head>/<head><base href=\"$dir_url\">}
page=${page/<\/body>/$probe</body>}
printf '%s\n' "$page" >"$probe_page"

dom=$(chrome --virtual-time-budget=15000 --dump-dom "file://$probe_page") ||
    die "chromium failed to load $probe_page"
verdict=$(printf '%s' "$dom" | grep -o 'images=[0-9]* broken=[0-9]* \[[^]]*\] height=[0-9]*' || true)
[[ -n $verdict ]] || { echo "report-screenshot: the page never finished loading" >&2; exit 1; }
echo "report-screenshot: $verdict"

images=$(sed -E 's/images=([0-9]+).*/\1/' <<<"$verdict")
broken=$(sed -E 's/.*broken=([0-9]+).*/\1/' <<<"$verdict")
height=$(sed -E 's/.*height=([0-9]+).*/\1/' <<<"$verdict")
expected=$(grep -o '<img ' "$html" | wc -l)
if [[ $broken -ne 0 || $images -ne $expected || $images -eq 0 ]]; then
    echo "report-screenshot: FAILED: $broken of $images images did not load (page has $expected)" >&2
    exit 1
fi

# Full page, capped so a huge matrix still gives a usable image.
height=$(( height + 40 ))
if (( height > 30000 )); then height=30000; fi
rm -f "$shot"
chrome --window-size="1280,$height" --virtual-time-budget=15000 \
    --screenshot="$shot" "file://$html" >/dev/null ||
    die "chromium could not take the screenshot"
[[ -s $shot ]] || die "no screenshot at $shot"
echo "report-screenshot: page $html"
echo "report-screenshot: screenshot $shot (1280x$height)"
