//! What the task-generator function does with one EventBridge delivery.
//!
//! Two triggers share the function: the `BusinessRequestApproved` rule (generate
//! that request's tasks; a duplicate delivery is a no-op) and a schedule (the
//! reconciler: tasks for any approved request that has none, repairing a lost
//! event from state).

use runtime_wiring::{delivery, Delivery, Rejected};
use serde_json::{json, Value};
use services::governance::{Governance, TaskGeneratorHandler};
use services::ports::bus::EventHandler;

/// Handles one EventBridge event (the JSON Lambda receives).
pub async fn handle(gov: &std::sync::Arc<Governance>, event: &Value) -> Result<Value, Rejected> {
    match delivery(event).map_err(|e| Rejected(format!("task-generator: {e}")))? {
        Delivery::Scheduled { .. } => {
            let repaired = gov.reconcile_task_sets().await.map_err(|e| Rejected(e.to_string()))?;
            if !repaired.is_empty() {
                tracing::warn!(count = repaired.len(), "reconciler generated tasks for approvals whose event was lost");
            }
            Ok(json!({"reconciled": repaired}))
        }
        Delivery::Domain(domain_event) => {
            TaskGeneratorHandler(gov.clone()).handle(&domain_event).await.map_err(|e| Rejected(e.to_string()))?;
            Ok(json!({"handled": domain_event.id}))
        }
    }
}
