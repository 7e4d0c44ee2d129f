//! Facts ↔ Parquet: the one columnar encoding of the ledger, used by every
//! adapter, so an object written locally reads the same from S3.
//!
//! Columns (Athena/Glue types in brackets):
//! `usage_day` date, `account`, `product_code`, `usage_type`, `operation`,
//! `line_item_type` (string, dictionary-encoded), `resource_id`, `principal`,
//! `workspace` (nullable strings), `usage_amount` and `cost`
//! (`decimal(38, s)`: exact, with the scale the file's values need), `rows`
//! (bigint), then the other cost bases' `net_cost`, `amortized_cost` and
//! `list_cost` (decimals likewise; a file written before they existed reads
//! them as its `cost`, and its manifest marks those bases unavailable).
//! Facts are written in canonical key order, so equal facts give byte-equal
//! files (the digest the manifest compares by).

use std::sync::Arc;

use arrow_array::builder::{Date32Builder, Decimal128Builder, Int64Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use domain::cur::facts::{AcctId, FactCodes, FactValue, Facts, InternedKey, StrId};
use domain::{AccountId, Money};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::reader::ChunkReader;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use rust_decimal::Decimal;

/// Facts per record batch and row group: bounded encoder memory whatever the
/// number of facts (each encoding thread holds one group's arrays and pages
/// beside the facts; 32k facts are about 8 MB of them).
const BATCH: usize = 32 * 1024;
/// Decimal128's precision.
const PRECISION: u8 = 38;

pub const COLUMNS: [&str; 15] = [
    "usage_day", "account", "product_code", "usage_type", "operation", "line_item_type", "resource_id", "principal", "workspace", "usage_amount", "cost", "rows",
    "net_cost", "amortized_cost", "list_cost",
];

/// The other bases' columns, and how each is read from a fact.
/// How a basis column's value is read from a fact.
type BasisOf = fn(&FactValue) -> Money;

const BASIS_COLUMNS: [(&str, BasisOf); 3] = [("net_cost", |v| v.net), ("amortized_cost", |v| v.amortized), ("list_cost", |v| v.list)];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{0}")]
    Unrepresentable(String),
    #[error("{0}")]
    Corrupt(String),
}

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn schema(amount_scale: i8, cost_scale: i8, basis_scales: [i8; 3]) -> Schema {
    let mut fields = vec![
        Field::new("usage_day", DataType::Date32, false),
        Field::new("account", dict(), false),
        Field::new("product_code", dict(), false),
        Field::new("usage_type", dict(), false),
        Field::new("operation", dict(), false),
        Field::new("line_item_type", dict(), false),
        Field::new("resource_id", dict(), true),
        Field::new("principal", dict(), true),
        Field::new("workspace", dict(), true),
        Field::new("usage_amount", DataType::Decimal128(PRECISION, amount_scale), false),
        Field::new("cost", DataType::Decimal128(PRECISION, cost_scale), false),
        Field::new("rows", DataType::Int64, false),
    ];
    for ((name, _), scale) in BASIS_COLUMNS.iter().zip(basis_scales) {
        fields.push(Field::new(*name, DataType::Decimal128(PRECISION, scale), false));
    }
    Schema::new(fields)
}

/// The smallest scale that holds every value exactly, built one value at a
/// time. A value only widens it when its digits past the widest scale so far
/// are not all zeros, which one remainder tells without normalising every
/// value.
#[derive(Default, Clone, Copy)]
struct Scale(u32);

impl Scale {
    fn widen(&mut self, d: Decimal) {
        let extra = d.scale().saturating_sub(self.0);
        if extra > 0 && !divisible(d.mantissa(), extra) {
            self.0 = self.0.max(d.normalize().scale());
        }
    }

    fn get(self) -> i8 {
        i8::try_from(self.0).unwrap_or(28)
    }
}

/// The scales of usage amount, cost and the other bases, in one pass over
/// the values as they are stored (in sequence, not in the sorted order's
/// scattered pointers: five sorted passes were a quarter of the encode).
fn scales(facts: &Facts) -> (i8, i8, [i8; 3]) {
    let (mut amount, mut cost, mut bases) = (Scale::default(), Scale::default(), [Scale::default(); 3]);
    for v in facts.values() {
        amount.widen(v.usage_amount);
        cost.widen(v.cost.amount());
        for (s, (_, get)) in bases.iter_mut().zip(BASIS_COLUMNS) {
            s.widen(get(v).amount());
        }
    }
    (amount.get(), cost.get(), bases.map(Scale::get))
}

