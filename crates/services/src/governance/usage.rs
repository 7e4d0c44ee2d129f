//! The live signal: Bedrock invocation-log objects into hourly usage facts in
//! the fact ledger, the detectors over them, and the investigations they raise.
//!
//! Invariants:
//! - one log object is one source, per billing period its records fall in: its
//!   usage object is written first, then its manifest is flipped with a
//!   conditional write and its audit record in the same transaction (as CUR
//!   sources are); a duplicate delivery (same content digest) writes nothing;
//! - a record that cannot be read is counted in the manifest with the first
//!   reasons, never dropped silently;
//! - attribution is CUR's own `Attributor`, applied when facts are read;
//! - detection reads state only (usage facts, claims, stored investigations),
//!   so it can run on every delivery and on the hourly schedule alike, and
//!   writes only what changed.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use domain::analytics::live_vs_billed::{self, LiveVsBilled};
use domain::analytics::investigations::{self as inv, DetectorConfig, Investigation, InvestigationError, Step};
use domain::cur::attribution::{Attributor, Outcome};
use domain::governance::authz::Action;
use domain::governance::claims::ClaimKind;
use domain::invocations::{self, UsageFacts, UsageKey, UsageTable};
use domain::governance::catalog::TokenPrices;
use domain::{AccountId, Actor, BillingPeriod, EntityRef, IsoWeek, ModelId, Money, Region, UserId, WorkloadId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ledger::source_key;
use super::{decode, encode, get_typed, put_new, put_over, Governance, GovernanceError, Result};
use crate::ports::store::{ItemData, ItemKey, SkRange, StoreError, WriteOp, MAX_TRANSACTION_ITEMS};

/// How many unreadable records a manifest names (all are counted).
const ERRORS_KEPT: usize = 10;

fn usage_pk(period: BillingPeriod) -> String {
    format!("USAGE#{period}")
}

/// Where every investigation lives: they are few (findings, not facts).
const INVESTIGATIONS_PK: &str = "INVESTIGATIONS";

/// The ledger key of one generation of a log object's usage in a period.
pub fn usage_object_key(period: BillingPeriod, source: &str, generation: &str) -> String {
    format!("usage/period={period}/source={}/gen={generation}.parquet", source_key(source))
}

/// One log object read: its usage facts (all periods), and what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRead {
    pub facts: UsageFacts,
    pub records: u64,
    pub unreadable: u64,
    /// The first unreadable records' line numbers and reasons.
    pub errors: Vec<String>,
}

/// The manifest of one log object's usage in one period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageManifest {
    pub period: BillingPeriod,
    pub source: String,
    pub generation: String,
    pub object: String,
    pub facts: u64,
    pub records: u64,
    pub unreadable: u64,
    pub errors: Vec<String>,
    /// The priced cost of its facts.
    pub cost: Money,
    pub digest: String,
    pub ingested_at: DateTime<Utc>,
}

/// What ingesting one log object did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageIngest {
    pub source: String,
    pub records: u64,
    pub unreadable: u64,
    pub errors: Vec<String>,
    /// Periods whose usage changed (a duplicate delivery changes none).
    pub stored: Vec<BillingPeriod>,
    pub duplicate: bool,
    /// The days the object's records fall on: what detection looks at.
    pub days: BTreeSet<NaiveDate>,
}

/// A log object's usage written under new generations, not yet pointed at
/// (see [`Governance::stage_usage`]): what is held between reading an object
/// and committing it is this, not its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedUsage {
    pub source: String,
    pub records: u64,
    pub unreadable: u64,
    pub errors: Vec<String>,
    pub days: BTreeSet<NaiveDate>,
    parts: Vec<StagedPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StagedPart {
    period: BillingPeriod,
    generation: String,
    object: String,
    facts: u64,
    cost: Money,
    digest: String,
}

/// What a detection run did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DetectionRun {
    pub days: Vec<NaiveDate>,
    pub findings: usize,
    pub opened: Vec<String>,
    pub updated: Vec<String>,
    /// Workloads a critical finding moved to Alerting.
    pub alerted: Vec<WorkloadId>,
}

/// Spend from the logs over a window, per owner.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveLine {
    /// The workload, or `unattributed:REASON`.
    pub owner: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: Money,
    pub unpriced_requests: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub total: Money,
    pub lines: Vec<LiveLine>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}


