//! Allocation gaps as a service: detection over a period's facts and the
//! governance state (idempotent: re-detecting writes only what changed), the
//! gaps report, and the FinOps Lead's inline actions, each of which does the real
//! thing (a request, a claim, a scope, a block, an inbox item) and is audited
//! with actor and rationale.

use std::collections::BTreeMap;

use domain::analytics::gaps::{detect, headline, period_of_gap_id, reconcile, value_at_stake, DetectionInput, Gap, GapAction, GapError, GapStatus, Observation, ScenarioSpend, ValueAtStake, WorkloadFacts};
use domain::governance::approval::{ApprovalInput, ModelApprovalScope, Platform, Priority};
use domain::governance::authz::Action;
use domain::governance::claims::{Claim, ClaimKind, ClaimTarget};
use domain::governance::request::{Availability, EstimateInput, RequestDraft, Runtime, Target, UseCase};
use domain::governance::tasks::ScopeChange;
use domain::{Actor, AccountId, BillingPeriod, EntityRef, Money, ModelId, NodeId, Region, RequestId, UserId, WorkloadId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::reports::AnalyticsScope;
use super::requests::{scope_item, ApprovalPlan};
use super::{decode, encode, events, get_typed, keys, put_new, put_over, Governance, GovernanceError, Result};
use crate::ports::store::{IndexKey, ItemData, ItemKey, SkRange, StoreError, WriteOp};

/// What one detection did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DetectionSummary {
    pub period: String,
    /// Gaps whose condition holds now.
    pub holding: usize,
    pub opened: usize,
    pub reopened: usize,
    pub updated: usize,
    pub auto_resolved: usize,
}

/// `finops report gaps` and `GET /gaps`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapsReport {
    pub period: BillingPeriod,
    /// Declared annual opportunity of the workloads in view.
    pub value_at_stake: ValueAtStake,
    pub open: usize,
    /// Open spend with each dollar counted once (a dollar can lie in two
    /// gaps; `by_scenario` counts it in each).
    pub open_spend: Money,
    pub by_scenario: Vec<ScenarioSpend>,
    /// The nodes the report is filtered to; absent for the organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<domain::NodeId>>,
    pub gaps: Vec<Gap>,
}

/// A FinOps Lead's action on a gap. Which fields are needed depends on the action.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapActionInput {
    pub action: GapAction,
    pub rationale: String,
    /// create_request, approve: the Product Owner who will own the workload.
    #[serde(default)]
    pub owner: Option<UserId>,
    /// create_request, approve: the E3 portfolio of the new workload.
    #[serde(default)]
    pub portfolio: Option<NodeId>,
    /// create_request, approve: the new workload's name (default from the role).
    #[serde(default)]
    pub name: Option<String>,
    /// assign_to_workload: the workload that claims the guardrail.
    #[serde(default)]
    pub workload: Option<WorkloadId>,
    /// add_scope, flag_move: the approval whose scope is meant, when the model has several.
    #[serde(default)]
    pub request: Option<RequestId>,
    /// block: also ask the kill switch to suspend the principal.
    #[serde(default)]
    pub suspend: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapActionOutcome {
    pub gap: Gap,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub outcome: Value,
}

/// A model blocked in an account and region set (the kill switch denies it
/// there until the block is lifted; a lifted block stays in the record).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelBlock {
    /// `{gap}.b{n}`: the gap it came from and the gap's history entry.
    #[serde(default)]
    pub id: String,
    pub model: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub accounts: Vec<AccountId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub regions: Vec<Region>,
    pub principal: Option<String>,
    pub suspend_requested: bool,
    pub gap: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub by: UserId,
    pub at: chrono::DateTime<chrono::Utc>,
    pub rationale: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted: Option<BlockLift>,
}

/// Who lifted a block, when and why.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockLift {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub by: UserId,
    pub at: chrono::DateTime<chrono::Utc>,
    pub rationale: String,
}

