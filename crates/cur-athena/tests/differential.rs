//! The Athena backfill query against the Rust reader, on the same Parquet file:
//! the SQL parses as Athena SQL, DuckDB runs the identical text, and its answer
//! (read back by the adapter's own row parser) equals the facts the Rust reader
//! computes. Then the adapter runs the query through Athena on moto, which
//! returns the DuckDB answer as its seeded result, and gets the same facts.

use std::path::{Path, PathBuf};
use std::process::Command;

use contract_tests::emulators::{moto_config, required_env};
use cur_athena::{backfill_sql, facts_from_rows, AthenaCur, CurTable, RESULT_COLUMNS};
use cur_files::generate::{write_parquet, Spec};
use domain::BillingPeriod;
use serde_json::{json, Value};

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("FINOPS_TEST_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(venv.exists(), "no Python with duckdb: run scripts/setup.sh (or set FINOPS_TEST_PYTHON)");
    venv
}

fn table() -> CurTable {
    CurTable { database: "cid".into(), table: "cur2".into(), period_column: "billing_period".into(), principal_column: true, cost_bases: true }
}

fn duckdb_rows(sql: &str, files: &[&Path], period: BillingPeriod) -> Result<Vec<Vec<Option<String>>>, String> {
    let dir = tempfile::tempdir().expect("dir");
    let sql_file = dir.path().join("q.sql");
    std::fs::write(&sql_file, sql).expect("sql");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/duckdb-facts.py");
    let t = table();
    let out = Command::new(python())
        .arg(script)
        .arg(&sql_file)
        .args([&t.database, &t.table, &t.period_column, &period.to_string()])
        .args(files)
        .output()
        .expect("python runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("rows"))
}

#[test]
fn duckdb_running_the_athena_sql_agrees_with_the_rust_reader() {
    let dir = tempfile::tempdir().expect("dir");
    let period = BillingPeriod::parse("2026-02").expect("period");
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    write_parquet(&Spec { rows: 30_000, ai_share: 0.3, seed: 21, period, rows_per_group: 8192, estate: None }, &a).expect("gen");
    write_parquet(&Spec { rows: 10_000, ai_share: 0.6, seed: 22, period, rows_per_group: 8192, estate: None }, &b).expect("gen");
    let sql = backfill_sql(&table(), period);
    let rows = duckdb_rows(&sql, &[&a, &b], period).expect("duckdb");
    assert!(rows.iter().all(|r| r.len() == RESULT_COLUMNS.len()));
    let from_sql = facts_from_rows(rows).expect("facts");
    let mut from_rust = cur_files::read_path(&a, 2).expect("read").0;
    from_rust.merge(&cur_files::read_path(&b, 2).expect("read").0);
    assert!(from_rust.len() > 100);
    assert_eq!(from_sql.non_ai, from_rust.non_ai);
    assert_eq!(from_sql.read_total, from_rust.read_total);
    // The other cost bases too: the generated bill has a private-rate
    // discount (net) and Savings-Plan-covered hours (amortized), so each
    // basis differs from unblended and the comparison means something.
    assert_eq!(from_sql.net, from_rust.net);
    assert_eq!(from_sql.amortized, from_rust.amortized);
    assert_ne!(from_rust.net.read_total, from_rust.read_total);
    assert_ne!(from_rust.amortized.non_ai, from_rust.non_ai);
    assert!(from_rust.iter().any(|(_, v)| v.net != v.cost));
    assert_eq!(from_sql.sorted(), from_rust.sorted());
    assert_eq!(from_sql, from_rust);
}

#[test]
fn sql_that_is_not_athena_sql_is_caught() {
    let period = BillingPeriod::parse("2026-02").expect("period");
    let broken = backfill_sql(&table(), period).replace("GROUP BY 1,", "GROUP BY BY 1,");
    let err = duckdb_rows(&broken, &[], period).unwrap_err();
    assert!(err.contains("not Athena SQL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_reads_athena_results_into_the_same_facts() {
    let dir = tempfile::tempdir().expect("dir");
    let period = BillingPeriod::parse("2026-02").expect("period");
    let file = dir.path().join("c.parquet");
    write_parquet(&Spec { rows: 8000, ai_share: 0.4, seed: 23, period, rows_per_group: 4096, estate: None }, &file).expect("gen");
    let rows = duckdb_rows(&backfill_sql(&table(), period), &[&file], period).expect("duckdb");
    // Athena answers with a header row, then the data; NULL is a cell without a value.
    let cell = |v: &Option<String>| v.as_ref().map_or(json!({}), |s| json!({"VarCharValue": s}));
    let mut seeded: Vec<Value> = vec![json!({"Data": RESULT_COLUMNS.iter().map(|c| json!({"VarCharValue": c})).collect::<Vec<_>>()})];
    seeded.extend(rows.iter().map(|r| json!({"Data": r.iter().map(cell).collect::<Vec<_>>()})));
    let endpoint = required_env(contract_tests::emulators::MOTO_ENV);
    let res = reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/static/athena/query-results"))
        .json(&json!({"account_id": "123456789012", "region": "us-east-1", "results": [{"rows": seeded, "column_info": []}]}))
        .send()
        .await
        .expect("seed");
    assert!(res.status().is_success());
    let athena = AthenaCur::new(aws_sdk_athena::Client::new(&moto_config().await), "primary", Some("s3://athena-results/finops/".into()));
    let facts = athena.backfill(&table(), period).await.expect("backfill");
    assert_eq!(facts, cur_files::read_path(&file, 1).expect("read").0);
}
