#!/usr/bin/env bash
# The picklegate GitHub Action's scan step. Reads the action's inputs from INPUT_* variables and
# GitHub's own (GITHUB_EVENT_NAME, GITHUB_BASE_REF, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
# RUNNER_TEMP), resolves the diff base of a pull request (fetching history a shallow checkout
# lacks), runs `picklegate scan --format github` writing the reports, and records the outputs.
# It never fails the step itself: the gate step does, after the SARIF upload.
# Tested with faked variables by scripts/test_action.sh.
set -euo pipefail

bin=${PICKLEGATE_BIN:-picklegate}
out_dir=${INPUT_OUTPUT_DIR:-}
if [[ -z $out_dir ]]; then
  out_dir=${RUNNER_TEMP:-/tmp}/picklegate-reports
fi
mkdir -p "$out_dir"
output=${GITHUB_OUTPUT:-/dev/null}

warn() {
  echo "::warning title=picklegate::$*"
}

args=(scan --format github)
declare -A written=()
IFS=', ' read -r -a formats <<< "${INPUT_FORMATS:-sarif,junit,json}"
for format in "${formats[@]}"; do
  case $format in
    "") ;;
    sarif) written[sarif]=$out_dir/picklegate.sarif; args+=(--sarif "${written[sarif]}") ;;
    junit) written[junit]=$out_dir/picklegate-junit.xml; args+=(--junit "${written[junit]}") ;;
    json) written[json]=$out_dir/picklegate.json; args+=(--json "${written[json]}") ;;
    gitlab-sast) written[gitlab]=$out_dir/gl-sast-report.json; args+=(--gitlab-sast "${written[gitlab]}") ;;
    markdown) written[markdown]=$out_dir/picklegate.md; args+=(--markdown "${written[markdown]}") ;;
    *) echo "::error title=picklegate::unknown format '$format' in input formats (sarif, junit, json, gitlab-sast, markdown)"; echo "exit-code=2" >> "$output"; exit 0 ;;
  esac
done
[[ -n ${INPUT_FAIL_ON:-} ]] && args+=(--fail-on "$INPUT_FAIL_ON")
[[ -n ${INPUT_CONFIG:-} ]] && args+=(--config "$INPUT_CONFIG")
[[ -n ${INPUT_BASELINE:-} ]] && args+=(--baseline "$INPUT_BASELINE")
[[ -n ${INPUT_LFS:-} ]] && args+=(--lfs "$INPUT_LFS")
args+=(--sarif-category "${INPUT_CATEGORY:-picklegate}")

# The pull request's base, unless told otherwise.
base=${INPUT_DIFF_BASE:-auto}
if [[ $base == auto ]]; then
  base=none
  case ${GITHUB_EVENT_NAME:-} in
    pull_request | pull_request_target)
      if [[ -n ${GITHUB_BASE_REF:-} ]]; then
        base=origin/$GITHUB_BASE_REF
      fi
      ;;
  esac
fi

# Makes the merge base of HEAD and $1 available: fetches the base branch when it is missing and
# the history a shallow checkout (actions/checkout's default depth is 1) does not have.
has_merge_base() {
  git rev-parse --verify --quiet "$1^{commit}" > /dev/null && git merge-base HEAD "$1" > /dev/null 2>&1
}
ensure_history() {
  local ref=$1
  has_merge_base "$ref" && return 0
  if [[ $ref == origin/* ]]; then
    git fetch --quiet --no-tags origin "+refs/heads/${ref#origin/}:refs/remotes/$ref" || true
  fi
  has_merge_base "$ref" && return 0
  if [[ $(git rev-parse --is-shallow-repository 2> /dev/null) == true ]]; then
    git fetch --quiet --no-tags --unshallow origin || true
  fi
  has_merge_base "$ref"
}

if [[ $base != none ]]; then
  if ensure_history "$base"; then
    args+=(--diff-base "$base")
  else
    warn "no merge base with $base (checkout history missing); scanning every model file instead of the changed ones. Use actions/checkout with fetch-depth: 0 to avoid this."
  fi
fi

read -r -a extra <<< "${INPUT_ARGS:-}"
read -r -d '' -a paths <<< "${INPUT_PATHS:-.}" || true
[[ ${#paths[@]} -eq 0 ]] && paths=(.)

set +e
"$bin" "${args[@]}" "${extra[@]}" -- "${paths[@]}"
code=$?
set -e

{
  echo "exit-code=$code"
  echo "sarif-file=$( [[ -s ${written[sarif]:-/nonexistent} ]] && echo "${written[sarif]}")"
  echo "junit-file=$( [[ -s ${written[junit]:-/nonexistent} ]] && echo "${written[junit]}")"
  echo "json-file=$( [[ -s ${written[json]:-/nonexistent} ]] && echo "${written[json]}")"
} >> "$output"
if [[ $code -ge 2 ]]; then
  echo "::error title=picklegate::picklegate exited with $code: it could not complete the scan (see above)"
fi
exit 0
