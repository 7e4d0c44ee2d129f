//! The fact ledger's contract (`services::ports::ledger::FactLedger`), run on
//! the filesystem adapter and on S3 (moto) by `ledger_contract_tests!`.

use chrono::NaiveDate;
use domain::cur::facts::{CurRow, Facts};
use domain::AccountId;
use rust_decimal::Decimal;
use services::ports::ledger::{FactLedger, LedgerError};

/// Facts of `n` distinct keys with a few principals, profiles and workspaces,
/// odd scales and negative adjustments: what a bill throws at the codec.
pub fn sample(n: u32) -> Facts {
    let mut f = Facts::default();
    for i in 0..n {
        f.add(CurRow {
            usage_day: NaiveDate::from_ymd_opt(2026, 3, 1 + i % 28).expect("day"),
            account: AccountId::parse(["111122223333", "012345678901", "444455556666"][(i % 3) as usize]).expect("account"),
            product_code: "AmazonBedrock".into(),
            billing_entity: "AWS".into(),
            product_name: String::new(),
            usage_type: format!("USE1-Claude3Haiku-{}-tokens", ["input", "output", "cache-read-input"][(i % 3) as usize]),
            operation: "InvokeModel".into(),
            line_item_type: if i % 17 == 0 { "Credit".into() } else { "Usage".into() },
            resource_id: (i % 5 == 0).then(|| "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/p1".into()),
            principal: match i % 4 {
                0 => None,
                1 => Some(String::new()),
                _ => Some(format!("arn:aws:sts::111122223333:assumed-role/role-{}/session-{i}", i % 97)),
            },
            workspace: (i % 7 == 0).then(|| "wrkspc_01HX9analytics".into()),
            usage_amount: Decimal::new(i64::from(i) * 1_000 + 7, 3),
            cost: Decimal::new(if i % 17 == 0 { -i64::from(i) } else { i64::from(i) * 31 + 1 }, 2 + i % 9),
        });
    }
    f
}

/// The AI facts the ledger holds (totals are the manifest's, not the object's).
fn ai_only(f: &Facts) -> Facts {
    let mut out = Facts::default();
    for (k, v) in f.iter() {
        out.add_fact(k, *v);
    }
    out
}

pub async fn written_facts_read_back_exactly(l: &dyn FactLedger) {
    let facts = sample(500);
    let w = l.write("facts/period=2026-03/source=a/gen=1.parquet", &facts).await.expect("write");
    assert!(w.bytes > 0);
    assert_eq!(w.digest.len(), 64);
    let back = l.read("facts/period=2026-03/source=a/gen=1.parquet").await.expect("read");
    assert_eq!(back, ai_only(&facts));
    assert_eq!(back.len(), facts.len());
}

/// The digest depends on the facts, not on the order a reader met them in.
pub async fn equal_facts_have_equal_digests(l: &dyn FactLedger) {
    let forward = sample(300);
    let mut backward = Facts::default();
    let mut all: Vec<_> = forward.iter().map(|(k, v)| (k, *v)).collect();
    all.reverse();
    for (k, v) in all {
        backward.add_fact(k, v);
    }
    let a = l.write("facts/period=2026-03/source=a/gen=1.parquet", &forward).await.expect("write");
    let b = l.write("facts/period=2026-03/source=a/gen=2.parquet", &backward).await.expect("write");
    assert_eq!(a.digest, b.digest);
    let c = l.write("facts/period=2026-03/source=a/gen=3.parquet", &sample(301)).await.expect("write");
    assert_ne!(a.digest, c.digest);
}

