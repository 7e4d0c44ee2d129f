//! The Parquet reader on generated CUR 2.0: every dollar of the file lands in
//! facts, threads and the async (ranged) path agree, a file without the
//! principal column is valid, and malformed files are refused with the column
//! or the damage named.

use std::fs::File;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use cur_files::generate::{cur2_schema, write_parquet, Spec};
use cur_files::{parquet_reader, read_path, ReadError};
use domain::cur::attribution::Reason;
use domain::cur::facts::Facts;
use domain::{BillingPeriod, Money};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use rust_decimal::Decimal;

fn spec(rows: u64) -> Spec {
    Spec { rows, ai_share: 0.3, seed: 7, period: BillingPeriod::parse("2026-03").unwrap(), rows_per_group: 4096, estate: None }
}

fn generated(dir: &Path, rows: u64) -> std::path::PathBuf {
    let path = dir.join("cur.parquet");
    write_parquet(&spec(rows), &path).unwrap();
    path
}

fn total(f: &Facts) -> Decimal {
    f.iter().map(|(_, v)| v.cost.amount()).sum::<Decimal>() + f.non_ai.values().map(|m| m.amount()).sum::<Decimal>()
}

/// The oracle: every cost cell of the file, read without the reader under test,
/// each double turned into its shortest decimal.
fn cost_cells(path: &Path) -> (u64, Decimal) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    let (mut rows, mut sum) = (0, Decimal::ZERO);
    for b in reader {
        let b = b.unwrap();
        rows += b.num_rows() as u64;
        for v in b.column_by_name("line_item_unblended_cost").unwrap().as_primitive::<Float64Type>().iter() {
            sum += Decimal::from_str(&v.unwrap().to_string()).unwrap();
        }
    }
    (rows, sum)
}

#[test]
fn the_generator_writes_all_127_columns_deterministically() {
    assert_eq!(cur2_schema().fields().len(), 127);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    write_parquet(&spec(5000), &a).unwrap();
    write_parquet(&spec(5000), &b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&a).unwrap()).unwrap();
    assert_eq!(builder.schema().fields().len(), 127);
    assert_eq!(builder.metadata().num_row_groups(), 2);
}

#[test]
fn every_dollar_of_the_file_lands_in_facts_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = generated(dir.path(), 20_000);
    let (rows, sum) = cost_cells(&path);
    let (one, stats) = read_path(&path, 1).unwrap();
    let (two, _) = read_path(&path, 2).unwrap();
    assert_eq!(stats.rows, rows);
    assert!(stats.principal_column);
    assert_eq!(total(&one), sum);
    assert_eq!(one, two);
    assert!(one.ai_rows() as f64 / rows as f64 > 0.25);
    assert_eq!(one.non_ai.len(), 4, "four accounts spend outside AI");
    // Every AI kind the generator writes is recognised as AI.
    let codes: std::collections::BTreeSet<_> = one.iter().map(|(k, _)| k.product_code).collect();
    assert_eq!(codes.len(), 5, "{codes:?}");
    assert!(one.iter().any(|(k, _)| k.workspace == Some("wrkspc_01HX9analytics")));
}

#[tokio::test]
async fn the_async_ranged_path_reads_what_the_file_path_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = generated(dir.path(), 12_000);
    let (sync, sync_stats) = read_path(&path, 2).unwrap();
    let file = tokio::fs::File::open(&path).await.unwrap();
    let (facts, stats) = parquet_reader::read_async(ClonableFile(Arc::new(tokio::sync::Mutex::new(file)))).await.unwrap();
    assert_eq!(stats, sync_stats);
    assert_eq!(facts, sync);
}

/// `tokio::fs::File` is an `AsyncFileReader` but not `Clone`; the reader opens
/// one stream per row group, as it does over S3.
#[derive(Clone)]
struct ClonableFile(Arc<tokio::sync::Mutex<tokio::fs::File>>);

impl parquet::arrow::async_reader::AsyncFileReader for ClonableFile {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> futures::future::BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        Box::pin(async move { self.0.lock().await.get_bytes(range).await })
    }
    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> futures::future::BoxFuture<'a, parquet::errors::Result<Arc<parquet::file::metadata::ParquetMetaData>>> {
        Box::pin(async move { self.0.lock().await.get_metadata(options).await })
    }
}

