#!/usr/bin/env bash
# Validates a full set of picklegate reports against the schemas vendored in tests/schemas/.
#
#   bash scripts/validate_reports.sh DIR
#
# DIR must hold all three of:
#   picklegate.sarif    OASIS SARIF 2.1.0 schema (check-jsonschema, format checks on), then the
#                       Microsoft SARIF multitool's validator with its SARIF and GitHub Advanced
#                       Security rules (--rule-kind "Sarif;Ghas"); any result of level error fails
#   gl-sast-report.json GitLab SAST report schema 15.2.1 (check-jsonschema)
#   junit.xml           Jenkins xUnit junit-10.xsd (xmlschema); root must be testsuites/testsuite
#
# Prints one line per check and exits 1 if any check fails (2 on bad usage or tool setup).
# Tools are pinned and cached under ${PICKLEGATE_TOOLS:-$HOME/.cache/picklegate-tools}: a Python
# venv (venv/) and an npm prefix (npm/). Both are created on first use (PyPI and npm access),
# rebuilt when the pins below change, and reused otherwise. PYTHON picks the interpreter that
# creates the venv (default python3).
set -euo pipefail

CHECK_JSONSCHEMA_VERSION=0.39.0
JSONSCHEMA_VERSION=4.26.0 # its format-nongpl extra makes uri/uri-reference formats checked
XMLSCHEMA_VERSION=4.3.2
SARIF_MULTITOOL_VERSION=5.7.0

SARIF_SCHEMA="sarif-schema-2.1.0.json"
GITLAB_SCHEMA="gitlab-sast-report-format-15.2.1.json"
JUNIT_XSD="junit-10.xsd"

if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
  echo "usage: $0 DIR  (DIR holds picklegate.sarif, gl-sast-report.json and junit.xml)" >&2
  exit 2
fi
dir=$1
if [[ ! -d $dir ]]; then
  echo "validate_reports: $dir is not a directory" >&2
  exit 2
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
schemas=$repo/tests/schemas
tools=${PICKLEGATE_TOOLS:-$HOME/.cache/picklegate-tools}
venv=$tools/venv
npm_prefix=$tools/npm

die() {
  echo "validate_reports: $*" >&2
  exit 2
}

for f in "$SARIF_SCHEMA" "$GITLAB_SCHEMA" "$JUNIT_XSD"; do
  [[ -f $schemas/$f ]] || die "missing vendored schema $schemas/$f"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------------------------
# Tool setup (serialised with flock where available, so parallel runs don't install twice).

mkdir -p "$tools"
exec 9>"$tools/.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

py_pins="check-jsonschema==$CHECK_JSONSCHEMA_VERSION jsonschema[format-nongpl]==$JSONSCHEMA_VERSION xmlschema==$XMLSCHEMA_VERSION"
if [[ ! -x $venv/bin/python || "$(cat "$venv/.picklegate-pins" 2>/dev/null)" != "$py_pins" ]]; then
  echo "setup: creating $venv ($py_pins)"
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv" >"$work/venv.log" 2>&1 || {
    cat "$work/venv.log" >&2
    die "could not create the venv"
  }
  # shellcheck disable=SC2086 # py_pins is a list of requirement specifiers
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $py_pins \
    >"$work/pip.log" 2>&1 || {
    cat "$work/pip.log" >&2
    die "pip install failed"
  }
  printf '%s' "$py_pins" >"$venv/.picklegate-pins"
fi
py=$venv/bin/python
check_jsonschema=$venv/bin/check-jsonschema

case $(uname -s) in
  Linux) platform=linux ;;
  Darwin) platform=darwin ;;
  *) die "no SARIF multitool package for $(uname -s)" ;;
esac
mt_pkg=@microsoft/sarif-multitool-$platform
mt_dir=$npm_prefix/node_modules/$mt_pkg
installed_version() { # prints the version of the npm package whose directory is $1, or nothing
  "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$1/package.json" \
    2>/dev/null || true
}
if [[ "$(installed_version "$mt_dir")" != "$SARIF_MULTITOOL_VERSION" ||
  "$(installed_version "$npm_prefix/node_modules/@microsoft/sarif-multitool")" != "$SARIF_MULTITOOL_VERSION" ]]; then
  command -v npm >/dev/null 2>&1 || die "npm is needed to install @microsoft/sarif-multitool"
  echo "setup: installing @microsoft/sarif-multitool@$SARIF_MULTITOOL_VERSION into $npm_prefix"
  mkdir -p "$npm_prefix"
  # The wrapper only depends on the platform package as "^x.y.z": name it too, pinned exactly.
  npm install --prefix "$npm_prefix" --save-exact --no-audit --no-fund --loglevel=error \
    "@microsoft/sarif-multitool@$SARIF_MULTITOOL_VERSION" \
    "$mt_pkg@$SARIF_MULTITOOL_VERSION" >"$work/npm.log" 2>&1 || {
    cat "$work/npm.log" >&2
    die "npm install failed"
  }