/// Prices invocation-log records: at the bundled catalogue, an application
/// profile at its workload's approved model.
pub struct LogReader<'g> {
    gov: &'g Governance,
    profiles: BTreeMap<String, ModelId>,
}

impl LogReader<'_> {
    /// One log object's text: one JSON record per line (the S3 delivery),
    /// blank lines skipped.
    pub fn read_text(&self, text: &str) -> LogRead {
        // Sized for a key per record up front (to a bound): an object's
        // records are mostly distinct hourly keys, and growing the map
        // rehashes them all.
        let lines = (text.as_bytes().iter().filter(|b| **b == b'\n').count() + 1).min(1 << 16);
        let mut r = Reading::new(self, lines);
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            r.record(line, n + 1);
        }
        r.finish()
    }

    /// CloudWatch Logs messages (a subscription delivery's log events), each one record.
    pub fn read_messages<'a>(&self, messages: impl IntoIterator<Item = &'a str>) -> LogRead {
        let mut r = Reading::new(self, 0);
        for (n, m) in messages.into_iter().enumerate() {
            r.record(m, n + 1);
        }
        r.finish()
    }
}

type HourKey<'t> = (DateTime<Utc>, Cow<'t, str>, Cow<'t, str>, Cow<'t, str>, Cow<'t, str>);

/// One object being read. A log object holds thousands of records of few
/// callers and models: keys borrow the text until the object is done, and
/// each distinct account, region and (model, region) price is decided once,
/// so a record costs a parse and a hash, not a dozen allocations.
struct Reading<'r, 't> {
    reader: &'r LogReader<'r>,
    out: LogRead,
    hours: HashMap<HourKey<'t>, invocations::UsageValue, Fast>,
    accounts: HashMap<Cow<'t, str>, std::result::Result<AccountId, String>, Fast>,
    regions: HashMap<Cow<'t, str>, std::result::Result<Region, String>, Fast>,
    prices: HashMap<(Cow<'t, str>, Cow<'t, str>), Option<&'r TokenPrices>, Fast>,
}

/// The maps above are keyed by text the reader already trusts the shape of
/// and live for one object: a fast hash, not a DoS-resistant one.
type Fast = foldhash::fast::RandomState;

impl<'r, 't> Reading<'r, 't> {
    fn new(reader: &'r LogReader<'r>, records: usize) -> Self {
        Reading { reader, out: LogRead::default(), hours: HashMap::with_capacity_and_hasher(records, Fast::default()), accounts: HashMap::default(), regions: HashMap::default(), prices: HashMap::default() }
    }

    fn record(&mut self, text: &'t str, n: usize) {
        self.out.records += 1;
        if let Err(e) = self.add(text) {
            self.out.unreadable += 1;
            if self.out.errors.len() < ERRORS_KEPT {
                self.out.errors.push(format!("record {n}: {e}"));
            }
        }
    }

    fn add(&mut self, text: &'t str) -> std::result::Result<(), invocations::RecordError> {
        let v = invocations::parse_view(text)?;
        let bad = |field: &'static str, reason: &String| invocations::RecordError::Field { field, reason: reason.clone() };
        let account = self.accounts.entry(v.account.clone()).or_insert_with(|| AccountId::parse(&v.account).map_err(|e| e.to_string()));
        account.as_ref().map_err(|e| bad("accountId", e))?;
        let region = self.regions.entry(v.region.clone()).or_insert_with(|| Region::parse(&v.region).map_err(|e| e.to_string()));
        region.as_ref().map_err(|e| bad("region", e))?;
        let reader = self.reader;
        let prices = *self.prices.entry((v.model_id.clone(), v.region.clone())).or_insert_with(|| {
            invocations::prices_where(&reader.gov.catalog, &invocations::ModelRef::parse(&v.model_id), &v.region, |p| reader.profiles.get(p.as_str()).cloned())
        });
        let cost = prices.and_then(|p| invocations::cost(p, v.tokens));
        let value = invocations::UsageValue { requests: 1, tokens: v.tokens, cost: cost.unwrap_or(Money::ZERO), unpriced: u64::from(cost.is_none()) };
        self.hours.entry((invocations::hour_of(v.time), v.account, v.region, v.principal, v.model_id)).or_default().add(value);
        Ok(())
    }

