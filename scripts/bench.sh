#!/usr/bin/env bash
# Whole-run benchmarks: wall time (hyperfine) and peak RSS (/usr/bin/time) of `picklegate scan`
# on the inputs docs/benchmarks.md reports. Builds the release binary, generates the inputs it
# needs under $BENCH_DIR (default /tmp/picklegate-bench) from the development corpus, never
# loads a pickle. Usage: bash scripts/bench.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bench=${BENCH_DIR:-/tmp/picklegate-bench}
corpus="$root/../shared/corpus"
runs=10
[ "${1:-}" = "--quick" ] && runs=3
mkdir -p "$bench"

command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed: apt-get install time" >&2; exit 2; }

cargo build --release --quiet
bin="$root/target/release/picklegate"

# Inputs.
if [ ! -d "$bench/benign-dev" ]; then
  tar xJf "$corpus/benign-dev.tar.xz" -C "$bench"
fi
if [ ! -f "$bench/ops3m.pkl" ]; then
  python3 - "$bench/ops3m.pkl" <<'PY'
import pickle, sys
# 1M ints (BININT) and 1M strings (SHORT_BINUNICODE + MEMOIZE): about 3 million opcodes.
data = list(range(1_000_000)) + [f"s{i}" for i in range(1_000_000)]
open(sys.argv[1], "wb").write(pickle.dumps(data, protocol=4))
PY
fi
if [ ! -f "$bench/legacy_350mb.pt" ]; then
  # A real legacy-format checkpoint followed by 350 MB of storage bytes: torch reads five
  # pickles and then raw storages; the scan's cost must not grow with the storages.
  cp "$bench/benign-dev/torch/seq_state_dict_legacy.pt" "$bench/legacy_350mb.pt"
  head -c 350000000 /dev/zero >> "$bench/legacy_350mb.pt"
fi

if [ ! -d "$bench/tree" ]; then
  # A repository-like tree: 10,000 ordinary files in 100 folders and 50 model files.
  python3 - "$bench/tree" "$root/fixtures/pickle/benign" "$root/fixtures/pickle/malicious" <<'PY'
import os, sys, shutil
tree, benign, malicious = sys.argv[1:4]
for d in range(100):
    folder = os.path.join(tree, f"src/pkg{d:03}")
    os.makedirs(folder, exist_ok=True)
    for f in range(100):
        with open(os.path.join(folder, f"module{f:03}.py"), "w") as out:
            out.write(f"# file {d}/{f}\nVALUE = {d * 100 + f}\n")
models = sorted(os.path.join(benign, f) for f in os.listdir(benign))[:40] + sorted(os.path.join(malicious, f) for f in os.listdir(malicious))[:10]
os.makedirs(os.path.join(tree, "models"), exist_ok=True)
for i, path in enumerate(models):
    shutil.copy(path, os.path.join(tree, "models", f"m{i:02}_{os.path.basename(path)}"))
PY
fi

opcodes=$(python3 - "$bench/ops3m.pkl" <<'PY'
import pickletools, sys
print(sum(1 for _ in pickletools.genops(open(sys.argv[1], "rb").read())))
PY
)
echo "ops3m.pkl: $opcodes opcodes, $(stat -c %s "$bench/ops3m.pkl") bytes"

cases=(
  "3M-opcode pickle|$bench/ops3m.pkl"
  "350 MB torch zip (vit_b_16)|$bench/benign-dev/torchvision/vit_b_16_state_dict.pth"
  "350 MB legacy torch file|$bench/legacy_350mb.pt"
  "compressed joblib (xz)|$bench/benign-dev/sklearn/random_forest.xz.joblib"
  "benign-dev folder (72 files)|$bench/benign-dev"
  "malicious-dev folder (118 files)|$corpus/malicious-dev"
  "tree of 10,000 files + 50 models|$bench/tree"
)

printf '\n| input | mean | min | max | peak RSS |\n|---|---|---|---|---|\n'
for case in "${cases[@]}"; do
  name=${case%%|*}
  path=${case#*|}
  json=$(mktemp)
  hyperfine --warmup 2 --runs "$runs" --ignore-failure --export-json "$json" "$bin scan --format json $path" >/dev/null 2>&1
  read -r mean min max < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(*(f'{r[k]*1000:.1f} ms' .replace(' ','_') for k in ('mean','min','max')))" "$json")
  rss=$( (/usr/bin/time -f %M "$bin" scan --format json "$path" 2>&1 >/dev/null || true) | tail -1)
  printf '| %s | %s | %s | %s | %s MB |\n' "$name" "${mean//_/ }" "${min//_/ }" "${max//_/ }" "$((rss / 1024))"
  rm -f "$json"
done

printf '\nthreads on the benign-dev folder:\n'
hyperfine --warmup 1 --runs "$runs" --ignore-failure \
  "$bin scan --format json --jobs 1 $bench/benign-dev" \
  "$bin scan --format json --jobs 2 $bench/benign-dev" 2>/dev/null | grep -E "Time|±|jobs"
