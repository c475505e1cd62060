#!/usr/bin/env bash
# Builds picklegate from the action's own checkout (the same commit as the action) and puts it
# on PATH for the following steps. Cargo.lock is honoured (--locked).
set -euo pipefail

root=${RUNNER_TEMP:-/tmp}/picklegate-bin
if [[ -x $root/bin/picklegate ]]; then
  echo "picklegate already installed in $root"
else
  if ! command -v cargo > /dev/null; then
    echo "::error title=picklegate::cargo is not installed on this runner; add a Rust toolchain step (for example dtolnay/rust-toolchain) before picklegate"
    exit 1
  fi
  cargo install --locked --quiet --path "$GITHUB_ACTION_PATH" --root "$root"
fi
echo "$root/bin" >> "$GITHUB_PATH"
"$root/bin/picklegate" --version
