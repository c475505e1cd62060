#!/usr/bin/env bash
# Runs every cargo-fuzz target for a while, seeding each corpus from the fixtures, and prints
# executions per target. Crashes land in fuzz/artifacts/<target>/; minimize them with
# `cargo fuzz tmin`, fix, and keep the input as a regression test (tests/cli/regressions.rs).
# Needs `cargo install cargo-fuzz`. Works on stable Rust without sanitizers (-s none).
# Usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(reader machine analyze zip tar numpy compress legacy_torch joblib)

cargo fuzz build -s none >/dev/null
for target in "${targets[@]}"; do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  if [ -z "$(ls -A "$corpus")" ]; then
    find ../fixtures -type f ! -name '*.md' ! -name '*.json' ! -name '*.py' -size -256k -exec cp {} "$corpus/" \; 2>/dev/null || true
  fi
  log=$(mktemp)
  cargo fuzz run -s none "$target" "$corpus" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1 || {
    echo "$target: FAILED (see fuzz/artifacts/$target)"; tail -20 "$log"; exit 1;
  }
  runs=$(grep -o 'Done [0-9]* runs' "$log" | awk '{print $2}')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  echo "$target: ${runs:-?} executions in ${seconds}s, coverage $cov edges, corpus $(ls "$corpus" | wc -l) inputs, no crash"
  rm -f "$log"
done
