//! CUR 2.0 Parquet, a row group at a time, only the columns attribution needs.
//!
//! One `Layout` is checked against the file's schema before any row is read
//! (required columns present, every read column of a type we can read exactly),
//! and one `fold_batch` turns record batches into facts for both the local
//! reader (row groups decoded on several threads) and the asynchronous one the
//! cur-ingest Lambda drives with ranged GETs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::hash::BuildHasher;
use std::ops::DerefMut;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float32Type, Float64Type};
use arrow_array::builder::BooleanBuilder;
use arrow_array::{Array, ArrayRef, BooleanArray, Float32Array, Float64Array, MapArray, RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Schema};
use arrow_select::filter::filter_record_batch;
use chrono::NaiveDate;
use domain::cur::bases;
use domain::cur::facts::{is_ai_row, AcctId, FactValue, Facts, InternedKey, KeyHasher, RowCosts, StrId, AI_PRODUCT_CODES};
use domain::Money;
use domain::AccountId;
use futures::StreamExt;
use parquet::arrow::arrow_reader::{ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowFilter, RowSelectionPolicy};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use rust_decimal::Decimal;

use crate::values::{decimal, decimal_of_double, usage_day};
use crate::*;

/// Rows per decoded batch: big enough to amortise per-batch work, small
/// enough that a batch's decode buffers stay small. Every batch's buffers
/// are allocated and freed again, and the allocator holds freed pages for a
/// while before it hands them back (see `finops::memory`): at 16k rows the
/// 1M-fact month's read peaked at 246–268 MB, at 4k rows 215–225 MB, in the
/// same time (and the 10M-row month's in the same time too).
const BATCH_ROWS: usize = 4 * 1024;

/// How the rows the scan kept are decoded: skipping the rows between them
/// (selectors), or decoding every row and dropping the others (a mask), chosen
/// per row group by the average run length. Parquet's default switches to the
/// mask below runs of 32 rows, which decodes the product and tag maps of every
/// row of a bill where one row in twenty is AI: on the 10M-row benchmark file
/// selectors took half the peak memory and a tenth less time. Below runs of 8
/// (AI rows one in five, interleaved) the mask's plain decode wins again.
const SELECTION: RowSelectionPolicy = RowSelectionPolicy::Auto { threshold: 8 };

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
        c if c == bases::NET_COST || c == bases::LIST_COST || bases::AMORTIZED_COLUMNS.contains(&c) => Kind::Number,
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
    /// The columns decoded for the rows the scan kept, beside the scan's own.
    roots: Vec<usize>,
    /// The columns that decide whether a row can be AI spend, and carry what
    /// a non-AI row contributes (its account's cost).
    scan_roots: Vec<usize>,
    /// The file's schema with the text columns read as dictionaries: CUR
    /// writes them dictionary-encoded, so the predicate and the fold decide
    /// once per distinct value instead of once per row, and no string is
    /// copied per row.
    hint: Arc<Schema>,
    pub principal_column: bool,
    /// The file's column names, for [`mark_missing_bases`].
    columns: Vec<String>,
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
        let mut scan_roots: Vec<usize> = SCAN_COLUMNS.iter().chain(&BASIS_SCAN_COLUMNS).filter_map(|c| schema.index_of(c).ok()).collect();
        scan_roots.sort_unstable();
        // The scan hands its columns of the rows it keeps to the fold (see
        // `Scan::stash`): decoding them again for those rows read and
        // decompressed every page of them twice.
        roots.retain(|r| !scan_roots.contains(r));
        let fields: Vec<arrow_schema::FieldRef> = schema
            .fields()
            .iter()
            .map(|f| {
                if DICTIONARY_COLUMNS.contains(&f.name().as_str()) && f.data_type() == &DataType::Utf8 {
                    Arc::new(f.as_ref().clone().with_data_type(text_dictionary()))
                } else if [PRODUCT, RESOURCE_TAGS].contains(&f.name().as_str()) {
                    Arc::new(f.as_ref().clone().with_data_type(map_of_dictionaries(f.data_type())))
                } else {
                    f.clone()
                }
            })
            .collect();
        let hint = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        Ok(Layout { roots, scan_roots, hint, principal_column: schema.index_of(PRINCIPAL).is_ok(), columns })
    }

    /// Marks the bases this file cannot give.
    pub fn mark_bases(&self, facts: &mut Facts) {
        mark_missing_bases(facts, |c| self.columns.iter().any(|x| x == c));
    }

    /// The reader metadata with the dictionary hint applied.
    fn hinted(&self, meta: &ArrowReaderMetadata) -> Result<ArrowReaderMetadata, ReadError> {
        Ok(ArrowReaderMetadata::try_new(meta.metadata().clone(), ArrowReaderOptions::new().with_schema(self.hint.clone()))?)
    }

    fn mask(&self, meta: &ArrowReaderMetadata) -> ProjectionMask {
        ProjectionMask::roots(meta.parquet_schema(), self.roots.iter().copied())
    }

    /// Late materialisation: a predicate over the four scan columns settles
    /// every non-AI row (about 95 % of a bill) on the spot, adding its cost to
    /// its account; only the rows that can be AI spend are decoded in full.
    fn filter(&self, meta: &ArrowReaderMetadata, scan: Arc<Mutex<Scan>>) -> RowFilter {
        let mask = ProjectionMask::roots(meta.parquet_schema(), self.scan_roots.iter().copied());
        let predicate = ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
            let mut st = scan.lock().map_err(|_| ArrowError::ComputeError("scan state poisoned".into()))?;
            match st.settle(&batch) {
                Ok(keep) => Ok(keep),
                Err(e) => {
                    let message = e.to_string();
                    st.error = Some(e);
                    Err(ArrowError::ComputeError(message))
                }
            }
        });
        RowFilter::new(vec![Box::new(predicate)])
    }
}

fn text_dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// A `map<string,string>` type with its keys and values read as
/// dictionaries (see [`MapCells`]); any other type as it is.
fn map_of_dictionaries(t: &DataType) -> DataType {
    let DataType::Map(entries, sorted) = t else { return t.clone() };
    let DataType::Struct(fields) = entries.data_type() else { return t.clone() };
    let fields: arrow_schema::Fields = fields.iter().map(|f| if f.data_type() == &DataType::Utf8 { Arc::new(f.as_ref().clone().with_data_type(text_dictionary())) } else { f.clone() }).collect();
    DataType::Map(Arc::new(entries.as_ref().clone().with_data_type(DataType::Struct(fields))), *sorted)
}

fn str_at(a: &StringArray, i: usize) -> &str {
    if a.is_null(i) {
        ""
    } else {
        a.value(i)
    }
}

/// A number column, read exactly: doubles as the decimal CUR meant, integers
/// and decimals through their text. Held as its concrete array, so that a
/// cell is a bounds check and a bit, not two dynamic calls: three cost cells
/// of every row of a bill are read.
enum Numbers {
    F64(Float64Array),
    F32(Float32Array),
    Text(StringArray),
    Absent,
}

impl Numbers {
    fn of(batch: &RecordBatch, name: &str) -> Result<Numbers, ReadError> {
        Ok(match batch.column_by_name(name) {
            None => Numbers::Absent,
            Some(c) => match c.data_type() {
                DataType::Float64 => Numbers::F64(c.as_primitive::<Float64Type>().clone()),
                DataType::Float32 => Numbers::F32(c.as_primitive::<Float32Type>().clone()),
                _ => Numbers::Text(arrow_cast::cast(c, &DataType::Utf8).map_err(malformed)?.as_string::<i32>().clone()),
            },
        })
    }