/// What an action does, not yet written: its outcome (kept in the gap's
/// history), the writes that go with the gap's own, events to publish after
/// them, and for Approve the approval to commit with them.
struct Carried {
    outcome: Value,
    ops: Vec<WriteOp>,
    events: Vec<crate::ports::bus::DomainEvent>,
    approval: Option<ApprovalPlan>,
}

impl Carried {
    fn writes(outcome: Value, ops: Vec<WriteOp>, events: Vec<crate::ports::bus::DomainEvent>) -> Self {
        Self { outcome, ops, events, approval: None }
    }
}

fn gaps_pk(period: BillingPeriod) -> String {
    format!("GAPS#{period}")
}

fn gap_item(g: &Gap) -> Result<ItemData> {
    Ok(ItemData::new(ItemKey::new(gaps_pk(g.period), g.id.as_str()), encode(g)?))
}

fn entity(id: &str) -> EntityRef {
    EntityRef::new("gap", id)
}

fn map_gap_error(e: GapError) -> GovernanceError {
    match e {
        GapError::RationaleRequired => GovernanceError::invalid("rationale", "is required"),
        e @ GapError::NotForScenario { .. } => GovernanceError::invalid("action", e.to_string()),
        e @ GapError::WrongStatus { .. } => GovernanceError::Conflict(e.to_string()),
    }
}

fn need<T: Clone>(v: &Option<T>, field: &str, action: GapAction) -> Result<T> {
    v.clone().ok_or_else(|| GovernanceError::invalid(field, format!("is required for {}", action.as_str())))
}

impl Governance {
    /// The findings of the seven scenarios for a period, from stored facts and state.
    pub async fn observe_gaps(&self, period: BillingPeriod) -> Result<Vec<Observation>> {
        let facts = self.period_facts(period).await?;
        let attributor = self.attributor().await?;
        let scopes = self.approval_scopes().await?;
        let workloads: Vec<WorkloadFacts> = self
            .workload_profiles()
            .await?
            .into_values()
            .map(|p| WorkloadFacts { id: p.workload.id.clone(), owner: p.workload.owner.clone(), claimed_since: p.claimed_since, has_estimate: p.has_estimate(), business_case: p.business_case.clone() })
            .collect();
        // Up to four threads for a large month's facts (the domain decides
        // when a month is large enough to share out).
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(4);
        Ok(detect(&DetectionInput { period, facts: &facts, attributor: &attributor, scopes: &scopes, catalog: &self.catalog, workloads: &workloads, as_of: self.clock.now().date_naive() }, threads))
    }

    pub(crate) async fn stored_gaps(&self, period: BillingPeriod) -> Result<Vec<(Gap, u64)>> {
        let items = self.store.query_all(&gaps_pk(period), &SkRange::All).await?;
        items.iter().map(|i| Ok((decode(&i.attrs)?, i.version))).collect()
    }

