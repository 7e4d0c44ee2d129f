//! Agent Bill's answers: the figures each question is answered with, and the
//! one-paragraph rendering of them (templates, no model).
//!
//! Every answer is computed from one [`SpendCube`]: a span's AI spend summed
//! by owner and line (model × token type × region). Principals, sessions and
//! days are summed away, so a cube stays small on a large estate (a few
//! cells per workload and usage type) and answers are lookups in it: a
//! service can build the cube once per span and keep it while the facts and
//! claims it was built from are unchanged.
//!
//! Invariants:
//! - the cube's cells add up to the span's AI spend exactly, attributed,
//!   unattributed and adjustments alike (`SpendCube::total`);
//! - every figure is exact; only a projection or a saving (a rate applied
//!   to money) is rounded, to the cent, and says so;
//! - what a caller may see is decided by the caller ([`Visible`]), never here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::{Dimension, Ranking, Span};
use crate::analytics::cards::{flag, line_of, prorate, token_name, Flag, Thresholds};
use crate::cur::attribution::{Anchor, Attributor, Outcome, Reason};
use crate::cur::facts::{outcomes, Facts};
use crate::cur::usage_type::TokenType;
use crate::governance::catalog::PriceCatalog;
use crate::{BillingPeriod, Money, WorkloadId};

impl Span {
    /// The billing periods whose facts the span reads.
    pub fn periods(self) -> Vec<BillingPeriod> {
        match self {
            Span::Month(p) => vec![p],
            Span::Week(w) => w.periods(),
        }
    }

    pub fn contains(self, day: NaiveDate) -> bool {
        match self {
            Span::Month(p) => p.contains(day),
            Span::Week(w) => w.contains(day),
        }
    }

    /// The span before this one, of the same kind (growth compares with it).
    pub fn previous(self) -> Span {
        match self {
            Span::Month(p) => Span::Month(p.previous()),
            Span::Week(w) => Span::Week(w.previous()),
        }
    }

    /// A monthly amount over the span: the month's, or the week's prorated
    /// share (each day 1/n of its own month).
    pub fn share_of_monthly(self, monthly: Money) -> Money {
        match self {
            Span::Month(_) => monthly,
            Span::Week(w) => prorate(monthly, w),
        }
    }
}

/// Who a cell of spend belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// `via_profile`: carried by a claimed application inference profile
    /// (what MAP credit needs), rather than a role, session or other anchor.
    Workload { id: WorkloadId, via_profile: bool },
    Unattributed(Reason),
    /// Credits, taxes, fees: not usage anybody made.
    Adjustment,
}

/// One line of spend: model (or the kind of a non-token line), token type, region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    pub owner: Owner,
    pub model: String,
    pub token: Option<TokenType>,
    pub region: String,
}

/// Cost and tokens (CUR's usage amount; zero on a line that is not tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub cost: Money,
    pub tokens: Decimal,
}

/// A span's AI spend by owner and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendCube {
    pub span: Span,
    pub cells: BTreeMap<Cell, Amount>,
    /// The last day with any AI spend in the span: how far the bill has
    /// arrived (CUR is a day or two behind).
    pub last_day: Option<NaiveDate>,
}

impl SpendCube {
    /// Sums the span's AI facts (of `facts`, which holds the span's periods)
    /// by owner and line. Usage types are decoded once per distinct string.
    pub fn build(span: Span, facts: &Facts, attributor: &Attributor, catalog: &PriceCatalog) -> Self {
        let mut cells: BTreeMap<Cell, Amount> = BTreeMap::new();
        let mut lines: BTreeMap<&str, (String, Option<TokenType>, String)> = BTreeMap::new();
        let mut last_day: Option<NaiveDate> = None;
        for period in span.periods() {
            for (k, v, outcome) in outcomes(period, facts, attributor) {
                if !span.contains(k.usage_day) {
                    continue;
                }
                last_day = last_day.max(Some(k.usage_day));
                let (model, token, region) = lines.entry(k.usage_type).or_insert_with(|| line_of(k.usage_type, catalog)).clone();
                let owner = match outcome {
                    Outcome::Attributed { workload, anchor } => Owner::Workload { id: workload, via_profile: anchor == Anchor::InferenceProfile },
                    Outcome::Unattributed { reason } => Owner::Unattributed(reason),
                    Outcome::Adjustment => Owner::Adjustment,
                };
                let a = cells.entry(Cell { owner, model, token, region }).or_default();
                a.cost += v.cost;
                a.tokens += v.usage_amount;
            }
        }
        Self { span, cells, last_day }
    }