/// `m` / 10^`places` when the division is exact, else `None` (and `None`
/// past 10^38). A mantissa of a cost or an amount fits 64 bits but for sums
/// in the billions at ten places, and a 128-bit division is a library call
/// several times slower: this runs for five values of every fact, once when
/// the scales are found and once when the values are written.
fn exact_quotient(m: i128, places: u32) -> Option<i128> {
    let p = *POW10.get(places as usize)?;
    match (i64::try_from(m), i64::try_from(p)) {
        (Ok(m), Ok(p)) => (m % p == 0).then(|| i128::from(m / p)),
        _ => (m % p == 0).then(|| m / p),
    }
}

/// Whether `m` is a multiple of 10^`places`, for the at most 28 places a
/// `Decimal` has.
fn divisible(m: i128, places: u32) -> bool {
    exact_quotient(m, places).is_some()
}

/// 10^k for every k a decimal(38) holds.
const POW10: [i128; 39] = {
    let mut p = [1i128; 39];
    let mut k = 1;
    while k < 39 {
        p[k] = p[k - 1] * 10;
        k += 1;
    }
    p
};

/// `d` as a Decimal128 mantissa at `scale`, or an error naming the value.
/// Five values of every fact go through here: the powers of ten are looked
/// up, and a value at a wider scale than the file's (a sum of doubles read
/// at ten places, in a file whose widest value needs eight) drops its
/// trailing zeros by one 64-bit division where it fits, not by normalising.
fn mantissa(d: Decimal, scale: i8, column: &str) -> Result<i128, CodecError> {
    let too_precise = || CodecError::Unrepresentable(format!("{column} {d} has more decimal places than the file's scale {scale}"));
    let target = u32::try_from(scale).map_err(|_| too_precise())?;
    let m = d.mantissa();
    let m = match d.scale().checked_sub(target) {
        Some(0) => Some(m),
        Some(down) => Some(exact_quotient(m, down).ok_or_else(too_precise)?),
        None => POW10.get((target - d.scale()) as usize).and_then(|p| m.checked_mul(*p)),
    };
    match m {
        Some(m) if m.unsigned_abs() < POW10[PRECISION as usize].unsigned_abs() => Ok(m),
        _ => Err(CodecError::Unrepresentable(format!("{column} {d} does not fit decimal({PRECISION}, {scale})"))),
    }
}

/// A stored decimal. Usage amounts come back normalised (they print as they
/// were summed); costs keep the file's scale, since `Money` normalises when it
/// is written out and normalising a million costs is a tenth of a report.
fn decimal_of(m: i128, scale: i8, column: &str) -> Result<Decimal, CodecError> {
    let mut m = m;
    let mut scale = u32::try_from(scale).map_err(|_| CodecError::Corrupt(format!("{column} has a negative scale")))?;
    // A value written at a wide scale may carry trailing zeros past what a
    // 96-bit mantissa holds: dropping them changes nothing.
    while m.unsigned_abs() >= 1u128 << 96 && scale > 0 && m % 10 == 0 {
        m /= 10;
        scale -= 1;
    }
    let d = Decimal::try_from_i128_with_scale(m, scale).map_err(|e| CodecError::Corrupt(format!("{column} {m}e-{scale}: {e}")))?;
    Ok(if column == "usage_amount" { d.normalize() } else { d })
}

fn keys(codes: &[(FactCodes, &FactValue)], f: impl Fn(&FactCodes) -> Option<u32>) -> Result<Int32Array, CodecError> {
    codes
        .iter()
        .map(|(c, _)| f(c).map(i32::try_from).transpose())
        .collect::<Result<Int32Array, _>>()
        .map_err(|_| CodecError::Unrepresentable("more than 2^31 distinct strings in one source".into()))
}

/// The facts' AI facts as one Parquet file.
pub fn encode(facts: &Facts) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_to(facts, &mut out)?;
    Ok(out)
}

/// [`encode`] into a writer (a file, a hashing writer): a large month's file
/// is not held in memory beside the facts it is written from.
pub fn encode_to<W: std::io::Write + Send>(facts: &Facts, out: W) -> Result<(), CodecError> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(4);
    encode_groups(facts, out, workers, BATCH)
}

