//! The kill switch's rules (PRODUCT.md "Kill switch and investigations"):
//! what a suspended workload's roles must carry in IAM, and the calls that
//! take a role from what IAM holds to that.
//!
//! Enforcement is declarative: the store holds the desired state per
//! workload; [`plan`] compares it with what IAM holds for each role
//! ([`RoleState`]) and gives the calls that close the difference. So a call
//! made twice plans nothing the second time, a retry after a partial failure
//! plans only what is left, and the nightly reconciler repairs drift (a deny
//! removed by hand) with the same function.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actor::Persona;
use crate::arn::Partition;
use crate::ids::{AccountId, UserId, WorkloadId};

/// The inline deny a suspended role carries.
pub const KILL_SWITCH_POLICY: &str = "finops-kill-switch";
/// Every inline policy the kill switch owns on a role starts so; the
/// enforcers read these and leave every other policy alone.
pub const FINOPS_POLICY_PREFIX: &str = "finops-";
/// The tag a suspended role carries (an SCP can deny on it, so the role
/// cannot lift its own suspension).
pub const SUSPENDED_TAG: &str = "finops:suspended";

/// The model-invocation actions a suspension denies. The Converse APIs are
/// authorised by these same two actions (Bedrock has no separate Converse
/// permission), so denying them stops Converse and ConverseStream too.
pub const DENIED_ACTIONS: [&str; 2] = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"];

/// Where a workload stands (PRODUCT.md): Active → Alerting → Investigating →
/// Suspended → Resumed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnforcementState {
    Active,
    Alerting,
    Investigating,
    Suspended,
    Resumed,
}

impl EnforcementState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Alerting => "Alerting",
            Self::Investigating => "Investigating",
            Self::Suspended => "Suspended",
            Self::Resumed => "Resumed",
        }
    }

    /// Whether the workload's roles must carry the deny.
    pub fn denies(self) -> bool {
        self == Self::Suspended
    }
}

/// One IAM role a workload runs as, in one account; with `session`, only that
/// STS session of it (a claimed session of a role others share).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoleRef {
    pub account: AccountId,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub partition: Partition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl RoleRef {
    pub fn role(account: AccountId, name: impl Into<String>, partition: Partition) -> Self {
        Self { account, name: name.into(), partition, session: None }
    }

    /// The role's ARN (what IAM calls act on, session or not).
    pub fn arn(&self) -> String {
        format!("arn:{}:iam::{}:role/{}", self.partition.as_str(), self.account, self.name)
    }

    /// What the deny stops: the role, or its one session.
    pub fn principal(&self) -> String {
        match &self.session {
            None => self.arn(),
            Some(s) => format!("arn:{}:sts::{}:assumed-role/{}/{s}", self.partition.as_str(), self.account, self.name),
        }
    }

    /// The inline policy that suspends it: one per session, so suspending and
    /// resuming one developer's session never rewrites another's deny. Session
    /// names (`[\w+=,.@-]`, ≤ 64) are valid in policy names (≤ 128).
    pub fn policy_name(&self) -> String {
        match &self.session {
            None => KILL_SWITCH_POLICY.to_owned(),
            Some(s) => format!("{KILL_SWITCH_POLICY}-{s}"),
        }
    }
}

/// What IAM holds for a role, as far as the kill switch is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleState {
    pub suspended_tag: bool,
    /// The role's `finops-*` inline policies, by name.
    pub policies: BTreeMap<String, Value>,
}

/// One IAM call, exactly as the adapter makes it (and `--dry-run` prints it).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call")]
pub enum IamCall {
    TagRole { role: RoleRef, key: String, value: String },
    PutRolePolicy {
        role: RoleRef,
        policy_name: String,
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        document: Value,
    },
    DeleteRolePolicy { role: RoleRef, policy_name: String },
    UntagRole { role: RoleRef, key: String },
}

