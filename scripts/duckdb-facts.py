#!/usr/bin/env python3
"""Runs the Athena backfill SQL in DuckDB over Parquet files, after checking it
parses as Athena SQL (sqlglot's athena dialect); prints the answer rows as JSON
(every value as text, null for SQL NULL), the shape Athena's GetQueryResults has.

Usage: duckdb-facts.py SQL_FILE SCHEMA TABLE PERIOD_COLUMN PERIOD PARQUET...

The Parquet files become SCHEMA.TABLE with PERIOD_COLUMN = PERIOD, as the Glue
table over a Data Export's BILLING_PERIOD=… folder presents them, so the same
SQL text runs unchanged. DuckDB runs with 2 threads, as it does in the benchmark.
"""
import json
import sys

import duckdb
import sqlglot


def main() -> int:
    sql_file, schema, table, period_column, period, *files = sys.argv[1:]
    sql = open(sql_file, encoding="utf-8").read()
    try:
        sqlglot.parse_one(sql, read="athena")
    except sqlglot.errors.ParseError as e:
        print(f"not Athena SQL: {e}", file=sys.stderr)
        return 3
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f'CREATE SCHEMA "{schema}"')
    paths = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(
        f'CREATE VIEW "{schema}"."{table}" AS SELECT *, \'{period}\' AS "{period_column}" FROM read_parquet([{paths}])'
    )
    rows = con.execute(sql).fetchall()

    def text(v):
        if v is None:
            return None
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    json.dump([[text(v) for v in r] for r in rows], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
