//! What every `EventBus` adapter must do. A fixture wires one consumer to the
//! detail-type [`ROUTED`] and lets the suite read back what that consumer received.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use serde_json::json;
use services::ports::bus::{DomainEvent, EventBus, PublishError, MAX_ENTRY_BYTES};

/// The detail-type the fixture's consumer is subscribed to.
pub const ROUTED: &str = "ContractTestHappened";
/// A detail-type nothing is subscribed to.
pub const UNROUTED: &str = "ContractTestIgnored";

#[async_trait]
pub trait BusFixture: Send + Sync {
    fn bus(&self) -> Arc<dyn EventBus>;
    /// What the consumer received, once at least `expected` events arrived (or a
    /// deadline passed), plus anything else already delivered by then.
    async fn received(&self, expected: usize) -> Vec<DomainEvent>;
}

fn event(i: usize, detail_type: &str) -> DomainEvent {
    DomainEvent {
        id: format!("evt-{i:03}"),
        detail_type: detail_type.to_owned(),
        // Whole seconds: EventBridge keeps event times to the second.
        time: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap_or_default(),
        correlation_id: format!("corr-{}", i % 3),
        detail: json!({"request_id": format!("req-{i}"), "amount": "12.34", "n": i}),
    }
}

fn ids(events: &[DomainEvent]) -> BTreeSet<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

pub async fn twenty_five_events_arrive_as_twenty_five(f: &dyn BusFixture) {
    let sent: Vec<DomainEvent> = (0..25).map(|i| event(i, ROUTED)).collect();
    f.bus().publish(&sent).await.expect("publish");
    let got = f.received(25).await;
    assert_eq!(got.len(), 25, "each event exactly once: {:?}", ids(&got));
    let mut got = got;
    got.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(got, sent, "id, detail-type, time, correlation id and detail survive the trip");
}

pub async fn only_routed_detail_types_are_delivered(f: &dyn BusFixture) {
    let batch = vec![event(1, UNROUTED), event(2, ROUTED), event(3, UNROUTED)];
    f.bus().publish(&batch).await.expect("publish");
    let got = f.received(1).await;
    assert_eq!(ids(&got), BTreeSet::from(["evt-002".to_owned()]));
}

pub async fn an_invalid_event_publishes_nothing_of_its_batch(f: &dyn BusFixture) {
    let mut too_big = event(2, ROUTED);
    too_big.detail = json!({"pad": "x".repeat(MAX_ENTRY_BYTES)});
    let err = f.bus().publish(&[event(1, ROUTED), too_big]).await.unwrap_err();
    assert!(matches!(&err, PublishError::Invalid { event_id, .. } if event_id == "evt-002"), "{err}");
    // A sentinel published afterwards is the only thing that arrives.
    f.bus().publish(&[event(3, ROUTED)]).await.expect("publish sentinel");
    let got = f.received(1).await;
    assert_eq!(ids(&got), BTreeSet::from(["evt-003".to_owned()]));
}

pub async fn an_empty_batch_is_a_no_op(f: &dyn BusFixture) {
    f.bus().publish(&[]).await.expect("empty publish");
    f.bus().publish(&[event(9, ROUTED)]).await.expect("publish sentinel");
    assert_eq!(ids(&f.received(1).await), BTreeSet::from(["evt-009".to_owned()]));
}
