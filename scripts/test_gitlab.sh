#!/usr/bin/env bash
# Checks the GitLab CI template (docs/ci/picklegate.gitlab-ci.yml): it passes check-jsonschema's
# vendor.gitlab-ci schema, and its two jobs' scripts, run as a runner would run them on a
# merge-request pipeline of a temporary repository (CI_MERGE_REQUEST_DIFF_BASE_SHA set, the
# picklegate binary already installed), scan only the change, exit 0 with every report written,
# and then fail the pipeline in the gate job.
#
#   bash scripts/test_gitlab.sh [PICKLEGATE_BINARY]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(realpath "${1:-$repo/target/debug/picklegate}")
[[ -x $bin ]] || { echo "test_gitlab: no picklegate binary at $bin (cargo build first)" >&2; exit 2; }
# shellcheck source=scripts/ci_tools.sh
source "$repo/scripts/ci_tools.sh"
template=$repo/docs/ci/picklegate.gitlab-ci.yml

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git_() { git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main "$@"; }

check "template: vendor.gitlab-ci schema" "$CI_VENV/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci "$template"

# A job's `script` lines, joined as the runner joins them.
job_script() {
  "$CI_VENV/bin/python" - "$template" "$1" << 'PY'
import sys, yaml
jobs = yaml.safe_load(open(sys.argv[1]))
print("set -e")
for line in jobs[sys.argv[2]]["script"]:
    print(line)
PY
}

project=$work/project
git_ init -q "$project"
mkdir -p "$project/models" "$project/.picklegate-bin/bin"
cp "$repo/fixtures/pickle/benign/data_p4.pkl" "$project/models/base.pkl"
git_ -C "$project" add -A
git_ -C "$project" commit -q -m base
base_sha=$(git -C "$project" rev-parse HEAD)
git_ -C "$project" checkout -q -b feature
cp "$repo/fixtures/pickle/malicious/os_system_p2.pkl" "$project/models/new.pkl"
git_ -C "$project" add -A
git_ -C "$project" commit -q -m "add a model"
ln -s "$bin" "$project/.picklegate-bin/bin/picklegate"

run_job() { # job name, then environment assignments
  local job=$1
  shift
  job_script "$job" > "$work/$job.sh"
  (cd "$project" && env PATH="$project/.picklegate-bin/bin:$PATH" PICKLEGATE_FAIL_ON=high PICKLEGATE_PATHS=. "$@" \
    sh "$work/$job.sh" > "$work/$job.log" 2>&1)
}

check "scan job exits 0 on a merge request with a malicious model" run_job picklegate CI_MERGE_REQUEST_DIFF_BASE_SHA="$base_sha"
for report in picklegate.sarif gl-sast-report.json picklegate-junit.xml picklegate.json; do
  check "scan job writes $report" test -s "$project/$report"
done
check "scan job scans only the merge request's change" \
  "$CI_VENV/bin/python" -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if [f["path"] for f in r["files"]] == ["models/new.pkl"] else 1)' "$project/picklegate.json"
fails() { ! "$@"; }
check "gate job fails the pipeline" fails run_job picklegate-gate
check "gate job names the file" grep -q "models/new.pkl" "$work/picklegate-gate.log"
mkdir -p "$work/reports"
cp "$project/picklegate.sarif" "$project/gl-sast-report.json" "$work/reports/"
cp "$project/picklegate-junit.xml" "$work/reports/junit.xml"
check "the template's reports validate" bash "$repo/scripts/validate_reports.sh" "$work/reports"

# On the default branch (no diff base) every model file is scanned.
check "default-branch scan job exits 0" run_job picklegate CI_MERGE_REQUEST_DIFF_BASE_SHA=
check "default-branch scan covers every model" \
  "$CI_VENV/bin/python" -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if len(r["files"]) == 2 else 1)' "$project/picklegate.json"

if [[ $failures -gt 0 ]]; then
  echo "test_gitlab: $failures check(s) failed"
  for log in "$work"/*.log; do tail -n 20 "$log" >&2; done
  exit 1
fi
echo "test_gitlab: all checks passed"
