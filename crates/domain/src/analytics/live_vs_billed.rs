//! Live versus billed: what the invocation logs estimated against what CUR
//! billed, per owner and day, once CUR covers the day.
//!
//! The logs price every call at the bundled catalogue the moment it happens;
//! CUR bills it a day or two later. Comparing the two is how a FinOps team
//! learns whether the live signal (the spikes, the `live` report, the kill
//! switch's alerts) can be trusted between bills, and where it cannot: an
//! account that logs nothing, a model the catalogue does not price, a
//! discount the catalogue does not know.
//!
//! Invariants:
//! - like is compared with like: the billed side is CUR's token lines of
//!   models the catalogue prices (what a log record can be priced as); every
//!   other AI cost of the covered days is kept in `not_comparable`, never
//!   dropped;
//! - both sides are owned by the same `Attributor`, so a workload's estimate
//!   and its bill use the same claims;
//! - an owner-day whose logs hold calls the catalogue could not price is not
//!   given an error (the estimate is known to be short), and says so;
//! - log spend on days CUR does not cover yet is `awaiting_cur`, not error;
//! - an account with comparable billed spend and no log record in the period
//!   is flagged: its invocation logging is off or not delivered.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::cur::attribution::{Attributor, Outcome};
use crate::cur::facts::{outcomes, Facts};
use crate::cur::usage_type::decode;
use crate::governance::catalog::PriceCatalog;
use crate::ids::AccountId;
use crate::invocations::{UsageFacts, UsageKeyRef, UsageOwners, UsageValue};
use crate::money::Money;
use crate::period::{BillingPeriod, IsoWeek};

/// How one owner-day compares.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// Both sides have spend: the error is meaningful.
    Compared,
    /// Some of its logged calls could not be priced: the estimate is short.
    Unpriced,
    /// Billed, but no call of it was logged.
    NoLogs,
    /// Logged, but CUR billed it nothing comparable (or billed it to another owner).
    NotBilled,
}

/// One owner's day.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerDay {
    /// The workload, or `unattributed:REASON`.
    pub owner: String,
    pub day: NaiveDate,
    pub billed: Money,
    pub estimated: Money,
    pub requests: u64,
    pub unpriced_requests: u64,
    /// (estimated − billed) ÷ billed, in percent, two places; only when `Compared`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub error_pct: Option<Decimal>,
    pub status: LineStatus,
}

/// One account's coverage by the logs over the period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCoverage {
    pub account: AccountId,
    pub billed: Money,
    pub estimated: Money,
    pub requests: u64,
    /// False: comparable spend was billed and no call was logged all period.
    pub logs: bool,
}

/// The reconciliation of a period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveVsBilled {
    pub period: BillingPeriod,
    /// The days CUR covers (has AI lines on).
    pub days: Vec<NaiveDate>,
    /// Comparable billed cost of every line.
    pub billed: Money,
    /// Priced log cost of every line.
    pub estimated: Money,
    /// Billed and estimated over the `Compared` lines only, and their error.
    pub compared_billed: Money,
    pub compared_estimated: Money,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub error_pct: Option<Decimal>,
    /// AI cost on the covered days that logs cannot be priced against
    /// (Marketplace units, guardrails, CCU, models the catalogue lacks, tax, credits).
    pub not_comparable: Money,
    /// Log estimate on days of the period CUR does not cover yet.
    pub awaiting_cur: Money,
    pub lines: Vec<OwnerDay>,
    pub accounts: Vec<AccountCoverage>,
}

impl LiveVsBilled {
    /// The accounts whose invocation logging is missing.
    pub fn accounts_without_logs(&self) -> impl Iterator<Item = &AccountCoverage> {
        self.accounts.iter().filter(|a| !a.logs)
    }

    /// The same report over the lines `keep` allows (a caller's scope), its
    /// totals recomputed from them; accounts are dropped unless `accounts`.
    pub fn scoped(mut self, keep: impl Fn(&str) -> bool, accounts: bool) -> Self {
        self.lines.retain(|l| keep(&l.owner));
        if !accounts {
            self.accounts.clear();
            self.not_comparable = Money::ZERO;
            self.awaiting_cur = Money::ZERO;
        }
        let t = totals(&self.lines);
        (self.billed, self.estimated, self.compared_billed, self.compared_estimated, self.error_pct) = t;
        self
    }
}

/// (estimated − billed) ÷ billed in percent, two places; `None` without a bill.
pub fn error_pct(estimated: Money, billed: Money) -> Option<Decimal> {
    (!billed.is_zero()).then(|| ((estimated - billed).amount() * Decimal::ONE_HUNDRED / billed.amount()).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

fn totals(lines: &[OwnerDay]) -> (Money, Money, Money, Money, Option<Decimal>) {
    let billed = lines.iter().map(|l| l.billed).sum();
    let estimated = lines.iter().map(|l| l.estimated).sum();
    let compared = lines.iter().filter(|l| l.status == LineStatus::Compared);
    let (cb, ce) = compared.fold((Money::ZERO, Money::ZERO), |(b, e), l| (b + l.billed, e + l.estimated));
    (billed, estimated, cb, ce, error_pct(ce, cb))
}

/// The owner name both reports use.
pub fn owner_name(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Attributed { workload, .. } => Some(workload.to_string()),
        Outcome::Unattributed { reason } => Some(format!("unattributed:{}", reason.as_str())),
        Outcome::Adjustment => None,
    }
}

#[derive(Default)]
struct Sides {
    billed: Money,
    estimated: Money,
    requests: u64,
    unpriced: u64,
}

/// Compares the period's logs with its CUR facts, owner by owner and day by day.
pub fn compare(period: BillingPeriod, facts: &Facts, usage: &UsageFacts, attributor: &Attributor, catalog: &PriceCatalog) -> LiveVsBilled {
    let mut c = Comparison::new(period, facts, attributor, catalog);
    for (k, v) in &usage.facts {
        c.add_usage(k.as_ref(), v);
    }
    c.finish()
}

/// A comparison being made: the CUR side is summed when it is made, the log
/// side one usage fact at a time (`add_usage`), so a caller can stream a
/// month of usage objects through it without holding them.
pub struct Comparison<'a> {
    period: BillingPeriod,
    days: BTreeSet<NaiveDate>,
    by_owner_day: BTreeMap<(String, NaiveDate), Sides>,
    by_account: BTreeMap<AccountId, Sides>,
    not_comparable: Money,
    awaiting_cur: Money,
    owners: UsageOwners<'a>,
}

