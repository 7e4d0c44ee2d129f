//! CUR facts, stored per source object so a re-delivered or overwritten CUR
//! file replaces its own facts and nothing else.
//!
//! A source's facts are written as chunks under a fresh generation, then the
//! source's manifest is flipped to that generation with a conditional write:
//! readers see the old facts or the new, never a mix, and a failed ingest
//! leaves the old facts in force. Old generations stay (nothing is deleted);
//! they are simply no longer referenced. A delivery whose facts digest equals
//! the stored one writes nothing and publishes nothing, so duplicate S3 events
//! change nothing.

use chrono::{DateTime, Utc};
use domain::cur::facts::{FactKey, FactValue, Facts};
use domain::{AccountId, BillingPeriod, EntityRef, Money};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use super::{decode, encode, events, get_typed, put_new, put_over, Governance, GovernanceError, Result};
use crate::ports::store::{Attributes, Condition, ItemData, ItemKey, SkRange};

/// Serialised facts per chunk item: well inside DynamoDB's 400 KB item limit.
const CHUNK_BYTES: usize = 256 * 1024;

/// Where the source manifests of a billing period live.
pub fn period_pk(period: BillingPeriod) -> String {
    format!("CUR#{period}")
}

/// A source's identity in keys: S3 keys can be 1 KB and hold any character, so
/// keys carry a digest and the manifest carries the name.
fn source_key(source: &str) -> String {
    hex(&Sha256::digest(source.as_bytes()))[..32].to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn chunks_pk(period: BillingPeriod, source: &str, generation: &str) -> String {
    format!("CURFACTS#{period}#{}#{generation}", source_key(source))
}

/// The manifest of one source object's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceManifest {
    pub period: BillingPeriod,
    /// `s3://bucket/key`, or a local file's path.
    pub source: String,
    pub generation: String,
    pub chunks: u32,
    pub rows: u64,
    pub ai_facts: u64,
    /// Everything that is not AI spend, per account (small, so kept here).
    pub non_ai: BTreeMap<AccountId, Money>,
    pub principal_column: bool,
    pub digest: String,
    pub ingested_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct Chunk {
    facts: Vec<(FactKey, FactValue)>,
}

/// What storing a source's facts did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stored {
    /// First delivery of this source.
    New,
    /// A re-delivery with different content: its facts replaced the old.
    Replaced,
    /// A duplicate delivery: nothing written.
    Unchanged,
}

/// One source object's read, ready to store.
#[derive(Debug, Clone)]
pub struct SourceFacts<'a> {
    pub period: BillingPeriod,
    pub source: &'a str,
    pub facts: &'a Facts,
    pub rows: u64,
    pub principal_column: bool,
}

/// The facts as chunk items' attributes, each `{"facts": [[key, value], …]}`
/// under `CHUNK_BYTES` of JSON, and the digest of that JSON (which is what a
/// re-delivery is compared by). Each fact is serialised once.
fn chunked(facts: &Facts) -> Result<(Vec<Attributes>, String)> {
    let internal = |e: serde_json::Error| GovernanceError::Internal(e.to_string());
    let mut hasher = Sha256::new();
    let mut out = Vec::new();
    let mut current: Vec<Value> = Vec::new();
    let mut size = 0;
    let flush = |current: &mut Vec<Value>, out: &mut Vec<Attributes>| {
        let mut attrs = Attributes::new();
        attrs.insert("facts".into(), Value::Array(std::mem::take(current)));
        out.push(attrs);
    };
    for entry in &facts.ai {
        let text = serde_json::to_string(&entry).map_err(internal)?;
        hasher.update(text.as_bytes());
        if size + text.len() > CHUNK_BYTES && !current.is_empty() {
            flush(&mut current, &mut out);
            size = 0;
        }
        size += text.len() + 1;
        current.push(serde_json::from_str(&text).map_err(internal)?);
    }
    if !current.is_empty() {
        flush(&mut current, &mut out);
    }
    hasher.update(serde_json::to_string(&facts.non_ai).map_err(internal)?.as_bytes());
    Ok((out, hex(&hasher.finalize())))
}

