//! Stage 3: the Cloud Engineer's tasks, generated whole from an approval.
//!
//! The engineer authors nothing: every step carries its commands and console link.
//! Steps complete in order, a locked task opens when the task before it is
//! Implemented, and the workload is Ready to Claim when its last task is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::approval::{add_business_days, ModelApprovalScope, Platform, Priority};
use super::iam::{permission_policy_all, trust_policy, WORKLOAD_TAG};
use super::request::Runtime;
use crate::arn::Partition;
use crate::cur::WORKSPACE_TAG;
use crate::ids::{AccountId, ModelId, Region, RequestId, UserId, WorkloadId};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Bedrock / Marketplace: verify access, create role, apply policy, mark Implemented.
    EnableAccess,
    ClaudeCreateWorkspace,
    ClaudeValidateWorkspace,
    ClaudeLambdaRole,
    /// An application inference profile tagged for the Migration Acceleration Program.
    MapInferenceProfile,
    /// An approved scope grew (Add Scope on a gap): the role's policy follows it.
    WidenAccess,
    /// Usage outside the approved scope (Flag CE to move on a gap): move it in.
    MoveIntoScope,
    /// The kill switch on a Claude Platform workspace, whose calls IAM cannot
    /// stop: disable (or, on resume, re-enable) the workspace's API keys.
    ClaudeWorkspaceKeys,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskStatus {
    /// Waits for the task it depends on.
    Locked,
    Open,
    InProgress,
    Implemented,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDone {
    pub by: UserId,
    pub at: DateTime<Utc>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub title: String,
    pub commands: Vec<String>,
    pub console_link: Option<String>,
    pub done: Option<StepDone>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub request: RequestId,
    pub workload: WorkloadId,
    pub kind: TaskKind,
    pub account: AccountId,
    pub status: TaskStatus,
    pub due: DateTime<Utc>,
    pub depends_on: Option<String>,
    pub steps: Vec<Step>,
}

/// Why a step could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("task {task} is locked until {waits_for} is Implemented")]
    Locked { task: String, waits_for: String },
    #[error("task {task} is already Implemented")]
    AlreadyImplemented { task: String },
    #[error("task {task} has no step {step}")]
    NoSuchStep { task: String, step: usize },
    #[error("task {task}: step {step} comes next, not step {asked}")]
    OutOfOrder { task: String, step: usize, asked: usize },
}

impl Task {
    /// The 1-based number of the next step to do, if any.
    pub fn next_step(&self) -> Option<usize> {
        self.steps.iter().position(|s| s.done.is_none()).map(|i| i + 1)
    }

    /// Completes step `n` (1-based), which must be the next one.
    pub fn complete_step(&mut self, n: usize, by: &UserId, at: DateTime<Utc>) -> Result<(), StepError> {
        let task = self.id.clone();
        match self.status {
            TaskStatus::Locked => {
                return Err(StepError::Locked { task, waits_for: self.depends_on.clone().unwrap_or_default() })
            }
            TaskStatus::Implemented => return Err(StepError::AlreadyImplemented { task }),
            _ => {}
        }
        if n == 0 || n > self.steps.len() {
            return Err(StepError::NoSuchStep { task, step: n });
        }
        let next = self.next_step().unwrap_or(self.steps.len());
        if n != next {
            return Err(StepError::OutOfOrder { task, step: next, asked: n });
        }
        self.steps[n - 1].done = Some(StepDone { by: by.clone(), at });
        self.status = if self.next_step().is_none() { TaskStatus::Implemented } else { TaskStatus::InProgress };
        Ok(())
    }

    pub fn unlock(&mut self) {
        if self.status == TaskStatus::Locked {
            self.status = TaskStatus::Open;
        }
    }
}

/// IAM's role-name alphabet is `[\w+=,.@-]`; we keep a readable subset.
fn sanitise(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// Four characters from `seed` (the request id and an attempt number), base 36.
fn short_id(seed: &str) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..4).map(|i| ALPHABET[((h >> (i * 8)) % 36) as usize] as char).collect()
}

pub const MAX_ROLE_NAME: usize = 64;

/// `finops-{workloadName}-{4charId}`, within IAM's 64 characters. A new `attempt`
/// gives a new id when the name is taken.
pub fn role_name(workload_name: &str, request: &RequestId, attempt: u32) -> String {
    let budget = MAX_ROLE_NAME - "finops-".len() - "-xxxx".len();
    let mut name = sanitise(workload_name);
    if name.is_empty() {
        name = "workload".into();
    }
    name.truncate(budget);
    let name = name.trim_end_matches('-');
    format!("finops-{name}-{}", short_id(&format!("{request}#{attempt}")))
}

