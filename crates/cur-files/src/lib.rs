//! CUR 2.0 files as AWS Data Exports delivers them (Parquet, CSV, CSV.gz), read
//! straight into `Facts`.
//!
//! Only the columns attribution needs are read (projection), a row group or a
//! CSV record at a time, so a file of any size is read in bounded memory. A file
//! missing a truly required column (usage type, cost, usage start date, account,
//! product code) is refused before any row is read, naming the column; a file
//! without `line_item_iam_principal` is valid (attribution was not enabled on
//! the export) and its rows carry no principal.
//!
//! Readers return the whole source object's `Facts` or an error, never part of
//! it: a caller stores a source's facts only when its read succeeded, so a
//! malformed file stores nothing.

pub mod csv_reader;
pub mod generate;
pub mod parquet_reader;
pub mod replay;
mod values;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::cur::bases;
use domain::cur::facts::Facts;

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
pub const RESOURCE_TAGS: &str = "resource_tags";
pub const PAYER: &str = "bill_payer_account_id";

/// The columns without which no row can be attributed or reconciled.
pub const REQUIRED: [&str; 5] = [USAGE_TYPE, COST, USAGE_START, ACCOUNT, PRODUCT_CODE];

/// Every column the readers look at (the Parquet projection): what
/// attribution needs, then the other cost bases' columns
/// ([`domain::cur::bases`]), each optional.
pub const READ_COLUMNS: [&str; 23] = [
    USAGE_TYPE, COST, USAGE_START, ACCOUNT, PRODUCT_CODE, PRINCIPAL, RESOURCE_ID, OPERATION, LINE_ITEM_TYPE, USAGE_AMOUNT,
    BILLING_ENTITY, PRODUCT, RESOURCE_TAGS, bases::NET_COST, bases::LIST_COST, bases::SP_EFFECTIVE_COST, bases::RI_EFFECTIVE_COST,
    bases::SP_COMMITMENT_TO_DATE, bases::SP_USED_COMMITMENT, bases::RI_UNUSED_AMORTIZED_UPFRONT, bases::RI_UNUSED_RECURRING, bases::RI_ARN,
    PAYER,
];

/// Marks the bases whose columns a file lacks as missing, naming the first
/// absent column: `has` says whether the file has a column.
pub fn mark_missing_bases(facts: &mut Facts, has: impl Fn(&str) -> bool) {
    use domain::cur::bases::{BasisSums, CostBasis};
    for (basis, sums) in [(CostBasis::Net, &mut facts.net), (CostBasis::Amortized, &mut facts.amortized)] {
        if let Some(c) = basis.columns().iter().find(|c| !has(c)) {
            *sums = BasisSums::missing(*c);
        }
    }
}

/// The `resource_tags` key that names a Claude Platform workspace on a CCU
/// row: the tag the Cloud Engineer's task writes ([`domain::cur::WORKSPACE_TAG`]).
pub const WORKSPACE_TAG_KEYS: [&str; 1] = [domain::cur::WORKSPACE_CUR_KEY];

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the file has no {0} column, which is required")]
    MissingColumn(&'static str),
    #[error("column {column} has type {found}, expected {expected}")]
    WrongType { column: &'static str, found: String, expected: &'static str },
    #[error("row {row}: {column} {value:?} is not valid: {reason}")]
    BadValue { row: u64, column: &'static str, value: String, reason: String },
    #[error("not a readable CUR {format} file: {reason}")]
    Malformed { format: &'static str, reason: String },
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub rows: u64,
    pub principal_column: bool,
}

/// The formats a CUR object comes in, told from its first bytes (not its name:
/// Data Exports names are not a contract, magic numbers are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    /// Plain or gzip-compressed CSV.
    Csv,
}

impl Format {
    pub fn sniff(first_bytes: &[u8]) -> Format {
        if first_bytes.starts_with(b"PAR1") {
            Format::Parquet
        } else {
            Format::Csv
        }
    }
}

/// Rows read so far and rows expected (0 when unknown: CSV), for a progress
/// display on another thread.
#[derive(Debug, Default)]
pub struct Progress {
    pub rows: AtomicU64,
    pub total: AtomicU64,
}

/// Reads one CUR file from disk, Parquet with `threads` decoding row groups in
/// parallel.
pub fn read_path(path: &Path, threads: usize) -> Result<(Facts, ReadStats), ReadError> {
    read_path_with_progress(path, threads, &Progress::default())
}

pub fn read_path_with_progress(path: &Path, threads: usize, progress: &Progress) -> Result<(Facts, ReadStats), ReadError> {
    let mut head = [0u8; 4];
    let n = File::open(path)?.read(&mut head)?;
    match Format::sniff(&head[..n]) {
        Format::Parquet => parquet_reader::read_file(path, threads, progress),
        Format::Csv => {
            let (facts, stats) = csv_reader::read_facts(BufReader::new(File::open(path)?))?;
            progress.rows.fetch_add(stats.rows, Ordering::Relaxed);
            Ok((facts, stats))
        }
    }
}
