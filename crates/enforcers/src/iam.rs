//! The kill switch on IAM: tag, untag, put and delete the inline deny, read
//! them back. Member accounts are reached through an execution role.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_iam::error::ProvideErrorMetadata;
use domain::governance::enforcement::{IamCall, OrgCall, RoleRef, RoleState, ScpState, FINOPS_POLICY_PREFIX, SUSPENDED_TAG};
use aws_sdk_organizations::types::PolicyType;
use domain::AccountId;
use services::ports::{Enforcer, EnforcerError};
use tokio::sync::Mutex;

/// The execution role's name in member accounts when the template's
/// parameter is left at its default.
pub const DEFAULT_EXECUTION_ROLE: &str = "FinOpsCenterEnforcer";

pub struct IamEnforcer {
    sdk: aws_config::SdkConfig,
    /// The stack's own account: reached without assuming a role.
    home: Option<AccountId>,
    execution_role: String,
    /// IAM endpoint override (the emulator in tests), applied to assumed clients too.
    endpoint: Option<String>,
    clients: Mutex<HashMap<AccountId, aws_sdk_iam::Client>>,
}

impl IamEnforcer {
    /// `home`: the account whose roles this process's own credentials reach.
    pub fn new(sdk: aws_config::SdkConfig, home: Option<AccountId>, execution_role: impl Into<String>) -> Self {
        let endpoint = sdk.endpoint_url().map(String::from);
        Self { sdk, home, execution_role: execution_role.into(), endpoint, clients: Mutex::new(HashMap::new()) }
    }

    /// The IAM client for `account`: the own credentials at home, else the
    /// execution role's session (assumed once, then cached).
    async fn client(&self, account: &AccountId) -> Result<aws_sdk_iam::Client, EnforcerError> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(account) {
            return Ok(c.clone());
        }
        let client = if self.home.as_ref().is_none_or(|h| h == account) {
            aws_sdk_iam::Client::new(&self.sdk)
        } else {
            let arn = format!("arn:aws:iam::{account}:role/{}", self.execution_role);
            let sts = aws_sdk_sts::Client::new(&self.sdk);
            let out = sts.assume_role().role_arn(&arn).role_session_name("finops-kill-switch").send().await.map_err(|e| {
                EnforcerError::Denied(format!("cannot assume {arn}: {}", e.message().unwrap_or(&e.to_string())))
            })?;
            let creds = out.credentials().ok_or_else(|| EnforcerError::Denied(format!("{arn} gave no credentials")))?;
            let provider = aws_sdk_iam::config::Credentials::new(creds.access_key_id(), creds.secret_access_key(), Some(creds.session_token().to_owned()), None, "finops-kill-switch");
            let mut conf = aws_sdk_iam::config::Builder::from(&self.sdk).credentials_provider(provider);
            if let Some(e) = &self.endpoint {
                conf = conf.endpoint_url(e);
            }
            aws_sdk_iam::Client::from_conf(conf.build())
        };
        clients.insert(account.clone(), client.clone());
        Ok(client)
    }
}

fn classify<E: ProvideErrorMetadata + std::fmt::Display>(role: &RoleRef, e: E) -> EnforcerError {
    match e.code() {
        Some("NoSuchEntity") => EnforcerError::NoSuchRole(role.arn()),
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation") => EnforcerError::Denied(format!("{}: {}", role.arn(), e.message().unwrap_or_default())),
        _ => EnforcerError::Unavailable(format!("{}: {}", role.arn(), e.message().map_or_else(|| e.to_string(), String::from))),
    }
}

/// An Organizations error, named for the payer admin who must fix it.
fn org_error<E: ProvideErrorMetadata + std::fmt::Display>(what: &str, e: E) -> EnforcerError {
    let msg = e.message().map_or_else(|| e.to_string(), String::from);
    match e.code() {
        Some("AWSOrganizationsNotInUseException") => EnforcerError::Denied(format!("{what}: this account is not in an organisation that uses AWS Organizations, so no SCP can back the kill switch ({msg})")),
        Some("PolicyTypeNotEnabledException") => EnforcerError::Denied(format!(
            "{what}: service control policies are not enabled in the organisation; the management account enables them with `aws organizations enable-policy-type --root-id r-… --policy-type SERVICE_CONTROL_POLICY` ({msg})"
        )),
        Some("AccessDeniedException" | "AccessDeniedForDependencyException") => {
            EnforcerError::Denied(format!("{what}: only the management account or a delegated administrator may manage SCPs ({msg})"))
        }
        Some("TargetNotFoundException") => EnforcerError::Denied(format!("{what}: no such root, OU or account in the organisation ({msg})")),
        _ => EnforcerError::Unavailable(format!("{what}: {msg}")),
    }
}

impl IamEnforcer {
    fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::new(&self.sdk)
    }

    /// The SCP's id by name (Organizations numbers policies; the kill switch names its one).
    async fn scp_id(&self, org: &aws_sdk_organizations::Client, name: &str) -> Result<Option<String>, EnforcerError> {
        let mut pages = org.list_policies().filter(PolicyType::ServiceControlPolicy).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| org_error("list SCPs", e.into_service_error()))?;
            if let Some(p) = page.policies().iter().find(|p| p.name() == Some(name)) {
                return Ok(p.id().map(String::from));
            }
        }
        Ok(None)
    }

    async fn scp_id_required(&self, org: &aws_sdk_organizations::Client, name: &str) -> Result<String, EnforcerError> {
        self.scp_id(org, name).await?.ok_or_else(|| EnforcerError::Unavailable(format!("SCP {name} is not there yet; retry after it is created")))
    }
}

