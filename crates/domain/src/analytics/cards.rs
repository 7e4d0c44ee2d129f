//! Weekly Spend Cards (PRODUCT.md "Weekly Spend Cards"): for every claimed
//! workload, the previous Monday–Sunday's attributed spend against its estimate,
//! accepted or disputed by the Product Owner, and rolled up per portfolio for the
//! Portfolio Owner's approval into an immutable chargeback record.
//!
//! A settled card (accepted, or its dispute resolved) never changes. CUR data
//! that arrives later for a settled week is not lost: the difference appears as
//! a late-data adjustment line on the next card that is still open.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::cur::attribution::{Attributor, Outcome};
use crate::cur::facts::{outcomes, Facts};
use crate::cur::usage_type::{decode, Location, TokenType, Usage};
use crate::analytics::live_vs_billed::LiveCheck;
use crate::governance::catalog::PriceCatalog;
use crate::ids::{NodeId, UserId, WorkloadId};
use crate::money::Money;
use crate::period::{BillingPeriod, IsoWeek};

/// Variance thresholds, in percent over the estimate (strictly greater flags).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub warn_pct: Decimal,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub critical_pct: Decimal,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { warn_pct: Decimal::from(10), critical_pct: Decimal::from(25) }
    }
}

impl Thresholds {
    /// From configuration text (`FINOPS_CARD_WARN_PCT`, `FINOPS_CARD_CRITICAL_PCT`);
    /// a missing value keeps its default.
    pub fn from_config(warn: Option<&str>, critical: Option<&str>) -> Result<Self, String> {
        let d = Self::default();
        let read = |v: Option<&str>, name: &str, default: Decimal| -> Result<Decimal, String> {
            v.map_or(Ok(default), |s| s.trim().parse().map_err(|_| format!("{name} must be a percentage, e.g. 10 or 12.5; got {s:?}")))
        };
        let t = Self { warn_pct: read(warn, "FINOPS_CARD_WARN_PCT", d.warn_pct)?, critical_pct: read(critical, "FINOPS_CARD_CRITICAL_PCT", d.critical_pct)? };
        t.validate()?;
        Ok(t)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.warn_pct.is_sign_negative() || self.critical_pct < self.warn_pct {
            return Err(format!("thresholds must satisfy 0 ≤ warn ({}) ≤ critical ({})", self.warn_pct, self.critical_pct));
        }
        Ok(())
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    Ok,
    Warn,
    Critical,
    /// Spend with no estimate to measure it against: it asks the owner for an
    /// estimate; it is not a variance, so it is neither warn nor critical.
    NoEstimate,
}

/// Variance in percent of the estimate (`None` without an estimate) and its flag.
/// Spend with no estimate at all is flagged `NoEstimate`, not as a variance.
pub fn flag(actual: Money, estimate: Money, t: &Thresholds) -> (Option<Decimal>, Flag) {
    if estimate.is_zero() || estimate.is_negative() {
        let f = if actual.amount() > Decimal::ZERO { Flag::NoEstimate } else { Flag::Ok };
        return (None, f);
    }
    let pct = (actual - estimate).amount() * Decimal::ONE_HUNDRED / estimate.amount();
    let f = if pct > t.critical_pct {
        Flag::Critical
    } else if pct > t.warn_pct {
        Flag::Warn
    } else {
        Flag::Ok
    };
    (Some(pct.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)), f)
}

