//! The attribution reports over a period's stored facts and the current claims.
//! Attribution is computed when asked, never stored, so a claim recorded later
//! changes the report from its claim date on and nothing before it.
//!
//! Who sees what (the report routes and the CLI alike):
//! - the FinOps Lead (and the system) sees the whole organisation;
//! - Finance sees the workloads of its subtree, and the unattributed spend and
//!   reconciliation (they belong to no subtree, and Finance owns the bill);
//! - Product and Portfolio Owners see the attributed spend of the workloads in
//!   their scope, and nothing unattributed;
//! - reconciliation is for the FinOps Lead and Finance only;
//! - gaps and maturity are the FinOps Lead's and Finance's; scoped Finance sees
//!   the gaps of its workloads and of the accounts they run in
//!   ([`AnalyticsScope`]), and maturity measured over the same.
//!
//! A report filtered to a scope says so (`scope`), and its parts still add up
//! to its totals.

use std::collections::{BTreeMap, BTreeSet};

use domain::cur::bases::CostBasis;
use domain::cur::facts::{report, AttributionReport};
use domain::analytics::gaps::GapContext;
use domain::cur::views::{legacy_split, reconcile, rollup, LegacyView, NodeCost, Reconciliation};
use domain::governance::approval::ModelApprovalScope;
use domain::governance::authz::Action;
use domain::{AccountId, Actor, BillingPeriod, EntityRef, Hierarchy, Money, NodeId, Persona, WorkloadId};

use super::{decode, keys, query_index_all, Governance, Result};

/// What part of the organisation a caller's reports cover.
pub(crate) enum Scope {
    Organisation,
    /// Workloads under these nodes (of `hierarchy`, loaded once);
    /// `unattributed` says whether the caller also sees spend nobody owns.
    Nodes { nodes: Vec<NodeId>, unattributed: bool, hierarchy: Hierarchy },
}

impl Scope {
    pub(crate) fn sees(&self, workload: &WorkloadId) -> bool {
        self.sees_node(&NodeId::from(workload))
    }

    fn sees_node(&self, node: &NodeId) -> bool {
        match self {
            Scope::Organisation => true,
            Scope::Nodes { nodes, hierarchy, .. } => nodes.iter().any(|n| hierarchy.contains(n, node)),
        }
    }

    /// Whether spend nobody owns is shown (the organisation, and Finance).
    pub(crate) fn sees_unattributed(&self) -> bool {
        match self {
            Scope::Organisation => true,
            Scope::Nodes { unattributed, .. } => *unattributed,
        }
    }

    pub(crate) fn nodes(&self) -> Option<Vec<NodeId>> {
        match self {
            Scope::Organisation => None,
            Scope::Nodes { nodes, .. } => Some(nodes.clone()),
        }
    }
}

/// A scope as the gap and maturity views apply it. Gaps are spend nobody owns,
/// so they belong to no node: a scoped caller sees a gap when it names a
/// workload in scope, or lies in an account where a workload in scope is
/// approved or has a claim (that account's spend is its teams' business).
pub(crate) struct AnalyticsScope {
    pub(crate) scope: Scope,
    /// `None` for the organisation.
    pub(crate) accounts: Option<BTreeSet<AccountId>>,
}

impl AnalyticsScope {
    pub(crate) fn organisation() -> Self {
        Self { scope: Scope::Organisation, accounts: None }
    }

    pub(crate) fn sees_workload(&self, workload: &WorkloadId) -> bool {
        self.scope.sees(workload)
    }

    pub(crate) fn sees_node(&self, node: &NodeId) -> bool {
        self.scope.sees_node(node)
    }

    pub(crate) fn sees_account(&self, account: &AccountId) -> bool {
        self.accounts.as_ref().is_none_or(|a| a.contains(account))
    }

    pub(crate) fn sees_gap(&self, c: &GapContext) -> bool {
        match &self.accounts {
            None => true,
            Some(accounts) => c.workload.as_ref().is_some_and(|w| self.scope.sees(w)) || c.accounts_seen().iter().any(|a| accounts.contains(a)),
        }
    }
}

