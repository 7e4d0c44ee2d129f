//! The attribution reports over a period's stored facts and the current claims.
//! Attribution is computed when asked, never stored, so a claim recorded later
//! changes the report from its claim date on and nothing before it.

use std::collections::BTreeMap;

use domain::cur::facts::{report, AttributionReport};
use domain::cur::views::{legacy_split, reconcile, rollup, LegacyView, NodeCost, Reconciliation};
use domain::governance::approval::ModelApprovalScope;
use domain::governance::authz::Action;
use domain::{AccountId, Actor, BillingPeriod, EntityRef, WorkloadId};

use super::{decode, keys, query_index_all, Governance, Result};

impl Governance {
    async fn authorize_view(&self, actor: &Actor, period: BillingPeriod) -> Result<()> {
        if actor.persona == domain::Persona::System {
            return Ok(());
        }
        self.authorize(actor, Action::ViewAttribution, &EntityRef::new("attribution", period.to_string())).await
    }

    pub async fn attribution_report(&self, actor: &Actor, period: BillingPeriod) -> Result<AttributionReport> {
        self.authorize_view(actor, period).await?;
        let facts = self.period_facts(period).await?;
        Ok(report(period, &facts, &self.attributor().await?))
    }

    pub async fn reconciliation(&self, actor: &Actor, period: BillingPeriod) -> Result<Reconciliation> {
        self.authorize_view(actor, period).await?;
        let facts = self.period_facts(period).await?;
        Ok(reconcile(period, &facts, &self.attributor().await?))
    }

    /// Attributed spend per hierarchy node, E1 down to each workload.
    pub async fn attribution_rollup(&self, actor: &Actor, period: BillingPeriod) -> Result<Vec<NodeCost>> {
        let r = self.attribution_report(actor, period).await?;
        Ok(rollup(&r, &self.hierarchy().await?))
    }

    /// The legacy shared-account split, beside attribution. A workload is "in"
    /// an account when an approval scope or a claimed role names the account.
    pub async fn legacy_view(&self, actor: &Actor, period: BillingPeriod) -> Result<LegacyView> {
        self.authorize_view(actor, period).await?;
        let facts = self.period_facts(period).await?;
        let mut by_account: BTreeMap<AccountId, Vec<WorkloadId>> = BTreeMap::new();
        for item in query_index_all(self.store.as_ref(), keys::SCOPES_INDEX).await? {
            let scope: ModelApprovalScope = decode(&item.attrs)?;
            for a in scope.accounts {
                by_account.entry(a).or_default().push(scope.workload.clone());
            }
        }
        for c in self.all_claims().await? {
            if let Some(account) = c.target.arn.split(':').nth(4).and_then(|a| AccountId::parse(a).ok()) {
                by_account.entry(account).or_default().push(c.workload.clone());
            }
        }
        Ok(legacy_split(period, &facts, &self.attributor().await?, &by_account))
    }
}
