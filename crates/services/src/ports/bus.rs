//! The `EventBus` port: domain events out, to whichever functions consume them.
//!
//! State is the truth and events are triggers: a consumer must be idempotent and
//! must have a reconciling path, so a lost or duplicated event never corrupts state.
//! Events travel in EventBridge's shape everywhere (source, detail-type, a JSON
//! detail); the envelope below is what a consumer reads back in either mode.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The EventBridge `source` of every event this product publishes.
pub const EVENT_SOURCE: &str = "finops.center";
/// EventBridge's limit on one PutEvents request (and so on one entry).
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// Our id, unique per event; consumers use it (or the natural key in `detail`)
    /// to make a redelivery a no-op.
    pub id: String,
    /// EventBridge's detail-type: what happened, in PascalCase (`BusinessRequestApproved`).
    pub detail_type: String,
    pub time: DateTime<Utc>,
    /// Ties the event to the request or event chain that caused it.
    pub correlation_id: String,
    pub detail: serde_json::Value,
}

/// What goes into EventBridge's `Detail` field: the event minus what EventBridge
/// carries itself (source, detail-type, time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: String,
    pub correlation_id: String,
    pub data: serde_json::Value,
}

impl DomainEvent {
    pub fn envelope_json(&self) -> String {
        let env = Envelope { event_id: self.id.clone(), correlation_id: self.correlation_id.clone(), data: self.detail.clone() };
        serde_json::to_string(&env).unwrap_or_default()
    }

    /// Rebuilds an event from what EventBridge delivers to a consumer.
    pub fn from_delivery(detail_type: &str, time: DateTime<Utc>, detail: &serde_json::Value) -> Result<Self, String> {
        let env: Envelope = serde_json::from_value(detail.clone())
            .map_err(|e| format!("event {detail_type}: detail is not a FinOps Center envelope: {e}"))?;
        Ok(Self { id: env.event_id, detail_type: detail_type.to_owned(), time, correlation_id: env.correlation_id, detail: env.data })
    }

    /// The size EventBridge counts for this entry (its documented formula: 14 bytes
    /// for the time plus source, detail-type and detail in UTF-8).
    pub fn entry_size(&self) -> usize {
        14 + EVENT_SOURCE.len() + self.detail_type.len() + self.envelope_json().len()
    }
}

/// Checks an event against the rules both adapters share, so that the local bus
/// refuses exactly what EventBridge would.
pub fn validate_event(event: &DomainEvent) -> Result<(), PublishError> {
    let invalid = |reason: String| PublishError::Invalid { event_id: event.id.clone(), reason };
    if event.id.is_empty() {
        return Err(invalid("event id must be non-empty".into()));
    }
    let dt = &event.detail_type;
    if dt.is_empty() || dt.len() > 128 || !dt.bytes().all(|b| b.is_ascii_alphanumeric()) || !dt.as_bytes()[0].is_ascii_uppercase() {
        return Err(invalid(format!("detail-type {dt:?} must be 1 to 128 letters and digits in PascalCase")));
    }
    if !event.detail.is_object() {
        return Err(invalid("detail must be a JSON object".into()));
    }
    let size = event.entry_size();
    if size > MAX_ENTRY_BYTES {
        return Err(invalid(format!("event is {size} bytes; EventBridge takes at most {MAX_ENTRY_BYTES}")));
    }
    Ok(())
}

/// One event that was not published, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEvent {
    pub event_id: String,
    pub detail_type: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PublishError {
    /// The batch holds an event that can never be published. Nothing was published.
    #[error("event {event_id} cannot be published: {reason}")]
    Invalid { event_id: String, reason: String },
    /// Some events were still not accepted after retries; they are named. The
    /// others were published (publishing again is safe: consumers are idempotent).
    #[error("{} of the events were not published after retries: {}", failed.len(), describe(failed))]
    NotPublished { failed: Vec<FailedEvent>, published: usize },
}

fn describe(failed: &[FailedEvent]) -> String {
    failed
        .iter()
        .map(|f| format!("{} ({}): {} {}", f.event_id, f.detail_type, f.code, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes every event of the batch, in order within the batch as far as the
    /// transport allows. Validates the whole batch before sending any of it.
    /// Errors: `Invalid` (nothing sent), `NotPublished` naming what failed.
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError>;
}

/// Why a consumer could not handle an event. A consumer that fails is retried by
/// the transport (EventBridge → Lambda retries, then the DLQ; locally the dead
/// letter list); its reconciler repairs whatever was left undone.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{consumer} could not handle event {event_id}: {message}")]
pub struct HandlerError {
    pub consumer: String,
    pub event_id: String,
    pub message: String,
}

/// A consumer of events: a Lambda function's service in AWS, the same service called
/// in process in local mode.
#[async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, event: &DomainEvent) -> Result<(), HandlerError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail_type: &str, detail: serde_json::Value) -> DomainEvent {
        DomainEvent {
            id: "e-1".into(),
            detail_type: detail_type.into(),
            time: DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z").unwrap().with_timezone(&Utc),
            correlation_id: "c-1".into(),
            detail,
        }
    }

    #[test]
    fn envelope_round_trips() {
        let e = event("BusinessRequestApproved", json!({"request": "r-1"}));
        let delivered: serde_json::Value = serde_json::from_str(&e.envelope_json()).unwrap();
        let back = DomainEvent::from_delivery(&e.detail_type, e.time, &delivered).unwrap();
        assert_eq!(back, e);
        assert!(DomainEvent::from_delivery("X", e.time, &json!({"nope": 1})).unwrap_err().contains("envelope"));
    }

    #[test]
    fn validation_names_the_event_and_rule() {
        assert!(validate_event(&event("CurPeriodIngested", json!({}))).is_ok());
        for (dt, detail, needle) in [
            ("lowercase", json!({}), "PascalCase"),
            ("Has Space", json!({}), "PascalCase"),
            ("Fine", json!([1]), "JSON object"),
            ("Fine", json!({"blob": "x".repeat(MAX_ENTRY_BYTES)}), "at most"),
        ] {
            let err = validate_event(&event(dt, detail)).unwrap_err();
            assert!(matches!(&err, PublishError::Invalid { event_id, .. } if event_id == "e-1"));
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn not_published_names_each_event() {
        let err = PublishError::NotPublished {
            failed: vec![FailedEvent {
                event_id: "e-9".into(),
                detail_type: "X".into(),
                code: "ThrottlingException".into(),
                message: "slow down".into(),
            }],
            published: 3,
        };
        let text = err.to_string();
        assert!(text.contains("e-9") && text.contains("ThrottlingException"), "{text}");
    }
}