impl Governance {
    /// Refuses (audited) a caller who may see no spend; otherwise the part of
    /// the organisation it may see.
    pub(crate) async fn spend_scope(&self, actor: &Actor, what: &str, period: BillingPeriod) -> Result<Scope> {
        if actor.persona == Persona::System {
            return Ok(Scope::Organisation);
        }
        self.authorize(actor, Action::ViewSpend, &EntityRef::new(what, period.to_string())).await?;
        if actor.persona == Persona::FinOpsLead {
            return Ok(Scope::Organisation);
        }
        let hierarchy = self.hierarchy().await?;
        let finance = actor.persona == Persona::Finance;
        // Finance scoped to a root sees the whole organisation.
        if finance && actor.scope.iter().any(|n| hierarchy.node(n).is_some_and(|x| x.parent.is_none())) {
            return Ok(Scope::Organisation);
        }
        Ok(Scope::Nodes { nodes: actor.scope.clone(), unattributed: finance, hierarchy })
    }

    /// The scope of the gap and maturity views: the FinOps Lead and Finance
    /// only (refused and audited otherwise), the organisation for the FinOps
    /// Lead and root-scoped Finance, else the caller's subtree and its accounts.
    pub(crate) async fn analytics_scope(&self, actor: &Actor, what: &str, period: BillingPeriod) -> Result<AnalyticsScope> {
        if actor.persona == Persona::System {
            return Ok(AnalyticsScope::organisation());
        }
        self.authorize(actor, Action::ViewAttribution, &EntityRef::new(what, period.to_string())).await?;
        let scope = self.spend_scope(actor, what, period).await?;
        let accounts = match &scope {
            Scope::Organisation => None,
            Scope::Nodes { .. } => Some(
                self.workload_accounts()
                    .await?
                    .into_iter()
                    .filter(|(_, workloads)| workloads.iter().any(|w| scope.sees(w)))
                    .map(|(a, _)| a)
                    .collect(),
            ),
        };
        Ok(AnalyticsScope { scope, accounts })
    }

    /// The workloads "in" each account: an approval scope or a claimed role
    /// names the account.
    pub(crate) async fn workload_accounts(&self) -> Result<BTreeMap<AccountId, Vec<WorkloadId>>> {
        let mut by_account: BTreeMap<AccountId, Vec<WorkloadId>> = BTreeMap::new();
        for item in query_index_all(self.store.as_ref(), keys::SCOPES_INDEX).await? {
            let s: ModelApprovalScope = decode(&item.attrs)?;
            for a in s.accounts {
                by_account.entry(a).or_default().push(s.workload.clone());
            }
        }
        for c in self.all_claims().await? {
            if let Some(account) = c.target.arn.split(':').nth(4).and_then(|a| AccountId::parse(a).ok()) {
                by_account.entry(account).or_default().push(c.workload.clone());
            }
        }
        Ok(by_account)
    }

    pub async fn attribution_report(&self, actor: &Actor, period: BillingPeriod) -> Result<AttributionReport> {
        self.attribution_report_on(actor, period, CostBasis::Unblended).await
    }

    /// The attribution report on a cost basis (refused, naming the column,
    /// when the period's CUR lacks what the basis needs).
    pub async fn attribution_report_on(&self, actor: &Actor, period: BillingPeriod, basis: CostBasis) -> Result<AttributionReport> {
        let scope = self.spend_scope(actor, "attribution", period).await?;
        let facts = self.period_facts_on(period, basis).await?;
        let full = report(period, &facts, &self.attributor().await?);
        Ok(match &scope {
            Scope::Organisation => full,
            Scope::Nodes { unattributed, .. } => scoped(full, &scope, *unattributed),
        })
    }

    /// Per-account reconciliation: the FinOps Lead and Finance only, since it
    /// lays the whole bill out.
    pub async fn reconciliation(&self, actor: &Actor, period: BillingPeriod) -> Result<Reconciliation> {
        self.reconciliation_on(actor, period, CostBasis::Unblended).await
    }