    /// Every cell's cost: the span's AI spend.
    pub fn total(&self) -> Money {
        self.cells.values().map(|a| a.cost).sum()
    }

    /// The attributed cells of the workloads `visible` lets through.
    fn workload_cells<'a>(&'a self, visible: &'a dyn Fn(&WorkloadId) -> bool) -> impl Iterator<Item = (&'a WorkloadId, bool, &'a Cell, &'a Amount)> + 'a {
        self.cells.iter().filter_map(move |(c, a)| match &c.owner {
            Owner::Workload { id, via_profile } if visible(id) => Some((id, *via_profile, c, a)),
            _ => None,
        })
    }

    /// Attributed spend per workload (of those `visible` lets through).
    pub fn by_workload(&self, visible: &dyn Fn(&WorkloadId) -> bool) -> BTreeMap<WorkloadId, Money> {
        let mut out: BTreeMap<WorkloadId, Money> = BTreeMap::new();
        for (w, _, _, a) in self.workload_cells(visible) {
            *out.entry(w.clone()).or_default() += a.cost;
        }
        out
    }
}

/// The workloads an answer covers: the one asked about, or every workload
/// the caller sees (its own, for a Product Owner; all, for the FinOps Lead).
pub struct Visible<'a> {
    pub workloads: &'a BTreeSet<WorkloadId>,
}