/// A monthly amount prorated per day over the week: each day carries 1/n of its
/// own month (n = that month's days), so a week across a month end takes a part
/// of each month. Exact until the final rounding to the cent.
pub fn prorate(monthly: Money, week: IsoWeek) -> Money {
    let mut by_month: BTreeMap<BillingPeriod, u32> = BTreeMap::new();
    for d in week.days() {
        *by_month.entry(BillingPeriod::of(d)).or_default() += 1;
    }
    let exact: Decimal = by_month.iter().map(|(p, n)| monthly.amount() * Decimal::from(*n) / Decimal::from(p.days())).sum();
    Money::new(exact.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EstimateSource {
    /// The FinOps Lead's FA Confirmed Estimate at approval.
    FaConfirmed,
    /// The Product Owner's own estimate.
    ProductOwner,
    None,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardLine {
    /// Stable within a card: what a dispute names.
    pub id: String,
    /// Model id (or the CUR token the catalogue does not know), or the kind of
    /// non-token usage (guardrail, …).
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<TokenType>,
    pub region: String,
    pub cost: Money,
    /// Tokens (CUR's usage amount) of a token line.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tokens: Decimal,
    /// Set on a late-data adjustment line: the settled week the amount belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_for: Option<IsoWeek>,
}

pub(crate) fn token_name(t: TokenType) -> &'static str {
    match t {
        TokenType::Input => "input",
        TokenType::Output => "output",
        TokenType::CacheRead => "cache_read",
        TokenType::CacheWrite => "cache_write",
    }
}

/// The line a CUR usage type is shown on: the model (its catalogue id, or
/// CUR's token when the catalogue does not know it; the kind of a non-token
/// line), the token type, and the region (a cross-region profile's
/// geography, lower case). Cards and Agent Bill's answers group by it.
pub fn line_of(usage_type: &str, catalog: &PriceCatalog) -> (String, Option<TokenType>, String) {
    let ut = decode(usage_type);
    let region = match &ut.location {
        Location::Region(r) => r.to_string(),
        Location::Geo(g) => g.to_lowercase(),
        Location::Unspecified => "-".into(),
    };
    let (model, token) = match &ut.usage {
        Usage::Tokens { model, token, .. } => (catalog.by_cur_token(model).map_or_else(|| model.clone(), |m| m.model_id.to_string()), Some(*token)),
        Usage::Marketplace { token, .. } => ("marketplace".into(), Some(*token)),
        Usage::Guardrail { policy } => (format!("guardrail:{policy}"), None),
        Usage::ClaudeConsumptionUnits { .. } => ("claude-platform:ccu".into(), None),
        Usage::SearchUnits { model } => (format!("search:{model}"), None),
        Usage::Unknown { .. } => (usage_type.to_owned(), None),
    };
    (model, token, region)
}

/// The week's attributed lines of every workload: model × token type × region.
pub fn week_lines(week: IsoWeek, facts: &Facts, attributor: &Attributor, catalog: &PriceCatalog) -> BTreeMap<WorkloadId, Vec<CardLine>> {
    type LineKey = (String, Option<TokenType>, String);
    let mut sums: BTreeMap<WorkloadId, BTreeMap<LineKey, (Money, Decimal)>> = BTreeMap::new();
    let mut decoded = BTreeMap::new();
    for period in week.periods() {
        for (k, v, outcome) in outcomes(period, facts, attributor) {
            let Outcome::Attributed { workload, .. } = outcome else { continue };
            if !week.contains(k.usage_day) {
                continue;
            }
            let (model, token, region) = decoded.entry(k.usage_type).or_insert_with(|| line_of(k.usage_type, catalog)).clone();
            let e = sums.entry(workload).or_default().entry((model, token, region)).or_insert((Money::ZERO, Decimal::ZERO));
            e.0 += v.cost;
            e.1 += v.usage_amount;
        }
    }
    sums.into_iter()
        .map(|(w, lines)| {
            let lines = lines
                .into_iter()
                .map(|((model, token, region), (cost, amount))| CardLine {
                    id: format!("{model}/{}/{region}", token.map_or("usage", token_name)),
                    model,
                    token_type: token,
                    region,
                    cost,
                    tokens: if token.is_some() { amount } else { Decimal::ZERO },
                    late_for: None,
                })
                .collect();
            (w, lines)
        })
        .collect()
}

/// cache-read ÷ (input + cache-read + cache-write) tokens; `None` with no input tokens at all.
pub fn cache_hit_rate(lines: &[CardLine]) -> Option<Decimal> {
    let sum = |t: TokenType| lines.iter().filter(|l| l.token_type == Some(t) && l.late_for.is_none()).map(|l| l.tokens).sum::<Decimal>();
    let read = sum(TokenType::CacheRead);
    let denom = sum(TokenType::Input) + read + sum(TokenType::CacheWrite);
    (!denom.is_zero()).then(|| (read / denom).round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero))
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CardStatus {
    Open,
    Accepted,
    Disputed,
    /// The FinOps Lead resolved the dispute.
    Resolved,
}

impl CardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::Accepted => "Accepted",
            Self::Disputed => "Disputed",
            Self::Resolved => "Resolved",
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub lines: Vec<String>,
    pub reason: String,
    pub by: UserId,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub by: UserId,
    pub at: DateTime<Utc>,
    pub rationale: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendCard {
    /// `{week}.{workload}`.
    pub id: String,
    pub week: IsoWeek,
    pub workload: WorkloadId,
    pub workload_name: String,
    pub portfolio: NodeId,
    pub owner: UserId,
    /// The monthly estimate the week's figure is prorated from.
    pub monthly_estimate: Money,
    pub estimate_source: EstimateSource,
    /// Prorated to the week.
    pub estimate: Money,
    /// The week's attributed usage.
    pub actual: Money,
    pub variance: Money,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub variance_pct: Option<Decimal>,
    pub flag: Flag,
    pub lines: Vec<CardLine>,
    /// Late data of earlier, settled weeks, carried onto this card.
    pub adjustments: Money,
    /// What is charged back for this card: actual + adjustments.
    pub chargeback: Money,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cache_hit_rate: Option<Decimal>,
    pub status: CardStatus,
    /// The week's invocation-log estimate against this bill: how far the live
    /// signal between cards can be trusted for this workload. Informational:
    /// it never changes the chargeback, and refreshing it never reopens a card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveCheck>,
    #[serde(default)]
    pub disputes: Vec<Dispute>,
    pub built_at: DateTime<Utc>,
    /// Incremented every time late data changes an unsettled card.
    pub revision: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("card {id} is {status}: {what}")]
    WrongStatus { id: String, status: &'static str, what: &'static str },
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
}

/// What a card is built from.
pub struct CardInput<'a> {
    pub week: IsoWeek,
    pub workload: WorkloadId,
    pub workload_name: &'a str,
    pub portfolio: NodeId,
    pub owner: UserId,
    pub monthly_estimate: Option<Money>,
    pub estimate_source: EstimateSource,
    pub lines: Vec<CardLine>,
    pub thresholds: &'a Thresholds,
    pub live: Option<LiveCheck>,
    pub at: DateTime<Utc>,
}

