#!/usr/bin/env bash
# Agent Bill's latency (issue: Agent Bill), on the scale benchmark's hard
# month: 5M CUR rows whose 1M AI rows are ~1M distinct facts (4,000 roles ×
# 4 session names × 31 days × 18 usage types) with ~3,600 role claims.
# The month is ingested into a fresh home, its gaps detected, and `finops
# serve` started; then POST /ask is timed from a client on loopback, one
# request at a time, over a mix of questions (every typed question but the
# suspend action) asked by the FinOps Lead and by a Product Owner:
#   cold  the first question on the month (its spend cube is built from the
#         fact ledger), beside DuckDB aggregating the same Parquet file by
#         usage type and principal (the peer's cold path: no attribution);
#   warm  every later question: p50, p95, p99 over ROUNDS × the mix.
# Target (no test asserts it): warm p99 ≤ 200 ms.
#
#   scripts/bench-ask.sh            ROUNDS=30 by default; BENCH_DIR as bench-scale.sh
#
# Needs scripts/setup.sh (the venv with duckdb) and GNU time.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${BENCH_DIR:-$ROOT/target/bench-scale}
ROUNDS=${ROUNDS:-30}
PY=$ROOT/.venv/bin/python
[ -x "$PY" ] || { echo "bench: run scripts/setup.sh first (needs .venv with duckdb)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: needs GNU time at /usr/bin/time (Debian package: time)" >&2; exit 2; }

cargo build --profile fast --locked -p finops --quiet
FINOPS=$ROOT/target/fast/finops
dir=$WORK/hard/data/BILLING_PERIOD=2026-03
file=$dir/cur.parquet
mkdir -p "$dir"
if [ ! -f "$file" ]; then
  echo "bench: generating the hard file (5,000,000 rows) …" >&2
  "$FINOPS" gen-cur --rows 5000000 --period 2026-03 --out "$file" --import-out "$WORK/hard/import.json" --ai-share 0.2 --seed 7 --principals 4000 --sessions 4 --days 31 >/dev/null
fi
home=$WORK/hard/ask-home
rm -rf "$home"
echo "bench: ingesting and detecting gaps …" >&2
"$FINOPS" --home "$home" ingest --threads 2 --format json "$file" >/dev/null
"$FINOPS" --home "$home" import "$WORK/hard/import.json" >/dev/null
"$FINOPS" --home "$home" report gaps --period 2026-03 --format json >/dev/null
lead=$("$FINOPS" --home "$home" token --user fiona@example.com --persona FinOpsLead --scope retail)
po=$("$FINOPS" --home "$home" token --user po-team1@example.com --persona ProductOwner --scope estate)

log=$WORK/hard/ask-serve.log
"$FINOPS" --home "$home" serve --addr 127.0.0.1:0 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "http://" "$log" 2>/dev/null && break; sleep 0.1; done
base=$(grep -o 'http://[0-9.:]*' "$log" | head -1)
[ -n "$base" ] || { echo "bench: the server did not start: $(cat "$log")" >&2; exit 1; }

"$PY" - "$base" "$lead" "$po" "$ROUNDS" "$file" <<'PY'
import json, statistics, sys, time, urllib.request
import duckdb

base, lead, po, rounds, path = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
questions = [
    (lead, "am I over estimate in March 2026?"),
    (lead, "spend by model in 2026-03"),
    (lead, "spend by workload in 2026-03"),
    (lead, "top workloads by growth in 2026-03"),
    (lead, "what is unattributed in 2026-03, and why?"),
    (lead, "cache hit rate in 2026-03"),
    (lead, "which unapproved models are in use in 2026-03?"),
    (lead, "how much MAP credit is at risk in 2026-03?"),
    (po, "am I over estimate in March 2026?"),
    (po, "spend by token type in 2026-03"),
    (po, "top workloads in 2026-03"),
]

def ask(token, q):
    req = urllib.request.Request(f"{base}/ask", data=json.dumps({"question": q}).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        body = json.load(r)
    elapsed = time.perf_counter() - t
    if not body.get("understood"):
        raise SystemExit(f"bench: not understood: {q}: {body}")
    return elapsed, body

cold, first = ask(*questions[0])
warm = []
for _ in range(rounds):
    for token, q in questions:
        warm.append(ask(token, q)[0] * 1000)
warm.sort()
pct = lambda p: warm[min(len(warm) - 1, int(round(p / 100 * (len(warm) - 1))))]

con = duckdb.connect()
con.execute("SET threads = 2")
t = time.perf_counter()
con.sql(f"""SELECT line_item_usage_type, line_item_iam_principal, line_item_line_item_type, sum(line_item_unblended_cost) AS cost
            FROM read_parquet('{path}') WHERE line_item_product_code = 'AmazonBedrock'
            GROUP BY ALL""").to_arrow_table()
duck = time.perf_counter() - t

n = len(first["answer"]["scope"]["workloads"])
print(f"== Agent Bill /ask on the hard month ({n:,} workloads in the FinOps Lead's scope)")
print(f"  cold (cube built)   {cold * 1000:8.1f} ms    duckdb group-by on the same file (2 threads) {duck * 1000:8.1f} ms")
print(f"  warm ({len(warm)} asks)   p50 {pct(50):6.1f} ms   p95 {pct(95):6.1f} ms   p99 {pct(99):6.1f} ms   max {warm[-1]:6.1f} ms")
PY
kill $server 2>/dev/null || true
wait $server 2>/dev/null || true
