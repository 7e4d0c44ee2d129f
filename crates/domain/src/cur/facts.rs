//! Facts: CUR rows aggregated to what attribution and reports need, and the
//! attribution report computed from them.
//!
//! Facts carry no attribution: claims change after the fact (a claim added later
//! attributes from its claim date), so attribution is applied when a report is
//! made. Sums are exact decimals, so the report's parts add up to its totals to
//! the last digit, not merely to the cent.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::attribution::{AiLine, Attributor, Outcome, Reason};
use super::usage_type::{decode, Usage};
use crate::ids::{AccountId, WorkloadId};
use crate::money::Money;
use crate::period::BillingPeriod;

/// Product codes whose rows are AI spend.
pub const AI_PRODUCT_CODES: &[&str] = &["AmazonBedrock", "AmazonBedrockService", "AmazonBedrockFoundationModels", "AmazonBedrockAgentCore"];

/// Whether a row is AI spend: a Bedrock product code, a Marketplace model sold
/// through Bedrock ("… (Amazon Bedrock Edition)"), or Claude Platform CCU.
pub fn is_ai_row(product_code: &str, billing_entity: &str, product_name: &str) -> bool {
    AI_PRODUCT_CODES.contains(&product_code)
        || (billing_entity == "AWS Marketplace" && product_name.ends_with("(Amazon Bedrock Edition)"))
        || (billing_entity == "AWS Marketplace" && product_name.starts_with("Claude Platform"))
}

/// One CUR row, as a reader hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurRow {
    pub usage_day: NaiveDate,
    pub account: AccountId,
    pub product_code: String,
    pub billing_entity: String,
    pub product_name: String,
    pub usage_type: String,
    pub operation: String,
    pub line_item_type: String,
    pub resource_id: Option<String>,
    /// `None` when the file has no `line_item_iam_principal` column.
    pub principal: Option<String>,
    pub workspace: Option<String>,
    pub usage_amount: Decimal,
    pub cost: Decimal,
}

/// The aggregation key of AI facts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FactKey {
    pub usage_day: NaiveDate,
    pub account: AccountId,
    pub product_code: String,
    pub usage_type: String,
    pub operation: String,
    pub line_item_type: String,
    pub resource_id: Option<String>,
    pub principal: Option<String>,
    pub workspace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FactValue {
    pub usage_amount: Decimal,
    pub cost: Money,
    pub rows: u64,
}

/// Facts of one source (one CUR object) or of many merged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub ai: BTreeMap<FactKey, FactValue>,
    /// Everything that is not AI spend, per account (for reconciliation).
    pub non_ai: BTreeMap<AccountId, Money>,
}

impl Facts {
    pub fn add(&mut self, row: CurRow) {
        let cost = Money::new(row.cost);
        if !is_ai_row(&row.product_code, &row.billing_entity, &row.product_name) {
            *self.non_ai.entry(row.account).or_default() += cost;
            return;
        }
        let key = FactKey {
            usage_day: row.usage_day,
            account: row.account,
            product_code: row.product_code,
            usage_type: row.usage_type,
            operation: row.operation,
            line_item_type: row.line_item_type,
            resource_id: row.resource_id.filter(|r| !r.is_empty()),
            principal: row.principal,
            workspace: row.workspace,
        };
        let v = self.ai.entry(key).or_default();
        v.usage_amount += row.usage_amount;
        v.cost += cost;
        v.rows += 1;
    }

    /// Adds one aggregated fact (from another source, or a stored chunk).
    pub fn add_fact(&mut self, key: FactKey, value: FactValue) {
        let e = self.ai.entry(key).or_default();
        e.usage_amount += value.usage_amount;
        e.cost += value.cost;
        e.rows += value.rows;
    }

