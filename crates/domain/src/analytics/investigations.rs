//! Investigations: the signals between weekly cards (PRODUCT.md's hourly
//! spike, new principal and model at 10× its baseline), found in the hourly
//! usage the invocation logs give within minutes, long before CUR.
//!
//! Invariants:
//! - a finding's id is a function of its kind and key only, so re-detection
//!   finds the same investigation, and [`reconcile`] returns only what
//!   changed: a repeat detection writes nothing;
//! - baselines are robust (median and MAD of the trailing days, a missing
//!   hour or day counting as zero spend), so one earlier spike does not hide
//!   the next, and a flat series (MAD = 0) still needs the dollar floor;
//! - severity only rises: a refresh never quietly downgrades a critical
//!   finding that already moved its workload to Alerting;
//! - the lifecycle is Open → Assigned → Linked (to a gap) or Closed (with a
//!   rationale); Linked and Closed are final, and every step is a history
//!   entry (the service writes the audit record in the same write).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Persona};
use crate::cur::attribution::Attributor;
use crate::invocations::{ModelRef, UsageOwners, UsageTable};
use crate::ids::{AccountId, UserId, WorkloadId};
use crate::money::Money;

/// The detectors' knobs, with the defaults a FinOps Lead starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Trailing days a baseline is taken over.
    pub baseline_days: u32,
    /// Of those, days a scope must have spent on before its hours can spike:
    /// a scope whose logs just started has no baseline yet, and every hour
    /// of its first days would otherwise look like a spike.
    pub min_baseline_days: u32,
    /// An hour spikes above median + k·MAD of the same hour on the trailing days…
    pub spike_k: Decimal,
    /// …and by at least this much over the median (what a flat series needs).
    pub spike_floor: Money,
    /// A model's day is a surge above this multiple of its trailing median…
    pub model_multiple: Decimal,
    /// …and at least this much spend.
    pub model_floor: Money,
    /// A finding whose excess (spend above baseline) reaches this is critical:
    /// its workload moves to Alerting.
    pub critical_excess: Money,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            baseline_days: 14,
            min_baseline_days: 7,
            spike_k: Decimal::from(6),
            spike_floor: Money::new(Decimal::from(10)),
            model_multiple: Decimal::from(10),
            model_floor: Money::new(Decimal::from(25)),
            critical_excess: Money::new(Decimal::from(500)),
        }
    }
}

/// A series' robust centre and spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    pub median: Money,
    /// Median absolute deviation from the median.
    pub mad: Money,
}

fn median(mut xs: Vec<Decimal>) -> Decimal {
    if xs.is_empty() {
        return Decimal::ZERO;
    }
    xs.sort();
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / Decimal::TWO
    }
}

/// The median and MAD of `series` (empty: zero and zero).
pub fn baseline(series: &[Money]) -> Baseline {
    let m = median(series.iter().map(|x| x.amount()).collect());
    let mad = median(series.iter().map(|x| (x.amount() - m).abs()).collect());
    Baseline { median: Money::new(m), mad: Money::new(mad) }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvestigationKind {
    HourlySpike,
    NewPrincipal,
    ModelSurge,
}

impl InvestigationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HourlySpike => "hourly_spike",
            Self::NewPrincipal => "new_principal",
            Self::ModelSurge => "model_surge",
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

/// What a finding rests on: enough for a person to check it without
/// re-running anything.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub account: AccountId,
    /// The workload the spend is attributed to, if any.
    pub workload: Option<WorkloadId>,
    pub principal: Option<String>,
    pub model: Option<String>,
    /// The hours the finding covers (UTC, on the hour).
    pub hours: Vec<DateTime<Utc>>,
    /// Spend in those hours, estimated from the logs at catalogue prices.
    pub spend: Money,
    /// The baseline's median for the same hours (zero where there is none).
    pub baseline: Money,
    /// The spend the finding had to exceed.
    pub threshold: Money,
}

impl Evidence {
    fn excess(&self) -> Money {
        self.spend - self.baseline
    }
}

/// One detection's output, before it is an investigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: InvestigationKind,
    /// What the finding is about, stable across re-detections.
    pub key: String,
    pub severity: Severity,
    pub evidence: Evidence,
}

