//! Export tables as files. Parquet: text as strings, decimals as
//! `decimal(38, s)` with the smallest scale that holds every value of the
//! column exactly (a value that does not fit is refused by name, never
//! rounded), times as UTC microsecond timestamps, nulls as nulls. CSV: RFC
//! 4180 (the `csv` crate), a header row, decimals as their exact strings,
//! times as RFC 3339 (`2026-03-01T00:00:00Z`), nulls as empty cells.

use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use domain::exports::{ColumnType, Table, Value};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rust_decimal::Decimal;

/// Rows per record batch and row group.
const BATCH: usize = 64 * 1024;
const PRECISION: u8 = 38;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("column {column}: {reason}")]
    Unrepresentable { column: &'static str, reason: String },
    #[error("row {row} does not match the columns (a bug in the table's builder)")]
    Malformed { row: usize },
    #[error("writing the file: {0}")]
    Write(String),
}

/// The formats an export can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Csv,
}

impl FileFormat {
    /// The format a file name asks for, by its extension.
    pub fn of_path(path: &std::path::Path) -> Option<FileFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "parquet" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            _ => None,
        }
    }
}

pub fn write(table: &Table, format: FileFormat) -> Result<Vec<u8>, ExportError> {
    if let Some(row) = table.rows.iter().position(|r| r.len() != table.columns.len() || r.iter().zip(&table.columns).any(|(v, (_, t))| v.column_type() != *t)) {
        return Err(ExportError::Malformed { row: row + 1 });
    }
    match format {
        FileFormat::Parquet => parquet(table),
        FileFormat::Csv => csv(table),
    }
}

