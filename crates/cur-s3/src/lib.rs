//! CUR objects in S3, read the way their format allows: Parquet with ranged
//! GETs (the footer first, then only the projected column chunks of one row
//! group at a time, so a Lambda with 256 MB reads a file of any size), CSV and
//! CSV.gz streamed through the record reader.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_s3::Client;
use bytes::Bytes;
use cur_files::{Format, ReadError, ReadStats};
use domain::cur::delivery::is_manifest_key;
use domain::cur::facts::Facts;
use domain::BillingPeriod;
use services::ports::cur::{CurRead, CurSource, CurSourceError};
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

/// Bytes fetched with the first metadata request: a CUR footer with 127
/// columns and a few dozen row groups fits.
const FOOTER_HINT: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CurObjectError {
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    #[error("s3://{bucket}/{key}: S3 said {reason}")]
    S3 { bucket: String, key: String, reason: String },
    #[error("s3://{bucket}/{key}: {source}")]
    Read { bucket: String, key: String, source: ReadError },
}

impl CurObjectError {
    /// A retry may succeed (throttling, network): the Lambda fails the event so
    /// EventBridge retries it; a bad file is not retried into the DLQ forever.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CurObjectError::S3 { .. })
    }
}

/// What was read, and how many bytes it took (less than the object when
/// projection skipped columns).
#[derive(Debug, Clone)]
pub struct ObjectRead {
    pub facts: Facts,
    pub stats: ReadStats,
    pub size: u64,
    pub fetched: u64,
}

#[derive(Clone)]
pub struct S3Cur {
    client: Client,
}

impl S3Cur {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub async fn read(&self, bucket: &str, key: &str) -> Result<ObjectRead, CurObjectError> {
        let err = |reason: String| CurObjectError::S3 { bucket: bucket.into(), key: key.into(), reason };
        let head = self.client.head_object().bucket(bucket).key(key).send().await.map_err(|e| match e.as_service_error() {
            Some(s) if s.is_not_found() => CurObjectError::NotFound { bucket: bucket.into(), key: key.into() },
            _ => err(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()),
        })?;
        let size = u64::try_from(head.content_length().unwrap_or(0)).unwrap_or(0);
        let object = RangedObject { client: self.client.clone(), bucket: bucket.into(), key: key.into(), size, fetched: Arc::new(AtomicU64::new(0)) };
        let read_err = |source| CurObjectError::Read { bucket: bucket.into(), key: key.into(), source };
        let first = if size == 0 { Bytes::new() } else { object.fetch(0..size.min(4)).await.map_err(|e| err(e.to_string()))? };
        let (facts, stats) = match Format::sniff(&first) {
            Format::Parquet => cur_files::parquet_reader::read_async(object.clone()).await.map_err(read_err)?,
            Format::Csv => {
                let body = self.client.get_object().bucket(bucket).key(key).send().await.map_err(|e| err(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
                object.fetched.fetch_add(size, Ordering::Relaxed);
                let reader = tokio_util::io::SyncIoBridge::new(body.body.into_async_read());
                tokio::task::spawn_blocking(move || cur_files::csv_reader::read_facts(reader))
                    .await
                    .map_err(|e| err(format!("reader stopped: {e}")))?
                    .map_err(read_err)?
            }
        };
        Ok(ObjectRead { facts, stats, size, fetched: object.fetched.load(Ordering::Relaxed) })
    }
}

/// `s3://bucket/key` as (bucket, key).
pub fn split_location(location: &str) -> Option<(&str, &str)> {
    location.strip_prefix("s3://")?.split_once('/').filter(|(b, k)| !b.is_empty() && !k.is_empty())
}

/// The biggest manifest read: Data Exports' list a few hundred parts at most.
const MANIFEST_MAX: i64 = 16 * 1024 * 1024;

impl S3Cur {
    /// The newest Data Exports manifest of each export under `prefix` for
    /// `period` (an export's refreshes rewrite its manifest; a prefix can hold
    /// several exports), for the nightly reconciler to catch a delivery whose
    /// notification was lost.
    pub async fn latest_manifests(&self, bucket: &str, prefix: &str, period: BillingPeriod) -> Result<Vec<String>, CurObjectError> {
        let err = |reason: String| CurObjectError::S3 { bucket: bucket.into(), key: prefix.into(), reason };
        let marker = format!("BILLING_PERIOD={period}/");
        let mut newest: std::collections::BTreeMap<String, (aws_sdk_s3::primitives::DateTime, String)> = Default::default();
        let mut pages = self.client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                if !is_manifest_key(key) || !key.contains(&marker) {
                    continue;
                }
                // The export: everything before its metadata folder.
                let export = key.split("/metadata/").next().unwrap_or(key).to_owned();
                let at = o.last_modified().copied().unwrap_or_else(|| aws_sdk_s3::primitives::DateTime::from_secs(0));
                if newest.get(&export).is_none_or(|(t, _)| at.secs() >= t.secs()) {
                    newest.insert(export, (at, key.to_owned()));
                }
            }
        }
        Ok(newest.into_values().map(|(_, k)| k).collect())
    }