    fn is_null(&self, i: usize) -> bool {
        match self {
            Numbers::F64(a) => a.is_null(i),
            Numbers::F32(a) => a.is_null(i),
            Numbers::Text(a) => a.is_null(i),
            Numbers::Absent => true,
        }
    }

    /// A cell, `None` when the column is absent or the cell empty.
    fn opt_at(&self, row: u64, column: &'static str, i: usize) -> Result<Option<Decimal>, ReadError> {
        if self.is_null(i) {
            return Ok(None);
        }
        self.at(row, column, i).map(Some)
    }

    /// The cell's double, where the column holds doubles and the cell is set.
    fn double(&self, i: usize) -> Option<f64> {
        match self {
            Numbers::F64(a) if !a.is_null(i) => Some(a.value(i)),
            _ => None,
        }
    }

    /// [`Numbers::opt_at`], where `same` is another cell of the row already
    /// converted (its double and decimal): a cell of the same bits takes that
    /// decimal instead of converting again. Net and list cost equal the
    /// unblended cost on most rows of a bill, and every row of it is read.
    fn opt_at_or(&self, row: u64, column: &'static str, i: usize, same: Option<(f64, Decimal)>) -> Result<Option<Decimal>, ReadError> {
        match (self.double(i), same) {
            (Some(v), Some((bits, d))) if v.to_bits() == bits.to_bits() => Ok(Some(d)),
            _ => self.opt_at(row, column, i),
        }
    }

    fn at(&self, row: u64, column: &'static str, i: usize) -> Result<Decimal, ReadError> {
        match self {
            Numbers::Absent => Ok(Decimal::ZERO),
            Numbers::F64(a) if a.is_null(i) => Ok(Decimal::ZERO),
            Numbers::F64(a) => decimal_of_double(row, column, a.value(i)),
            Numbers::F32(a) if a.is_null(i) => Ok(Decimal::ZERO),
            Numbers::F32(a) => decimal_of_double(row, column, f64::from(a.value(i))),
            Numbers::Text(a) => decimal(row, column, str_at(a, i)),
        }
    }
}

/// Usage start dates as UTC days, held as their concrete array (as
/// [`Numbers`]): a cell of every AI row is read, and through `ArrayRef` each
/// took four dynamic calls.
enum Days {
    Dates(arrow_array::Date32Array),
    Text(StringArray),
}

impl Days {
    fn of(batch: &RecordBatch) -> Result<Days, ReadError> {
        let c = batch.column_by_name(USAGE_START).ok_or(ReadError::MissingColumn(USAGE_START))?;
        Ok(match c.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Days::Text(arrow_cast::cast(c, &DataType::Utf8).map_err(malformed)?.as_string::<i32>().clone()),
            _ => Days::Dates(arrow_cast::cast(c, &DataType::Date32).map_err(malformed)?.as_primitive::<Date32Type>().clone()),
        })
    }

    fn at(&self, row: u64, i: usize) -> Result<NaiveDate, ReadError> {
        let empty = || ReadError::BadValue { row, column: USAGE_START, value: String::new(), reason: "is empty".into() };
        match self {
            Days::Text(a) if a.is_null(i) => Err(empty()),
            Days::Text(a) => usage_day(row, a.value(i)),
            Days::Dates(a) if a.is_null(i) => Err(empty()),
            Days::Dates(a) => a.value_as_date(i).ok_or_else(|| ReadError::BadValue { row, column: USAGE_START, value: a.value(i).to_string(), reason: "out of range".into() }),
        }
    }
}

const SCAN_COLUMNS: [&str; 4] = [PRODUCT_CODE, BILLING_ENTITY, ACCOUNT, COST];

/// The text columns read through their dictionaries (see `Layout::hint`).
const DICTIONARY_COLUMNS: [&str; 10] = [PRODUCT_CODE, BILLING_ENTITY, ACCOUNT, LINE_ITEM_TYPE, USAGE_TYPE, OPERATION, PRINCIPAL, RESOURCE_ID, PAYER, bases::RI_ARN];

/// What the scan also reads so that a settled row counts on every basis.
const BASIS_SCAN_COLUMNS: [&str; 10] = [
    LINE_ITEM_TYPE, bases::NET_COST, bases::SP_EFFECTIVE_COST, bases::RI_EFFECTIVE_COST, bases::SP_COMMITMENT_TO_DATE,
    bases::SP_USED_COMMITMENT, bases::RI_UNUSED_AMORTIZED_UPFRONT, bases::RI_UNUSED_RECURRING, bases::RI_ARN, bases::LIST_COST,
];

/// A batch's columns of the other cost bases. The line item type is decided
/// once per distinct value: only commitment lines read the commitment cells.
struct BasisCells {
    net: Numbers,
    list: Numbers,
    lit: Option<Codes>,
    /// Per distinct line item type: whether its amortized cost is not simply
    /// its unblended cost.
    special: Vec<bool>,
    commitment: [Numbers; 6],
    ri_arn: Option<Codes>,
}

impl BasisCells {
    fn of(batch: &RecordBatch) -> Result<BasisCells, ReadError> {
        let lit = Codes::of(batch, LINE_ITEM_TYPE)?;
        let special = lit.as_ref().map(|l| l.decide(|t| bases::amortized_cost(t, Decimal::ONE, &bases::CommitmentCells::default()) != Decimal::ONE || t == "Fee")).unwrap_or_default();
        let n = |c| Numbers::of(batch, c);
        Ok(BasisCells {
            net: n(bases::NET_COST)?,
            list: n(bases::LIST_COST)?,
            lit,
            special,
            commitment: [
                n(bases::SP_EFFECTIVE_COST)?,
                n(bases::RI_EFFECTIVE_COST)?,
                n(bases::SP_COMMITMENT_TO_DATE)?,
                n(bases::SP_USED_COMMITMENT)?,
                n(bases::RI_UNUSED_AMORTIZED_UPFRONT)?,
                n(bases::RI_UNUSED_RECURRING)?,
            ],
            ri_arn: Codes::of(batch, bases::RI_ARN)?,
        })
    }

    /// Row `i`'s net, amortized and list cost; `unblended` is its cost, and
    /// `double` that cell as the file holds it (if a double).
    fn at(&self, row: u64, i: usize, unblended: Decimal, double: Option<f64>) -> Result<RowCosts, ReadError> {
        let same = double.map(|d| (d, unblended));
        let net = self.net.opt_at_or(row, bases::NET_COST, i, same)?.unwrap_or(unblended);
        let list = self.list.opt_at_or(row, bases::LIST_COST, i, same)?.unwrap_or(unblended);
        let amortized = match &self.lit {
            Some(lit) if self.special[lit.key(i)] => {
                let [sp, ri, to_date, used, upfront, recurring] = &self.commitment;
                let cells = bases::CommitmentCells {
                    sp_effective_cost: sp.at(row, bases::SP_EFFECTIVE_COST, i)?,
                    ri_effective_cost: ri.at(row, bases::RI_EFFECTIVE_COST, i)?,
                    sp_total_commitment_to_date: to_date.at(row, bases::SP_COMMITMENT_TO_DATE, i)?,
                    sp_used_commitment: used.at(row, bases::SP_USED_COMMITMENT, i)?,
                    ri_unused_amortized_upfront_fee: upfront.at(row, bases::RI_UNUSED_AMORTIZED_UPFRONT, i)?,
                    ri_unused_recurring_fee: recurring.at(row, bases::RI_UNUSED_RECURRING, i)?,
                    reservation: self.ri_arn.as_ref().is_some_and(|a| !a.value(i).is_empty()),
                };
                bases::amortized_cost(lit.value(i), unblended, &cells)
            }
            _ => unblended,
        };
        Ok(RowCosts { net, amortized, list })
    }
}