/// What the developers paste into their application.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeveloperHandoff {
    pub workload: WorkloadId,
    pub role_arns: Vec<String>,
    pub model_id: String,
    pub regions: Vec<String>,
    /// For a MAP workload: the application inference profile to call instead
    /// of `model_id` (MAP credit is earned only through it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_profile: Option<MapProfileHandoff>,
}

/// The MAP application inference profile a developer calls: its name, where
/// it lives, and the command that prints its ARN (Bedrock makes the id at
/// creation, so the ARN is looked up, not predicted).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapProfileHandoff {
    pub name: String,
    pub account: AccountId,
    pub region: String,
    pub arn_lookup: String,
    pub invoke_note: String,
}

/// The name of a workload's MAP application inference profile.
pub fn map_profile_name(workload: &WorkloadId) -> String {
    format!("finops-{workload}-map")
}

/// Everything task generation needs, gathered from the request and its approval.
#[derive(Debug, Clone)]
pub struct TaskPlan<'a> {
    pub scope: &'a ModelApprovalScope,
    pub workload_name: &'a str,
    /// Where the workload runs; `None` for an imported workload, whose role in
    /// a new account then copies the trust policy of its role in an account
    /// where it exists.
    pub runtime: Option<Runtime>,
    pub role_name: &'a str,
    pub workspace: Option<&'a str>,
    pub map_mpe_id: Option<&'a str>,
    pub priority: Priority,
    pub partition: Partition,
    /// The workload's earlier approval scopes, served by the same role: a
    /// scope extension keeps the role, so its policy must keep allowing them.
    pub prior_scopes: &'a [ModelApprovalScope],
}

impl TaskPlan<'_> {
    /// Whether the workload's role exists in `account` already (an earlier
    /// scope covers it).
    fn role_exists(&self, account: &AccountId) -> bool {
        self.prior_scopes.iter().any(|s| s.accounts.contains(account))
    }

    /// The role's one permission policy in `account`: every scope it serves there.
    fn role_policy(&self, account: &AccountId) -> serde_json::Value {
        let mut scopes: Vec<&ModelApprovalScope> = self.prior_scopes.iter().filter(|s| s.accounts.contains(account) && s.request != self.scope.request).collect();
        scopes.push(self.scope);
        permission_policy_all(&scopes, account, self.partition, self.map_mpe_id.is_some())
    }
}

fn json_file(path: &str, doc: &serde_json::Value) -> String {
    let body = serde_json::to_string_pretty(doc).unwrap_or_default();
    format!("cat > {path} <<'JSON'\n{body}\nJSON")
}

fn step(title: &str, commands: Vec<String>, console_link: Option<String>) -> Step {
    Step { title: title.into(), commands, console_link, done: None }
}

fn role_tags(scope: &ModelApprovalScope) -> String {
    format!("Key={WORKLOAD_TAG},Value={} Key=finops:request,Value={}", scope.workload, scope.request)
}

/// Creating the workload's role in `account`: with the runtime's trust policy,
/// or (an imported workload, runtime unknown) with a copy of the trust policy
/// its role has in the scope's first account.
fn create_role_step(plan: &TaskPlan, account: &AccountId, tags: &str) -> Step {
    let role = plan.role_name;
    let create = format!("aws iam create-role --role-name {role} --assume-role-policy-document file://trust-policy.json --tags {tags}");
    let link = Some(format!("https://console.aws.amazon.com/iam/home#/roles/details/{role}"));
    match (plan.runtime, plan.scope.accounts.iter().find(|a| *a != account)) {
        (Some(runtime), _) => step(&format!("Create IAM role {role} in account {account} (trust policy for {runtime:?})"), vec![json_file("trust-policy.json", &trust_policy(runtime, account)), create], link),
        (None, Some(from)) => step(
            &format!("Create IAM role {role} in account {account} with the trust policy of {role} in account {from}"),
            vec![format!("# in account {from}:\naws iam get-role --role-name {role} --query Role.AssumeRolePolicyDocument > trust-policy.json"), format!("# in account {account}:\n{create}")],
            link,
        ),
        (None, None) => step(
            &format!("Create IAM role {role} in account {account} with the trust policy the workload's runtime needs"),
            vec![format!("# write trust-policy.json for the workload's runtime (Lambda, ECS, EC2, EKS, AgentCore, App Runner)\n{create}")],
            link,
        ),
    }
}