fn severity(excess: Money, cfg: &DetectorConfig) -> Severity {
    if excess >= cfg.critical_excess {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

/// Hourly spend of one scope: a workload, or the spend in an account that
/// nothing claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSeries {
    /// `workload:ID` or `account:ACCOUNT` (used in keys).
    pub scope: String,
    pub account: AccountId,
    pub workload: Option<WorkloadId>,
    pub hourly: BTreeMap<DateTime<Utc>, Money>,
}

/// Hourly spikes in `days` of a scope: each hour whose spend is above
/// median + k·MAD of the same hour on the trailing `baseline_days` days, and
/// at least `spike_floor` above that median, once the scope has spent on
/// `min_baseline_days` of those days. One finding per scope and day,
/// covering that day's spiking hours.
pub fn hourly_spikes(series: &ScopeSeries, days: &BTreeSet<NaiveDate>, cfg: &DetectorConfig) -> Vec<Finding> {
    let at = |h: DateTime<Utc>| series.hourly.get(&h).copied().unwrap_or(Money::ZERO);
    let spent_on: BTreeSet<NaiveDate> = series.hourly.iter().filter(|(_, m)| !m.is_zero()).map(|(h, _)| h.date_naive()).collect();
    let established = |day: NaiveDate| (1..=i64::from(cfg.baseline_days)).filter(|d| spent_on.contains(&(day - Duration::days(*d)))).count() >= cfg.min_baseline_days as usize;
    let mut by_day: BTreeMap<NaiveDate, Evidence> = BTreeMap::new();
    for (&hour, &spend) in series.hourly.iter().filter(|(h, _)| days.contains(&h.date_naive()) && established(h.date_naive())) {
        let history: Vec<Money> = (1..=i64::from(cfg.baseline_days)).map(|d| at(hour - Duration::days(d))).collect();
        let b = baseline(&history);
        let threshold = b.median + b.mad * cfg.spike_k;
        if spend > threshold && spend - b.median >= cfg.spike_floor {
            let e = by_day.entry(hour.date_naive()).or_insert_with(|| Evidence {
                account: series.account.clone(),
                workload: series.workload.clone(),
                principal: None,
                model: None,
                hours: Vec::new(),
                spend: Money::ZERO,
                baseline: Money::ZERO,
                threshold: Money::ZERO,
            });
            e.hours.push(hour);
            e.spend += spend;
            e.baseline += b.median;
            e.threshold += threshold;
        }
    }
    by_day
        .into_iter()
        .map(|(day, evidence)| Finding {
            kind: InvestigationKind::HourlySpike,
            key: format!("{}@{day}", series.scope),
            severity: severity(evidence.excess(), cfg),
            evidence,
        })
        .collect()
}

/// Daily spend of one model in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSeries {
    pub account: AccountId,
    pub model: String,
    pub daily: BTreeMap<NaiveDate, Money>,
}

/// Days in `days` on which a model's spend in an account is above
/// `model_multiple` × its trailing median (missing days are zero), and at
/// least `model_floor`.
pub fn model_surges(series: &ModelSeries, days: &BTreeSet<NaiveDate>, cfg: &DetectorConfig) -> Vec<Finding> {
    let at = |d: NaiveDate| series.daily.get(&d).copied().unwrap_or(Money::ZERO);
    days.iter()
        .filter_map(|&day| {
            let spend = at(day);
            let history: Vec<Money> = (1..=i64::from(cfg.baseline_days)).map(|d| at(day - Duration::days(d))).collect();
            let b = baseline(&history);
            let threshold = b.median * cfg.model_multiple;
            (spend > threshold && spend >= cfg.model_floor).then(|| {
                let evidence = Evidence {
                    account: series.account.clone(),
                    workload: None,
                    principal: None,
                    model: Some(series.model.clone()),
                    hours: Vec::new(),
                    spend,
                    baseline: b.median,
                    threshold,
                };
                Finding {
                    kind: InvestigationKind::ModelSurge,
                    key: format!("{}/{}@{day}", series.account, series.model),
                    severity: severity(evidence.excess(), cfg),
                    evidence,
                }
            })
        })
        .collect()
}

/// A principal seen invoking, with whether an approved request's claim
/// covers it (the same `Attributor` CUR is attributed with decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalSeen {
    pub account: AccountId,
    pub principal: String,
    pub covered: bool,
    pub hours: Vec<DateTime<Utc>>,
    pub spend: Money,
    pub models: BTreeSet<String>,
}

