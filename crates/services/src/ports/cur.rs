//! Where CUR objects are read from: S3 in AWS (`cur-s3`), the local disk in the
//! CLI. A delivery (a Data Exports manifest) names its files by location; the
//! service asks each file's version first, so a file a delivery already stored
//! is not read again.

use async_trait::async_trait;
use domain::cur::facts::Facts;

/// One CUR object read into facts.
#[derive(Debug, Clone)]
pub struct CurRead {
    pub facts: Facts,
    pub rows: u64,
    pub principal_column: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurSourceError {
    /// The object is not a readable CUR file (named column, row or format):
    /// retrying will not help.
    #[error("{location}: {reason}")]
    Unreadable { location: String, reason: String },
    /// Network or throttling: a retry may succeed.
    #[error("{location}: {reason}")]
    Unavailable { location: String, reason: String },
}

#[async_trait]
pub trait CurSource: Send + Sync {
    /// The object's current version (S3's ETag; a local file's size and
    /// modification time), or `None` when it does not exist (yet).
    async fn version(&self, location: &str) -> Result<Option<String>, CurSourceError>;

    /// The whole object's facts, or an error: never part of a file.
    async fn read(&self, location: &str) -> Result<CurRead, CurSourceError>;
}