impl Visible<'_> {
    pub fn sees(&self, w: &WorkloadId) -> bool {
        self.workloads.contains(w)
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EstimateVerdict {
    Over,
    Under,
    /// Spend, or none, with no estimate to compare with.
    NoEstimate,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimateLine {
    pub workload: WorkloadId,
    pub actual: Money,
    /// The monthly estimate's share of the span (`None`: no estimate).
    pub estimate: Option<Money>,
    /// (actual − estimate) ÷ estimate, in percent.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub variance_pct: Option<Decimal>,
    pub verdict: EstimateVerdict,
    /// The spend card's flag for the same figures.
    pub flag: Flag,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendRow {
    /// The model, region, token type or workload.
    pub key: String,
    pub cost: Money,
    /// Tokens, where the row is tokens (CUR's usage amount).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tokens: Decimal,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheLine {
    pub model: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub input_tokens: Decimal,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub cache_read_tokens: Decimal,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub cache_write_tokens: Decimal,
    /// cache read ÷ (input + cache read + cache write); `None` with no input at all.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub hit_rate: Option<Decimal>,
    /// What serving 10 more percentage points of the input from cache would
    /// save at catalogue prices (input price less cache-read price), to the
    /// cent; `None` where the catalogue has no cache price for the model.
    pub saving_per_10_points: Option<Money>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopLine {
    pub workload: WorkloadId,
    pub cost: Money,
    pub previous: Money,
    pub growth: Money,
    /// Growth in percent of the previous span (`None` when it spent nothing).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub growth_pct: Option<Decimal>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnapprovedLine {
    pub model: String,
    pub account: String,
    pub region: String,
    pub spend: Money,
    /// The allocation gap it comes from, and its state.
    pub gap: String,
    pub status: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapLine {
    pub workload: WorkloadId,
    /// The `map-migrated` tag value (the MAP engagement).
    pub engagement: String,
    pub spend: Money,
    /// Through the workload's application inference profiles: tagged, so it counts.
    pub via_profiles: Money,
    /// Everything else (roles, sessions called without a profile): untagged, at risk.
    pub at_risk: Money,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonLine {
    pub reason: Reason,
    pub cost: Money,
}

/// The numbers of an answer, one shape per question.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Figures {
    /// `actual` and `estimate` cover the workloads that have an estimate;
    /// `unestimated` is the spend of those that have none.
    EstimateStatus { workloads: Vec<EstimateLine>, actual: Money, estimate: Money, unestimated: Money },
    SpendBy { dimension: Dimension, rows: Vec<SpendRow>, total: Money },
    CacheHitRate {
        models: Vec<CacheLine>,
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        hit_rate: Option<Decimal>,
        saving_per_10_points: Money,
    },
    TopWorkloads { by: Ranking, previous_span: Span, rows: Vec<TopLine> },
    UnapprovedModels { rows: Vec<UnapprovedLine>, total: Money },
    MapCreditsAtRisk { rows: Vec<MapLine>, at_risk: Money },
    MonthToDate {
        period: BillingPeriod,
        /// The last day the bill has arrived for (`None`: nothing yet).
        through: Option<NaiveDate>,
        days_elapsed: u32,
        days_in_month: u32,
        spent: Money,
        /// The monthly estimates of the workloads that have one.
        estimate: Option<Money>,
        /// spent × days in month ÷ days elapsed, to the cent.
        projected: Money,
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        projected_variance_pct: Option<Decimal>,
    },
    Unattributed { total: Money, by_reason: Vec<ReasonLine> },
    Suspend { workload: WorkloadId, state: String, calls: usize, dry_run: bool },
}

fn pct(part: Decimal, whole: Decimal) -> Option<Decimal> {
    (!whole.is_zero()).then(|| (part * Decimal::ONE_HUNDRED / whole).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

fn cents(d: Decimal) -> Money {
    Money::new(d).round_cents()
}

/// Over or under estimate, per workload of `workloads` (in order), against
/// the span's share of each monthly estimate.
pub fn estimate_status(cube: &SpendCube, workloads: &[WorkloadId], estimates: &BTreeMap<WorkloadId, Money>, t: &Thresholds) -> Figures {
    let set: BTreeSet<WorkloadId> = workloads.iter().cloned().collect();
    let actuals = cube.by_workload(&|w| set.contains(w));
    let mut lines = Vec::new();
    let (mut actual_sum, mut estimate_sum, mut unestimated) = (Money::ZERO, Money::ZERO, Money::ZERO);
    for w in workloads {
        let actual = actuals.get(w).copied().unwrap_or_default();
        let estimate = estimates.get(w).map(|m| cube.span.share_of_monthly(*m));
        let (variance_pct, f) = flag(actual, estimate.unwrap_or_default(), t);
        let verdict = match estimate {
            None => EstimateVerdict::NoEstimate,
            Some(e) if actual > e => EstimateVerdict::Over,
            Some(_) => EstimateVerdict::Under,
        };
        match estimate {
            Some(e) => {
                actual_sum += actual;
                estimate_sum += e;
            }
            None => unestimated += actual,
        }
        lines.push(EstimateLine { workload: w.clone(), actual, estimate, variance_pct, verdict, flag: f });
    }
    Figures::EstimateStatus { workloads: lines, actual: actual_sum, estimate: estimate_sum, unestimated }
}

/// Spend of the visible workloads by one dimension, largest first.
pub fn spend_by(cube: &SpendCube, dimension: Dimension, visible: &Visible) -> Figures {
    let mut sums: BTreeMap<String, (Money, Decimal)> = BTreeMap::new();
    let sees = |w: &WorkloadId| visible.sees(w);
    for (w, _, c, a) in cube.workload_cells(&sees) {
        let key = match dimension {
            Dimension::Model => c.model.clone(),
            Dimension::Region => c.region.clone(),
            Dimension::TokenType => c.token.map_or("other usage", token_name).to_owned(),
            Dimension::Workload => w.to_string(),
        };
        let e = sums.entry(key).or_default();
        e.0 += a.cost;
        if c.token.is_some() {
            e.1 += a.tokens;
        }
    }
    let total = sums.values().map(|(c, _)| *c).sum();
    let mut rows: Vec<SpendRow> = sums.into_iter().map(|(key, (cost, tokens))| SpendRow { key, cost, tokens }).collect();
    rows.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| a.key.cmp(&b.key)));
    Figures::SpendBy { dimension, rows, total }
}

/// The catalogue's (input, cache read) price per 1K tokens of a model id on a
/// line's region (a geography's profile price when the line is one).
fn cache_prices(catalog: &PriceCatalog, model: &str, region: &str) -> Option<(Decimal, Decimal)> {
    let m = catalog.models.iter().find(|m| m.model_id.as_str() == model)?;
    let geo = m.profile_prices.contains_key(region).then_some(region);
    let p = m.prices_for(geo, region);
    Some((p.input?, p.cache_read?))
}

/// Cache hit rate of the visible workloads per model, and what serving ten
/// more points of their input from cache would save at catalogue prices.
pub fn cache_hit_rate(cube: &SpendCube, visible: &Visible, catalog: &PriceCatalog) -> Figures {
    // (input, cache read, cache write) tokens per model, and per (model, region) for pricing.
    let mut by_model: BTreeMap<&str, [Decimal; 3]> = BTreeMap::new();
    let mut by_region: BTreeMap<(&str, &str), [Decimal; 3]> = BTreeMap::new();
    let sees = |w: &WorkloadId| visible.sees(w);
    for (_, _, c, a) in cube.workload_cells(&sees) {
        let i = match c.token {
            Some(TokenType::Input) => 0,
            Some(TokenType::CacheRead) => 1,
            Some(TokenType::CacheWrite) => 2,
            _ => continue,
        };
        by_model.entry(&c.model).or_default()[i] += a.tokens;
        by_region.entry((&c.model, &c.region)).or_default()[i] += a.tokens;
    }
    let rate = |t: &[Decimal; 3]| {
        let denom = t[0] + t[1] + t[2];
        (!denom.is_zero()).then(|| (t[1] / denom).round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero))
    };
    let mut savings: BTreeMap<&str, Option<Decimal>> = BTreeMap::new();
    for ((model, region), t) in &by_region {
        // Ten points of all input-side tokens move from input to cache read,
        // never more than the input there is.
        let moved = ((t[0] + t[1] + t[2]) / Decimal::TEN).min(t[0]);
        let saving = cache_prices(catalog, model, region).map(|(input, read)| moved * (input - read).max(Decimal::ZERO) / Decimal::ONE_THOUSAND);
        let e = savings.entry(model).or_insert(Some(Decimal::ZERO));
        *e = match (*e, saving) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    let models: Vec<CacheLine> = by_model
        .iter()
        .map(|(model, t)| CacheLine {
            model: (*model).to_owned(),
            input_tokens: t[0],
            cache_read_tokens: t[1],
            cache_write_tokens: t[2],
            hit_rate: rate(t),
            saving_per_10_points: savings.get(model).copied().flatten().map(cents),
        })
        .collect();
    let all = by_model.values().fold([Decimal::ZERO; 3], |acc, t| [acc[0] + t[0], acc[1] + t[1], acc[2] + t[2]]);
    let saving = models.iter().filter_map(|m| m.saving_per_10_points).sum();
    Figures::CacheHitRate { models, hit_rate: rate(&all), saving_per_10_points: saving }
}

/// The ten visible workloads that spent or grew most (growth against the
/// previous span's cube).
pub fn top_workloads(cube: &SpendCube, previous: &SpendCube, by: Ranking, visible: &Visible) -> Figures {
    let sees = |w: &WorkloadId| visible.sees(w);
    let now = cube.by_workload(&sees);
    let before = previous.by_workload(&sees);
    let names: BTreeSet<&WorkloadId> = now.keys().chain(before.keys()).collect();
    let mut rows: Vec<TopLine> = names
        .into_iter()
        .map(|w| {
            let cost = now.get(w).copied().unwrap_or_default();
            let prev = before.get(w).copied().unwrap_or_default();
            TopLine { workload: w.clone(), cost, previous: prev, growth: cost - prev, growth_pct: pct((cost - prev).amount(), prev.amount()) }
        })
        .collect();
    match by {
        Ranking::Spend => rows.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| a.workload.cmp(&b.workload))),
        Ranking::Growth => rows.sort_by(|a, b| b.growth.cmp(&a.growth).then_with(|| a.workload.cmp(&b.workload))),
    }
    rows.truncate(10);
    Figures::TopWorkloads { by, previous_span: previous.span, rows }
}

/// Spend of MAP-tagged workloads (`engagements`: workload → `map-migrated`
/// value) through their application inference profiles, and the rest, which
/// carries no tag and so earns no MAP credit.
pub fn map_credits_at_risk(cube: &SpendCube, engagements: &BTreeMap<WorkloadId, String>, visible: &Visible) -> Figures {
    let mut sums: BTreeMap<&WorkloadId, (Money, Money)> = BTreeMap::new();
    let sees = |w: &WorkloadId| visible.sees(w) && engagements.contains_key(w);
    for (w, via_profile, _, a) in cube.workload_cells(&sees) {
        let e = sums.entry(w).or_default();
        if via_profile {
            e.0 += a.cost;
        } else {
            e.1 += a.cost;
        }
    }
    let mut rows: Vec<MapLine> = engagements
        .iter()
        .filter(|(w, _)| visible.sees(w))
        .map(|(w, engagement)| {
            let (via, risk) = sums.get(w).copied().unwrap_or_default();
            MapLine { workload: w.clone(), engagement: engagement.clone(), spend: via + risk, via_profiles: via, at_risk: risk }
        })
        .collect();
    rows.sort_by(|a, b| b.at_risk.cmp(&a.at_risk).then_with(|| a.workload.cmp(&b.workload)));
    let at_risk = rows.iter().map(|r| r.at_risk).sum();
    Figures::MapCreditsAtRisk { rows, at_risk }
}

/// Spend so far in the cube's month against the workloads' monthly
/// estimates, projected in a straight line from the days the bill covers.
pub fn month_to_date(cube: &SpendCube, workloads: &[WorkloadId], estimates: &BTreeMap<WorkloadId, Money>) -> Figures {
    let period = match cube.span {
        Span::Month(p) => p,
        Span::Week(w) => BillingPeriod::of(w.monday()),
    };
    let set: BTreeSet<WorkloadId> = workloads.iter().cloned().collect();
    let spent: Money = cube.by_workload(&|w| set.contains(w)).values().copied().sum();
    let days_in_month = period.days();
    let days_elapsed = cube.last_day.map_or(0, |d| d.day());
    let projected = if days_elapsed == 0 { Money::ZERO } else { cents(spent.amount() * Decimal::from(days_in_month) / Decimal::from(days_elapsed)) };
    let with: Vec<Money> = workloads.iter().filter_map(|w| estimates.get(w).copied()).collect();
    let estimate = (!with.is_empty()).then(|| with.iter().copied().sum::<Money>());
    let projected_variance_pct = estimate.and_then(|e| pct((projected - e).amount(), e.amount()));
    Figures::MonthToDate { period, through: cube.last_day, days_elapsed, days_in_month, spent, estimate, projected, projected_variance_pct }
}

/// Spend nobody owns in the span, by reason (largest first).
pub fn unattributed(cube: &SpendCube) -> Figures {
    let mut sums: BTreeMap<Reason, Money> = BTreeMap::new();
    for (c, a) in &cube.cells {
        if let Owner::Unattributed(r) = c.owner {
            *sums.entry(r).or_default() += a.cost;
        }
    }
    let total = sums.values().copied().sum();
    let mut by_reason: Vec<ReasonLine> = sums.into_iter().map(|(reason, cost)| ReasonLine { reason, cost }).collect();
    by_reason.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| a.reason.cmp(&b.reason)));
    Figures::Unattributed { total, by_reason }
}

fn reason_words(r: Reason) -> &'static str {
    match r {
        Reason::AttributionNotEnabled => "IAM principal attribution is not enabled on the export",
        Reason::UnallocatedGuardrail => "guardrails nobody claimed",
        Reason::BroadRole => "broad shared roles (SSO administrators, PowerUser)",
        Reason::BeforeClaim => "usage before its role was claimed",
        Reason::UnclaimedWorkload => "finops- roles nobody claimed",
        Reason::NoBudgetAllocation => "principals with no claim",
    }
}

