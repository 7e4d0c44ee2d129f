//! Stage 3: Cloud Engineer tasks. Generation consumes `BusinessRequestApproved`
//! and is idempotent (a must-not-exist task-set marker in the same transaction as
//! the tasks); `reconcile_task_sets` repairs a lost event from state.

use std::sync::Arc;

use async_trait::async_trait;
use domain::governance::authz::Action;
use domain::governance::request::{BusinessRequest, RequestStatus};
use domain::governance::approval::ModelApprovalScope;
use domain::governance::tasks::{generate, handoff, parse_task_id, scope_change_task, ScopeChange, StepError, Task, TaskPlan, TaskStatus};
use domain::governance::workload::WorkloadStatus;
use domain::{Actor, EntityRef, RequestId};
use serde_json::json;

use super::requests::{workload_item, ApprovalRecord};
use super::{decode, encode, events, get_typed, keys, put_new, put_over, query_index_all, Governance, GovernanceError, Result};
use crate::ports::bus::{DomainEvent, EventHandler, HandlerError};
use crate::ports::store::{IndexKey, ItemData, ItemKey, SkRange, StoreError, WriteOp};

/// The task generator's logical id in `template.yaml` (its routing-table name).
pub const TASK_GENERATOR: &str = "TaskGeneratorFunction";

pub(crate) fn task_item(t: &Task) -> Result<ItemData> {
    let open = t.status != TaskStatus::Implemented;
    Ok(ItemData::new(ItemKey::new(keys::request(&t.request), keys::task_sk(&t.id)), encode(t)?)
        .with_index(IndexKey::new(keys::tasks_index(open), format!("{}#{}", t.due.format("%Y-%m-%dT%H:%M:%SZ"), t.id))))
}

fn entity(id: &str) -> EntityRef {
    EntityRef::new("task", id)
}

impl Governance {
    /// Generates an approved request's tasks, once. Returns how many were created
    /// by this call (0 when they already existed: a duplicate delivery).
    pub async fn generate_tasks(&self, request: &RequestId) -> Result<usize> {
        let set_key = ItemKey::new(keys::request(request), keys::TASKSET);
        if self.store.get(&set_key).await?.is_some() {
            return Ok(0);
        }
        let (approval, req) = self.approved(request).await?;
        let (mut workload, wv) = self.load_workload(&approval.workload).await?;
        let prior = self.prior_scopes(&approval.scope).await?;
        let tasks = generate(&self.task_plan(&approval, &req, &workload.name, &prior), approval.approved_at);
        let system = Self::system_actor("task-generator");
        let from = workload.status.as_str();
        // A new workload starts implementing; an extension of one that is
        // already being built or running stays where it is.
        if workload.status == WorkloadStatus::Approved {
            workload.status = WorkloadStatus::Implementing;
        }
        let to = workload.status.as_str();
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        let mut ops = vec![
            put_new(ItemData::new(set_key, encode(&json!({"tasks": ids, "generated_at": self.clock.now()}))?)),
            put_over(workload_item(&workload)?, wv),
            self.audit(EntityRef::new("business_request", request.as_str()), "generate_tasks", (None, None), &system, Some(&format!("{} task(s) from the approval", tasks.len())), &approval.correlation_id)?,
            self.audit(EntityRef::new("workload", workload.id.as_str()), "generate_tasks", (Some(from), Some(to)), &system, None, &approval.correlation_id)?,
        ];
        for t in &tasks {
            ops.push(put_new(task_item(t)?));
        }
        match self.store.transact(ops).await {
            Ok(()) => {}
            // A concurrent delivery generated them first: same outcome, nothing to do.
            Err(StoreError::Conflict { key }) if key.sk == keys::TASKSET => return Ok(0),
            Err(e) => return Err(e.into()),
        }
        self.publish(vec![self.event(events::TASKS_GENERATED, &approval.correlation_id, json!({"request": request, "tasks": ids}))]).await;
        Ok(tasks.len())
    }

    /// Generates tasks for every approved request that has none: the repair path
    /// for a lost `BusinessRequestApproved`. Returns the requests it repaired.
    pub async fn reconcile_task_sets(&self) -> Result<Vec<RequestId>> {
        let mut repaired = Vec::new();
        for item in query_index_all(self.store.as_ref(), &keys::requests_index(RequestStatus::Approved.as_str())).await? {
            let r: BusinessRequest = decode(&item.attrs)?;
            if self.generate_tasks(&r.id).await? > 0 {
                repaired.push(r.id);
            }
        }
        Ok(repaired)
    }

    /// An approved request with its approval: what every task is generated from.
    async fn approved(&self, request: &RequestId) -> Result<(ApprovalRecord, BusinessRequest)> {
        let approval = self
            .approval(request)
            .await?
            .ok_or_else(|| GovernanceError::Conflict(format!("business request {request} has no approval")))?;
        let (req, _): (BusinessRequest, u64) = get_typed(self.store.as_ref(), ItemKey::new(keys::request(request), keys::META))
            .await?
            .ok_or_else(|| GovernanceError::NotFound { what: "business request", id: request.to_string() })?;
        Ok((approval, req))
    }

