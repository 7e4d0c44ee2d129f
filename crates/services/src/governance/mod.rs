//! The governed path as a service: Business Requests, approval, Cloud Engineer
//! tasks, claims and the Product Owner's inbox, over the `Store` and `EventBus`
//! ports.
//!
//! Invariants kept here:
//! - every state change and its audit record are one store transaction;
//! - every write is conditional, so concurrent callers cannot both win (two FinOps
//!   Leads approving one request: one approval, one task set);
//! - events are published after the state they announce is stored, and every
//!   consumer is idempotent with a reconciler (`reconcile_task_sets`);
//! - a forbidden action is refused with a reason and audited.
//!
//! Store layout (single table, see `keys`): requests, approvals, task sets and
//! tasks live in the request's partition; workloads, claims, role-name
//! reservations, hierarchy nodes and inboxes have their own.

pub mod agent;
mod blocks;
mod cards;
mod claims;
mod delivery;
mod enforcement;
mod exports;
mod gaps;
pub mod keys;
pub mod ledger;
mod maturity;
mod onboarding;
mod profiles;
mod reports;
mod requests;
mod tasks;
pub mod usage;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::governance::authz::{authorize, Action, Forbidden};
use domain::governance::catalog::PriceCatalog;
use domain::governance::estimate::Assumptions;
use domain::governance::FieldError;
use domain::{Actor, AuditRecord, EntityRef, Hierarchy, HierarchyNode, NodeId, Partition, Persona, UserId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::append_op;
use crate::ports::bus::{DomainEvent, EventBus};
use crate::ports::store::{Attributes, Condition, IndexKey, Item, ItemData, ItemKey, PageRequest, SkRange, Store, StoreError, WriteOp};
use crate::ports::{Clock, FactLedger, IdGenerator};

pub use blocks::{BlockCalls, LiftInput, ModelBlockHandler, KILL_SWITCH};
pub use cards::{CardsBuilt, DisputeInput, ResolveInput, RollupInput};
pub use claims::{ClaimInput, ReleaseInput};
pub use gaps::{DetectionSummary, GapActionInput, GapActionOutcome, GapDetectorHandler, GapsReport, BlockLift, ModelBlock, GAP_DETECTOR};
pub use maturity::MaturityReport;
pub use profiles::WorkloadProfile;
pub use ledger::{SourceFacts, SourceManifest, SourceStored, Stored};
pub use delivery::{DeliveryRecord, DeliverySummary};
pub use enforcement::{EnforcementOutcome, SuspendInput};
pub use crate::ports::ledger::LedgerError;
pub use exports::focus_export_key;
pub use onboarding::ImportSummary;
pub use requests::{ApprovalRecord, Decision, MapTagInput};
pub use tasks::{TaskGeneratorHandler, TASK_GENERATOR};

/// Detail-types this service publishes.
pub mod events {
    pub const REQUEST_SUBMITTED: &str = "BusinessRequestSubmitted";
    pub const REQUEST_APPROVED: &str = "BusinessRequestApproved";
    pub const REQUEST_REJECTED: &str = "BusinessRequestRejected";
    pub const TASKS_GENERATED: &str = "TasksGenerated";
    pub const TASK_STEP_COMPLETED: &str = "TaskStepCompleted";
    pub const WORKLOAD_READY_TO_CLAIM: &str = "WorkloadReadyToClaim";
    pub const CLAIM_RECORDED: &str = "ClaimRecorded";
    pub const CLAIM_RELEASED: &str = "ClaimReleased";
    pub const CUR_PERIOD_INGESTED: &str = "CurPeriodIngested";
    pub const GAPS_DETECTED: &str = "AllocationGapsDetected";
    pub const GAP_ACTIONED: &str = "AllocationGapActioned";
    pub const GAP_OWNER_NOTIFIED: &str = "GapOwnerNotified";
    pub const BUSINESS_CASE_REQUESTED: &str = "BusinessCaseRequested";
    pub const MODEL_BLOCKED: &str = "ModelBlocked";
    pub const MODEL_UNBLOCKED: &str = "ModelUnblocked";
    pub const WORKLOAD_SUSPENDED: &str = "WorkloadSuspended";
    pub const WORKLOAD_RESUMED: &str = "WorkloadResumed";
    pub const SPEND_CARDS_BUILT: &str = "SpendCardsBuilt";
    pub const SPEND_CARD_DISPUTED: &str = "SpendCardDisputed";
    pub const ROLLUP_APPROVED: &str = "SpendRollupApproved";
}

/// The one error type of the governance service, mapped once to HTTP statuses by
/// the API (`status()`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GovernanceError {
    /// A field broke a rule; nothing was stored. → 400
    #[error("invalid {0}")]
    Invalid(FieldError),
    /// The caller's persona or scope does not allow this; audited. → 403
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// → 404
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The entity's state does not allow this, or a concurrent writer won. → 409
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store or bus could not be reached; retry. → 503
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Stored data or configuration is wrong. → 500
    #[error("internal error: {0}")]
    Internal(String),
}