fn unrepresentable(e: impl std::fmt::Display) -> CodecError {
    CodecError::Unrepresentable(e.to_string())
}

/// The scales of a file's decimal columns: usage amount, cost, the other bases.
#[derive(Clone, Copy)]
struct Scales {
    amount: i8,
    cost: i8,
    bases: [i8; 3],
}

/// What every row group of one file is built from.
struct Encoding {
    schema: Arc<Schema>,
    strings: ArrayRef,
    accounts: ArrayRef,
    scales: Scales,
    factory: ArrowRowGroupWriterFactory,
}

impl Encoding {
    /// Row group `rg` built and encoded (compressed pages, not yet placed in
    /// the file): row groups are independent until they are appended, so
    /// several encode at once and the file is still written in order.
    fn group(&self, rg: usize, chunk: &[(FactCodes, &FactValue)]) -> Result<Vec<ArrowColumnChunk>, CodecError> {
        let Scales { amount: amount_scale, cost: cost_scale, bases: basis_scales } = self.scales;
        let dict_col = |k: Int32Array, values: &ArrayRef| -> Result<ArrayRef, CodecError> { Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(k, values.clone()).map_err(unrepresentable)?)) };
        let mut days = Date32Builder::with_capacity(chunk.len());
        let mut amounts = Decimal128Builder::with_capacity(chunk.len());
        let mut costs = Decimal128Builder::with_capacity(chunk.len());
        let mut rows = Int64Builder::with_capacity(chunk.len());
        let mut others: Vec<Decimal128Builder> = BASIS_COLUMNS.iter().map(|_| Decimal128Builder::with_capacity(chunk.len())).collect();
        for (n, (c, v)) in chunk.iter().enumerate() {
            if let Some((_, ahead)) = chunk.get(n + PREFETCH_AHEAD) {
                prefetch(*ahead);
            }
            days.append_value(Date32Type::from_naive_date(c.usage_day));
            amounts.append_value(mantissa(v.usage_amount, amount_scale, "usage_amount")?);
            costs.append_value(mantissa(v.cost.amount(), cost_scale, "cost")?);
            rows.append_value(i64::try_from(v.rows).map_err(|_| CodecError::Unrepresentable(format!("rows {} exceeds a bigint", v.rows)))?);
            for ((b, (name, get)), scale) in others.iter_mut().zip(BASIS_COLUMNS).zip(basis_scales) {
                b.append_value(mantissa(get(v).amount(), scale, name)?);
            }
        }
        let (strings, accounts) = (&self.strings, &self.accounts);
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(days.finish()),
            dict_col(keys(chunk, |c| Some(c.account))?, accounts)?,
            dict_col(keys(chunk, |c| Some(c.product_code))?, strings)?,
            dict_col(keys(chunk, |c| Some(c.usage_type))?, strings)?,
            dict_col(keys(chunk, |c| Some(c.operation))?, strings)?,
            dict_col(keys(chunk, |c| Some(c.line_item_type))?, strings)?,
            dict_col(keys(chunk, |c| c.resource_id.get())?, strings)?,
            dict_col(keys(chunk, |c| c.principal.get())?, strings)?,
            dict_col(keys(chunk, |c| c.workspace.get())?, strings)?,
            Arc::new(amounts.finish().with_precision_and_scale(PRECISION, amount_scale).map_err(unrepresentable)?),
            Arc::new(costs.finish().with_precision_and_scale(PRECISION, cost_scale).map_err(unrepresentable)?),
            Arc::new(rows.finish()),
        ];
        for (mut b, scale) in others.into_iter().zip(basis_scales) {
            columns.push(Arc::new(b.finish().with_precision_and_scale(PRECISION, scale).map_err(unrepresentable)?));
        }
        let mut writers = self.factory.create_column_writers(rg).map_err(unrepresentable)?;
        let mut next = writers.iter_mut();
        for (field, array) in self.schema.fields().iter().zip(&columns) {
            for leaf in compute_leaves(field, array).map_err(unrepresentable)? {
                next.next().ok_or_else(|| unrepresentable("more leaf columns than the schema has"))?.write(&leaf).map_err(unrepresentable)?;
            }
        }
        writers.into_iter().map(|w| w.close().map_err(unrepresentable)).collect()
    }
}