fn rate_words(r: Option<Decimal>) -> String {
    r.map_or_else(|| "no cacheable input".to_owned(), |r| format!("{}%", (r * Decimal::ONE_HUNDRED).normalize()))
}

/// The answer in one paragraph. `span` is what the figures cover and
/// `scope` whose spend ("your workloads", "the organisation", …).
pub fn render(f: &Figures, span: &str, scope: &str) -> String {
    let text = paragraph(f, span, scope);
    let mut c = text.chars();
    c.next().map_or_else(String::new, |first| first.to_uppercase().chain(c).collect())
}

fn paragraph(f: &Figures, span: &str, scope: &str) -> String {
    match f {
        Figures::EstimateStatus { workloads, actual, estimate, unestimated } => {
            let over: Vec<String> = workloads.iter().filter(|l| l.verdict == EstimateVerdict::Over).map(|l| format!("{} ({} against {})", l.workload, l.actual, l.estimate.unwrap_or_default())).collect();
            let none = workloads.iter().filter(|l| l.verdict == EstimateVerdict::NoEstimate).count();
            let mut s = if none == workloads.len() {
                format!("In {span}, no workload of {scope} has an estimate to compare with.")
            } else {
                let diff = if actual > estimate { format!("{} over", *actual - *estimate) } else { format!("{} under", *estimate - *actual) };
                let mut s = format!("In {span}, {scope} spent {actual} against an estimate of {estimate}, {diff}.");
                if workloads.len() > 1 || !over.is_empty() {
                    s.push_str(&match over.len() {
                        0 => " No workload is over its estimate.".to_owned(),
                        n => format!(" {n} over estimate: {}.", over.join(", ")),
                    });
                }
                s
            };
            if none > 0 {
                s.push_str(&format!(" {none} workload(s) with no estimate spent {unestimated} more."));
            }
            s
        }
        Figures::SpendBy { dimension, rows, total } => {
            let by = match dimension {
                Dimension::Model => "model",
                Dimension::Region => "region",
                Dimension::TokenType => "token type",
                Dimension::Workload => "workload",
            };
            let top: Vec<String> = rows.iter().take(5).map(|r| format!("{} {}", r.key, r.cost)).collect();
            if rows.is_empty() {
                format!("{scope} had no attributed AI spend in {span}.")
            } else {
                format!("In {span}, {scope} spent {total} across {} {by}(s); the largest: {}.", rows.len(), top.join(", "))
            }
        }
        Figures::CacheHitRate { models, hit_rate, saving_per_10_points } => {
            if models.is_empty() {
                return format!("{scope} used no cacheable input tokens in {span}.");
            }
            format!(
                "In {span}, {scope} served {} of input tokens from cache. Serving 10 more percentage points of input from cache would have saved {saving_per_10_points} at catalogue prices (input price less cache-read price), across {} model(s).",
                rate_words(*hit_rate),
                models.len()
            )
        }
        Figures::TopWorkloads { by, previous_span, rows } => {
            let list: Vec<String> = rows
                .iter()
                .take(5)
                .map(|r| match by {
                    Ranking::Spend => format!("{} {}", r.workload, r.cost),
                    Ranking::Growth => format!("{} {} ({} to {})", r.workload, r.growth, r.previous, r.cost),
                })
                .collect();
            let what = if *by == Ranking::Growth { format!("grew the most since {previous_span}") } else { "spent the most".to_owned() };
            if rows.is_empty() {
                format!("{scope} had no attributed AI spend in {span} or {previous_span}.")
            } else {
                format!("Of {scope}, the workloads that {what} in {span}: {}.", list.join(", "))
            }
        }
        Figures::UnapprovedModels { rows, total } => {
            if rows.is_empty() {
                return format!("No model was used outside its approval in {span} for {scope}.");
            }
            let list: Vec<String> = rows.iter().take(5).map(|r| format!("{} in {} {} ({})", r.model, r.account, r.region, r.spend)).collect();
            format!("In {span}, {total} went to {} model, account and region combination(s) no approval covers: {}.", rows.len(), list.join("; "))
        }
        Figures::MapCreditsAtRisk { rows, at_risk } => {
            if rows.is_empty() {
                return format!("{scope} has no MAP-tagged workload.");
            }
            let list: Vec<String> = rows.iter().filter(|r| !r.at_risk.is_zero()).take(5).map(|r| format!("{} {}", r.workload, r.at_risk)).collect();
            let detail = if list.is_empty() { String::new() } else { format!(": {}", list.join(", ")) };
            format!(
                "In {span}, {at_risk} of the spend of {} MAP-tagged workload(s) ran outside their application inference profiles, so it carries no map-migrated tag and earns no MAP credit{detail}.",
                rows.len()
            )
        }
        Figures::MonthToDate { period, through, days_elapsed, days_in_month, spent, estimate, projected, projected_variance_pct } => {
            let Some(day) = through else {
                return format!("No AI spend has been billed for {period} yet for {scope}.");
            };
            let mut s = format!("{scope} spent {spent} in {period} through {day} ({days_elapsed} of {days_in_month} days); in a straight line the month ends at {projected}");
            match (estimate, projected_variance_pct) {
                (Some(e), Some(p)) => s.push_str(&format!(" against an estimate of {e} ({}{p}%).", if p.is_sign_negative() { "" } else { "+" })),
                (Some(e), None) => s.push_str(&format!(" against an estimate of {e}.")),
                _ => s.push_str(", with no estimate to compare with."),
            }
            s
        }
        Figures::Unattributed { total, by_reason } => {
            if by_reason.is_empty() {
                return format!("All AI spend in {span} has an owner.");
            }
            let list: Vec<String> = by_reason.iter().map(|r| format!("{} {} ({})", r.cost, reason_words(r.reason), r.reason.as_str())).collect();
            format!("In {span}, {total} of AI spend has no owner: {}.", list.join("; "))
        }
        Figures::Suspend { workload, state, calls, dry_run } => {
            if *dry_run {
                format!("Suspending workload {workload} would make {calls} IAM call(s); nothing was changed.")
            } else {
                format!("Workload {workload} is now {state}: {calls} IAM call(s) made, and its model invocations are denied.")
            }
        }
    }
}

#[cfg(test)]
#[path = "agent_answers_tests.rs"]
mod tests;