impl GovernanceError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) => 400,
            Self::Forbidden(_) => 403,
            Self::NotFound { .. } => 404,
            Self::Conflict(_) => 409,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The machine-readable code of the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid(f) => Some(&f.field),
            _ => None,
        }
    }

    fn invalid(field: &str, rule: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, rule))
    }
}

impl From<StoreError> for GovernanceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { key } => Self::Conflict(format!("{key} was changed by someone else; reload and retry")),
            e if e.is_retryable() => Self::Unavailable(e.to_string()),
            e => Self::Internal(e.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, GovernanceError>;

/// What the service needs, built once per process (CLI, server or Lambda).
#[derive(Clone)]
pub struct Governance {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) ledger: Arc<dyn FactLedger>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGenerator>,
    pub(crate) catalog: Arc<PriceCatalog>,
    pub(crate) assumptions: Assumptions,
    pub(crate) partition: Partition,
    pub(crate) card_thresholds: domain::analytics::cards::Thresholds,
    pub(crate) enforcer: Option<Arc<dyn crate::ports::Enforcer>>,
    /// Where the kill switch's SCP is attached (none: the organisation has
    /// not allowed it, and the inline denies stand alone).
    pub(crate) scp_targets: Vec<domain::governance::enforcement::ScpTarget>,
    /// Agent Bill's spend cubes, kept while their inputs are unchanged.
    pub(crate) cubes: Arc<agent::CubeCache>,
    /// Facts being announced, lent to this process's own consumers.
    pub(crate) loan: Arc<ledger::Loan>,
}

/// One message in a user's inbox (a Product Owner's "Ready to Claim", …).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub subject: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub body: Value,
}