/// How many facts ahead of the one being encoded its value is asked for: far
/// enough that the load is done when the loop gets there (a fact's row is a
/// few dozen instructions), near enough that it is still in cache.
const PREFETCH_AHEAD: usize = 8;

/// Asks the CPU to start loading `v` into cache, both lines of it. The
/// encoder reads the facts' values in canonical order, which scatters them
/// across the facts' table (they lie in the order the bill listed them), and
/// a month of a million facts waited on a cache miss for every one: a fifth of
/// the encode. A hint only: it changes no value, and where it is not built
/// (other architectures) the loop is the same without it.
#[inline(always)]
fn prefetch<T>(v: &T) {
    let first = std::ptr::from_ref(v).cast::<i8>();
    let last = first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1));
    #[cfg(target_arch = "x86_64")]
    for p in [first, last] {
        // SAFETY: PREFETCHT0 is a hint that never faults and reads nothing
        // into the program, whatever the address.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) }
    }
    #[cfg(target_arch = "aarch64")]
    for p in [first, last] {
        // SAFETY: PRFM is a hint that never faults and changes no register
        // or memory the program sees.
        unsafe { std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, preserves_flags, readonly)) }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = (first, last);
}

/// [`encode_to`] with `rows_per_group` facts per row group, encoded by up to
/// `workers` threads. The bytes do not depend on `workers`: each row group is
/// encoded on its own and they are appended in order.
fn encode_groups<W: std::io::Write + Send>(facts: &Facts, out: W, workers: usize, rows_per_group: usize) -> Result<(), CodecError> {
    // The scales are one pass over the values, the canonical order two
    // over the keys and a sort of the strings: on two threads, as the
    // encoders wait on both.
    let (canonical, (amount, cost, bases)) = std::thread::scope(|scope| {
        let scales = scope.spawn(|| scales(facts));
        let canonical = facts.canonical();
        (canonical, scales.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    });
    let schema = Arc::new(schema(amount, cost, bases));
    // Statistics only where a reader can prune by them (the day): min/max
    // of every string of a million facts costs the encoder a comparison per
    // value and no reader uses them.
    let props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled("usage_day".into(), EnabledStatistics::Chunk)
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(rows_per_group)
        .set_created_by("finops-center fact-ledger".into())
        .build();
    // The Arrow writer sets up the file (its schema in the footer's metadata,
    // so readers get the dictionary types back); its parts then let row
    // groups be encoded apart from the file they go into.
    let (mut writer, factory) = ArrowWriter::try_new(out, schema.clone(), Some(props)).and_then(ArrowWriter::into_serialized_writer).map_err(unrepresentable)?;
    let encoding = Encoding {
        schema,
        strings: Arc::new(StringArray::from_iter_values(canonical.strings.iter().copied())),
        accounts: Arc::new(StringArray::from_iter_values(canonical.accounts.iter().map(|a| a.as_str()))),
        scales: Scales { amount, cost, bases },
        factory,
    };
    let mut groups = canonical.runs(rows_per_group.max(1));
    let workers = workers.max(1);
    let encoding = &encoding;
    std::thread::scope(|scope| {
        // Row group `rg` goes to worker `rg % workers`, which hands them
        // back encoded in turn. Each worker has one group waiting for it
        // and room for one it has encoded, so that it does not idle while
        // this thread cuts groups and appends others to the file (with
        // hand-to-hand channels the encode kept two cores three-quarters
        // busy). Memory holds at most four groups per worker, sorted or
        // encoded, beside the facts, and the groups are cut from the
        // canonical order only as they are sent.
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| {
                let (work, todo) = std::sync::mpsc::sync_channel::<(usize, Vec<(FactCodes, &FactValue)>)>(1);
                let (done, encoded) = std::sync::mpsc::sync_channel(1);
                scope.spawn(move || {
                    for (rg, group) in todo {
                        if done.send(encoding.group(rg, &group)).is_err() {
                            break;
                        }
                    }
                });
                (work, encoded)
            })
            .unzip();
        let mut sent = 0;
        for rg in 0.. {
            // Keep every worker busy: up to two groups per worker ahead of
            // the one appended next (one encoding, one waiting).
            while sent < rg + 2 * workers {
                let Some(group) = groups.next() else { break };
                senders[sent % workers].send((sent, group)).map_err(|_| unrepresentable("a row group encoder stopped"))?;
                sent += 1;
            }
            if rg >= sent {
                break;
            }
            let group = receivers[rg % workers].recv().map_err(|_| unrepresentable("a row group encoder stopped"))??;
            let mut row_group = writer.next_row_group().map_err(unrepresentable)?;
            for chunk in group {
                chunk.append_to_row_group(&mut row_group).map_err(unrepresentable)?;
            }
            row_group.close().map_err(unrepresentable)?;
        }
        Ok::<(), CodecError>(())
    })?;
    writer.close().map_err(unrepresentable)?;
    Ok(())
}

