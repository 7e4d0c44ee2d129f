//! `--format csv` on every report: RFC 4180 a CSV reader takes back, amounts
//! as exact decimal strings that add up to the JSON's totals, one row per
//! line of the JSON; other commands refuse it by name.

mod common;

use std::str::FromStr;

use common::{finops, ok, refused};
use rust_decimal::Decimal;
use serde_json::Value;

/// Header and records of a CSV answer.
fn csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().expect("header").iter().map(String::from).collect();
    let rows = r.records().map(|x| x.expect("an RFC 4180 record").iter().map(String::from).collect()).collect();
    (header, rows)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("{s:?} is not a decimal string: {e}"))
}

fn json(out: std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).expect("json")
}

#[test]
fn every_report_has_a_csv_that_adds_up_to_its_json() {
    let dir = tempfile::tempdir().expect("dir");
    let home = common::february_home(dir.path());
    let run = |args: &[&str]| {
        let mut all = vec!["--format", "csv", "report"];
        all.extend_from_slice(args);
        ok(finops(&home, &all))
    };
    let as_json = |args: &[&str]| {
        let mut all = vec!["--format", "json", "report"];
        all.extend_from_slice(args);
        json(finops(&home, &all))
    };

    // Attribution: the totals, and the parts that add up to them exactly.
    let (header, rows) = csv(&run(&["attribution", "--period", "2026-02"]));
    assert_eq!(header, ["section", "key", "cost"]);
    let j = as_json(&["attribution", "--period", "2026-02"]);
    let total = |section: &str| rows.iter().find(|r| r[0] == section).map(|r| dec(&r[2])).expect(section);
    let sum = |section: &str| rows.iter().filter(|r| r[0] == section).map(|r| dec(&r[2])).sum::<Decimal>();
    assert_eq!(total("attributed"), dec(j["attributed"].as_str().expect("attributed")));
    assert_eq!(sum("workload"), total("attributed"));
    assert_eq!(sum("unattributed_reason"), total("unattributed"));
    assert_eq!(total("attributed") + total("unattributed") + total("adjustments"), total("ai_total"));
    assert!(rows.iter().all(|r| !r[2].contains('$') && !r[2].contains(',')), "amounts are bare decimal strings");

    // Every other report: a header, and one row per line of its JSON.
    let cases: [(&[&str], &str, &str); 8] = [
        (&["attribution", "--period", "2026-02", "--view", "hierarchy"], "", "attributed"),
        (&["attribution", "--period", "2026-02", "--view", "legacy"], "", "total"),
        (&["reconcile", "--period", "2026-02"], "accounts", "difference"),
        (&["gaps", "--period", "2026-02"], "", "spend"),
        (&["cards", "--week", "2026-W09"], "", "actual"),
        (&["maturity", "--period", "2026-02"], "dimensions", "worth"),
        (&["investigations"], "", "spend"),
        (&["live-vs-billed", "--period", "2026-02"], "lines", "billed"),
    ];
    for (args, list, amount) in cases {
        let (header, rows) = csv(&run(args));
        assert!(header.iter().any(|h| h == amount), "{args:?}: {header:?}");
        let j = as_json(args);
        let lines = if list.is_empty() { j.clone() } else { j[list].clone() };
        let mut n = lines.as_array().map_or(0, Vec::len);
        if args.contains(&"legacy") {
            n = j["by_workload"].as_array().map_or(0, Vec::len) + 1; // and the unallocated line
        }
        assert_eq!(rows.len(), n, "{args:?}");
        let col = header.iter().position(|h| h == amount).expect("column");
        for r in &rows {
            if !r[col].is_empty() {
                dec(&r[col]);
            }
        }
    }
    // The reconcile report's differences are zero, to the last digit.
    let (header, rows) = csv(&run(&["reconcile", "--period", "2026-02"]));
    let d = header.iter().position(|h| h == "difference").expect("difference");
    assert!(rows.iter().all(|r| dec(&r[d]).is_zero()));

    // CSV is for reports.
    refused(finops(&home, &["--format", "csv", "enforcement", "status"]), 2, "--format csv is for reports");
    refused(finops(&home, &["--format", "csv", "ask", "spend by model"]), 2, "--format csv is for reports");
}
