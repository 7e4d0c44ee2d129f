//! Governance maturity for a period, from attribution, the gaps whose condition
//! holds, the workloads' estimates and the Cloud Engineer journeys.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use domain::analytics::gaps::Scenario;
use domain::analytics::maturity::{assess, ClaimedWorkload, Journey, Maturity, ModelUse, MaturityInput};
use domain::cur::attribution::Outcome;
use domain::cur::facts::{outcomes, report};
use domain::cur::usage_type::{decode, Usage};
use domain::governance::request::BusinessRequest;
use domain::governance::tasks::{Task, TaskStatus};
use domain::{Actor, BillingPeriod, Money, RequestId};
use serde::{Deserialize, Serialize};

use super::{decode as decode_item, get_typed, keys, query_index_all, Governance, Result};
use crate::ports::store::ItemKey;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaturityReport {
    pub period: BillingPeriod,
    /// The nodes the report is measured over; absent for the organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<domain::NodeId>>,
    #[serde(flatten)]
    pub maturity: Maturity,
}

impl Governance {
    pub async fn maturity(&self, actor: &Actor, period: BillingPeriod) -> Result<MaturityReport> {
        // A scoped caller's maturity is measured over what it may see: the
        // spend of its workloads' accounts, their gaps, workloads and journeys.
        let scope = self.analytics_scope(actor, "maturity", period).await?;
        let mut facts = self.period_facts(period).await?;
        if scope.accounts.is_some() {
            facts.retain(|k, _| scope.sees_account(k.account));
        }
        let attributor = self.attributor().await?;
        let r = report(period, &facts, &attributor);
        let observations: Vec<_> = self.observe_gaps(period).await?.into_iter().filter(|o| scope.sees_gap(&o.context)).collect();
        let scopes = self.approval_scopes().await?;
        let approved: BTreeSet<&str> = scopes.iter().map(|s| s.model.base_model()).collect();

        let mut spend_by_model: BTreeMap<String, Money> = BTreeMap::new();
        let mut decoded = BTreeMap::new();
        for (k, v, outcome) in outcomes(period, &facts, &attributor) {
            if outcome == Outcome::Adjustment {
                continue;
            }
            let ut = decoded.entry(k.usage_type).or_insert_with(|| decode(k.usage_type));
            if let Usage::Tokens { model, .. } = &ut.usage {
                let name = self.catalog.by_cur_token(model).map_or_else(|| model.clone(), |m| m.model_id.to_string());
                *spend_by_model.entry(name).or_default() += v.cost;
            }
        }
        let named = |s: Option<Scenario>, m: &str| observations.iter().any(|o| s.is_none_or(|s| o.scenario == s) && o.context.model.as_deref() == Some(m));
        let models = spend_by_model
            .into_iter()
            .map(|(model, spend)| ModelUse {
                approved: approved.contains(model.as_str()),
                in_scope: !named(Some(Scenario::OutOfBudgetScope), &model),
                gap_free: !named(None, &model),
                model,
                spend,
            })
            .collect();

        let by_workload: BTreeMap<_, _> = r.by_workload.iter().map(|w| (w.workload.clone(), w.cost)).collect();
        let profiles = self.workload_profiles().await?;
        let workloads = profiles
            .values()
            .filter(|p| p.claimed_since.is_some_and(|d| d <= period.last_day()) && scope.sees_workload(&p.workload.id))
            .map(|p| ClaimedWorkload { workload: p.workload.id.clone(), has_estimate: p.has_estimate(), spend: by_workload.get(&p.workload.id).copied().unwrap_or(Money::ZERO) })
            .collect();

        let mut tasks: Vec<Task> = Vec::new();
        for open in [true, false] {
            for i in query_index_all(self.store.as_ref(), keys::tasks_index(open)).await? {
                tasks.push(decode_item(&i.attrs)?);
            }
        }
        let mut by_request: BTreeMap<RequestId, Vec<Task>> = BTreeMap::new();
        for t in tasks {
            by_request.entry(t.request.clone()).or_default().push(t);
        }
        let mut journeys = Vec::new();
        for (request, ts) in by_request {
            let Some(due) = ts.iter().map(|t| t.due).max() else { continue };
            let live_at: Option<DateTime<Utc>> = if ts.iter().all(|t| t.status == TaskStatus::Implemented) {
                ts.iter().flat_map(|t| t.steps.iter().filter_map(|s| s.done.as_ref().map(|d| d.at))).max()
            } else {
                None
            };
            let req: Option<(BusinessRequest, u64)> = get_typed(self.store.as_ref(), ItemKey::new(keys::request(&request), keys::META)).await?;
            if scope.accounts.is_some() && req.as_ref().is_none_or(|(r, _)| !scope.sees_node(&Self::request_node(&r.draft))) {
                continue;
            }
            let monthly_value = req.and_then(|(r, _)| r.draft.business_case).map_or(Money::ZERO, |c| c.monthly_opportunity());
            journeys.push(Journey { request, due, live_at, monthly_value });
        }

        let maturity = assess(&MaturityInput {
            ai_spend: r.attributed + r.unattributed,
            attributed: r.attributed,
            open_gaps: observations.len(),
            models,
            workloads,
            journeys,
            now: self.clock.now(),
        });
        Ok(MaturityReport { period, scope: scope.scope.nodes(), maturity })
    }
}