fn enable_access(plan: &TaskPlan, account: &AccountId) -> Vec<Step> {
    let scope = plan.scope;
    let model = scope.model.base_model();
    let first_region = scope.regions.first().map(|r| r.as_str()).unwrap_or("us-east-1");
    let verify: Vec<String> = scope
        .regions
        .iter()
        .map(|r| format!("aws bedrock get-foundation-model --model-identifier {model} --region {r} --query 'modelDetails.modelLifecycle.status'"))
        .collect();
    let role = plan.role_name;
    let tags = role_tags(scope);
    let mut steps = vec![step(
        &format!("Verify {model} is available in account {account}, region(s) {}", scope.regions.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")),
        verify,
        Some(format!("https://{first_region}.console.aws.amazon.com/bedrock/home?region={first_region}#/modelaccess")),
    )];
    // A scope extension keeps the workload's role: created only in an account
    // it does not reach yet, and its policy replaced by one that serves every
    // scope of the workload there.
    let existing = plan.role_exists(account);
    if !existing {
        steps.push(create_role_step(plan, account, &tags));
    }
    steps.push(step(
        if existing {
            "Replace the role's permission policy with one that adds this approval to the workload's earlier ones"
        } else {
            "Apply the permission policy (approved model and regions only)"
        },
        vec![
            json_file("permission-policy.json", &plan.role_policy(account)),
            format!("aws iam put-role-policy --role-name {role} --policy-name finops-bedrock-access --policy-document file://permission-policy.json"),
        ],
        Some(format!("https://console.aws.amazon.com/iam/home#/roles/details/{role}?section=permissions")),
    ));
    steps.push(step(
        "Confirm the role and policy, then mark Implemented",
        vec![
            format!("aws iam get-role --role-name {role} --query 'Role.Arn'"),
            format!("aws iam get-role-policy --role-name {role} --policy-name finops-bedrock-access"),
        ],
        None,
    ));
    steps
}

/// The `n`th task of a request (1-based): `{request}-t{n}`.
pub fn task_id(request: &RequestId, n: usize) -> String {
    format!("{request}-t{n}")
}

/// The request and number a task id names: exactly the ids [`task_id`]
/// makes (numbers from 1, no sign or leading zero), so no two spellings name
/// one task.
pub fn parse_task_id(id: &str) -> Option<(RequestId, usize)> {
    let (request, n) = id.rsplit_once("-t")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
        return None;
    }
    Some((RequestId::parse(request).ok()?, n.parse().ok()?))
}

/// All tasks for an approval, in dependency order, with ids [`task_id`].
pub fn generate(plan: &TaskPlan, approved_at: DateTime<Utc>) -> Vec<Task> {
    let scope = plan.scope;
    let due = add_business_days(approved_at, plan.priority.sla_business_days());
    let mut specs: Vec<(TaskKind, AccountId, Vec<Step>, bool)> = Vec::new();
    match scope.platform {
        Platform::ClaudePlatform => {
            let account = scope.accounts[0].clone();
            let ws = plan.workspace.unwrap_or("workspace");
            let region = scope.regions[0].as_str();
            specs.push((
                TaskKind::ClaudeCreateWorkspace,
                account.clone(),
                vec![step(
                    &format!("Create the Claude Platform workspace {ws} and tag it {WORKSPACE_TAG}={ws}"),
                    vec![
                        format!("# In the Claude Platform console: create workspace {ws}; add tag {WORKSPACE_TAG}={ws}"),
                        format!("aws ce update-cost-allocation-tags-status --cost-allocation-tags-status TagKey={WORKSPACE_TAG},Status=Active"),
                    ],
                    Some(format!("https://{region}.console.aws.amazon.com/marketplace/home?region={region}#/subscriptions")),
                )],
                false,
            ));
            specs.push((
                TaskKind::ClaudeValidateWorkspace,
                account.clone(),
                vec![step(
                    &format!("Validate workspace {ws}: model {} enabled, CCU usage carries the {WORKSPACE_TAG} tag", scope.model),
                    vec![format!("aws ce list-cost-allocation-tags --status Active --query \"CostAllocationTags[?TagKey=='{WORKSPACE_TAG}']\"")],
                    None,
                )],
                true,
            ));
            specs.push((TaskKind::ClaudeLambdaRole, account.clone(), claude_lambda_role(plan, &account), true));
        }
        _ => {
            for account in &scope.accounts {
                specs.push((TaskKind::EnableAccess, account.clone(), enable_access(plan, account), false));
            }
            if let Some(mpe) = plan.map_mpe_id {
                let account = scope.accounts[0].clone();
                let region = scope.regions[0].as_str();
                let model = scope.model.base_model();
                let name = map_profile_name(&scope.workload);
                specs.push((
                    TaskKind::MapInferenceProfile,
                    account,
                    vec![step(
                        &format!("Create application inference profile {name} tagged map-migrated=mig{mpe}"),
                        vec![format!(
                            "aws bedrock create-inference-profile --inference-profile-name {name} --model-source copyFrom=arn:{}:bedrock:{region}::foundation-model/{model} --tags key=map-migrated,value=mig{mpe} key={WORKLOAD_TAG},value={} --region {region}",
                            plan.partition.as_str(),
                            scope.workload
                        )],
                        Some(format!("https://{region}.console.aws.amazon.com/bedrock/home?region={region}#/inference-profiles")),
                    )],
                    false,
                ));
            }
        }
    }
    let mut tasks: Vec<Task> = Vec::new();
    for (i, (kind, account, steps, chained)) in specs.into_iter().enumerate() {
        let depends_on = if chained { tasks.last().map(|t| t.id.clone()) } else { None };
        tasks.push(Task {
            id: task_id(&scope.request, i + 1),
            request: scope.request.clone(),
            workload: scope.workload.clone(),
            kind,
            account,
            status: if depends_on.is_some() { TaskStatus::Locked } else { TaskStatus::Open },
            due,
            depends_on,
            steps,
        });
    }
    tasks
}