fi
# The platform package ships a self-contained .NET executable. Its postinstall (chmod u+x) does
# not run when install scripts are off, so find it and make it executable ourselves. It is run
# directly: the npm wrapper spawns it through a shell, which splits "Sarif;Ghas" at the ';'.
multitool=$(find "$mt_dir" -maxdepth 1 -type f -name Sarif.Multitool 2>/dev/null | head -n 1)
[[ -n $multitool ]] || die "Sarif.Multitool not found under $mt_dir"
[[ -x $multitool ]] || chmod a+x "$multitool"
# Keeps the .NET runtime from needing libicu on minimal images; validation is culture-free.
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=${DOTNET_SYSTEM_GLOBALIZATION_INVARIANT:-1}
export DOTNET_CLI_TELEMETRY_OPTOUT=1

exec 9>&-

# ---------------------------------------------------------------------------------------------
# Checks

failures=0
pass() { echo "ok   $*"; }
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
}
indent() { sed 's/^/       /'; }

# check_schema NAME FILE SCHEMA: check-jsonschema with every format check left on.
check_schema() {
  if "$check_jsonschema" --schemafile "$3" "$2" >"$work/cj.log" 2>&1; then
    pass "$1"
  else
    fail "$1"
    indent <"$work/cj.log"
  fi
}

sarif=$dir/picklegate.sarif
gitlab=$dir/gl-sast-report.json
junit=$dir/junit.xml

if [[ -f $sarif ]]; then
  check_schema "$sarif: OASIS SARIF 2.1.0 schema (check-jsonschema)" "$sarif" "$schemas/$SARIF_SCHEMA"

  name="$sarif: SARIF multitool $SARIF_MULTITOOL_VERSION validate, rules Sarif;Ghas"
  mt_rc=0
  "$multitool" validate "$sarif" --rule-kind "Sarif;Ghas" --max-file-size-in-kb 1048576 \
    --output "$work/multitool.sarif" --log ForceOverwrite >"$work/multitool.log" 2>&1 || mt_rc=$?
  # The multitool exits 0 even when it reports errors: decide from its output log. A result's
  # level defaults to its rule's defaultConfiguration.level, then to "warning".
  summary=$("$py" - "$work/multitool.sarif" <<'PY' 2>&1
import json, sys
try:
    log = json.load(open(sys.argv[1], encoding="utf-8-sig"))
except (OSError, ValueError) as e:
    print(f"no readable output log ({e})")
    sys.exit(1)
errors = warnings = 0
for run in log.get("runs") or []:
    rules = run.get("tool", {}).get("driver", {}).get("rules") or []
    for res in run.get("results") or []:
        level = res.get("level")
        if level is None:
            i = res.get("ruleIndex", -1)
            rule = rules[i] if 0 <= i < len(rules) else {}
            level = (rule.get("defaultConfiguration") or {}).get("level", "warning")
        errors += level == "error"
        warnings += level == "warning"
    for inv in run.get("invocations") or []:
        for key in ("toolExecutionNotifications", "toolConfigurationNotifications"):
            for n in inv.get(key) or []:
                if n.get("level", "warning") == "error":
                    errors += 1
                    print(f"tool notification: {n.get('message', {}).get('text', n)}")
        if inv.get("executionSuccessful") is False:
            errors += 1
            print("executionSuccessful is false")
print(f"{errors} error(s), {warnings} warning(s)")
sys.exit(1 if errors else 0)
PY
  ) && ok=1 || ok=0
  if [[ $ok == 1 && $mt_rc == 0 ]]; then
    pass "$name: ${summary##*$'\n'}"
    grep -E ': warning ' "$work/multitool.log" | indent || true
  else
    fail "$name: ${summary##*$'\n'} (exit $mt_rc)"
    { grep -E ': (error|warning) |^SARIF\.MULTITOOL : ' "$work/multitool.log" || cat "$work/multitool.log"; } | indent
    if [[ $summary == *$'\n'* ]]; then
      printf '%s\n' "${summary%$'\n'*}" | indent
    fi
  fi
else
  fail "$sarif: missing"
fi

if [[ -f $gitlab ]]; then
  check_schema "$gitlab: GitLab SAST report schema 15.2.1 (check-jsonschema)" "$gitlab" "$schemas/$GITLAB_SCHEMA"
else
  fail "$gitlab: missing"
fi

if [[ -f $junit ]]; then
  if "$py" - "$schemas/$JUNIT_XSD" "$junit" >"$work/junit.log" 2>&1 <<'PY'; then
import sys
import xmlschema
schema = xmlschema.XMLSchema(sys.argv[1])
try:
    root = xmlschema.XMLResource(sys.argv[2]).root
except Exception as e:  # not well-formed, unreadable, ...
    print(f"cannot parse: {e}")
    sys.exit(1)
bad = 0
# Every top-level element of the XSD is a legal root (even <failure/>); a report must start at
# a suite.
if root.tag not in ("testsuites", "testsuite"):
    print(f"root element is <{root.tag}>, expected <testsuites> or <testsuite>")
    bad += 1
for err in schema.iter_errors(sys.argv[2]):
    bad += 1
    if bad <= 20:
        print(f"{err.path}: {err.reason}")
if bad > 20:
    print(f"... {bad - 20} more")
sys.exit(1 if bad else 0)
PY
    pass "$junit: Jenkins xUnit junit-10.xsd (xmlschema)"
  else
    fail "$junit: Jenkins xUnit junit-10.xsd (xmlschema)"
    indent <"$work/junit.log"
  fi
else
  fail "$junit: missing"
fi

if ((failures)); then
  echo "validate_reports: $failures check(s) failed"
  exit 1
fi
echo "validate_reports: all checks passed"
