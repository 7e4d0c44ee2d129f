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

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Persona};
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