    /// Detects a period's gaps and stores what changed, each gap with the audit
    /// records of its new history in one transaction. Running it twice on the same
    /// data writes nothing the second time (duplicate events are harmless).
    pub async fn detect_gaps(&self, period: BillingPeriod) -> Result<DetectionSummary> {
        let observed = self.observe_gaps(period).await?;
        let stored = self.stored_gaps(period).await?;
        let versions: BTreeMap<String, (u64, usize)> = stored.iter().map(|(g, v)| (g.id.clone(), (*v, g.history.len()))).collect();
        let existing: Vec<Gap> = stored.into_iter().map(|(g, _)| g).collect();
        let mut summary = DetectionSummary { period: period.to_string(), holding: observed.len(), ..DetectionSummary::default() };
        let changed = reconcile(period, &existing, observed, self.clock.now());
        let correlation = self.ids.next_id();
        let system = Self::system_actor("gap-detector");
        let mut groups: Vec<Vec<WriteOp>> = Vec::with_capacity(changed.len());
        for g in &changed {
            let (op, seen) = match versions.get(&g.id) {
                None => {
                    summary.opened += 1;
                    (put_new(gap_item(g)?), 0)
                }
                Some((v, n)) => (put_over(gap_item(g)?, *v), *n),
            };
            let mut ops = vec![op];
            for e in &g.history[seen..] {
                match e.action.as_str() {
                    "reopened" => summary.reopened += 1,
                    "auto_resolved" => summary.auto_resolved += 1,
                    _ => {}
                }
                ops.push(self.audit(entity(&g.id), &e.action, (e.from.map(GapStatus::as_str), Some(e.to.as_str())), &system, e.rationale.as_deref(), &correlation)?);
            }
            if seen > 0 && g.history.len() == seen {
                summary.updated += 1;
                ops.push(self.audit(entity(&g.id), "refreshed", (Some(g.status.as_str()), Some(g.status.as_str())), &system, Some(&format!("spend now {}", g.spend)), &correlation)?);
            }
            groups.push(ops);
        }
        // Each gap commits whole with its audit records; many gaps share a
        // commit (a large month changes thousands at once).
        self.store.transact_each(crate::ports::store::pack_transactions(groups)).await.map_err(|e| match e {
            StoreError::Conflict { key } => GovernanceError::Conflict(format!("gap {} changed during detection; run it again", key.sk)),
            other => other.into(),
        })?;
        if !changed.is_empty() {
            self.publish(vec![self.event(events::GAPS_DETECTED, &correlation, json!({"period": period, "summary": summary}))]).await;
        }
        Ok(summary)
    }

    /// The stored gaps of a period (FinOps Lead and Finance), largest spend
    /// first, filtered to the caller's scope; the headline counts each dollar
    /// once and each scenario's spend is given beside it.
    pub async fn gaps_report(&self, actor: &Actor, period: BillingPeriod) -> Result<GapsReport> {
        let (scope, mut gaps) = self.visible_gaps(actor, period).await?;
        gaps.sort_by(|a, b| b.spend.cmp(&a.spend).then_with(|| a.scenario.cmp(&b.scenario)).then_with(|| a.key.cmp(&b.key)));
        let profiles = self.workload_profiles().await?;
        let cases = profiles.values().filter(|p| scope.sees_workload(&p.workload.id)).filter_map(|p| p.business_case.as_ref());
        let h = headline(&gaps);
        Ok(GapsReport { period, value_at_stake: value_at_stake(cases), open: h.open, open_spend: h.open_spend, by_scenario: h.by_scenario, scope: scope.scope.nodes(), gaps })
    }

    /// The stored gaps of a period the caller may see (FinOps Lead and
    /// Finance; refused and audited otherwise), and the scope that chose them.
    pub(crate) async fn visible_gaps(&self, actor: &Actor, period: BillingPeriod) -> Result<(AnalyticsScope, Vec<Gap>)> {
        let scope = self.analytics_scope(actor, "gaps", period).await?;
        let gaps = self.stored_gaps(period).await?.into_iter().map(|(g, _)| g).filter(|g| scope.sees_gap(&g.context)).collect();
        Ok((scope, gaps))
    }

    async fn load_gap(&self, id: &str) -> Result<(Gap, u64)> {
        let not_found = || GovernanceError::NotFound { what: "gap", id: id.to_owned() };
        let period = period_of_gap_id(id).ok_or_else(not_found)?;
        get_typed(self.store.as_ref(), ItemKey::new(gaps_pk(period), id)).await?.ok_or_else(not_found)
    }

    pub async fn get_gap(&self, actor: &Actor, id: &str) -> Result<Gap> {
        let (g, _) = self.load_gap(id).await?;
        let scope = self.analytics_scope(actor, "gap", g.period).await?;
        if !scope.sees_gap(&g.context) {
            return Err(self.audit_refusal(actor, &entity(id), "ViewAttribution", "the gap lies outside your scope: none of its workloads or accounts is yours").await);
        }
        Ok(g)
    }