impl<'a> Comparison<'a> {
    pub fn new(period: BillingPeriod, facts: &Facts, attributor: &'a Attributor, catalog: &PriceCatalog) -> Self {
        let mut comparable: HashMap<&str, bool> = HashMap::new();
        let mut c = Comparison {
            period,
            days: BTreeSet::new(),
            by_owner_day: BTreeMap::new(),
            by_account: BTreeMap::new(),
            not_comparable: Money::ZERO,
            awaiting_cur: Money::ZERO,
            owners: UsageOwners::new(attributor),
        };
        for (k, v, outcome) in outcomes(period, facts, attributor) {
            c.days.insert(k.usage_day);
            let priced = k.line_item_type == "Usage" && *comparable.entry(k.usage_type).or_insert_with(|| catalog.token_line_price(&decode(k.usage_type).usage).is_some());
            let Some(owner) = owner_name(&outcome).filter(|_| priced) else {
                c.not_comparable += v.cost;
                continue;
            };
            c.by_owner_day.entry((owner, k.usage_day)).or_default().billed += v.cost;
            c.by_account.entry(k.account.clone()).or_default().billed += v.cost;
        }
        c
    }

    /// One hour of usage; hours outside the period are ignored.
    pub fn add_usage(&mut self, k: UsageKeyRef<'_>, v: &UsageValue) {
        let day = k.hour.date_naive();
        if !self.period.contains(day) {
            return;
        }
        let a = match self.by_account.get_mut(k.account) {
            Some(a) => a,
            None => self.by_account.entry(k.account.clone()).or_default(),
        };
        a.estimated += v.cost;
        a.requests += v.requests;
        if !self.days.contains(&day) {
            self.awaiting_cur += v.cost;
            return;
        }
        let Some(owner) = owner_name(&self.owners.of(k)) else { return };
        let s = self.by_owner_day.entry((owner, day)).or_default();
        s.estimated += v.cost;
        s.requests += v.requests;
        s.unpriced += v.unpriced;
    }

    pub fn finish(self) -> LiveVsBilled {
        let lines: Vec<OwnerDay> = self
            .by_owner_day
            .into_iter()
            .map(|((owner, day), s)| {
                let status = if s.unpriced > 0 {
                    LineStatus::Unpriced
                } else if s.requests == 0 {
                    LineStatus::NoLogs
                } else if s.billed.is_zero() {
                    LineStatus::NotBilled
                } else {
                    LineStatus::Compared
                };
                let error_pct = if status == LineStatus::Compared { error_pct(s.estimated, s.billed) } else { None };
                OwnerDay { owner, day, billed: s.billed, estimated: s.estimated, requests: s.requests, unpriced_requests: s.unpriced, error_pct, status }
            })
            .collect();
        let accounts = self
            .by_account
            .into_iter()
            .map(|(account, s)| AccountCoverage { account, billed: s.billed, estimated: s.estimated, requests: s.requests, logs: s.requests > 0 || s.billed.is_zero() })
            .collect();
        let (billed, estimated, compared_billed, compared_estimated, error_pct) = totals(&lines);
        LiveVsBilled {
            period: self.period,
            days: self.days.into_iter().collect(),
            billed,
            estimated,
            compared_billed,
            compared_estimated,
            error_pct,
            not_comparable: self.not_comparable,
            awaiting_cur: self.awaiting_cur,
            lines,
            accounts,
        }
    }
}

/// A workload's week, live against billed: the line its spend card carries.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCheck {
    /// Over the days compared (both sides present, every call priced).
    pub billed: Money,
    pub estimated: Money,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub error_pct: Option<Decimal>,
    pub days_compared: u32,
    /// Days of the week with spend on one side only, or calls left unpriced.
    pub days_not_compared: u32,
}

/// The week's check of `owner`, from a reconciliation's lines; `None` when
/// neither side has anything of it that week.
pub fn week_check<'a>(lines: impl IntoIterator<Item = &'a OwnerDay>, owner: &str, week: IsoWeek) -> Option<LiveCheck> {
    let mut c = LiveCheck { billed: Money::ZERO, estimated: Money::ZERO, error_pct: None, days_compared: 0, days_not_compared: 0 };
    let mut any = false;
    for l in lines.into_iter().filter(|l| l.owner == owner && week.contains(l.day)) {
        any = true;
        if l.status == LineStatus::Compared {
            c.billed += l.billed;
            c.estimated += l.estimated;
            c.days_compared += 1;
        } else {
            c.days_not_compared += 1;
        }
    }
    c.error_pct = error_pct(c.estimated, c.billed);
    any.then_some(c)
}

#[cfg(test)]
#[path = "live_vs_billed_tests.rs"]
mod tests;
