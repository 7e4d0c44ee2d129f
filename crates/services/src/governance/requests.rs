//! Stages 1 and 2: Business Requests and their approval.

use chrono::{DateTime, Utc};
use domain::governance::approval::{ApprovalInput, ModelApprovalScope, Platform, INVOKE_ACTIONS};
use domain::governance::authz::Action;
use domain::governance::estimate::{monthly_cost, range, EstimateRange};
use domain::governance::request::{Availability, BusinessRequest, RequestDraft, RequestStatus, SubmitError, Target};
use domain::governance::tasks::role_name;
use domain::governance::workload::{workload_id, Workload, WorkloadStatus};
use domain::{Actor, EntityRef, Hierarchy, HierarchyNode, Level, Money, NodeId, RequestId, UserId, WorkloadId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    encode, events, get_typed, keys, put_new, put_over, query_index_all, decode, Governance, GovernanceError, Result,
};
use crate::ports::store::{IndexKey, ItemData, ItemKey, StoreError, WriteOp};

/// What an approval decided, stored beside the request (exactly one per request).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub request: RequestId,
    pub workload: WorkloadId,
    pub input: ApprovalInput,
    pub scope: ModelApprovalScope,
    pub role_name: String,
    /// The FA Confirmed Estimate, monthly.
    pub confirmed_estimate: Money,
    pub approved_by: UserId,
    pub approved_at: DateTime<Utc>,
    pub correlation_id: String,
}

/// A rejection's input.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub rationale: String,
}

/// A request opened from a gap and the writes that create it (see
/// [`Governance::prefilled_request`]).
pub(crate) struct Prefilled {
    pub request: BusinessRequest,
    pub ops: Vec<WriteOp>,
}

/// An approval decided but not written (see [`Governance::plan_approval`]).
pub(crate) struct ApprovalPlan {
    pub request: BusinessRequest,
    version: Option<u64>,
    workload: Workload,
    workload_version: Option<u64>,
    new_node: Option<HierarchyNode>,
    pub scope: ModelApprovalScope,
    confirmed_estimate: Money,
    input: ApprovalInput,
}

fn entity(id: &RequestId) -> EntityRef {
    EntityRef::new("business_request", id.as_str())
}

fn request_item(r: &BusinessRequest) -> Result<ItemData> {
    Ok(ItemData::new(ItemKey::new(keys::request(&r.id), keys::META), encode(r)?).with_index(IndexKey::new(
        keys::requests_index(r.status.as_str()),
        format!("{}#{}", r.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"), r.id),
    )))
}

/// A ModelApprovalScope, beside the other scopes of its model.
pub(crate) fn scope_item(s: &ModelApprovalScope) -> Result<ItemData> {
    Ok(ItemData::new(ItemKey::new(keys::scope(s.model.as_str()), keys::request(&s.request)), encode(s)?)
        .with_index(IndexKey::new(keys::SCOPES_INDEX, format!("{}#{}", s.model, s.request))))
}

/// `POST /workloads/{id}/map-tag`'s body.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapTagInput {
    /// The MAP engagement's `map-migrated` tag value; null or absent clears it.
    #[serde(default)]
    pub map_migrated: Option<String>,
    pub rationale: String,
}

pub(crate) fn workload_item(w: &Workload) -> Result<ItemData> {
    Ok(ItemData::new(ItemKey::new(keys::workload(&w.id), keys::META), encode(w)?)
        .with_index(IndexKey::new(keys::WORKLOADS_INDEX, w.id.as_str())))
}

impl Governance {
    /// The node a request is scoped by: the portfolio of a new workload, or the
    /// workload an AI component is added to.
    pub(crate) fn request_node(draft: &RequestDraft) -> NodeId {
        match &draft.target {
            Target::NewWorkload { portfolio, .. } => portfolio.clone(),
            Target::ExistingWorkload { workload } => NodeId::from(workload),
        }
    }

