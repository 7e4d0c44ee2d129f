#!/usr/bin/env bash
# Cold start of every function of template.yaml: each function's bootstrap
# (x86_64, release: the same code and profile scripts/package.sh builds for
# arm64) is started against a small local Lambda Runtime API, and the time from
# process start to its first GET /runtime/invocation/next is its init. Prints
# min / median / max over RUNS starts per function; fails if a median is over
# the goal (30 ms; FINOPS_INIT_GOAL_MS overrides).
#
#   scripts/bench-coldstart.sh [RUNS]     # default 15
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
runs=${1:-15}
mapfile -t bins < <(sed -n 's/^ *Binary: *\([a-z0-9-]*\) *$/\1/p' template.yaml)
args=()
for b in "${bins[@]}"; do args+=(--bin "$b"); done
cargo build --release --locked "${args[@]}" >&2

python3 - "$runs" "${FINOPS_INIT_GOAL_MS:-30}" "${bins[@]}" <<'PY'
import http.server, os, socket, statistics, subprocess, sys, threading, time

runs, goal, bins = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]

class Api(http.server.BaseHTTPRequestHandler):
    """The one call an init ends with: the first poll for an event."""
    first_next = None
    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next") and Api.first_next is None:
            Api.first_next = time.perf_counter()
            Api.seen.set()
        # Hold the poll (as Lambda does until an event comes); the process is killed.
        time.sleep(5)
    def do_POST(self):
        self.send_response(202); self.end_headers()
    def log_message(self, *a):
        pass

def one_start(path, port):
    Api.first_next, Api.seen = None, threading.Event()
    env = {
        "PATH": "/usr/bin:/bin", "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": os.path.basename(path), "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_LOG_GROUP_NAME": "bench", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_EC2_METADATA_DISABLED": "true",
        "FINOPS_STORE": "dynamodb", "FINOPS_TABLE": "bench", "FINOPS_BUS": "eventbridge", "FINOPS_EVENT_BUS": "bench",
        "FINOPS_LEDGER_BUCKET": "bench", "FINOPS_CUR_LOCATION": "s3://bench-cur/cur2/", "FINOPS_CUR_TABLE": "cid_data_export.cur2",
    }
    t0 = time.perf_counter()
    p = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ok = Api.seen.wait(10)
    p.kill()
    _, err = p.communicate()
    if not ok:
        sys.exit(f"bench-coldstart: {path} never asked for an event: {err.decode(errors='replace')[-500:]}")
    return (Api.first_next - t0) * 1000

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
print(f"{'function':<22} {'size_MB':>8} {'min_ms':>7} {'median_ms':>9} {'max_ms':>7}   ({runs} starts each, x86_64 release, to the first /next)")
over = []
for b in bins:
    path = os.path.join("target", "release", b)
    times = sorted(one_start(path, port) for _ in range(runs))
    med = statistics.median(times)
    print(f"{b:<22} {os.path.getsize(path) / 1048576:>8.1f} {times[0]:>7.1f} {med:>9.1f} {times[-1]:>7.1f}")
    if med > goal:
        over.append(b)
if over:
    sys.exit(f"bench-coldstart: median init over {goal} ms: {', '.join(over)}")
PY
