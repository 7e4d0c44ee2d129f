//! CUR 2.0 files, read as a stream of rows.
//!
//! Rows are handed to a callback one at a time, so a file of any size is read in
//! constant memory. Only the columns attribution needs are read. A file missing a
//! truly required column (usage type, cost, usage start date, account, product
//! code) is refused before any row is handed over, naming the column; a file
//! without `line_item_iam_principal` is valid (attribution was not enabled on the
//! export) and its rows carry no principal.
//!
//! A bad value later in a file fails the read after earlier rows were handed
//! over, so callers aggregate a source object's rows (into `Facts`) and store
//! them only when the read returns `Ok`: a malformed file stores nothing.

use std::io::{BufRead, BufReader, Read};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use domain::cur::facts::CurRow;
use domain::AccountId;
use rust_decimal::Decimal;

pub const USAGE_TYPE: &str = "line_item_usage_type";
pub const COST: &str = "line_item_unblended_cost";
pub const USAGE_START: &str = "line_item_usage_start_date";
pub const ACCOUNT: &str = "line_item_usage_account_id";
pub const PRODUCT_CODE: &str = "line_item_product_code";
pub const PRINCIPAL: &str = "line_item_iam_principal";
pub const RESOURCE_ID: &str = "line_item_resource_id";
pub const OPERATION: &str = "line_item_operation";
pub const LINE_ITEM_TYPE: &str = "line_item_line_item_type";
pub const USAGE_AMOUNT: &str = "line_item_usage_amount";
pub const BILLING_ENTITY: &str = "bill_billing_entity";
pub const PRODUCT: &str = "product";

/// The columns without which no row can be attributed or reconciled.
pub const REQUIRED: [&str; 5] = [USAGE_TYPE, COST, USAGE_START, ACCOUNT, PRODUCT_CODE];

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the file has no {0} column, which is required")]
    MissingColumn(&'static str),
    #[error("row {row}: {column} {value:?} is not valid: {reason}")]
    BadValue { row: u64, column: &'static str, value: String, reason: String },
    #[error("not a readable CUR CSV file: {0}")]
    Malformed(String),
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub rows: u64,
    pub principal_column: bool,
}

struct Columns {
    required: [usize; 5],
    principal: Option<usize>,
    resource: Option<usize>,
    operation: Option<usize>,
    line_item_type: Option<usize>,
    usage_amount: Option<usize>,
    billing_entity: Option<usize>,
    product: Option<usize>,
}

impl Columns {
    fn locate(header: &csv::StringRecord) -> Result<Self, ReadError> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let mut required = [0; 5];
        for (slot, name) in required.iter_mut().zip(REQUIRED) {
            *slot = find(name).ok_or(ReadError::MissingColumn(name))?;
        }
        Ok(Self {
            required,
            principal: find(PRINCIPAL),
            resource: find(RESOURCE_ID),
            operation: find(OPERATION),
            line_item_type: find(LINE_ITEM_TYPE),
            usage_amount: find(USAGE_AMOUNT),
            billing_entity: find(BILLING_ENTITY),
            product: find(PRODUCT),
        })
    }
}

fn decimal(row: u64, column: &'static str, raw: &str) -> Result<Decimal, ReadError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(Decimal::ZERO);
    }
    Decimal::from_str(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|e| ReadError::BadValue { row, column, value: raw.to_owned(), reason: e.to_string() })
}

/// CUR writes timestamps as `2026-03-02T00:00:00Z`, `2026-03-02T00:00:00.000Z` or
/// `2026-03-02 00:00:00.000`; usage days are UTC.
fn usage_day(row: u64, raw: &str) -> Result<NaiveDate, ReadError> {
    let t = raw.trim();
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.naive_utc().date())
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").map(|d| d.date()))
        .or_else(|_| NaiveDate::parse_from_str(t, "%Y-%m-%d"))
        .map_err(|_| ReadError::BadValue { row, column: USAGE_START, value: raw.to_owned(), reason: "not a timestamp".into() })
}

/// A CSV map column is JSON (`{"product_name":"Amazon Bedrock",…}`).
fn map_value(raw: &str, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    v.get(key)?.as_str().map(String::from)
}

/// Reads a CUR CSV (gzip-compressed or not, detected from its first bytes),
/// handing each row to `on_row`.
pub fn read_csv<R: Read>(input: R, mut on_row: impl FnMut(CurRow)) -> Result<ReadStats, ReadError> {
    let mut buffered = BufReader::new(input);
    let gz = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let source: Box<dyn Read> = if gz { Box::new(flate2::bufread::MultiGzDecoder::new(buffered)) } else { Box::new(buffered) };
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(source);
    let header = reader.headers().map_err(|e| ReadError::Malformed(e.to_string()))?.clone();
    let cols = Columns::locate(&header)?;
    let mut stats = ReadStats { rows: 0, principal_column: cols.principal.is_some() };
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ReadError::Malformed(e.to_string())),
        }
        let n = stats.rows + 1;
        let get = |i: usize| record.get(i).unwrap_or("");
        let opt = |i: Option<usize>| i.map(|i| get(i).to_owned());
        let [ut, cost, start, account, product_code] = cols.required;
        let account = AccountId::parse(get(account).trim())
            .map_err(|e| ReadError::BadValue { row: n, column: ACCOUNT, value: get(account).to_owned(), reason: e.rule })?;
        on_row(CurRow {
            usage_day: usage_day(n, get(start))?,
            account,
            product_code: get(product_code).to_owned(),
            billing_entity: opt(cols.billing_entity).unwrap_or_else(|| "AWS".into()),
            product_name: cols.product.and_then(|i| map_value(get(i), "product_name")).unwrap_or_default(),
            usage_type: get(ut).to_owned(),
            operation: opt(cols.operation).unwrap_or_default(),
            line_item_type: opt(cols.line_item_type).filter(|t| !t.is_empty()).unwrap_or_else(|| "Usage".into()),
            resource_id: opt(cols.resource).filter(|r| !r.is_empty()),
            principal: opt(cols.principal),
            workspace: None,
            usage_amount: cols.usage_amount.map(|i| decimal(n, USAGE_AMOUNT, get(i))).transpose()?.unwrap_or_default(),
            cost: decimal(n, COST, get(cost))?,
        });
        stats.rows = n;
    }
    Ok(stats)
}