impl Governance {
    /// Stores one source object's facts, replacing what an earlier delivery of
    /// the same source stored, and publishes `CurPeriodIngested` when anything
    /// changed.
    pub async fn store_source_facts(&self, input: SourceFacts<'_>) -> Result<Stored> {
        let SourceFacts { period, source, facts, rows, principal_column } = input;
        if source.trim().is_empty() {
            return Err(GovernanceError::invalid("source", "is required"));
        }
        let (chunks, digest) = chunked(facts)?;
        let manifest_key = ItemKey::new(period_pk(period), format!("SRC#{}", source_key(source)));
        let existing: Option<(SourceManifest, u64)> = get_typed(self.store.as_ref(), manifest_key.clone()).await?;
        if let Some((m, _)) = &existing {
            if m.digest == digest {
                return Ok(Stored::Unchanged);
            }
        }
        let generation = self.ids.next_id();
        let pk = chunks_pk(period, source, &generation);
        let chunk_count = u32::try_from(chunks.len()).map_err(|_| GovernanceError::Internal("too many chunks".into()))?;
        for (i, attrs) in chunks.into_iter().enumerate() {
            self.store.put(ItemData::new(ItemKey::new(pk.as_str(), format!("C#{i:06}")), attrs), Condition::MustNotExist).await?;
        }
        let manifest = SourceManifest {
            period,
            source: source.to_owned(),
            generation,
            chunks: chunk_count,
            rows,
            ai_facts: facts.ai.len() as u64,
            non_ai: facts.non_ai.clone(),
            principal_column,
            digest,
            ingested_at: self.clock.now(),
        };
        let replaced = existing.is_some();
        let item = ItemData::new(manifest_key, encode(&manifest)?);
        let correlation = self.ids.next_id();
        let actor = Governance::system_actor("cur-ingest");
        let action = if replaced { "replace_facts" } else { "ingest_facts" };
        self.store
            .transact(vec![
                match &existing {
                    None => put_new(item),
                    Some((_, v)) => put_over(item, *v),
                },
                self.audit(EntityRef::new("cur_source", source), action, (None, Some(&period.to_string())), &actor, None, &correlation)?,
            ])
            .await
            .map_err(|e| match e {
                crate::ports::store::StoreError::Conflict { .. } => {
                    GovernanceError::Conflict(format!("{source} was ingested concurrently; the other delivery's facts stand"))
                }
                other => other.into(),
            })?;
        self.publish(vec![self.event(
            events::CUR_PERIOD_INGESTED,
            &correlation,
            json!({"period": period, "source": source, "rows": rows, "ai_facts": manifest.ai_facts, "replaced": replaced}),
        )])
        .await;
        Ok(if replaced { Stored::Replaced } else { Stored::New })
    }

    /// The manifests of every source of a period.
    pub async fn period_sources(&self, period: BillingPeriod) -> Result<Vec<SourceManifest>> {
        let items = self.store.query_all(&period_pk(period), &SkRange::Prefix("SRC#".into())).await?;
        items.iter().map(|i| decode(&i.attrs)).collect()
    }

    /// A period's facts: the merge of its sources' current generations.
    pub async fn period_facts(&self, period: BillingPeriod) -> Result<Facts> {
        let mut facts = Facts::default();
        for m in self.period_sources(period).await? {
            let items = self.store.query_all(&chunks_pk(period, &m.source, &m.generation), &SkRange::Prefix("C#".into())).await?;
            if items.len() != m.chunks as usize {
                return Err(GovernanceError::Internal(format!("{}: {} of {} facts chunks found", m.source, items.len(), m.chunks)));
            }
            for i in &items {
                let chunk: Chunk = decode(&i.attrs)?;
                for (k, v) in chunk.facts {
                    facts.add_fact(k, v);
                }
            }
            for (a, cost) in m.non_ai {
                *facts.non_ai.entry(a).or_default() += cost;
            }
        }
        Ok(facts)
    }
}
