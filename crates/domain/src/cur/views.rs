//! Views of a period's attribution beside the report: reconciliation against
//! the bill, rollups up the E1–E4 hierarchy, and the legacy shared-account
//! split that tools without attribution show.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::attribution::{Attributor, Outcome};
use super::facts::{outcomes, outside_period, AttributionReport, Facts};
use crate::hierarchy::{Hierarchy, Level};
use crate::ids::{AccountId, NodeId, WorkloadId};
use crate::money::Money;
use crate::period::BillingPeriod;

/// One account's bill, taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountReconciliation {
    pub account: AccountId,
    /// The cost of every CUR row of the account the readers read, summed as
    /// they read it and apart from the facts.
    pub cur_total: Money,
    pub attributed: Money,
    pub unattributed: Money,
    pub adjustments: Money,
    pub non_ai: Money,
    /// AI rows dated outside the billing period: in the file, so in its total,
    /// but not in the period's attribution.
    pub outside_period: Money,
    /// `cur_total − (attributed + unattributed + adjustments + non_ai + outside_period)`.
    pub difference: Money,
    /// The difference is exactly zero.
    pub balanced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reconciliation {
    pub period: BillingPeriod,
    pub balanced: bool,
    pub accounts: Vec<AccountReconciliation>,
}

/// Per account: the bill as read equals attributed + unattributed +
/// adjustments + non-AI + AI rows outside the period. The bill side is the
/// readers' own running sum of every row (`Facts::read_total`), the parts come
/// from the facts through attribution, so a reader or a rule that lost or
/// double-counted a line leaves a difference here, and the report says so.
pub fn reconcile(period: BillingPeriod, facts: &Facts, attributor: &Attributor) -> Reconciliation {
    #[derive(Default)]
    struct Acc {
        total: Money,
        attributed: Money,
        unattributed: Money,
        adjustments: Money,
        non_ai: Money,
        outside: Money,
    }
    let mut by: BTreeMap<AccountId, Acc> = BTreeMap::new();
    for (a, m) in &facts.read_total {
        by.entry(a.clone()).or_default().total += *m;
    }
    for (a, m) in &facts.non_ai {
        by.entry(a.clone()).or_default().non_ai += *m;
    }
    for (a, m) in outside_period(period, facts) {
        by.entry(a).or_default().outside += m;
    }
    for (k, v, o) in outcomes(period, facts, attributor) {
        let e = by.entry(k.account.clone()).or_default();
        match o {
            Outcome::Attributed { .. } => e.attributed += v.cost,
            Outcome::Unattributed { .. } => e.unattributed += v.cost,
            Outcome::Adjustment => e.adjustments += v.cost,
        }
    }
    let accounts: Vec<AccountReconciliation> = by
        .into_iter()
        .map(|(account, a)| {
            let difference = a.total - (a.attributed + a.unattributed + a.adjustments + a.non_ai + a.outside);
            AccountReconciliation {
                account,
                cur_total: a.total,
                attributed: a.attributed,
                unattributed: a.unattributed,
                adjustments: a.adjustments,
                non_ai: a.non_ai,
                outside_period: a.outside,
                difference,
                balanced: difference.amount().is_zero(),
            }
        })
        .collect();
    Reconciliation { period, balanced: accounts.iter().all(|a| a.balanced), accounts }
}

/// Attributed spend summed up the hierarchy: each workload (an E4 node) and
/// every ancestor of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeCost {
    pub node: NodeId,
    pub level: Level,
    pub name: String,
    pub cost: Money,
}

pub fn rollup(report: &AttributionReport, hierarchy: &Hierarchy) -> Vec<NodeCost> {
    let mut by: BTreeMap<NodeId, Money> = BTreeMap::new();
    for w in &report.by_workload {
        let node = NodeId::from(&w.workload);
        if hierarchy.node(&node).is_none() {
            continue;
        }
        // `ancestors` starts at the node itself.
        for a in hierarchy.ancestors(&node) {
            *by.entry(a.id.clone()).or_default() += w.cost;
        }
    }
    let mut out: Vec<NodeCost> = by
        .into_iter()
        .filter_map(|(id, cost)| hierarchy.node(&id).map(|n| NodeCost { node: id.clone(), level: n.level, name: n.name.clone(), cost }))
        .collect();
    out.sort_by(|a, b| (a.level, &a.node).cmp(&(b.level, &b.node)));
    out
}

/// The legacy view: each account's unattributed spend split evenly across the
/// workloads known in that account (to the cent; leftover cents go to the first
/// workloads in id order, so the split adds up exactly). An account with no
/// workload keeps its unattributed spend as `unallocated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LegacyView {
    pub period: BillingPeriod,
    pub by_workload: Vec<LegacyWorkload>,
    pub unallocated: Money,
    /// The hierarchy nodes a scoped view covers (absent: the organisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<NodeId>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LegacyWorkload {
    pub workload: WorkloadId,
    pub attributed: Money,
    pub shared_split: Money,
    pub total: Money,
}

