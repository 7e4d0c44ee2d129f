//! The event-bus contract against EventBridge on moto: a rule on the bus sends the
//! routed detail-type to an SQS queue, which the fixture reads back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bus_eventbridge::EventBridgeBus;
use contract_tests::bus_suite::{BusFixture, ROUTED};
use contract_tests::emulators::routed_queue;
use services::ports::bus::{DomainEvent, EventBus, EVENT_SOURCE};

struct EventBridgeFixture {
    bus: Arc<EventBridgeBus>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl EventBridgeFixture {
    async fn drain_once(&self, wait_seconds: i32) -> Vec<DomainEvent> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .expect("receive from SQS");
        let mut events = Vec::new();
        for m in out.messages() {
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or_default()).expect("event JSON");
            let time = chrono::DateTime::parse_from_rfc3339(body["time"].as_str().unwrap_or_default())
                .expect("event time")
                .with_timezone(&chrono::Utc);
            assert_eq!(body["source"], EVENT_SOURCE);
            let dt = body["detail-type"].as_str().unwrap_or_default();
            events.push(DomainEvent::from_delivery(dt, time, &body["detail"]).expect("envelope"));
            if let Some(handle) = m.receipt_handle() {
                self.sqs.delete_message().queue_url(&self.queue_url).receipt_handle(handle).send().await.expect("delete");
            }
        }
        events
    }
}

#[async_trait]
impl BusFixture for EventBridgeFixture {
    fn bus(&self) -> Arc<dyn EventBus> {
        self.bus.clone()
    }

    async fn received(&self, expected: usize) -> Vec<DomainEvent> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.len() < expected && Instant::now() < deadline {
            got.extend(self.drain_once(1).await);
        }
        // Anything beyond what was expected would show up now.
        got.extend(self.drain_once(0).await);
        got
    }
}

async fn fixture() -> Box<dyn BusFixture> {
    let q = routed_queue(&[ROUTED]).await;
    let bus = Arc::new(EventBridgeBus::new(q.eventbridge, &q.bus_name));
    Box::new(EventBridgeFixture { bus, sqs: q.sqs, queue_url: q.queue_url })
}

mod eventbridge_on_moto {
    contract_tests::bus_contract_tests!(super::fixture());
}
