//! What the cur-ingest function does with one delivery.
//!
//! Data Exports writes `…/data/BILLING_PERIOD=YYYY-MM/<file>` under the
//! configured prefix (and rewrites a month's files several times a day until
//! it closes). Each object is one source: its facts replace whatever an earlier
//! delivery of the same key stored, and an unchanged re-delivery writes
//! nothing, so EventBridge's at-least-once delivery is harmless. Objects outside
//! the prefix or the data layout (manifests, metadata) are skipped, not failed.

use std::sync::Arc;

use cur_s3::{CurObjectError, S3Cur};
use domain::BillingPeriod;
use runtime_wiring::ObjectRef;
use serde_json::{json, Value};
use domain::cur::delivery::{is_manifest_key, Delivery};
use services::governance::{Governance, GovernanceError, SourceFacts};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("not an S3 object-created event: {0}")]
    NotAnObjectEvent(String),
    #[error(transparent)]
    Object(#[from] CurObjectError),
    #[error("storing facts: {0}")]
    Store(#[from] GovernanceError),
    #[error("backfill: {0}")]
    Backfill(String),
    /// A manifest that is not Data Exports' shape: not retried.
    #[error("manifest {0}")]
    Manifest(String),
}

/// Where the stack's CUR lives and which Athena table mirrors it, from the
/// template's variables: `FINOPS_CUR_LOCATION` (`s3://bucket/prefix/`, the
/// one parameter a user gives) or the older `FINOPS_CUR_PREFIX`, and
/// `FINOPS_CUR_TABLE` as `database.table` (or with `FINOPS_CUR_DATABASE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurConfig {
    pub bucket: Option<String>,
    pub prefix: String,
    /// `(database, table)`; `None` disables backfill.
    pub table: Option<(String, String)>,
}

impl CurConfig {
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |k: &str| var(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let (bucket, prefix) = match var("FINOPS_CUR_LOCATION") {
            Some(loc) => {
                let path = loc.strip_prefix("s3://").ok_or_else(|| format!("FINOPS_CUR_LOCATION {loc:?}: must be s3://bucket/prefix/"))?;
                let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
                if bucket.is_empty() || !(prefix.is_empty() || prefix.ends_with('/')) {
                    return Err(format!("FINOPS_CUR_LOCATION {loc:?}: must be s3://bucket/ or s3://bucket/prefix/ (ending in /)"));
                }
                (Some(bucket.to_owned()), prefix.to_owned())
            }
            None => (var("FINOPS_CUR_BUCKET"), var("FINOPS_CUR_PREFIX").unwrap_or_default()),
        };
        let table = match (var("FINOPS_CUR_DATABASE"), var("FINOPS_CUR_TABLE")) {
            (_, None) => None,
            (Some(db), Some(t)) => Some((db, t)),
            (None, Some(t)) => match t.split_once('.') {
                Some((db, table)) if !db.is_empty() && !table.is_empty() && !table.contains('.') => Some((db.to_owned(), table.to_owned())),
                _ => return Err(format!("FINOPS_CUR_TABLE {t:?}: must be database.table (e.g. cid_data_export.cur2)")),
            },
        };
        Ok(Self { bucket, prefix, table })
    }
}

/// The Athena side of the function: a past period's facts in one query.
pub struct Backfill {
    pub athena: cur_athena::AthenaCur,
    pub table: cur_athena::CurTable,
}

impl Backfill {
    /// The source name a backfilled period's facts are stored under.
    pub fn source(&self, period: BillingPeriod) -> String {
        format!("athena://{}.{}/BILLING_PERIOD={period}", self.table.database, self.table.table)
    }
}

/// `{"backfill": {"period": "YYYY-MM"}}` (an operator's invoke): the period's
/// facts from Athena, for months delivered before the stack existed. A period
/// that already has S3-delivered objects is refused: their facts and the
/// query's would count the same spend twice.
pub async fn backfill(gov: &Arc<Governance>, b: &Backfill, event: &Value) -> Result<Value, IngestError> {
    let raw = event["backfill"]["period"].as_str().ok_or_else(|| IngestError::Backfill("backfill.period (YYYY-MM) is required".into()))?;
    let period = BillingPeriod::parse(raw).map_err(|e| IngestError::Backfill(e.to_string()))?;
    let source = b.source(period);
    if let Some(s3) = gov.period_sources(period).await?.into_iter().find(|m| m.source != source) {
        return Err(IngestError::Backfill(format!("{period} already has delivered CUR ({}); a backfill would count it twice", s3.source)));
    }
    let facts = b.athena.backfill(&b.table, period).await.map_err(|e| IngestError::Backfill(e.to_string()))?;
    let rows = facts.ai_rows();
    let stored = gov.store_source_facts(SourceFacts { period, source: &source, facts: &facts, rows, principal_column: b.table.principal_column, version: None, delivery: None }).await?;
    Ok(json!({"backfill": source, "period": period, "ai_facts": facts.len(), "stored": stored}))
}