impl Governance {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn EventBus>, ledger: Arc<dyn FactLedger>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>, catalog: Arc<PriceCatalog>) -> Self {
        Self { store, bus, ledger, clock, ids, catalog, assumptions: Assumptions::default(), partition: Partition::Aws, card_thresholds: Default::default(), enforcer: None, scp_targets: Vec::new(), cubes: Default::default(), loan: Default::default() }
    }

    pub fn with_assumptions(mut self, a: Assumptions) -> Self {
        self.assumptions = a;
        self
    }

    /// The kill switch's enforcer (IAM in AWS, the local record locally);
    /// without one, suspend and resume are refused as unavailable.
    pub fn with_enforcer(mut self, e: Arc<dyn crate::ports::Enforcer>) -> Self {
        self.enforcer = Some(e);
        self
    }

    /// The roots, OUs or accounts the kill switch's SCP is kept attached to
    /// (by the nightly reconciler; `install_scp` does it at once).
    pub fn with_scp_targets(mut self, targets: Vec<domain::governance::enforcement::ScpTarget>) -> Self {
        self.scp_targets = targets;
        self
    }

    /// Spend-card variance thresholds (defaults: warn over +10 %, critical over +25 %).
    pub fn with_card_thresholds(mut self, t: domain::analytics::cards::Thresholds) -> Self {
        self.card_thresholds = t;
        self
    }

    pub fn catalog(&self) -> &PriceCatalog {
        &self.catalog
    }

    pub fn assumptions(&self) -> &Assumptions {
        &self.assumptions
    }

    pub fn system_actor(name: &str) -> Actor {
        Actor::new(UserId::parse(name).unwrap_or_else(|_| UserId::parse("system").expect("valid")), Persona::System, vec![])
    }

    /// Checks the persona may take `action`; a refusal is audited against `entity`.
    pub(crate) async fn authorize(&self, actor: &Actor, action: Action, entity: &EntityRef) -> Result<()> {
        match authorize(actor, action) {
            Ok(()) => Ok(()),
            Err(f) => Err(self.refuse(actor, entity, f).await),
        }
    }

    /// The persona check of a route that may carry any of `actions`, before its
    /// body is read: a caller whose persona holds none of them gets the audited
    /// 403 at once, not a 400 about a body they were never allowed to send.
    /// Scope and state are still checked by the operation itself.
    pub async fn authorize_any(&self, actor: &Actor, actions: &[Action], entity: &EntityRef) -> Result<()> {
        let mut first = None;
        for a in actions {
            match authorize(actor, *a) {
                Ok(()) => return Ok(()),
                Err(f) => {
                    first.get_or_insert(f);
                }
            }
        }
        match first {
            Some(f) => Err(self.refuse(actor, entity, f).await),
            None => Ok(()),
        }
    }

    /// Audits a refusal and returns the error to give the caller.
    pub(crate) async fn refuse(&self, actor: &Actor, entity: &EntityRef, f: Forbidden) -> GovernanceError {
        let reason = f.reason.clone();
        self.audit_refusal(actor, entity, &format!("{:?}", f.action), &reason).await
    }

    pub(crate) async fn audit_refusal(&self, actor: &Actor, entity: &EntityRef, action: &str, reason: &str) -> GovernanceError {
        let record = AuditRecord {
            entity: entity.clone(),
            action: format!("forbidden:{action}"),
            from_state: None,
            to_state: None,
            actor: actor.clone(),
            at: self.clock.now(),
            rationale: Some(reason.to_owned()),
            correlation_id: self.ids.next_id(),
        };
        match append_op(&record, &self.ids.next_id()) {
            Ok(op) => {
                if let Err(e) = self.store.transact(vec![op]).await {
                    // The refusal stands even if its audit could not be written;
                    // the failure is logged, not swallowed.
                    tracing::error!(error = %e, "could not audit a refusal");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not encode a refusal audit record"),
        }
        GovernanceError::Forbidden(reason.to_owned())
    }

    /// The audit append for a change; `states` is (from, to) where the entity has states.
    pub(crate) fn audit(&self, entity: EntityRef, action: &str, states: (Option<&str>, Option<&str>), actor: &Actor, rationale: Option<&str>, correlation: &str) -> Result<WriteOp> {
        let (from, to) = states;
        let record = AuditRecord {
            entity,
            action: action.into(),
            from_state: from.map(String::from),
            to_state: to.map(String::from),
            actor: actor.clone(),
            at: self.clock.now(),
            rationale: rationale.map(String::from),
            correlation_id: correlation.to_owned(),
        };
        append_op(&record, &self.ids.next_id()).map_err(|e| GovernanceError::Internal(e.to_string()))
    }

    pub(crate) fn event(&self, detail_type: &str, correlation: &str, detail: Value) -> DomainEvent {
        DomainEvent { id: self.ids.next_id(), detail_type: detail_type.into(), time: self.clock.now(), correlation_id: correlation.into(), detail }
    }

    /// Publishes after a committed write. A failure does not undo the write (state
    /// is the truth); the consumer's reconciler repairs it, so it is logged.
    pub(crate) async fn publish(&self, events: Vec<DomainEvent>) {
        if let Err(e) = self.bus.publish(&events).await {
            tracing::error!(error = %e, "events not published; reconcilers will repair");
        }
    }

    /// The audit trail of one entity, oldest first, for whoever may see the
    /// entity itself: a workload, request, task or card by the same scope
    /// check as reading it (an out-of-scope caller is refused and audited), a
    /// hierarchy node within the caller's scope, and every other record
    /// (gaps, claims, CUR sources and deliveries, reports) only by those who
    /// see the organisation's spend: the FinOps Lead and Finance.
    pub async fn audit_trail(&self, actor: &Actor, kind: &str, id: &str) -> Result<Vec<AuditRecord>> {
        let e = EntityRef::new(kind, id);
        self.authorize(actor, Action::Read, &e).await?;
        let bad = |err: domain::ParseError| GovernanceError::invalid("id", err.to_string());
        match kind {
            "workload" => drop(self.get_workload(actor, &domain::WorkloadId::parse(id).map_err(bad)?).await?),
            "business_request" | "request" => drop(self.get_request(actor, &domain::RequestId::parse(id).map_err(bad)?).await?),
            "task" => drop(self.get_task(actor, id).await?),
            "spend_card" => drop(self.get_card(actor, id).await?),
            "node" => {
                let node = NodeId::parse(id).map_err(bad)?;
                self.require_scope(actor, &self.hierarchy().await?, &node, &e).await?;
            }
            _ if actor.persona == Persona::System => {}
            _ => self.authorize(actor, Action::ViewAttribution, &e).await?,
        }
        let items = self.store.query_all(&crate::audit::audit_partition(kind, id), &SkRange::All).await?;
        items.iter().map(|i| crate::audit::from_attrs(&i.attrs).map_err(|e| GovernanceError::Internal(e.to_string()))).collect()
    }

    // ---- hierarchy ----------------------------------------------------------

    /// Adds hierarchy nodes (FinOps Lead). The result must be a valid hierarchy;
    /// existing nodes are never changed.
    pub async fn define_hierarchy(&self, actor: &Actor, nodes: Vec<HierarchyNode>) -> Result<()> {
        self.authorize(actor, Action::ManageHierarchy, &EntityRef::new("hierarchy", "nodes")).await?;
        let current = self.hierarchy().await?;
        let mut all: Vec<HierarchyNode> = current.nodes().cloned().collect();
        all.extend(nodes.iter().cloned());
        Hierarchy::build(all).map_err(|e| GovernanceError::invalid("hierarchy", e.to_string()))?;
        let correlation = self.ids.next_id();
        for chunk in nodes.chunks(12) {
            let mut ops = Vec::new();
            for n in chunk {
                ops.push(put_new(node_item(n)?));
                ops.push(self.audit(EntityRef::new("node", n.id.as_str()), "define", (None, Some(&n.level.to_string())), actor, None, &correlation)?);
            }
            self.store.transact(ops).await?;
        }
        Ok(())
    }

    pub async fn hierarchy(&self) -> Result<Hierarchy> {
        let items = query_index_all(self.store.as_ref(), keys::NODES_INDEX).await?;
        let nodes: Vec<HierarchyNode> = items.iter().map(|i| decode(&i.attrs)).collect::<Result<_>>()?;
        Hierarchy::build(nodes).map_err(|e| GovernanceError::Internal(format!("stored hierarchy is invalid: {e}")))
    }

    /// Row-level security: refuses (and audits) access to a node outside the
    /// caller's scope. System actors see everything.
    pub(crate) async fn require_scope(&self, actor: &Actor, hierarchy: &Hierarchy, node: &NodeId, entity: &EntityRef) -> Result<()> {
        if actor.persona == Persona::System || actor.can_see(hierarchy, node) {
            return Ok(());
        }
        Err(self.audit_refusal(actor, entity, "out_of_scope", &format!("{node} is outside {}'s scope", actor.user)).await)
    }

    pub async fn inbox(&self, actor: &Actor) -> Result<Vec<InboxItem>> {
        let items = self.store.query_all(&keys::inbox(&actor.user), &SkRange::All).await?;
        items.iter().map(|i| decode(&i.attrs)).collect()
    }
}

fn node_item(n: &HierarchyNode) -> Result<ItemData> {
    Ok(ItemData::new(ItemKey::new(keys::node(&n.id), keys::META), encode(n)?).with_index(IndexKey::new(keys::NODES_INDEX, n.id.as_str())))
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Attributes> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(GovernanceError::Internal("entity did not serialise to an object".into())),
        Err(e) => Err(GovernanceError::Internal(e.to_string())),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(attrs: &Attributes) -> Result<T> {
    serde_json::from_value(Value::Object(attrs.clone())).map_err(|e| GovernanceError::Internal(format!("stored item unreadable: {e}")))
}

pub(crate) fn put_new(item: ItemData) -> WriteOp {
    WriteOp::Put { item, condition: Condition::MustNotExist }
}

pub(crate) fn put_over(item: ItemData, version: u64) -> WriteOp {
    WriteOp::Put { item, condition: Condition::VersionEquals(version) }
}

pub(crate) async fn get_typed<T: DeserializeOwned>(store: &dyn Store, key: ItemKey) -> Result<Option<(T, u64)>> {
    match store.get(&key).await? {
        Some(item) => Ok(Some((decode(&item.attrs)?, item.version))),
        None => Ok(None),
    }
}

pub(crate) async fn query_index_all(store: &dyn Store, index_pk: &str) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    let mut req = PageRequest::first(1000);
    loop {
        let page = store.query_index(index_pk, &SkRange::All, req.clone()).await?;
        out.extend(page.items);
        match page.next {
            Some(c) => req.cursor = Some(c),
            None => return Ok(out),
        }
    }
}
