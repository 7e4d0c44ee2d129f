//! The kill switch's hands: reading and changing what IAM holds for a role.
//! Adapters: IAM itself (`enforcers::IamEnforcer`, through an execution role
//! in member accounts) and the local mode's record (`enforcers::LocalEnforcer`).

use async_trait::async_trait;
use domain::governance::enforcement::{IamCall, OrgCall, RoleRef, RoleState, ScpState};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnforcerError {
    /// The role does not exist in its account (deleted, or never created).
    #[error("IAM role {0} does not exist")]
    NoSuchRole(String),
    /// The enforcer may not act there (no execution role, no permission).
    #[error("not allowed: {0}")]
    Denied(String),
    /// IAM (or STS) could not be reached or throttled; retry.
    #[error("IAM unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Enforcer: Send + Sync {
    /// What IAM holds for `role`: the suspended tag and the role's inline
    /// policies named `finops-*` (the kill switch's denies, the model blocks).
    /// A session ref reads its role.
    /// Errors: `NoSuchRole`, `Denied`, `Unavailable`.
    async fn observe(&self, role: &RoleRef) -> Result<RoleState, EnforcerError>;

    /// Makes one call. Repeating a call is harmless (IAM's tag and policy
    /// writes replace). Errors: as `observe`.
    async fn call(&self, call: &IamCall) -> Result<(), EnforcerError>;

    /// The role's unique id (`AROA…`): `aws:userid` of its sessions is
    /// `ROLEID:session-name`.
    async fn role_id(&self, role: &RoleRef) -> Result<String, EnforcerError>;

    /// What AWS Organizations holds of the SCP named `name` (its document and
    /// the targets it is attached to), or `None`. Errors: `Denied` when the
    /// organisation does not use Organizations or SCPs, or this account may
    /// not manage its policies (only the management account or a delegated
    /// administrator may); `Unavailable`.
    async fn observe_scp(&self, name: &str) -> Result<Option<ScpState>, EnforcerError>;

    /// Makes one Organizations call; attaching an attached policy is
    /// harmless. Errors: as `observe_scp`.
    async fn org_call(&self, call: &OrgCall) -> Result<(), EnforcerError>;
}