    /// Adds another source's facts (a month is the merge of its files' facts).
    pub fn merge(&mut self, other: &Facts) {
        for (k, v) in &other.ai {
            self.add_fact(k.clone(), *v);
        }
        for (a, m) in &other.non_ai {
            *self.non_ai.entry(a.clone()).or_default() += *m;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadCost {
    pub workload: WorkloadId,
    pub cost: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonCost {
    pub reason: Reason,
    pub cost: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCost {
    pub account: AccountId,
    pub ai_total: Money,
    pub attributed: Money,
    pub unattributed: Money,
}

/// `finops report attribution`'s answer (every amount a decimal string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionReport {
    pub period: BillingPeriod,
    pub total: Money,
    pub ai_total: Money,
    pub attributed: Money,
    pub unattributed: Money,
    pub adjustments: Money,
    pub by_workload: Vec<WorkloadCost>,
    pub unattributed_by_reason: Vec<ReasonCost>,
    pub by_account: Vec<AccountCost>,
}

/// Every AI fact of the period with its attribution outcome. Usage types are
/// decoded once per distinct string, not once per fact.
pub fn outcomes<'a>(period: BillingPeriod, facts: &'a Facts, attributor: &'a Attributor) -> impl Iterator<Item = (&'a FactKey, &'a FactValue, Outcome)> + 'a {
    let mut decoded: BTreeMap<&'a str, Usage> = BTreeMap::new();
    facts.ai.iter().filter(move |(k, _)| period.contains(k.usage_day)).map(move |(k, v)| {
        let usage = decoded.entry(k.usage_type.as_str()).or_insert_with(|| decode(&k.usage_type).usage);
        let line = AiLine {
            usage_day: k.usage_day,
            line_item_type: &k.line_item_type,
            operation: &k.operation,
            usage,
            resource_id: k.resource_id.as_deref(),
            principal: k.principal.as_deref(),
            workspace: k.workspace.as_deref(),
        };
        (k, v, attributor.attribute(&line))
    })
}

pub fn report(period: BillingPeriod, facts: &Facts, attributor: &Attributor) -> AttributionReport {
    let mut by_workload: BTreeMap<WorkloadId, Money> = BTreeMap::new();
    let mut by_reason: BTreeMap<Reason, Money> = BTreeMap::new();
    let mut by_account: BTreeMap<AccountId, AccountCost> = BTreeMap::new();
    let (mut ai_total, mut attributed, mut unattributed, mut adjustments) = (Money::ZERO, Money::ZERO, Money::ZERO, Money::ZERO);
    for (k, v, outcome) in outcomes(period, facts, attributor) {
        let acct = by_account.entry(k.account.clone()).or_insert_with(|| AccountCost {
            account: k.account.clone(),
            ai_total: Money::ZERO,
            attributed: Money::ZERO,
            unattributed: Money::ZERO,
        });
        ai_total += v.cost;
        acct.ai_total += v.cost;
        match outcome {
            Outcome::Attributed { workload, .. } => {
                attributed += v.cost;
                acct.attributed += v.cost;
                *by_workload.entry(workload).or_default() += v.cost;
            }
            Outcome::Unattributed { reason } => {
                unattributed += v.cost;
                acct.unattributed += v.cost;
                *by_reason.entry(reason).or_default() += v.cost;
            }
            Outcome::Adjustment => adjustments += v.cost,
        }
    }
    let non_ai: Money = facts.non_ai.values().sum();
    AttributionReport {
        period,
        total: ai_total + non_ai,
        ai_total,
        attributed,
        unattributed,
        adjustments,
        by_workload: by_workload.into_iter().map(|(workload, cost)| WorkloadCost { workload, cost }).collect(),
        unattributed_by_reason: by_reason.into_iter().map(|(reason, cost)| ReasonCost { reason, cost }).collect(),
        by_account: by_account.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arn::RolePattern;
    use crate::cur::attribution::ClaimBook;
    use crate::governance::claims::{Claim, ClaimKind, ClaimTarget};
    use crate::ids::UserId;
    use proptest::prelude::*;

    fn attributor() -> Attributor {
        let claim = |arn: &str, wl: &str, from: NaiveDate| Claim {
            target: ClaimTarget::parse(ClaimKind::IamRole, arn).unwrap(),
            workload: WorkloadId::parse(wl).unwrap(),
            claimed_at: from,
            claimed_by: UserId::parse("po").unwrap(),
            released_at: None,
            released_by: None,
        };
        Attributor {
            claims: ClaimBook::new([
                claim("arn:aws:iam::111122223333:role/finops-chat-ab12", "chat", NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()),
                claim("arn:aws:iam::444455556666:role/search", "search", NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()),
            ]),
            broad_roles: RolePattern::defaults(),
        }
    }

    const PRINCIPALS: &[&str] = &[
        "arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/app",
        "arn:aws:sts::444455556666:assumed-role/search/app",
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0a1b/bob",
        "arn:aws:sts::111122223333:assumed-role/finops-orphan-zz99/app",
        "arn:aws:iam::111122223333:user/alice",
        "",
    ];
    const ACCOUNTS: &[&str] = &["111122223333", "444455556666"];
    const TYPES: &[&str] = &["Usage", "Usage", "Usage", "Tax", "Credit"];
    const PRODUCTS: &[&str] = &["AmazonBedrock", "AmazonBedrock", "AmazonEC2", "AmazonS3"];

    fn row_strategy() -> impl Strategy<Value = CurRow> {
        (1u32..=31, 0..ACCOUNTS.len(), 0..PRODUCTS.len(), 0..TYPES.len(), 0..PRINCIPALS.len(), -10_000_000_000i64..50_000_000_000i64, any::<bool>())
            .prop_map(|(day, a, p, t, pr, cents, with_principal)| CurRow {
                usage_day: NaiveDate::from_ymd_opt(2026, 3, day).unwrap(),
                account: AccountId::parse(ACCOUNTS[a]).unwrap(),
                product_code: PRODUCTS[p].into(),
                billing_entity: "AWS".into(),
                product_name: String::new(),
                usage_type: "USE1-Claude3Haiku-input-tokens".into(),
                operation: "InvokeModel".into(),
                line_item_type: TYPES[t].into(),
                resource_id: None,
                principal: with_principal.then(|| PRINCIPALS[pr].to_owned()),
                workspace: None,
                usage_amount: Decimal::from(day),
                cost: Decimal::new(cents, 10),
            })
    }

    proptest! {
        /// The conservation law: every AI dollar is attributed, unattributed with a
        /// reason, or an adjustment; the parts add up to the totals exactly, and
        /// survive the trip through JSON.
        #[test]
        fn parts_add_up_to_the_totals_exactly(rows in proptest::collection::vec(row_strategy(), 0..300)) {
            let mut facts = Facts::default();
            let exact_total: Decimal = rows.iter().map(|r| r.cost).sum();
            for r in rows {
                facts.add(r);
            }
            let p = BillingPeriod::parse("2026-03").unwrap();
            let r = report(p, &facts, &attributor());
            prop_assert_eq!(r.total.amount(), exact_total);
            prop_assert_eq!(r.attributed + r.unattributed + r.adjustments, r.ai_total);
            prop_assert_eq!(r.by_workload.iter().map(|w| w.cost).sum::<Money>(), r.attributed);
            prop_assert_eq!(r.unattributed_by_reason.iter().map(|x| x.cost).sum::<Money>(), r.unattributed);
            prop_assert_eq!(r.by_account.iter().map(|a| a.attributed + a.unattributed).sum::<Money>(), r.attributed + r.unattributed);
            let json = serde_json::to_string(&r).unwrap();
            let back: AttributionReport = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, r);
        }

        /// A month's files in any order, or one file twice through `merge` of
        /// replaced sources, give the same facts.
        #[test]
        fn merging_is_order_independent(rows in proptest::collection::vec(row_strategy(), 0..100), split in 0usize..100) {
            let split = split.min(rows.len());
            let (a, b) = rows.split_at(split);
            let facts = |rows: &[CurRow]| { let mut f = Facts::default(); for r in rows { f.add(r.clone()); } f };
            let (fa, fb) = (facts(a), facts(b));
            let mut ab = fa.clone();
            ab.merge(&fb);
            let mut ba = fb.clone();
            ba.merge(&fa);
            prop_assert_eq!(&ab, &ba);
            prop_assert_eq!(ab, facts(&rows));
        }
    }

    #[test]
    fn a_file_without_the_principal_column_is_attribution_not_enabled() {
        let mut facts = Facts::default();
        facts.add(CurRow {
            usage_day: NaiveDate::from_ymd_opt(2026, 3, 12).unwrap(),
            account: AccountId::parse("111122223333").unwrap(),
            product_code: "AmazonBedrock".into(),
            billing_entity: "AWS".into(),
            product_name: "Amazon Bedrock".into(),
            usage_type: "USE1-Claude3Haiku-input-tokens".into(),
            operation: "InvokeModel".into(),
            line_item_type: "Usage".into(),
            resource_id: None,
            principal: None,
            workspace: None,
            usage_amount: Decimal::from(1000),
            cost: Decimal::new(25, 5),
        });
        let r = report(BillingPeriod::parse("2026-03").unwrap(), &facts, &attributor());
        assert_eq!(r.unattributed_by_reason, [ReasonCost { reason: Reason::AttributionNotEnabled, cost: Money::parse("0.00025").unwrap() }]);
        assert!(is_ai_row("AWSMarketplace", "AWS Marketplace", "Claude Opus (Amazon Bedrock Edition)"));
        assert!(!is_ai_row("AmazonEC2", "AWS", "Amazon Elastic Compute Cloud"));
    }
}