fn claude_lambda_role(plan: &TaskPlan, account: &AccountId) -> Vec<Step> {
    let role = plan.role_name;
    vec![
        step(
            &format!("Create Lambda execution role {role} (the workload's attribution anchor)"),
            vec![
                json_file("trust-policy.json", &trust_policy(Runtime::Lambda, account)),
                format!("aws iam create-role --role-name {role} --assume-role-policy-document file://trust-policy.json --tags Key=finops:workload,Value={}", plan.scope.workload),
                format!("aws iam attach-role-policy --role-name {role} --policy-arn arn:{}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", plan.partition.as_str()),
            ],
            Some(format!("https://console.aws.amazon.com/iam/home#/roles/details/{role}")),
        ),
    ]
}

/// A change to an approved scope after its tasks were generated, which the Cloud
/// Engineer carries out like the first tasks: commands to paste, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeChange {
    /// `plan.scope` now also covers `account` and `region`; `new_account` when the
    /// workload's role does not exist there yet.
    Widened { account: AccountId, region: Region, new_account: bool },
    /// Usage of the scope's model was seen in `account`/`region`, outside the
    /// scope, by `principal` when CUR named one.
    MoveInto { account: AccountId, region: Region, principal: Option<String> },
}

/// The task for a scope change, numbered `n` among the request's tasks and due
/// within the approval's SLA from `at`.
pub fn scope_change_task(plan: &TaskPlan, change: &ScopeChange, n: usize, at: DateTime<Utc>) -> Task {
    let scope = plan.scope;
    let model = scope.model.base_model();
    let role = plan.role_name;
    let (kind, account, steps) = match change {
        ScopeChange::Widened { account, region, new_account } => {
            let mut steps = vec![step(
                &format!("Verify {model} is available in account {account}, region {region}"),
                vec![format!("aws bedrock get-foundation-model --model-identifier {model} --region {region} --query 'modelDetails.modelLifecycle.status'")],
                Some(format!("https://{region}.console.aws.amazon.com/bedrock/home?region={region}#/modelaccess")),
            )];
            if *new_account {
                steps.push(create_role_step(plan, account, &role_tags(scope)));
            }
            steps.push(step(
                "Replace the permission policy with the widened one (approved model, accounts and regions only)",
                vec![
                    json_file("permission-policy.json", &plan.role_policy(account)),
                    format!("aws iam put-role-policy --role-name {role} --policy-name finops-bedrock-access --policy-document file://permission-policy.json"),
                ],
                Some(format!("https://console.aws.amazon.com/iam/home#/roles/details/{role}?section=permissions")),
            ));
            steps.push(step(
                "Confirm the policy, then mark Implemented",
                vec![format!("aws iam get-role-policy --role-name {role} --policy-name finops-bedrock-access")],
                None,
            ));
            (TaskKind::WidenAccess, account.clone(), steps)
        }
        ScopeChange::MoveInto { account, region, principal } => {
            let who = principal.as_deref().unwrap_or("any principal");
            let lookup = format!(
                "aws cloudtrail lookup-events --region {region} --lookup-attributes AttributeKey=EventSource,AttributeValue=bedrock.amazonaws.com --query \"Events[?contains(CloudTrailEvent, '{model}')].[EventTime,Username,EventName]\" --output table"
            );
            let places = format!(
                "{} in {}",
                scope.regions.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
                scope.accounts.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
            );
            let steps = vec![
                step(
                    &format!("Find what calls {model} in account {account}, region {region} ({who})"),
                    vec![format!("# with credentials for account {account}"), lookup.clone()],
                    Some(format!("https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events?EventSource=bedrock.amazonaws.com")),
                ),
                step(
                    &format!("Point the caller at the approved scope: {places}, assuming role {role}"),
                    vec![format!("# set the Bedrock runtime client's region to one of {places} and have it assume arn:{}:iam::<approved account>:role/{role}", plan.partition.as_str())],
                    None,
                ),
                step(&format!("Confirm no further calls in {account}/{region}, then mark Implemented"), vec![lookup], None),
            ];
            (TaskKind::MoveIntoScope, account.clone(), steps)
        }
    };
    Task {
        id: task_id(&scope.request, n),
        request: scope.request.clone(),
        workload: scope.workload.clone(),
        kind,
        account,
        status: TaskStatus::Open,
        due: add_business_days(at, plan.priority.sla_business_days()),
        depends_on: None,
        steps,
    }
}

