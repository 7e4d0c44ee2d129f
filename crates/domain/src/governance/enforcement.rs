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

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actor::Persona;
use crate::arn::Partition;
use crate::ids::{AccountId, UserId, WorkloadId};

/// The inline deny a suspended role carries.
pub const KILL_SWITCH_POLICY: &str = "finops-kill-switch";
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

/// One IAM role a workload runs as, in one account.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoleRef {
    pub account: AccountId,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub partition: Partition,
}

impl RoleRef {
    pub fn arn(&self) -> String {
        format!("arn:{}:iam::{}:role/{}", self.partition.as_str(), self.account, self.name)
    }
}

/// What IAM holds for a role, as far as the kill switch is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleState {
    pub suspended_tag: bool,
    /// The `finops-kill-switch` inline policy's document, if attached.
    pub deny: Option<Value>,
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
/// foundation model, system and application inference profile. With
/// `sessions`, only those sessions of the role (`aws:userid` is
/// `ROLEID:session-name`), for a role other workloads' sessions share.
pub fn kill_switch_deny(role: &RoleRef, sessions: Option<&[String]>) -> Value {
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
    if let Some(s) = sessions {
        statement["Condition"] = json!({ "StringLike": { "aws:userid": s } });
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
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

/// The calls that take `role` from `now` to `desired` (suspended with
/// `deny`, or not suspended), in the order that stops spend first: the deny
/// before the tag when suspending, the tag off before the deny when resuming
/// is harmless either way, so the deny goes last (spend stays stopped until
/// the very end).
pub fn plan(role: &RoleRef, now: &RoleState, desired: Option<&Value>) -> Vec<IamCall> {
    let mut calls = Vec::new();
    match desired {
        Some(deny) => {
            if now.deny.as_ref() != Some(deny) {
                calls.push(IamCall::PutRolePolicy { role: role.clone(), policy_name: KILL_SWITCH_POLICY.into(), document: deny.clone() });
            }
            if !now.suspended_tag {
                calls.push(IamCall::TagRole { role: role.clone(), key: SUSPENDED_TAG.into(), value: "true".into() });
            }
        }
        None => {
            if now.suspended_tag {
                calls.push(IamCall::UntagRole { role: role.clone(), key: SUSPENDED_TAG.into() });
            }
            if now.deny.is_some() {
                calls.push(IamCall::DeleteRolePolicy { role: role.clone(), policy_name: KILL_SWITCH_POLICY.into() });
            }
        }
    }
    calls
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
    pub by: UserId,
    pub persona: Persona,
    pub at: DateTime<Utc>,
    pub rationale: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role() -> RoleRef {
        RoleRef { account: AccountId::parse("111122223333").unwrap(), name: "finops-chat-ab12".into(), partition: Partition::Aws }
    }

    #[test]
    fn suspending_plans_the_deny_then_the_tag_and_nothing_once_done() {
        let deny = kill_switch_deny(&role(), None);
        let calls = plan(&role(), &RoleState::default(), Some(&deny));
        assert_eq!(calls.len(), 2);
        assert!(matches!(&calls[0], IamCall::PutRolePolicy { policy_name, document, .. } if policy_name == KILL_SWITCH_POLICY && *document == deny));
        assert!(matches!(&calls[1], IamCall::TagRole { key, value, .. } if key == SUSPENDED_TAG && value == "true"));
        let done = RoleState { suspended_tag: true, deny: Some(deny.clone()) };
        assert!(plan(&role(), &done, Some(&deny)).is_empty(), "the same call twice changes nothing");
        // A partial failure (the deny written, the tag not) plans only the rest.
        let half = RoleState { suspended_tag: false, deny: Some(deny.clone()) };
        assert_eq!(plan(&role(), &half, Some(&deny)).len(), 1);
        // Resuming removes both; resuming again plans nothing.
        assert_eq!(plan(&role(), &done, None).len(), 2);
        assert!(plan(&role(), &RoleState::default(), None).is_empty());
    }

    #[test]
    fn the_deny_covers_every_invoke_path_and_a_session_scope_narrows_it() {
        let d = kill_switch_deny(&role(), None);
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
        let scoped = kill_switch_deny(&role(), Some(&["AROAEXAMPLEID:dev001@example.com".to_owned()]));
        assert_eq!(scoped["Statement"][0]["Condition"]["StringLike"]["aws:userid"], json!(["AROAEXAMPLEID:dev001@example.com"]));
        let scp = suspended_scp(Partition::Aws);
        assert_eq!(scp["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalTag/finops:suspended"], "true");
    }

    #[test]
    fn the_cli_form_names_the_role_account_and_document() {
        let c = &plan(&role(), &RoleState::default(), Some(&kill_switch_deny(&role(), None)))[0];
        let cli = c.cli();
        assert!(cli.starts_with("aws iam put-role-policy --role-name finops-chat-ab12 --policy-name finops-kill-switch --policy-document '{"), "{cli}");
        assert!(cli.ends_with("# account 111122223333"));
    }
}