impl IamCall {
    /// The AWS CLI form of the call, for `--dry-run` and for a Cloud Engineer
    /// doing it by hand.
    pub fn cli(&self) -> String {
        match self {
            IamCall::TagRole { role, key, value } => format!("aws iam tag-role --role-name {} --tags Key={key},Value={value}   # account {}", role.name, role.account),
            IamCall::PutRolePolicy { role, policy_name, document } => format!(
                "aws iam put-role-policy --role-name {} --policy-name {policy_name} --policy-document '{}'   # account {}",
                role.name,
                serde_json::to_string(document).unwrap_or_default(),
                role.account
            ),
            IamCall::DeleteRolePolicy { role, policy_name } => format!("aws iam delete-role-policy --role-name {} --policy-name {policy_name}   # account {}", role.name, role.account),
            IamCall::UntagRole { role, key } => format!("aws iam untag-role --role-name {} --tag-keys {key}   # account {}", role.name, role.account),
        }
    }
}

/// The inline deny of a suspended role: every model invocation, on every
/// foundation model, system and application inference profile. For a session
/// ref, only that session: `aws:userid` of an assumed-role session is
/// `ROLEID:session-name`, where `role_id` is the role's unique id (`AROA…`,
/// from `iam:GetRole`; a recreated role gets a new one, so it is read each time
/// the deny is planned). `role_id` is not read for a whole role.
pub fn kill_switch_deny(role: &RoleRef, role_id: &str) -> Value {
    let p = role.partition.as_str();
    let mut statement = json!({
        "Sid": "FinOpsKillSwitch",
        "Effect": "Deny",
        "Action": DENIED_ACTIONS,
        "Resource": [
            format!("arn:{p}:bedrock:*::foundation-model/*"),
            format!("arn:{p}:bedrock:*:{}:inference-profile/*", role.account),
            format!("arn:{p}:bedrock:*:{}:application-inference-profile/*", role.account),
        ],
    });
    if let Some(s) = &role.session {
        statement["Condition"] = json!({ "StringEquals": { "aws:userid": format!("{role_id}:{s}") } });
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
}

/// The inline policy that carries an account's model blocks on each of its
/// workload roles (where Organizations is not available to do it in one SCP).
pub const MODEL_BLOCK_POLICY: &str = "finops-model-blocks";

/// The deny of blocked models: invoking a model through any inference profile
/// needs permission on the foundation model itself in the serving region, so
/// denying `foundation-model/MODEL` in every region stops every path to it
/// (direct, cross-region system profiles, application profiles). Regions are
/// `*` because a cross-region profile serves from regions the block never saw.
/// `None` when nothing is blocked (the policy is removed).
pub fn model_block_deny(partition: Partition, models: &[String]) -> Option<Value> {
    if models.is_empty() {
        return None;
    }
    let p = partition.as_str();
    let mut models: Vec<&String> = models.iter().collect();
    models.sort();
    models.dedup();
    let resources: Vec<String> = models.iter().map(|m| format!("arn:{p}:bedrock:*::foundation-model/{m}")).collect();
    Some(json!({
        "Version": "2012-10-17",
        "Statement": [{ "Sid": "FinOpsModelBlocks", "Effect": "Deny", "Action": DENIED_ACTIONS, "Resource": resources }],
    }))
}

/// The organisation's one SCP: the same actions denied to any principal
/// tagged suspended, so a suspended role cannot untag itself out of it.
pub fn suspended_scp(partition: Partition) -> Value {
    let p = partition.as_str();
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "FinOpsDenySuspendedPrincipals",
            "Effect": "Deny",
            "Action": DENIED_ACTIONS,
            "Resource": [format!("arn:{p}:bedrock:*::foundation-model/*"), format!("arn:{p}:bedrock:*:*:inference-profile/*"), format!("arn:{p}:bedrock:*:*:application-inference-profile/*")],
            "Condition": { "StringEquals": { format!("aws:PrincipalTag/{SUSPENDED_TAG}"): "true" } },
        }],
    })
}

/// The name the organisation's one kill-switch SCP is found by (looked up
/// before creating, so installing twice creates nothing).
pub const SUSPENDED_SCP_NAME: &str = "finops-deny-suspended-principals";

/// Where the SCP is attached: the organisation's root (`r-…`), an OU
/// (`ou-…-…`) or a member account.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScpTarget(String);

impl ScpTarget {
    pub const WHAT: &'static str = "SCP target (r-…, ou-…-… or a 12-digit account id)";

