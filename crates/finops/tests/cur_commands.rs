//! The CUR commands as a user runs them: gen-cur → import → ingest → report
//! attribution / reconcile, the JSON shapes the issue fixes, re-ingest
//! changing nothing, and every entry point refusing bad input by name while
//! keeping what was stored.

use std::path::Path;

use rust_decimal::Decimal;
use serde_json::Value;

mod common;
use common::{finops, ok, refused};

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Reconciliation that can fail: the facts lose a fact (as a reader or merge
/// bug would) while the reader's own totals stand, and `report reconcile`
/// shows the difference and exits 2.
#[test]
fn reconcile_fails_when_facts_lose_a_row() {
    let (_dir, home, _data, file) = export_layout();
    ok(finops(&home, &["gen-cur", "--rows", "20000", "--ai-share", "0.3", "--seed", "4", "--period", "2026-03", "--out", file.to_str().expect("path")]));
    ok(finops(&home, &["ingest", file.to_str().expect("path")]));
    let rec: Value = serde_json::from_str(&ok(finops(&home, &["report", "reconcile", "--period", "2026-03", "--format", "json"]))).expect("json");
    assert_eq!(rec["balanced"], true);
    let object = walk(&home.join("facts")).pop().expect("a fact object");
    let mut facts = fact_ledger::codec::decode(std::fs::File::open(&object).expect("open")).expect("decode");
    let dropped = facts.iter().map(|(_, v)| v.cost.amount()).find(|c| !c.is_zero()).expect("a fact with a cost");
    let mut gone = false;
    facts.retain(|_, v| {
        let keep = gone || v.cost.amount() != dropped;
        gone |= !keep;
        keep
    });
    std::fs::write(&object, fact_ledger::codec::encode(&facts).expect("encode")).expect("write");
    let out = finops(&home, &["report", "reconcile", "--period", "2026-03", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let (head, body) = err.split_once('\n').expect("a reason, then the report");
    assert!(head.contains("does not reconcile"), "{err}");
    let rec: Value = serde_json::from_str(body).expect("the report as JSON");
    assert_eq!(rec["balanced"], false);
    let differences: Decimal = rec["accounts"].as_array().expect("accounts").iter().map(|a| dec(&a["difference"])).sum();
    assert_eq!(differences, dropped, "the difference is exactly the dropped fact's cost");
}

/// A home, and a Data Exports data folder with the path of its first part.
fn export_layout() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().join("home");
    let data = dir.path().join("export/data/BILLING_PERIOD=2026-03");
    std::fs::create_dir_all(&data).expect("dirs");
    let file = data.join("part-0.parquet");
    (dir, home, data, file)
}

fn dec(v: &Value) -> Decimal {
    v.as_str().expect("amounts are decimal strings").parse().expect("decimal")
}

#[test]
fn gen_import_ingest_report_and_reconcile() {
    let (dir, home, data, file) = export_layout();
    ok(finops(&home, &["gen-cur", "--rows", "40000", "--ai-share", "0.2", "--seed", "9", "--period", "2026-03", "--out", file.to_str().expect("path")]));
    ok(finops(&home, &["import", data.join("part-0.import.json").to_str().expect("path")]));
    let ingested: Value = serde_json::from_str(&ok(finops(&home, &["--format", "json", "ingest", dir.path().join("export").to_str().expect("path")]))).expect("json");
    assert_eq!(ingested[0]["period"], "2026-03", "the period comes from BILLING_PERIOD=");
    assert_eq!(ingested[0]["rows"], 40000);
    assert_eq!(ingested[0]["stored"], "new");

    let report = || -> Value { serde_json::from_str(&ok(finops(&home, &["report", "attribution", "--period", "2026-03", "--format", "json"]))).expect("json") };
    let r = report();
    let keys: std::collections::BTreeSet<&str> = r.as_object().expect("object").keys().map(String::as_str).collect();
    let want = ["period", "total", "ai_total", "attributed", "unattributed", "adjustments", "by_workload", "unattributed_by_reason", "by_account", "discounts", "cost_basis"];
    assert_eq!(keys, want.into_iter().collect());
    assert_eq!(dec(&r["attributed"]) + dec(&r["unattributed"]) + dec(&r["adjustments"]), dec(&r["ai_total"]));
    let sum = |arr: &Value, field: &str| arr.as_array().expect("array").iter().map(|x| dec(&x[field])).sum::<Decimal>();
    assert_eq!(sum(&r["by_workload"], "cost"), dec(&r["attributed"]));
    assert_eq!(sum(&r["unattributed_by_reason"], "cost"), dec(&r["unattributed"]));
    assert_eq!(sum(&r["by_account"], "ai_total"), dec(&r["ai_total"]));
    assert_eq!(r["by_workload"].as_array().expect("array").len(), 4);

    let rec: Value = serde_json::from_str(&ok(finops(&home, &["report", "reconcile", "--period", "2026-03", "--format", "json"]))).expect("json");
    assert_eq!(rec["balanced"], true);
    assert_eq!(sum(&rec["accounts"], "cur_total"), dec(&r["total"]));

    // Every cost basis: the parts add up to the totals to the last digit, the
    // reconciliation balances, and the generated bill's private-rate
    // discount (net) and Savings Plan hours (amortized) make each basis's
    // total differ from unblended; the credits on AI usage are allocated.
    assert!(!r["discounts"].as_array().expect("discounts").is_empty());
    for basis in ["net", "amortized"] {
        let b: Value = serde_json::from_str(&ok(finops(&home, &["report", "attribution", "--period", "2026-03", "--cost-basis", basis, "--format", "json"]))).expect("json");
        assert_eq!(b["cost_basis"], basis);
        assert_eq!(dec(&b["attributed"]) + dec(&b["unattributed"]) + dec(&b["adjustments"]), dec(&b["ai_total"]));
        assert_eq!(sum(&b["by_workload"], "cost"), dec(&b["attributed"]));
        assert_eq!(sum(&b["unattributed_by_reason"], "cost"), dec(&b["unattributed"]));
        assert!(dec(&b["total"]) < dec(&r["total"]), "{basis}: {} vs {}", b["total"], r["total"]);
        let rec: Value = serde_json::from_str(&ok(finops(&home, &["report", "reconcile", "--period", "2026-03", "--cost-basis", basis, "--format", "json"]))).expect("json");
        assert_eq!(rec["balanced"], true, "{basis}");
        assert_eq!(sum(&rec["accounts"], "cur_total"), dec(&b["total"]), "{basis}");
    }
    refused(finops(&home, &["report", "attribution", "--period", "2026-03", "--cost-basis", "blended"]), 2, "blended");

    // Re-ingesting the same file changes nothing, and so does the same file
    // downloaded into another folder: a source is known by its Data Exports
    // key, not by where this machine keeps it.
    let again: Value = serde_json::from_str(&ok(finops(&home, &["--format", "json", "ingest", file.to_str().expect("path")]))).expect("json");
    assert_eq!(again[0]["stored"], "unchanged");
    let copy = dir.path().join("downloads/export/data/BILLING_PERIOD=2026-03");
    std::fs::create_dir_all(&copy).expect("dirs");
    std::fs::copy(&file, copy.join("part-0.parquet")).expect("copy");
    let copied: Value = serde_json::from_str(&ok(finops(&home, &["--format", "json", "ingest", copy.join("part-0.parquet").to_str().expect("path")]))).expect("json");
    assert_eq!(copied[0]["stored"], "unchanged");
    assert_eq!(report(), r);
    // The facts live in the ledger under the home, one object per source.
    let objects: Vec<_> = walk(&home.join("facts"));
    assert_eq!(objects.len(), 1, "{objects:?}");

    let rollup: Value = serde_json::from_str(&ok(finops(&home, &["report", "attribution", "--period", "2026-03", "--view", "hierarchy", "--format", "json"]))).expect("json");
    assert_eq!(dec(&rollup[0]["cost"]), dec(&r["attributed"]), "E1 carries everything attributed");
    let legacy: Value = serde_json::from_str(&ok(finops(&home, &["report", "attribution", "--period", "2026-03", "--view", "legacy", "--format", "json"]))).expect("json");
    assert_eq!(sum(&legacy["by_workload"], "total") + dec(&legacy["unallocated"]), dec(&r["attributed"]) + dec(&r["unattributed"]));

    // Bad input at every entry point: named, exit 2, nothing stored changes.
    let garbage = dir.path().join("garbage.csv");
    std::fs::write(&garbage, "hello,world\n1,2\n").expect("write");
    refused(finops(&home, &["ingest", "--period", "2026-03", garbage.to_str().expect("path")]), 2, "line_item_usage_type");
    let truncated = dir.path().join("cut.parquet");
    let bytes = std::fs::read(&file).expect("read");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).expect("write");
    refused(finops(&home, &["ingest", "--period", "2026-03", truncated.to_str().expect("path")]), 2, "Parquet");
    refused(finops(&home, &["ingest", dir.path().join("nope").to_str().expect("path")]), 2, "nope");
    let bad_import = dir.path().join("bad.json");
    std::fs::write(&bad_import, r#"{"workloads":[{"id":"x","name":"X","node":"ghost","owner":"a@b.c"}]}"#).expect("write");
    refused(finops(&home, &["import", bad_import.to_str().expect("path")]), 2, "workloads[0].node");
    std::fs::write(&bad_import, r#"{"claims":[{"workload":"chat","arn":"arn:aws:iam::1:role/x","kind":"iam_role","claimed_at":"2026-03-01"}]}"#).expect("write");
    refused(finops(&home, &["import", bad_import.to_str().expect("path")]), 2, "claims[0].arn");
    std::fs::write(&bad_import, r#"{"workloads":[{"id":"y","name":"Y","node":"ai-platform","owner":"a@b.c","monthly_estimate":12.5}]}"#).expect("write");
    refused(finops(&home, &["import", bad_import.to_str().expect("path")]), 2, "workloads[0].monthly_estimate");
    refused(finops(&home, &["report", "attribution", "--period", "2026-3"]), 2, "2026-3");
    // A basis whose columns the ingested CUR lacks is refused by the column's name.
    let plain = dir.path().join("plain.csv");
    std::fs::write(
        &plain,
        "line_item_usage_account_id,line_item_product_code,line_item_usage_type,line_item_line_item_type,line_item_usage_start_date,line_item_usage_amount,line_item_unblended_cost\n\
         111122223333,AmazonBedrock,USE1-NovaLite-input-tokens,Usage,2026-04-02T00:00:00Z,1000,0.06\n",
    )
    .expect("write");
    ok(finops(&home, &["ingest", "--period", "2026-04", plain.to_str().expect("path")]));
    refused(finops(&home, &["report", "attribution", "--period", "2026-04", "--cost-basis", "net"]), 2, "line_item_net_unblended_cost");
    refused(finops(&home, &["report", "reconcile", "--period", "2026-04", "--cost-basis", "amortized"]), 2, "savings_plan_savings_plan_effective_cost");
    ok(finops(&home, &["report", "attribution", "--period", "2026-04"]));
    refused(finops(&home, &["gen-cur", "--rows", "10", "--ai-share", "1.5", "--out", dir.path().join("x.parquet").to_str().expect("path")]), 2, "--ai-share");
    assert_eq!(report(), r, "nothing stored changed");
}

/// A downloaded Data Export with its manifest: `finops ingest` of the folder
/// takes the delivery from `metadata/…Manifest.json`; a refresh listing fewer
/// parts retires the rest; the same manifest again changes nothing.
#[test]
fn ingest_of_an_export_folder_follows_its_manifest() {
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().join("home");
    let export = dir.path().join("dl/ai-costs");
    let data = export.join("data/BILLING_PERIOD=2026-03");
    let meta = export.join("metadata/BILLING_PERIOD=2026-03");
    std::fs::create_dir_all(&data).expect("dirs");
    std::fs::create_dir_all(&meta).expect("dirs");
    for (n, seed) in [(1, "5"), (2, "6")] {
        let f = data.join(format!("ai-costs-0000{n}.snappy.parquet"));
        ok(finops(&home, &["gen-cur", "--rows", "6000", "--ai-share", "0.3", "--seed", seed, "--period", "2026-03", "--out", f.to_str().expect("path")]));
        std::fs::remove_file(data.join(format!("ai-costs-0000{n}.snappy.import.json"))).expect("fixture");
    }
    let manifest = |exec: &str, parts: &[u32]| {
        let files: Vec<String> = parts.iter().map(|n| format!("s3://bucket/cur/ai-costs/data/BILLING_PERIOD=2026-03/ai-costs-0000{n}.snappy.parquet")).collect();
        std::fs::write(meta.join("ai-costs-Manifest.json"), serde_json::json!({"executionId": exec, "dataFiles": files}).to_string()).expect("manifest");
    };
    let ingest = || -> Value { serde_json::from_str(&ok(finops(&home, &["--format", "json", "ingest", export.to_str().expect("path")]))).expect("json") };
    let total = || -> Decimal {
        let r: Value = serde_json::from_str(&ok(finops(&home, &["report", "attribution", "--period", "2026-03", "--format", "json"]))).expect("json");
        dec(&r["ai_total"])
    };
    manifest("exec-1", &[1, 2]);
    let first = ingest();
    assert_eq!(first.as_array().map(Vec::len), Some(2), "{first}");
    assert!(first.as_array().expect("rows").iter().all(|r| r["stored"] == "new"), "{first}");
    let both = total();
    manifest("exec-2", &[1]);
    let second = ingest();
    let stored: Vec<&str> = second.as_array().expect("rows").iter().map(|r| r["stored"].as_str().unwrap_or_default()).collect();
    assert_eq!(stored, ["unchanged", "retired"], "{second}");
    let one = total();
    assert!(one < both && one > Decimal::ZERO);
    let again = ingest();
    assert!(again.as_array().expect("rows").iter().all(|r| r["stored"] == "unchanged"), "{again}");
    assert_eq!(total(), one);
    // A manifest that is not Data Exports' shape is refused by name.
    std::fs::write(meta.join("ai-costs-Manifest.json"), "{}").expect("manifest");
    refused(finops(&home, &["ingest", export.to_str().expect("path")]), 2, "ai-costs-Manifest.json");
    assert_eq!(total(), one, "nothing stored changed");
}

/// Issue 12 item 3: the business-case baseline that once made every later
/// `report gaps` and `report maturity` exit 101 is refused at import, by name,
/// exit 2, and nothing is stored.
#[test]
fn an_import_beyond_the_money_bound_is_refused_and_stores_nothing() {
    let home = tempfile::tempdir().expect("home");
    let doc = serde_json::json!({
        "hierarchy": [{"id": "retail", "level": 1, "name": "Retail", "parent": null},
                      {"id": "digital", "level": 2, "name": "Digital", "parent": "retail"},
                      {"id": "assist", "level": 3, "name": "Assist", "parent": "digital"}],
        "workloads": [{"id": "chat", "name": "Chat", "node": "assist", "owner": "po@example.com",
                       "business_case": {"value_type": "cost_saving", "annual_baseline": "79228162514264337593543950335", "target_pct": "10"}}]
    });
    let file = home.path().join("import.json");
    std::fs::write(&file, doc.to_string()).expect("write");
    refused(finops(home.path(), &["import", file.to_str().expect("path")]), 2, "10^15");
    let gaps = finops(home.path(), &["report", "gaps", "--period", "2026-03"]);
    assert!(gaps.status.success(), "{}", String::from_utf8_lossy(&gaps.stderr));
    let workloads = ok(finops(home.path(), &["report", "maturity", "--period", "2026-03", "--format", "json"]));
    assert!(!workloads.contains("chat"), "nothing was imported: {workloads}");
}