    /// A FinOps Lead's inline action. The action's effect and the gap's new state
    /// are written with their audit records; an action that goes through another
    /// governed step (a request, an approval) runs that step first, audited on its
    /// own entity too.
    pub async fn gap_action(&self, actor: &Actor, id: &str, input: GapActionInput) -> Result<GapActionOutcome> {
        self.authorize(actor, Action::ActionGap, &entity(id)).await?;
        let (mut gap, version) = self.load_gap(id).await?;
        gap.check(input.action, &input.rationale).map_err(map_gap_error)?;
        let rationale = input.rationale.trim().to_owned();
        let correlation = self.ids.next_id();
        let Carried { mut outcome, mut ops, events: mut events_out, approval } = self.carry_out(actor, &gap, &input, &rationale, &correlation).await?;
        let from = gap.status;
        gap.apply(input.action, actor, &rationale, self.clock.now(), Some(outcome.clone())).map_err(map_gap_error)?;
        ops.push(put_over(gap_item(&gap)?, version));
        ops.push(self.audit(entity(id), input.action.as_str(), (Some(from.as_str()), Some(gap.status.as_str())), actor, Some(&rationale), &correlation)?);
        let conflict = |e: StoreError| match e {
            StoreError::Conflict { key } if key.pk.starts_with("GAPS#") => GovernanceError::Conflict(format!("gap {id} was changed by someone else meanwhile; reload and retry")),
            other => other.into(),
        };
        // The action's own writes, the gap's change and its audit land together.
        match approval {
            Some(plan) => {
                let record = self.commit_approval(actor, plan, &correlation, ops, conflict).await?;
                outcome["role_name"] = json!(record.role_name);
            }
            None => self.store.transact(ops).await.map_err(conflict)?,
        }
        events_out.push(self.event(events::GAP_ACTIONED, &correlation, json!({"gap": id, "action": input.action, "status": gap.status})));
        self.publish(events_out).await;
        Ok(GapActionOutcome { gap, outcome })
    }

