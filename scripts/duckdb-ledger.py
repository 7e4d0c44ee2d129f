#!/usr/bin/env python3
"""Runs `finops athena-sql --ledger` queries in DuckDB over a local ledger,
after checking each parses as Athena SQL (sqlglot's athena dialect).

Usage: duckdb-ledger.py DATABASE ROOT < queries.json

ROOT holds the layout the stack's ledger bucket has: facts/period=…/…parquet
and exports/focus/period=…/…parquet. They become DATABASE.facts and
DATABASE.focus with a `period` column from the folder name, as the Glue
tables' partition projection presents them, so the SQL text runs unchanged.
Prints {name: rows} as JSON, every value as text (null for SQL NULL).
"""
import json
import sys

import duckdb
import sqlglot


def main() -> int:
    database, root = sys.argv[1:3]
    queries = json.load(sys.stdin)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f'CREATE SCHEMA "{database}"')
    for table, prefix in (("facts", "facts"), ("focus", "exports/focus")):
        glob = f"{root}/{prefix}/**/*.parquet".replace("'", "''")
        con.execute(
            f'CREATE VIEW "{database}"."{table}" AS SELECT * FROM '
            f"read_parquet('{glob}', hive_partitioning = true, hive_types = {{'period': VARCHAR}}, union_by_name = true)"
        )
    out = {}
    for q in queries:
        try:
            sqlglot.parse_one(q["sql"], read="athena")
        except sqlglot.errors.ParseError as e:
            print(f"{q['name']}: not Athena SQL: {e}", file=sys.stderr)
            return 3
        rows = con.execute(q["sql"]).fetchall()
        out[q["name"]] = [[None if v is None else str(v) for v in r] for r in rows]
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