/// A principal that invokes in an account where nothing covers it: one
/// finding per (account, principal), whatever the day.
pub fn new_principals(seen: &[PrincipalSeen], cfg: &DetectorConfig) -> Vec<Finding> {
    seen.iter()
        .filter(|p| !p.covered)
        .map(|p| {
            let evidence = Evidence {
                account: p.account.clone(),
                workload: None,
                principal: Some(p.principal.clone()),
                model: (p.models.len() == 1).then(|| p.models.iter().next().cloned()).flatten(),
                hours: p.hours.clone(),
                spend: p.spend,
                baseline: Money::ZERO,
                threshold: Money::ZERO,
            };
            Finding {
                kind: InvestigationKind::NewPrincipal,
                key: format!("{}/{}", p.account, p.principal),
                severity: severity(evidence.excess(), cfg),
                evidence,
            }
        })
        .collect()
}

/// What the three detectors read, gathered one usage table at a time (see
/// `UsageTable`): each scope's hourly spend, each account's models' daily
/// spend, and each principal seen on the detected days. A table names each
/// caller, model and account once, so attribution and every series are found
/// by dictionary number per row, and text is hashed once per distinct value
/// per table: a detection over weeks of a large estate's hourly usage
/// allocates per series, not per fact.
pub struct Gathered<'a> {
    days: &'a BTreeSet<NaiveDate>,
    owners: UsageOwners<'a>,
    scopes: Vec<ScopeSeries>,
    scope_of_workload: HashMap<&'a WorkloadId, usize, Fast>,
    scope_of_account: HashMap<AccountId, usize, Fast>,
    models: Vec<ModelSeries>,
    model_of: HashMap<(AccountId, String), usize, Fast>,
    principals: Vec<PrincipalSeen>,
    principal_of: HashMap<AccountId, HashMap<String, usize, Fast>, Fast>,
}

type Fast = foldhash::fast::RandomState;

impl<'a> Gathered<'a> {
    /// Gathers for detection on `days`: every fact feeds the scope and model
    /// series (the baselines), only the facts of `days` the principals.
    pub fn new(attributor: &'a Attributor, days: &'a BTreeSet<NaiveDate>) -> Self {
        Gathered {
            days,
            owners: UsageOwners::new(attributor),
            scopes: Vec::new(),
            scope_of_workload: HashMap::default(),
            scope_of_account: HashMap::default(),
            models: Vec::new(),
            model_of: HashMap::default(),
            principals: Vec::new(),
            principal_of: HashMap::default(),
        }
    }

    pub fn add(&mut self, t: &UsageTable) {
        let pairs = self.owners.pairs(t);
        // This table's numbers → the series' numbers, filled as first met.
        let mut account_scope: Vec<Option<usize>> = vec![None; t.accounts.len()];
        let mut model_series: HashMap<(usize, usize), usize, Fast> = HashMap::default();
        let mut principal_series: HashMap<(usize, usize), usize, Fast> = HashMap::default();
        let mut principal_models: HashSet<(usize, usize), Fast> = HashSet::default();
        for (r, pair) in t.rows.iter().zip(pairs) {
            let day = r.hour.date_naive();
            let workload = self.owners.prepared(pair).workload_at(day);
            let account = &t.accounts[r.account];
            let scope = match workload {
                Some(w) => match self.scope_of_workload.get(w) {
                    Some(s) => *s,
                    None => {
                        let s = push(&mut self.scopes, ScopeSeries { scope: format!("workload:{w}"), account: account.clone(), workload: Some(w.clone()), hourly: BTreeMap::new() });
                        self.scope_of_workload.insert(w, s);
                        s
                    }
                },
                None => match account_scope[r.account] {
                    Some(s) => s,
                    None => {
                        let scopes = &mut self.scopes;
                        let s = *self.scope_of_account.entry(account.clone()).or_insert_with(|| push(scopes, ScopeSeries { scope: format!("account:{account}"), account: account.clone(), workload: None, hourly: BTreeMap::new() }));
                        account_scope[r.account] = Some(s);
                        s
                    }
                },
            };
            *self.scopes[scope].hourly.entry(r.hour).or_default() += r.value.cost;

            let m = match model_series.get(&(r.account, r.model)) {
                Some(m) => *m,
                None => {
                    let base = match ModelRef::parse(&t.models[r.model]) {
                        ModelRef::Model(m) => m.base_model().to_owned(),
                        _ => t.models[r.model].clone(),
                    };
                    let models = &mut self.models;
                    let m = *self.model_of.entry((account.clone(), base.clone())).or_insert_with(|| push(models, ModelSeries { account: account.clone(), model: base, daily: BTreeMap::new() }));
                    model_series.insert((r.account, r.model), m);
                    m
                }
            };
            *self.models[m].daily.entry(day).or_default() += r.value.cost;

            if !self.days.contains(&day) {
                continue;
            }
            let p = match principal_series.get(&(r.account, r.principal)) {
                Some(p) => *p,
                None => {
                    let principal = &t.principals[r.principal];
                    let of_account = self.principal_of.entry(account.clone()).or_default();
                    let p = match of_account.get(principal.as_str()) {
                        Some(p) => *p,
                        None => {
                            let p = push(&mut self.principals, PrincipalSeen { account: account.clone(), principal: principal.clone(), covered: true, hours: Vec::new(), spend: Money::ZERO, models: BTreeSet::new() });
                            of_account.insert(principal.clone(), p);
                            p
                        }
                    };
                    principal_series.insert((r.account, r.principal), p);
                    p
                }
            };
            let seen = &mut self.principals[p];
            // Covered only if every call of it is attributed.
            seen.covered &= workload.is_some();
            // Facts mostly come in hour order: the last hour is checked first.
            if seen.hours.last() != Some(&r.hour) && !seen.hours.contains(&r.hour) {
                seen.hours.push(r.hour);
            }
            seen.spend += r.value.cost;
            // The model's name is looked up once per caller and model per table.
            if principal_models.insert((p, r.model)) && !seen.models.contains(t.models[r.model].as_str()) {
                seen.models.insert(t.models[r.model].clone());
            }
        }
    }

