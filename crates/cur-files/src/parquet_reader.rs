//! CUR 2.0 Parquet, a row group at a time, only the columns attribution needs.
//!
//! One `Layout` is checked against the file's schema before any row is read
//! (required columns present, every read column of a type we can read exactly),
//! and one `fold_batch` turns record batches into facts for both the local
//! reader (row groups decoded on several threads) and the asynchronous one the
//! cur-ingest Lambda drives with ranged GETs.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef, MapArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Schema};
use chrono::NaiveDate;
use domain::cur::facts::{is_ai_row, CurRow, Facts};
use domain::Money;
use domain::AccountId;
use futures::StreamExt;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use rust_decimal::Decimal;

use crate::values::{decimal, decimal_of_double, usage_day};
use crate::*;

/// Rows per decoded batch: big enough to amortise per-batch work, small enough
/// that a batch of the projected columns stays a few MB.
const BATCH_ROWS: usize = 16 * 1024;

pub(crate) fn malformed(e: impl std::fmt::Display) -> ReadError {
    ReadError::Malformed { format: "Parquet", reason: e.to_string() }
}

impl From<ParquetError> for ReadError {
    fn from(e: ParquetError) -> Self {
        malformed(e)
    }
}

/// What kind of value a read column must hold.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Number,
    Time,
    Map,
}

fn kind_of(column: &str) -> Kind {
    match column {
        COST | USAGE_AMOUNT => Kind::Number,
        USAGE_START => Kind::Time,
        PRODUCT | RESOURCE_TAGS => Kind::Map,
        _ => Kind::Text,
    }
}

fn readable(kind: Kind, t: &DataType) -> bool {
    let text = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    match kind {
        Kind::Text => text(t) || matches!(t, DataType::Dictionary(_, v) if text(v)),
        Kind::Number => t.is_numeric() || matches!(t, DataType::Null),
        Kind::Time => matches!(t, DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64) || text(t),
        Kind::Map => matches!(t, DataType::Map(_, _)),
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "a string",
        Kind::Number => "a number",
        Kind::Time => "a timestamp",
        Kind::Map => "a map<string,string>",
    }
}

/// The projection: which of `READ_COLUMNS` the file has, checked once.
#[derive(Debug, Clone)]
pub struct Layout {
    roots: Vec<usize>,
    pub principal_column: bool,
}

impl Layout {
    pub fn check(schema: &Schema) -> Result<Layout, ReadError> {
        for name in REQUIRED {
            if schema.index_of(name).is_err() {
                return Err(ReadError::MissingColumn(name));
            }
        }
        let mut roots = Vec::new();
        for name in READ_COLUMNS {
            if let Ok(i) = schema.index_of(name) {
                let kind = kind_of(name);
                let found = schema.field(i).data_type();
                if !readable(kind, found) {
                    return Err(ReadError::WrongType { column: name, found: found.to_string(), expected: expected(kind) });
                }
                roots.push(i);
            }
        }
        roots.sort_unstable();
        Ok(Layout { roots, principal_column: schema.index_of(PRINCIPAL).is_ok() })
    }

    fn mask(&self, meta: &ArrowReaderMetadata) -> ProjectionMask {
        ProjectionMask::roots(meta.parquet_schema(), self.roots.iter().copied())
    }
}

/// A text column of a batch, whatever its Arrow string encoding was.
fn text(batch: &RecordBatch, name: &str) -> Result<Option<ArrayRef>, ReadError> {
    match batch.column_by_name(name) {
        None => Ok(None),
        Some(c) if c.data_type() == &DataType::Utf8 => Ok(Some(c.clone())),
        Some(c) => arrow_cast::cast(c, &DataType::Utf8).map(Some).map_err(malformed),
    }
}

fn str_at(a: &StringArray, i: usize) -> &str {
    if a.is_null(i) {
        ""
    } else {
        a.value(i)
    }
}

/// A number column, read exactly: doubles as the decimal CUR meant, integers
/// and decimals through their text.
enum Numbers {
    F64(ArrayRef),
    F32(ArrayRef),
    Text(ArrayRef),
    Absent,
}

impl Numbers {
    fn of(batch: &RecordBatch, name: &str) -> Result<Numbers, ReadError> {
        Ok(match batch.column_by_name(name) {
            None => Numbers::Absent,
            Some(c) => match c.data_type() {
                DataType::Float64 => Numbers::F64(c.clone()),
                DataType::Float32 => Numbers::F32(c.clone()),
                _ => Numbers::Text(arrow_cast::cast(c, &DataType::Utf8).map_err(malformed)?),
            },
        })
    }