/// What the predicate learns about one row group: non-AI cost per account, and
/// the row numbers of the rows it kept (in order), so errors in the decoded
/// rows still name their row.
#[derive(Default)]
struct Scan {
    next_row: u64,
    /// Each kept row's number and its costs (unblended, then the other
    /// bases), worked out once here: the fold takes them instead of
    /// converting the same cells again.
    kept: VecDeque<(u64, Decimal, RowCosts)>,
    /// The scan columns of the kept rows, in order, as the predicate saw
    /// them: the fold joins them to the rest of each row's columns.
    stash: VecDeque<RecordBatch>,
    non_ai: BTreeMap<AccountId, Money>,
    /// Every row's cost per account, kept or settled: the reconciliation's
    /// bill side, summed here so that it does not depend on the facts.
    read_total: BTreeMap<AccountId, Money>,
    net: bases::BasisSums,
    amortized: bases::BasisSums,
    error: Option<ReadError>,
}

impl Scan {
    /// The scan of a row group from `first_row` on. `spare`: the kept
    /// rows' queue of the group before, emptied, so that each group does
    /// not grow one again from nothing (tens of thousands of rows a group,
    /// and the copies and fresh pages of each doubling).
    fn starting_at(first_row: u64, spare: VecDeque<(u64, Decimal, RowCosts)>) -> Self {
        Scan { next_row: first_row, kept: spare, ..Scan::default() }
    }

    fn settle(&mut self, batch: &RecordBatch) -> Result<BooleanArray, ReadError> {
        let n = batch.num_rows();
        let code = Codes::of(batch, PRODUCT_CODE)?.ok_or(ReadError::MissingColumn(PRODUCT_CODE))?;
        let account = Codes::of(batch, ACCOUNT)?.ok_or(ReadError::MissingColumn(ACCOUNT))?;
        let entity = Codes::of(batch, BILLING_ENTITY)?;
        // Decided once per distinct value.
        let ai_code = code.decide(|c| AI_PRODUCT_CODES.contains(&c));
        let marketplace = entity.as_ref().map(|e| e.decide(|v| v == "AWS Marketplace"));
        let cost = Numbers::of(batch, COST)?;
        let other = BasisCells::of(batch)?;
        let mut keep = BooleanBuilder::with_capacity(n);
        // Per distinct account: its id (checked where first seen), its non-AI
        // total and its total of every row in this batch, on each basis
        // (unblended, net, amortized), summed before the map lookups.
        type Sums = [Sum; 3];
        let mut per_key: Vec<Option<(AccountId, Option<Sums>, Sums)>> = vec![None; account.distinct()];
        for i in 0..n {
            let row = self.next_row + i as u64 + 1;
            // A Marketplace row's product name decides; it is read in full.
            let candidate = ai_code[code.key(i)] || marketplace.as_ref().zip(entity.as_ref()).is_some_and(|(m, e)| m[e.key(i)]);
            keep.append_value(candidate);
            let unblended = cost.at(row, COST, i)?;
            let c = other.at(row, i, unblended, cost.double(i))?;
            let amounts = [unblended, c.net, c.amortized];
            let slot = &mut per_key[account.key(i)];
            if slot.is_none() {
                *slot = Some((account_id(account.value(i), row)?, None, [Sum::default(); 3]));
            }
            if let Some((_, non_ai, all)) = slot {
                for (s, a) in all.iter_mut().zip(amounts) {
                    s.add(a);
                }
                if !candidate {
                    for (s, a) in non_ai.get_or_insert([Sum::default(); 3]).iter_mut().zip(amounts) {
                        s.add(a);
                    }
                }
            }
            if candidate {
                self.kept.push_back((row, unblended, c));
            }
        }
        for (id, non_ai, all) in per_key.into_iter().flatten() {
            let [all, all_net, all_amortized] = all.map(Sum::money);
            let non_ai = non_ai.map(|n| n.map(Sum::money));
            *self.read_total.entry(id.clone()).or_default() += all;
            *self.net.read_total.entry(id.clone()).or_default() += all_net;
            *self.amortized.read_total.entry(id.clone()).or_default() += all_amortized;
            if let Some([non_ai, net, amortized]) = non_ai {
                *self.net.non_ai.entry(id.clone()).or_default() += net;
                *self.amortized.non_ai.entry(id.clone()).or_default() += amortized;
                *self.non_ai.entry(id).or_default() += non_ai;
            }
        }
        self.next_row += n as u64;
        let keep = keep.finish();
        let kept = filter_record_batch(&stashed_columns(batch)?, &keep).map_err(malformed)?;
        if kept.num_rows() > 0 {
            self.stash.push_back(kept);
        }
        Ok(keep)
    }

    /// The next `n` kept rows' scan columns, as slices of what the predicate
    /// saw (no copy).
    fn take_stash(&mut self, n: usize) -> Result<Vec<RecordBatch>, ReadError> {
        let mut parts = Vec::new();
        let mut left = n;
        while left > 0 {
            let part = self.stash.pop_front().ok_or_else(misaligned)?;
            if part.num_rows() > left {
                self.stash.push_front(part.slice(left, part.num_rows() - left));
                parts.push(part.slice(0, left));
                left = 0;
            } else {
                left -= part.num_rows();
                parts.push(part);
            }
        }
        Ok(parts)
    }
}

/// The scan columns the fold reads beside the rest of a row (the costs come
/// with the row numbers).
const STASH_COLUMNS: [&str; 4] = [PRODUCT_CODE, BILLING_ENTITY, ACCOUNT, LINE_ITEM_TYPE];

fn stashed_columns(batch: &RecordBatch) -> Result<RecordBatch, ReadError> {
    let schema = batch.schema();
    let indices: Vec<usize> = STASH_COLUMNS.iter().filter_map(|c| schema.index_of(c).ok()).collect();
    batch.project(&indices).map_err(malformed)
}

/// The decoded rows and the rows the scan kept no longer line up: the file
/// changed under the reader or the decoder misbehaved. Refused, never folded
/// against another row's columns.
fn misaligned() -> ReadError {
    malformed("the reader decoded more rows than the scan kept")
}

/// One batch of both halves of the same rows: the scan's columns and the rest.
fn joined(scanned: &RecordBatch, rest: &RecordBatch) -> Result<RecordBatch, ReadError> {
    let fields: Vec<arrow_schema::FieldRef> = scanned.schema().fields().iter().chain(rest.schema().fields().iter()).cloned().collect();
    let columns: Vec<ArrayRef> = scanned.columns().iter().chain(rest.columns()).cloned().collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(malformed)
}

/// An exact running sum of a batch's amounts for one account. Amounts with
/// at most ten decimal places (every double CUR wrote below 10,000: see
/// `decimal_of_double`) add as integers of 1e-10; any other adds as a
/// decimal. A `Decimal` add per row and basis was a tenth of a large scan.
#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    units: i128,
    rest: Decimal,
}

impl Sum {
    const SCALE: u32 = 10;

    /// 10^k for the scales below `SCALE`: looked up, not raised to, for
    /// each of three bases of every row.
    const UP: [i128; 11] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000];

    fn add(&mut self, d: Decimal) {
        // A double's decimal is at the sum's own scale (`decimal_of_double`):
        // its mantissa is its units, with no multiply.
        let units = match Self::SCALE.checked_sub(d.scale()) {
            Some(0) => Some(d.mantissa()),
            Some(up) => Self::UP.get(up as usize).and_then(|p| d.mantissa().checked_mul(*p)),
            None => None,
        }
        .and_then(|u| self.units.checked_add(u));
        match units {
            Some(u) => self.units = u,
            None => self.rest += d,
        }
    }

    /// The sum. Every amount is bounded (`Money::MAX_INPUT`), so a batch's
    /// whole units fit a decimal even when its 1e-10 units do not.
    fn money(self) -> Money {
        let p = 10i128.pow(Self::SCALE);
        let (whole, frac) = (self.units / p, self.units % p);
        let whole = Decimal::try_from_i128_with_scale(whole, 0).unwrap_or(if whole < 0 { Decimal::MIN } else { Decimal::MAX });
        let frac = Decimal::try_from_i128_with_scale(frac, Self::SCALE).unwrap_or_default();
        Money::new(whole + frac + self.rest)
    }
}