/// The objects of an EventBridge "Object Created" event or an S3 notification.
pub fn objects(event: &Value) -> Result<Vec<ObjectRef>, IngestError> {
    runtime_wiring::created_objects(event).map_err(IngestError::NotAnObjectEvent)
}

/// The billing period of a data object under `prefix`, or `None` for anything
/// else Data Exports writes (manifests, metadata, other exports).
pub fn data_period(prefix: &str, key: &str) -> Option<BillingPeriod> {
    let rest = key.strip_prefix(prefix)?;
    let name = rest.rsplit('/').next()?;
    if !(name.ends_with(".parquet") || name.ends_with(".csv") || name.ends_with(".csv.gz") || name.ends_with(".gz")) {
        return None;
    }
    rest.split('/').filter_map(|c| c.strip_prefix("BILLING_PERIOD=")).next_back().and_then(|p| BillingPeriod::parse(p).ok())
}

/// A delivery: its manifest names its files (AWS writes it last).
async fn ingest_manifest(gov: &Arc<Governance>, s3: &S3Cur, bucket: &str, key: &str) -> Result<Value, IngestError> {
    let location = format!("s3://{bucket}/{key}");
    let text = s3.manifest(bucket, key).await?;
    let d = Delivery::parse(&text).map_err(|e| IngestError::Manifest(format!("{location}: {e}")))?;
    let summary = gov.ingest_delivery(s3, &d).await?;
    tracing::info!(%location, execution = %d.execution, period = %d.period, stored = summary.stored.len(), skipped = summary.skipped, missing = summary.missing.len(), retired = summary.retired.len(), announced = summary.announced, "CUR delivery ingested");
    Ok(json!({"manifest": location, "delivery": summary}))
}

