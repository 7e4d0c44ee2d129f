//! The fact ledger's adapters (`services::ports::ledger::FactLedger`): one
//! Parquet object per CUR source generation (and per invocation-log object's
//! hourly usage, `usage_codec`), on the local filesystem
//! (`FINOPS_HOME/facts/…`) or in the stack's S3 bucket. Both use `codec`, so
//! they hold byte-identical objects for the same facts, and both pass the one
//! contract suite (`contract-tests::ledger_suite`).

pub mod codec;
pub mod usage_codec;
mod fs;
mod s3;

pub use fs::FsLedger;
pub use s3::S3Ledger;

use bytes::Bytes;
use domain::cur::facts::Facts;
use domain::invocations::{UsageFacts, UsageTable};
use services::ports::ledger::{LedgerError, Written};
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes on the calling task: handing the facts to a blocking thread would
/// need a copy of them, which is the memory a large month cannot spare. The
/// callers (one ingest per CLI run or Lambda invocation) have nothing else to
/// run meanwhile.
fn encode(key: &str, facts: &Facts) -> Result<(Vec<u8>, String), LedgerError> {
    let bytes = codec::encode(facts).map_err(|e| LedgerError::Unrepresentable(format!("{key}: {e}")))?;
    let digest = hex(&Sha256::digest(&bytes));
    Ok((bytes, digest))
}

async fn decode(key: &str, bytes: Bytes) -> Result<Facts, LedgerError> {
    let k = key.to_owned();
    tokio::task::spawn_blocking(move || codec::decode(bytes))
        .await
        .map_err(|e| LedgerError::Unavailable(format!("decoding {k}: {e}")))?
        .map_err(|e| LedgerError::Corrupt { key: key.to_owned(), reason: e.to_string() })
}

fn encode_table(key: &str, table: &domain::exports::Table) -> Result<(Vec<u8>, String), LedgerError> {
    let bytes = export_files::write(table, export_files::FileFormat::Parquet).map_err(|e| LedgerError::Unrepresentable(format!("{key}: {e}")))?;
    let digest = hex(&Sha256::digest(&bytes));
    Ok((bytes, digest))
}

fn encode_usage(key: &str, facts: &UsageFacts) -> Result<(Vec<u8>, String), LedgerError> {
    let bytes = usage_codec::encode(facts).map_err(|e| LedgerError::Unrepresentable(format!("{key}: {e}")))?;
    let digest = hex(&Sha256::digest(&bytes));
    Ok((bytes, digest))
}

async fn decode_usage(key: &str, bytes: Bytes) -> Result<UsageTable, LedgerError> {
    let k = key.to_owned();
    tokio::task::spawn_blocking(move || usage_codec::decode_table(bytes))
        .await
        .map_err(|e| LedgerError::Unavailable(format!("decoding {k}: {e}")))?
        .map_err(|e| LedgerError::Corrupt { key: key.to_owned(), reason: e.to_string() })
}

/// A writer that counts and hashes what passes through it, so an object
/// written straight to its destination is still described by its size and
/// SHA-256 digest.
struct Hashing<W: std::io::Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: std::io::Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// The size and digest of what was written (the caller flushes).
    fn finish(self) -> (u64, String) {
        (self.bytes, hex(&self.hasher.finalize()))
    }
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn written(key: &str, bytes: &[u8], digest: String) -> Written {
    Written { key: key.to_owned(), bytes: bytes.len() as u64, digest }
}
