//! CUR facts per source object: one columnar object per source generation in
//! the fact ledger (`ports::ledger`: S3 in AWS, `FINOPS_HOME/facts` locally),
//! and in the store only the manifest that points at it.
//!
//! Invariants:
//! - a source's facts are written to a fresh object first, then its manifest is
//!   flipped to that object with a conditional write (must-not-exist, or
//!   version-equals), with its audit record in the same transaction: readers
//!   see the old facts or the new, never a mix, and a failed ingest leaves the
//!   old facts in force;
//! - after the flip the superseded object is deleted, so storage does not grow
//!   with re-deliveries; a reader that raced the flip and finds its object gone
//!   re-reads the manifest;
//! - a delivery whose content digest equals the stored one changes nothing and
//!   publishes nothing (its freshly written object is removed again), so
//!   duplicate S3 events are harmless;
//! - the manifest carries the reader's own per-account sum of every row
//!   (`read_total`), so reconciliation compares the facts against something
//!   they were not computed from.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::cur::bases::{CostBasis, OtherBases};
use domain::cur::facts::Facts;
use domain::{AccountId, BillingPeriod, EntityRef, Money};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{decode, encode, events, get_typed, put_new, put_over, Governance, GovernanceError, Result};
use crate::ports::ledger::LedgerError;
use crate::ports::store::{ItemData, ItemKey, SkRange, StoreError};

/// Where the source manifests of a billing period live.
pub fn period_pk(period: BillingPeriod) -> String {
    format!("CUR#{period}")
}

/// A source's identity in keys: S3 keys can be 1 KB and hold any character, so
/// keys carry a digest and the manifest carries the name.
pub fn source_key(source: &str) -> String {
    hex(&Sha256::digest(source.as_bytes()))[..32].to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The folder of a period's fact objects in the ledger.
pub fn period_prefix(period: BillingPeriod) -> String {
    format!("facts/period={period}")
}

/// The ledger key of one generation of a source's facts, partitioned so that
/// Athena (partition projection on `period`) and a person can find them.
pub fn object_key(period: BillingPeriod, source: &str, generation: &str) -> String {
    format!("{}/source={}/gen={generation}.parquet", period_prefix(period), source_key(source))
}

/// The newest period with facts, looking back `months` from `from`, and its
/// current sources: what `finops doctor` reports as the last ingested period.
/// One query per month looked at, newest first.
pub async fn last_ingested(store: &dyn crate::ports::store::Store, from: BillingPeriod, months: u32) -> std::result::Result<Option<(BillingPeriod, Vec<SourceManifest>)>, String> {
    let mut period = from;
    for _ in 0..months {
        let items = store.query_all(&period_pk(period), &SkRange::Prefix("SRC#".into())).await.map_err(|e| e.to_string())?;
        let mut current = Vec::new();
        for i in &items {
            let m: SourceManifest = decode(&i.attrs).map_err(|e| e.to_string())?;
            if m.retired.is_none() {
                current.push(m);
            }
        }
        if !current.is_empty() {
            return Ok(Some((period, current)));
        }
        period = period.previous();
    }
    Ok(None)
}

/// The manifest of one source object's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceManifest {
    pub period: BillingPeriod,
    /// The Data Exports key (`…/data/BILLING_PERIOD=…/<file>`), `s3://bucket/key`,
    /// or a local file's name: never a machine's absolute path.
    pub source: String,
    pub generation: String,
    /// The ledger object holding this generation's AI facts.
    pub object: String,
    pub object_bytes: u64,
    pub rows: u64,
    pub ai_facts: u64,
    /// Everything that is not AI spend, per account (small, so kept here).
    pub non_ai: BTreeMap<AccountId, Money>,
    /// The cost of every row read, per account, summed by the reader apart
    /// from the facts: reconciliation's bill side.
    pub read_total: BTreeMap<AccountId, Money>,
    /// `non_ai` and `read_total` on the net and amortized bases, or the
    /// column the source lacked for each (a manifest stored before bases were
    /// read has neither).
    #[serde(default = "OtherBases::unread")]
    pub bases: OtherBases,
    /// The payer accounts its AI rows named.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub payers: std::collections::BTreeSet<AccountId>,
    pub principal_column: bool,
    /// Digest of the object's bytes and the totals: what a re-delivery is
    /// compared by.
    pub digest: String,
    pub ingested_at: DateTime<Utc>,
    /// The CUR object's version when it was read (S3 ETag, or a local file's
    /// size and time), so a delivery listing an unchanged file skips it.
    #[serde(default)]
    pub version: Option<String>,
    /// The Data Exports delivery (`executionId`) that stored it, if any.
    #[serde(default)]
    pub delivery: Option<String>,
    /// The delivery that no longer listed it: its facts stopped counting (the
    /// manifest stays, with its audit trail).
    #[serde(default)]
    pub retired: Option<String>,
}