/// More facts than one row group: the object spans several and reads whole.
pub async fn a_large_source_spans_row_groups_and_reads_whole(l: &dyn FactLedger) {
    let facts = sample(150_000);
    l.write("facts/period=2026-03/source=big/gen=1.parquet", &facts).await.expect("write");
    let back = l.read("facts/period=2026-03/source=big/gen=1.parquet").await.expect("read");
    assert_eq!(back.len(), facts.len());
    let total = |f: &Facts| f.iter().map(|(_, v)| v.cost.amount()).sum::<Decimal>();
    assert_eq!(total(&back), total(&facts));
    assert_eq!(back, ai_only(&facts));
}

pub async fn a_missing_object_is_not_found(l: &dyn FactLedger) {
    match l.read("facts/period=2026-03/source=none/gen=1.parquet").await {
        Err(LedgerError::NotFound(k)) => assert!(k.contains("source=none")),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

pub async fn delete_is_idempotent(l: &dyn FactLedger) {
    let key = "facts/period=2026-03/source=a/gen=1.parquet";
    l.write(key, &sample(10)).await.expect("write");
    l.delete(key).await.expect("delete");
    l.delete(key).await.expect("delete again");
    assert!(matches!(l.read(key).await, Err(LedgerError::NotFound(_))));
}

pub async fn list_names_what_is_under_a_prefix(l: &dyn FactLedger) {
    for key in ["facts/period=2026-03/source=a/gen=1.parquet", "facts/period=2026-03/source=b/gen=2.parquet", "facts/period=2026-04/source=a/gen=3.parquet"] {
        l.write(key, &sample(5)).await.expect("write");
    }
    assert_eq!(
        l.list("facts/period=2026-03").await.expect("list"),
        ["facts/period=2026-03/source=a/gen=1.parquet", "facts/period=2026-03/source=b/gen=2.parquet"]
    );
    assert!(l.list("facts/period=2026-05").await.expect("list").is_empty());
    // "period=2026-0" is not a folder: no partial-name matches.
    assert!(l.list("facts/period=2026-0").await.expect("list").is_empty());
}

pub async fn bad_keys_are_refused_and_write_nothing(l: &dyn FactLedger) {
    for key in ["/etc/passwd", "facts/../../x.parquet", "facts//x", ""] {
        assert!(matches!(l.write(key, &sample(3)).await, Err(LedgerError::BadKey { .. })), "{key:?}");
        assert!(matches!(l.read(key).await, Err(LedgerError::BadKey { .. })), "{key:?}");
        assert!(matches!(l.delete(key).await, Err(LedgerError::BadKey { .. })), "{key:?}");
    }
    assert!(l.list("facts").await.expect("list").is_empty());
}

/// Facts a decimal(38, s) column cannot hold exactly are refused by name,
/// never rounded, and nothing is written.
pub async fn unrepresentable_facts_are_refused(l: &dyn FactLedger) {
    let mut f = sample(2);
    f.add(CurRow { cost: Decimal::MAX, ..first_row() });
    f.add(CurRow { cost: Decimal::new(1, 28), usage_day: NaiveDate::from_ymd_opt(2026, 3, 2).expect("day"), ..first_row() });
    assert!(matches!(l.write("facts/period=2026-03/source=x/gen=1.parquet", &f).await, Err(LedgerError::Unrepresentable(_))));
    assert!(l.list("facts").await.expect("list").is_empty());
}

fn first_row() -> CurRow {
    CurRow {
        usage_day: NaiveDate::from_ymd_opt(2026, 3, 1).expect("day"),
        account: AccountId::parse("111122223333").expect("account"),
        product_code: "AmazonBedrock".into(),
        billing_entity: "AWS".into(),
        product_name: String::new(),
        usage_type: "USE1-Claude3Haiku-input-tokens".into(),
        operation: "InvokeModel".into(),
        line_item_type: "Usage".into(),
        resource_id: None,
        principal: Some(String::new()),
        workspace: None,
        usage_amount: Decimal::ONE,
        cost: Decimal::ONE,
    }
}

/// Hourly usage from invocation logs, priced and unpriced, with a thousand
/// principals (so dictionary pages and row groups are exercised).
pub fn usage_sample(n: u32) -> domain::invocations::UsageFacts {
    let mut f = domain::invocations::UsageFacts::default();
    for i in 0..n {
        let model = if i % 7 == 0 { "acme.unpriced-v1" } else { "us.anthropic.claude-3-haiku-20240307-v1:0" };
        let r = domain::invocations::parse_record(&format!(
            r#"{{"timestamp":"2026-10-{:02}T{:02}:17:00Z","accountId":"111111111111","identity":{{"arn":"arn:aws:sts::111111111111:assumed-role/dev/u{}"}},"region":"us-east-1","modelId":"{model}","input":{{"inputTokenCount":{}}},"output":{{"outputTokenCount":{}}}}}"#,
            1 + i % 28,
            i % 24,
            i % 1000,
            100 + i,
            10 + i % 13
        ))
        .expect("record");
        let cost = (i % 7 != 0).then(|| domain::Money::parse(&format!("0.{:05}", 1 + i % 99_999)).expect("money"));
        f.add(&r, cost);
    }
    f
}

pub async fn usage_facts_read_back_exactly_and_are_not_cur_facts(l: &dyn FactLedger) {
    let usage = usage_sample(3000);
    let key = "usage/period=2026-10/source=a/gen=1.parquet";
    let w = l.write_usage(key, &usage).await.expect("write usage");
    assert_eq!(w.digest.len(), 64);
    assert_eq!(l.read_usage(key).await.expect("read usage").to_facts(), usage);
    assert_eq!(l.write_usage("usage/period=2026-10/source=a/gen=2.parquet", &usage).await.expect("again").digest, w.digest, "canonical bytes");
    // Each kind refuses the other's objects rather than reading them as empty.
    assert!(matches!(l.read(key).await, Err(LedgerError::Corrupt { .. })), "a usage object is not CUR facts");
    l.write("facts/period=2026-10/source=b/gen=1.parquet", &sample(10)).await.expect("write cur");
    assert!(matches!(l.read_usage("facts/period=2026-10/source=b/gen=1.parquet").await, Err(LedgerError::Corrupt { .. })));
    assert!(matches!(l.read_usage("usage/period=2026-10/source=zz/gen=1.parquet").await, Err(LedgerError::NotFound(_))));
    assert!(matches!(l.write_usage("../escape.parquet", &usage).await, Err(LedgerError::BadKey { .. })));
}

/// An export table is written whole at its key as the one Parquet encoding
/// (`export_files`), listed under its prefix, rewritten in place; a bad key
/// writes nothing.
pub async fn export_tables_are_written_whole_and_rewritten_in_place(l: &dyn FactLedger) {
    use domain::exports::{ColumnType, Table, Value};
    let table = |cost: &str| Table {
        columns: vec![("Workload", ColumnType::Text), ("BilledCost", ColumnType::Decimal)],
        rows: vec![vec![Value::Text(Some("chat".into())), Value::Decimal(Some(cost.parse().expect("decimal")))]],
    };
    let key = "exports/focus/period=2026-03/focus.parquet";
    let first = l.write_table(key, &table("12.3400001")).await.expect("write");
    let bytes = export_files::write(&table("12.3400001"), export_files::FileFormat::Parquet).expect("encode");
    assert_eq!(first.bytes, bytes.len() as u64, "the one encoding of export tables");
    assert_eq!(l.write_table(key, &table("12.3400001")).await.expect("again").digest, first.digest, "the same table, the same object");
    assert_eq!(l.list("exports/focus/period=2026-03").await.expect("list"), [key]);
    let second = l.write_table(key, &table("1")).await.expect("rewrite");
    assert_ne!(second.digest, first.digest);
    assert_eq!(l.list("exports/focus").await.expect("list"), [key], "rewritten in place, not beside");
    assert!(matches!(l.write_table("../escape.parquet", &table("1")).await, Err(LedgerError::BadKey { .. })));
}
