#!/usr/bin/env bash
# The scale benchmark (issue: a fact ledger that holds a large estate's month).
# Two CUR 2.0 Parquet files, side by side with DuckDB on the same input:
#   easy  10M rows, 5 % AI, a few named principals (~3,500 distinct facts);
#   hard  5M rows, 20 % AI, 4,000 roles × 4 session names × 31 days × 18 usage
#         types (~1M distinct facts), with ~3,600 role claims imported.
# For each: `finops ingest` (fresh home, the ledger write included; best of
# three runs, as DuckDB's query is, with the highest peak RSS) against
# DuckDB running the same aggregation (the backfill SQL) on 2 threads, the
# query alone timed with its result fetched as Arrow; then, on the imported
# state, `report attribution`, `report reconcile` and `report gaps`.
# Prints seconds, rows/s, the ratio and peak RSS. Targets (no test asserts
# them): ingest RSS ≤ 256 MB and ratio ≥ 1.5 (easy) / ≥ 1.0 (hard);
# report attribution ≤ 1 s and ≤ 256 MB, report gaps ≤ 2 s on the hard file.
#
#   scripts/bench-scale.sh [easy|hard|both]     (default both)
#
# Needs scripts/setup.sh (the venv with duckdb and pyarrow) and GNU time.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHICH=${1:-both}
WORK=${BENCH_DIR:-$ROOT/target/bench-scale}
PY=$ROOT/.venv/bin/python
[ -x "$PY" ] || { echo "bench: run scripts/setup.sh first (needs .venv with duckdb)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: needs GNU time at /usr/bin/time (Debian package: time)" >&2; exit 2; }
"$PY" -c 'import duckdb, pyarrow' || { echo "bench: the venv lacks duckdb or pyarrow: run scripts/setup.sh" >&2; exit 2; }

cargo build --profile fast --locked -p finops --quiet
FINOPS=$ROOT/target/fast/finops
mkdir -p "$WORK"
"$FINOPS" athena-sql --period 2026-03 --database cid --table cur2 >"$WORK.sql"

# run NAME CMD… : times a command, keeping seconds and peak RSS (KB) in $WORK/NAME.time.
run() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$WORK/$name.time" "$@" >"$WORK/$name.out"
}

bench() {
  local shape=$1 rows=$2; shift 2
  local dir=$WORK/$shape/data/BILLING_PERIOD=2026-03
  local file=$dir/cur.parquet
  mkdir -p "$dir"
  if [ ! -f "$file" ]; then
    echo "bench: generating the $shape file ($rows rows) …" >&2
    "$FINOPS" gen-cur --rows "$rows" --period 2026-03 --out "$file" --import-out "$WORK/$shape/import.json" "$@" >/dev/null
  fi
  # Three ingests into a fresh home each, as DuckDB's query runs three times:
  # the best time of each side, and our highest peak RSS of the three.
  for n in 1 2 3; do
    rm -rf "$WORK/$shape/home"
    run "$shape-ingest$n" "$FINOPS" --home "$WORK/$shape/home" ingest --threads 2 --format json "$file"
  done
  "$FINOPS" --home "$WORK/$shape/home" import "$WORK/$shape/import.json" >/dev/null
  run "$shape-attribution" "$FINOPS" --home "$WORK/$shape/home" report attribution --period 2026-03 --format json
  run "$shape-reconcile" "$FINOPS" --home "$WORK/$shape/home" report reconcile --period 2026-03 --format json
  run "$shape-gaps" "$FINOPS" --home "$WORK/$shape/home" report gaps --period 2026-03 --format json
  /usr/bin/time -f '%e %M' -o "$WORK/$shape-duck.time" "$PY" - "$WORK.sql" "$file" >"$WORK/$shape-duck.out" <<'PY'
import json, sys, time
import duckdb
sql, path = open(sys.argv[1]).read(), sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("CREATE SCHEMA cid")
con.execute(f"CREATE VIEW cid.cur2 AS SELECT *, '2026-03' AS billing_period FROM read_parquet('{path}')")
best = None
for _ in range(3):
    t = time.perf_counter()
    table = con.sql(sql).to_arrow_table()
    elapsed = time.perf_counter() - t
    best = elapsed if best is None else min(best, elapsed)
ai = sum(1 for v in table.column("is_ai").to_pylist() if v)
json.dump({"seconds": best, "ai_facts": ai}, sys.stdout)
PY
  "$PY" - "$shape" "$rows" "$WORK" "$(du -h "$file" | cut -f1)" <<'PY'
import json, sys
shape, rows, work, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def t(name):
    s, kb = open(f"{work}/{shape}-{name}.time").read().split()
    return float(s), int(kb) / 1024
ours = json.load(open(f"{work}/{shape}-ingest3.out"))[0]
duck = json.load(open(f"{work}/{shape}-duck.out"))
runs = [t(f"ingest{n}") for n in (1, 2, 3)]
ing_s, ing_mb = min(s for s, _ in runs), max(mb for _, mb in runs)
rate, drate = rows / max(ing_s, 1e-9), rows / max(duck["seconds"], 1e-9)
print(f"== {shape}: {rows:,} rows, {size}, {ours['ai_facts']:,} AI facts (duckdb: {duck['ai_facts']:,} AI groups)")
print(f"  finops ingest       {ing_s:6.2f} s  {rate:>12,.0f} rows/s  peak RSS {ing_mb:5.0f} MB  (best of 3: {', '.join(f'{s:.2f}' for s, _ in runs)} s; highest RSS)")
print(f"  duckdb (2 threads)  {duck['seconds']:6.2f} s  {drate:>12,.0f} rows/s  (query only, result as Arrow, best of 3)")
print(f"  ratio ours/duckdb   {rate / drate:6.2f}")
for name in ["attribution", "reconcile", "gaps"]:
    s, mb = t(name)
    print(f"  report {name:<12} {s:6.2f} s  peak RSS {mb:5.0f} MB")
PY
}

echo "bench: $(nproc) cores"
case $WHICH in
  easy|both) bench easy 10000000 --ai-share 0.05 --seed 42 ;;&
  hard|both) bench hard 5000000 --ai-share 0.2 --seed 7 --principals 4000 --sessions 4 --days 31 ;;
  easy) ;;
  *) echo "bench: say easy, hard or both" >&2; exit 2 ;;
esac