pub fn card_id(week: IsoWeek, workload: &WorkloadId) -> String {
    format!("{week}.{workload}")
}

impl SpendCard {
    pub fn build(input: CardInput) -> Self {
        let actual: Money = input.lines.iter().filter(|l| l.late_for.is_none()).map(|l| l.cost).sum();
        let adjustments: Money = input.lines.iter().filter(|l| l.late_for.is_some()).map(|l| l.cost).sum();
        let monthly = input.monthly_estimate.unwrap_or(Money::ZERO);
        let estimate = prorate(monthly, input.week);
        let (variance_pct, flag) = flag(actual, estimate, input.thresholds);
        let cache_hit_rate = cache_hit_rate(&input.lines);
        Self {
            id: card_id(input.week, &input.workload),
            week: input.week,
            workload: input.workload,
            workload_name: input.workload_name.to_owned(),
            portfolio: input.portfolio,
            owner: input.owner,
            monthly_estimate: monthly,
            estimate_source: if input.monthly_estimate.is_some() { input.estimate_source } else { EstimateSource::None },
            estimate,
            actual,
            variance: actual - estimate,
            variance_pct,
            flag,
            lines: input.lines,
            adjustments,
            chargeback: actual + adjustments,
            cache_hit_rate,
            status: CardStatus::Open,
            live: input.live,
            disputes: Vec::new(),
            built_at: input.at,
            revision: 1,
        }
    }

    /// Accepted, or its dispute resolved: the card is final.
    pub fn is_settled(&self) -> bool {
        matches!(self.status, CardStatus::Accepted | CardStatus::Resolved)
    }

    /// Whether `fresh` (the same week rebuilt) differs in what it reports.
    fn same_figures(&self, fresh: &SpendCard) -> bool {
        self.lines == fresh.lines && self.estimate == fresh.estimate && self.monthly_estimate == fresh.monthly_estimate && self.flag == fresh.flag
    }

    /// Rebuilding a week: a settled card never changes; an unsettled one takes
    /// the fresh figures (a disputed card goes back to Open: its lines changed
    /// under the dispute, which stays in its history). `None`: nothing to write.
    /// When only the live check moved, the card keeps its status and revision
    /// and takes the fresh check.
    pub fn rebuilt(&self, fresh: SpendCard) -> Option<SpendCard> {
        if self.is_settled() {
            return None;
        }
        if self.same_figures(&fresh) {
            return (self.live != fresh.live).then(|| SpendCard { live: fresh.live, ..self.clone() });
        }
        let mut next = fresh;
        next.revision = self.revision + 1;
        next.disputes = self.disputes.clone();
        next.status = CardStatus::Open;
        Some(next)
    }

    /// The Product Owner accepts the card as it stands.
    pub fn accept(&mut self) -> Result<(), CardError> {
        if self.status != CardStatus::Open {
            return Err(self.wrong("only an Open card can be accepted"));
        }
        self.status = CardStatus::Accepted;
        Ok(())
    }