    fn finish(mut self) -> LogRead {
        // Two texts of one account or region (if parsing normalises them)
        // make one key: `summed` adds them up.
        let mut facts: Vec<(UsageKey, invocations::UsageValue)> = Vec::with_capacity(self.hours.len());
        for ((hour, account, region, principal, model_id), value) in self.hours {
            // Every key's account and region were validated when its first record was read.
            let (Some(Ok(account)), Some(Ok(region))) = (self.accounts.get(&account), self.regions.get(&region)) else { continue };
            facts.push((UsageKey { hour, account: account.clone(), region: region.clone(), principal: principal.into_owned(), model_id: model_id.into_owned() }, value));
        }
        self.out.facts = UsageFacts::summed(facts);
        self.out
    }
}

impl Governance {
    /// The model behind each claimed application inference profile: the
    /// model its workload's approval names.
    async fn profile_models(&self) -> Result<BTreeMap<String, ModelId>> {
        let scopes = self.approval_scopes().await?;
        let mut out = BTreeMap::new();
        for c in self.all_claims().await?.into_iter().filter(|c| c.target.kind == ClaimKind::InferenceProfile) {
            if let Some(s) = scopes.iter().find(|s| s.workload == c.workload) {
                out.insert(c.target.arn.clone(), s.model.clone());
            }
        }
        Ok(out)
    }