fn scale_of(table: &Table, col: usize) -> i8 {
    let scale = table
        .rows
        .iter()
        .filter_map(|r| match &r[col] {
            Value::Decimal(Some(d)) => Some(d.normalize().scale()),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    i8::try_from(scale).unwrap_or(28)
}

fn mantissa(d: Decimal, scale: i8, column: &'static str) -> Result<i128, ExportError> {
    let d = d.normalize();
    let bad = |reason: String| ExportError::Unrepresentable { column, reason };
    let up = u32::try_from(i32::from(scale) - i32::try_from(d.scale()).unwrap_or(i32::MAX)).map_err(|_| bad(format!("{d} has more places than scale {scale}")))?;
    match 10i128.checked_pow(up).and_then(|p| d.mantissa().checked_mul(p)) {
        Some(m) if m.unsigned_abs() < 10u128.pow(u32::from(PRECISION)) => Ok(m),
        _ => Err(bad(format!("{d} does not fit decimal({PRECISION}, {scale})"))),
    }
}

fn parquet(table: &Table) -> Result<Vec<u8>, ExportError> {
    let scales: Vec<i8> = (0..table.columns.len()).map(|c| scale_of(table, c)).collect();
    let fields: Vec<Field> = table
        .columns
        .iter()
        .zip(&scales)
        .map(|((name, t), scale)| {
            let dt = match t {
                ColumnType::Text => DataType::Utf8,
                ColumnType::Decimal => DataType::Decimal128(PRECISION, *scale),
                ColumnType::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            };
            Field::new(*name, dt, true)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_size(BATCH).set_created_by("finops-center export".into()).build();
    let mut out = Vec::new();
    let write_err = |e: &dyn std::fmt::Display| ExportError::Write(e.to_string());
    let mut writer = ArrowWriter::try_new(&mut out, schema.clone(), Some(props)).map_err(|e| write_err(&e))?;
    for chunk in table.rows.chunks(BATCH) {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(table.columns.len());
        for (c, ((name, t), scale)) in table.columns.iter().zip(&scales).enumerate() {
            arrays.push(match t {
                ColumnType::Text => {
                    let mut b = StringBuilder::new();
                    for r in chunk {
                        match &r[c] {
                            Value::Text(Some(s)) => b.append_value(s),
                            _ => b.append_null(),
                        }
                    }
                    Arc::new(b.finish())
                }
                ColumnType::Decimal => {
                    let mut b = Decimal128Builder::with_capacity(chunk.len());
                    for r in chunk {
                        match &r[c] {
                            Value::Decimal(Some(d)) => b.append_value(mantissa(*d, *scale, name)?),
                            _ => b.append_null(),
                        }
                    }
                    Arc::new(b.finish().with_precision_and_scale(PRECISION, *scale).map_err(|e| write_err(&e))?)
                }
                ColumnType::Time => {
                    let mut b = TimestampMicrosecondBuilder::with_capacity(chunk.len());
                    for r in chunk {
                        match &r[c] {
                            Value::Time(Some(t)) => b.append_value(t.timestamp_micros()),
                            _ => b.append_null(),
                        }
                    }
                    Arc::new(b.finish().with_timezone("UTC"))
                }
            });
        }
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| write_err(&e))?;
        writer.write(&batch).map_err(|e| write_err(&e))?;
    }
    writer.close().map_err(|e| write_err(&e))?;
    Ok(out)
}

/// The table as JSON: one object per row, keyed by column, every value a
/// string (decimals exact, times RFC 3339) or null, as the CSV has them.
pub fn json_rows(table: &Table) -> serde_json::Value {
    let rows = table
        .rows
        .iter()
        .map(|r| serde_json::Value::Object(table.columns.iter().zip(r).map(|((name, _), v)| ((*name).to_owned(), cell(v).map_or(serde_json::Value::Null, serde_json::Value::String))).collect()))
        .collect();
    serde_json::Value::Array(rows)
}

/// A cell as text (`None` for null): what both CSV and JSON print.
fn cell(v: &Value) -> Option<String> {
    match v {
        Value::Text(s) => s.clone(),
        Value::Decimal(d) => d.map(|d| d.normalize().to_string()),
        Value::Time(t) => t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    }
}

fn csv(table: &Table) -> Result<Vec<u8>, ExportError> {
    let write_err = |e: &dyn std::fmt::Display| ExportError::Write(e.to_string());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(table.columns.iter().map(|(n, _)| *n)).map_err(|e| write_err(&e))?;
    for r in &table.rows {
        w.write_record(r.iter().map(|v| cell(v).unwrap_or_default()))
        .map_err(|e| write_err(&e))?;
    }
    w.into_inner().map_err(|e| write_err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Decimal128Type;
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn table() -> Table {
        let d = |s: &str| Value::Decimal(Some(s.parse().unwrap()));
        Table {
            columns: vec![("Name", ColumnType::Text), ("Cost", ColumnType::Decimal), ("At", ColumnType::Time)],
            rows: vec![
                vec![Value::Text(Some("a, \"quoted\"".into())), d("0.0000001"), Value::Time(Some(chrono::DateTime::UNIX_EPOCH))],
                vec![Value::Text(None), d("-12345678901.5"), Value::Time(None)],
                vec![Value::Text(Some("c".into())), Value::Decimal(None), Value::Time(None)],
            ],
        }
    }

    #[test]
    fn parquet_keeps_every_digit_and_every_null() {
        let bytes = write(&table(), FileFormat::Parquet).unwrap();
        let mut reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap().build().unwrap();
        let batch = reader.next().unwrap().unwrap();
        let cost = batch.column(1).as_primitive::<Decimal128Type>();
        assert_eq!(cost.data_type(), &DataType::Decimal128(38, 7));
        assert_eq!(cost.value_as_string(0), "0.0000001");
        assert_eq!(cost.value_as_string(1), "-12345678901.5000000");
        assert!(cost.is_null(2) && batch.column(0).is_null(1) && batch.column(2).is_null(1));
    }

    #[test]
    fn csv_quotes_and_prints_exact_decimals() {
        let text = String::from_utf8(write(&table(), FileFormat::Csv).unwrap()).unwrap();
        assert_eq!(text, "Name,Cost,At\n\"a, \"\"quoted\"\"\",0.0000001,1970-01-01T00:00:00Z\n,-12345678901.5,\nc,,\n");
    }

    #[test]
    fn a_row_that_does_not_match_its_columns_is_refused() {
        let mut t = table();
        t.rows[1][1] = Value::Text(Some("x".into()));
        assert!(matches!(write(&t, FileFormat::Csv), Err(ExportError::Malformed { row: 2 })));
    }
}