    pub async fn reconciliation_on(&self, actor: &Actor, period: BillingPeriod, basis: CostBasis) -> Result<Reconciliation> {
        if actor.persona != Persona::System {
            self.authorize(actor, Action::ViewAttribution, &EntityRef::new("reconciliation", period.to_string())).await?;
        }
        let facts = self.period_facts_on(period, basis).await?;
        Ok(reconcile(period, &facts, &self.attributor().await?))
    }

    /// Attributed spend per hierarchy node, E1 down to each workload, over the
    /// nodes in the caller's scope.
    pub async fn attribution_rollup(&self, actor: &Actor, period: BillingPeriod) -> Result<Vec<NodeCost>> {
        self.attribution_rollup_on(actor, period, CostBasis::Unblended).await
    }

    pub async fn attribution_rollup_on(&self, actor: &Actor, period: BillingPeriod, basis: CostBasis) -> Result<Vec<NodeCost>> {
        let scope = self.spend_scope(actor, "hierarchy", period).await?;
        let facts = self.period_facts_on(period, basis).await?;
        let r = report(period, &facts, &self.attributor().await?);
        let h = self.hierarchy().await?;
        Ok(rollup(&r, &h).into_iter().filter(|n| scope.sees_node(&n.node)).collect())
    }

    /// The legacy shared-account split, beside attribution. A workload is "in"
    /// an account when an approval scope or a claimed role names the account.
    /// Scoped callers see their workloads' lines; only those who see
    /// unattributed spend see what stays unallocated.
    pub async fn legacy_view(&self, actor: &Actor, period: BillingPeriod) -> Result<LegacyView> {
        self.legacy_view_on(actor, period, CostBasis::Unblended).await
    }

    pub async fn legacy_view_on(&self, actor: &Actor, period: BillingPeriod, basis: CostBasis) -> Result<LegacyView> {
        let scope = self.spend_scope(actor, "legacy", period).await?;
        let facts = self.period_facts_on(period, basis).await?;
        let by_account = self.workload_accounts().await?;
        let mut v = legacy_split(period, &facts, &self.attributor().await?, &by_account);
        if let Scope::Nodes { unattributed, .. } = &scope {
            v.by_workload.retain(|w| scope.sees(&w.workload));
            if !unattributed {
                v.unallocated = Money::ZERO;
            }
            v.scope = scope.nodes();
        }
        Ok(v)
    }
}

/// The report as a scoped caller sees it: the workloads in scope, with the
/// totals recomputed from what is shown so the parts still add up. The
/// per-account lines mix every team's spend, so a scoped caller gets none.
fn scoped(full: AttributionReport, scope: &Scope, unattributed: bool) -> AttributionReport {
    let by_workload: Vec<_> = full.by_workload.into_iter().filter(|w| scope.sees(&w.workload)).collect();
    let attributed: Money = by_workload.iter().map(|w| w.cost).sum();
    // A workload's share of its account's discounts is its own; only those
    // who see unattributed spend see the rest of the adjustments.
    let discounts: Vec<_> = full.discounts.into_iter().filter(|d| d.workload.as_ref().map_or(unattributed, |w| scope.sees(w))).collect();
    let (unattributed_total, by_reason, adjustments) = if unattributed {
        (full.unattributed, full.unattributed_by_reason, full.adjustments)
    } else {
        (Money::ZERO, Vec::new(), discounts.iter().map(|d| d.cost).sum())
    };
    let ai_total = attributed + unattributed_total + adjustments;
    AttributionReport {
        period: full.period,
        total: ai_total,
        ai_total,
        attributed,
        unattributed: unattributed_total,
        adjustments,
        by_workload,
        unattributed_by_reason: by_reason,
        by_account: Vec::new(),
        discounts,
        cost_basis: full.cost_basis,
        scope: scope.nodes(),
    }
}