/// A text column seen through its dictionary when it has one: `key(i)` is a
/// small integer per distinct value (the row index itself for plain strings).
enum Codes {
    Dict { keys: Vec<usize>, values: StringArray },
    Plain(StringArray),
}

impl Codes {
    fn of(batch: &RecordBatch, name: &str) -> Result<Option<Codes>, ReadError> {
        batch.column_by_name(name).map(Codes::of_array).transpose()
    }

    fn of_array(c: &ArrayRef) -> Result<Codes, ReadError> {
        if let Some(d) = c.as_dictionary_opt::<arrow_array::types::Int32Type>() {
            if let Some(values) = d.values().as_string_opt::<i32>() {
                let empty = values.len();
                // Null cells share one extra key whose value is "". Without
                // nulls the keys are converted straight from their buffer (a
                // loop the compiler vectorises; four columns of every row).
                let of = |k: i32| usize::try_from(k).unwrap_or(empty);
                let keys = match d.keys().nulls() {
                    None => d.keys().values().iter().map(|&k| of(k)).collect(),
                    Some(_) => d.keys().iter().map(|k| k.map_or(empty, of)).collect(),
                };
                return Ok(Codes::Dict { keys, values: values.clone() });
            }
        }
        let plain = match c.data_type() {
            DataType::Utf8 => c.clone(),
            _ => arrow_cast::cast(c, &DataType::Utf8).map_err(malformed)?,
        };
        Ok(Codes::Plain(plain.as_string::<i32>().clone()))
    }

    /// Whether cell `i` is null (a dictionary's nulls share the extra key).
    fn is_null(&self, i: usize) -> bool {
        match self {
            Codes::Dict { keys, values } => keys[i] >= values.len() || values.is_null(keys[i]),
            Codes::Plain(a) => a.is_null(i),
        }
    }

    fn distinct(&self) -> usize {
        match self {
            Codes::Dict { values, .. } => values.len() + 1,
            Codes::Plain(a) => a.len(),
        }
    }

    fn key(&self, i: usize) -> usize {
        match self {
            Codes::Dict { keys, .. } => keys[i],
            Codes::Plain(_) => i,
        }
    }

    fn value_of_key(&self, k: usize) -> &str {
        match self {
            Codes::Dict { values, .. } if k < values.len() => str_at(values, k),
            Codes::Dict { .. } => "",
            Codes::Plain(a) => str_at(a, k),
        }
    }

    fn value(&self, i: usize) -> &str {
        self.value_of_key(self.key(i))
    }

    fn decide(&self, f: impl Fn(&str) -> bool) -> Vec<bool> {
        (0..self.distinct()).map(|k| f(self.value_of_key(k))).collect()
    }
}

/// An account id cell, or the error naming its row.
fn account_id(raw: &str, row: u64) -> Result<AccountId, ReadError> {
    let acct = raw.trim();
    AccountId::parse(acct).map_err(|e| ReadError::BadValue { row, column: ACCOUNT, value: acct.to_owned(), reason: e.rule })
}

/// A `map<string,string>` column of a batch, for the value of the first of
/// some keys present in a cell. Its keys and values are read through their
/// dictionaries (see `Layout::hint`): materialised as strings, the product
/// map of every AI row was four strings copied per row, and their buffers
/// grown and faulted in, batch after batch. Which wanted key each distinct
/// key is gets decided once per batch; a cell is then a few integers.
struct MapCells {
    map: MapArray,
    keys: Codes,
    values: Codes,
    /// Per distinct key: its place among the wanted keys, if it is one.
    wanted: Vec<Option<usize>>,
}

impl MapCells {
    fn of(batch: &RecordBatch, name: &str, wanted: &[&str]) -> Result<Option<MapCells>, ReadError> {
        let Some(map) = batch.column_by_name(name).and_then(|c| c.as_map_opt()) else { return Ok(None) };
        let keys = Codes::of_array(map.keys())?;
        let values = Codes::of_array(map.values())?;
        let wanted = (0..keys.distinct()).map(|k| wanted.iter().position(|w| *w == keys.value_of_key(k))).collect();
        Ok(Some(MapCells { map: map.clone(), keys, values, wanted }))
    }

    /// Row `i`'s value of the first wanted key it has with a value,
    /// borrowed from the batch.
    fn get(&self, i: usize) -> Option<&str> {
        self.entry(i).map(|j| self.values.value(j))
    }

    /// The map entry that holds [`MapCells::get`]'s value: its place in
    /// the map's values, whose dictionary key the fold resolves once.
    fn entry(&self, i: usize) -> Option<usize> {
        if self.map.is_null(i) {
            return None;
        }
        let offsets = self.map.value_offsets();
        let (start, end) = (usize::try_from(*offsets.get(i)?).ok()?, usize::try_from(*offsets.get(i + 1)?).ok()?);
        (start..end).filter(|&j| !self.values.is_null(j)).filter_map(|j| self.wanted[self.keys.key(j)].map(|rank| (rank, j))).min().map(|(_, j)| j)
    }
}

/// Every value, as it is.
fn any(v: &str) -> Option<&str> {
    Some(v)
}

/// A dictionary value as the fold has resolved it.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Not met yet in this dictionary.
    Unseen,
    /// Met in this batch, to be looked up in the thread's table once the
    /// batch's rows are gone through ([`Interned::resolve`]).
    Queued,
    /// Met, and not in the thread's table: interned at the next lock.
    Pending,
    /// The column's rule gives it no value (an empty resource id).
    NoValue,
    Id(StrId),
}

/// A dictionary's resolved values, kept from one batch to the next. The
/// Parquet reader hands every batch of a column chunk the same dictionary,
/// so a row group's distinct values are resolved once rather than once per
/// batch: a month with a session name per developer has nearly as many
/// distinct principals in a batch as rows.
#[derive(Default)]
struct DictIds {
    /// The dictionary the slots are for, held so that its buffers cannot be
    /// freed and reused by another while they are compared.
    values: Option<StringArray>,
    slots: Vec<Slot>,
    /// The keys marked `Queued`, then those marked `Pending`, in the order
    /// met. Kept here, not per batch, so that none is left unresolved by a
    /// batch that failed.
    queued: Vec<usize>,
    pending: Vec<usize>,
}

impl DictIds {
    /// Keeps the slots when `codes`' dictionary is the one they were worked
    /// out for (the same buffers), else starts afresh.
    fn reset_for(&mut self, codes: Option<&Codes>) {
        let dict = match codes {
            Some(Codes::Dict { values, .. }) => Some(values),
            _ => None,
        };
        let same = dict.zip(self.values.as_ref()).is_some_and(|(a, b)| a.len() == b.len() && a.offsets().as_ptr() == b.offsets().as_ptr() && a.values().as_ptr() == b.values().as_ptr());
        if !same {
            self.values = dict.cloned();
            self.slots.clear();
            self.slots.resize(codes.map_or(0, Codes::distinct), Slot::Unseen);
            self.queued.clear();
            self.pending.clear();
        }
    }
}