    /// What pricing needs from the governance state, read once for a whole
    /// run of log objects (a folder of them, or one delivery).
    pub async fn log_reader(&self) -> Result<LogReader<'_>> {
        Ok(LogReader { gov: self, profiles: self.profile_models().await? })
    }

    /// Reads one log object's text (see [`LogReader::read_text`]).
    pub async fn read_log_text(&self, text: &str) -> Result<LogRead> {
        Ok(self.log_reader().await?.read_text(text))
    }

    /// Reads CloudWatch Logs messages (see [`LogReader::read_messages`]).
    pub async fn read_log_messages<'a>(&self, messages: impl IntoIterator<Item = &'a str>) -> Result<LogRead> {
        Ok(self.log_reader().await?.read_messages(messages))
    }

    /// Stores one log object's usage, per period, replacing what an earlier
    /// delivery of the same object stored ([`Self::stage_usage`] then
    /// [`Self::commit_usage`]). An object none of whose records could be read
    /// stores nothing and says so.
    pub async fn ingest_usage(&self, source: &str, read: LogRead) -> Result<UsageIngest> {
        let staged = self.stage_usage(source, read).await?;
        self.commit_usage(staged).await
    }

    /// Writes one log object's usage objects (one per period its records fall
    /// in) under new generations that no manifest points at yet: nothing is
    /// visible until [`Self::commit_usage`]. A caller ingesting many objects
    /// all or nothing stages them all (holding only what was staged, not the
    /// facts), then commits them, or discards them ([`Self::discard_staged`]).
    pub async fn stage_usage(&self, source: &str, read: LogRead) -> Result<StagedUsage> {
        if source.trim().is_empty() {
            return Err(GovernanceError::invalid("source", "is required"));
        }
        let mut days = BTreeSet::new();
        let mut last = None;
        for k in read.facts.facts.keys() {
            let day = k.hour.date_naive();
            if last != Some(day) {
                days.insert(day);
                last = Some(day);
            }
        }
        // Facts are ordered by hour first: an object within one month (the
        // usual case) is moved whole, not re-sorted fact by fact.
        let period_of = |k: &UsageKey| BillingPeriod::of(k.hour.date_naive());
        let mut by_period: BTreeMap<BillingPeriod, UsageFacts> = BTreeMap::new();
        match (read.facts.facts.first_key_value(), read.facts.facts.last_key_value()) {
            (Some((a, _)), Some((b, _))) if period_of(a) == period_of(b) => {
                by_period.insert(period_of(a), read.facts);
            }
            _ => {
                for (k, v) in read.facts.facts {
                    by_period.entry(period_of(&k)).or_default().facts.insert(k, v);
                }
            }
        }
        let mut staged = StagedUsage { source: source.to_owned(), records: read.records, unreadable: read.unreadable, errors: read.errors, days, parts: Vec::new() };
        for (period, facts) in by_period {
            let generation = self.ids.next_id();
            let object = usage_object_key(period, source, &generation);
            let written = match self.ledger.write_usage(&object, &facts).await {
                Ok(w) => w,
                Err(e) => {
                    self.discard_staged(staged).await;
                    return Err(e.into());
                }
            };
            let digest = hex(&Sha256::digest(format!("{}|{}|{}", written.digest, staged.records, staged.unreadable).as_bytes()));
            staged.parts.push(StagedPart { period, generation, object, facts: facts.len() as u64, cost: facts.total(), digest });
        }
        Ok(staged)
    }

    /// Deletes what [`Self::stage_usage`] wrote; nothing pointed at it.
    pub async fn discard_staged(&self, staged: StagedUsage) {
        self.discard_parts(staged.parts).await;
    }

    async fn discard_parts(&self, parts: impl IntoIterator<Item = StagedPart>) {
        for p in parts {
            self.discard_usage(&p.object).await;
        }
    }

    /// Makes a staged object's usage the source's own: per period, its
    /// manifest is flipped with a conditional write and its audit record in
    /// the same transaction, and the generation it replaces is deleted. A
    /// part equal to what is stored (a duplicate delivery) writes nothing.
    pub async fn commit_usage(&self, staged: StagedUsage) -> Result<UsageIngest> {
        let StagedUsage { source, records, unreadable, errors, days, parts } = staged;
        let duplicate_if_none = !parts.is_empty();
        let mut stored = Vec::new();
        let mut rest = parts.into_iter();
        while let Some(part) = rest.next() {
            let key = ItemKey::new(usage_pk(part.period), format!("SRC#{}", source_key(&source)));
            let existing: Option<(UsageManifest, u64)> = match get_typed(self.store.as_ref(), key.clone()).await {
                Ok(e) => e,
                Err(e) => {
                    self.discard_parts(std::iter::once(part).chain(rest)).await;
                    return Err(e);
                }
            };
            if existing.as_ref().is_some_and(|(m, _)| m.digest == part.digest) {
                self.discard_usage(&part.object).await;
                continue;
            }
            let manifest = UsageManifest {
                period: part.period,
                source: source.clone(),
                generation: part.generation.clone(),
                object: part.object.clone(),
                facts: part.facts,
                records,
                unreadable,
                errors: errors.clone(),
                cost: part.cost,
                digest: part.digest.clone(),
                ingested_at: self.clock.now(),
            };
            let actor = Governance::system_actor("usage-stream");
            let correlation = self.ids.next_id();
            let action = if existing.is_some() { "replace_usage" } else { "ingest_usage" };
            let item = ItemData::new(key, encode(&manifest)?);
            let flip = self
                .store
                .transact(vec![
                    match &existing {
                        None => put_new(item),
                        Some((_, v)) => put_over(item, *v),
                    },
                    self.audit(EntityRef::new("usage_source", &source), action, (existing.as_ref().map(|(m, _)| m.generation.as_str()), Some(part.generation.as_str())), &actor, None, &correlation)?,
                ])
                .await;
            match flip {
                Ok(()) => {
                    if let Some((old, _)) = &existing {
                        self.discard_usage(&old.object).await;
                    }
                    stored.push(part.period);
                }
                Err(StoreError::Conflict { .. }) => {
                    // Another delivery of the same object won the flip: its
                    // usage stands, and this copy goes.
                    self.discard_usage(&part.object).await;
                }
                Err(e) => {
                    self.discard_parts(std::iter::once(part).chain(rest)).await;
                    return Err(e.into());
                }
            }
        }
        let duplicate = stored.is_empty() && duplicate_if_none;
        Ok(UsageIngest { source, records, unreadable, errors, stored, duplicate, days })
    }

    async fn discard_usage(&self, object: &str) {
        if let Err(e) = self.ledger.delete(object).await {
            tracing::warn!(%object, error = %e, "could not delete a usage object no manifest points at");
        }
    }

    /// Every usage manifest of a period.
    pub async fn usage_sources(&self, period: BillingPeriod) -> Result<Vec<UsageManifest>> {
        let items = self.store.query_all(&usage_pk(period), &SkRange::Prefix("SRC#".into())).await?;
        items.iter().map(|i| decode(&i.attrs)).collect()
    }

    /// Every usage fact of the hours in `[from, to)`, object by object, as
    /// tables (each caller and model once, rows by number): at most two
    /// usage objects are in memory (the next one is read and decoded while
    /// `f` folds this one), so a detection or report over a large estate's
    /// weeks of usage holds its own sums, not the facts. Sources do not
    /// overlap (each log object is its own), so rows are handed over as
    /// stored; a caller sums what it needs.
    pub async fn fold_usage(&self, from: DateTime<Utc>, to: DateTime<Utc>, mut f: impl FnMut(&UsageTable)) -> Result<()> {
        use futures::StreamExt;
        let mut period = BillingPeriod::of(from.date_naive());
        let last = BillingPeriod::of(to.date_naive());
        loop {
            // Owned futures (the ledger's Arc and the key moved in), so the
            // stream stays `Send` for every caller's future.
            let ledger = self.ledger.clone();
            let reads = self.usage_sources(period).await?.into_iter().map(move |m| {
                let ledger = ledger.clone();
                async move { ledger.read_usage(&m.object).await }
            });
            let mut reads = futures::stream::iter(reads).buffered(2);
            while let Some(table) = reads.next().await {
                let mut table = table?;
                table.retain_hours(from, to);
                if !table.rows.is_empty() {
                    f(&table);
                }
            }
            if period >= last {
                break;
            }
            period = period.next();
        }
        Ok(())
    }

    /// Runs the detectors over `days` (with their trailing baselines) and
    /// stores what is new or changed; a critical finding on a workload moves
    /// it to Alerting.
    pub async fn detect_investigations(&self, days: &BTreeSet<NaiveDate>, cfg: &DetectorConfig) -> Result<DetectionRun> {
        let (Some(first), Some(last)) = (days.first(), days.last()) else {
            return Ok(DetectionRun::default());
        };
        let from = (*first - Duration::days(i64::from(cfg.baseline_days))).and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(|| GovernanceError::Internal("day out of range".into()))?;
        let to = (*last + Duration::days(1)).and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(|| GovernanceError::Internal("day out of range".into()))?;
        let attributor = self.attributor().await?;
        let mut gathered = inv::Gathered::new(&attributor, days);
        self.fold_usage(from, to, |t| gathered.add(t)).await?;
        let findings = gathered.findings(cfg);

        let existing = self.stored_investigations().await?;
        let versions: BTreeMap<String, u64> = existing.iter().map(|(i, v)| (i.id.clone(), *v)).collect();
        let current: Vec<Investigation> = existing.into_iter().map(|(i, _)| i).collect();
        let mut run = DetectionRun { days: days.iter().copied().collect(), findings: findings.len(), ..Default::default() };
        let actor = Governance::system_actor("usage-stream");
        struct Pending {
            i: Investigation,
            before: Option<Investigation>,
            ops: [WriteOp; 2],
            why: String,
            correlation: String,
        }
        let mut pending = Vec::new();
        for i in inv::reconcile(&current, findings, self.clock.now()) {
            let correlation = self.ids.next_id();
            let before = current.iter().find(|c| c.id == i.id).cloned();
            let item = ItemData::new(ItemKey::new(INVESTIGATIONS_PK, i.id.clone()), encode(&i)?);
            let (op, action) = match versions.get(&i.id) {
                None => (put_new(item), "detected"),
                Some(v) => (put_over(item, *v), "evidence_updated"),
            };
            let why = format!("{} {}: {} over {}", i.kind.as_str(), i.key, i.evidence.spend, i.evidence.threshold);
            let audit = self.audit(EntityRef::new("investigation", &i.id), action, (before.as_ref().map(|b| b.status.as_str()), Some(i.status.as_str())), &actor, Some(&why), &correlation)?;
            pending.push(Pending { i, before, ops: [op, audit], why, correlation });
        }
        // A detection over a large estate raises thousands: they are written
        // several to a transaction, each with its audit record. A batch that
        // meets a concurrent run's write is retried one by one, so only the
        // contested ones are left to that run's copy (the next run refreshes).
        let mut written: Vec<&Pending> = Vec::new();
        for batch in pending.chunks(MAX_TRANSACTION_ITEMS / 2) {
            match self.store.transact(batch.iter().flat_map(|p| p.ops.iter().cloned()).collect()).await {
                Ok(()) => written.extend(batch),
                Err(StoreError::Conflict { .. }) => {
                    for p in batch {
                        match self.store.transact(p.ops.to_vec()).await {
                            Ok(()) => written.push(p),
                            Err(StoreError::Conflict { .. }) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        for p in written {
            let i = &p.i;
            if p.before.is_some() {
                run.updated.push(i.id.clone());
            } else {
                run.opened.push(i.id.clone());
            }
            let newly_critical = i.is_critical() && p.before.as_ref().is_none_or(|b| !b.is_critical());
            if let (true, Some(w)) = (newly_critical, &i.evidence.workload) {
                if self.raise_alert(w, &format!("investigation {}: {}", i.id, p.why), &p.correlation, "usage-stream").await? {
                    run.alerted.push(w.clone());
                }
            }
        }
        Ok(run)
    }

    async fn stored_investigations(&self) -> Result<Vec<(Investigation, u64)>> {
        let items = self.store.query_all(INVESTIGATIONS_PK, &SkRange::All).await?;
        items.iter().map(|i| Ok((decode(&i.attrs)?, i.version))).collect()
    }

    /// The investigations the caller may see (the FinOps Lead and Finance:
    /// the organisation, or their subtree's workloads and accounts), newest
    /// evidence first.
    pub async fn investigations(&self, actor: &Actor) -> Result<Vec<Investigation>> {
        let period = BillingPeriod::of(self.clock.now().date_naive());
        let scope = self.analytics_scope(actor, "investigations", period).await?;
        let mut out: Vec<Investigation> = self
            .stored_investigations()
            .await?
            .into_iter()
            .map(|(i, _)| i)
            .filter(|i| i.evidence.workload.as_ref().is_some_and(|w| scope.sees_workload(w)) || scope.sees_account(&i.evidence.account))
            .collect();
        out.sort_by(|a, b| b.evidence.hours.last().cmp(&a.evidence.hours.last()).then_with(|| b.evidence.spend.cmp(&a.evidence.spend)).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// A FinOps Lead's step on an investigation, audited in the same write.
    pub async fn investigation_step(&self, actor: &Actor, id: &str, step: Step, rationale: &str) -> Result<Investigation> {
        let entity = EntityRef::new("investigation", id);
        self.authorize(actor, Action::ActionInvestigation, &entity).await?;
        let key = ItemKey::new(INVESTIGATIONS_PK, id);
        let (mut i, version): (Investigation, u64) = get_typed(self.store.as_ref(), key.clone()).await?.ok_or_else(|| GovernanceError::NotFound { what: "investigation", id: id.to_owned() })?;
        if let Step::Link { gap } = &step {
            // The gap must exist: a link to nothing is a broken trail.
            self.get_gap(actor, gap).await?;
        }
        let from = i.status;
        let action = step.as_str();
        i.apply(step, actor, rationale, self.clock.now()).map_err(|e| match e {
            InvestigationError::RationaleRequired => GovernanceError::invalid("rationale", "is required"),
            e @ InvestigationError::Final { .. } => GovernanceError::Conflict(e.to_string()),
        })?;
        let correlation = self.ids.next_id();
        let audit = self.audit(entity, action, (Some(from.as_str()), Some(i.status.as_str())), actor, Some(rationale.trim()).filter(|r| !r.is_empty()), &correlation)?;
        self.store.transact(vec![put_over(ItemData::new(key, encode(&i)?), version), audit]).await.map_err(|e| match e {
            StoreError::Conflict { .. } => GovernanceError::Conflict(format!("investigation {id} was changed by someone else meanwhile; reload and retry")),
            other => other.into(),
        })?;
        Ok(i)
    }

    /// Spend from the logs over the last `hours`, per workload (and, for
    /// those who may see it, per reason nobody owns it), in the caller's scope.
    pub async fn live(&self, actor: &Actor, hours: u32) -> Result<LiveReport> {
        if hours == 0 || hours > 24 * 31 {
            return Err(GovernanceError::invalid("hours", "must be 1 to 744"));
        }
        let to = invocations::hour_of(self.clock.now()) + Duration::hours(1);
        let from = to - Duration::hours(i64::from(hours));
        let scope = self.spend_scope(actor, "live", BillingPeriod::of(from.date_naive())).await?;
        let attributor = self.attributor().await?;
        let mut owners = invocations::UsageOwners::new(&attributor);
        let mut by_owner: BTreeMap<String, LiveLine> = BTreeMap::new();
        self.fold_usage(from, to, |t| {
            for r in &t.rows {
                add_live(&mut by_owner, &mut owners, &scope, t.key(r), &r.value);
            }
        })
        .await?;
        let mut lines: Vec<LiveLine> = by_owner.into_values().collect();
        lines.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| a.owner.cmp(&b.owner)));
        Ok(LiveReport { from, to, total: lines.iter().map(|l| l.cost).sum(), lines })
    }
}

/// One hour of usage into the live report's lines, if the caller's scope sees its owner.
fn add_live(by_owner: &mut BTreeMap<String, LiveLine>, owners: &mut invocations::UsageOwners<'_>, scope: &super::reports::Scope, k: invocations::UsageKeyRef<'_>, v: &invocations::UsageValue) {
    let name = match owners.of(k) {
        Outcome::Attributed { workload, .. } if scope.sees(&workload) => workload.to_string(),
        Outcome::Unattributed { reason } if scope.sees_unattributed() => format!("unattributed:{}", reason.as_str()),
        _ => return,
    };
    let line = by_owner.entry(name.clone()).or_insert_with(|| LiveLine { owner: name, requests: 0, input_tokens: 0, output_tokens: 0, cost: Money::ZERO, unpriced_requests: 0 });
    line.requests += v.requests;
    line.input_tokens += v.tokens.input;
    line.output_tokens += v.tokens.output;
    line.cost += v.cost;
    line.unpriced_requests += v.unpriced;
}

impl Governance {
    /// The logs' estimate against CUR's bill, per owner and day, on the days
    /// of `period` CUR covers (see `domain::analytics::live_vs_billed`). The
    /// FinOps Lead and Finance see the organisation (per-account coverage
    /// included); an owner sees its workloads' lines, totals recomputed.
    pub async fn live_vs_billed(&self, actor: &Actor, period: BillingPeriod) -> Result<LiveVsBilled> {
        let scope = self.spend_scope(actor, "live_vs_billed", period).await?;
        let facts = self.period_facts(period).await?;
        let from = period.first_day().and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(|| GovernanceError::Internal("day out of range".into()))?;
        // The period's last second: its last hour is in, and the next period's manifests are not read.
        let to = period.last_day().and_hms_opt(23, 59, 59).map(|t| t.and_utc()).ok_or_else(|| GovernanceError::Internal("day out of range".into()))?;
        let attributor = self.attributor().await?;
        let mut comparison = live_vs_billed::Comparison::new(period, &facts, &attributor, &self.catalog);
        self.fold_usage(from, to, |t| t.rows.iter().for_each(|r| comparison.add_usage(t.key(r), &r.value))).await?;
        let full = comparison.finish();
        Ok(match &scope {
            super::reports::Scope::Organisation => full,
            super::reports::Scope::Nodes { unattributed, .. } => full.scoped(
                |owner| match owner.strip_prefix("unattributed:") {
                    Some(_) => *unattributed,
                    None => WorkloadId::parse(owner).is_ok_and(|w| scope.sees(&w)),
                },
                false,
            ),
        })
    }
}

impl Governance {
    /// Every owner-day of `week` live against billed, for its spend cards.
    pub(crate) async fn week_live_lines(&self, week: IsoWeek, facts: &domain::cur::facts::Facts, attributor: &Attributor) -> Result<Vec<live_vs_billed::OwnerDay>> {
        let from = week.monday().and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(|| GovernanceError::Internal("day out of range".into()))?;
        let mut comparisons: Vec<_> = week.periods().into_iter().map(|p| live_vs_billed::Comparison::new(p, facts, attributor, &self.catalog)).collect();
        self.fold_usage(from, from + Duration::days(7), |t| {
            for r in &t.rows {
                comparisons.iter_mut().for_each(|c| c.add_usage(t.key(r), &r.value));
            }
        })
        .await?;
        Ok(comparisons.into_iter().flat_map(|c| c.finish().lines).collect())
    }
}

/// The body of `POST /investigations/{id}/assign|link|close`: `assignee` to
/// assign, `gap` to link; a rationale is required to link or close.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvestigationStepInput {
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub gap: Option<String>,
    #[serde(default)]
    pub rationale: Option<String>,
}

/// A FinOps Lead's step from its API/CLI words.
pub fn step_of(action: &str, assignee: Option<&str>, gap: Option<&str>) -> Result<Step> {
    match action {
        "assign" => {
            let who = assignee.ok_or_else(|| GovernanceError::invalid("assignee", "is required to assign"))?;
            Ok(Step::Assign(UserId::parse(who).map_err(|e| GovernanceError::invalid("assignee", e.to_string()))?))
        }
        "link" => Ok(Step::Link { gap: gap.ok_or_else(|| GovernanceError::invalid("gap", "is required to link"))?.to_owned() }),
        "close" => Ok(Step::Close),
        other => Err(GovernanceError::invalid("action", format!("{other:?} is not assign, link or close"))),
    }
}
