//! Property-based fuzzing of the CUR readers (issue 12 item 16; a nightly
//! toolchain for cargo-fuzz is not available, so proptest drives it): valid
//! Parquet, CSV and CSV.gz files are mutated (byte flips, truncations, column
//! drops, type swaps) and read. Whatever the mutation, the reader never
//! panics, and either refuses the file with a named error or reads facts that
//! reconcile: every account's bill as read equals its parts to the digit.
//!
//! `PROPTEST_CASES` raises the case count for a longer run.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use cur_files::generate::{write_parquet, Spec};
use cur_files::read_path;
use domain::cur::attribution::Attributor;
use domain::cur::views::reconcile;
use domain::{BillingPeriod, RolePattern};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use proptest::prelude::*;

fn period() -> BillingPeriod {
    BillingPeriod::parse("2026-02").unwrap()
}

/// A small generated month: every line shape, several row groups.
fn parquet_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.parquet");
        write_parquet(&Spec { rows: 400, ai_share: 0.6, seed: 9, period: period(), rows_per_group: 100, estate: None }, &path).unwrap();
        std::fs::read(path).unwrap()
    })
}

fn parquet_batches() -> &'static [RecordBatch] {
    static BATCHES: OnceLock<Vec<RecordBatch>> = OnceLock::new();
    BATCHES.get_or_init(|| {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from_static(parquet_bytes())).unwrap().build().unwrap();
        reader.map(|b| b.unwrap()).collect()
    })
}

const CSV: &str = concat!(
    "bill_billing_entity,line_item_usage_account_id,line_item_product_code,line_item_usage_type,line_item_operation,line_item_line_item_type,line_item_usage_start_date,line_item_usage_amount,line_item_unblended_cost,line_item_resource_id,line_item_iam_principal,product,resource_tags\n",
    "AWS,111122223333,AmazonBedrock,USE1-Claude3Haiku-input-tokens,InvokeModel,Usage,2026-02-12T00:00:00Z,4000,0.001,,arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/app,\"{\"\"product_name\"\":\"\"Amazon Bedrock\"\"}\",{}\n",
    "AWS,111122223333,AmazonBedrock,,,Tax,2026-02-01T00:00:00Z,0,0.0002,,,{},{}\n",
    "AWS,444455556666,AmazonBedrock,USE1-Guardrail-ContentPolicyUnitsConsumed,ApplyGuardrail,Usage,2026-02-03T00:00:00Z,10,0.15,arn:aws:bedrock:us-east-1:444455556666:guardrail/g1,,{},{}\n",
    "AWS Marketplace,111122223333,prod-cpccu0001,USE1-MP:USE1_CCU-Units,Usage,Usage,2026-02-04T00:00:00Z,250,2.5,,,{},\"{\"\"user_claude_workspace\"\":\"\"wrkspc_1\"\"}\"\n",
    "AWS,111122223333,AmazonBedrock,USE1-NovaLite-output-tokens,InvokeModel,Credit,2026-02-05T00:00:00Z,0,-1.25,,,{},{}\n",
    "AWS,777788889999,AmazonEC2,USE1-BoxUsage:t3.micro,RunInstances,Usage,2026-02-12 00:00:00.000,24,0.2496,i-0abc,,\"{\"\"product_name\"\":\"\"Amazon Elastic Compute Cloud\"\"}\",{}\n",
    "AWS,111122223333,AmazonBedrock,USE1-Claude3Haiku-output-tokens,InvokeModel,Usage,2026-03-01T00:00:00Z,100,0.5,,,{},{}\n",
);

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The property every read must keep.
fn check(path: &Path) -> Result<(), TestCaseError> {
    match read_path(path, 1) {
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(!msg.trim().is_empty(), "an error must say what was wrong");
        }
        Ok((facts, _)) => {
            let attributor = Attributor { claims: Default::default(), broad_roles: RolePattern::defaults() };
            let r = reconcile(period(), &facts, &attributor);
            prop_assert!(r.balanced, "facts read from a mutated file must still reconcile: {:?}", r.accounts.iter().filter(|a| !a.difference.is_zero()).collect::<Vec<_>>());
        }
    }
    Ok(())
}

fn write_and_check(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    check(&path)
}

fn flip(mut bytes: Vec<u8>, flips: &[(prop::sample::Index, u8)]) -> Vec<u8> {
    if !bytes.is_empty() {
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= b | 1;
        }
    }
    bytes
}