/// The strings one reader thread has met, with their ids in the shared
/// facts. Each row group has dictionaries of its own, so a month with a
/// session name per developer meets its ~12,000 principals again in each of
/// its ~40 row groups. Looked up in the facts' own dictionary, under the
/// lock the other reader waits on, that was two fifths of the time the lock
/// was held; looked up here, apart, only the strings this thread has never
/// met take the lock. Bounded, so that an estate of millions of distinct
/// strings does not hold them a second time per thread: when full it starts
/// again, which costs lookups, never a wrong id.
///
/// Looked up by a hash worked out beforehand ([`Known::hash`]), so that a
/// batch's new dictionary values are hashed in one pass and looked up in
/// another: each lookup waits on memory (the table's slot, the string it
/// compares with), and a loop that does only lookups has many in flight.
#[derive(Default)]
struct Known {
    table: hashbrown::HashTable<(Box<str>, StrId)>,
    hasher: foldhash::fast::RandomState,
}

impl Known {
    /// Strings held at most: at ~100 bytes each, about 13 MB a thread.
    const MAX: usize = 1 << 17;

    fn hash(&self, s: &str) -> u64 {
        self.hasher.hash_one(s)
    }

    /// `s`'s id, `hash` being [`Known::hash`] of it.
    fn get(&self, hash: u64, s: &str) -> Option<StrId> {
        self.table.find(hash, |(k, _)| **k == *s).map(|(_, id)| *id)
    }

    fn insert(&mut self, s: &str, id: StrId) {
        if self.table.len() >= Self::MAX {
            self.table.clear();
        }
        let Known { table, hasher } = self;
        table.entry(hasher.hash_one(s), |(k, _)| **k == *s, |(k, _)| hasher.hash_one(&**k)).or_insert_with(|| (Box::from(s), id));
    }
}

/// What one reader thread keeps between the batches it folds into one
/// [`Facts`] (the ids are that Facts' and meaningless in another).
#[derive(Default)]
pub struct FoldCache {
    usage_type: DictIds,
    product_code: DictIds,
    operation: DictIds,
    line_item_type: DictIds,
    resource: DictIds,
    principal: DictIds,
    /// The values of the resource tags map.
    workspace: DictIds,
    known: Known,
    /// What every batch needs of the facts, taken at the first lock that
    /// needs it: the empty string's id, `Usage`'s (for a file without line
    /// item types), the accounts' ids and the facts' key hasher.
    empty: Option<StrId>,
    usage: Option<StrId>,
    accounts: HashMap<AccountId, AcctId, foldhash::fast::RandomState>,
    hasher: Option<KeyHasher>,
}

/// A text column's values as ids interned in the facts, each worked out
/// once per distinct value of its dictionary, in two steps: from the
/// thread's own table apart from the other readers ([`Interned::prepare`]),
/// then, for what that did not know, in the shared facts under their lock
/// ([`Interned::intern_pending`]).
struct Interned<'c> {
    codes: Option<&'c Codes>,
    cache: &'c mut DictIds,
    /// A value as the fact takes it; `None`: the fact has no value.
    rule: for<'s> fn(&'s str) -> Option<&'s str>,
}

impl<'c> Interned<'c> {
    fn of(codes: Option<&'c Codes>, cache: &'c mut DictIds, rule: for<'s> fn(&'s str) -> Option<&'s str>) -> Self {
        cache.reset_for(codes);
        Interned { codes, cache, rule }
    }

    /// Queues cell `i`'s value to be resolved, the first time its
    /// dictionary value is met.
    fn prepare(&mut self, i: usize) {
        let Some(codes) = self.codes else { return };
        let k = codes.key(i);
        if matches!(self.cache.slots[k], Slot::Unseen) {
            self.cache.slots[k] = Slot::Queued;
            self.cache.queued.push(k);
        }
    }

    /// Resolves the queued values from the thread's table where it can,
    /// and marks the others to be interned. `hashes`: room for the hashes,
    /// reused from one call to the next.
    fn resolve(&mut self, known: &Known, hashes: &mut Vec<u64>) {
        let Some(codes) = self.codes else { return };
        let (cache, rule) = (&mut *self.cache, self.rule);
        hashes.clear();
        hashes.extend(cache.queued.iter().map(|k| rule(codes.value_of_key(*k)).map_or(0, |v| known.hash(v))));
        for (k, hash) in cache.queued.drain(..).zip(hashes.iter()) {
            cache.slots[k] = match rule(codes.value_of_key(k)) {
                None => Slot::NoValue,
                Some(v) => match known.get(*hash, v) {
                    Some(id) => Slot::Id(id),
                    None => {
                        cache.pending.push(k);
                        Slot::Pending
                    }
                },
            };
        }
    }

    /// Interns what [`Interned::prepare`] did not find, in the facts and in
    /// the thread's table.
    fn intern_pending(&mut self, facts: &mut Facts, known: &mut Known) {
        let Some(codes) = self.codes else { return };
        for k in self.cache.pending.drain(..) {
            if let Some(v) = (self.rule)(codes.value_of_key(k)) {
                let id = facts.intern_str(v);
                self.cache.slots[k] = Slot::Id(id);
                known.insert(v, id);
            }
        }
    }

    fn has_pending(&self) -> bool {
        !self.cache.pending.is_empty()
    }

    /// Cell `i`'s id, once prepared and interned (`None`: the column is
    /// absent or the rule gives no value).
    fn id(&self, i: usize) -> Option<StrId> {
        let codes = self.codes?;
        match self.cache.slots.get(codes.key(i)) {
            Some(Slot::Id(id)) => Some(*id),
            _ => None,
        }
    }
}

/// A line item type as a fact takes it: empty is `Usage`.
fn line_item_type(t: &str) -> Option<&str> {
    Some(if t.is_empty() { "Usage" } else { t })
}

/// A resource id as a fact takes it: empty is none.
fn resource_id(r: &str) -> Option<&str> {
    Some(r).filter(|r| !r.is_empty())
}

/// A kept row as the first half of [`fold_batch`] leaves it for the second:
/// everything worked out but what needs the shared facts.
#[derive(Clone, Copy)]
enum Folded {
    /// A Marketplace row of another kind: its account's non-AI cost.
    NonAi { account: usize, cost: Money, costs: RowCosts },
    /// `workspace`: the tag map entry that holds the row's workspace.
    Ai { i: usize, account: usize, day: NaiveDate, value: FactValue, workspace: Option<usize> },
}

