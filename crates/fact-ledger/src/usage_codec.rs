//! Hourly usage facts (from invocation logs) ↔ Parquet: the ledger's second
//! columnar encoding, beside CUR facts' `codec`.
//!
//! Columns (Athena/Glue types in brackets): `hour` (timestamp, UTC),
//! `account`, `region`, `principal`, `model_id` (string, dictionary-encoded),
//! `requests`, `input_tokens`, `output_tokens`, `cache_read_tokens`,
//! `cache_write_tokens`, `unpriced` (bigint), `cost` (`decimal(38, s)`, exact).
//! Facts are written in key order, so equal facts give byte-equal files.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, Int64Builder, StringDictionaryBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use domain::invocations::{TokenCounts, UsageFacts, UsageKey, UsageRow, UsageTable, UsageValue};
use domain::{AccountId, Money, Region};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use rust_decimal::Decimal;

use crate::codec::CodecError;

const BATCH: usize = 64 * 1024;
const PRECISION: u8 = 38;
const STRINGS: [&str; 4] = ["account", "region", "principal", "model_id"];
const COUNTS: [&str; 6] = ["requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "unpriced"];

fn schema(cost_scale: i8) -> Schema {
    let dict = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut fields = vec![Field::new("hour", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false)];
    fields.extend(STRINGS.map(|n| Field::new(n, dict(), false)));
    fields.extend(COUNTS.map(|n| Field::new(n, DataType::Int64, false)));
    fields.push(Field::new("cost", DataType::Decimal128(PRECISION, cost_scale), false));
    Schema::new(fields)
}

fn count(n: u64, column: &str) -> Result<i64, CodecError> {
    i64::try_from(n).map_err(|_| CodecError::Unrepresentable(format!("{column} {n} exceeds a bigint")))
}

/// The usage facts as one Parquet file.
pub fn encode(facts: &UsageFacts) -> Result<Vec<u8>, CodecError> {
    let scale = facts.facts.values().map(|v| v.cost.amount().normalize().scale()).max().map_or(0, |s| i8::try_from(s).unwrap_or(28));
    let schema = Arc::new(schema(scale));
    // Statistics only on the hour, the column a reader prunes by (as the
    // CUR facts' codec does).
    let props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled("hour".into(), EnabledStatistics::Chunk)
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(BATCH)
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema.clone(), Some(props)).map_err(|e| CodecError::Unrepresentable(e.to_string()))?;
    let all: Vec<(&UsageKey, &UsageValue)> = facts.facts.iter().collect();
    for chunk in all.chunks(BATCH) {
        let mut hour = TimestampMicrosecondBuilder::with_capacity(chunk.len()).with_timezone("UTC");
        let mut strings: Vec<StringDictionaryBuilder<Int32Type>> = STRINGS.iter().map(|_| StringDictionaryBuilder::new()).collect();
        let mut counts: Vec<Int64Builder> = COUNTS.iter().map(|_| Int64Builder::with_capacity(chunk.len())).collect();
        let mut cost = Decimal128Builder::with_capacity(chunk.len()).with_precision_and_scale(PRECISION, scale).map_err(|e| CodecError::Unrepresentable(e.to_string()))?;
        for (k, v) in chunk {
            hour.append_value(k.hour.timestamp_micros());
            for (b, s) in strings.iter_mut().zip([k.account.as_str(), k.region.as_str(), &k.principal, &k.model_id]) {
                b.append_value(s);
            }
            let t = v.tokens;
            for ((b, n), name) in counts.iter_mut().zip([v.requests, t.input, t.output, t.cache_read, t.cache_write, v.unpriced]).zip(COUNTS) {
                b.append_value(count(n, name)?);
            }
            let d = v.cost.amount().normalize();
            let up = u32::try_from(i32::from(scale) - i32::try_from(d.scale()).unwrap_or(i32::MAX)).unwrap_or(0);
            let m = 10i128.checked_pow(up).and_then(|p| d.mantissa().checked_mul(p)).ok_or_else(|| CodecError::Unrepresentable(format!("cost {d} does not fit decimal({PRECISION}, {scale})")))?;
            cost.append_value(m);
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(hour.finish())];
        columns.extend(strings.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.extend(counts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.push(Arc::new(cost.finish()));
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| CodecError::Unrepresentable(e.to_string()))?;
        writer.write(&batch).map_err(|e| CodecError::Unrepresentable(e.to_string()))?;
    }
    writer.close().map_err(|e| CodecError::Unrepresentable(e.to_string()))?;
    Ok(out)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, CodecError> {
    batch.column_by_name(name).ok_or_else(|| CodecError::Corrupt(format!("no {name} column")))
}

/// The usage facts of one file, keyed.
pub fn decode(bytes: Bytes) -> Result<UsageFacts, CodecError> {
    Ok(decode_table(bytes)?.to_facts())
}

/// Interns one batch's dictionary into the table's: each distinct value is
/// checked and copied once per batch, and the batch's numbers are mapped to
/// the table's.
fn intern<T>(values: &arrow_array::StringArray, table: &mut Vec<T>, index: &mut HashMap<String, usize>, parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<Option<usize>>, CodecError> {
    values
        .iter()
        .map(|v| {
            let Some(v) = v else { return Ok(None) };
            if let Some(i) = index.get(v) {
                return Ok(Some(*i));
            }
            let parsed = parse(v).map_err(CodecError::Corrupt)?;
            table.push(parsed);
            index.insert(v.to_owned(), table.len() - 1);
            Ok(Some(table.len() - 1))
        })
        .collect()
}

/// The usage of one file as a table: each account, region, caller and model
/// once, rows pointing at them (see `domain::invocations::UsageTable`).
pub fn decode_table(bytes: Bytes) -> Result<UsageTable, CodecError> {
    let corrupt = |e: &dyn std::fmt::Display| CodecError::Corrupt(e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| corrupt(&e))?;
    // An empty file of another kind has no rows to fail on: its columns tell.
    for name in std::iter::once("hour").chain(STRINGS).chain(COUNTS).chain(["cost"]) {
        builder.schema().field_with_name(name).map_err(|_| corrupt(&format!("not a usage facts file: no {name} column")))?;
    }
    let reader = builder.with_batch_size(BATCH).build().map_err(|e| corrupt(&e))?;
    let mut table = UsageTable::default();
    let mut index: [HashMap<String, usize>; 4] = Default::default();
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(&e))?;
        let hour = column(&batch, "hour")?.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| corrupt(&"hour is not a timestamp"))?;
        let mut keys = Vec::with_capacity(STRINGS.len());
        let mut values = Vec::with_capacity(STRINGS.len());
        for n in STRINGS {
            let d = column(&batch, n)?.as_dictionary_opt::<Int32Type>().ok_or_else(|| corrupt(&format!("{n} is not dictionary-encoded")))?;
            keys.push(d.keys());
            values.push(d.values().as_string_opt::<i32>().ok_or_else(|| corrupt(&format!("{n} is not text")))?);
        }
        let [ai, ri, pi, mi] = &mut index;
        let mapped = [
            intern(values[0], &mut table.accounts, ai, |v| AccountId::parse(v).map_err(|e| e.to_string()))?,
            intern(values[1], &mut table.regions, ri, |v| Region::parse(v).map_err(|e| e.to_string()))?,
            intern(values[2], &mut table.principals, pi, |v| Ok(v.to_owned()))?,
            intern(values[3], &mut table.models, mi, |v| Ok(v.to_owned()))?,
        ];
        let counts: Vec<&arrow_array::PrimitiveArray<Int64Type>> =
            COUNTS.iter().map(|n| column(&batch, n)?.as_primitive_opt::<Int64Type>().ok_or_else(|| corrupt(&format!("{n} is not a bigint")))).collect::<Result<_, _>>()?;
        let cost_col = column(&batch, "cost")?;
        let scale = match cost_col.data_type() {
            DataType::Decimal128(_, s) => u32::try_from(*s).map_err(|_| corrupt(&"cost has a negative scale"))?,
            other => return Err(corrupt(&format!("cost is {other}, not a decimal"))),
        };
        let cost = cost_col.as_primitive::<Decimal128Type>();
        table.rows.reserve(batch.num_rows());
        for i in 0..batch.num_rows() {
            let index = |c: usize| {
                let k = keys[c];
                k.is_valid(i).then(|| usize::try_from(k.value(i)).ok()).flatten().and_then(|k| mapped[c].get(k).copied().flatten()).ok_or_else(|| corrupt(&format!("{} is null in row {i}", STRINGS[c])))
            };
            let n = |c: usize| u64::try_from(counts[c].value(i)).map_err(|_| corrupt(&format!("{} is negative in row {i}", COUNTS[c])));
            table.rows.push(UsageRow {
                hour: chrono::DateTime::from_timestamp_micros(hour.value(i)).ok_or_else(|| corrupt(&format!("hour out of range in row {i}")))?,
                account: index(0)?,
                region: index(1)?,
                principal: index(2)?,
                model: index(3)?,
                value: UsageValue {
                    requests: n(0)?,
                    tokens: TokenCounts { input: n(1)?, output: n(2)?, cache_read: n(3)?, cache_write: n(4)? },
                    unpriced: n(5)?,
                    cost: Money::new(Decimal::try_from_i128_with_scale(cost.value(i), scale).map_err(|e| corrupt(&e))?),
                },
            });
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::invocations::parse_record;

    fn sample() -> UsageFacts {
        let mut f = UsageFacts::default();
        for (i, (t, model, cost)) in [("2026-10-14T09:21:07Z", "us.anthropic.claude-3-haiku-20240307-v1:0", Some("0.0015")), ("2026-10-14T10:01:00Z", "acme.x", None)].into_iter().enumerate() {
            let r = parse_record(&format!(
                r#"{{"timestamp":"{t}","accountId":"111111111111","identity":{{"arn":"arn:aws:sts::111111111111:assumed-role/chat/dev-{i}"}},"region":"us-east-1","modelId":"{model}","input":{{"inputTokenCount":1000,"cacheReadInputTokenCount":7}},"output":{{"outputTokenCount":9}}}}"#
            ))
            .unwrap();
            f.add(&r, cost.map(|c| Money::parse(c).unwrap()));
        }
        f
    }

    #[test]
    fn usage_facts_round_trip_exactly_and_canonically() {
        let f = sample();
        let bytes = encode(&f).unwrap();
        assert_eq!(decode(Bytes::from(bytes.clone())).unwrap(), f);
        assert_eq!(encode(&f).unwrap(), bytes, "the same facts give the same bytes");
        assert_eq!(decode(Bytes::from(encode(&UsageFacts::default()).unwrap())).unwrap(), UsageFacts::default());
    }

    #[test]
    fn a_file_that_is_not_usage_facts_is_corrupt_not_empty() {
        let cur = crate::codec::encode(&domain::cur::facts::Facts::default()).unwrap();
        assert!(matches!(decode(Bytes::from(cur)), Err(CodecError::Corrupt(_))));
        assert!(matches!(decode(Bytes::from_static(b"PAR1 not really")), Err(CodecError::Corrupt(_))));
    }
}
