#!/usr/bin/env bash
# The ingest benchmark: one 10M-row CUR 2.0 Parquet file (5 % AI rows, all 127
# columns), read into facts by `finops ingest` and aggregated by DuckDB (2
# threads) running the backfill query (`finops athena-sql`, the same SQL Athena
# gets) over the same file. Prints rows/s for both, the ratio and our peak RSS.
#
#   scripts/bench-ingest.sh [ROWS]        (default 10000000)
#
# Targets: ratio ≥ 1.0 (at least as fast as DuckDB), peak RSS ≤ 256 MB.
# Needs scripts/setup.sh (the venv with duckdb) and GNU time (/usr/bin/time).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=${1:-10000000}
WORK=${BENCH_DIR:-$ROOT/target/bench-ingest}
PY=$ROOT/.venv/bin/python
[ -x "$PY" ] || { echo "bench: run scripts/setup.sh first (needs .venv with duckdb)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: needs GNU time at /usr/bin/time (Debian package: time)" >&2; exit 2; }

cargo build --profile fast --locked -p finops --quiet
FINOPS=$ROOT/target/fast/finops
mkdir -p "$WORK/data/BILLING_PERIOD=2026-03"
FILE=$WORK/data/BILLING_PERIOD=2026-03/cur-$ROWS.parquet
if [ ! -f "$FILE" ]; then
  echo "bench: generating $ROWS rows of CUR 2.0 (5 % AI) …"
  "$FINOPS" gen-cur --rows "$ROWS" --ai-share 0.05 --seed 42 --period 2026-03 --out "$FILE" --import-out "$WORK/import.json" >/dev/null
fi
echo "bench: $(du -h "$FILE" | cut -f1) file, $(nproc) cores"

# Ours: a fresh home each run, so the whole write path is timed too.
rm -rf "$WORK/home"
/usr/bin/time -f '%e %M' -o "$WORK/ours.time" "$FINOPS" --home "$WORK/home" ingest --threads 2 --format json "$FILE" >"$WORK/ours.json"
read -r OURS_S OURS_KB <"$WORK/ours.time"

# DuckDB: the same aggregation, 2 threads, over the same file. Only the query
# is timed (not Python's start-up), which favours DuckDB.
"$FINOPS" athena-sql --period 2026-03 --database cid --table cur2 >"$WORK/backfill.sql"
/usr/bin/time -f '%e %M' -o "$WORK/duck.time" "$PY" - "$WORK/backfill.sql" "$FILE" >"$WORK/duck.json" <<'PY'
import json, sys, time
import duckdb
sql, path = open(sys.argv[1]).read(), sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("CREATE SCHEMA cid")
con.execute(f"CREATE VIEW cid.cur2 AS SELECT *, '2026-03' AS billing_period FROM read_parquet('{path}')")
t = time.perf_counter()
rows = con.execute(sql).fetchall()
elapsed = time.perf_counter() - t
json.dump({"seconds": elapsed, "ai_facts": sum(1 for r in rows if r[0])}, sys.stdout)
PY
read -r _ DUCK_KB <"$WORK/duck.time"
DUCK_S=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$WORK/duck.json")

"$PY" - "$ROWS" "$OURS_S" "$OURS_KB" "$DUCK_S" "$DUCK_KB" "$WORK/ours.json" "$WORK/duck.json" <<'PY'
import json, sys
rows, ours_s, ours_kb, duck_s, duck_kb = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
ours = json.load(open(sys.argv[6]))[0]
duck = json.load(open(sys.argv[7]))
ours_rate, duck_rate = rows / max(ours_s, 1e-9), rows / max(duck_s, 1e-9)
print(f"rows:              {rows}")
print(f"finops ingest:      {ours_s:.2f} s  {ours_rate:,.0f} rows/s  ({ours['ai_facts']} AI facts)")
print(f"duckdb (2 threads): {duck_s:.2f} s  {duck_rate:,.0f} rows/s  ({duck['ai_facts']} AI facts, query only)")
print(f"ratio (ours/duckdb rows/s): {ours_rate / duck_rate:.2f}   target >= 1.0")
print(f"peak RSS finops:   {ours_kb / 1024:.0f} MB   target <= 256 MB   (duckdb+python {duck_kb / 1024:.0f} MB)")
PY