    /// Every detector's findings on the days, in key order (scope, then
    /// account and model, then account and principal), whatever order the
    /// tables came in.
    pub fn findings(mut self, cfg: &DetectorConfig) -> Vec<Finding> {
        self.scopes.sort_by(|a, b| a.scope.cmp(&b.scope));
        self.models.sort_by(|a, b| (&a.account, &a.model).cmp(&(&b.account, &b.model)));
        self.principals.sort_by(|a, b| (&a.account, &a.principal).cmp(&(&b.account, &b.principal)));
        let mut findings = Vec::new();
        for s in &self.scopes {
            findings.extend(hourly_spikes(s, self.days, cfg));
        }
        for m in &self.models {
            findings.extend(model_surges(m, self.days, cfg));
        }
        findings.extend(new_principals(&self.principals, cfg));
        findings
    }
}

fn push<T>(v: &mut Vec<T>, x: T) -> usize {
    v.push(x);
    v.len() - 1
}

/// The same kind and key always give the same id (FNV-1a, as gap ids).
pub fn investigation_id(kind: InvestigationKind, key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.as_str().bytes().chain([0u8]).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("inv-{h:016x}")
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InvestigationStatus {
    Open,
    Assigned,
    Linked,
    Closed,
}

impl InvestigationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::Assigned => "Assigned",
            Self::Linked => "Linked",
            Self::Closed => "Closed",
        }
    }
}

/// One step of an investigation's history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvestigationEntry {
    pub at: DateTime<Utc>,
    pub actor: UserId,
    pub persona: Persona,
    /// `detected`, `evidence_updated`, `escalated`, `assign`, `link`, `close`.
    pub action: String,
    pub from: Option<InvestigationStatus>,
    pub to: InvestigationStatus,
    pub rationale: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Investigation {
    pub id: String,
    pub kind: InvestigationKind,
    pub key: String,
    pub severity: Severity,
    pub evidence: Evidence,
    pub status: InvestigationStatus,
    pub assignee: Option<UserId>,
    /// The gap it was linked to.
    pub gap: Option<String>,
    pub history: Vec<InvestigationEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvestigationError {
    #[error("a rationale is required")]
    RationaleRequired,
    #[error("investigation {id} is {status}; {action} needs it Open or Assigned")]
    Final { id: String, status: &'static str, action: &'static str },
}

/// What a FinOps Lead does with an investigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Assign(UserId),
    Link { gap: String },
    Close,
}

impl Step {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Assign(_) => "assign",
            Self::Link { .. } => "link",
            Self::Close => "close",
        }
    }
}

