//! What the task-generator function does with one EventBridge delivery.
//!
//! Two triggers share the function: the `BusinessRequestApproved` rule (generate
//! that request's tasks; a duplicate delivery is a no-op) and a schedule (the
//! reconciler: tasks for any approved request that has none, repairing a lost
//! event from state).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use services::governance::{Governance, TaskGeneratorHandler};
use services::ports::bus::{DomainEvent, EventHandler, EVENT_SOURCE};

#[derive(Debug, PartialEq, Eq)]
pub struct Rejected(pub String);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Rejected {}

/// Handles one EventBridge event (the JSON Lambda receives).
pub async fn handle(gov: &std::sync::Arc<Governance>, event: &Value) -> Result<Value, Rejected> {
    let source = event.get("source").and_then(Value::as_str).unwrap_or_default();
    let detail_type = event.get("detail-type").and_then(Value::as_str).unwrap_or_default();
    match (source, detail_type) {
        ("aws.events", "Scheduled Event") => {
            let repaired = gov.reconcile_task_sets().await.map_err(|e| Rejected(e.to_string()))?;
            if !repaired.is_empty() {
                tracing::warn!(count = repaired.len(), "reconciler generated tasks for approvals whose event was lost");
            }
            Ok(json!({"reconciled": repaired}))
        }
        (s, _) if s == EVENT_SOURCE => {
            let time = event
                .get("time")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| Rejected("event has no RFC 3339 time".into()))?;
            let detail = event.get("detail").cloned().unwrap_or(Value::Null);
            let domain_event = DomainEvent::from_delivery(detail_type, time, &detail).map_err(Rejected)?;
            TaskGeneratorHandler(gov.clone()).handle(&domain_event).await.map_err(|e| Rejected(e.to_string()))?;
            Ok(json!({"handled": domain_event.id}))
        }
        _ => Err(Rejected(format!("task-generator does not handle {source:?} / {detail_type:?}"))),
    }
}