/// Folds one record batch of rows the scan kept into facts; `kept[i]` is the
/// batch's row `i` as the scan saw it: its file row (from 1) and its costs.
/// AI rows become facts; their text columns are read through their
/// dictionaries, so each distinct string is looked at once per dictionary
/// and a row costs a few array lookups, not a string hash per column. A
/// kept row that turns out not to be AI (a Marketplace product of another
/// kind) adds to its account's non-AI cost. The read total is the scan's
/// business: it has already counted every row.
///
/// In two halves: every row is checked, its day, amount, workspace and
/// AI-ness worked out and its strings resolved from the thread's own table
/// first, apart from the other readers; then the facts are taken (`facts`:
/// the lock several reader threads share) only to intern what is new and
/// add. A bad cell fails the batch before anything of it is added.
fn fold_batch<F: DerefMut<Target = Facts>>(batch: &RecordBatch, kept: &[(u64, Decimal, RowCosts)], facts: &mut impl FnMut() -> Result<F, ReadError>, cache: &mut FoldCache) -> Result<(), ReadError> {
    let req = |name: &'static str| Codes::of(batch, name)?.ok_or(ReadError::MissingColumn(name));
    let (usage_type, account, product_code) = (req(USAGE_TYPE)?, req(ACCOUNT)?, req(PRODUCT_CODE)?);
    let opt = |name| Codes::of(batch, name);
    let (principal, resource, operation, lit, entity, payer) = (opt(PRINCIPAL)?, opt(RESOURCE_ID)?, opt(OPERATION)?, opt(LINE_ITEM_TYPE)?, opt(BILLING_ENTITY)?, opt(PAYER)?);
    let (amount, days) = (Numbers::of(batch, USAGE_AMOUNT)?, Days::of(batch)?);
    let product = MapCells::of(batch, PRODUCT, &["product_name"])?;
    let tags = MapCells::of(batch, RESOURCE_TAGS, &WORKSPACE_TAG_KEYS)?;
    // Decided once per distinct value: AI product codes, Marketplace rows.
    let ai_code = product_code.decide(|c| AI_PRODUCT_CODES.contains(&c));
    let marketplace = entity.as_ref().map(|e| e.decide(|v| v == "AWS Marketplace"));
    // Account ids are checked once per distinct value (at the first row
    // that has it, so an error names that row); payers likewise.
    let mut accounts: Vec<Option<AccountId>> = vec![None; account.distinct()];
    // Which accounts have AI rows here: only those are interned, so that
    // the facts' dictionary holds what its facts use.
    let mut has_ai = vec![false; account.distinct()];
    let mut payers_seen = vec![false; payer.as_ref().map_or(0, Codes::distinct)];
    let mut payers = Vec::new();
    let FoldCache {
        usage_type: c_usage_type,
        product_code: c_product_code,
        operation: c_operation,
        line_item_type: c_lit,
        resource: c_resource,
        principal: c_principal,
        workspace: c_workspace,
        known,
        empty: c_empty,
        usage: c_usage,
        accounts: c_accounts,
        hasher: c_hasher,
    } = cache;
    let mut columns = [
        Interned::of(Some(&product_code), c_product_code, any),
        Interned::of(Some(&usage_type), c_usage_type, any),
        Interned::of(operation.as_ref(), c_operation, any),
        Interned::of(lit.as_ref(), c_lit, line_item_type),
        Interned::of(resource.as_ref(), c_resource, resource_id),
        Interned::of(principal.as_ref(), c_principal, any),
    ];
    let mut workspaces = Interned::of(tags.as_ref().map(|t| &t.values), c_workspace, any);
    let rows = kept.len().min(batch.num_rows());
    let mut folded: Vec<Folded> = Vec::with_capacity(rows);
    for (i, &(row, unblended, costs)) in kept.iter().enumerate().take(rows) {
        let a = account.key(i);
        if accounts[a].is_none() {
            accounts[a] = Some(account_id(account.value(i), row)?);
        }
        let cost = Money::new(unblended);
        let is_ai = ai_code[product_code.key(i)]
            || (marketplace.as_ref().zip(entity.as_ref()).is_some_and(|(m, e)| m[e.key(i)])
                && is_ai_row(product_code.value(i), "AWS Marketplace", product.as_ref().and_then(|p| p.get(i)).unwrap_or("")));
        if !is_ai {
            folded.push(Folded::NonAi { account: a, cost, costs });
            continue;
        }
        let workspace = tags.as_ref().and_then(|t| t.entry(i));
        let day = days.at(row, i)?;
        let value = FactValue::of_row(amount.at(row, USAGE_AMOUNT, i)?, cost, &costs);
        for c in &mut columns {
            c.prepare(i);
        }
        if let Some(j) = workspace {
            workspaces.prepare(j);
        }
        folded.push(Folded::Ai { i, account: a, day, value, workspace });
        has_ai[a] = true;
        if let Some(p) = payer.as_ref() {
            let k = p.key(i);
            let raw = p.value_of_key(k).trim();
            if !payers_seen[k] && !raw.is_empty() {
                payers_seen[k] = true;
                payers.push(AccountId::parse(raw).map_err(|e| ReadError::BadValue { row, column: PAYER, value: raw.to_owned(), reason: e.rule })?);
            }
        }
    }
    let mut hashes = Vec::new();
    for c in columns.iter_mut().chain([&mut workspaces]) {
        c.resolve(known, &mut hashes);
    }
    // The lock is taken for what this thread has not met before (new
    // strings and accounts, the facts' hasher at its first batch), then for
    // adding: the keys are built, hashed and ordered apart from the others.
    let ai_rows = has_ai.contains(&true);
    let need_usage = lit.is_none() && ai_rows && c_usage.is_none();
    let ai_accounts = || accounts.iter().zip(&has_ai).filter_map(|(a, ai)| a.as_ref().filter(|_| *ai));
    let new_account = ai_accounts().any(|a| !c_accounts.contains_key(a));
    let pending = columns.iter().chain([&workspaces]).any(Interned::has_pending);
    if c_hasher.is_none() || c_empty.is_none() || need_usage || new_account || pending {
        let mut facts = facts()?;
        let facts = &mut *facts;
        for c in columns.iter_mut().chain([&mut workspaces]) {
            c.intern_pending(facts, known);
        }
        c_empty.get_or_insert_with(|| facts.intern_str(""));
        if need_usage {
            *c_usage = Some(facts.intern_str("Usage"));
        }
        for a in ai_accounts() {
            if !c_accounts.contains_key(a) {
                c_accounts.insert(a.clone(), facts.intern_account(a));
            }
        }
        c_hasher.get_or_insert_with(|| facts.key_hasher());
    }
    let (Some(empty), Some(hasher)) = (*c_empty, c_hasher.as_ref()) else { return Err(malformed("the fold lost the facts' dictionary")) };
    let [codes, usage_types, operations, lits, resources, principals] = &columns;
    // Keyed straight into the batch (no list of keys beside it: two
    // threads' batches are at the read's memory peak); the first fact that
    // cannot be keyed fails the batch.
    let mut unkeyed: Option<ReadError> = None;
    let key = |f: &Folded| -> Result<Option<(InternedKey, FactValue)>, ReadError> {
        let Folded::Ai { i, account, day, value, workspace } = *f else { return Ok(None) };
        let Some(acct) = accounts[account].as_ref() else { return Ok(None) };
        let account = *c_accounts.get(acct).ok_or_else(|| malformed("an account the fold did not intern"))?;
        let key = InternedKey {
            usage_day: day,
            account,
            product_code: codes.id(i).unwrap_or(empty),
            usage_type: usage_types.id(i).unwrap_or(empty),
            operation: operations.id(i).unwrap_or(empty),
            line_item_type: lits.id(i).or(*c_usage).ok_or_else(|| malformed("a line item type the fold did not intern"))?,
            resource_id: resources.id(i),
            principal: principals.id(i),
            workspace: workspace.and_then(|j| workspaces.id(j)),
        };
        Ok(Some((key, value)))
    };
    let batch = hasher.batch(folded.iter().filter_map(|f| key(f).unwrap_or_else(|e| {
        unkeyed.get_or_insert(e);
        None
    })));
    if let Some(e) = unkeyed {
        return Err(e);
    }
    let mut facts = facts()?;
    for f in &folded {
        if let Folded::NonAi { account, cost, costs } = f {
            if let Some(acct) = accounts[*account].as_ref() {
                facts.add_non_ai(acct, *cost, costs);
            }
        }
    }
    facts.add_batch(batch);
    facts.payers.extend(payers);
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

/// The reader's answer for one row group: the kept rows' facts plus what the
/// scan settled. Gives back the scan's emptied queue for the next group.
fn finish_group(scan: &Arc<Mutex<Scan>>, facts: &mut Facts) -> Result<VecDeque<(u64, Decimal, RowCosts)>, ReadError> {
    let mut st = scan.lock().map_err(|_| malformed("scan state poisoned"))?;
    if let Some(e) = st.error.take() {
        return Err(e);
    }
    if !st.kept.is_empty() {
        return Err(malformed("the scan kept more rows than the reader decoded"));
    }
    for (a, m) in std::mem::take(&mut st.non_ai) {
        *facts.non_ai.entry(a).or_default() += m;
    }
    for (a, m) in std::mem::take(&mut st.read_total) {
        *facts.read_total.entry(a).or_default() += m;
    }
    facts.net.absorb(&std::mem::take(&mut st.net));
    facts.amortized.absorb(&std::mem::take(&mut st.amortized));
    Ok(std::mem::take(&mut st.kept))
}

fn fold_kept<F: DerefMut<Target = Facts>>(batch: &RecordBatch, scan: &Arc<Mutex<Scan>>, facts: &mut impl FnMut() -> Result<F, ReadError>, cache: &mut FoldCache) -> Result<(), ReadError> {
    let (rows, parts) = {
        let mut st = scan.lock().map_err(|_| malformed("scan state poisoned"))?;
        let n = batch.num_rows();
        if st.kept.len() < n {
            return Err(misaligned());
        }
        let rows: Vec<(u64, Decimal, RowCosts)> = st.kept.drain(..n).collect();
        (rows, st.take_stash(n)?)
    };
    let mut offset = 0;
    for part in parts {
        let m = part.num_rows();
        let part_rows = rows.get(offset..offset + m).ok_or_else(misaligned)?;
        fold_batch(&joined(&part, &batch.slice(offset, m))?, part_rows, facts, cache)?;
        offset += m;
    }
    Ok(())
}

/// A batch error, or the scan's own error when the predicate stopped the read.
fn batch_error(scan: &Arc<Mutex<Scan>>, e: impl std::fmt::Display) -> ReadError {
    match scan.lock().ok().and_then(|mut st| st.error.take()) {
        Some(own) => own,
        None => malformed(e),
    }
}

/// What a caught panic said, for the error naming it.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned())).unwrap_or_else(|| "a panic".into())
}

