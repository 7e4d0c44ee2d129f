//! Deliveries: a Data Exports manifest is the unit of ingest. Its `dataFiles`
//! are the period's files for that export; files it no longer lists stop
//! counting; the period is announced once per delivery, not once per file.
//!
//! - `ingest_delivery` (the manifest): each listed file whose version differs
//!   from what is stored is read and stored; files not there yet are recorded
//!   as missing; the export's other sources of the period are retired; the
//!   delivery is recorded under its `executionId`, so a duplicate manifest
//!   changes nothing; one `CurPeriodIngested` is published when anything
//!   changed (files stored since the last delivery included).
//! - `ingest_file` (a data file's own event, or a file given by hand): stored
//!   at once; announced only when it is not part of a Data Exports delivery
//!   (a manual copy) or completes a delivery that was waiting for it: a
//!   delivery's files, which arrive before their manifest, announce nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use domain::cur::delivery::{export_of, Delivery};
use domain::cur::source::{s3_key, source_identity};
use domain::{BillingPeriod, EntityRef};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ledger::{period_pk, source_key, SourceFacts, SourceManifest, Stored};
use super::{decode, encode, events, get_typed, put_new, put_over, Governance, GovernanceError, Result};
use crate::ports::cur::{CurSource, CurSourceError};
use crate::ports::store::{ItemData, ItemKey, SkRange};

impl From<CurSourceError> for GovernanceError {
    fn from(e: CurSourceError) -> Self {
        match e {
            CurSourceError::Unreadable { location, reason } => GovernanceError::invalid(&location, reason),
            e @ CurSourceError::Unavailable { .. } => GovernanceError::Unavailable(e.to_string()),
        }
    }
}

/// A delivery as recorded: which files it listed and which had not arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub execution: String,
    pub export: String,
    pub period: BillingPeriod,
    /// Source identities of the listed files.
    pub files: Vec<String>,
    /// Listed files not found yet; a late file's arrival removes it.
    pub missing: Vec<String>,
    pub recorded_at: DateTime<Utc>,
}

/// What a delivery or a file did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliverySummary {
    pub period: BillingPeriod,
    pub execution: Option<String>,
    /// Each file read and what storing it did.
    pub stored: Vec<(String, Stored)>,
    /// Files already stored at their current version (not read again).
    pub skipped: usize,
    pub missing: Vec<String>,
    pub retired: Vec<String>,
    /// A manifest already recorded whole: nothing was done.
    pub duplicate: bool,
    /// Whether `CurPeriodIngested` was published.
    pub announced: bool,
}

fn delivery_key(period: BillingPeriod, execution: &str) -> ItemKey {
    ItemKey::new(period_pk(period), format!("DELIVERY#{}", source_key(execution)))
}

impl Governance {
    pub async fn ingest_delivery(&self, src: &dyn CurSource, d: &Delivery) -> Result<DeliverySummary> {
        let key = delivery_key(d.period, &d.execution);
        let recorded: Option<(DeliveryRecord, u64)> = get_typed(self.store.as_ref(), key.clone()).await?;
        let mut out = DeliverySummary { period: d.period, execution: Some(d.execution.clone()), stored: vec![], skipped: 0, missing: vec![], retired: vec![], duplicate: false, announced: false };
        if recorded.as_ref().is_some_and(|(r, _)| r.missing.is_empty()) {
            out.duplicate = true;
            return Ok(out);
        }
        let live: BTreeMap<String, SourceManifest> = self.period_sources(d.period).await?.into_iter().map(|m| (m.source.clone(), m)).collect();
        let mut changed = false;
        let mut listed = BTreeSet::new();
        for file in &d.files {
            let identity = source_identity(s3_key(file), file);
            listed.insert(identity.clone());
            let Some(version) = src.version(file).await? else {
                out.missing.push(identity);
                continue;
            };
            if let Some(m) = live.get(&identity).filter(|m| m.version.as_deref() == Some(&version)) {
                // Stored by its own event before this manifest came: this
                // delivery announces it.
                changed |= m.delivery.as_deref() != Some(&d.execution);
                out.skipped += 1;
                continue;
            }
            let read = src.read(file).await?;
            let stored = self
                .store_source(SourceFacts { period: d.period, source: &identity, facts: &read.facts, rows: read.rows, principal_column: read.principal_column, version: Some(&version), delivery: Some(&d.execution) })
                .await?
                .stored;
            changed |= stored != Stored::Unchanged;
            out.stored.push((identity, stored));
        }
        let prefix = d.source_prefix();
        for m in live.values().filter(|m| m.source.starts_with(&prefix) && !listed.contains(&m.source)) {
            self.retire_source(m, &d.execution).await?;
            out.retired.push(m.source.clone());
            changed = true;
        }
        let record = DeliveryRecord {
            execution: d.execution.clone(),
            export: d.export.clone(),
            period: d.period,
            files: listed.into_iter().collect(),
            missing: out.missing.clone(),
            recorded_at: self.clock.now(),
        };
        let correlation = self.ids.next_id();
        let item = ItemData::new(key, encode(&record)?);
        let actor = Governance::system_actor("cur-ingest");
        self.store
            .transact(vec![
                match &recorded {
                    None => put_new(item),
                    Some((_, v)) => put_over(item, *v),
                },
                self.audit(EntityRef::new("cur_delivery", &d.execution), "deliver", (None, Some(&format!("{} files, {} missing", record.files.len(), record.missing.len()))), &actor, None, &correlation)?,
            ])
            .await?;
        if changed {
            self.announce(&correlation, json!({"period": d.period, "delivery": d.execution, "files": record.files.len(), "retired": out.retired.len()})).await;
            out.announced = true;
        }
        Ok(out)
    }