/// A string column seen through its dictionary: each distinct value is
/// interned once per batch, then every row is an index.
struct Strings {
    keys: Vec<Option<usize>>,
    values: StringArray,
    ids: Vec<Option<StrId>>,
}

impl Strings {
    fn of(batch: &RecordBatch, name: &str) -> Result<Strings, CodecError> {
        let c = batch.column_by_name(name).ok_or_else(|| CodecError::Corrupt(format!("no {name} column")))?;
        let d = match c.as_dictionary_opt::<Int32Type>() {
            Some(d) => d.clone(),
            None => arrow_cast::cast(c, &dict()).map_err(|e| CodecError::Corrupt(format!("{name}: {e}")))?.as_dictionary::<Int32Type>().clone(),
        };
        let values = d.values().as_string_opt::<i32>().ok_or_else(|| CodecError::Corrupt(format!("{name} is not a string column")))?.clone();
        let keys = d.keys().iter().map(|k| k.and_then(|k| usize::try_from(k).ok()).filter(|k| *k < values.len())).collect();
        let ids = vec![None; values.len()];
        Ok(Strings { keys, values, ids })
    }

    fn get(&mut self, i: usize, facts: &mut Facts) -> Option<StrId> {
        let k = self.keys[i]?;
        Some(*self.ids[k].get_or_insert_with(|| facts.intern_str(self.values.value(k))))
    }

    fn required(&mut self, i: usize, name: &str, facts: &mut Facts) -> Result<StrId, CodecError> {
        self.get(i, facts).ok_or_else(|| CodecError::Corrupt(format!("row {i}: {name} is null")))
    }
}

fn decimals(batch: &RecordBatch, name: &str) -> Result<(arrow_array::Decimal128Array, i8), CodecError> {
    let c = batch.column_by_name(name).ok_or_else(|| CodecError::Corrupt(format!("no {name} column")))?;
    match c.data_type() {
        DataType::Decimal128(_, s) => Ok((c.as_primitive::<Decimal128Type>().clone(), *s)),
        other => Err(CodecError::Corrupt(format!("{name} is {other}, not a decimal"))),
    }
}

/// A fact file's facts. Any file that is not one this codec wrote (missing
/// column, wrong type, null key, bad account id) is `Corrupt`, named.
pub fn decode(bytes: impl ChunkReader + 'static) -> Result<Facts, CodecError> {
    let corrupt = |e: &dyn std::fmt::Display| CodecError::Corrupt(e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| corrupt(&e))?;
    // No sizing from the footer: facts are appended to segments that never
    // move, and the index is built (at its exact size) only if a lookup needs it.
    let reader = builder.with_batch_size(BATCH).build().map_err(|e| corrupt(&e))?;
    // Parquet decodes the next batch on its own thread while this one adds
    // the last to the facts: the two halves of a read take about as long as
    // each other, and a report or gap detection waits on both.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let decoder = scope.spawn(move || {
            for batch in reader {
                if tx.send(batch).is_err() {
                    break;
                }
            }
        });
        let mut facts = Facts::default();
        for batch in rx {
            append(&batch.map_err(|e| corrupt(&e))?, &mut facts)?;
        }
        // A decoder that panicked (a corrupt page can make it) ended the
        // batches early: the file is refused, not half read.
        decoder.join().map_err(|_| CodecError::Corrupt("the Parquet decoder failed on this file".into()))?;
        Ok(facts)
    })
}