/// What storing a source's facts did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stored {
    /// First delivery of this source.
    New,
    /// A re-delivery with different content: its facts replaced the old.
    Replaced,
    /// A duplicate delivery: nothing changed.
    Unchanged,
}

/// What [`Governance::store_source`] did, and which ledger object now holds
/// the source's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStored {
    pub stored: Stored,
    /// The object the source's current manifest names (unchanged: the one
    /// already stored).
    pub object: String,
}

/// Facts this process has just stored at `object`, lent to the consumers its
/// own bus runs while it announces them (see [`Governance::announce_source`]).
#[derive(Default)]
pub(crate) struct Loan(std::sync::Mutex<Option<(String, Facts)>>);

impl Loan {
    fn lend(&self, object: &str, facts: Facts) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((object.to_owned(), facts));
    }

    /// The lent facts, when they are `object`'s: the first reader takes them.
    fn take(&self, object: &str) -> Option<Facts> {
        let mut slot = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.as_ref().is_some_and(|(o, _)| o == object) {
            slot.take().map(|(_, f)| f)
        } else {
            None
        }
    }
}

/// One source object's read, ready to store.
#[derive(Debug, Clone)]
pub struct SourceFacts<'a> {
    pub period: BillingPeriod,
    pub source: &'a str,
    pub facts: &'a Facts,
    pub rows: u64,
    pub principal_column: bool,
    /// The object's version as read (see `SourceManifest::version`).
    pub version: Option<&'a str>,
    /// The delivery that listed it.
    pub delivery: Option<&'a str>,
}

impl From<LedgerError> for GovernanceError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Unrepresentable(m) => GovernanceError::invalid("facts", m),
            e if e.is_retryable() => GovernanceError::Unavailable(e.to_string()),
            e => GovernanceError::Internal(e.to_string()),
        }
    }
}

fn content_digest(object_digest: &str, facts: &Facts, principal_column: bool) -> Result<String> {
    let internal = |e: serde_json::Error| GovernanceError::Internal(e.to_string());
    let mut h = Sha256::new();
    h.update(object_digest.as_bytes());
    h.update(serde_json::to_string(&facts.non_ai).map_err(internal)?.as_bytes());
    h.update(serde_json::to_string(&facts.read_total).map_err(internal)?.as_bytes());
    h.update(serde_json::to_string(&facts.net).map_err(internal)?.as_bytes());
    h.update(serde_json::to_string(&facts.amortized).map_err(internal)?.as_bytes());
    h.update([u8::from(principal_column)]);
    Ok(hex(&h.finalize()))
}

impl Governance {
    /// Stores one source object's facts, replacing what an earlier delivery of
    /// the same source stored, and publishes `CurPeriodIngested` when anything
    /// changed.
    pub async fn store_source_facts(&self, input: SourceFacts<'_>) -> Result<Stored> {
        let (period, source) = (input.period, input.source.to_owned());
        let stored = self.store_source(input).await?;
        self.announce_source(period, &source, &stored, None).await;
        Ok(stored.stored)
    }