    /// One CUR data file, from its own event or given by hand (`identity` is
    /// its source identity).
    pub async fn ingest_file(&self, src: &dyn CurSource, location: &str, period: BillingPeriod, identity: &str) -> Result<DeliverySummary> {
        let mut out = DeliverySummary { period, execution: None, stored: vec![], skipped: 0, missing: vec![], retired: vec![], duplicate: false, announced: false };
        let version = src.version(location).await?;
        let Some(version) = version else {
            return Err(GovernanceError::NotFound { what: "CUR object", id: location.to_owned() });
        };
        let live = self.period_sources(period).await?;
        if live.iter().any(|m| m.source == identity && m.version.as_deref() == Some(&version)) {
            out.skipped = 1;
            return Ok(out);
        }
        let read = src.read(location).await?;
        let stored = self
            .store_source(SourceFacts { period, source: identity, facts: &read.facts, rows: read.rows, principal_column: read.principal_column, version: Some(&version), delivery: None })
            .await?
            .stored;
        out.stored.push((identity.to_owned(), stored));
        let completed = self.arrived_late(period, identity).await?;
        let correlation = self.ids.next_id();
        let manual = export_of(location).is_none();
        if stored != Stored::Unchanged && (manual || !completed.is_empty()) {
            self.announce(&correlation, json!({"period": period, "source": identity, "completes": completed})).await;
            out.announced = true;
        }
        Ok(out)
    }

    /// Removes `identity` from the missing files of the period's deliveries
    /// that were waiting for it; returns those deliveries.
    async fn arrived_late(&self, period: BillingPeriod, identity: &str) -> Result<Vec<String>> {
        let mut completed = Vec::new();
        for item in self.store.query_all(&period_pk(period), &SkRange::Prefix("DELIVERY#".into())).await? {
            let mut r: DeliveryRecord = decode(&item.attrs)?;
            if !r.missing.iter().any(|m| m == identity) {
                continue;
            }
            r.missing.retain(|m| m != identity);
            let correlation = self.ids.next_id();
            let audit = self.audit(EntityRef::new("cur_delivery", &r.execution), "late_file", (None, Some(identity)), &Governance::system_actor("cur-ingest"), None, &correlation)?;
            self.store.transact(vec![put_over(ItemData::new(delivery_key(period, &r.execution), encode(&r)?), item.version), audit]).await?;
            completed.push(r.execution);
        }
        Ok(completed)
    }

    /// A source a delivery no longer lists: its facts stop counting, its
    /// manifest stays (retired, audited) and its object is deleted.
    async fn retire_source(&self, m: &SourceManifest, execution: &str) -> Result<()> {
        let key = ItemKey::new(period_pk(m.period), format!("SRC#{}", source_key(&m.source)));
        let Some((mut current, v)) = get_typed::<SourceManifest>(self.store.as_ref(), key.clone()).await? else { return Ok(()) };
        if current.generation != m.generation || current.retired.is_some() {
            return Ok(()); // changed meanwhile: that writer's state stands
        }
        current.retired = Some(execution.to_owned());
        let correlation = self.ids.next_id();
        let audit = self.audit(EntityRef::new("cur_source", &m.source), "retire_facts", (Some(&m.generation), None), &Governance::system_actor("cur-ingest"), Some(&format!("delivery {execution} no longer lists it")), &correlation)?;
        self.store.transact(vec![put_over(ItemData::new(key, encode(&current)?), v), audit]).await?;
        if let Err(e) = self.ledger.delete(&m.object).await {
            tracing::warn!(object = %m.object, error = %e, "could not delete a retired source's fact object");
        }
        Ok(())
    }

    async fn announce(&self, correlation: &str, detail: serde_json::Value) {
        self.publish(vec![self.event(events::CUR_PERIOD_INGESTED, correlation, detail)]).await;
    }
}
