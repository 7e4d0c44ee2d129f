//! `finops export focus`: the FOCUS 1.2 export of the demo month and of a
//! generated 1M-row month passes the FinOps Foundation's validator
//! (focus-validator 2.2.1, its bundled 1.2 rules, on the typed Parquet)
//! with no failure but its
//! known defects (`tests/focus/known-validator-defects.txt`, each with its
//! reason); its BilledCost adds up to the attribution report's AI total to
//! the last digit, and each x_Workload's to that workload's line; bad
//! input is refused by name with nothing written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rust_decimal::Decimal;
use serde_json::Value;

mod common;
use common::{finops, ok, refused};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The rule ids the validator is known to fail on conforming data.
fn known_defects() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("tests/focus/known-validator-defects.txt")).expect("allow-list");
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(|l| l.split_whitespace().next().map(str::to_owned)).collect()
}

/// Runs focus-validator on `file` and returns (rules failed, rules passed).
/// The validator exits 0 even when rules fail, so its summary line and its
/// `❌` lines are read instead.
fn validate(file: &Path) -> (Vec<String>, u32) {
    let venv = repo().join(".venv-focus");
    assert!(venv.join("bin/focus-validator").exists(), "no focus-validator: run scripts/setup.sh");
    // It reads its rule tables relative to the working directory.
    let site = std::fs::read_dir(venv.join("lib"))
        .expect("venv lib")
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.join("focus_validator").exists())
        .expect("site-packages");
    let out = Command::new(venv.join("bin/focus-validator"))
        .current_dir(site)
        .args(["--validate-version", "1.2", "--block-download", "--data-file"])
        .arg(file)
        .output()
        .expect("focus-validator runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let summary = text.lines().find(|l| l.starts_with("Total:")).unwrap_or_else(|| panic!("no summary line in:\n{text}"));
    let field = |name: &str| -> u32 {
        summary.split('|').find_map(|p| p.trim().strip_prefix(name).map(|v| v.trim().parse().expect("a count"))).unwrap_or_else(|| panic!("{name} in {summary}"))
    };
    let failed: Vec<String> = text.lines().filter_map(|l| l.strip_prefix("❌ ")).filter_map(|l| l.split(':').next().map(str::to_owned)).collect();
    assert_eq!(failed.len() as u32, field("Fail:"), "every failure is listed:\n{text}");
    (failed, field("Pass:"))
}

fn dec(v: &Value) -> Decimal {
    v.as_str().expect("decimal string").parse().expect("decimal")
}

/// Exports `period` from `home` as Parquet and CSV, validates both, and
/// checks the money against the attribution report.
fn export_and_validate(home: &Path, dir: &Path, period: &str) {
    let parquet = dir.join(format!("focus-{period}.parquet"));
    let csv = dir.join(format!("focus-{period}.csv"));
    ok(finops(home, &["export", "focus", "--period", period, "--out", parquet.to_str().expect("path")]));
    ok(finops(home, &["export", "focus", "--period", period, "--out", csv.to_str().expect("path")]));
    let known = known_defects();
    // The Parquet is what is validated: it carries its types (account ids as
    // strings, decimals as decimals), where the validator's CSV type
    // inference would read an account id as a number and fail on its own.
    let (failed, passed) = validate(&parquet);
    let unexpected: Vec<&String> = failed.iter().filter(|r| !known.contains(r)).collect();
    assert!(unexpected.is_empty(), "{}: rules failed beyond the validator's known defects: {unexpected:?}", parquet.display());
    assert!(passed > 100, "{}: only {passed} rules passed", parquet.display());

    // BilledCost is the attribution report's AI spend, to the last digit,
    // workload by workload.
    let report: Value = serde_json::from_str(&ok(finops(home, &["--format", "json", "report", "attribution", "--period", period]))).expect("json");
    let mut reader = csv::Reader::from_path(&csv).expect("csv");
    let headers = reader.headers().expect("headers").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name} column"));
    let (billed, workload) = (col("BilledCost"), col("x_Workload"));
    let mut total = Decimal::ZERO;
    let mut by_workload: BTreeMap<String, Decimal> = BTreeMap::new();
    for r in reader.records() {
        let r = r.expect("row");
        let cost: Decimal = r[billed].parse().expect("BilledCost");
        total += cost;
        if !r[workload].is_empty() {
            *by_workload.entry(r[workload].to_owned()).or_default() += cost;
        }
    }
    assert_eq!(total, dec(&report["ai_total"]));
    let expected: BTreeMap<String, Decimal> =
        report["by_workload"].as_array().expect("array").iter().map(|w| (w["workload"].as_str().expect("id").to_owned(), dec(&w["cost"]))).collect();
    assert_eq!(by_workload, expected);
}

#[test]
fn the_demo_month_and_a_generated_million_row_month_pass_the_validator() {
    let dir = tempfile::tempdir().expect("dir");
    // The demo month.
    let kept = dir.path().join("demo");
    ok(finops(&kept, &["demo", "--keep"]));
    // `demo --keep` keeps its home in a dated folder under the one given.
    let demo = std::fs::read_dir(&kept).expect("kept").flatten().map(|e| e.path()).find(|p| p.join("facts").is_dir()).expect("the demo's home");
    let period = std::fs::read_dir(demo.join("facts"))
        .expect("facts")
        .flatten()
        .find_map(|e| e.file_name().to_string_lossy().strip_prefix("period=").map(str::to_owned))
        .expect("the demo's period");
    export_and_validate(&demo, dir.path(), &period);

    // A generated 1M-row month.
    let home = dir.path().join("home");
    let file = dir.path().join("big.parquet");
    ok(finops(&home, &["gen-cur", "--rows", "1000000", "--ai-share", "0.1", "--seed", "12", "--period", "2026-05", "--out", file.to_str().expect("path")]));
    ok(finops(&home, &["import", dir.path().join("big.import.json").to_str().expect("path")]));
    ok(finops(&home, &["ingest", file.to_str().expect("path")]));
    export_and_validate(&home, dir.path(), "2026-05");

    // Bad input: named, exit 2, and no file left behind.
    let out = dir.path().join("x.json");
    refused(finops(&home, &["export", "focus", "--period", "2026-05", "--out", out.to_str().expect("path")]), 2, ".parquet or .csv");
    refused(finops(&home, &["export", "focus", "--period", "2026-5", "--out", dir.path().join("x.csv").to_str().expect("path")]), 2, "2026-5");
    assert!(!out.exists() && !dir.path().join("x.csv").exists());
    // No spend card of May was built, let alone settled: no chargeback.
    let chargeback = dir.path().join("chargeback.csv");
    refused(finops(&home, &["export", "chargeback", "--period", "2026-05", "--out", chargeback.to_str().expect("path")]), 2, "no spend cards were built");
    assert!(!chargeback.exists());
}