    /// Publishes `CurPeriodIngested` for a source [`Governance::store_source`]
    /// stored, when anything changed.
    ///
    /// `lend`: the facts just stored, handed over. Consumers this process's
    /// own bus runs during the announcement (the local mode's gap detection)
    /// take them instead of reading the object back, which on a large month
    /// is a sixth of the ingest; consumers elsewhere (EventBridge, another
    /// Lambda) read the object as before. The loan ends with the
    /// announcement, and the facts are never held twice: the caller gives
    /// them up, and detection never reads them while they are lent. Detection
    /// says the same over facts in any order, so the reader's order serves
    /// as well as the object's canonical one.
    pub async fn announce_source(&self, period: BillingPeriod, source: &str, stored: &SourceStored, lend: Option<Facts>) {
        if stored.stored == Stored::Unchanged {
            return;
        }
        if let Some(facts) = lend {
            self.loan.lend(&stored.object, facts.ai_only());
        }
        let correlation = self.ids.next_id();
        let replaced = stored.stored == Stored::Replaced;
        self.publish(vec![self.event(events::CUR_PERIOD_INGESTED, &correlation, json!({"period": period, "source": source, "replaced": replaced}))]).await;
        // The loan ends here: untaken facts are dropped (another
        // announcement's loan, if one replaced it, is left alone).
        drop(self.loan.take(&stored.object));
    }

    /// Stores one source's facts without announcing it: a delivery of several
    /// files announces once, after all of them (see [`Governance::announce_source`]).
    pub async fn store_source(&self, input: SourceFacts<'_>) -> Result<SourceStored> {
        let SourceFacts { period, source, facts, rows, principal_column, version, delivery } = input;
        if source.trim().is_empty() {
            return Err(GovernanceError::invalid("source", "is required"));
        }
        let manifest_key = ItemKey::new(period_pk(period), format!("SRC#{}", source_key(source)));
        let existing: Option<(SourceManifest, u64)> = get_typed(self.store.as_ref(), manifest_key.clone()).await?;
        let generation = self.ids.next_id();
        let object = object_key(period, source, &generation);
        let written = self.ledger.write(&object, facts).await?;
        let digest = content_digest(&written.digest, facts, principal_column)?;
        if let Some((m, _)) = existing.as_ref().filter(|(m, _)| m.digest == digest && m.retired.is_none()) {
            self.discard(&object).await;
            return Ok(SourceStored { stored: Stored::Unchanged, object: m.object.clone() });
        }
        let manifest = SourceManifest {
            period,
            source: source.to_owned(),
            generation,
            object: object.clone(),
            object_bytes: written.bytes,
            rows,
            ai_facts: facts.len() as u64,
            non_ai: facts.non_ai.clone(),
            read_total: facts.read_total.clone(),
            bases: OtherBases { net: facts.net.clone(), amortized: facts.amortized.clone() },
            payers: facts.payers.clone(),
            principal_column,
            digest: digest.clone(),
            ingested_at: self.clock.now(),
            version: version.map(str::to_owned),
            delivery: delivery.map(str::to_owned),
            retired: None,
        };
        let item = ItemData::new(manifest_key, encode(&manifest)?);
        let correlation = self.ids.next_id();
        let actor = Governance::system_actor("cur-ingest");
        let action = if existing.is_some() { "replace_facts" } else { "ingest_facts" };
        let flip = self
            .store
            .transact(vec![
                match &existing {
                    None => put_new(item),
                    Some((_, v)) => put_over(item, *v),
                },
                self.audit(EntityRef::new("cur_source", source), action, (existing.as_ref().map(|(m, _)| m.generation.as_str()), Some(&manifest.generation)), &actor, None, &correlation)?,
            ])
            .await;
        if let Err(e) = flip {
            self.discard(&object).await;
            return match e {
                StoreError::Conflict { key } => {
                    // A concurrent delivery of the same content is a duplicate,
                    // not a failure: the facts it stored are these facts.
                    let now: Option<(SourceManifest, u64)> = get_typed(self.store.as_ref(), key).await?;
                    match now {
                        Some((m, _)) if m.digest == digest && m.retired.is_none() => Ok(SourceStored { stored: Stored::Unchanged, object: m.object }),
                        _ => Err(GovernanceError::Conflict(format!("{source} was ingested concurrently; the other delivery's facts stand"))),
                    }
                }
                other => Err(other.into()),
            };
        }
        match existing {
            Some((old, _)) => {
                self.discard(&old.object).await;
                Ok(SourceStored { stored: Stored::Replaced, object })
            }
            None => Ok(SourceStored { stored: Stored::New, object }),
        }
    }