#[async_trait]
impl Enforcer for IamEnforcer {
    async fn observe(&self, role: &RoleRef) -> Result<RoleState, EnforcerError> {
        let iam = self.client(&role.account).await?;
        let tags = iam.list_role_tags().role_name(&role.name).send().await.map_err(|e| classify(role, e.into_service_error()))?;
        let suspended_tag = tags.tags().iter().any(|t| t.key() == SUSPENDED_TAG && t.value() == "true");
        let mut names = Vec::new();
        let mut pages = iam.list_role_policies().role_name(&role.name).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(role, e.into_service_error()))?;
            names.extend(page.policy_names().iter().filter(|n| n.starts_with(FINOPS_POLICY_PREFIX)).cloned());
        }
        let mut policies = BTreeMap::new();
        for name in names {
            let p = iam.get_role_policy().role_name(&role.name).policy_name(&name).send().await.map_err(|e| classify(role, e.into_service_error()))?;
            // IAM returns the document URL-encoded (RFC 3986).
            let text = percent_encoding::percent_decode_str(p.policy_document()).decode_utf8_lossy().into_owned();
            let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| EnforcerError::Unavailable(format!("{}: unreadable {name}: {e}", role.arn())))?;
            policies.insert(name, doc);
        }
        Ok(RoleState { suspended_tag, policies })
    }

    async fn call(&self, call: &IamCall) -> Result<(), EnforcerError> {
        match call {
            IamCall::TagRole { role, key, value } => {
                let tag = aws_sdk_iam::types::Tag::builder().key(key).value(value).build().map_err(|e| EnforcerError::Unavailable(e.to_string()))?;
                self.client(&role.account).await?.tag_role().role_name(&role.name).tags(tag).send().await.map_err(|e| classify(role, e.into_service_error()))?;
            }
            IamCall::UntagRole { role, key } => {
                self.client(&role.account).await?.untag_role().role_name(&role.name).tag_keys(key).send().await.map_err(|e| classify(role, e.into_service_error()))?;
            }
            IamCall::PutRolePolicy { role, policy_name, document } => {
                let doc = serde_json::to_string(document).map_err(|e| EnforcerError::Unavailable(e.to_string()))?;
                self.client(&role.account)
                    .await?
                    .put_role_policy()
                    .role_name(&role.name)
                    .policy_name(policy_name)
                    .policy_document(doc)
                    .send()
                    .await
                    .map_err(|e| classify(role, e.into_service_error()))?;
            }
            IamCall::DeleteRolePolicy { role, policy_name } => {
                match self.client(&role.account).await?.delete_role_policy().role_name(&role.name).policy_name(policy_name).send().await {
                    Ok(_) => {}
                    // Already gone: what a delete wants.
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                    Err(e) => return Err(classify(role, e.into_service_error())),
                }
            }
        }
        Ok(())
    }

    async fn observe_scp(&self, name: &str) -> Result<Option<ScpState>, EnforcerError> {
        let org = self.organizations();
        let Some(id) = self.scp_id(&org, name).await? else { return Ok(None) };
        let described = org.describe_policy().policy_id(&id).send().await.map_err(|e| org_error(name, e.into_service_error()))?;
        let content = described.policy().and_then(|p| p.content()).unwrap_or("{}");
        let document = serde_json::from_str(content).map_err(|e| EnforcerError::Unavailable(format!("SCP {name}: unreadable content: {e}")))?;
        let mut targets = std::collections::BTreeSet::new();
        let mut pages = org.list_targets_for_policy().policy_id(&id).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| org_error(name, e.into_service_error()))?;
            targets.extend(page.targets().iter().filter_map(|t| t.target_id().map(String::from)));
        }
        Ok(Some(ScpState { id, document, targets }))
    }

    async fn org_call(&self, call: &OrgCall) -> Result<(), EnforcerError> {
        let org = self.organizations();
        let text = |d: &serde_json::Value| serde_json::to_string(d).map_err(|e| EnforcerError::Unavailable(e.to_string()));
        match call {
            OrgCall::CreatePolicy { name, description, document } => {
                match org.create_policy().name(name).description(description).content(text(document)?).r#type(PolicyType::ServiceControlPolicy).send().await {
                    Ok(_) => {}
                    // Created meanwhile (another run): what a create wants.
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_duplicate_policy_exception()) => {}
                    Err(e) => return Err(org_error(name, e.into_service_error())),
                }
            }
            OrgCall::UpdatePolicy { name, document } => {
                let id = self.scp_id_required(&org, name).await?;
                org.update_policy().policy_id(id).content(text(document)?).send().await.map_err(|e| org_error(name, e.into_service_error()))?;
            }
            OrgCall::AttachPolicy { name, target } => {
                let id = self.scp_id_required(&org, name).await?;
                match org.attach_policy().policy_id(id).target_id(target.as_str()).send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_duplicate_policy_attachment_exception()) => {}
                    Err(e) => return Err(org_error(&format!("{name} on {}", target.as_str()), e.into_service_error())),
                }
            }
            OrgCall::DetachPolicy { name, target } => {
                let id = self.scp_id_required(&org, name).await?;
                match org.detach_policy().policy_id(id).target_id(target.as_str()).send().await {
                    Ok(_) => {}
                    // Not attached: what a detach wants.
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_policy_not_attached_exception()) => {}
                    Err(e) => return Err(org_error(&format!("{name} on {}", target.as_str()), e.into_service_error())),
                }
            }
        }
        Ok(())
    }

    async fn role_id(&self, role: &RoleRef) -> Result<String, EnforcerError> {
        let out = self.client(&role.account).await?.get_role().role_name(&role.name).send().await.map_err(|e| classify(role, e.into_service_error()))?;
        Ok(out.role().map(|r| r.role_id().to_owned()).unwrap_or_default())
    }
}