pub fn legacy_split(
    period: BillingPeriod,
    facts: &Facts,
    attributor: &Attributor,
    workloads_by_account: &BTreeMap<AccountId, Vec<WorkloadId>>,
) -> LegacyView {
    let mut attributed: BTreeMap<WorkloadId, Money> = BTreeMap::new();
    let mut shared: BTreeMap<AccountId, Money> = BTreeMap::new();
    for (k, v, o) in outcomes(period, facts, attributor) {
        match o {
            Outcome::Attributed { workload, .. } => *attributed.entry(workload).or_default() += v.cost,
            Outcome::Unattributed { .. } => *shared.entry(k.account.clone()).or_default() += v.cost,
            Outcome::Adjustment => {}
        }
    }
    let mut split: BTreeMap<WorkloadId, Money> = BTreeMap::new();
    let mut unallocated = Money::ZERO;
    for (account, amount) in shared {
        let mut ws: Vec<&WorkloadId> = workloads_by_account.get(&account).map(|v| v.iter().collect()).unwrap_or_default();
        ws.sort();
        ws.dedup();
        if ws.is_empty() {
            unallocated += amount;
            continue;
        }
        let n = Decimal::from(ws.len() as u64);
        let share = (amount.amount() / n).trunc_with_scale(2);
        let mut rest = amount.amount() - share * n;
        let cent = if rest.is_sign_negative() { Decimal::new(-1, 2) } else { Decimal::new(1, 2) };
        for w in &ws {
            let extra = if (rest.abs() >= cent.abs()) && !rest.is_zero() { cent } else { Decimal::ZERO };
            rest -= extra;
            *split.entry((*w).clone()).or_default() += Money::new(share + extra);
        }
        // Sub-cent remainders (amounts with more than two places) go to the last
        // workload in id order, so nothing is lost.
        if let Some(last) = ws.last().filter(|_| !rest.is_zero()) {
            *split.entry((*last).clone()).or_default() += Money::new(rest);
        }
    }
    let ids: std::collections::BTreeSet<WorkloadId> = attributed.keys().chain(split.keys()).cloned().collect();
    let by_workload = ids
        .into_iter()
        .map(|w| {
            let a = attributed.get(&w).copied().unwrap_or_default();
            let s = split.get(&w).copied().unwrap_or_default();
            LegacyWorkload { workload: w, attributed: a, shared_split: s, total: a + s }
        })
        .collect();
    LegacyView { period, by_workload, unallocated, scope: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cur::attribution::ClaimBook;
    use crate::cur::facts::{report, CurRow};
    use crate::governance::claims::{Claim, ClaimKind, ClaimTarget};
    use crate::hierarchy::HierarchyNode;
    use crate::ids::UserId;
    use crate::RolePattern;
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn row(account: &str, principal: &str, product: &str, lit: &str, cost: Decimal) -> CurRow {
        CurRow {
            usage_day: NaiveDate::from_ymd_opt(2026, 3, 12).unwrap(),
            account: AccountId::parse(account).unwrap(),
            product_code: product.into(),
            billing_entity: "AWS".into(),
            product_name: String::new(),
            usage_type: "USE1-NovaLite-input-tokens".into(),
            operation: "InvokeModel".into(),
            line_item_type: lit.into(),
            resource_id: None,
            principal: Some(principal.into()),
            workspace: None,
            usage_amount: Decimal::ONE,
            cost,
        }
    }

    fn attributor() -> Attributor {
        Attributor {
            claims: ClaimBook::new([Claim {
                target: ClaimTarget::parse(ClaimKind::IamRole, "arn:aws:iam::111122223333:role/chat").unwrap(),
                workload: WorkloadId::parse("chat").unwrap(),
                claimed_at: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
                claimed_by: UserId::parse("po").unwrap(),
                released_at: None,
                released_by: None,
            }]),
            broad_roles: RolePattern::defaults(),
        }
    }

    const CHAT: &str = "arn:aws:sts::111122223333:assumed-role/chat/s";
    const SSO: &str = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_1/u";

    #[test]
    fn each_account_reconciles_to_the_cent() {
        let mut f = Facts::default();
        for r in [
            row("111122223333", CHAT, "AmazonBedrock", "Usage", Decimal::new(1000, 2)),
            row("111122223333", SSO, "AmazonBedrock", "Usage", Decimal::new(250, 2)),
            row("111122223333", "", "AmazonBedrock", "Tax", Decimal::new(1, 1)),
            row("111122223333", "", "AmazonEC2", "Usage", Decimal::new(9999, 2)),
            row("444455556666", "", "AmazonS3", "Usage", Decimal::new(5, 2)),
        ] {
            f.add(r);
        }
        let r = reconcile(BillingPeriod::parse("2026-03").unwrap(), &f, &attributor());
        assert!(r.balanced);
        let a = &r.accounts[0];
        assert_eq!(
            (a.cur_total, a.attributed, a.unattributed, a.adjustments, a.non_ai),
            (Money::parse("112.59").unwrap(), Money::parse("10").unwrap(), Money::parse("2.5").unwrap(), Money::parse("0.1").unwrap(), Money::parse("99.99").unwrap())
        );
        assert_eq!(r.accounts[1].non_ai, Money::parse("0.05").unwrap());
    }

    #[test]
    fn rows_outside_the_period_have_their_own_line() {
        let mut f = Facts::default();
        f.add(row("111122223333", CHAT, "AmazonBedrock", "Usage", Decimal::new(1000, 2)));
        let mut late = row("111122223333", CHAT, "AmazonBedrock", "Usage", Decimal::new(11000, 2));
        late.usage_day = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        f.add(late);
        let r = reconcile(BillingPeriod::parse("2026-03").unwrap(), &f, &attributor());
        assert!(r.balanced, "{r:?}");
        let a = &r.accounts[0];
        assert_eq!((a.cur_total, a.attributed, a.outside_period), (Money::parse("120").unwrap(), Money::parse("10").unwrap(), Money::parse("110").unwrap()));
    }

    /// The bill side is the readers' running sum, not the facts: facts that
    /// lost a row (a reader or merge bug) leave a difference, and the report
    /// is unbalanced.
    #[test]
    fn a_dropped_row_shows_as_a_difference() {
        let rows = [
            row("111122223333", CHAT, "AmazonBedrock", "Usage", Decimal::new(1000, 2)),
            row("111122223333", SSO, "AmazonBedrock", "Usage", Decimal::new(250, 2)),
            row("111122223333", "", "AmazonEC2", "Usage", Decimal::new(9999, 2)),
        ];
        let mut whole = Facts::default();
        for r in rows.clone() {
            whole.add(r);
        }
        // The same read totals, but the SSO row never became a fact.
        let mut lossy = Facts::default();
        for r in [rows[0].clone(), rows[2].clone()] {
            lossy.add(r);
        }
        lossy.read_total = whole.read_total.clone();
        let p = BillingPeriod::parse("2026-03").unwrap();
        assert!(reconcile(p, &whole, &attributor()).balanced);
        let r = reconcile(p, &lossy, &attributor());
        assert!(!r.balanced);
        assert_eq!(r.accounts[0].difference, Money::parse("2.5").unwrap());
    }

    #[test]
    fn workloads_roll_up_to_every_ancestor() {
        let n = |id: &str, level: u8, parent: Option<&str>| HierarchyNode {
            id: NodeId::parse(id).unwrap(),
            level: Level::try_from(level).unwrap(),
            name: id.to_uppercase(),
            parent: parent.map(|p| NodeId::parse(p).unwrap()),
        };
        let h = Hierarchy::build([n("bu", 1, None), n("dept", 2, Some("bu")), n("port", 3, Some("dept")), n("chat", 4, Some("port")), n("other", 4, Some("port"))]).unwrap();
        let mut f = Facts::default();
        f.add(row("111122223333", CHAT, "AmazonBedrock", "Usage", Decimal::new(1234, 2)));
        let rep = report(BillingPeriod::parse("2026-03").unwrap(), &f, &attributor());
        let up = rollup(&rep, &h);
        assert_eq!(up.iter().map(|c| (c.node.as_str(), c.cost)).collect::<Vec<_>>(), [
            ("bu", Money::parse("12.34").unwrap()),
            ("dept", Money::parse("12.34").unwrap()),
            ("port", Money::parse("12.34").unwrap()),
            ("chat", Money::parse("12.34").unwrap()),
        ]);
    }

    proptest! {
        /// The legacy split loses and invents nothing: attributed + split +
        /// unallocated = attributed + unattributed of the report, exactly.
        #[test]
        fn the_legacy_split_adds_up_exactly(costs in proptest::collection::vec((-100_000i64..10_000_000, 0usize..3, 0usize..2), 1..60), workloads in 0usize..4) {
            let mut f = Facts::default();
            let principals = [CHAT, SSO, ""];
            let accounts = ["111122223333", "444455556666"];
            for (c, p, a) in costs {
                f.add(row(accounts[a], principals[p], "AmazonBedrock", "Usage", Decimal::new(c, 5)));
            }
            let mut by_account = BTreeMap::new();
            by_account.insert(AccountId::parse("111122223333").unwrap(), (0..workloads).map(|i| WorkloadId::parse(&format!("w{i}")).unwrap()).collect::<Vec<_>>());
            let p = BillingPeriod::parse("2026-03").unwrap();
            let v = legacy_split(p, &f, &attributor(), &by_account);
            let rep = report(p, &f, &attributor());
            let total: Money = v.by_workload.iter().map(|w| w.total).sum::<Money>() + v.unallocated;
            prop_assert_eq!(total, rep.attributed + rep.unattributed);
            if workloads > 1 {
                let splits: Vec<Decimal> = v.by_workload.iter().filter(|w| w.workload.as_str() != "chat").map(|w| w.shared_split.amount()).collect();
                let (min, max) = (splits.iter().min().copied().unwrap_or_default(), splits.iter().max().copied().unwrap_or_default());
                prop_assert!(max - min <= Decimal::new(2, 2), "even split: {:?}", splits);
            }
        }
    }
}
