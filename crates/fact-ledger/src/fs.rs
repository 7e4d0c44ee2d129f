//! The ledger in a local folder (`FINOPS_HOME`): `facts/…` keys are paths
//! under it. A write goes to a temporary file in the same folder and is
//! renamed into place, so a reader never sees half an object.

use std::fs::File;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use domain::cur::facts::Facts;
use domain::invocations::{UsageFacts, UsageTable};
use services::ports::ledger::{check_key, FactLedger, LedgerError, Written};

#[derive(Debug, Clone)]
pub struct FsLedger {
    root: PathBuf,
}

impl FsLedger {
    /// A ledger rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsLedger { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, LedgerError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> LedgerError {
    match e.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => LedgerError::NotConfigured(format!("{what} {}: {e}", path.display())),
        _ => LedgerError::Unavailable(format!("{what} {}: {e}", path.display())),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, LedgerError> + Send + 'static) -> Result<T, LedgerError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| LedgerError::Unavailable(e.to_string()))?
}

/// A failed read of `key`'s object: absent is `NotFound`, anything else an
/// I/O error naming the file.
fn read_error(key: String, path: &Path, e: std::io::Error) -> LedgerError {
    if e.kind() == ErrorKind::NotFound {
        LedgerError::NotFound(key)
    } else {
        io_error("reading", path, e)
    }
}

/// Writes `path` through a temporary file in the same folder, renamed into
/// place once `fill` has written it all and it is flushed: a reader never
/// sees half an object, and a failed write leaves nothing behind.
fn write_atomically<T>(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
    let dir = path.parent().ok_or_else(|| LedgerError::BadKey { key: path.display().to_string(), reason: "has no folder".into() })?;
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    let written = (|| {
        let mut file = BufWriter::new(File::create(&tmp).map_err(|e| io_error("writing", &tmp, e))?);
        let out = fill(&mut file)?;
        file.into_inner().map_err(|e| io_error("writing", &tmp, e.into_error()))?;
        std::fs::rename(&tmp, path).map_err(|e| io_error("renaming into", path, e))?;
        Ok(out)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

impl FsLedger {
    /// Every write: the key checked before anything is encoded, then the
    /// encoded file stored and described by its size and digest.
    async fn put_encoded(&self, key: &str, encode: impl FnOnce() -> Result<(Vec<u8>, String), LedgerError>) -> Result<Written, LedgerError> {
        self.path(key)?;
        let (bytes, digest) = encode()?;
        let out = super::written(key, &bytes, digest);
        self.put(key, bytes).await?;
        Ok(out)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), LedgerError> {
        let path = self.path(key)?;
        blocking(move || write_atomically(&path, |f| f.write_all(&bytes).map_err(|e| io_error("writing", &path, e)))).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, LedgerError> {
        let path = self.path(key)?;
        let k = key.to_owned();
        let bytes = blocking(move || std::fs::read(&path).map_err(|e| read_error(k, &path, e))).await?;
        Ok(Bytes::from(bytes))
    }
}

#[async_trait]
impl FactLedger for FsLedger {
    /// Encoded straight into the temporary file, hashed as it goes: a large
    /// month's object (tens of MB) is never held in memory beside its facts.
    /// The write runs on the calling task, as the encode does (see
    /// `super::encode`): the facts are borrowed, and the caller has nothing
    /// else to run meanwhile.
    async fn write(&self, key: &str, facts: &Facts) -> Result<Written, LedgerError> {
        let path = self.path(key)?;
        let (bytes, digest) = write_atomically(&path, |f| {
            let mut out = super::Hashing::new(f);
            super::codec::encode_to(facts, &mut out).map_err(|e| LedgerError::Unrepresentable(format!("{key}: {e}")))?;
            Ok(out.finish())
        })?;
        Ok(Written { key: key.to_owned(), bytes, digest })
    }

    /// Decoded from the file, page by page: the object is not read into
    /// memory whole before its facts are built.
    async fn read(&self, key: &str) -> Result<Facts, LedgerError> {
        let path = self.path(key)?;
        let k = key.to_owned();
        blocking(move || {
            let file = File::open(&path).map_err(|e| read_error(k.clone(), &path, e))?;
            super::codec::decode(file).map_err(|e| LedgerError::Corrupt { key: k, reason: e.to_string() })
        })
        .await
    }

    async fn write_usage(&self, key: &str, facts: &UsageFacts) -> Result<Written, LedgerError> {
        self.put_encoded(key, || super::encode_usage(key, facts)).await
    }

    async fn read_usage(&self, key: &str) -> Result<UsageTable, LedgerError> {
        let bytes = self.get(key).await?;
        super::decode_usage(key, bytes).await
    }

    async fn write_table(&self, key: &str, table: &domain::exports::Table) -> Result<Written, LedgerError> {
        self.put_encoded(key, || super::encode_table(key, table)).await
    }

    async fn delete(&self, key: &str) -> Result<(), LedgerError> {
        let path = self.path(key)?;
        blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("deleting", &path, e)),
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        let start = self.path(prefix.trim_end_matches('/'))?;
        let root = self.root.clone();
        blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![start];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::NotADirectory => continue,
                    Err(e) => return Err(io_error("listing", &dir, e)),
                };
                for entry in entries {
                    let entry = entry.map_err(|e| io_error("listing", &dir, e))?;
                    let path = entry.path();
                    let name = entry.file_name();
                    if name.to_string_lossy().starts_with('.') {
                        continue; // a write in progress
                    }
                    if entry.file_type().map_err(|e| io_error("listing", &path, e))?.is_dir() {
                        stack.push(path);
                    } else if let Ok(rel) = path.strip_prefix(&root) {
                        out.push(rel.to_string_lossy().replace('\\', "/"));
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
    }
}
