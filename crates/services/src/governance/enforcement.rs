//! The kill switch as a service: suspend and resume a workload, the state per
//! workload, and the reconciler that makes IAM hold what the store says.
//!
//! Invariants:
//! - state is the truth: the desired state and its audit record are written
//!   first, in one transaction; the IAM calls follow. A call that fails leaves
//!   the desired state in place, and a retry (or the nightly reconciler)
//!   completes it, because the calls are planned from what IAM holds;
//! - suspending a suspended workload, or resuming a resumed one, changes
//!   nothing and writes no second audit record;
//! - `dry_run` plans and returns the exact calls and changes nothing.

use domain::governance::authz::Action;
use domain::governance::claims::ClaimKind;

use domain::governance::approval::Platform;
use domain::governance::enforcement::{kill_switch_deny, plan, plan_scp, suspended_scp, Enforcement, EnforcementState, IamCall, OrgCall, RoleRef, ScpTarget, SUSPENDED_SCP_NAME};
use domain::governance::tasks::{parse_task_id, workspace_keys_task, Task, TaskStatus};
use domain::{Actor, EntityRef, Persona, Principal, WorkloadId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{decode, encode, events, get_typed, keys, put_new, put_over, query_index_all, Governance, GovernanceError, Result};
use crate::ports::store::{IndexKey, ItemData, ItemKey, SkRange};
use crate::ports::{Enforcer, EnforcerError};

const ENFORCEMENT: &str = "ENFORCEMENT";

/// Where the SCP targets installed so far are kept.
fn scp_targets_key() -> ItemKey {
    ItemKey::new("ORG", "SCP_TARGETS")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ScpTargets {
    targets: std::collections::BTreeSet<ScpTarget>,
}
const SUSPENDED_SCP_DESCRIPTION: &str = "FinOps Center kill switch: denies model invocation to principals tagged finops:suspended";
const ENFORCEMENT_INDEX: &str = "ENFORCEMENT";

/// A suspension or resumption as asked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspendInput {
    pub rationale: String,
    /// Deny a role shared with other workloads as a whole (FinOps Lead only;
    /// audited as such).
    #[serde(default)]
    pub whole_role: bool,
    /// Plan and return the exact IAM calls; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a suspend or resume did (or, dry, would do).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnforcementOutcome {
    pub enforcement: Enforcement,
    /// The IAM calls made (or planned, with `dry_run`), in order.
    pub calls: Vec<IamCall>,
    pub dry_run: bool,
}

fn entity(id: &WorkloadId) -> EntityRef {
    EntityRef::new("workload", id.as_str())
}

/// The deny a role (or session) must carry in `state`: none unless
/// suspended. A session's deny names the role's unique id, read now.
async fn desired(enforcer: &dyn Enforcer, state: EnforcementState, role: &RoleRef) -> Result<Option<serde_json::Value>> {
    if !state.denies() {
        return Ok(None);
    }
    let id = match role.session {
        Some(_) => enforcer.role_id(role).await.map_err(unavailable)?,
        None => String::new(),
    };
    Ok(Some(kill_switch_deny(role, &id)))
}

pub(crate) fn unavailable(e: EnforcerError) -> GovernanceError {
    match e {
        EnforcerError::Unavailable(m) => GovernanceError::Unavailable(m),
        EnforcerError::Denied(m) => GovernanceError::Internal(format!("the enforcer may not act: {m}")),
        EnforcerError::NoSuchRole(r) => GovernanceError::Conflict(format!("IAM role {r} does not exist; release its claim or recreate it")),
    }
}

impl Governance {
    pub(crate) fn enforcer(&self) -> Result<&dyn Enforcer> {
        self.enforcer.as_deref().ok_or_else(|| GovernanceError::Unavailable("no enforcer is configured for the kill switch".into()))
    }

    pub async fn suspend_workload(&self, actor: &Actor, id: &WorkloadId, input: SuspendInput) -> Result<EnforcementOutcome> {
        self.enforce(actor, id, input, EnforcementState::Suspended).await
    }

    pub async fn resume_workload(&self, actor: &Actor, id: &WorkloadId, input: SuspendInput) -> Result<EnforcementOutcome> {
        self.enforce(actor, id, input, EnforcementState::Resumed).await
    }

    async fn enforce(&self, actor: &Actor, id: &WorkloadId, input: SuspendInput, to: EnforcementState) -> Result<EnforcementOutcome> {
        let e = entity(id);
        self.authorize(actor, Action::SuspendWorkload, &e).await?;
        let (workload, _) = self.load_workload(id).await?;
        let h = self.hierarchy().await?;
        self.require_scope(actor, &h, &workload.node(), &e).await?;
        if actor.persona == Persona::ProductOwner && workload.owner != actor.user {
            return Err(self.audit_refusal(actor, &e, "SuspendWorkload", &format!("only {}'s owner ({}) or the FinOps Lead may suspend or resume it", workload.id, workload.owner)).await);
        }
        if input.whole_role && actor.persona != Persona::FinOpsLead {
            return Err(self.audit_refusal(actor, &e, "SuspendWorkload", "only the FinOps Lead may force a whole-role deny").await);
        }
        if input.rationale.trim().is_empty() {
            return Err(GovernanceError::invalid("rationale", "is required: say why the workload is suspended or resumed"));
        }
        let (mut roles, workspaces) = self.workload_anchors(id).await?;
        if input.whole_role {
            // Forced: each claimed session widens to its whole role.
            roles = roles.into_iter().map(|r| RoleRef { session: None, ..r }).collect();
            roles.dedup();
        }
        if roles.is_empty() && workspaces.is_empty() {
            return Err(GovernanceError::Conflict(format!("{id} has no claimed IAM role, role session or Claude Platform workspace to stop: claim what it runs as first")));
        }
        // A whole role that other principals share (a broad role) cannot be
        // denied for this workload alone: refused, unless the FinOps Lead
        // forces it. A claimed session of it can be, and is.
        let broad = self.attributor().await?.broad_roles;
        if let Some(shared) = roles.iter().find(|r| r.session.is_none() && broad.iter().any(|p| p.matches(&r.name))) {
            if !input.whole_role && to == EnforcementState::Suspended {
                return Err(GovernanceError::Conflict(format!(
                    "{} is a role other workloads share: a deny cannot be scoped to {id} alone (claim the workload's own sessions of it instead); the FinOps Lead may force a whole-role deny (whole_role)",
                    shared.arn()
                )));
            }
        }
        let key = ItemKey::new(keys::workload(id), ENFORCEMENT);
        let existing: Option<(Enforcement, u64)> = get_typed(self.store.as_ref(), key.clone()).await?;
        let enforcer = self.enforcer()?;
        let mut calls = Vec::new();
        for role in &roles {
            let now = enforcer.observe(role).await.map_err(unavailable)?;
            calls.extend(plan(role, &now, desired(enforcer, to, role).await?.as_ref()));
        }
        // What the last state denied and this one no longer names (a session
        // widened to its role, a claim released) is lifted, or it would stay
        // denied with no record pointing at it.
        for stale in existing.iter().flat_map(|(r, _)| r.roles.iter()).filter(|r| !roles.contains(r)) {
            let now = enforcer.observe(stale).await.map_err(unavailable)?;
            calls.extend(plan(stale, &now, None));
        }
        let mut record = Enforcement {
            workload: id.clone(),
            state: to,
            roles: roles.clone(),
            whole_role: input.whole_role,
            manual_tasks: Vec::new(),
            pending_manual: false,
            by: actor.user.clone(),
            persona: actor.persona,
            at: self.clock.now(),
            rationale: input.rationale.clone(),
        };
        let unchanged = existing.as_ref().is_some_and(|(r, _)| r.state == to && r.roles == roles);
        // What IAM cannot stop, a Cloud Engineer does: one task per workspace.
        let manual = if unchanged { Vec::new() } else { self.workspace_tasks(id, &workspaces, to == EnforcementState::Suspended).await? };
        record.manual_tasks = manual.iter().map(|t| t.id.clone()).collect();
        record.pending_manual = !manual.is_empty();
        if input.dry_run {
            return Ok(EnforcementOutcome { enforcement: record, calls, dry_run: true });
        }
        let record = match (&existing, unchanged) {
            (Some((r, _)), true) => r.clone(),
            _ => {
                let correlation = self.ids.next_id();
                let item = ItemData::new(key, encode(&record)?).with_index(IndexKey::new(ENFORCEMENT_INDEX, id.as_str()));
                let from = existing.as_ref().map_or(EnforcementState::Active, |(r, _)| r.state);
                let action = if to == EnforcementState::Suspended { "suspend" } else { "resume" };
                let action = if input.whole_role { format!("{action}:whole_role") } else { action.to_owned() };
                let mut ops = vec![
                    match &existing {
                        None => put_new(item),
                        Some((_, v)) => put_over(item, *v),
                    },
                    self.audit(e.clone(), &action, (Some(from.as_str()), Some(to.as_str())), actor, Some(&input.rationale), &correlation)?,
                ];
                for t in &manual {
                    ops.push(put_new(super::tasks::task_item(t)?));
                }
                self.store
                    .transact(ops)
                    .await
                    .map_err(|err| match err {
                        crate::ports::StoreError::Conflict { .. } => GovernanceError::Conflict(format!("{id}'s enforcement changed meanwhile; look again")),
                        other => other.into(),
                    })?;
                let kind = if to == EnforcementState::Suspended { events::WORKLOAD_SUSPENDED } else { events::WORKLOAD_RESUMED };
                let mut published = vec![self.event(kind, &correlation, json!({"workload": id, "roles": roles, "state": to, "manual_tasks": record.manual_tasks}))];
                if !manual.is_empty() {
                    published.push(self.event(events::TASKS_GENERATED, &correlation, json!({"workload": id, "tasks": record.manual_tasks})));
                }
                self.publish(published).await;
                record
            }
        };
        // The desired state is stored: now make IAM hold it.
        for c in &calls {
            enforcer.call(c).await.map_err(unavailable)?;
        }
        Ok(EnforcementOutcome { enforcement: record, calls, dry_run: false })
    }

    /// A critical spend card or investigation raises the workload's alert
    /// (Active or Resumed → Alerting), audited as the system component `by`
    /// with the finding's figures. A workload already alerting, under
    /// investigation or suspended is left as it is, so rebuilding the card or
    /// re-detecting raises nothing twice.
    pub(crate) async fn raise_alert(&self, id: &WorkloadId, reason: &str, correlation: &str, by: &str) -> Result<bool> {
        let key = ItemKey::new(keys::workload(id), ENFORCEMENT);
        let existing: Option<(Enforcement, u64)> = get_typed(self.store.as_ref(), key.clone()).await?;
        let from = existing.as_ref().map_or(EnforcementState::Active, |(r, _)| r.state);
        if !matches!(from, EnforcementState::Active | EnforcementState::Resumed) {
            return Ok(false);
        }
        let system = Self::system_actor(by);
        let roles = self.workload_roles(id).await?;
        let record = Enforcement {
            workload: id.clone(),
            state: EnforcementState::Alerting,
            roles,
            whole_role: false,
            manual_tasks: Vec::new(),
            pending_manual: false,
            by: system.user.clone(),
            persona: system.persona,
            at: self.clock.now(),
            rationale: reason.to_owned(),
        };
        let item = ItemData::new(key, encode(&record)?).with_index(IndexKey::new(ENFORCEMENT_INDEX, id.as_str()));
        let write = match &existing {
            None => put_new(item),
            Some((_, v)) => put_over(item, *v),
        };
        match self.store.transact(vec![write, self.audit(entity(id), "alert", (Some(from.as_str()), Some("Alerting")), &system, Some(reason), correlation)?]).await {
            Ok(()) => Ok(true),
            // Someone acted on the workload meanwhile: their state stands.
            Err(crate::ports::StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The FinOps Lead takes an alert: Alerting → Investigating, with a rationale.
    pub async fn investigate_workload(&self, actor: &Actor, id: &WorkloadId, rationale: &str) -> Result<Enforcement> {
        let e = entity(id);
        self.authorize(actor, Action::ActionGap, &e).await?;
        if rationale.trim().is_empty() {
            return Err(GovernanceError::invalid("rationale", "is required: say who investigates and why"));
        }
        let key = ItemKey::new(keys::workload(id), ENFORCEMENT);
        let (mut record, v): (Enforcement, u64) = get_typed(self.store.as_ref(), key.clone())
            .await?
            .ok_or_else(|| GovernanceError::Conflict(format!("{id} has no alert to investigate")))?;
        if record.state != EnforcementState::Alerting {
            return Err(GovernanceError::Conflict(format!("{id} is {}; only an alerting workload can be taken for investigation", record.state.as_str())));
        }
        record.state = EnforcementState::Investigating;
        (record.by, record.persona, record.at, record.rationale) = (actor.user.clone(), actor.persona, self.clock.now(), rationale.to_owned());
        let correlation = self.ids.next_id();
        let item = ItemData::new(key, encode(&record)?).with_index(IndexKey::new(ENFORCEMENT_INDEX, id.as_str()));
        self.store
            .transact(vec![put_over(item, v), self.audit(e, "investigate", (Some("Alerting"), Some("Investigating")), actor, Some(rationale), &correlation)?])
            .await
            .map_err(|err| match err {
                crate::ports::StoreError::Conflict { .. } => GovernanceError::Conflict(format!("{id}'s enforcement changed meanwhile; look again")),
                other => other.into(),
            })?;
        Ok(record)
    }

    /// What the workload runs as in IAM today: its claimed roles and its
    /// claimed sessions of roles (a session ref is denied alone).
    pub(crate) async fn workload_roles(&self, id: &WorkloadId) -> Result<Vec<RoleRef>> {
        Ok(self.workload_anchors(id).await?.0)
    }

    /// The workload's claimed roles and sessions, and its claimed Claude
    /// Platform workspaces, today: one read of the claims for both.
    async fn workload_anchors(&self, id: &WorkloadId) -> Result<(Vec<RoleRef>, Vec<String>)> {
        let today = self.clock.now().date_naive();
        let (mut roles, mut workspaces) = (Vec::new(), Vec::new());
        for c in self.all_claims().await? {
            if &c.workload != id || c.released_at.is_some_and(|r| r <= today) {
                continue;
            }
            match c.target.kind {
                ClaimKind::IamRole | ClaimKind::RoleSession => {
                    if let Ok(Principal::Role { partition, account, name, session, .. }) = Principal::parse(&c.target.arn) {
                        roles.push(RoleRef { account, name, partition, session });
                    }
                }
                ClaimKind::Workspace => workspaces.push(c.target.arn),
                _ => {}
            }
        }
        roles.sort();
        roles.dedup();
        workspaces.sort();
        workspaces.dedup();
        Ok((roles, workspaces))
    }

    /// One Cloud Engineer task per workspace, filed under the workload's
    /// Claude Platform scope (numbered after that request's tasks).
    async fn workspace_tasks(&self, id: &WorkloadId, workspaces: &[String], suspend: bool) -> Result<Vec<Task>> {
        if workspaces.is_empty() {
            return Ok(Vec::new());
        }
        let scope = self
            .approval_scopes()
            .await?
            .into_iter()
            .filter(|s| &s.workload == id && s.platform == Platform::ClaudePlatform)
            .max_by_key(|s| s.approved_at)
            .ok_or_else(|| GovernanceError::Conflict(format!("{id} claims a Claude Platform workspace but has no approved Claude Platform scope to file the key task under")))?;
        let account = scope.accounts.first().cloned().ok_or_else(|| GovernanceError::Internal(format!("scope {} has no account", scope.request)))?;
        let mut last = 0;
        for item in self.store.query_all(&keys::request(&scope.request), &SkRange::Prefix("TASK#".into())).await? {
            let t: Task = decode(&item.attrs)?;
            last = last.max(parse_task_id(&t.id).map_or(0, |(_, n)| n));
        }
        let now = self.clock.now();
        Ok(workspaces.iter().enumerate().map(|(i, ws)| workspace_keys_task(&scope, account.clone(), ws, suspend, last + 1 + i, now)).collect())
    }

    /// Every workload's enforcement record (the FinOps Lead's and Finance's
    /// view; a Product Owner sees the workloads in their scope).
    pub async fn enforcement_status(&self, actor: &Actor) -> Result<Vec<Enforcement>> {
        if actor.persona != Persona::System {
            self.authorize(actor, Action::Read, &EntityRef::new("enforcement", "all")).await?;
        }
        let h = self.hierarchy().await?;
        let mut out = Vec::new();
        for item in query_index_all(self.store.as_ref(), ENFORCEMENT_INDEX).await? {
            let mut r: Enforcement = decode(&item.attrs)?;
            if r.pending_manual {
                r.pending_manual = self.any_task_open(&r.manual_tasks).await?;
            }
            if matches!(actor.persona, Persona::FinOpsLead | Persona::System) || actor.can_see(&h, &domain::NodeId::from(&r.workload)) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Installs the organisation's one SCP (denying model invocation to any
    /// principal tagged `finops:suspended`, so a suspended role cannot untag
    /// itself out of its suspension) and attaches it to `targets`; looked up
    /// by name first, so installing twice changes nothing. The FinOps Lead's
    /// (or the system's) step; `dry_run` returns the calls and makes none.
    pub async fn install_scp(&self, actor: &Actor, targets: &[ScpTarget], dry_run: bool) -> Result<Vec<OrgCall>> {
        let e = EntityRef::new("scp", SUSPENDED_SCP_NAME);
        if !matches!(actor.persona, Persona::FinOpsLead | Persona::System) {
            return Err(self.audit_refusal(actor, &e, "InstallScp", "only the FinOps Lead installs the kill switch's SCP").await);
        }
        if targets.is_empty() {
            return Err(GovernanceError::invalid("targets", "name at least one root (r-…), OU (ou-…) or account to attach the SCP to"));
        }
        let enforcer = self.enforcer()?;
        let now = enforcer.observe_scp(SUSPENDED_SCP_NAME).await.map_err(unavailable)?;
        let calls = plan_scp(SUSPENDED_SCP_NAME, SUSPENDED_SCP_DESCRIPTION, now.as_ref(), Some(&suspended_scp(self.partition)), targets);
        if dry_run || calls.is_empty() {
            return Ok(calls);
        }
        for c in &calls {
            enforcer.org_call(c).await.map_err(unavailable)?;
        }
        let correlation = self.ids.next_id();
        let to = targets.iter().map(ScpTarget::as_str).collect::<Vec<_>>().join(",");
        let rationale = calls.iter().map(OrgCall::cli).collect::<Vec<_>>().join("\n");
        // The targets are state: the nightly run keeps the SCP (and the model
        // blocks' SCP) on every target ever installed, with no parameter.
        let (mut stored, version) = self.stored_scp_targets().await?;
        let before = stored.len();
        stored.extend(targets.iter().cloned());
        let mut ops = vec![self.audit(e, "install_scp", (None, Some(&to)), actor, Some(&rationale), &correlation)?];
        if stored.len() != before {
            let item = ItemData::new(scp_targets_key(), encode(&ScpTargets { targets: stored })?);
            ops.push(match version {
                None => put_new(item),
                Some(v) => put_over(item, v),
            });
        }
        self.store.transact(ops).await.map_err(|err| match err {
            crate::ports::StoreError::Conflict { .. } => GovernanceError::Conflict("the SCP's targets changed meanwhile; install again".into()),
            other => other.into(),
        })?;
        Ok(calls)
    }

    /// The SCP targets installed so far (state), with their item's version.
    async fn stored_scp_targets(&self) -> Result<(std::collections::BTreeSet<ScpTarget>, Option<u64>)> {
        Ok(match get_typed::<ScpTargets>(self.store.as_ref(), scp_targets_key()).await? {
            Some((t, v)) => (t.targets, Some(v)),
            None => (Default::default(), None),
        })
    }

    /// Where the SCPs are kept: every target installed (state) and any the
    /// process is configured with.
    pub(crate) async fn scp_targets_in_force(&self) -> Result<Vec<ScpTarget>> {
        let (mut all, _) = self.stored_scp_targets().await?;
        all.extend(self.scp_targets.iter().cloned());
        Ok(all.into_iter().collect())
    }

    /// The nightly step for the SCP: keep it installed on every target in
    /// force (a detached or edited SCP comes back). Nothing when the
    /// organisation has none.
    pub async fn reconcile_scp(&self) -> Result<Vec<OrgCall>> {
        let targets = self.scp_targets_in_force().await?;
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        self.install_scp(&Self::system_actor("kill-switch"), &targets, false).await
    }

    /// Whether any of these tasks is not Implemented yet (state is the truth:
    /// a suspension stops pending when its tasks are done, with no second write).
    async fn any_task_open(&self, ids: &[String]) -> Result<bool> {
        for id in ids {
            let Some(request) = keys::request_of_task(id) else { continue };
            let key = ItemKey::new(keys::request(&request), keys::task_sk(id));
            if let Some((t, _)) = get_typed::<Task>(self.store.as_ref(), key).await? {
                if t.status != TaskStatus::Implemented {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Makes IAM hold every workload's desired state again (a deny removed by
    /// hand comes back) and returns the calls it had to make. Model blocks
    /// (`apply_model_blocks`) and the SCP (`reconcile_scp`) are repaired
    /// beside it.
    pub async fn reconcile_enforcement(&self) -> Result<Vec<IamCall>> {
        self.reconcile_workloads(false).await
    }

    /// The calls [`reconcile_enforcement`](Self::reconcile_enforcement) would
    /// make; changes nothing.
    pub async fn enforcement_drift(&self) -> Result<Vec<IamCall>> {
        self.reconcile_workloads(true).await
    }

    async fn reconcile_workloads(&self, dry_run: bool) -> Result<Vec<IamCall>> {
        let enforcer = self.enforcer()?;
        let mut repaired = Vec::new();
        for r in self.enforcement_status(&Self::system_actor("kill-switch")).await? {
            for role in &r.roles {
                let now = enforcer.observe(role).await.map_err(unavailable)?;
                for c in plan(role, &now, desired(enforcer, r.state, role).await?.as_ref()) {
                    if !dry_run {
                        enforcer.call(&c).await.map_err(unavailable)?;
                        tracing::warn!(workload = %r.workload, call = %c.cli(), "kill switch drift repaired");
                    }
                    repaired.push(c);
                }
            }
        }
        Ok(repaired)
    }
}