    async fn check_target(&self, actor: &Actor, hierarchy: &Hierarchy, draft: &RequestDraft, e: &EntityRef) -> Result<()> {
        match &draft.target {
            Target::NewWorkload { portfolio, .. } => match hierarchy.node(portfolio) {
                Some(n) if n.level == Level::Portfolio => {}
                Some(n) => {
                    return Err(GovernanceError::invalid("target.portfolio", format!("{portfolio} is {}, not an E3 Portfolio", n.level)))
                }
                None => return Err(GovernanceError::invalid("target.portfolio", format!("{portfolio} is not in the hierarchy"))),
            },
            Target::ExistingWorkload { workload } => {
                if get_typed::<Workload>(self.store.as_ref(), ItemKey::new(keys::workload(workload), keys::META)).await?.is_none() {
                    return Err(GovernanceError::invalid("target.workload", format!("workload {workload} does not exist")));
                }
            }
        }
        self.require_scope(actor, hierarchy, &Self::request_node(draft), e).await
    }

    async fn load_request(&self, id: &RequestId) -> Result<(BusinessRequest, u64)> {
        get_typed(self.store.as_ref(), ItemKey::new(keys::request(id), keys::META))
            .await?
            .ok_or_else(|| GovernanceError::NotFound { what: "business request", id: id.to_string() })
    }

    /// Stage 1: a Product Owner drafts a request. The draft is validated in full
    /// now, so a bad field is named before anything is stored.
    pub async fn create_request(&self, actor: &Actor, draft: RequestDraft) -> Result<BusinessRequest> {
        let id = RequestId::parse(&format!("br-{}", self.ids.next_id())).map_err(|e| GovernanceError::Internal(e.to_string()))?;
        let e = entity(&id);
        self.authorize(actor, Action::SubmitRequest, &e).await?;
        draft.validate().map_err(GovernanceError::Invalid)?;
        let hierarchy = self.hierarchy().await?;
        self.check_target(actor, &hierarchy, &draft, &e).await?;
        let request = BusinessRequest::new(id, actor.user.clone(), draft, self.clock.now());
        let correlation = self.ids.next_id();
        self.store
            .transact(vec![
                put_new(request_item(&request)?),
                self.audit(e, "create", (None, Some("Draft")), actor, None, &correlation)?,
            ])
            .await?;
        Ok(request)
    }

    /// A request the FinOps Lead opens for a Product Owner from an allocation gap,
    /// not yet written: the caller commits `ops` in the same transaction as the
    /// gap's own change, so a refused or conflicting gap action leaves no stray
    /// request behind. A Draft is for the owner to complete and submit; an
    /// approved one goes on to [`Self::plan_approval`]. The owner is told in their
    /// inbox; the audit record names the FinOps Lead and the rationale.
    pub(crate) async fn prefilled_request(&self, actor: &Actor, owner: &UserId, draft: RequestDraft, approve: bool, rationale: &str, correlation: &str) -> Result<Prefilled> {
        let id = RequestId::parse(&format!("br-{}", self.ids.next_id())).map_err(|e| GovernanceError::Internal(e.to_string()))?;
        let e = entity(&id);
        draft.validate().map_err(GovernanceError::Invalid)?;
        let hierarchy = self.hierarchy().await?;
        self.check_target(actor, &hierarchy, &draft, &e).await?;
        let now = self.clock.now();
        let mut request = BusinessRequest::new(id.clone(), owner.clone(), draft, now);
        let subject = if approve {
            if owner == &actor.user {
                return Err(self.audit_refusal(actor, &e, "own_request", "a FinOps Lead may not approve a request they would own").await);
            }
            request.submit(now).map_err(|err| GovernanceError::invalid("draft", err.to_string()))?;
            format!("Request {id} was opened and approved for you from an allocation gap")
        } else {
            format!("Complete and submit request {id}, pre-filled from an allocation gap")
        };
        let status = request.status.as_str();
        let mut ops = vec![
            self.audit(e, "create_for_owner", (None, Some(status)), actor, Some(rationale), correlation)?,
            self.inbox_op(owner, "request_prefilled", subject, json!({"request": id, "by": actor.user, "rationale": rationale}))?,
        ];
        // An approved request is written by its approval, in its final state.
        if !approve {
            ops.push(put_new(request_item(&request)?));
        }
        Ok(Prefilled { request, ops })
    }