    /// Does what the action says; returns its outcome, the writes that go with the
    /// gap's own, and events to publish after them.
    async fn carry_out(&self, actor: &Actor, gap: &Gap, input: &GapActionInput, rationale: &str, correlation: &str) -> Result<Carried> {
        let ctx = &gap.context;
        let action = input.action;
        match action {
            GapAction::Resolve | GapAction::Recall => Ok(Carried::writes(json!({}), vec![], vec![])),
            GapAction::GuidedSetup => Ok(Carried::writes(guided_setup(ctx.account.as_ref().map_or(gap.key.as_str(), AccountId::as_str)), vec![], vec![])),
            GapAction::CreateRequest | GapAction::Approve => {
                let owner = need(&input.owner, "owner", action)?;
                let portfolio = need(&input.portfolio, "portfolio", action)?;
                let role = ctx.role_name.clone().unwrap_or_else(|| "shared role".into());
                let name = input.name.clone().unwrap_or_else(|| format!("{role} dedicated"));
                let amount = gap.spend.round_cents().max(Money::parse("1").map_err(|e| GovernanceError::Internal(e.to_string()))?);
                let draft = RequestDraft {
                    target: Target::NewWorkload { name, portfolio },
                    use_case: UseCase::Operations,
                    description: format!(
                        "Pre-filled from allocation gap {}: {} of {} spend in {} by {}. Replace the runtime and estimate with the real ones before submitting.",
                        gap.id,
                        gap.spend.round_cents(),
                        gap.scenario,
                        gap.period,
                        ctx.principal.as_deref().unwrap_or(&gap.key)
                    )
                    .chars()
                    .take(500)
                    .collect(),
                    runtime: Runtime::Lambda,
                    availability: Availability::Standard,
                    coding: None,
                    estimate: Some(EstimateInput::MonthlyDollars { amount }),
                    business_case: None,
                };
                if action == GapAction::CreateRequest {
                    let p = self.prefilled_request(actor, &owner, draft, false, rationale, correlation).await?;
                    return Ok(Carried::writes(json!({"request": p.request.id, "status": p.request.status, "owner": owner}), p.ops, vec![]));
                }
                let model = ctx.model.as_deref().and_then(|m| ModelId::parse(m).ok()).filter(|m| self.catalog.model(m).is_some()).ok_or_else(|| {
                    GovernanceError::invalid("action", format!("the gap's model {:?} is not in the catalogue, so it cannot be approved here; create a request instead", ctx.model))
                })?;
                self.authorize(actor, Action::ApproveRequest, &entity(&gap.id)).await?;
                let p = self.prefilled_request(actor, &owner, draft, true, rationale, correlation).await?;
                let input = ApprovalInput {
                    platform: Platform::Bedrock,
                    model,
                    accounts: ctx.accounts_seen(),
                    regions: ctx.regions_seen(),
                    workspace: None,
                    confirmed_estimate: Some(amount),
                    business_case_acknowledged: false,
                    priority: Priority::Normal,
                    rationale: rationale.to_owned(),
                    agentic_access: false,
                    cross_region: false,
                    map_mpe_id: None,
                };
                let plan = self.plan_approval(p.request, None, input).await?;
                let outcome = json!({"request": plan.request.id, "workload": plan.scope.workload, "scope": plan.scope});
                Ok(Carried { outcome, ops: p.ops, events: vec![], approval: Some(plan) })
            }
            GapAction::Block => {
                let model = need(&ctx.model, "context.model", action)?;
                let block = ModelBlock {
                    id: format!("{}.b{}", gap.id, gap.history.len()),
                    model: model.clone(),
                    accounts: ctx.accounts_seen(),
                    regions: ctx.regions_seen(),
                    principal: ctx.principal.clone(),
                    suspend_requested: input.suspend,
                    gap: gap.id.clone(),
                    by: actor.user.clone(),
                    at: self.clock.now(),
                    rationale: rationale.to_owned(),
                    lifted: None,
                };
                let sk = format!("BLOCK#{}#{}", gap.id, gap.history.len());
                let op = put_new(ItemData::new(ItemKey::new(keys::scope(&model), sk.as_str()), encode(&block)?).with_index(IndexKey::new(keys::BLOCKS_INDEX, format!("{model}#{sk}"))));
                let ev = self.event(events::MODEL_BLOCKED, correlation, json!({"block": block}));
                Ok(Carried::writes(json!({"blocked": block}), vec![op], vec![ev]))
            }
            GapAction::AddScope => {
                let model = need(&ctx.model, "context.model", action)?;
                let (account, region) = (need(&ctx.account, "context.account", action)?, need(&ctx.region, "context.region", action)?);
                let (mut scope, v) = self.scope_to_change(&model, input.request.as_ref()).await?;
                let new_account = !scope.accounts.contains(&account);
                if new_account {
                    scope.accounts.push(account.clone());
                }
                if !scope.regions.contains(&region) {
                    scope.regions.push(region.clone());
                }
                let audit = self.audit(EntityRef::new("scope", scope.request.as_str()), "add_scope", (None, Some(&format!("{account}/{region}"))), actor, Some(rationale), correlation)?;
                let mut ops = vec![put_over(scope_item(&scope)?, v), audit];
                // The role's policy must follow the scope: a Cloud Engineer task, like
                // the approval's own (Claude Platform scopes are workspaces, not policies).
                let mut events = Vec::new();
                let task = if scope.platform == Platform::ClaudePlatform {
                    None
                } else {
                    let (task, op, ev) = self.scope_change(&scope, &ScopeChange::Widened { account: account.clone(), region: region.clone(), new_account }, correlation).await?;
                    ops.push(op);
                    events.push(ev);
                    Some(task.id)
                };
                Ok(Carried::writes(json!({"scope": scope, "task": task}), ops, events))
            }
            GapAction::FlagMove => {
                let model = need(&ctx.model, "context.model", action)?;
                let (account, region) = (need(&ctx.account, "context.account", action)?, need(&ctx.region, "context.region", action)?);
                let (scope, _) = self.scope_to_change(&model, input.request.as_ref()).await?;
                let change = ScopeChange::MoveInto { account, region, principal: ctx.principal.clone() };
                let (task, op, ev) = self.scope_change(&scope, &change, correlation).await?;
                Ok(Carried::writes(json!({"task": task.id, "workload": scope.workload}), vec![op], vec![ev]))
            }
            GapAction::NotifyOwner => {
                let role = need(&ctx.role_name, "context.role_name", action)?;
                let profiles = self.workload_profiles().await?;
                // The workload whose workflow built the role; for imported
                // workloads (built before FinOps Center), the one that claims a
                // role of that name in another account, or whose id the
                // `finops-<workload>-` name carries.
                let claimed_by: std::collections::BTreeSet<WorkloadId> = self
                    .all_claims()
                    .await?
                    .into_iter()
                    .filter(|c| c.target.kind == ClaimKind::IamRole && c.target.arn.rsplit('/').next() == Some(role.as_str()))
                    .map(|c| c.workload)
                    .collect();
                let workloads: Vec<&domain::governance::workload::Workload> = profiles.values().map(|p| &p.workload).collect();
                let w = workloads
                    .iter()
                    .find(|w| w.role_name.as_deref() == Some(role.as_str()))
                    .or_else(|| workloads.iter().find(|w| claimed_by.contains(&w.id)))
                    .or_else(|| workloads.iter().filter(|w| role.starts_with(&format!("finops-{}-", w.id))).max_by_key(|w| w.id.as_str().len()))
                    .ok_or_else(|| GovernanceError::Conflict(format!("no workload was built with role {role}; create a request for it instead")))?;
                let body = json!({"gap": gap.id, "role_arn": ctx.principal, "workload": w.id, "spend": gap.spend, "period": gap.period, "message": rationale});
                let op = self.inbox_op(&w.owner, "claim_role", format!("Claim role {role} for {}: it has {} of unclaimed spend", w.name, gap.spend.round_cents()), body.clone())?;
                let ev = self.event(events::GAP_OWNER_NOTIFIED, correlation, body);
                Ok(Carried::writes(json!({"notified": w.owner, "workload": w.id}), vec![op], vec![ev]))
            }
            GapAction::AssignToWorkload => {
                let workload = need(&input.workload, "workload", action)?;
                let (w, _) = self.load_workload(&workload).await.map_err(|e| match e {
                    GovernanceError::NotFound { .. } => GovernanceError::invalid("workload", format!("workload {workload} does not exist")),
                    other => other,
                })?;
                let h = self.hierarchy().await?;
                self.require_scope(actor, &h, &w.node(), &entity(&gap.id)).await?;
                let target = ClaimTarget::parse(ClaimKind::Guardrail, &gap.key).map_err(GovernanceError::Invalid)?;
                let lock = self.free_lock(&target).await?;
                let claim = Claim { target, workload: w.id.clone(), claimed_at: self.clock.now().date_naive(), claimed_by: actor.user.clone(), released_at: None, released_by: None };
                let ops = self.claim_ops(&claim, lock, actor, Some(rationale), correlation)?;
                let ev = self.event(events::CLAIM_RECORDED, correlation, json!({"claim": claim}));
                Ok(Carried::writes(json!({"claim": claim}), ops, vec![ev]))
            }
            GapAction::RequestBusinessCase => {
                let workload = need(&ctx.workload, "context.workload", action)?;
                let owner = need(&ctx.owner, "context.owner", action)?;
                let body = json!({"gap": gap.id, "workload": workload, "spend": gap.spend, "period": gap.period, "message": rationale});
                let op = self.inbox_op(&owner, "business_case_requested", format!("Add a business case for {workload}"), body.clone())?;
                let ev = self.event(events::BUSINESS_CASE_REQUESTED, correlation, body);
                Ok(Carried::writes(json!({"asked": owner, "workload": workload}), vec![op], vec![ev]))
            }
        }
    }
}

