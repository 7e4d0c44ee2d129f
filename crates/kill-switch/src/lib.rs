//! What the kill-switch function does with one invocation that is not an API
//! call: `ModelBlocked` applies the stored model blocks to IAM, and the
//! nightly schedule runs the reconciler, which makes IAM hold every
//! workload's stored enforcement state and every block again (a deny removed
//! by hand comes back, a lost event is applied) and reports what it repaired.

use std::sync::Arc;

use domain::governance::enforcement::ScpTarget;
use domain::AccountId;
use runtime_wiring::{delivery, Delivery, Rejected};
use serde_json::{json, Value};
use services::governance::{Governance, ModelBlockHandler};
use services::ports::bus::EventHandler;

/// The governance service with IAM as its enforcer: the function's own
/// account is `FINOPS_HOME_ACCOUNT`; member accounts are reached through the
/// execution role `FINOPS_ENFORCER_ROLE` (default `FinOpsCenterEnforcer`);
/// the SCP is kept on `FINOPS_SCP_TARGETS`.
pub fn governance_with_iam(sdk: &aws_config::SdkConfig, var: impl Fn(&str) -> Option<String>) -> Result<Arc<Governance>, String> {
    let home = match var("FINOPS_HOME_ACCOUNT").filter(|a| !a.trim().is_empty()) {
        Some(a) => Some(AccountId::parse(a.trim()).map_err(|e| format!("FINOPS_HOME_ACCOUNT: {e}"))?),
        None => None,
    };
    let role = var("FINOPS_ENFORCER_ROLE").filter(|r| !r.trim().is_empty()).unwrap_or_else(|| enforcers::DEFAULT_EXECUTION_ROLE.into());
    let enforcer = Arc::new(enforcers::IamEnforcer::new(sdk.clone(), home, role));
    let scp_targets = scp_targets(var("FINOPS_SCP_TARGETS").as_deref().unwrap_or_default())?;
    Ok(Arc::new(runtime_wiring::governance_on(sdk)?.with_enforcer(enforcer).with_scp_targets(scp_targets)))
}

/// `FINOPS_SCP_TARGETS`: comma-separated roots, OUs or accounts the SCP is
/// kept attached to; empty when the organisation does not allow one.
pub fn scp_targets(raw: &str) -> Result<Vec<ScpTarget>, String> {
    raw.split(',').map(str::trim).filter(|t| !t.is_empty()).map(|t| ScpTarget::parse(t).map_err(|e| format!("FINOPS_SCP_TARGETS: {e}"))).collect()
}

pub async fn handle(gov: &Arc<Governance>, event: &Value) -> Result<Value, Rejected> {
    match delivery(event).map_err(|e| Rejected(format!("kill-switch: {e}")))? {
        Delivery::Scheduled { .. } => {
            // IAM first: a workload's deny must not wait on the organisation's SCP.
            let repaired = gov.reconcile_enforcement().await.map_err(|e| Rejected(format!("kill-switch: reconcile: {e}")))?;
            let blocks = gov.apply_model_blocks().await.map_err(|e| Rejected(format!("kill-switch: model blocks: {e}")))?;
            let scp = gov.reconcile_scp().await.map_err(|e| Rejected(format!("kill-switch: SCP: {e}")))?;
            Ok(json!({"repaired": repaired, "blocks": blocks, "scp": scp}))
        }
        Delivery::Domain(e) => {
            ModelBlockHandler(gov.clone()).handle(&e).await.map_err(|e| Rejected(format!("kill-switch: {e}")))?;
            Ok(json!({"handled": e.id}))
        }
    }
}
