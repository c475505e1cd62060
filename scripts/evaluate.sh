#!/usr/bin/env bash
# Runs the peer comparison harness (../shared/eval) over the development corpora and writes
# docs/evaluation.md. Needs the peers' virtualenv (created on first use; PyPI access) and about
# 20 minutes, most of it ModelAudit. Usage: bash scripts/evaluate.sh [--peers LIST]
set -euo pipefail
cd "$(dirname "$0")/.."
shared="$(cd ../shared && pwd)"
out=${EVAL_OUT:-/tmp/picklegate-eval}
venv=${PEERS_VENV:-$HOME/.cache/picklegate-peers-venv}
extra=("$@")

cargo build --release --quiet
[ -x "$venv/bin/python" ] || bash "$shared/eval/setup_peers.sh" "$venv"
mkdir -p "$out"
[ -d "$out/benign-dev" ] || tar xJf "$shared/corpus/benign-dev.tar.xz" -C "$out"

run() {
  python3 "$shared/eval/run_peers.py" "$1" --picklegate-bin target/release/picklegate --out "$out/$2" "${@:3}" "${extra[@]}"
  # One scan of every manifest file for the severity breakdown (the harness records verdicts).
  local files
  mapfile -t files < <(python3 -c 'import json, os, sys
m = json.load(open(sys.argv[1]))
print("\n".join(os.path.join(os.path.dirname(sys.argv[1]), p) for p in m))' "$1/manifest.json")
  # Exit 1 is expected: a file that cannot be fully analysed fails the gate whatever --fail-on says.
  target/release/picklegate scan --quiet --format json --fail-on none "${files[@]}" > "$out/$2/picklegate-scan.json" || [ $? -eq 1 ]
}
run "$out/benign-dev" benign
run "$shared/corpus/malicious-dev" malicious --no-dir-runs
run "$shared/corpus/peer-suites" peer-suites --no-dir-runs

python3 scripts/eval_report.py docs/evaluation.md \
  "benign-dev=$out/benign" "malicious-dev=$out/malicious" "peer-suites=$out/peer-suites"
echo "wrote docs/evaluation.md"
