#!/usr/bin/env bash
# The live-signal benchmark (issue 15): RECORDS Bedrock invocation-log records
# (default 1,000,000) as Bedrock writes them (.json.gz objects of 10,000
# records under AWSLogs/ACCOUNT/BedrockModelInvocationLogs/REGION/YYYY/MM/DD/HH/),
# 14 days × 24 hours, 2,000 callers, 6 models. `finops ingest-logs` (fresh
# home: parse, price, aggregate hourly, write the usage objects and
# manifests, then detect) against DuckDB's read_json computing the same
# hourly sums (requests and tokens per hour, account, caller and model) on 2
# threads, with the result fetched as Arrow. Prints seconds, records/s,
# peak RSS and both group counts (they must agree). Targets (no test asserts
# them): at least DuckDB's speed, ≤ 256 MB.
#
#   scripts/bench-logs.sh [RECORDS]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RECORDS=${1:-1000000}
WORK=${BENCH_DIR:-$ROOT/target/bench-logs}/$RECORDS
PY=$ROOT/.venv/bin/python
[ -x "$PY" ] || { echo "bench: run scripts/setup.sh first (needs .venv with duckdb)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: needs GNU time at /usr/bin/time (Debian package: time)" >&2; exit 2; }
cargo build --profile fast --locked -p finops --quiet
FINOPS=$ROOT/target/fast/finops

if [ ! -f "$WORK/.done" ]; then
  echo "bench: writing $RECORDS records …" >&2
  rm -rf "$WORK"; mkdir -p "$WORK/logs"
  "$PY" - "$WORK/logs" "$RECORDS" <<'PY'
import gzip, json, os, random, sys
from datetime import datetime, timedelta, timezone
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(15)
models = ["us.anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0", "us.amazon.nova-lite-v1:0",
          "amazon.nova-pro-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "meta.llama3-1-405b-instruct-v1:0"]
start = datetime(2026, 10, 1, tzinfo=timezone.utc)
per_file, hours = 10_000, 14 * 24
files = (n + per_file - 1) // per_file
for f in range(files):
    t0 = start + timedelta(hours=f * hours // files)
    d = os.path.join(out, "AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1", t0.strftime("%Y/%m/%d/%H"))
    os.makedirs(d, exist_ok=True)
    lines = []
    for i in range(min(per_file, n - f * per_file)):
        t = t0 + timedelta(seconds=rnd.randrange(3600))
        lines.append(json.dumps({"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "accountId": "111122223333", "identity": {"arn": f"arn:aws:sts::111122223333:assumed-role/dev-{rnd.randrange(500)}/user-{rnd.randrange(4)}"},
            "region": "us-east-1", "requestId": f"{f}-{i}", "operation": "Converse", "modelId": rnd.choice(models),
            "input": {"inputContentType": "application/json", "inputTokenCount": rnd.randrange(50, 20000), "cacheReadInputTokenCount": rnd.randrange(0, 5000), "cacheWriteInputTokenCount": 0},
            "output": {"outputContentType": "application/json", "outputTokenCount": rnd.randrange(10, 2000)}}, separators=(",", ":")))
    with gzip.open(os.path.join(d, f"{t0.strftime('%Y%m%dT%H%M')}_{f:05d}.json.gz"), "wt") as g:
        g.write("\n".join(lines) + "\n")
PY
  touch "$WORK/.done"
fi
echo "bench: $(find "$WORK/logs" -name '*.json.gz' | wc -l) files, $(du -sh "$WORK/logs" | cut -f1) gzipped" >&2

rm -rf "$WORK/home"
/usr/bin/time -f '%e %M' -o "$WORK/finops.time" "$FINOPS" --home "$WORK/home" --format json ingest-logs "$WORK/logs" >"$WORK/finops.out"
/usr/bin/time -f '%e %M' -o "$WORK/duck.time" "$PY" - "$WORK/logs" >"$WORK/duck.out" <<'PY'
import json, sys, time
import duckdb
con = duckdb.connect()
con.execute("SET threads = 2")
t = time.perf_counter()
r = con.sql(f"""
  SELECT date_trunc('hour', CAST("timestamp" AS TIMESTAMP)) AS hour, accountId, region, identity.arn AS principal, modelId,
         count(*) AS requests, sum(input.inputTokenCount) AS input_tokens, sum(output.outputTokenCount) AS output_tokens,
         sum(input.cacheReadInputTokenCount) AS cache_read
  FROM read_json('{sys.argv[1]}/**/*.json.gz', format = 'newline_delimited')
  GROUP BY ALL""").to_arrow_table()
print(json.dumps({"seconds": time.perf_counter() - t, "groups": r.num_rows, "requests": int(r.column("requests").to_pylist().__len__() and sum(r.column("requests").to_pylist()))}))
PY
"$PY" - "$WORK" "$RECORDS" <<'PY'
import json, sys, os
work, n = sys.argv[1], int(sys.argv[2])
fs, fk = open(f"{work}/finops.time").read().split()
ds, dk = open(f"{work}/duck.time").read().split()
duck = json.loads(open(f"{work}/duck.out").read())
out = json.loads(open(f"{work}/finops.out").read())
records = sum(o["records"] for o in out["objects"])
home = f"{work}/home"
facts = 0
# The stored usage facts: count the rows of the usage objects with DuckDB.
import duckdb
facts = duckdb.sql(f"SELECT count(*) FROM read_parquet('{home}/usage/**/*.parquet')").fetchone()[0]
fs, ds = float(fs), float(ds)
print(f"{'':14}{'seconds':>9}{'records/s':>12}{'peak RSS MB':>13}{'groups':>9}")
print(f"{'finops':14}{fs:9.2f}{records / fs:12,.0f}{int(fk) / 1024:13.0f}{facts:9,}")
print(f"{'duckdb query':14}{duck['seconds']:9.2f}{n / duck['seconds']:12,.0f}{'':13}{duck['groups']:9,}")
print(f"{'duckdb process':14}{ds:9.2f}{n / ds:12,.0f}{int(dk) / 1024:13.0f}")
print(f"ratio (DuckDB query time / finops time): {duck['seconds'] / fs:.2f}×   records read by finops: {records:,} of {n:,}")
if facts != duck["groups"]:
    sys.exit(f"bench: finops stored {facts} hourly facts, DuckDB found {duck['groups']} groups")
PY