/// Adds one decoded batch of a fact file to `facts`.
fn append(batch: &RecordBatch, facts: &mut Facts) -> Result<(), CodecError> {
    let day = batch.column_by_name("usage_day").and_then(|c| c.as_primitive_opt::<Date32Type>()).ok_or_else(|| CodecError::Corrupt("usage_day is not a date column".into()))?;
    let s = |n: &str| Strings::of(batch, n);
    let (account, mut product, mut usage_type, mut operation, mut lit) = (s("account")?, s("product_code")?, s("usage_type")?, s("operation")?, s("line_item_type")?);
    let (mut resource, mut principal, mut workspace) = (s("resource_id")?, s("principal")?, s("workspace")?);
    let ((amounts, amount_scale), (costs, cost_scale)) = (decimals(batch, "usage_amount")?, decimals(batch, "cost")?);
    // Absent in files written before cost bases were read: those read as `cost`.
    let others: Vec<Option<(arrow_array::Decimal128Array, i8)>> =
        BASIS_COLUMNS.iter().map(|(name, _)| batch.column_by_name(name).map(|_| decimals(batch, name)).transpose()).collect::<Result<_, _>>()?;
    let rows = batch.column_by_name("rows").and_then(|c| c.as_primitive_opt::<Int64Type>()).ok_or_else(|| CodecError::Corrupt("rows is not a bigint column".into()))?;
    // Account ids are parsed and interned once per dictionary value.
    let mut accounts: Vec<Option<Option<AcctId>>> = vec![None; account.values.len()];
    for i in 0..batch.num_rows() {
        if day.is_null(i) || amounts.is_null(i) || costs.is_null(i) || rows.is_null(i) {
            return Err(CodecError::Corrupt(format!("row {i}: a required value is null")));
        }
        let acct = account.keys[i].and_then(|k| *accounts[k].get_or_insert_with(|| AccountId::parse(account.values.value(k)).ok().map(|a| facts.intern_account(&a))));
        let acct = acct.ok_or_else(|| CodecError::Corrupt(format!("row {i}: account {:?} is not an account id", account.keys[i].map(|k| account.values.value(k)))))?;
        let key = InternedKey {
            usage_day: day.value_as_date(i).ok_or_else(|| CodecError::Corrupt(format!("row {i}: usage_day out of range")))?,
            account: acct,
            product_code: product.required(i, "product_code", facts)?,
            usage_type: usage_type.required(i, "usage_type", facts)?,
            operation: operation.required(i, "operation", facts)?,
            line_item_type: lit.required(i, "line_item_type", facts)?,
            resource_id: resource.get(i, facts),
            principal: principal.get(i, facts),
            workspace: workspace.get(i, facts),
        };
        let cost = Money::new(decimal_of(costs.value(i), cost_scale, "cost")?);
        let mut basis = [cost; 3];
        for ((slot, col), (name, _)) in basis.iter_mut().zip(&others).zip(BASIS_COLUMNS) {
            if let Some((a, scale)) = col {
                if a.is_null(i) {
                    return Err(CodecError::Corrupt(format!("row {i}: {name} is null")));
                }
                *slot = Money::new(decimal_of(a.value(i), *scale, name)?);
            }
        }
        let [net, amortized, list] = basis;
        let value = FactValue {
            usage_amount: decimal_of(amounts.value(i), amount_scale, "usage_amount")?,
            cost,
            rows: u64::try_from(rows.value(i)).map_err(|_| CodecError::Corrupt(format!("row {i}: rows is negative")))?,
            net,
            amortized,
            list,
        };
        // Written in canonical order, one row per fact: appended without a lookup.
        facts.add_interned_canonical(key, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use chrono::NaiveDate;
    use domain::cur::facts::CurRow;
    use proptest::prelude::*;

    fn row(day: u32, principal: Option<&str>, cost: Decimal, lit: &str) -> CurRow {
        CurRow {
            usage_day: NaiveDate::from_ymd_opt(2026, 3, day).unwrap(),
            account: AccountId::parse(if day % 2 == 0 { "111122223333" } else { "012345678901" }).unwrap(),
            product_code: "AmazonBedrock".into(),
            billing_entity: "AWS".into(),
            product_name: String::new(),
            usage_type: format!("USE1-Claude3Haiku-{}-tokens", if day % 3 == 0 { "input" } else { "output" }),
            operation: "InvokeModel".into(),
            line_item_type: lit.into(),
            resource_id: (day % 5 == 0).then(|| "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/p1".into()),
            principal: principal.map(String::from),
            workspace: (day % 7 == 0).then(|| "wrkspc_a".into()),
            usage_amount: Decimal::new(i64::from(day) * 1000, 0),
            cost,
        }
    }

    proptest! {
        /// Exact round trip: every key, every decimal digit, every row count;
        /// and the encoding depends on the facts, not on the order they came in.
        #[test]
        fn facts_round_trip_exactly_and_canonically(cells in proptest::collection::vec((1u32..=28, 0usize..4, -10_000_000_000_000i64..10_000_000_000_000i64, 0u32..=12, any::<bool>()), 0..200)) {
            let principals = [None, Some(""), Some("arn:aws:sts::111122223333:assumed-role/r/s"), Some("arn:aws:iam::111122223333:user/u")];
            let rows: Vec<CurRow> = cells.iter().map(|(d, p, m, s, tax)| row(*d, principals[*p], Decimal::new(*m, *s), if *tax { "Tax" } else { "Usage" })).collect();
            let mut facts = Facts::default();
            for r in rows.clone() {
                facts.add(r);
            }
            let mut reversed = Facts::default();
            for r in rows.into_iter().rev() {
                reversed.add(r);
            }
            let bytes = encode(&facts).unwrap();
            prop_assert_eq!(&bytes, &encode(&reversed).unwrap());
            let back = decode(Bytes::from(bytes)).unwrap();
            prop_assert_eq!(back.sorted(), facts.sorted());
        }
    }

    proptest! {
        /// A mantissa at a scale that holds the value is the value exactly;
        /// a scale that would drop a digit, or a value past 38 digits, is
        /// refused. Mantissas past 64 bits take the 128-bit path.
        #[test]
        fn a_mantissa_is_the_value_at_the_files_scale(m in any::<i64>(), wide in any::<bool>(), places in 0u32..=28, scale in 0i8..=38) {
            let m = if wide { i128::from(m) * 1_000_000_007 } else { i128::from(m) };
            let Ok(d) = Decimal::try_from_i128_with_scale(m, places) else { return Ok(()) };
            let (m, target) = (d.mantissa(), scale as u32);
            let expected = if target >= places {
                10i128.checked_pow(target - places).and_then(|p| m.checked_mul(p)).filter(|x| x.unsigned_abs() < 10u128.pow(38))
            } else {
                let p = 10i128.pow(places - target);
                (m % p == 0).then_some(m / p)
            };
            prop_assert_eq!(mantissa(d, scale, "cost").ok(), expected);
            for k in 0..=places {
                prop_assert_eq!(divisible(m, k), m % 10i128.pow(k) == 0);
            }
        }
    }

    /// Row groups encoded on several threads make the same file as on one,
    /// and it reads back whole: the groups are placed in order.
    #[test]
    fn threads_do_not_change_the_file() {
        let mut facts = Facts::default();
        for i in 0..200u32 {
            let principal = format!("arn:aws:sts::111122223333:assumed-role/r{}/s", i % 37);
            facts.add(row(1 + i % 28, Some(&principal), Decimal::new(i64::from(i) * 7 + 1, i % 9), if i % 11 == 0 { "Tax" } else { "Usage" }));
        }
        let encoded = |workers: usize| {
            let mut out = Vec::new();
            encode_groups(&facts, &mut out, workers, 13).unwrap();
            out
        };
        let one = encoded(1);
        assert_eq!(one, encoded(3));
        assert_eq!(one, encoded(16));
        let back = decode(Bytes::from(one)).unwrap();
        assert!(back.len() > 13 * 3, "{} facts: too few to span several row groups", back.len());
        assert_eq!(back.sorted(), facts.sorted());
    }

    #[test]
    fn values_past_the_precision_are_refused_by_name() {
        let mut f = Facts::default();
        f.add(row(1, Some(""), Decimal::MAX, "Usage"));
        f.add(row(2, Some(""), Decimal::new(1, 28), "Usage"));
        let err = encode(&f).unwrap_err();
        assert!(matches!(&err, CodecError::Unrepresentable(m) if m.starts_with("cost")), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_fact_file_is_corrupt() {
        assert!(matches!(decode(Bytes::from_static(b"PAR1 not really")), Err(CodecError::Corrupt(_))));
        // A valid Parquet file with other columns.
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(arrow_array::Int64Array::from(vec![1]))]).unwrap();
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let err = decode(Bytes::from(out)).unwrap_err();
        assert!(matches!(&err, CodecError::Corrupt(m) if m.contains("usage_day")), "{err}");
    }
}
