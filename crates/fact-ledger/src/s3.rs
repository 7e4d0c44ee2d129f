//! The ledger in S3: `s3://bucket/<key>`, the stack's encrypted ledger bucket
//! (`FINOPS_LEDGER_BUCKET`). Objects are written whole with one PutObject, so
//! S3's strong read-after-write consistency gives readers the object or
//! nothing.

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use domain::cur::facts::Facts;
use domain::invocations::{UsageFacts, UsageTable};
use services::ports::ledger::{check_key, FactLedger, LedgerError, Written};

#[derive(Debug, Clone)]
pub struct S3Ledger {
    client: Client,
    bucket: String,
}

impl S3Ledger {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Ledger { client, bucket: bucket.into() }
    }
}

/// One mapping of S3's errors: a missing bucket or a denied call is
/// configuration; throttling, 5xx and the network are worth a retry.
fn map_err<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(what: &str, e: SdkError<E, R>) -> LedgerError {
    let code = e.code().unwrap_or_default().to_owned();
    let message = format!("{what}: {} {}", code, e.message().unwrap_or_default());
    match &e {
        SdkError::ServiceError(_) if matches!(code.as_str(), "NoSuchBucket" | "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AllAccessDisabled") => {
            LedgerError::NotConfigured(message)
        }
        SdkError::ServiceError(_) => LedgerError::Unavailable(message),
        _ => LedgerError::Unavailable(format!("{what}: {e:?}")),
    }
}

impl S3Ledger {
    /// Every write: the key checked before anything is encoded, then the
    /// encoded file stored and described by its size and digest.
    async fn put_encoded(&self, key: &str, encode: impl FnOnce() -> Result<(Vec<u8>, String), LedgerError>) -> Result<Written, LedgerError> {
        check_key(key)?;
        let (bytes, digest) = encode()?;
        let out = super::written(key, &bytes, digest);
        self.put(key, bytes).await?;
        Ok(out)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), LedgerError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/vnd.apache.parquet")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| map_err(&format!("writing s3://{}/{key}", self.bucket), e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<bytes::Bytes, LedgerError> {
        check_key(key)?;
        let got = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Err(LedgerError::NotFound(key.to_owned())),
            Err(e) => return Err(map_err(&format!("reading s3://{}/{key}", self.bucket), e)),
        };
        Ok(got.body.collect().await.map_err(|e| LedgerError::Unavailable(format!("reading s3://{}/{key}: {e}", self.bucket)))?.into_bytes())
    }
}

#[async_trait]
impl FactLedger for S3Ledger {
    async fn write(&self, key: &str, facts: &Facts) -> Result<Written, LedgerError> {
        self.put_encoded(key, || super::encode(key, facts)).await
    }

    async fn read(&self, key: &str) -> Result<Facts, LedgerError> {
        let bytes = self.get(key).await?;
        super::decode(key, bytes).await
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
        check_key(key)?;
        // S3's DeleteObject succeeds on a missing key: idempotent as the port asks.
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(|e| map_err(&format!("deleting s3://{}/{key}", self.bucket), e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        check_key(prefix.trim_end_matches('/'))?;
        let folder = format!("{}/", prefix.trim_end_matches('/'));
        let mut out = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&folder).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_err(&format!("listing s3://{}/{folder}", self.bucket), e))?;
            out.extend(page.contents().iter().filter_map(|o| o.key().map(String::from)));
        }
        out.sort();
        Ok(out)
    }
}