impl Governance {
    /// The model's approval scope a gap action changes: the one named, or the
    /// only one there is.
    async fn scope_to_change(&self, model: &str, request: Option<&RequestId>) -> Result<(ModelApprovalScope, u64)> {
        let mut found: Vec<(ModelApprovalScope, u64)> = Vec::new();
        for item in self.store.query_all(&keys::scope(model), &SkRange::Prefix("REQ#".into())).await? {
            found.push((decode(&item.attrs)?, item.version));
        }
        match (request, found.len()) {
            (Some(r), _) => found.into_iter().find(|(s, _)| &s.request == r).ok_or_else(|| GovernanceError::invalid("request", format!("{r} has no approval scope for {model}"))),
            (None, 1) => Ok(found.remove(0)),
            (None, 0) => Err(GovernanceError::Conflict(format!("{model} has no approval scope to change"))),
            (None, n) => {
                let ids: Vec<String> = found.iter().map(|(s, _)| s.request.to_string()).collect();
                Err(GovernanceError::invalid("request", format!("{model} has {n} approval scopes; name one of {}", ids.join(", "))))
            }
        }
    }
}

/// The CUR 2.0 export that carries IAM principal data, for the account's payer.
fn guided_setup(account: &str) -> Value {
    let export = json!({
        "Name": "finops-center-cur2",
        "DataQuery": {
            "QueryStatement": "SELECT * FROM COST_AND_USAGE_REPORT",
            "TableConfigurations": {"COST_AND_USAGE_REPORT": {
                "TIME_GRANULARITY": "DAILY",
                "INCLUDE_RESOURCES": "TRUE",
                "INCLUDE_IAM_PRINCIPAL_DATA": "TRUE",
                "INCLUDE_SPLIT_COST_ALLOCATION_DATA": "FALSE",
                "INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY": "FALSE"
            }}
        },
        "DestinationConfigurations": {"S3Destination": {
            "S3Bucket": "YOUR-CUR-BUCKET",
            "S3Prefix": "cur2",
            "S3Region": "us-east-1",
            "S3OutputConfigurations": {"OutputType": "CUSTOM", "Format": "PARQUET", "Compression": "PARQUET", "Overwrite": "OVERWRITE_REPORT"}
        }},
        "RefreshCadence": {"Frequency": "SYNCHRONOUS"}
    });
    json!({
        "account": account,
        "steps": [
            "In the management (payer) account, open Billing and Cost Management → Data Exports.",
            "Create a Standard data export of type CUR 2.0, with 'Include caller identity (IAM principal) allocation data' turned on; or run the command below (data exports are created in us-east-1).",
            "Deliver to the S3 bucket FinOps Center's cur-ingest function reads, as Parquet, overwriting the report.",
            "Turn on Amazon EventBridge notifications on that bucket so each delivery triggers ingestion.",
            "Wait for the next delivery (up to 24 hours); the gap resolves itself once rows carry line_item_iam_principal."
        ],
        "command": format!("aws bcm-data-exports create-export --region us-east-1 --export '{export}'"),
    })
}

/// The gap detector's logical id in `template.yaml` (its route's consumer).
pub const GAP_DETECTOR: &str = "GapDetectorFunction";

/// The gap detector as an event consumer: a period's CUR changed, so its gaps
/// are detected again. Idempotent (a duplicate delivery writes nothing); the
/// nightly schedule is the reconciler for a lost event.
pub struct GapDetectorHandler(pub std::sync::Arc<Governance>);

#[async_trait::async_trait]
impl crate::ports::bus::EventHandler for GapDetectorHandler {
    async fn handle(&self, event: &crate::ports::bus::DomainEvent) -> std::result::Result<(), crate::ports::bus::HandlerError> {
        let fail = |message: String| crate::ports::bus::HandlerError { consumer: GAP_DETECTOR.into(), event_id: event.id.clone(), message };
        let period = event
            .detail
            .get("period")
            .and_then(Value::as_str)
            .and_then(|p| BillingPeriod::parse(p).ok())
            .ok_or_else(|| fail("detail.period is missing or not YYYY-MM".into()))?;
        self.0.detect_gaps(period).await.map(|_| ()).map_err(|e| fail(e.to_string()))
    }
}