    /// A Data Exports manifest's text.
    pub async fn manifest(&self, bucket: &str, key: &str) -> Result<String, CurObjectError> {
        let err = |reason: String| CurObjectError::S3 { bucket: bucket.into(), key: key.into(), reason };
        let out = self.client.get_object().bucket(bucket).key(key).send().await.map_err(|e| match e.as_service_error() {
            Some(s) if s.is_no_such_key() => CurObjectError::NotFound { bucket: bucket.into(), key: key.into() },
            _ => err(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()),
        })?;
        if out.content_length().unwrap_or(0) > MANIFEST_MAX {
            return Err(CurObjectError::Read { bucket: bucket.into(), key: key.into(), source: ReadError::Malformed { format: "manifest", reason: format!("larger than {MANIFEST_MAX} bytes") } });
        }
        let bytes = out.body.collect().await.map_err(|e| err(e.to_string()))?.into_bytes();
        String::from_utf8(bytes.to_vec()).map_err(|e| CurObjectError::Read { bucket: bucket.into(), key: key.into(), source: ReadError::Malformed { format: "manifest", reason: e.to_string() } })
    }
}

fn source_error(location: &str, e: CurObjectError) -> CurSourceError {
    if e.is_retryable() {
        CurSourceError::Unavailable { location: location.into(), reason: e.to_string() }
    } else {
        CurSourceError::Unreadable { location: location.into(), reason: e.to_string() }
    }
}

/// S3 as the CUR source of deliveries: a version is the object's ETag.
#[async_trait::async_trait]
impl CurSource for S3Cur {
    async fn version(&self, location: &str) -> Result<Option<String>, CurSourceError> {
        let (bucket, key) = split_location(location).ok_or_else(|| CurSourceError::Unreadable { location: location.into(), reason: "is not s3://bucket/key".into() })?;
        match self.client.head_object().bucket(bucket).key(key).send().await {
            Ok(h) => Ok(Some(h.e_tag().unwrap_or_default().trim_matches('"').to_owned())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(CurSourceError::Unavailable { location: location.into(), reason: aws_sdk_s3::error::DisplayErrorContext(&e).to_string() }),
        }
    }

    async fn read(&self, location: &str) -> Result<CurRead, CurSourceError> {
        let (bucket, key) = split_location(location).ok_or_else(|| CurSourceError::Unreadable { location: location.into(), reason: "is not s3://bucket/key".into() })?;
        let r = S3Cur::read(self, bucket, key).await.map_err(|e| source_error(location, e))?;
        Ok(CurRead { facts: r.facts, rows: r.stats.rows, principal_column: r.stats.principal_column })
    }
}

/// One S3 object as Parquet's async reader sees it: byte ranges on demand.
#[derive(Clone)]
struct RangedObject {
    client: Client,
    bucket: String,
    key: String,
    size: u64,
    fetched: Arc<AtomicU64>,
}

impl RangedObject {
    async fn fetch(&self, range: Range<u64>) -> Result<Bytes, ParquetError> {
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| ParquetError::External(Box::new(std::io::Error::other(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))))?;
        let bytes = out.body.collect().await.map_err(|e| ParquetError::External(Box::new(e)))?.into_bytes();
        if bytes.len() as u64 != range.end - range.start {
            return Err(ParquetError::General(format!("asked S3 for {} bytes at {}, got {}", range.end - range.start, range.start, bytes.len())));
        }
        self.fetched.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }
}

impl AsyncFileReader for RangedObject {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        Box::pin(async move { self.fetch(range).await })
    }

    fn get_metadata<'a>(&'a mut self, _options: Option<&'a ArrowReaderOptions>) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let size = self.size;
            let meta = ParquetMetaDataReader::new().with_prefetch_hint(Some(FOOTER_HINT)).load_and_finish(self, size).await?;
            Ok(Arc::new(meta))
        })
    }
}