    fn at(&self, row: u64, column: &'static str, i: usize) -> Result<Decimal, ReadError> {
        match self {
            Numbers::Absent => Ok(Decimal::ZERO),
            Numbers::F64(a) if a.is_null(i) => Ok(Decimal::ZERO),
            Numbers::F64(a) => decimal_of_double(row, column, a.as_primitive::<Float64Type>().value(i)),
            Numbers::F32(a) if a.is_null(i) => Ok(Decimal::ZERO),
            Numbers::F32(a) => decimal_of_double(row, column, f64::from(a.as_primitive::<Float32Type>().value(i))),
            Numbers::Text(a) => decimal(row, column, str_at(a.as_string::<i32>(), i)),
        }
    }
}

/// Usage start dates as UTC days.
fn days(batch: &RecordBatch) -> Result<ArrayRef, ReadError> {
    let c = batch.column_by_name(USAGE_START).ok_or(ReadError::MissingColumn(USAGE_START))?;
    match c.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => arrow_cast::cast(c, &DataType::Utf8).map_err(malformed),
        _ => arrow_cast::cast(c, &DataType::Date32).map_err(malformed),
    }
}

fn day_at(a: &ArrayRef, row: u64, i: usize) -> Result<NaiveDate, ReadError> {
    if a.is_null(i) {
        return Err(ReadError::BadValue { row, column: USAGE_START, value: String::new(), reason: "is empty".into() });
    }
    match a.data_type() {
        DataType::Utf8 => usage_day(row, a.as_string::<i32>().value(i)),
        _ => a.as_primitive::<Date32Type>().value_as_date(i).ok_or_else(|| ReadError::BadValue {
            row,
            column: USAGE_START,
            value: a.as_primitive::<Date32Type>().value(i).to_string(),
            reason: "out of range".into(),
        }),
    }
}

/// One value of a `map<string,string>` cell.
fn map_get(map: Option<&MapArray>, i: usize, keys: &[&str]) -> Option<String> {
    let map = map?;
    if map.is_null(i) {
        return None;
    }
    let entries = map.value(i);
    let k = entries.column(0).as_string_opt::<i32>()?;
    let v = entries.column(1).as_string_opt::<i32>()?;
    keys.iter().find_map(|want| (0..k.len()).find(|&j| k.value(j) == *want && v.is_valid(j)).map(|j| v.value(j).to_owned()))
}

/// Folds one record batch (rows `first_row + 1 ..`, numbered from 1) into facts.
/// Non-AI rows only add their cost to their account; AI rows become facts.
pub fn fold_batch(batch: &RecordBatch, first_row: u64, facts: &mut Facts) -> Result<(), ReadError> {
    let req = |name: &'static str| text(batch, name)?.ok_or(ReadError::MissingColumn(name));
    let (usage_type, account, product_code) = (req(USAGE_TYPE)?, req(ACCOUNT)?, req(PRODUCT_CODE)?);
    let (usage_type, account, product_code) = (usage_type.as_string::<i32>(), account.as_string::<i32>(), product_code.as_string::<i32>());
    let opt = |name| text(batch, name);
    let (principal, resource, operation, lit, entity) = (opt(PRINCIPAL)?, opt(RESOURCE_ID)?, opt(OPERATION)?, opt(LINE_ITEM_TYPE)?, opt(BILLING_ENTITY)?);
    let s = |a: &Option<ArrayRef>| a.as_ref().map(|a| a.as_string::<i32>().clone());
    let (principal, resource, operation, lit, entity) = (s(&principal), s(&resource), s(&operation), s(&lit), s(&entity));
    let (cost, amount, days) = (Numbers::of(batch, COST)?, Numbers::of(batch, USAGE_AMOUNT)?, days(batch)?);
    let product = batch.column_by_name(PRODUCT).map(|c| c.as_map().clone());
    let tags = batch.column_by_name(RESOURCE_TAGS).map(|c| c.as_map().clone());
    for i in 0..batch.num_rows() {
        let row = first_row + i as u64 + 1;
        let code = str_at(product_code, i);
        let entity = entity.as_ref().map_or("AWS", |e| str_at(e, i));
        let product_name = if entity == "AWS Marketplace" { map_get(product.as_ref(), i, &["product_name"]) } else { None };
        let acct = str_at(account, i).trim();
        let account_id = || AccountId::parse(acct).map_err(|e| ReadError::BadValue { row, column: ACCOUNT, value: acct.to_owned(), reason: e.rule });
        let c = cost.at(row, COST, i)?;
        if !is_ai_row(code, entity, product_name.as_deref().unwrap_or("")) {
            match facts.non_ai.get_mut(acct) {
                Some(total) => *total += Money::new(c),
                None => {
                    facts.non_ai.insert(account_id()?, Money::new(c));
                }
            }
            continue;
        }
        let usage_day = day_at(&days, row, i)?;
        let get = |a: &Option<StringArray>| a.as_ref().map(|a| str_at(a, i).to_owned());
        facts.add(CurRow {
            usage_day,
            account: account_id()?,
            product_code: code.to_owned(),
            billing_entity: entity.to_owned(),
            product_name: product_name.unwrap_or_default(),
            usage_type: str_at(usage_type, i).to_owned(),
            operation: get(&operation).unwrap_or_default(),
            line_item_type: get(&lit).filter(|t| !t.is_empty()).unwrap_or_else(|| "Usage".into()),
            resource_id: get(&resource).filter(|r| !r.is_empty()),
            principal: get(&principal),
            workspace: map_get(tags.as_ref(), i, &WORKSPACE_TAG_KEYS),
            usage_amount: amount.at(row, USAGE_AMOUNT, i)?,
            cost: c,
        });
    }
    Ok(())
}