    pub async fn get_request(&self, actor: &Actor, id: &RequestId) -> Result<BusinessRequest> {
        let (r, _) = self.load_request(id).await?;
        let hierarchy = self.hierarchy().await?;
        self.require_scope(actor, &hierarchy, &Self::request_node(&r.draft), &entity(id)).await?;
        Ok(r)
    }

    /// Requests in the caller's scope, optionally of one status, oldest first.
    pub async fn list_requests(&self, actor: &Actor, status: Option<RequestStatus>) -> Result<Vec<BusinessRequest>> {
        let statuses = match status {
            Some(s) => vec![s],
            None => vec![RequestStatus::Draft, RequestStatus::Submitted, RequestStatus::Approved, RequestStatus::Rejected],
        };
        let hierarchy = self.hierarchy().await?;
        let mut out = Vec::new();
        for s in statuses {
            for item in query_index_all(self.store.as_ref(), &keys::requests_index(s.as_str())).await? {
                let r: BusinessRequest = decode(&item.attrs)?;
                if actor.can_see(&hierarchy, &Self::request_node(&r.draft)) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// Only the requester changes their own request.
    async fn own_request(&self, actor: &Actor, action: Action, id: &RequestId) -> Result<(BusinessRequest, u64)> {
        let e = entity(id);
        self.authorize(actor, action, &e).await?;
        let (r, v) = self.load_request(id).await?;
        if r.requester != actor.user {
            return Err(self.audit_refusal(actor, &e, "not_requester", &format!("only the requester ({}) may change this request", r.requester)).await);
        }
        Ok((r, v))
    }

    pub async fn submit_request(&self, actor: &Actor, id: &RequestId) -> Result<BusinessRequest> {
        let (mut r, v) = self.own_request(actor, Action::SubmitRequest, id).await?;
        r.submit(self.clock.now()).map_err(|e| match e {
            SubmitError::Transition(t) => GovernanceError::Conflict(t.to_string()),
            SubmitError::Invalid(f) => GovernanceError::Invalid(f),
        })?;
        let correlation = self.ids.next_id();
        self.store
            .transact(vec![
                put_over(request_item(&r)?, v),
                self.audit(entity(id), "submit", (Some("Draft"), Some("Submitted")), actor, None, &correlation)?,
            ])
            .await?;
        self.publish(vec![self.event(events::REQUEST_SUBMITTED, &correlation, json!({"request": id}))]).await;
        Ok(r)
    }

    /// Replaces a Draft's contents, or reopens a Rejected request as a new revision.
    pub async fn revise_request(&self, actor: &Actor, id: &RequestId, draft: RequestDraft) -> Result<BusinessRequest> {
        let (mut r, v) = self.own_request(actor, Action::ReviseRequest, id).await?;
        draft.validate().map_err(GovernanceError::Invalid)?;
        let hierarchy = self.hierarchy().await?;
        self.check_target(actor, &hierarchy, &draft, &entity(id)).await?;
        let from = r.status.as_str();
        r.revise(draft).map_err(|t| GovernanceError::Conflict(t.to_string()))?;
        let correlation = self.ids.next_id();
        self.store
            .transact(vec![
                put_over(request_item(&r)?, v),
                self.audit(entity(id), "revise", (Some(from), Some(r.status.as_str())), actor, None, &correlation)?,
            ])
            .await?;
        Ok(r)
    }

    /// The estimate range across the catalogue's models, for a draft.
    pub fn estimate(&self, draft: &RequestDraft) -> Result<EstimateRange> {
        draft.validate().map_err(GovernanceError::Invalid)?;
        Ok(range(draft, &self.catalog, &self.assumptions))
    }

    /// Checks common to approve and reject: FinOps Lead, in scope, not their own
    /// request, request Submitted.
    async fn decidable(&self, actor: &Actor, action: Action, id: &RequestId) -> Result<(BusinessRequest, u64, Hierarchy)> {
        let e = entity(id);
        self.authorize(actor, action, &e).await?;
        let (r, v) = self.load_request(id).await?;
        let hierarchy = self.hierarchy().await?;
        self.require_scope(actor, &hierarchy, &Self::request_node(&r.draft), &e).await?;
        if r.requester == actor.user {
            return Err(self.audit_refusal(actor, &e, "own_request", "a FinOps Lead may not decide their own request").await);
        }
        if r.status != RequestStatus::Submitted {
            return Err(GovernanceError::Conflict(format!("business request {id} is {}, not Submitted", r.status.as_str())));
        }
        Ok((r, v, hierarchy))
    }

    pub async fn reject_request(&self, actor: &Actor, id: &RequestId, decision: Decision) -> Result<BusinessRequest> {
        if decision.rationale.trim().is_empty() {
            return Err(GovernanceError::invalid("rationale", "is required"));
        }
        let (mut r, v, _) = self.decidable(actor, Action::RejectRequest, id).await?;
        r.decide(false, &decision.rationale, self.clock.now()).map_err(|t| GovernanceError::Conflict(t.to_string()))?;
        let correlation = self.ids.next_id();
        self.store
            .transact(vec![
                put_over(request_item(&r)?, v),
                self.audit(entity(id), "reject", (Some("Submitted"), Some("Rejected")), actor, Some(&decision.rationale), &correlation)?,
            ])
            .await?;
        self.publish(vec![self.event(events::REQUEST_REJECTED, &correlation, json!({"request": id}))]).await;
        Ok(r)
    }

    /// Stage 2: the FinOps Lead approves. One transaction writes the approval, the
    /// ModelApprovalScope, the workload, its hierarchy node and the role-name
    /// reservation; then `BusinessRequestApproved` fans out the tasks.
    pub async fn approve_request(&self, actor: &Actor, id: &RequestId, input: ApprovalInput) -> Result<ApprovalRecord> {
        let (request, version, _) = self.decidable(actor, Action::ApproveRequest, id).await?;
        let plan = self.plan_approval(request, Some(version), input).await?;
        let correlation = self.ids.next_id();
        self.commit_approval(actor, plan, &correlation, Vec::new(), |e| match e {
            StoreError::Conflict { key } if key.pk == keys::request(id) => {
                GovernanceError::Conflict(format!("business request {id} was decided by someone else meanwhile"))
            }
            other => other.into(),
        })
        .await
    }

    /// Everything an approval decides before a role name is picked; `version` is
    /// the stored request's, or None for a request written with the approval.
    pub(crate) async fn plan_approval(&self, mut request: BusinessRequest, version: Option<u64>, input: ApprovalInput) -> Result<ApprovalPlan> {
        input.validate(&self.catalog, request.draft.business_case.is_some()).map_err(GovernanceError::Invalid)?;
        let id = request.id.clone();
        let now = self.clock.now();

        let cross_region = input.cross_region || request.draft.availability == Availability::HighAvailability;
        let geo = match (cross_region, input.platform) {
            (true, p) if p != Platform::ClaudePlatform => Some(input.cross_region_geo(&self.catalog).ok_or_else(|| {
                GovernanceError::invalid("cross_region", format!("{} has no cross-region inference profile for these regions, which HA needs", input.model))
            })?),
            _ => None,
        };
        let confirmed_estimate = match (input.confirmed_estimate, self.catalog.model(&input.model)) {
            (Some(e), _) => e,
            (None, Some(model)) => monthly_cost(&request.draft, model, &self.assumptions),
            (None, None) => return Err(GovernanceError::invalid("confirmed_estimate", "is required for a model outside the catalogue")),
        };

        let (workload, workload_version, new_node) = match &request.draft.target {
            Target::NewWorkload { name, portfolio } => {
                let wid = workload_id(name, &id);
                let node = HierarchyNode { id: NodeId::from(&wid), level: Level::Product, name: name.clone(), parent: Some(portfolio.clone()) };
                let w = Workload {
                    id: wid,
                    name: name.trim().to_owned(),
                    portfolio: portfolio.clone(),
                    owner: request.requester.clone(),
                    status: WorkloadStatus::Approved,
                    requests: vec![id.clone()],
                    role_name: None,
                    handoff: None,
                    created_at: now,
                    monthly_estimate: None,
                    business_case: request.draft.business_case.clone(),
                    map_migrated: None,
                };
                (w, None, Some(node))
            }
            Target::ExistingWorkload { workload } => {
                let (mut w, v): (Workload, u64) = get_typed(self.store.as_ref(), ItemKey::new(keys::workload(workload), keys::META))
                    .await?
                    .ok_or_else(|| GovernanceError::invalid("target.workload", format!("workload {workload} does not exist")))?;
                // A scope extension: the workload keeps its status (a Live
                // workload stays Live) and its role; the new approval's tasks
                // add only what the new scope needs.
                w.requests.push(id.clone());
                (w, Some(v), None)
            }
        };
        let scope = ModelApprovalScope {
            request: id.clone(),
            workload: workload.id.clone(),
            platform: input.platform,
            model: input.model.clone(),
            accounts: input.accounts.clone(),
            regions: input.regions.clone(),
            allowed_actions: INVOKE_ACTIONS.iter().map(|s| s.to_string()).collect(),
            agentic_access: input.agentic_access,
            cross_region_geo: geo,
            approved_at: now,
        };
        request.decide(true, &input.rationale, now).map_err(|t| GovernanceError::Conflict(t.to_string()))?;
        Ok(ApprovalPlan { request, version, workload, workload_version, new_node, scope, confirmed_estimate, input })
    }

    /// Writes a planned approval together with `extra` (the caller's own writes)
    /// in one transaction. A role name taken by another workload retries with the
    /// next one; any other refusal goes through `conflict`.
    pub(crate) async fn commit_approval(
        &self,
        actor: &Actor,
        plan: ApprovalPlan,
        correlation: &str,
        extra: Vec<WriteOp>,
        conflict: impl Fn(StoreError) -> GovernanceError,
    ) -> Result<ApprovalRecord> {
        let ApprovalPlan { request, version, mut workload, workload_version, new_node, scope, confirmed_estimate, input } = plan;
        let id = &request.id;
        // An existing workload keeps the role it was built with (or, imported,
        // the role it claims); only a new workload reserves a new name.
        let kept = match (workload_version, &workload.role_name) {
            (Some(_), Some(r)) => Some(r.clone()),
            (Some(_), None) => self.claimed_role(&scope).await.ok(),
            (None, _) => None,
        };
        for attempt in 0..8 {
            let role = kept.clone().unwrap_or_else(|| role_name(&workload.name, id, attempt));
            workload.role_name = Some(role.clone());
            let record = ApprovalRecord {
                request: id.clone(),
                workload: workload.id.clone(),
                input: input.clone(),
                scope: scope.clone(),
                role_name: role.clone(),
                confirmed_estimate,
                approved_by: actor.user.clone(),
                approved_at: scope.approved_at,
                correlation_id: correlation.to_owned(),
            };
            let mut ops = extra.clone();
            ops.extend([
                match version {
                    Some(v) => put_over(request_item(&request)?, v),
                    None => put_new(request_item(&request)?),
                },
                put_new(ItemData::new(ItemKey::new(keys::request(id), keys::APPROVAL), encode(&record)?)),
                put_new(scope_item(&scope)?),
                self.audit(entity(id), "approve", (Some("Submitted"), Some("Approved")), actor, Some(&input.rationale), correlation)?,
                self.audit(EntityRef::new("workload", workload.id.as_str()), "approve", (None, Some("Approved")), actor, Some(&input.rationale), correlation)?,
            ]);
            ops.push(match workload_version {
                None => put_new(workload_item(&workload)?),
                Some(v) => put_over(workload_item(&workload)?, v),
            });
            if kept.is_none() {
                ops.push(put_new(ItemData::new(ItemKey::new(keys::role_name(&role), keys::META), encode(&json!({"workload": workload.id, "request": id}))?)));
            }
            if let Some(node) = &new_node {
                ops.push(put_new(super::node_item(node)?));
            }
            match self.store.transact(ops).await {
                Ok(()) => {
                    self.publish(vec![self.event(events::REQUEST_APPROVED, correlation, json!({"request": id, "workload": workload.id}))]).await;
                    return Ok(record);
                }
                Err(StoreError::Conflict { key }) if kept.is_none() && key.pk == keys::role_name(&role) => continue,
                Err(e) => return Err(conflict(e)),
            }
        }
        Err(GovernanceError::Conflict("no free IAM role name after 8 attempts".into()))
    }

    pub async fn approval(&self, id: &RequestId) -> Result<Option<ApprovalRecord>> {
        Ok(get_typed(self.store.as_ref(), ItemKey::new(keys::request(id), keys::APPROVAL)).await?.map(|(a, _)| a))
    }

    pub(crate) async fn load_workload(&self, id: &WorkloadId) -> Result<(Workload, u64)> {
        get_typed(self.store.as_ref(), ItemKey::new(keys::workload(id), keys::META))
            .await?
            .ok_or_else(|| GovernanceError::NotFound { what: "workload", id: id.to_string() })
    }

    pub async fn get_workload(&self, actor: &Actor, id: &WorkloadId) -> Result<Workload> {
        let (w, _) = self.load_workload(id).await?;
        let hierarchy = self.hierarchy().await?;
        self.require_scope(actor, &hierarchy, &w.node(), &EntityRef::new("workload", id.as_str())).await?;
        Ok(w)
    }

    /// Sets or clears a workload's `map-migrated` tag value (the FinOps Lead,
    /// as onboarding state: `Action::ImportState`), with a rationale; the
    /// change and its audit record are one write, over the version read.
    pub async fn set_map_tag(&self, actor: &Actor, id: &WorkloadId, input: MapTagInput) -> Result<Workload> {
        let e = EntityRef::new("workload", id.as_str());
        self.authorize(actor, Action::ImportState, &e).await?;
        if input.rationale.trim().is_empty() {
            return Err(GovernanceError::invalid("rationale", "is required"));
        }
        let value = input.map_migrated.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
        if let Some(v) = &value {
            domain::governance::workload::check_map_tag(v).map_err(|rule| GovernanceError::invalid("map_migrated", rule))?;
        }
        let (mut w, version) = self.load_workload(id).await?;
        if w.map_migrated == value {
            return Ok(w);
        }
        let (from, to) = (w.map_migrated.clone(), value.clone());
        w.map_migrated = value;
        let correlation = self.ids.next_id();
        self.store
            .transact(vec![put_over(workload_item(&w)?, version), self.audit(e, "map_tag", (from.as_deref(), to.as_deref()), actor, Some(input.rationale.trim()), &correlation)?])
            .await?;
        Ok(w)
    }

    pub async fn list_workloads(&self, actor: &Actor) -> Result<Vec<Workload>> {
        let hierarchy = self.hierarchy().await?;
        let items = query_index_all(self.store.as_ref(), keys::WORKLOADS_INDEX).await?;
        let all: Vec<Workload> = items.iter().map(|i| decode(&i.attrs)).collect::<Result<_>>()?;
        Ok(all.into_iter().filter(|w| actor.can_see(&hierarchy, &w.node())).collect())
    }
}
