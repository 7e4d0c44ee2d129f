//! The Glue tables in `template.yaml` are the code's own layouts: the
//! `facts` table's columns are the ledger codec's, the `focus` table's the
//! FOCUS export's (Glue keeps names in lower case), each partitioned by
//! `period` with partition projection over the prefix the code writes, so
//! Athena needs no crawler and reads exactly the files a report reads.

use contract_tests::async_invoke::template;
use domain::exports::ColumnType;
use serde_yaml::Value;

/// `!Sub "…"`'s text.
fn sub_text(v: &Value) -> String {
    match v {
        Value::Tagged(t) if t.tag == "Sub" => t.value.as_str().unwrap_or_default().to_owned(),
        other => panic!("not a !Sub: {other:?}"),
    }
}

fn table<'a>(doc: &'a Value, logical: &str) -> &'a Value {
    let t = &doc["Resources"][logical];
    assert_eq!(t["Type"].as_str(), Some("AWS::Glue::Table"), "{logical}");
    match &t["Properties"]["DatabaseName"] {
        Value::Tagged(r) if r.tag == "Ref" => assert_eq!(r.value.as_str(), Some("AnalyticsDatabase")),
        other => panic!("{logical}: DatabaseName {other:?}"),
    }
    &t["Properties"]["TableInput"]
}

fn columns(t: &Value) -> Vec<(String, String)> {
    t["StorageDescriptor"]["Columns"]
        .as_sequence()
        .expect("columns")
        .iter()
        .map(|c| (c["Name"].as_str().expect("name").to_owned(), c["Type"].as_str().expect("type").to_owned()))
        .collect()
}

/// Partitioned by period, projected monthly over `prefix` in the ledger bucket.
fn projected_over(t: &Value, prefix: &str) {
    let keys = t["PartitionKeys"].as_sequence().expect("partition keys");
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0]["Name"].as_str(), keys[0]["Type"].as_str()), (Some("period"), Some("string")));
    let p = &t["Parameters"];
    assert_eq!(p["projection.enabled"].as_str(), Some("true"));
    assert_eq!((p["projection.period.type"].as_str(), p["projection.period.format"].as_str()), (Some("date"), Some("yyyy-MM")));
    assert_eq!(p["projection.period.interval.unit"].as_str(), Some("MONTHS"));
    assert_eq!(sub_text(&p["storage.location.template"]), format!("s3://${{LedgerBucket}}/{prefix}/period=${{!period}}/"));
    assert_eq!(sub_text(&t["StorageDescriptor"]["Location"]), format!("s3://${{LedgerBucket}}/{prefix}/"));
}

#[test]
fn the_facts_table_is_the_ledger_codec() {
    let doc = template();
    assert_eq!(doc["Resources"]["AnalyticsDatabase"]["Type"].as_str(), Some("AWS::Glue::Database"));
    let t = table(&doc, "LedgerFactsTable");
    assert_eq!(t["Name"].as_str(), Some("facts"));
    let names: Vec<String> = columns(t).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, fact_ledger::codec::COLUMNS);
    // The ledger's keys are `facts/period=YYYY-MM/source=…/gen=….parquet`.
    let key = services::governance::ledger::object_key(domain::BillingPeriod::parse("2026-03").expect("period"), "s3://cur/x.parquet", "g1");
    assert!(key.starts_with("facts/period=2026-03/"), "{key}");
    projected_over(t, "facts");
}

#[test]
fn the_focus_table_is_the_focus_export() {
    let doc = template();
    let t = table(&doc, "FocusExportTable");
    assert_eq!(t["Name"].as_str(), Some("focus"));
    let want: Vec<(String, String)> = domain::cur::focus::COLUMNS
        .iter()
        .map(|(n, ty)| {
            let glue = match ty {
                ColumnType::Text => "string",
                ColumnType::Decimal => "decimal(38,18)",
                ColumnType::Time => "timestamp",
            };
            (n.to_lowercase(), glue.to_owned())
        })
        .collect();
    assert_eq!(columns(t), want);
    projected_over(t, "exports/focus");
}
