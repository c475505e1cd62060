#!/usr/bin/env bash
# Whole-directory runs of picklegate and the peers on the same files, in the same run: every
# development corpus in one folder (benign-dev, malicious-dev, peer-suites). Wall time and peak
# RSS of one run per tool; tools that finish within seconds (picklegate, picklescan...) are then
# timed with hyperfine and their median reported; and picklegate's scaling with threads and with
# the number of files. Prints a Markdown table for docs/benchmarks.md. Needs the peers'
# virtualenv (../shared/eval/setup_peers.sh) and hyperfine.
#
#   bash scripts/bench_peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
shared="$(cd ../shared && pwd)"
venv=${PEERS_VENV:-$HOME/.cache/picklegate-peers-venv}
work=${BENCH_DIR:-/tmp/picklegate-bench}/all-corpora
bin=target/release/picklegate
timeout_s=${PEER_TIMEOUT:-1200}

cargo build --release --quiet
[ -x "$venv/bin/python" ] || bash "$shared/eval/setup_peers.sh" "$venv"
# picklescan stops at the first 7z file without py7zr (its `7z` extra); give it what it needs.
"$venv/bin/python" -c 'import py7zr' 2>/dev/null || "$venv/bin/pip" install --quiet py7zr
if [ ! -d "$work" ]; then
  mkdir -p "$work"
  tar xJf "$shared/corpus/benign-dev.tar.xz" -C "$work"
  cp -r "$shared/corpus/malicious-dev" "$shared/corpus/peer-suites" "$work/"
  find "$work" -name manifest.json -delete
fi
files=$(find "$work" -type f | wc -l)
bytes=$(du -sb "$work" | cut -f1)

# One timed run: prints "seconds peak_kb exit_code".
timed() {
  local out rc
  out=$(mktemp)
  set +e
  PROMPTFOO_DISABLE_TELEMETRY=1 NO_ANALYTICS=1 timeout "$timeout_s" /usr/bin/time -f "%e %M" -o "$out" "$@" > /dev/null 2>&1
  rc=$?
  set -e
  if [ "$rc" = 124 ]; then
    echo "timeout - $rc"
  else
    echo "$(tail -n 1 "$out") $rc"
  fi
  rm -f "$out"
}

maps_wrapper='
import json, os, sys
import modelaudit_picklescan as mp
paths = sorted(os.path.join(b, f) for b, _, fs in os.walk(sys.argv[1]) for f in fs)
with mp.shared_source_sensitive_caches():
    n = sum(1 for p in paths if mp.scan_file(p).verdict.value in ("malicious", "suspicious"))
print(n)
'

echo "all-corpora: $files files, $((bytes / 1000000)) MB, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
echo
# Median wall time of hyperfine runs (tools that finish in seconds are timed the same way as
# picklegate: warm-ups, then the median of many runs).
median() {
  local runs=$1 json
  shift
  json=$(mktemp)
  PROMPTFOO_DISABLE_TELEMETRY=1 NO_ANALYTICS=1 hyperfine --style none -N -i -w 2 -r "$runs" \
    --export-json "$json" "$(printf '%q ' "$@")" > /dev/null 2>&1
  python3 -c "import json, sys; print('%.4f' % json.load(open(sys.argv[1]))['results'][0]['median'])" "$json"
  rm -f "$json"
}

echo "| tool | wall s (median) | peak RSS MB | exit |"
echo "|---|---|---|---|"
read -r _s kb rc < <(timed "$bin" scan --quiet --format json "$work")
best=$(median 30 "$bin" scan --quiet --format json "$work")
echo "| picklegate $($bin --version | cut -d' ' -f2) (median of 30) | $best | $((kb / 1024)) | $rc |"
fastest=""
run_peer() {
  local name=$1
  shift
  read -r s kb rc < <(timed "$@")
  if [ "$s" = timeout ]; then
    echo "| $name | > $timeout_s (timed out) | - | - |"
    return
  fi
  if awk "BEGIN{exit !($s < 10)}"; then
    s=$(median 10 "$@")
    name="$name (median of 10)"
  fi
  echo "| $name | $s | $((kb / 1024)) | $rc |"
  if [ -z "$fastest" ] || awk "BEGIN{exit !($s < $fastest)}"; then fastest=$s; fastest_name=$name; fi
}
run_peer "picklescan $("$venv/bin/pip" show picklescan 2>/dev/null | awk '/^Version/{print $2}')" "$venv/bin/picklescan" -p "$work"
run_peer "modelscan $("$venv/bin/pip" show modelscan 2>/dev/null | awk '/^Version/{print $2}')" "$venv/bin/modelscan" scan -p "$work"
run_peer "modelaudit-picklescan $("$venv/bin/pip" show modelaudit-picklescan 2>/dev/null | awk '/^Version/{print $2}') (Python API, batch mode)" "$venv/bin/python" -c "$maps_wrapper" "$work"
run_peer "modelaudit $("$venv/bin/pip" show modelaudit 2>/dev/null | awk '/^Version/{print $2}')" "$venv/bin/modelaudit" scan --format json --no-cache "$work"
echo "| fickling | no directory mode | | |"
echo
awk "BEGIN{printf \"picklegate is %.0fx faster than the fastest peer (%s, %s s)\n\", $fastest / $best, \"$fastest_name\", $fastest}"
echo
echo "Threads (median of 30):"
for jobs in 1 2; do
  echo "- --jobs $jobs: $(median 30 "$bin" scan --quiet --format json --jobs "$jobs" "$work") s"
done
echo
echo "Files (median of 30, --jobs 2):"
for part in benign-dev malicious-dev peer-suites; do
  echo "- $part ($(find "$work/$part" -type f | wc -l) files): $(median 30 "$bin" scan --quiet --format json "$work/$part") s"
done