    /// The Product Owner disputes named lines, with a reason; the dispute goes to
    /// the FinOps Lead's queue.
    pub fn dispute(&mut self, lines: Vec<String>, reason: &str, by: &Actor, at: DateTime<Utc>) -> Result<(), CardError> {
        if self.status != CardStatus::Open {
            return Err(self.wrong("only an Open card can be disputed"));
        }
        if reason.trim().is_empty() {
            return Err(CardError::Invalid { field: "reason", rule: "is required".into() });
        }
        if lines.is_empty() {
            return Err(CardError::Invalid { field: "lines", rule: "name at least one line of the card".into() });
        }
        if let Some(bad) = lines.iter().find(|l| !self.lines.iter().any(|x| &x.id == *l)) {
            return Err(CardError::Invalid { field: "lines", rule: format!("{bad} is not a line of card {}", self.id) });
        }
        self.disputes.push(Dispute { lines, reason: reason.trim().to_owned(), by: by.user.clone(), at, resolution: None });
        self.status = CardStatus::Disputed;
        Ok(())
    }

    /// The FinOps Lead resolves the open dispute; the card is then settled.
    pub fn resolve(&mut self, rationale: &str, by: &Actor, at: DateTime<Utc>) -> Result<(), CardError> {
        if self.status != CardStatus::Disputed {
            return Err(self.wrong("only a Disputed card can be resolved"));
        }
        if rationale.trim().is_empty() {
            return Err(CardError::Invalid { field: "rationale", rule: "is required".into() });
        }
        if let Some(d) = self.disputes.last_mut() {
            d.resolution = Some(Resolution { by: by.user.clone(), at, rationale: rationale.trim().to_owned() });
        }
        self.status = CardStatus::Resolved;
        Ok(())
    }

    fn wrong(&self, what: &'static str) -> CardError {
        CardError::WrongStatus { id: self.id.clone(), status: self.status.as_str(), what }
    }
}

/// The late-data line for a settled week: what the week's usage is now, less what
/// its card charged and what other cards already carried. `None` when nothing is
/// left to carry.
pub fn late_line(settled: &SpendCard, now_actual: Money, already_carried: Money) -> Option<CardLine> {
    let delta = now_actual - settled.actual - already_carried;
    (!delta.is_zero()).then(|| CardLine {
        id: format!("late-data/{}", settled.week),
        model: format!("late data for {}", settled.week),
        token_type: None,
        region: "-".into(),
        cost: delta,
        tokens: Decimal::ZERO,
        late_for: Some(settled.week),
    })
}

/// The Portfolio Owner's approved rollup of a week: an immutable chargeback record.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollup {
    pub portfolio: NodeId,
    pub week: IsoWeek,
    pub cards: Vec<RollupCard>,
    pub estimate: Money,
    pub actual: Money,
    pub adjustments: Money,
    pub chargeback: Money,
    pub approved_by: UserId,
    pub approved_at: DateTime<Utc>,
    pub rationale: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupCard {
    pub card: String,
    pub workload: WorkloadId,
    pub status: CardStatus,
    pub revision: u32,
    pub estimate: Money,
    pub actual: Money,
    pub adjustments: Money,
    pub chargeback: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollupError {
    #[error("the week has no cards in portfolio {0}")]
    NoCards(NodeId),
    #[error("not every card is settled: {}", .0.join(", "))]
    Unsettled(Vec<String>),
}

/// The rollup of a portfolio's cards for a week, refused until every card is settled.
pub fn rollup(portfolio: NodeId, week: IsoWeek, cards: &[SpendCard], by: &Actor, at: DateTime<Utc>, rationale: Option<String>) -> Result<Rollup, RollupError> {
    if cards.is_empty() {
        return Err(RollupError::NoCards(portfolio));
    }
    let unsettled: Vec<String> = cards.iter().filter(|c| !c.is_settled()).map(|c| format!("{} ({})", c.id, c.status.as_str())).collect();
    if !unsettled.is_empty() {
        return Err(RollupError::Unsettled(unsettled));
    }
    let rc: Vec<RollupCard> = cards
        .iter()
        .map(|c| RollupCard {
            card: c.id.clone(),
            workload: c.workload.clone(),
            status: c.status,
            revision: c.revision,
            estimate: c.estimate,
            actual: c.actual,
            adjustments: c.adjustments,
            chargeback: c.chargeback,
        })
        .collect();
    Ok(Rollup {
        portfolio,
        week,
        estimate: rc.iter().map(|c| c.estimate).sum(),
        actual: rc.iter().map(|c| c.actual).sum(),
        adjustments: rc.iter().map(|c| c.adjustments).sum(),
        chargeback: rc.iter().map(|c| c.chargeback).sum(),
        cards: rc,
        approved_by: by.user.clone(),
        approved_at: at,
        rationale,
    })
}

/// The week whose cards are built on `today`: the previous Monday–Sunday.
pub fn week_to_build(today: NaiveDate) -> IsoWeek {
    IsoWeek::of(today).previous()
}

#[cfg(test)]
#[path = "cards_tests.rs"]
mod tests;