/// The first row number (0-based) of each row group.
fn row_group_starts(meta: &ArrowReaderMetadata) -> Vec<u64> {
    let mut next = 0u64;
    meta.metadata()
        .row_groups()
        .iter()
        .map(|rg| {
            let start = next;
            next += u64::try_from(rg.num_rows()).unwrap_or(0);
            start
        })
        .collect()
}

/// Reads a Parquet file from disk, `threads` row groups at a time.
pub fn read_file(path: &Path, threads: usize, progress: &Progress) -> Result<(Facts, ReadStats), ReadError> {
    let file = File::open(path)?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())?;
    let layout = Layout::check(meta.schema())?;
    let starts = row_group_starts(&meta);
    progress.total.fetch_add(u64::try_from(meta.metadata().file_metadata().num_rows()).unwrap_or(0), Ordering::Relaxed);
    let threads = threads.clamp(1, starts.len().max(1));
    let results: Vec<Result<(Facts, u64), ReadError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (meta, layout, starts) = (&meta, &layout, &starts);
                scope.spawn(move || -> Result<(Facts, u64), ReadError> {
                    let mut facts = Facts::default();
                    let mut rows = 0;
                    for rg in (t..starts.len()).step_by(threads) {
                        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(File::open(path)?, meta.clone())
                            .with_projection(layout.mask(meta))
                            .with_row_groups(vec![rg])
                            .with_batch_size(BATCH_ROWS)
                            .build()?;
                        let mut first = starts[rg];
                        for batch in reader {
                            let batch = batch.map_err(malformed)?;
                            fold_batch(&batch, first, &mut facts)?;
                            first += batch.num_rows() as u64;
                            rows += batch.num_rows() as u64;
                            progress.rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                        }
                    }
                    Ok((facts, rows))
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|_| Err(malformed("a decoding thread panicked")))).collect()
    });
    let mut facts = Facts::default();
    let mut stats = ReadStats { rows: 0, principal_column: layout.principal_column };
    for r in results {
        let (f, rows) = r?;
        facts.merge(&f);
        stats.rows += rows;
    }
    Ok((facts, stats))
}

/// Reads Parquet through an asynchronous ranged reader (an S3 object): the
/// footer first, then each row group's projected column chunks.
pub async fn read_async<T>(mut input: T) -> Result<(Facts, ReadStats), ReadError>
where
    T: AsyncFileReader + Clone + Unpin + Send + 'static,
{
    let meta = ArrowReaderMetadata::load_async(&mut input, ArrowReaderOptions::new()).await?;
    let layout = Layout::check(meta.schema())?;
    let mut facts = Facts::default();
    let mut stats = ReadStats { rows: 0, principal_column: layout.principal_column };
    for (rg, start) in row_group_starts(&meta).into_iter().enumerate() {
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(input.clone(), meta.clone())
            .with_projection(layout.mask(&meta))
            .with_row_groups(vec![rg])
            .with_batch_size(BATCH_ROWS)
            .build()?;
        let mut first = start;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            fold_batch(&batch, first, &mut facts)?;
            first += batch.num_rows() as u64;
        }
        stats.rows = first;
    }
    Ok((facts, stats))
}
