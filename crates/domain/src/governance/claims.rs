//! Stage 4: claims. A claim ties an attribution anchor (an IAM role, an
//! application inference profile, a guardrail, a Claude Platform workspace) to a
//! workload from a date forward. One anchor has at most one active claim; a
//! released claim stays in the record.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::FieldError;
use crate::arn::{GuardrailArn, IamRoleArn, InferenceProfileArn, InferenceProfileKind, Principal, RoleKey};
use crate::ids::{UserId, WorkloadId};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    IamRole,
    /// One STS session name of a role (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`):
    /// a per-user coding session of a role many people share. It carries that
    /// session's spend to the workload ahead of any claim on the whole role, and
    /// the kill switch can deny that session alone.
    RoleSession,
    InferenceProfile,
    Guardrail,
    Workspace,
}

/// A validated anchor. `key` is its identity for uniqueness: roles by account and
/// name (what CUR rows join on, whatever the path), the others by ARN or id.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimTarget {
    pub kind: ClaimKind,
    pub arn: String,
    pub key: String,
}

impl ClaimTarget {
    pub fn parse(kind: ClaimKind, raw: &str) -> Result<Self, FieldError> {
        let bad = |e: crate::ParseError| FieldError::new("arn", e.to_string());
        let (arn, key) = match kind {
            ClaimKind::IamRole => {
                let r = IamRoleArn::parse(raw).map_err(bad)?;
                (r.to_string(), format!("role:{}", r.key()))
            }
            ClaimKind::RoleSession => match Principal::parse(raw).map_err(bad)? {
                Principal::Role { partition, account, name, session: Some(session), .. } => {
                    let key = Self::session_key(&RoleKey { account: account.clone(), name: name.clone() }, &session);
                    (format!("arn:{}:sts::{account}:assumed-role/{name}/{session}", partition.as_str()), key)
                }
                _ => return Err(FieldError::new("arn", "a role session is arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION")),
            },
            ClaimKind::InferenceProfile => {
                let p = InferenceProfileArn::parse(raw).map_err(bad)?;
                if p.kind() != InferenceProfileKind::Application {
                    return Err(FieldError::new("arn", "only an application inference profile can be claimed; system profiles are shared"));
                }
                (p.to_string(), format!("profile:{p}"))
            }
            ClaimKind::Guardrail => {
                let g = GuardrailArn::parse(raw).map_err(bad)?;
                (g.to_string(), format!("guardrail:{g}"))
            }
            ClaimKind::Workspace => {
                let ok = !raw.is_empty() && raw.len() <= 128 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_:/.".contains(&b));
                if !ok {
                    return Err(FieldError::new("arn", "a workspace id is 1 to 128 letters, digits or -_:/."));
                }
                (raw.to_owned(), format!("workspace:{raw}"))
            }
        };
        Ok(Self { kind, arn, key })
    }

    /// A role session's identity: what a CUR principal `assumed-role/ROLE/SESSION`
    /// joins on, built without reparsing the ARN.
    pub fn session_key(role: &RoleKey, session: &str) -> String {
        format!("session:{role}/{session}")
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub target: ClaimTarget,
    pub workload: WorkloadId,
    /// Spend is attributed from this day forward, never before.
    pub claimed_at: NaiveDate,
    pub claimed_by: UserId,
    pub released_at: Option<NaiveDate>,
    pub released_by: Option<UserId>,
}

impl Claim {
    pub fn is_active(&self) -> bool {
        self.released_at.is_none()
    }

    /// Whether usage on `day` belongs to this claim.
    pub fn covers(&self, day: NaiveDate) -> bool {
        day >= self.claimed_at && self.released_at.is_none_or(|r| day < r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_validated_per_kind() {
        let role = ClaimTarget::parse(ClaimKind::IamRole, "arn:aws:iam::111122223333:role/finops-chat-ab12").unwrap();
        assert_eq!(role.key, "role:111122223333:role/finops-chat-ab12");
        // The same role under a path has the same identity.
        let pathed = ClaimTarget::parse(ClaimKind::IamRole, "arn:aws:iam::111122223333:role/team/finops-chat-ab12").unwrap();
        assert_eq!(pathed.key, role.key);
        let e = ClaimTarget::parse(ClaimKind::IamRole, "arn:aws:iam::111122223333:user/alice").unwrap_err();
        assert_eq!(e.field, "arn");
        let sys = ClaimTarget::parse(ClaimKind::InferenceProfile, "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0");
        assert!(sys.unwrap_err().rule.contains("application inference profile"));
        assert!(ClaimTarget::parse(ClaimKind::InferenceProfile, "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123def456").is_ok());
        assert!(ClaimTarget::parse(ClaimKind::Guardrail, "arn:aws:bedrock:us-east-1:111122223333:guardrail/abcd1234").is_ok());
        assert!(ClaimTarget::parse(ClaimKind::Workspace, "wrkspc_01ABC").is_ok());
        let session = ClaimTarget::parse(ClaimKind::RoleSession, "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0a1b/dev001@example.com").unwrap();
        assert_eq!(session.key, "session:111122223333:role/AWSReservedSSO_Dev_0a1b/dev001@example.com");
        assert_ne!(session.key, role.key, "a session is its own anchor, apart from its role");
        let e = ClaimTarget::parse(ClaimKind::RoleSession, "arn:aws:iam::111122223333:role/finops-chat-ab12").unwrap_err();
        assert!(e.rule.contains("assumed-role/ROLE/SESSION"), "{}", e.rule);
        assert!(ClaimTarget::parse(ClaimKind::Workspace, "has space").is_err());
    }

    #[test]
    fn a_claim_covers_from_its_date_until_release() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let mut c = Claim {
            target: ClaimTarget::parse(ClaimKind::IamRole, "arn:aws:iam::111122223333:role/r").unwrap(),
            workload: WorkloadId::parse("chat").unwrap(),
            claimed_at: d("2026-03-10"),
            claimed_by: UserId::parse("po").unwrap(),
            released_at: None,
            released_by: None,
        };
        assert!(!c.covers(d("2026-03-09")), "never retroactively");
        assert!(c.covers(d("2026-03-10")));
        c.released_at = Some(d("2026-04-01"));
        assert!(c.covers(d("2026-03-31")) && !c.covers(d("2026-04-01")));
        assert!(!c.is_active());
    }
}
