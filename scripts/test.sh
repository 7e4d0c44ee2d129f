#!/usr/bin/env bash
# The project's test command (README, .ci/run). On a fresh machine with the Rust
# toolchain, Python, Node and Java it installs what it needs (scripts/setup.sh),
# starts DynamoDB Local and moto on free loopback ports, runs every Rust test
# (the emulator suites included: they fail, never skip, without emulators),
# cfn-lint, `sam validate --lint` and checkov, and stops the emulators however it exits.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

scripts/setup.sh

mkdir -p .emulators
RUN_DIR=$(mktemp -d "$ROOT/.emulators/run.XXXXXX")
cleanup() { scripts/emulators.sh stop "$RUN_DIR"; rm -rf "$RUN_DIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
eval "$(scripts/emulators.sh start "$RUN_DIR")"

# The domain crate stays pure: no AWS SDK, no async runtime, no Lambda runtime.
if cargo tree -p domain -e normal --prefix none --locked | grep -Ei '^(aws-|tokio|lambda)'; then
  echo "test.sh: the domain crate depends on an I/O crate (above)" >&2
  exit 1
fi
echo "domain crate: no aws-*, tokio or lambda dependencies"

# The bundled price catalogue is what its build script makes of the source data.
if ! python3 scripts/build-price-catalog.py | diff -q - catalog/price-catalog.json >/dev/null; then
  echo "test.sh: catalog/price-catalog.json differs from scripts/build-price-catalog.py's output; rebuild it" >&2
  exit 1
fi
echo "price catalogue: rebuilt from its source, unchanged"

cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

echo "cfn-lint template.yaml kill-switch-member-role.yaml"
.venv/bin/cfn-lint template.yaml kill-switch-member-role.yaml
echo "cfn-lint: no findings"

# SAM's own validation with its linter, offline (no credentials, no telemetry).
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 .venv-sam/bin/sam validate --lint --template template.yaml

# Security checks; each skip is listed on its resource with the reason.
# --skip-download: offline, with no call to Prisma Cloud for guidelines.
.venv-checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml -f kill-switch-member-role.yaml
