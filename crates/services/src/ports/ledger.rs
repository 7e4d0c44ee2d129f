//! The fact ledger: each CUR source object's facts, and each invocation-log
//! object's hourly usage, as one columnar object (Parquet), in S3 in AWS and
//! under `FINOPS_HOME/facts/` locally.
//!
//! The store keeps only the manifest that points at an object
//! (`governance::ledger`); bulk facts never go into DynamoDB or redb. Objects
//! are immutable: every write goes to a fresh key (a new generation), so a
//! reader holding an older manifest reads whole old facts or, once the old
//! object is deleted, gets `NotFound` and re-reads the manifest. Adapters keep
//! one semantics, proven by the contract suite (`contract-tests::ledger_suite`).

use async_trait::async_trait;
use domain::cur::facts::Facts;
use domain::invocations::{UsageFacts, UsageTable};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// No object at that key (deleted after a newer generation replaced it, or
    /// never written).
    #[error("fact object {0} does not exist")]
    NotFound(String),
    /// The object exists but is not a fact file this adapter wrote.
    #[error("fact object {key} is not readable: {reason}")]
    Corrupt { key: String, reason: String },
    /// A key that is not a relative path of plain segments.
    #[error("fact object key {key:?} is not valid: {reason}")]
    BadKey { key: String, reason: String },
    /// The facts hold a value the columnar format cannot carry exactly.
    #[error("facts cannot be written exactly: {0}")]
    Unrepresentable(String),
    /// Network, throttling or disk: a retry may succeed.
    #[error("the fact ledger is unavailable: {0}")]
    Unavailable(String),
    /// Missing bucket, access denied, unwritable folder: configuration.
    #[error("the fact ledger is not configured: {0}")]
    NotConfigured(String),
}

impl LedgerError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, LedgerError::Unavailable(_))
    }
}

/// What a write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub key: String,
    pub bytes: u64,
    /// SHA-256 of the object's bytes, hex. The encoding is canonical (facts in
    /// key order), so equal facts give equal digests however they were read.
    pub digest: String,
}

#[async_trait]
pub trait FactLedger: Send + Sync {
    /// Writes `facts` (their AI facts; totals belong to the manifest) as one
    /// object at `key`, replacing nothing a reader may hold: callers pass a key
    /// with a fresh generation. Errors: `BadKey`, `Unrepresentable`,
    /// `Unavailable`, `NotConfigured`.
    async fn write(&self, key: &str, facts: &Facts) -> Result<Written, LedgerError>;

    /// The object's facts, whole. Errors: `NotFound`, `Corrupt`, `BadKey`,
    /// `Unavailable`, `NotConfigured`.
    async fn read(&self, key: &str) -> Result<Facts, LedgerError>;

    /// Writes hourly usage facts (from invocation logs) as one object at
    /// `key`, as `write` does for CUR facts. Same errors.
    async fn write_usage(&self, key: &str, facts: &UsageFacts) -> Result<Written, LedgerError>;

    /// An object of usage facts, whole, as a table (each caller and model
    /// once; `UsageTable::to_facts` keys it). Same errors as `read`; an object
    /// of CUR facts is `Corrupt` here, and the other way round.
    async fn read_usage(&self, key: &str) -> Result<UsageTable, LedgerError>;

    /// Writes an export table (the FOCUS export) as one Parquet object at
    /// `key`, replacing what is there: an export is rewritten whole, and a
    /// reader sees the old object or the new. Errors: `BadKey`,
    /// `Unrepresentable`, `Unavailable`, `NotConfigured`.
    async fn write_table(&self, key: &str, table: &domain::exports::Table) -> Result<Written, LedgerError>;

    /// Deletes the object; deleting one that is already gone succeeds, so a
    /// retried clean-up is harmless.
    async fn delete(&self, key: &str) -> Result<(), LedgerError>;

    /// Every object key under `prefix` (a folder of the key space), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError>;
}

/// Checks a ledger key: relative, `/`-separated, no empty, `.` or `..`
/// segment, no backslash or control character. One rule for both adapters, so
/// a key the local ledger takes is one S3 takes and the other way round.
pub fn check_key(key: &str) -> Result<(), LedgerError> {
    let bad = |reason: &str| Err(LedgerError::BadKey { key: key.to_owned(), reason: reason.to_owned() });
    if key.is_empty() || key.len() > 1024 {
        return bad("must be 1 to 1024 bytes");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return bad("must not hold control characters or backslashes");
    }
    if key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return bad("must be relative, with no empty, '.' or '..' segment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_plain_paths() {
        assert!(check_key("facts/period=2026-03/source=ab/gen=1.parquet").is_ok());
        for bad in ["", "/abs", "a//b", "a/../b", "./a", "a/", "a\\b", "a\nb"] {
            assert!(matches!(check_key(bad), Err(LedgerError::BadKey { .. })), "{bad:?}");
        }
    }
}