    /// Removes an object no manifest points at (any more). A failure leaves an
    /// orphan object, which costs storage but never changes a report: readers
    /// only read what a manifest names.
    async fn discard(&self, object: &str) {
        if let Err(e) = self.ledger.delete(object).await {
            tracing::warn!(%object, error = %e, "could not delete a fact object no manifest points at");
        }
    }

    /// The manifests of every source of a period whose facts count (not
    /// retired by a later delivery).
    pub async fn period_sources(&self, period: BillingPeriod) -> Result<Vec<SourceManifest>> {
        Ok(self.all_period_sources(period).await?.into_iter().filter(|m| m.retired.is_none()).collect())
    }

    /// Every source manifest of a period, retired ones included.
    pub async fn all_period_sources(&self, period: BillingPeriod) -> Result<Vec<SourceManifest>> {
        let items = self.store.query_all(&period_pk(period), &SkRange::Prefix("SRC#".into())).await?;
        items.iter().map(|i| decode(&i.attrs)).collect()
    }

    /// One source's facts as its manifest names them. When the object is gone
    /// (a re-delivery flipped the manifest and deleted it meanwhile), the
    /// manifest is read again and its new object read instead.
    async fn source_facts(&self, m: &SourceManifest) -> Result<(Facts, SourceManifest)> {
        if let Some(lent) = self.loan.take(&m.object) {
            return Ok((lent, m.clone()));
        }
        match self.ledger.read(&m.object).await {
            Ok(f) => Ok((f, m.clone())),
            Err(LedgerError::NotFound(_)) => {
                let key = ItemKey::new(period_pk(m.period), format!("SRC#{}", source_key(&m.source)));
                let now: Option<(SourceManifest, u64)> = get_typed(self.store.as_ref(), key).await?;
                match now {
                    Some((fresh, _)) if fresh.generation != m.generation => Ok((self.ledger.read(&fresh.object).await?, fresh)),
                    _ => Err(GovernanceError::Internal(format!("{}: its manifest names fact object {}, which does not exist", m.source, m.object))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A period's facts: the merge of its sources' current generations, read
    /// object by object.
    pub async fn period_facts(&self, period: BillingPeriod) -> Result<Facts> {
        let mut facts = Facts::default();
        for m in self.period_sources(period).await? {
            let (f, m) = self.source_facts(&m).await?;
            facts.absorb(f);
            for (a, cost) in m.non_ai {
                *facts.non_ai.entry(a).or_default() += cost;
            }
            for (a, cost) in m.read_total {
                *facts.read_total.entry(a).or_default() += cost;
            }
            facts.net.absorb(&m.bases.net);
            facts.amortized.absorb(&m.bases.amortized);
            facts.payers.extend(m.payers);
        }
        Ok(facts)
    }

    /// A period's facts on a cost basis, refused (naming the column) when a
    /// source of the period lacks what the basis needs.
    pub async fn period_facts_on(&self, period: BillingPeriod, basis: CostBasis) -> Result<Facts> {
        self.period_facts(period).await?.on_basis(basis).map_err(|e| GovernanceError::invalid("cost_basis", e.to_string()))
    }
}
