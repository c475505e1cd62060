#!/usr/bin/env bash
# Proves the pre-commit hook works as a user would run it: `pre-commit try-repo` of this
# repository (language: rust, so pre-commit builds picklegate with cargo install) against a
# temporary git repository holding a malicious and a benign model. The hook refuses the
# malicious one, and passes once it is no longer staged; the commit then goes through.
#
#   bash scripts/test_precommit.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/ci_tools.sh
source "$repo/scripts/ci_tools.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PRE_COMMIT_HOME=${PRE_COMMIT_HOME:-$CI_TOOLS/pre-commit-home}
# Reuse compiled dependencies between runs of this script.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR_PRECOMMIT:-$repo/target/pre-commit}
git_() { git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main "$@"; }

user=$work/user
git_ init -q "$user"
mkdir -p "$user/models"
cp "$repo/fixtures/pickle/malicious/os_system_p2.pkl" "$user/models/evil.pkl"
cp "$repo/fixtures/pickle/benign/data_p4.pkl" "$user/models/ok.pkl"
# A file named like an option must stay a file name (the hook passes names after `--`).
cp "$repo/fixtures/pickle/benign/data_p4.pkl" "$user/--exclude=*.pkl"
echo "notes" > "$user/README.md"
git_ -C "$user" add -A

failures=0
if (cd "$user" && "$CI_VENV/bin/pre-commit" try-repo "$repo" picklegate > "$work/refused.log" 2>&1); then
  echo "FAIL the hook accepted a malicious model"
  failures=$((failures + 1))
else
  if grep -q "models/evil.pkl" "$work/refused.log" && grep -q "os.system('true')" "$work/refused.log"; then
    echo "ok   the hook refuses models/evil.pkl and says why"
  else
    echo "FAIL the hook failed without naming the malicious file"
    failures=$((failures + 1))
  fi
fi

git_ -C "$user" rm -q --cached models/evil.pkl
rm "$user/models/evil.pkl"
if (cd "$user" && "$CI_VENV/bin/pre-commit" try-repo "$repo" picklegate > "$work/accepted.log" 2>&1); then
  echo "ok   the hook passes the benign model"
else
  echo "FAIL the hook refused a benign model"
  failures=$((failures + 1))
fi
if git_ -C "$user" commit -q -m "benign model"; then
  echo "ok   the commit without the malicious model goes through"
else
  failures=$((failures + 1))
fi

if [[ $failures -gt 0 ]]; then
  echo "test_precommit: $failures check(s) failed; pre-commit said:"
  cat "$work/refused.log" "$work/accepted.log" 2> /dev/null | tail -40
  exit 1
fi
echo "test_precommit: all checks passed"
