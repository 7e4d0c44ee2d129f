//! What IAM would hold, per role, in the store (`IAMSIM#{account}` /
//! `ROLE#{name}`): the local mode has no IAM to change.

use std::sync::Arc;

use async_trait::async_trait;
use domain::governance::enforcement::{IamCall, RoleRef, RoleState, FINOPS_POLICY_PREFIX, SUSPENDED_TAG};
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

    async fn role_id(&self, role: &RoleRef) -> Result<String, EnforcerError> {
        // A stable stand-in for IAM's AROA… id.
        let h = role.arn().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        Ok(format!("AROALOCAL{h:016X}"))
    }
}