fn detector_entry(at: DateTime<Utc>, action: &str, from: Option<InvestigationStatus>, to: InvestigationStatus, why: String) -> InvestigationEntry {
    InvestigationEntry {
        at,
        actor: UserId::parse("usage-stream").unwrap_or_else(|_| UserId::parse("system").expect("valid user id")),
        persona: Persona::System,
        action: action.into(),
        from,
        to,
        rationale: Some(why),
    }
}

impl Investigation {
    pub fn open(f: Finding, at: DateTime<Utc>) -> Self {
        let why = format!("{} {} of {} over a threshold of {}", f.kind.as_str(), f.key, f.evidence.spend, f.evidence.threshold);
        Self {
            id: investigation_id(f.kind, &f.key),
            kind: f.kind,
            key: f.key,
            severity: f.severity,
            evidence: f.evidence,
            status: InvestigationStatus::Open,
            assignee: None,
            gap: None,
            history: vec![detector_entry(at, "detected", None, InvestigationStatus::Open, why)],
        }
    }

    pub fn is_critical(&self) -> bool {
        self.severity == Severity::Critical
    }

    /// A re-detection: the evidence is refreshed and the severity may rise.
    /// Returns whether anything changed.
    pub fn observe(&mut self, f: Finding, at: DateTime<Utc>) -> bool {
        let mut changed = false;
        if f.evidence != self.evidence {
            let why = format!("spend now {} over {} hour(s)", f.evidence.spend, f.evidence.hours.len());
            self.evidence = f.evidence;
            self.history.push(detector_entry(at, "evidence_updated", Some(self.status), self.status, why));
            changed = true;
        }
        if f.severity > self.severity {
            self.severity = f.severity;
            self.history.push(detector_entry(at, "escalated", Some(self.status), self.status, "the excess reached the critical level".into()));
            changed = true;
        }
        changed
    }

    /// Checks a step may be taken now.
    pub fn check(&self, step: &Step, rationale: &str) -> Result<(), InvestigationError> {
        if matches!(self.status, InvestigationStatus::Linked | InvestigationStatus::Closed) {
            return Err(InvestigationError::Final { id: self.id.clone(), status: self.status.as_str(), action: step.as_str() });
        }
        if matches!(step, Step::Close | Step::Link { .. }) && rationale.trim().is_empty() {
            return Err(InvestigationError::RationaleRequired);
        }
        Ok(())
    }

    /// Records a step (the caller checked who may take it).
    pub fn apply(&mut self, step: Step, actor: &Actor, rationale: &str, at: DateTime<Utc>) -> Result<(), InvestigationError> {
        self.check(&step, rationale)?;
        let to = match &step {
            Step::Assign(_) => InvestigationStatus::Assigned,
            Step::Link { .. } => InvestigationStatus::Linked,
            Step::Close => InvestigationStatus::Closed,
        };
        let action = step.as_str();
        match step {
            Step::Assign(who) => self.assignee = Some(who),
            Step::Link { gap } => self.gap = Some(gap),
            Step::Close => {}
        }
        let rationale = rationale.trim();
        self.history.push(InvestigationEntry {
            at,
            actor: actor.user.clone(),
            persona: actor.persona,
            action: action.into(),
            from: Some(self.status),
            to,
            rationale: (!rationale.is_empty()).then(|| rationale.to_owned()),
        });
        self.status = to;
        Ok(())
    }
}

/// Re-detection: the investigations that are new or changed. Unchanged ones
/// are not returned, so a repeat detection writes nothing; an investigation
/// whose condition no longer holds stays as it is (a person closes it).
pub fn reconcile(existing: &[Investigation], findings: Vec<Finding>, at: DateTime<Utc>) -> Vec<Investigation> {
    let mut by_id: BTreeMap<&str, &Investigation> = existing.iter().map(|i| (i.id.as_str(), i)).collect();
    let mut changed = Vec::new();
    for f in findings {
        let id = investigation_id(f.kind, &f.key);
        match by_id.remove(id.as_str()) {
            Some(i) => {
                let mut i = i.clone();
                if i.observe(f, at) {
                    changed.push(i);
                }
            }
            None => changed.push(Investigation::open(f, at)),
        }
    }
    changed
}

#[cfg(test)]
#[path = "investigations_tests.rs"]
mod tests;