/// The Cloud Engineer's task that suspends (or resumes) a Claude Platform
/// workspace by its API keys: IAM cannot stop calls made with a workspace key,
/// so the kill switch records the suspension as pending until this is done.
/// Due at once: spend continues until it is.
pub fn workspace_keys_task(scope: &ModelApprovalScope, account: AccountId, workspace: &str, suspend: bool, n: usize, at: DateTime<Utc>) -> Task {
    const ADMIN: &str = "https://api.anthropic.com/v1/organizations/api_keys";
    const HEADERS: &str = "-H \"x-api-key: $ANTHROPIC_ADMIN_KEY\" -H \"anthropic-version: 2023-06-01\"";
    let (verb, from, to) = if suspend { ("Disable", "active", "inactive") } else { ("Re-enable", "inactive", "active") };
    let list = format!("curl -s \"{ADMIN}?workspace_id={workspace}&status={from}&limit=1000\" {HEADERS} | jq -r '.data[].id'");
    let steps = vec![
        step(
            &format!("{verb} every API key of Claude Platform workspace {workspace} ({} workload {})", if suspend { "suspends" } else { "resumes" }, scope.workload),
            vec![
                "# with an Admin API key of the Claude Platform organisation".into(),
                format!("for KEY in $({list}); do curl -s -X POST \"{ADMIN}/$KEY\" {HEADERS} -H \"content-type: application/json\" -d '{{\"status\":\"{to}\"}}'; done"),
            ],
            Some("https://console.anthropic.com/settings/keys".into()),
        ),
        step(
            &format!("Confirm workspace {workspace} has no {from} key left, then mark Implemented"),
            vec![format!("test -z \"$({list})\" && echo 'no {from} keys'")],
            None,
        ),
    ];
    Task {
        id: task_id(&scope.request, n),
        request: scope.request.clone(),
        workload: scope.workload.clone(),
        kind: TaskKind::ClaudeWorkspaceKeys,
        account,
        status: TaskStatus::Open,
        due: at,
        depends_on: None,
        steps,
    }
}