fn write(path: &Path, fields: Vec<(&str, ArrayRef)>) {
    let schema = Arc::new(Schema::new(fields.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>()));
    let batch = RecordBatch::try_new(schema.clone(), fields.into_iter().map(|(_, a)| a).collect()).unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn s(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn minimal(without: Option<&str>, cost: ArrayRef) -> Vec<(&'static str, ArrayRef)> {
    let all: Vec<(&str, ArrayRef)> = vec![
        ("line_item_usage_account_id", s(&["111122223333"])),
        ("line_item_product_code", s(&["AmazonBedrock"])),
        ("line_item_usage_type", s(&["USE1-Claude3Haiku-input-tokens"])),
        ("line_item_usage_start_date", s(&["2026-03-04T00:00:00Z"])),
        ("line_item_unblended_cost", cost),
    ];
    all.into_iter().filter(|(n, _)| Some(*n) != without).collect()
}

#[test]
fn a_file_without_the_principal_column_is_valid_and_not_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noprincipal.parquet");
    write(&path, minimal(None, Arc::new(Float64Array::from(vec![0.0125]))));
    let (facts, stats) = read_path(&path, 2).unwrap();
    assert!(!stats.principal_column);
    let report = domain::cur::facts::report(BillingPeriod::parse("2026-03").unwrap(), &facts, &domain::cur::attribution::Attributor { claims: Default::default(), broad_roles: domain::RolePattern::defaults() });
    assert_eq!(report.unattributed_by_reason.len(), 1);
    assert_eq!(report.unattributed_by_reason[0].reason, Reason::AttributionNotEnabled);
    assert_eq!(report.unattributed, Money::parse("0.0125").unwrap());
}

#[test]
fn a_missing_required_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for column in cur_files::REQUIRED {
        let path = dir.path().join(format!("{column}.parquet"));
        write(&path, minimal(Some(column), Arc::new(Float64Array::from(vec![1.0]))));
        match read_path(&path, 1).unwrap_err() {
            ReadError::MissingColumn(c) => assert_eq!(c, column),
            other => panic!("{column}: {other}"),
        }
    }
}

#[test]
fn a_cost_column_of_the_wrong_type_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrongtype.parquet");
    write(&path, minimal(None, s(&["twelve dollars"])));
    let err = read_path(&path, 1).unwrap_err();
    assert!(matches!(&err, ReadError::WrongType { column: "line_item_unblended_cost", .. }), "{err}");
    assert!(err.to_string().contains("line_item_unblended_cost"), "{err}");
    assert_eq!(cost_type(&path), DataType::Utf8);
}

fn cost_type(path: &Path) -> DataType {
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    b.schema().field_with_name("line_item_unblended_cost").unwrap().data_type().clone()
}

#[test]
fn a_truncated_file_is_malformed_not_half_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = generated(dir.path(), 9000);
    let bytes = std::fs::read(&path).unwrap();
    for cut in [bytes.len() - 10, bytes.len() / 2, 100] {
        let t = dir.path().join(format!("cut{cut}.parquet"));
        std::fs::write(&t, &bytes[..cut]).unwrap();
        let err = read_path(&t, 2).unwrap_err();
        assert!(matches!(err, ReadError::Malformed { format: "Parquet", .. }), "cut at {cut}: {err}");
    }
}

#[test]
fn a_bad_value_is_named_by_its_file_row_in_settled_and_decoded_rows() {
    let dir = tempfile::tempdir().unwrap();
    for (bad_at, code) in [(3usize, "AmazonBedrock"), (2, "AmazonEC2")] {
        let mut accounts = vec!["111122223333"; 4];
        accounts[bad_at - 1] = "12";
        let codes = ["AmazonEC2", "AmazonBedrock", code, "AmazonS3"];
        let codes: Vec<&str> = codes.iter().enumerate().map(|(i, c)| if i == bad_at - 1 { code } else { *c }).collect();
        let path = dir.path().join(format!("bad{bad_at}.parquet"));
        write(
            &path,
            vec![
                ("line_item_usage_account_id", s(&accounts)),
                ("line_item_product_code", s(&codes)),
                ("line_item_usage_type", s(&["a", "USE1-Claude3Haiku-input-tokens", "USE1-Claude3Haiku-input-tokens", "b"])),
                ("line_item_usage_start_date", s(&["2026-03-04T00:00:00Z"; 4])),
                ("line_item_unblended_cost", Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0]))),
            ],
        );
        match read_path(&path, 1).unwrap_err() {
            ReadError::BadValue { row, column: "line_item_usage_account_id", .. } => assert_eq!(row, bad_at as u64, "{code}"),
            other => panic!("{code}: {other}"),
        }
    }
}