/// A file the Parquet decoder panics on (it does on some corrupt footers; the
/// fuzz tests found one) is a malformed file: refused by name, never a
/// crashed ingest retried for ever.
fn decoder_panic(p: &(dyn std::any::Any + Send)) -> ReadError {
    malformed(format!("the Parquet decoder failed on this file: {}", panic_text(p)))
}

/// A file read by position (`pread`). The `File` reader Parquet ships clones
/// the descriptor, seeks and closes the clone for every page header and every
/// page it reads: four system calls where one does, and a large month reads
/// 13,000 pages.
#[cfg(unix)]
mod positioned {
    use std::fs::File;
    use std::io::{BufReader, Read};
    use std::os::unix::fs::FileExt;
    use std::path::Path;
    use std::sync::Arc;

    use bytes::Bytes;
    use parquet::file::reader::{ChunkReader, Length};

    pub(super) struct Positioned {
        file: Arc<File>,
        len: u64,
    }

    pub(super) fn open(path: &Path) -> std::io::Result<Positioned> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Positioned { file: Arc::new(file), len })
    }

    impl Length for Positioned {
        fn len(&self) -> u64 {
            self.len
        }
    }

    /// A reader from a position on, sharing the descriptor without moving it.
    pub(super) struct At {
        file: Arc<File>,
        pos: u64,
    }

    impl Read for At {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.file.read_at(buf, self.pos)?;
            self.pos += n as u64;
            Ok(n)
        }
    }

    impl ChunkReader for Positioned {
        type T = BufReader<At>;

        fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
            Ok(BufReader::new(At { file: self.file.clone(), pos: start }))
        }

        fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
            let mut buf = vec![0u8; length];
            self.file.read_exact_at(&mut buf, start)?;
            Ok(buf.into())
        }
    }
}

/// Elsewhere, the `File` reader Parquet ships.
#[cfg(not(unix))]
mod positioned {
    pub(super) fn open(path: &std::path::Path) -> std::io::Result<std::fs::File> {
        std::fs::File::open(path)
    }
}

/// How many facts a file of `groups` row groups will make, foreseen when the
/// first group is folded and the facts number `made`: by then each of the
/// other `threads - 1` readers is on average half through its first group.
/// Row groups of a bill each hold a slice of the month, so the facts grow
/// about in step with them; where they repeat across groups (a few
/// principals), the guess is high by the index's few bytes a fact. Never more
/// than the file's rows, which make at most one fact each.
fn foreseen_facts(made: usize, threads: usize, groups: usize, rows: i64) -> usize {
    // made / (1 + (threads - 1) / 2) groups' worth, times the groups.
    let guess = made.saturating_mul(groups).saturating_mul(2) / (threads.max(1) + 1);
    guess.min(usize::try_from(rows).unwrap_or(usize::MAX))
}

/// Reads a Parquet file from disk, `threads` row groups at a time.
pub fn read_file(path: &Path, threads: usize, progress: &Progress) -> Result<(Facts, ReadStats), ReadError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_file_unguarded(path, threads, progress))).unwrap_or_else(|p| Err(decoder_panic(p.as_ref())))
}

fn read_file_unguarded(path: &Path, threads: usize, progress: &Progress) -> Result<(Facts, ReadStats), ReadError> {
    let file = File::open(path)?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())?;
    let layout = Layout::check(meta.schema())?;
    let meta = layout.hinted(&meta)?;
    let starts = row_group_starts(&meta);
    progress.total.fetch_add(u64::try_from(meta.metadata().file_metadata().num_rows()).unwrap_or(0), Ordering::Relaxed);
    let threads = threads.clamp(1, starts.len().max(1));
    // One set of facts for every thread: each decodes and filters its row
    // groups on its own and folds a batch under the lock. Per-thread partial
    // facts merged at the end would hold a large month's facts twice (one
    // copy per thread, since every row group touches most facts).
    let shared = Mutex::new(Facts::default());
    let foreseen = AtomicBool::new(false);
    let next_group = AtomicUsize::new(0);
    let results: Vec<Result<(), ReadError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (meta, layout, starts, shared, foreseen, next_group) = (&meta, &layout, &starts, &shared, &foreseen, &next_group);
                let mut facts = move || shared.lock().map_err(|_| malformed("facts poisoned"));
                scope.spawn(move || -> Result<(), ReadError> {
                    let mut cache = FoldCache::default();
                    let mut spare = VecDeque::new();
                    // Each thread takes the next row group not yet taken:
                    // groups read at different speeds (the AI rows are not
                    // spread evenly), and a fixed share left one thread
                    // reading the last groups alone.
                    loop {
                        let rg = next_group.fetch_add(1, Ordering::Relaxed);
                        if rg >= starts.len() {
                            break;
                        }
                        let scan = Arc::new(Mutex::new(Scan::starting_at(starts[rg], std::mem::take(&mut spare))));
                        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(positioned::open(path)?, meta.clone())
                            .with_projection(layout.mask(meta))
                            .with_row_filter(layout.filter(meta, scan.clone()))
                            .with_row_groups(vec![rg])
                            .with_batch_size(BATCH_ROWS)
                            .with_row_selection_policy(SELECTION)
                            .build()
                            .map_err(|e| batch_error(&scan, e))?;
                        for batch in reader {
                            let batch = batch.map_err(|e| batch_error(&scan, e))?;
                            fold_kept(&batch, &scan, &mut facts, &mut cache)?;
                        }
                        let mut shared = facts()?;
                        spare = finish_group(&scan, &mut shared)?;
                        if !foreseen.swap(true, Ordering::Relaxed) {
                            let total = foreseen_facts(shared.len(), threads, starts.len(), meta.metadata().file_metadata().num_rows());
                            shared.expect(total);
                        }
                        drop(shared);
                        progress.rows.fetch_add(u64::try_from(meta.metadata().row_group(rg).num_rows()).unwrap_or(0), Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|p| Err(decoder_panic(p.as_ref())))).collect()
    });
    for r in results {
        r?;
    }
    let mut facts = shared.into_inner().map_err(|_| malformed("facts poisoned"))?;
    layout.mark_bases(&mut facts);
    facts.forget_index();
    let rows = u64::try_from(meta.metadata().file_metadata().num_rows()).unwrap_or(0);
    Ok((facts, ReadStats { rows, principal_column: layout.principal_column }))
}