/// The handoff for a workload whose tasks are all Implemented.
pub fn handoff(tasks: &[Task], scope: &ModelApprovalScope, role_name: &str, partition: Partition) -> Option<DeveloperHandoff> {
    if tasks.is_empty() || tasks.iter().any(|t| t.status != TaskStatus::Implemented) {
        return None;
    }
    let model_id: ModelId = match &scope.cross_region_geo {
        Some(geo) => ModelId::parse(&format!("{geo}.{}", scope.model.base_model())).unwrap_or_else(|_| scope.model.clone()),
        None => scope.model.clone(),
    };
    let map_profile = tasks.iter().find(|t| t.kind == TaskKind::MapInferenceProfile).and_then(|t| {
        let region = scope.regions.first()?.to_string();
        let name = map_profile_name(&scope.workload);
        Some(MapProfileHandoff {
            arn_lookup: format!(
                "aws bedrock list-inference-profiles --type-equals APPLICATION --region {region} --query \"inferenceProfileSummaries[?inferenceProfileName=='{name}'].inferenceProfileArn\" --output text"
            ),
            invoke_note: "pass this profile's ARN as modelId: the role allows it, and MAP credit is earned only through it".into(),
            name,
            account: t.account.clone(),
            region,
        })
    });
    Some(DeveloperHandoff {
        workload: scope.workload.clone(),
        role_arns: scope.accounts.iter().map(|a| format!("arn:{}:iam::{a}:role/{role_name}", partition.as_str())).collect(),
        model_id: model_id.to_string(),
        regions: scope.regions.iter().map(|r| r.to_string()).collect(),
        map_profile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arn::IamRoleArn;
    use crate::governance::approval::INVOKE_ACTIONS;
    use crate::ids::Region;

    fn scope(platform: Platform, accounts: &[&str]) -> ModelApprovalScope {
        ModelApprovalScope {
            request: RequestId::parse("br-7").unwrap(),
            workload: WorkloadId::parse("support-chatbot").unwrap(),
            platform,
            model: ModelId::parse("anthropic.claude-3-haiku-20240307-v1:0").unwrap(),
            accounts: accounts.iter().map(|a| AccountId::parse(a).unwrap()).collect(),
            regions: vec![Region::parse("us-east-1").unwrap()],
            allowed_actions: INVOKE_ACTIONS.iter().map(|s| s.to_string()).collect(),
            agentic_access: false,
            cross_region_geo: None,
            approved_at: Utc::now(),
        }
    }

    fn plan<'a>(scope: &'a ModelApprovalScope, role: &'a str, mpe: Option<&'a str>) -> TaskPlan<'a> {
        TaskPlan {
            scope,
            workload_name: "Support Chatbot",
            runtime: Some(Runtime::Lambda),
            prior_scopes: &[],
            role_name: role,
            workspace: Some("support"),
            map_mpe_id: mpe,
            priority: Priority::Priority,
            partition: Partition::Aws,
        }
    }

    #[test]
    fn role_names_are_valid_bounded_and_distinct() {
        let r = RequestId::parse("br-7").unwrap();
        let n = role_name("Support Chatbot (EU)!", &r, 0);
        assert!(n.starts_with("finops-support-chatbot-eu-"), "{n}");
        assert_eq!(n.len(), "finops-support-chatbot-eu-".len() + 4);
        let long = role_name(&"x".repeat(200), &r, 0);
        assert!(long.len() <= MAX_ROLE_NAME);
        assert_ne!(role_name("a", &r, 0), role_name("a", &r, 1), "a retry gets a new id");
        assert_ne!(role_name("a", &r, 0), role_name("a", &RequestId::parse("br-8").unwrap(), 0));
        assert_eq!(role_name("!!!", &r, 0).len(), "finops-workload-".len() + 4);
        for name in [n, long, role_name("Ünïcødé wörkløad", &r, 3)] {
            IamRoleArn::parse(&format!("arn:aws:iam::111122223333:role/{name}")).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn bedrock_gets_one_four_step_task_per_account() {
        let s = scope(Platform::Bedrock, &["111122223333"]);
        let approved = DateTime::parse_from_rfc3339("2026-03-06T15:00:00Z").unwrap().with_timezone(&Utc);
        let tasks = generate(&plan(&s, "finops-support-chatbot-ab12", None), approved);
        assert_eq!(tasks.len(), 1);
        let t = &tasks[0];
        assert_eq!((t.kind, t.status, t.steps.len()), (TaskKind::EnableAccess, TaskStatus::Open, 4));
        assert_eq!(t.due.to_rfc3339(), "2026-03-10T15:00:00+00:00", "Priority: 2 business days");
        assert!(t.steps[0].console_link.as_deref().unwrap().contains("modelaccess"));
        assert!(t.steps[1].commands.iter().any(|c| c.contains("aws iam create-role --role-name finops-support-chatbot-ab12")));
        assert!(t.steps[1].commands[0].contains("lambda.amazonaws.com"));
        assert!(t.steps[2].commands[0].contains("foundation-model/anthropic.claude-3-haiku"));
        let two = generate(&plan(&scope(Platform::Bedrock, &["111122223333", "444455556666"]), "r", None), approved);
        assert_eq!(two.len(), 2);
        assert_ne!(two[0].id, two[1].id);
    }

    #[test]
    fn map_adds_a_tagged_inference_profile_task() {
        let s = scope(Platform::Bedrock, &["111122223333"]);
        let tasks = generate(&plan(&s, "r", Some("12345")), Utc::now());
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[1].kind, TaskKind::MapInferenceProfile);
        assert!(tasks[1].steps[0].commands[0].contains("key=map-migrated,value=mig12345"));
        // The profile is tagged with the tag the role's policy allows it by.
        assert!(tasks[1].steps[0].commands[0].contains(&format!("key={},value=support-chatbot", super::super::iam::WORKLOAD_TAG)));
        let policy = tasks[0].steps.iter().flat_map(|s| &s.commands).find(|c| c.contains("permission-policy.json <<")).unwrap();
        assert!(policy.contains("InvokeWorkloadMapProfile") && policy.contains("application-inference-profile/*"), "{policy}");
    }

    /// Issue 12 item 10: an extension of a workload keeps its role. Where the
    /// role exists, the task replaces its policy with one serving the old and
    /// the new scope; only a new account gets the role created.
    #[test]
    fn a_scope_extension_keeps_the_role_and_adds_only_what_is_new() {
        let first = scope(Platform::Bedrock, &["111122223333"]);
        let mut more = scope(Platform::Bedrock, &["111122223333", "444455556666"]);
        more.request = RequestId::parse("br-8").unwrap();
        more.model = ModelId::parse("amazon.nova-lite-v1:0").unwrap();
        let prior = [first];
        let mut p = plan(&more, "finops-support-chatbot-ab12", None);
        p.prior_scopes = &prior;
        let tasks = generate(&p, Utc::now());
        assert_eq!(tasks.len(), 2);
        let titles = |t: &Task| t.steps.iter().map(|s| s.title.clone()).collect::<Vec<_>>();
        assert!(!titles(&tasks[0]).iter().any(|t| t.starts_with("Create IAM role")), "{:?}", titles(&tasks[0]));
        assert!(titles(&tasks[1]).iter().any(|t| t.starts_with("Create IAM role finops-support-chatbot-ab12 in account 444455556666")));
        let policy = tasks[0].steps.iter().flat_map(|s| &s.commands).find(|c| c.contains("permission-policy.json <<")).unwrap();
        assert!(policy.contains("anthropic.claude-3-haiku") && policy.contains("amazon.nova-lite"), "both scopes: {policy}");
        assert!(tasks.iter().all(|t| t.steps.iter().flat_map(|s| &s.commands).any(|c| c.contains("--role-name finops-support-chatbot-ab12"))));
    }

    /// Issue 12 item 9: the MAP workload's handoff names the profile to call
    /// (and how to get its ARN), not only the base model.
    #[test]
    fn a_map_workload_is_handed_its_profile() {
        let s = scope(Platform::Bedrock, &["111122223333"]);
        let mut tasks = generate(&plan(&s, "r", Some("12345")), Utc::now());
        let ce = UserId::parse("ce").unwrap();
        for t in tasks.iter_mut() {
            for n in 1..=t.steps.len() {
                t.complete_step(n, &ce, Utc::now()).unwrap();
            }
        }
        let h = handoff(&tasks, &s, "r", Partition::Aws).unwrap();
        let p = h.map_profile.expect("the MAP profile is handed off");
        assert_eq!((p.name.as_str(), p.region.as_str(), p.account.as_str()), ("finops-support-chatbot-map", "us-east-1", "111122223333"));
        assert!(p.arn_lookup.contains("inferenceProfileName=='finops-support-chatbot-map'"), "{}", p.arn_lookup);
        let plain = generate(&plan(&s, "r", None), Utc::now());
        assert!(plain.iter().all(|t| t.kind != TaskKind::MapInferenceProfile));
    }

    #[test]
    fn claude_platform_is_a_three_task_chain() {
        let s = scope(Platform::ClaudePlatform, &["111122223333"]);
        let mut tasks = generate(&plan(&s, "finops-support-chatbot-ab12", None), Utc::now());
        let kinds: Vec<TaskKind> = tasks.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [TaskKind::ClaudeCreateWorkspace, TaskKind::ClaudeValidateWorkspace, TaskKind::ClaudeLambdaRole]);
        // The task tags the workspace with the tag the CUR readers read.
        assert!(tasks[0].steps[0].commands.iter().any(|c| c.contains(&format!("{}=", crate::cur::WORKSPACE_TAG))));
        assert!(tasks[1].steps[0].commands[0].contains(&format!("TagKey=='{}'", crate::cur::WORKSPACE_TAG)));
        assert_eq!(tasks[1].status, TaskStatus::Locked);
        assert_eq!(tasks[1].depends_on.as_deref(), Some(tasks[0].id.as_str()));
        let ce = UserId::parse("ce").unwrap();
        assert!(matches!(tasks[1].complete_step(1, &ce, Utc::now()), Err(StepError::Locked { .. })));
        tasks[0].complete_step(1, &ce, Utc::now()).unwrap();
        assert_eq!(tasks[0].status, TaskStatus::Implemented);
        tasks[1].unlock();
        tasks[1].complete_step(1, &ce, Utc::now()).unwrap();
    }

    #[test]
    fn steps_complete_in_order_and_the_last_one_implements() {
        let s = scope(Platform::Bedrock, &["111122223333"]);
        let mut t = generate(&plan(&s, "finops-support-chatbot-ab12", None), Utc::now()).remove(0);
        let ce = UserId::parse("ce").unwrap();
        assert_eq!(t.complete_step(2, &ce, Utc::now()), Err(StepError::OutOfOrder { task: t.id.clone(), step: 1, asked: 2 }));
        assert!(matches!(t.complete_step(9, &ce, Utc::now()), Err(StepError::NoSuchStep { .. })));
        for n in 1..=3 {
            t.complete_step(n, &ce, Utc::now()).unwrap();
            assert_eq!(t.status, TaskStatus::InProgress);
            assert!(handoff(std::slice::from_ref(&t), &s, "finops-support-chatbot-ab12", Partition::Aws).is_none());
        }
        t.complete_step(4, &ce, Utc::now()).unwrap();
        assert_eq!(t.status, TaskStatus::Implemented);
        assert!(matches!(t.complete_step(4, &ce, Utc::now()), Err(StepError::AlreadyImplemented { .. })));
        let h = handoff(std::slice::from_ref(&t), &s, "finops-support-chatbot-ab12", Partition::Aws).unwrap();
        assert_eq!(h.role_arns, ["arn:aws:iam::111122223333:role/finops-support-chatbot-ab12"]);
        assert_eq!(h.model_id, "anthropic.claude-3-haiku-20240307-v1:0");
    }

    #[test]
    fn a_widened_scope_gets_a_policy_task_and_a_role_only_in_a_new_account() {
        let mut s = scope(Platform::Bedrock, &["111122223333"]);
        s.regions.push(Region::parse("us-west-2").unwrap());
        let at = DateTime::parse_from_rfc3339("2026-03-06T15:00:00Z").unwrap().with_timezone(&Utc);
        let west = Region::parse("us-west-2").unwrap();
        let same = ScopeChange::Widened { account: AccountId::parse("111122223333").unwrap(), region: west.clone(), new_account: false };
        let t = scope_change_task(&plan(&s, "finops-support-chatbot-ab12", None), &same, 2, at);
        assert_eq!((t.id.as_str(), t.kind, t.status, t.steps.len()), ("br-7-t2", TaskKind::WidenAccess, TaskStatus::Open, 3));
        assert_eq!(t.due.to_rfc3339(), "2026-03-10T15:00:00+00:00", "the approval's SLA");
        assert!(t.steps[0].commands[0].contains("--region us-west-2"));
        let policy = &t.steps[1].commands[0];
        assert!(policy.contains("bedrock:us-west-2::foundation-model") && policy.contains("bedrock:us-east-1::foundation-model"), "{policy}");
        assert!(t.steps.iter().all(|st| st.commands.iter().all(|c| !c.contains("create-role"))), "the role already exists there");

        s.accounts.push(AccountId::parse("444455556666").unwrap());
        let new = ScopeChange::Widened { account: AccountId::parse("444455556666").unwrap(), region: west, new_account: true };
        let t = scope_change_task(&plan(&s, "finops-support-chatbot-ab12", None), &new, 3, at);
        assert_eq!((t.account.as_str(), t.steps.len()), ("444455556666", 4));
        assert!(t.steps[1].commands[1].starts_with("aws iam create-role --role-name finops-support-chatbot-ab12"));
        assert!(t.steps[1].commands[0].contains("lambda.amazonaws.com"));
    }

    #[test]
    fn usage_outside_the_scope_gets_a_find_move_confirm_task() {
        let s = scope(Platform::Bedrock, &["111122223333"]);
        let change = ScopeChange::MoveInto {
            account: AccountId::parse("999988887777").unwrap(),
            region: Region::parse("eu-west-1").unwrap(),
            principal: Some("arn:aws:iam::999988887777:role/batch".into()),
        };
        let mut t = scope_change_task(&plan(&s, "finops-support-chatbot-ab12", None), &change, 2, Utc::now());
        assert_eq!((t.kind, t.account.as_str(), t.steps.len()), (TaskKind::MoveIntoScope, "999988887777", 3));
        assert!(t.steps[0].title.contains("role/batch") && t.steps[0].title.contains("eu-west-1"));
        assert!(t.steps[0].commands[1].starts_with("aws cloudtrail lookup-events --region eu-west-1"));
        assert!(t.steps[0].commands[1].contains("anthropic.claude-3-haiku-20240307-v1:0"));
        assert!(t.steps[1].title.contains("us-east-1 in 111122223333"), "{}", t.steps[1].title);
        let ce = UserId::parse("ce").unwrap();
        for n in 1..=3 {
            t.complete_step(n, &ce, Utc::now()).unwrap();
        }
        assert_eq!(t.status, TaskStatus::Implemented);
    }

    #[test]
    fn task_ids_round_trip() {
        let r = RequestId::parse("br-tt-7").unwrap();
        assert_eq!(parse_task_id(&task_id(&r, 12)), Some((r, 12)));
        assert_eq!(parse_task_id("br-7-tx"), None);
        assert_eq!(parse_task_id("nothing"), None);
    }
}
