#!/usr/bin/env bash
# Runs the GitHub Action's logic (action/scan.sh, action/gate.sh) with GitHub's environment
# faked, on a temporary repository cloned shallowly like actions/checkout does, and checks what
# it writes: outputs, step summary, annotations, SARIF. Then lints the action and the example
# workflow: check-jsonschema (vendor.github-actions / github-workflows), actionlint, zizmor.
#
#   bash scripts/test_action.sh [PICKLEGATE_BINARY]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(realpath "${1:-$repo/target/debug/picklegate}")
[[ -x $bin ]] || { echo "test_action: no picklegate binary at $bin (cargo build first)" >&2; exit 2; }
# shellcheck source=scripts/ci_tools.sh
source "$repo/scripts/ci_tools.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git_() {
  git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main -c protocol.file.allow=always "$@"
}

# An "origin" with main (a benign model) and a pull-request branch adding a malicious one.
origin=$work/origin
git_ init -q "$origin"
mkdir -p "$origin/models"
cp "$repo/fixtures/pickle/benign/data_p4.pkl" "$origin/models/base.pkl"
git_ -C "$origin" add -A
git_ -C "$origin" commit -q -m base
git_ -C "$origin" checkout -q -b feature
cp "$repo/fixtures/pickle/malicious/os_system_p2.pkl" "$origin/models/new.pkl"
git_ -C "$origin" add -A
git_ -C "$origin" commit -q -m "add a model"

# actions/checkout's default: depth 1, the head only.
checkout=$work/checkout
git_ clone -q --depth 1 --branch feature "file://$origin" "$checkout"

run_scan() { # event, then extra environment assignments
  local event=$1
  shift
  rm -rf "$work/runner"
  mkdir -p "$work/runner/temp"
  : > "$work/runner/output"
  : > "$work/runner/summary"
  printf '{"pull_request": {"base": {"ref": "main"}}}\n' > "$work/runner/event.json"
  (cd "$checkout" && env \
    GITHUB_EVENT_NAME="$event" GITHUB_EVENT_PATH="$work/runner/event.json" \
    GITHUB_OUTPUT="$work/runner/output" GITHUB_STEP_SUMMARY="$work/runner/summary" \
    RUNNER_TEMP="$work/runner/temp" PICKLEGATE_BIN="$bin" "$@" \
    bash "$repo/action/scan.sh" > "$work/runner/stdout" 2> "$work/runner/stderr")
}
output() { grep -E "^$1=" "$work/runner/output" | tail -1 | cut -d= -f2-; }

# A pull request: only the changed file is scanned, after fetching the history the shallow
# clone lacks; the gate fails after the reports were written.
run_scan pull_request GITHUB_BASE_REF=main INPUT_FORMATS=sarif,junit,json
check "pull request: exit-code output is 1" test "$(output exit-code)" = 1
check "pull request: only the changed file was scanned" test "$(output files)" = 1
check "pull request: gate output is failed" test "$(output gate)" = failed
sarif=$(output sarif-file)
check "pull request: SARIF written" test -s "$sarif"
check "pull request: SARIF names the new file" grep -q '"uri": "models/new.pkl"' "$sarif"
check "pull request: JUnit and JSON written" test -s "$(output junit-file)" -a -s "$(output json-file)"
check "pull request: annotation for the new file" grep -q '^::error file=models/new.pkl,line=1,title=picklegate dangerous-call' "$work/runner/stdout"
check "pull request: step summary written" grep -q '^## picklegate: gate failed' "$work/runner/summary"
check "pull request: shallow clone was deepened" test "$(git -C "$checkout" rev-parse --is-shallow-repository)" = false
check "gate step fails with the scan's code" bash -c "! EXIT_CODE=1 bash '$repo/action/gate.sh' > /dev/null"
check "gate step passes on 0" env EXIT_CODE=0 bash "$repo/action/gate.sh"

# A push: everything is scanned; fail-on none passes the gate.
run_scan push INPUT_FAIL_ON=none INPUT_FORMATS=sarif
check "push: every model file scanned" test "$(output files)" = 2
check "push: fail-on none passes" test "$(output exit-code)" = 0
check "push: only the SARIF asked for" test -z "$(output junit-file)"

# A bad input is picklegate's usage error (2), reported, and the step itself still succeeds.
run_scan push INPUT_FAIL_ON=severe
check "bad input: exit-code 2" test "$(output exit-code)" = 2
check "bad input: error annotation" grep -q '^::error title=picklegate::picklegate exited with 2' "$work/runner/stdout"

# Lint the action and the example workflow.
check "action.yml: vendor.github-actions schema" "$CI_VENV/bin/check-jsonschema" --builtin-schema vendor.github-actions "$repo/action.yml"
check "example workflow: vendor.github-workflows schema" "$CI_VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows "$repo/docs/ci/picklegate.github-workflow.yml"
check "example workflow: actionlint" actionlint "$repo/docs/ci/picklegate.github-workflow.yml"
check "action.yml and example workflow: zizmor, no high findings" "$CI_VENV/bin/zizmor" --offline --quiet --min-severity high "$repo/action.yml" "$repo/docs/ci/picklegate.github-workflow.yml"
check "action scripts: bash -n" bash -n "$repo/action/scan.sh" "$repo/action/gate.sh" "$repo/action/install.sh"

if [[ $failures -gt 0 ]]; then
  echo "test_action: $failures check(s) failed"
  sed -n 1,40p "$work/runner/stderr" >&2 || true
  exit 1
fi
echo "test_action: all checks passed"