    /// The workload's other approval scopes: what its role serves besides `scope`.
    async fn prior_scopes(&self, scope: &ModelApprovalScope) -> Result<Vec<ModelApprovalScope>> {
        Ok(self.approval_scopes().await?.into_iter().filter(|s| s.workload == scope.workload && s.request != scope.request).collect())
    }

    fn task_plan<'a>(&self, approval: &'a ApprovalRecord, req: &BusinessRequest, workload_name: &'a str, prior_scopes: &'a [ModelApprovalScope]) -> TaskPlan<'a> {
        TaskPlan {
            scope: &approval.scope,
            workload_name,
            runtime: Some(req.draft.runtime),
            role_name: &approval.role_name,
            workspace: approval.input.workspace.as_deref(),
            map_mpe_id: approval.input.map_mpe_id.as_deref(),
            priority: approval.input.priority,
            partition: self.partition,
            prior_scopes,
        }
    }

    /// The Cloud Engineer's task for a change to `scope` after its approval,
    /// numbered after the request's existing tasks. The write (and the event to
    /// publish after it) are returned for the caller's transaction; two changes
    /// racing for one number conflict there.
    pub(crate) async fn scope_change(&self, scope: &ModelApprovalScope, change: &ScopeChange, correlation: &str) -> Result<(Task, WriteOp, DomainEvent)> {
        let (workload, _) = self.load_workload(&scope.workload).await?;
        let prior = self.prior_scopes(scope).await?;
        let approved = match self.approval(&scope.request).await? {
            Some(_) => Some(self.approved(&scope.request).await?),
            None => None,
        };
        // An imported scope has no approval or request behind it: its role is
        // the workload's claimed IAM role, its runtime unknown, no task set.
        let imported_role;
        let (mut plan, first_set) = match &approved {
            Some((approval, req)) => {
                let plan = self.task_plan(approval, req, &workload.name, &prior);
                // Numbered after the approval's own tasks even if they are not
                // generated yet (their ids are fixed by the approval).
                let n = generate(&plan, approval.approved_at).len();
                (plan, n)
            }
            None => {
                imported_role = self.claimed_role(scope).await?;
                let plan = TaskPlan {
                    scope,
                    workload_name: &workload.name,
                    runtime: None,
                    role_name: &imported_role,
                    workspace: None,
                    map_mpe_id: None,
                    priority: domain::governance::approval::Priority::Normal,
                    partition: self.partition,
                    prior_scopes: &prior,
                };
                (plan, 0)
            }
        };
        let mut last = first_set;
        for item in self.store.query_all(&keys::request(&scope.request), &SkRange::Prefix("TASK#".into())).await? {
            let t: Task = decode(&item.attrs)?;
            last = last.max(parse_task_id(&t.id).map_or(0, |(_, n)| n));
        }
        plan.scope = scope;
        let task = scope_change_task(&plan, change, last + 1, self.clock.now());
        let op = put_new(task_item(&task)?);
        let ev = self.event(events::TASKS_GENERATED, correlation, json!({"request": scope.request, "tasks": [task.id]}));
        Ok((task, op, ev))
    }

    /// The IAM role an imported scope's workload runs as: its claimed role in
    /// one of the scope's accounts (imports carry claims, not role names).
    pub(crate) async fn claimed_role(&self, scope: &ModelApprovalScope) -> Result<String> {
        // Whole roles only: a permission policy attaches to a role, and a claimed
        // session of a shared role is not this workload's to change.
        let roles: Vec<String> =
            self.workload_roles(&scope.workload).await?.into_iter().filter(|r| r.session.is_none() && scope.accounts.contains(&r.account)).map(|r| r.name).collect();
        roles.into_iter().next().ok_or_else(|| {
            GovernanceError::Conflict(format!("workload {} has no claimed IAM role in {}: claim its role, then change its scope", scope.workload, scope.accounts.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")))
        })
    }

    async fn load_task(&self, id: &str) -> Result<(Task, u64)> {
        let not_found = || GovernanceError::NotFound { what: "task", id: id.to_owned() };
        let request = keys::request_of_task(id).ok_or_else(not_found)?;
        get_typed(self.store.as_ref(), ItemKey::new(keys::request(&request), keys::task_sk(id))).await?.ok_or_else(not_found)
    }

    pub async fn get_task(&self, actor: &Actor, id: &str) -> Result<Task> {
        let (t, _) = self.load_task(id).await?;
        let h = self.hierarchy().await?;
        self.require_scope(actor, &h, &domain::NodeId::from(&t.workload), &entity(id)).await?;
        Ok(t)
    }

    /// Tasks in the caller's scope, by SLA due date: open ones, or all.
    pub async fn list_tasks(&self, actor: &Actor, open_only: bool) -> Result<Vec<Task>> {
        let h = self.hierarchy().await?;
        let mut items = query_index_all(self.store.as_ref(), keys::tasks_index(true)).await?;
        if !open_only {
            items.extend(query_index_all(self.store.as_ref(), keys::tasks_index(false)).await?);
        }
        let tasks: Vec<Task> = items.iter().map(|i| decode(&i.attrs)).collect::<Result<_>>()?;
        Ok(tasks.into_iter().filter(|t| actor.can_see(&h, &domain::NodeId::from(&t.workload))).collect())
    }

    /// A Cloud Engineer completes the next step of a task. The last step makes it
    /// Implemented, unlocks the task waiting on it, and when every task of the
    /// request is Implemented the workload becomes Ready to Claim: the Developer
    /// Handoff is generated and the owner notified, in the same transaction.
    pub async fn complete_step(&self, actor: &Actor, task_id: &str, step: usize) -> Result<Task> {
        let e = entity(task_id);
        self.authorize(actor, Action::WorkTask, &e).await?;
        let (mut task, version) = self.load_task(task_id).await?;
        let h = self.hierarchy().await?;
        self.require_scope(actor, &h, &domain::NodeId::from(&task.workload), &e).await?;
        let from = format!("{:?}", task.status);
        task.complete_step(step, &actor.user, self.clock.now()).map_err(|err| match err {
            StepError::NoSuchStep { .. } => GovernanceError::invalid("step", err.to_string()),
            _ => GovernanceError::Conflict(err.to_string()),
        })?;
        let correlation = self.ids.next_id();
        let mut ops = vec![
            put_over(task_item(&task)?, version),
            self.audit(e, &format!("complete_step:{step}"), (Some(&from), Some(&format!("{:?}", task.status))), actor, None, &correlation)?,
        ];
        let mut events = vec![self.event(events::TASK_STEP_COMPLETED, &correlation, json!({"task": task.id, "step": step, "status": format!("{:?}", task.status)}))];
        if task.status == TaskStatus::Implemented {
            let siblings = self.store.query_all(&keys::request(&task.request), &SkRange::Prefix("TASK#".into())).await?;
            let mut all: Vec<Task> = Vec::new();
            for item in &siblings {
                let mut t: Task = decode(&item.attrs)?;
                if t.id == task.id {
                    all.push(task.clone());
                    continue;
                }
                if t.depends_on.as_deref() == Some(task.id.as_str()) && t.status == TaskStatus::Locked {
                    t.unlock();
                    ops.push(put_over(task_item(&t)?, item.version));
                    ops.push(self.audit(entity(&t.id), "unlock", (Some("Locked"), Some("Open")), actor, None, &correlation)?);
                }
                all.push(t);
            }
            // Only the first task set makes a workload Ready to Claim; a later scope
            // change's task leaves a claimed or live workload where it is.
            let workload = match all.iter().all(|t| t.status == TaskStatus::Implemented) {
                true => Some(self.load_workload(&task.workload).await?).filter(|(w, _)| w.status == WorkloadStatus::Implementing),
                false => None,
            };
            if let Some((mut workload, wv)) = workload {
                let approval = self.approval(&task.request).await?.ok_or_else(|| GovernanceError::Internal("task without approval".into()))?;
                let from = workload.status.as_str();
                workload.status = WorkloadStatus::ReadyToClaim;
                workload.handoff = handoff(&all, &approval.scope, &approval.role_name, self.partition);
                let subject = format!("{} is Ready to Claim", workload.name);
                let body = json!({"workload": workload.id, "handoff": workload.handoff});
                ops.push(put_over(workload_item(&workload)?, wv));
                ops.push(self.inbox_op(&workload.owner, "ready_to_claim", subject, body)?);
                ops.push(self.audit(EntityRef::new("workload", workload.id.as_str()), "ready_to_claim", (Some(from), Some("ReadyToClaim")), actor, None, &correlation)?);
                events.push(self.event(events::WORKLOAD_READY_TO_CLAIM, &correlation, json!({"workload": workload.id, "owner": workload.owner, "handoff": workload.handoff})));
            }
        }
        self.store.transact(ops).await?;
        self.publish(events).await;
        Ok(task)
    }
}

/// The task generator as an event consumer (`BusinessRequestApproved`).
pub struct TaskGeneratorHandler(pub Arc<Governance>);

#[async_trait]
impl EventHandler for TaskGeneratorHandler {
    async fn handle(&self, event: &DomainEvent) -> std::result::Result<(), HandlerError> {
        let fail = |message: String| HandlerError { consumer: TASK_GENERATOR.into(), event_id: event.id.clone(), message };
        let request = event
            .detail
            .get("request")
            .and_then(|r| r.as_str())
            .and_then(|r| RequestId::parse(r).ok())
            .ok_or_else(|| fail("detail.request is missing or not a request id".into()))?;
        self.0.generate_tasks(&request).await.map(|_| ()).map_err(|e| fail(e.to_string()))
    }
}