/// The nightly run (state is the truth, here too): the newest delivery of
/// each export for last month and this month, listed from the bucket and
/// ingested as if its notification had come. A delivery already stored is
/// skipped by its files' versions (nothing is read), so a night with nothing
/// missed changes nothing; one whose notification was lost is ingested.
/// Then both months' FOCUS exports are written to the ledger bucket, where
/// the Glue `focus` table reads them.
pub async fn reconcile(gov: &Arc<Governance>, s3: &S3Cur, bucket: &str, prefix: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Value, IngestError> {
    let this = BillingPeriod::of(now.date_naive());
    let mut done = Vec::new();
    for period in [this.previous(), this] {
        for key in s3.latest_manifests(bucket, prefix, period).await? {
            done.push(ingest_manifest(gov, s3, bucket, &key).await?);
        }
    }
    let mut exports = Vec::new();
    for period in [this.previous(), this] {
        if let Some(w) = gov.publish_focus_export(period).await? {
            tracing::info!(key = %w.key, bytes = w.bytes, "FOCUS export written");
            exports.push(w.key);
        }
    }
    Ok(json!({"reconciled": done, "focus_exports": exports}))
}

/// Everything the function is invoked with: a CUR object or manifest
/// (EventBridge or S3 notification), the nightly schedule, or an operator's
/// backfill.
pub async fn handle_any(gov: &Arc<Governance>, s3: &S3Cur, cur: &CurConfig, backfiller: Option<&Backfill>, event: &Value) -> Result<Value, IngestError> {
    let Some(now) = runtime_wiring::schedule_time(event) else {
        return handle_with(gov, s3, &cur.prefix, backfiller, event).await;
    };
    let bucket = cur.bucket.as_deref().ok_or_else(|| IngestError::NotAnObjectEvent("the nightly run needs the CUR bucket (FINOPS_CUR_LOCATION)".into()))?;
    reconcile(gov, s3, bucket, &cur.prefix, now).await
}

/// Handles one delivery: every CUR data object it names is read and stored.
pub async fn handle(gov: &Arc<Governance>, s3: &S3Cur, prefix: &str, event: &Value) -> Result<Value, IngestError> {
    handle_with(gov, s3, prefix, None, event).await
}

/// As `handle`, with the Athena backfill configured.
pub async fn handle_with(gov: &Arc<Governance>, s3: &S3Cur, prefix: &str, backfiller: Option<&Backfill>, event: &Value) -> Result<Value, IngestError> {
    if event.get("backfill").is_some() {
        let b = backfiller.ok_or_else(|| IngestError::Backfill("no Athena table configured (FINOPS_CUR_DATABASE, FINOPS_CUR_TABLE)".into()))?;
        return backfill(gov, b, event).await;
    }
    let mut done = Vec::new();
    for o in objects(event)? {
        let location = format!("s3://{}/{}", o.bucket, o.key);
        if o.key.starts_with(prefix) && is_manifest_key(&o.key) {
            done.push(ingest_manifest(gov, s3, &o.bucket, &o.key).await?);
            continue;
        }
        let Some(period) = data_period(prefix, &o.key) else {
            tracing::info!(bucket = %o.bucket, key = %o.key, "not a CUR data object under the prefix; skipped");
            done.push(json!({"object": location, "skipped": true}));
            continue;
        };
        let source = domain::cur::source::source_identity(&o.key, &location);
        let summary = gov.ingest_file(s3, &location, period, &source).await?;
        tracing::info!(%source, %period, stored = ?summary.stored, announced = summary.announced, "CUR object ingested");
        done.push(json!({"object": source, "period": period, "delivery": summary}));
    }
    Ok(json!({ "objects": done }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_location_and_table_come_from_one_variable_each() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        let c = CurConfig::from_env(env(&[("FINOPS_CUR_LOCATION", "s3://my-cur/exports/cur2/"), ("FINOPS_CUR_TABLE", "cid_data_export.cur2")])).unwrap();
        assert_eq!(c, CurConfig { bucket: Some("my-cur".into()), prefix: "exports/cur2/".into(), table: Some(("cid_data_export".into(), "cur2".into())) });
        let root = CurConfig::from_env(env(&[("FINOPS_CUR_LOCATION", "s3://my-cur"), ("FINOPS_CUR_TABLE", "")])).unwrap();
        assert_eq!((root.prefix.as_str(), root.table), ("", None));
        let old = CurConfig::from_env(env(&[("FINOPS_CUR_PREFIX", "cur2/"), ("FINOPS_CUR_DATABASE", "db"), ("FINOPS_CUR_TABLE", "t")])).unwrap();
        assert_eq!((old.prefix.as_str(), old.table), ("cur2/", Some(("db".into(), "t".into()))));
        for (k, v) in [("FINOPS_CUR_LOCATION", "my-cur/cur2/"), ("FINOPS_CUR_LOCATION", "s3://my-cur/cur2"), ("FINOPS_CUR_TABLE", "cur2"), ("FINOPS_CUR_TABLE", "a.b.c")] {
            let e = CurConfig::from_env(|n: &str| (n == k).then(|| v.to_owned())).unwrap_err();
            assert!(e.contains(k) && e.contains(v), "{e}");
        }
    }

    #[test]
    fn only_data_objects_under_the_prefix_have_a_period() {
        let p = "cur2/";
        assert_eq!(data_period(p, "cur2/finops/data/BILLING_PERIOD=2026-03/finops-00001.snappy.parquet").map(|b| b.to_string()), Some("2026-03".into()));
        assert_eq!(data_period(p, "cur2/finops/data/BILLING_PERIOD=2026-03/part-0.csv.gz").map(|b| b.to_string()), Some("2026-03".into()));
        assert_eq!(data_period(p, "cur2/finops/metadata/BILLING_PERIOD=2026-03/finops-Manifest.json"), None);
        assert_eq!(data_period(p, "other/data/BILLING_PERIOD=2026-03/x.parquet"), None);
        assert_eq!(data_period(p, "cur2/finops/data/BILLING_PERIOD=2026-13/x.parquet"), None);
    }

    #[test]
    fn both_event_shapes_name_their_objects() {
        let sample = |name: &str| serde_json::from_str::<Value>(&std::fs::read_to_string(format!("{}/../../events/cur-ingest/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()).unwrap();
        let eb = objects(&sample("object-created.json")).unwrap();
        assert_eq!(eb.len(), 1);
        assert!(eb[0].key.contains("BILLING_PERIOD=") && !eb[0].key.contains('%'), "{eb:?}");
        let n = objects(&sample("s3-notification.json")).unwrap();
        assert_eq!(n[0].key, "cur2/finops/data/BILLING_PERIOD=2026-02/finops-00001.snappy.parquet", "the notification's key is decoded");
        let err = objects(&sample("scheduled-nightly.json")).unwrap_err();
        assert!(err.to_string().contains("Scheduled Event"), "{err}");
    }
}
