#!/usr/bin/env bash
# The kill switch's latency: from a suspend call to the deny being in place,
# through the whole service on the emulators (DynamoDB Local for the desired
# state and its audit, moto's IAM for the deny and the tag). PRODUCT.md's goal
# is under 2 s; no test asserts it. Prints p50 / p95 / max.
#
#   scripts/bench-kill-switch.sh [N]      (N workloads, default 20)
#
# Needs scripts/setup.sh (the venv with moto, DynamoDB Local).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ENV_FILE=$(mktemp)
RUN=$ROOT/.emulators/run/bench-kill-switch
trap 'scripts/emulators.sh stop "$RUN" >/dev/null 2>&1 || true; rm -f "$ENV_FILE"' EXIT
scripts/emulators.sh start "$RUN" >"$ENV_FILE"
# shellcheck disable=SC1090
. "$ENV_FILE"
FINOPS_BENCH_SUSPENDS=${1:-20} cargo test --locked -q -p enforcers --test suspend_latency -- --ignored --nocapture 2>&1 | grep -E "^kill switch:|panicked|error"