/// The base Parquet with one column dropped or its type swapped, rewritten.
fn reshaped_parquet(column: prop::sample::Index, drop: bool) -> Vec<u8> {
    let batches = parquet_batches();
    let schema = batches[0].schema();
    let c = column.index(schema.fields().len());
    let mut fields: Vec<Field> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if i == c && drop {
            continue;
        }
        let swapped = match f.data_type() {
            DataType::Utf8 => DataType::Int64,
            _ => DataType::Utf8,
        };
        fields.push(if i == c { Field::new(f.name(), swapped, true) } else { f.as_ref().clone() });
    }
    let out_schema = Arc::new(Schema::new(fields));
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, out_schema.clone(), None).unwrap();
    for b in batches {
        let mut cols: Vec<ArrayRef> = Vec::new();
        for (i, col) in b.columns().iter().enumerate() {
            if i == c && drop {
                continue;
            }
            if i == c {
                // A type swap: text becomes numbers, anything else its text.
                let swapped: ArrayRef = match col.data_type() {
                    DataType::Utf8 => Arc::new(Int64Array::from_iter((0..col.len()).map(|n| Some(n as i64)))),
                    _ => Arc::new(arrow_cast::cast(col, &DataType::Utf8).unwrap_or_else(|_| Arc::new(StringArray::from(vec!["x"; col.len()])) as ArrayRef)),
                };
                cols.push(swapped);
            } else {
                cols.push(col.clone());
            }
        }
        w.write(&RecordBatch::try_new(out_schema.clone(), cols).unwrap()).unwrap();
    }
    w.close().unwrap();
    buf
}

/// The base CSV with column `a` dropped, or columns `a` and `b` swapped.
fn reshaped_csv(a: prop::sample::Index, b: prop::sample::Index, drop: bool) -> Vec<u8> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(CSV.as_bytes());
    let mut w = csv::Writer::from_writer(Vec::new());
    for rec in r.records() {
        let rec = rec.unwrap();
        let mut cells: Vec<String> = rec.iter().map(String::from).collect();
        let (i, j) = (a.index(cells.len()), b.index(cells.len()));
        if drop {
            cells.remove(i);
        } else {
            cells.swap(i, j);
        }
        w.write_record(&cells).unwrap();
    }
    w.into_inner().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parquet_with_flipped_bytes(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        write_and_check("m.parquet", &flip(parquet_bytes().to_vec(), &flips))?;
    }

    #[test]
    fn parquet_truncated(at in any::<prop::sample::Index>()) {
        let bytes = parquet_bytes();
        write_and_check("t.parquet", &bytes[..at.index(bytes.len())])?;
    }

    #[test]
    fn parquet_with_a_column_dropped_or_retyped(column in any::<prop::sample::Index>(), drop in any::<bool>()) {
        write_and_check("c.parquet", &reshaped_parquet(column, drop))?;
    }

    #[test]
    fn csv_with_flipped_bytes(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), gz in any::<bool>()) {
        let bytes = flip(CSV.as_bytes().to_vec(), &flips);
        write_and_check("m.csv", &if gz { gzip(&bytes) } else { bytes })?;
    }

    #[test]
    fn csv_gz_with_flipped_compressed_bytes(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        write_and_check("m.csv.gz", &flip(gzip(CSV.as_bytes()), &flips))?;
    }

    #[test]
    fn csv_truncated(at in any::<prop::sample::Index>(), gz in any::<bool>()) {
        let cut = &CSV.as_bytes()[..at.index(CSV.len())];
        write_and_check("t.csv", &if gz { gzip(cut) } else { cut.to_vec() })?;
    }

    #[test]
    fn csv_with_columns_dropped_or_swapped(a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(), drop in any::<bool>()) {
        write_and_check("c.csv", &reshaped_csv(a, b, drop))?;
    }

    #[test]
    fn csv_with_arbitrary_cells(cell in any::<prop::sample::Index>(), value in "\\PC{0,40}") {
        // Any text (no control characters) in any cell of the Bedrock line.
        let mut lines: Vec<String> = CSV.lines().map(String::from).collect();
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(lines[1].as_bytes());
        let mut cells: Vec<String> = r.records().next().unwrap().unwrap().iter().map(String::from).collect();
        let i = cell.index(cells.len());
        cells[i] = value;
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&cells).unwrap();
        lines[1] = String::from_utf8(w.into_inner().unwrap()).unwrap().trim_end().to_owned();
        write_and_check("v.csv", (lines.join("\n") + "\n").as_bytes())?;
    }
}

/// The unmutated files read and reconcile, so the properties above are
/// exercised on readable files too, not only on refusals.
#[test]
fn the_base_files_read_and_reconcile() {
    for (name, bytes) in [("b.parquet", parquet_bytes().to_vec()), ("b.csv", CSV.as_bytes().to_vec()), ("b.csv.gz", gzip(CSV.as_bytes()))] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let (facts, _) = read_path(&path, 1).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!facts.read_total.is_empty(), "{name}");
        let r = reconcile(period(), &facts, &Attributor { claims: Default::default(), broad_roles: RolePattern::defaults() });
        assert!(r.balanced, "{name}");
    }
}