/// Reads Parquet through an asynchronous ranged reader (an S3 object): the
/// footer first, then each row group's projected column chunks.
pub async fn read_async<T>(input: T) -> Result<(Facts, ReadStats), ReadError>
where
    T: AsyncFileReader + Clone + Unpin + Send + 'static,
{
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(read_async_unguarded(input)).catch_unwind().await.unwrap_or_else(|p| Err(decoder_panic(p.as_ref())))
}

async fn read_async_unguarded<T>(mut input: T) -> Result<(Facts, ReadStats), ReadError>
where
    T: AsyncFileReader + Clone + Unpin + Send + 'static,
{
    let meta = ArrowReaderMetadata::load_async(&mut input, ArrowReaderOptions::new()).await?;
    let layout = Layout::check(meta.schema())?;
    let meta = layout.hinted(&meta)?;
    // Behind a lock, as the local reader's shared facts are: one fold for
    // both (uncontended here).
    let shared = Mutex::new(Facts::default());
    let mut facts = || shared.lock().map_err(|_| malformed("facts poisoned"));
    let mut cache = FoldCache::default();
    let mut spare = VecDeque::new();
    for (rg, start) in row_group_starts(&meta).into_iter().enumerate() {
        let scan = Arc::new(Mutex::new(Scan::starting_at(start, std::mem::take(&mut spare))));
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(input.clone(), meta.clone())
            .with_projection(layout.mask(&meta))
            .with_row_filter(layout.filter(&meta, scan.clone()))
            .with_row_groups(vec![rg])
            .with_batch_size(BATCH_ROWS)
            .with_row_selection_policy(SELECTION)
            .build()
            .map_err(|e| batch_error(&scan, e))?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| batch_error(&scan, e))?;
            fold_kept(&batch, &scan, &mut facts, &mut cache)?;
        }
        spare = finish_group(&scan, &mut *facts()?)?;
    }
    let mut facts = shared.into_inner().map_err(|_| malformed("facts poisoned"))?;
    layout.mark_bases(&mut facts);
    facts.forget_index();
    let rows = u64::try_from(meta.metadata().file_metadata().num_rows()).unwrap_or(0);
    Ok((facts, ReadStats { rows, principal_column: layout.principal_column }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map cell: None is a null map; an entry's None value a null value.
    type Cell<'s> = Option<Vec<(&'s str, Option<&'s str>)>>;

    /// A map column of `cells`, its keys and values as strings or as
    /// dictionaries.
    fn map_batch(cells: &[Cell<'_>], dictionaries: bool) -> RecordBatch {
        use arrow_array::builder::{MapBuilder, StringBuilder, StringDictionaryBuilder};
        use arrow_array::types::Int32Type;
        fn build<K, V>(cells: &[Cell<'_>], mut b: MapBuilder<K, V>, put: impl Fn(&mut K, &mut V, &str, Option<&str>)) -> ArrayRef
        where
            K: arrow_array::builder::ArrayBuilder,
            V: arrow_array::builder::ArrayBuilder,
        {
            for cell in cells {
                for (k, v) in cell.iter().flatten() {
                    let (keys, values) = b.entries();
                    put(keys, values, k, *v);
                }
                b.append(cell.is_some()).unwrap();
            }
            Arc::new(b.finish())
        }
        let map = if dictionaries {
            build(cells, MapBuilder::new(None, StringDictionaryBuilder::<Int32Type>::new(), StringDictionaryBuilder::<Int32Type>::new()), |k, v, key, value| {
                k.append_value(key);
                v.append_option(value);
            })
        } else {
            build(cells, MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()), |k, v, key, value| {
                k.append_value(key);
                v.append_option(value);
            })
        };
        RecordBatch::try_from_iter([(RESOURCE_TAGS, map)]).unwrap()
    }

    /// The first wanted key present with a value wins, in the wanted keys'
    /// order; a null value, a null map and an empty map give none; strings
    /// and dictionaries read alike.
    #[test]
    fn a_map_cell_gives_the_first_wanted_key_with_a_value() {
        let cells = [
            Some(vec![("team", Some("t1")), ("b", Some("vb")), ("a", Some("va"))]),
            Some(vec![("a", None), ("b", Some("vb"))]),
            Some(vec![("b", Some("")), ("a", None)]),
            None,
            Some(vec![]),
            Some(vec![("team", Some("t2"))]),
        ];
        for dictionaries in [false, true] {
            let batch = map_batch(&cells, dictionaries);
            let m = MapCells::of(&batch, RESOURCE_TAGS, &["a", "b"]).unwrap().unwrap();
            let got: Vec<Option<&str>> = (0..cells.len()).map(|i| m.get(i)).collect();
            assert_eq!(got, [Some("va"), Some("vb"), Some(""), None, None, None], "dictionaries: {dictionaries}");
        }
    }

    proptest::proptest! {
        /// The integer running sum is the decimal sum, to the last digit,
        /// whatever mix of scales (up to ten places and beyond) and signs it
        /// sees, within the 28 digits a decimal sum holds exactly.
        #[test]
        fn a_running_sum_is_the_decimal_sum(values in proptest::collection::vec((-1_000_000_000_000i64..1_000_000_000_000, 0u32..13), 0..300)) {
            let mut sum = Sum::default();
            let mut plain = Decimal::ZERO;
            for (units, scale) in values {
                let d = Decimal::new(units, scale);
                sum.add(d);
                plain += d;
            }
            proptest::prop_assert_eq!(sum.money(), Money::new(plain));
        }
    }

    /// A cell with the same double as the row's cost takes the cost's decimal;
    /// any other cell is converted on its own, and an empty one is `None`.
    #[test]
    fn a_cell_equal_to_the_cost_takes_its_decimal() {
        let cells = Numbers::F64(arrow_array::Float64Array::from(vec![Some(0.1), Some(0.25), None]));
        let marker = Decimal::new(12_345, 4);
        assert_eq!(cells.opt_at_or(1, COST, 0, Some((0.1, marker))).unwrap(), Some(marker));
        assert_eq!(cells.opt_at_or(2, COST, 1, Some((0.1, marker))).unwrap(), Some(Decimal::new(25, 2)));
        assert_eq!(cells.opt_at_or(3, COST, 2, Some((0.1, marker))).unwrap(), None);
        assert_eq!(cells.opt_at_or(1, COST, 0, None).unwrap(), Some(Decimal::new(1, 1)));
        assert_eq!(cells.double(2), None);
    }

    /// A full batch of large amounts with ten places sums exactly, through
    /// its whole and fractional parts.
    #[test]
    fn large_amounts_sum_exactly() {
        let amount = Decimal::new(999_999_999_999_999_999, 6) - Decimal::new(1, 10);
        let mut sum = Sum::default();
        for _ in 0..BATCH_ROWS {
            sum.add(amount);
        }
        let expected = amount * Decimal::from(BATCH_ROWS as u64);
        assert_eq!(sum.money(), Money::new(expected));
        assert_ne!(sum.money(), Money::new(expected + Decimal::new(1, 10)));
    }
}
