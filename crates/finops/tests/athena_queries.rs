//! `finops athena-sql --ledger`: the example queries over the stack's Glue
//! tables, run in DuckDB over the same Parquet files the tables cover (the
//! home's fact ledger and a FOCUS export laid out as the bucket holds it),
//! parse as Athena SQL and answer exactly what the CLI reports answer.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use rust_decimal::Decimal;
use serde_json::Value;

mod common;
use common::{finops, ok};

fn dec(v: &Value) -> Decimal {
    v.as_str().expect("decimal string").parse().expect("decimal")
}

/// `{name: rows}` from DuckDB running the queries over `root`.
fn duckdb(database: &str, root: &Path, queries: &str) -> BTreeMap<String, Vec<Vec<Option<String>>>> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = repo.join(".venv/bin/python");
    assert!(python.exists(), "no Python with duckdb: run scripts/setup.sh");
    let mut child = Command::new(python)
        .arg(repo.join("scripts/duckdb-ledger.py"))
        .arg(database)
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), queries.as_bytes()).expect("queries");
    let out = child.wait_with_output().expect("duckdb");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("rows")
}

/// A query's rows as key → decimal columns.
fn table(rows: &[Vec<Option<String>>]) -> BTreeMap<String, Vec<Decimal>> {
    rows.iter()
        .map(|r| (r[0].clone().expect("key"), r[1..].iter().map(|c| c.as_deref().expect("value").parse().expect("decimal")).collect()))
        .collect()
}

#[test]
fn the_ledger_queries_answer_what_the_reports_answer() {
    let dir = tempfile::tempdir().expect("dir");
    let home = common::february_home(dir.path());
    let period = "2026-02";
    // The FOCUS export where the stack's bucket keeps it (the Glue table's location).
    let focus = home.join(format!("exports/focus/period={period}"));
    std::fs::create_dir_all(&focus).expect("dirs");
    ok(finops(&home, &["export", "focus", "--period", period, "--out", focus.join("focus.parquet").to_str().expect("path")]));
    let queries = ok(finops(&home, &["--format", "json", "athena-sql", "--period", period, "--ledger", "finops_test"]));
    let sql: Value = serde_json::from_str(&queries).expect("json");
    assert!(sql.as_array().expect("queries").iter().all(|q| q["sql"].as_str().expect("sql").contains("\"finops_test\".")));
    let answers = duckdb("finops_test", &home, &queries);

    let report = |basis: &str| -> Value {
        serde_json::from_str(&ok(finops(&home, &["--format", "json", "report", "attribution", "--period", period, "--cost-basis", basis]))).expect("json")
    };
    let (unblended, net, amortized) = (report("unblended"), report("net"), report("amortized"));
    let by = |r: &Value, list: &str, key: &str, value: &str| -> BTreeMap<String, Decimal> {
        r[list].as_array().expect("list").iter().map(|x| (x[key].as_str().expect("key").to_owned(), dec(&x[value]))).collect()
    };
    let column = |name: &str, i: usize| -> BTreeMap<String, Decimal> { table(&answers[name]).into_iter().map(|(k, v)| (k, v[i])).collect() };

    assert_eq!(column("ai_spend_by_account", 0), by(&unblended, "by_account", "account", "ai_total"));
    assert_eq!(column("net_ai_spend_by_account", 0), by(&net, "by_account", "account", "ai_total"));
    assert_ne!(column("net_ai_spend_by_account", 0), column("ai_spend_by_account", 0), "the generated discount shows");
    assert_eq!(column("spend_by_workload", 0), by(&unblended, "by_workload", "workload", "cost"));
    assert_eq!(column("spend_by_workload", 1), by(&amortized, "by_workload", "workload", "cost"));
    assert_eq!(column("unattributed_by_reason", 0), by(&unblended, "unattributed_by_reason", "reason", "cost"));
    let hierarchy: Value = serde_json::from_str(&ok(finops(&home, &["--format", "json", "report", "attribution", "--period", period, "--view", "hierarchy"]))).expect("json");
    let portfolios: BTreeMap<String, Decimal> =
        hierarchy.as_array().expect("nodes").iter().filter(|n| n["level"] == 3).map(|n| (n["node"].as_str().expect("node").to_owned(), dec(&n["cost"]))).collect();
    assert!(!portfolios.is_empty());
    assert_eq!(column("spend_by_portfolio", 0), portfolios);
}