    pub fn parse(s: &str) -> Result<Self, crate::ParseError> {
        let t = s.trim();
        let alnum = |x: &str, min: usize, max: usize| (min..=max).contains(&x.len()) && x.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok = if let Some(rest) = t.strip_prefix("ou-") {
            rest.split_once('-').is_some_and(|(root, ou)| alnum(root, 4, 32) && alnum(ou, 8, 32))
        } else if let Some(rest) = t.strip_prefix("r-") {
            alnum(rest, 4, 32)
        } else {
            AccountId::parse(t).is_ok()
        };
        if ok {
            Ok(Self(t.to_owned()))
        } else {
            Err(crate::ParseError::new(Self::WHAT, s, "must be r-xxxx (the root), ou-xxxx-xxxxxxxx (an OU) or a 12-digit account id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ScpTarget {
    type Error = crate::ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ScpTarget> for String {
    fn from(t: ScpTarget) -> Self {
        t.0
    }
}

/// What Organizations holds of the kill-switch SCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScpState {
    pub id: String,
    pub document: Value,
    pub targets: std::collections::BTreeSet<String>,
}

/// One Organizations call, exactly as the adapter makes it. The policy is
/// named, not numbered: a policy created in the same plan has no id yet, so
/// the adapter resolves the name.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call")]
pub enum OrgCall {
    CreatePolicy {
        name: String,
        description: String,
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        document: Value,
    },
    UpdatePolicy {
        name: String,
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        document: Value,
    },
    AttachPolicy { name: String, target: ScpTarget },
    DetachPolicy { name: String, target: ScpTarget },
}

impl OrgCall {
    /// The AWS CLI form (`--dry-run`, or the payer admin doing it by hand).
    pub fn cli(&self) -> String {
        let id = |name: &str| format!("$(aws organizations list-policies --filter SERVICE_CONTROL_POLICY --query \"Policies[?Name=='{name}'].Id\" --output text)");
        match self {
            OrgCall::CreatePolicy { name, description, document } => format!(
                "aws organizations create-policy --type SERVICE_CONTROL_POLICY --name {name} --description '{description}' --content '{}'",
                serde_json::to_string(document).unwrap_or_default()
            ),
            OrgCall::UpdatePolicy { name, document } => format!("aws organizations update-policy --policy-id {} --content '{}'", id(name), serde_json::to_string(document).unwrap_or_default()),
            OrgCall::AttachPolicy { name, target } => format!("aws organizations attach-policy --policy-id {} --target-id {}", id(name), target.as_str()),
            OrgCall::DetachPolicy { name, target } => format!("aws organizations detach-policy --policy-id {} --target-id {}", id(name), target.as_str()),
        }
    }
}

/// The most an SCP document may hold (Organizations' quota, in characters).
pub const SCP_MAX_CHARS: usize = 5120;

/// The SCP that carries model blocks where Organizations is available.
pub const MODEL_BLOCK_SCP_NAME: &str = "finops-model-blocks";

/// One statement per blocked model, denying it to principals of the accounts
/// that block it (`aws:PrincipalAccount`): the same reasoning as
/// [`model_block_deny`] on the resource, enforced above every role of the
/// account, the ones nobody claimed included. `None` when nothing is blocked.
pub fn model_block_scp(partition: Partition, blocked: &BTreeMap<String, std::collections::BTreeSet<AccountId>>) -> Option<Value> {
    let p = partition.as_str();
    let statements: Vec<Value> = blocked
        .iter()
        .filter(|(_, accounts)| !accounts.is_empty())
        .enumerate()
        .map(|(i, (model, accounts))| {
            json!({
                "Sid": format!("FinOpsModelBlock{i}"),
                "Effect": "Deny",
                "Action": DENIED_ACTIONS,
                "Resource": [format!("arn:{p}:bedrock:*::foundation-model/{model}")],
                "Condition": { "StringEquals": { "aws:PrincipalAccount": accounts.iter().map(AccountId::as_str).collect::<Vec<_>>() } },
            })
        })
        .collect();
    (!statements.is_empty()).then(|| json!({ "Version": "2012-10-17", "Statement": statements }))
}

/// The calls that make the SCP `name` hold `desired` and be attached to every
/// target in `targets`, or, with nothing desired, detached from them (the
/// policy itself stays: nothing is deleted, and re-attaching is one call).
/// Targets it is attached to beyond those are left alone: an SCP someone
/// attached more widely on purpose is theirs to narrow.
pub fn plan_scp(name: &str, description: &str, now: Option<&ScpState>, desired: Option<&Value>, targets: &[ScpTarget]) -> Vec<OrgCall> {
    let mut calls = Vec::new();
    let attached = |t: &ScpTarget| now.is_some_and(|s| s.targets.contains(t.as_str()));
    let mut seen = std::collections::BTreeSet::new();
    let targets: Vec<&ScpTarget> = targets.iter().filter(|t| seen.insert(t.as_str())).collect();
    let Some(document) = desired else {
        // Never created: nothing to detach.
        calls.extend(targets.into_iter().filter(|t| attached(t)).map(|t| OrgCall::DetachPolicy { name: name.to_owned(), target: t.clone() }));
        return calls;
    };
    match now {
        None => calls.push(OrgCall::CreatePolicy { name: name.to_owned(), description: description.to_owned(), document: document.clone() }),
        Some(s) if s.document != *document => calls.push(OrgCall::UpdatePolicy { name: name.to_owned(), document: document.clone() }),
        Some(_) => {}
    }
    calls.extend(targets.into_iter().filter(|t| !attached(t)).map(|t| OrgCall::AttachPolicy { name: name.to_owned(), target: t.clone() }));
    calls
}

/// The calls that take `role` from `now` to `desired` (suspended with
/// `deny`, or not suspended). Suspending writes the deny before the tag, so
/// spend stops with the first call; resuming removes the tag first and the
/// deny last, so spend stays stopped until the very end. A session ref is
/// never tagged: the tag (and the SCP that reads it) stops the whole role.
pub fn plan(role: &RoleRef, now: &RoleState, desired: Option<&Value>) -> Vec<IamCall> {
    let tag = role.session.is_none() && desired.is_some();
    let mut calls = Vec::new();
    if desired.is_some() {
        calls.extend(plan_policy(role, now, &role.policy_name(), desired));
    }
    if role.session.is_none() && now.suspended_tag != tag {
        calls.push(match tag {
            true => IamCall::TagRole { role: role.clone(), key: SUSPENDED_TAG.into(), value: "true".into() },
            false => IamCall::UntagRole { role: role.clone(), key: SUSPENDED_TAG.into() },
        });
    }
    if desired.is_none() {
        calls.extend(plan_policy(role, now, &role.policy_name(), None));
    }
    calls
}

/// The call (if any) that makes the inline policy `name` on `role` hold
/// `desired` (or be absent). The kill switch's denies and the model blocks'
/// share it, each owning its own policy name on the role.
pub fn plan_policy(role: &RoleRef, now: &RoleState, name: &str, desired: Option<&Value>) -> Option<IamCall> {
    match (now.policies.get(name), desired) {
        (held, Some(d)) if held != Some(d) => Some(IamCall::PutRolePolicy { role: role.clone(), policy_name: name.to_owned(), document: d.clone() }),
        (Some(_), None) => Some(IamCall::DeleteRolePolicy { role: role.clone(), policy_name: name.to_owned() }),
        _ => None,
    }
}

/// A workload's enforcement record: the desired state and who set it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enforcement {
    pub workload: WorkloadId,
    pub state: EnforcementState,
    /// The roles the state applies to (the workload's claimed IAM roles when
    /// it was set).
    pub roles: Vec<RoleRef>,
    /// The deny covers whole roles shared with other workloads (a FinOps
    /// Lead's forced suspension).
    pub whole_role: bool,
    /// The Cloud Engineer tasks that do by hand what IAM cannot (a Claude
    /// Platform workspace's keys), opened by this state change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manual_tasks: Vec<String>,
    /// Some of those tasks are not Implemented yet: the state is recorded but
    /// not yet in force everywhere (`pending_manual`).
    #[serde(default)]
    pub pending_manual: bool,
    pub by: UserId,
    pub persona: Persona,
    pub at: DateTime<Utc>,
    pub rationale: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role() -> RoleRef {
        RoleRef::role(AccountId::parse("111122223333").unwrap(), "finops-chat-ab12", Partition::Aws)
    }

    #[test]
    fn suspending_plans_the_deny_then_the_tag_and_nothing_once_done() {
        let deny = kill_switch_deny(&role(), "");
        let calls = plan(&role(), &RoleState::default(), Some(&deny));
        assert_eq!(calls.len(), 2);
        assert!(matches!(&calls[0], IamCall::PutRolePolicy { policy_name, document, .. } if policy_name == KILL_SWITCH_POLICY && *document == deny));
        assert!(matches!(&calls[1], IamCall::TagRole { key, value, .. } if key == SUSPENDED_TAG && value == "true"));
        let held = |deny: &Value| BTreeMap::from([(KILL_SWITCH_POLICY.to_owned(), deny.clone())]);
        let done = RoleState { suspended_tag: true, policies: held(&deny) };
        assert!(plan(&role(), &done, Some(&deny)).is_empty(), "the same call twice changes nothing");
        // A partial failure (the deny written, the tag not) plans only the rest.
        let half = RoleState { suspended_tag: false, policies: held(&deny) };
        assert_eq!(plan(&role(), &half, Some(&deny)).len(), 1);
        // Resuming removes both; resuming again plans nothing.
        assert_eq!(plan(&role(), &done, None).len(), 2);
        assert!(plan(&role(), &RoleState::default(), None).is_empty());
    }

    #[test]
    fn the_deny_covers_every_invoke_path_and_a_session_scope_narrows_it() {
        let d = kill_switch_deny(&role(), "");
        let s = &d["Statement"][0];
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(s["Action"], json!(["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]));
        assert_eq!(
            s["Resource"],
            json!([
                "arn:aws:bedrock:*::foundation-model/*",
                "arn:aws:bedrock:*:111122223333:inference-profile/*",
                "arn:aws:bedrock:*:111122223333:application-inference-profile/*"
            ])
        );
        assert!(s.get("Condition").is_none());
        let session = RoleRef { session: Some("dev001@example.com".into()), ..role() };
        let scoped = kill_switch_deny(&session, "AROAEXAMPLEID");
        assert_eq!(scoped["Statement"][0]["Condition"]["StringEquals"]["aws:userid"], "AROAEXAMPLEID:dev001@example.com");
        assert_eq!(scoped["Statement"][0]["Resource"], s["Resource"]);
        let scp = suspended_scp(Partition::Aws);
        assert_eq!(scp["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalTag/finops:suspended"], "true");
    }

    #[test]
    fn the_cli_form_names_the_role_account_and_document() {
        let c = &plan(&role(), &RoleState::default(), Some(&kill_switch_deny(&role(), "")))[0];
        let cli = c.cli();
        assert!(cli.starts_with("aws iam put-role-policy --role-name finops-chat-ab12 --policy-name finops-kill-switch --policy-document '{"), "{cli}");
        assert!(cli.ends_with("# account 111122223333"));
    }

    #[test]
    fn the_scp_is_created_once_attached_where_missing_and_updated_on_drift() {
        let doc = suspended_scp(Partition::Aws);
        let ou = ScpTarget::parse("ou-ab12-cd34ef56").unwrap();
        let acct = ScpTarget::parse("111122223333").unwrap();
        let plan = |now: Option<&ScpState>, targets: &[ScpTarget]| plan_scp(SUSPENDED_SCP_NAME, "d", now, Some(&doc), targets);
        let fresh = plan(None, &[ou.clone(), acct.clone(), ou.clone()]);
        assert!(matches!(&fresh[0], OrgCall::CreatePolicy { name, document, .. } if name == SUSPENDED_SCP_NAME && *document == doc));
        assert_eq!(fresh[1..], [OrgCall::AttachPolicy { name: SUSPENDED_SCP_NAME.into(), target: ou.clone() }, OrgCall::AttachPolicy { name: SUSPENDED_SCP_NAME.into(), target: acct.clone() }]);
        let held = ScpState { id: "p-abcd1234".into(), document: doc.clone(), targets: [ou.as_str().to_owned(), "r-ab12".to_owned()].into() };
        assert_eq!(plan(Some(&held), &[ou.clone(), acct.clone()]), [OrgCall::AttachPolicy { name: SUSPENDED_SCP_NAME.into(), target: acct.clone() }]);
        assert!(plan(Some(&held), std::slice::from_ref(&ou)).is_empty(), "installed twice: nothing; r-ab12 stays attached");
        // Nothing desired: detached from the targets it is on, the rest left alone.
        assert_eq!(plan_scp(SUSPENDED_SCP_NAME, "d", Some(&held), None, &[ou.clone(), acct]), [OrgCall::DetachPolicy { name: SUSPENDED_SCP_NAME.into(), target: ou.clone() }]);
        let edited = ScpState { document: json!({"Version": "2012-10-17", "Statement": []}), ..held };
        assert!(matches!(plan(Some(&edited), &[ou])[..], [OrgCall::UpdatePolicy { .. }]));
        for bad in ["ou-ab", "r-", "12345", "ou-AB12-cd34ef56", "arn:aws:organizations::1:ou/o-1/ou-1"] {
            assert!(ScpTarget::parse(bad).is_err(), "{bad}");
        }
        assert!(OrgCall::AttachPolicy { name: SUSPENDED_SCP_NAME.into(), target: ScpTarget::parse("r-ab12").unwrap() }.cli().contains("--target-id r-ab12"));
    }

    #[test]
    fn the_block_scp_denies_each_model_to_the_accounts_that_block_it() {
        let a = AccountId::parse("111122223333").unwrap();
        let b = AccountId::parse("444455556666").unwrap();
        assert_eq!(model_block_scp(Partition::Aws, &BTreeMap::new()), None);
        let blocked = BTreeMap::from([("amazon.nova-lite-v1:0".to_owned(), [a.clone(), b.clone()].into()), ("x.unused".to_owned(), Default::default())]);
        let d = model_block_scp(Partition::Aws, &blocked).unwrap();
        assert_eq!(d["Statement"].as_array().unwrap().len(), 1, "a model no account blocks has no statement");
        assert_eq!(d["Statement"][0]["Resource"], json!(["arn:aws:bedrock:*::foundation-model/amazon.nova-lite-v1:0"]));
        assert_eq!(d["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalAccount"], json!(["111122223333", "444455556666"]));
    }

    #[test]
    fn model_blocks_deny_each_model_in_every_region_once() {
        assert_eq!(model_block_deny(Partition::Aws, &[]), None);
        let d = model_block_deny(Partition::Aws, &["b.model-v1:0".into(), "a.model-v1:0".into(), "b.model-v1:0".into()]).unwrap();
        assert_eq!(d["Statement"][0]["Resource"], json!(["arn:aws:bedrock:*::foundation-model/a.model-v1:0", "arn:aws:bedrock:*::foundation-model/b.model-v1:0"]));
        assert_eq!(d["Statement"][0]["Effect"], "Deny");
    }

    #[test]
    fn a_session_has_its_own_policy_and_is_never_tagged() {
        let session = RoleRef { session: Some("dev001@example.com".into()), ..role() };
        assert_eq!(session.policy_name(), "finops-kill-switch-dev001@example.com");
        assert_eq!(session.principal(), "arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/dev001@example.com");
        let deny = kill_switch_deny(&session, "AROAEXAMPLEID");
        let calls = plan(&session, &RoleState::default(), Some(&deny));
        assert_eq!(calls.len(), 1, "the deny alone: a tag would stop every session of the role");
        assert!(matches!(&calls[0], IamCall::PutRolePolicy { policy_name, .. } if *policy_name == session.policy_name()));
        // Another session's deny on the same role is left alone by this one's resume,
        // and so is the role's tag held by a whole-role suspension.
        let other = RoleRef { session: Some("dev002@example.com".into()), ..role() };
        let now = RoleState {
            suspended_tag: true,
            policies: BTreeMap::from([(session.policy_name(), deny.clone()), (other.policy_name(), kill_switch_deny(&other, "AROAEXAMPLEID"))]),
        };
        let resume = plan(&session, &now, None);
        assert_eq!(resume, vec![IamCall::DeleteRolePolicy { role: session.clone(), policy_name: session.policy_name() }]);
    }
}
