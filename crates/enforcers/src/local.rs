//! What IAM would hold, per role, in the store (`IAMSIM#{account}` /
//! `ROLE#{name}`), and what Organizations would hold of the kill switch's
//! SCP (`ORGSIM` / `SCP#{name}`): the local mode has neither to change.

use std::sync::Arc;

use async_trait::async_trait;
use domain::governance::enforcement::{IamCall, OrgCall, RoleRef, RoleState, ScpState, FINOPS_POLICY_PREFIX, SUSPENDED_TAG};
use serde_json::{json, Value};
use services::ports::store::{Attributes, Condition, ItemData, ItemKey, Store, StoreError};
use services::ports::{Enforcer, EnforcerError};

pub struct LocalEnforcer {
    store: Arc<dyn Store>,
}

impl LocalEnforcer {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// What Organizations would hold: `ORGSIM` / `SCP#{name}`.
    fn scp_key(name: &str) -> ItemKey {
        ItemKey::new("ORGSIM", format!("SCP#{name}"))
    }

    fn key(role: &RoleRef) -> ItemKey {
        ItemKey::new(format!("IAMSIM#{}", role.account), format!("ROLE#{}", role.name))
    }

    async fn load(&self, role: &RoleRef) -> Result<(Value, Option<u64>), EnforcerError> {
        match self.store.get(&Self::key(role)).await.map_err(store_error)? {
            Some(item) => Ok((Value::Object(item.attrs), Some(item.version))),
            None => Ok((json!({"tags": {}, "policies": {}}), None)),
        }
    }
}

fn store_error(e: StoreError) -> EnforcerError {
    EnforcerError::Unavailable(e.to_string())
}

#[async_trait]
impl Enforcer for LocalEnforcer {
    async fn observe(&self, role: &RoleRef) -> Result<RoleState, EnforcerError> {
        let (v, _) = self.load(role).await?;
        Ok(RoleState {
            suspended_tag: v["tags"][SUSPENDED_TAG] == "true",
            policies: v["policies"].as_object().map(|m| m.iter().filter(|(k, _)| k.starts_with(FINOPS_POLICY_PREFIX)).map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
        })
    }

    async fn call(&self, call: &IamCall) -> Result<(), EnforcerError> {
        let role = match call {
            IamCall::TagRole { role, .. } | IamCall::UntagRole { role, .. } | IamCall::PutRolePolicy { role, .. } | IamCall::DeleteRolePolicy { role, .. } => role,
        };
        // Read, change, write under the version read: two writers on one
        // role cannot lose each other's change (the loser retries).
        for _ in 0..8 {
            let (mut v, version) = self.load(role).await?;
            match call {
                IamCall::TagRole { key, value, .. } => v["tags"][key] = json!(value),
                IamCall::UntagRole { key, .. } => {
                    if let Some(t) = v["tags"].as_object_mut() {
                        t.remove(key);
                    }
                }
                IamCall::PutRolePolicy { policy_name, document, .. } => v["policies"][policy_name] = document.clone(),
                IamCall::DeleteRolePolicy { policy_name, .. } => {
                    if let Some(p) = v["policies"].as_object_mut() {
                        p.remove(policy_name);
                    }
                }
            }
            let attrs: Attributes = v.as_object().cloned().unwrap_or_default();
            let condition = version.map_or(Condition::MustNotExist, Condition::VersionEquals);
            match self.store.put(ItemData::new(Self::key(role), attrs), condition).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(EnforcerError::Unavailable(format!("{} kept changing; retry", role.arn())))
    }

    async fn observe_scp(&self, name: &str) -> Result<Option<ScpState>, EnforcerError> {
        let Some(item) = self.store.get(&Self::scp_key(name)).await.map_err(store_error)? else { return Ok(None) };
        let v = Value::Object(item.attrs);
        let targets = v["targets"].as_array().map(|t| t.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default();
        Ok(Some(ScpState { id: v["id"].as_str().unwrap_or_default().to_owned(), document: v["document"].clone(), targets }))
    }

    async fn org_call(&self, call: &OrgCall) -> Result<(), EnforcerError> {
        let name = match call {
            OrgCall::CreatePolicy { name, .. } | OrgCall::UpdatePolicy { name, .. } | OrgCall::AttachPolicy { name, .. } | OrgCall::DetachPolicy { name, .. } => name,
        };
        let key = Self::scp_key(name);
        for _ in 0..8 {
            let held = self.store.get(&key).await.map_err(store_error)?;
            let version = held.as_ref().map(|i| i.version);
            let mut v = held.map_or_else(|| json!({"id": format!("p-local{}", name.len()), "targets": []}), |i| Value::Object(i.attrs));
            match call {
                OrgCall::CreatePolicy { document, .. } if version.is_none() => v["document"] = document.clone(),
                OrgCall::CreatePolicy { .. } => return Ok(()),
                OrgCall::UpdatePolicy { document, .. } if version.is_some() => v["document"] = document.clone(),
                OrgCall::AttachPolicy { target, .. } if version.is_some() => {
                    if let Some(t) = v["targets"].as_array_mut() {
                        if !t.iter().any(|x| x == target.as_str()) {
                            t.push(json!(target.as_str()));
                        }
                    }
                }
                OrgCall::DetachPolicy { target, .. } if version.is_some() => {
                    if let Some(t) = v["targets"].as_array_mut() {
                        t.retain(|x| x != target.as_str());
                    }
                }
                _ => return Err(EnforcerError::Unavailable(format!("SCP {name} is not there yet; retry after it is created"))),
            }
            let attrs: Attributes = v.as_object().cloned().unwrap_or_default();
            let condition = version.map_or(Condition::MustNotExist, Condition::VersionEquals);
            match self.store.put(ItemData::new(key.clone(), attrs), condition).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(EnforcerError::Unavailable(format!("SCP {name} kept changing; retry")))
    }

    async fn role_id(&self, role: &RoleRef) -> Result<String, EnforcerError> {
        // A stable stand-in for IAM's AROA… id.
        let h = role.arn().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        Ok(format!("AROALOCAL{h:016X}"))
    }
}
