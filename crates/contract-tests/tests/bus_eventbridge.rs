//! The event-bus contract against EventBridge on moto: a rule on the bus sends the
//! routed detail-type to an SQS queue, which the fixture reads back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use bus_eventbridge::EventBridgeBus;
use contract_tests::bus_suite::{BusFixture, ROUTED};
use contract_tests::emulators::{moto_config, unique_name};
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
    let config = moto_config().await;
    let eb = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = unique_name("ct");
    eb.create_event_bus().name(&name).send().await.expect("create bus");
    // moto refuses PutEvents when a rule targets a queue that does not exist: queue first.
    let queue_url = sqs.create_queue().queue_name(&name).send().await.expect("create queue").queue_url().unwrap_or_default().to_owned();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue arn");
    let queue_arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
    let pattern = serde_json::json!({"source": [EVENT_SOURCE], "detail-type": [ROUTED]}).to_string();
    eb.put_rule().name(&name).event_bus_name(&name).event_pattern(pattern).send().await.expect("put rule");
    eb.put_targets()
        .rule(&name)
        .event_bus_name(&name)
        .targets(Target::builder().id("queue").arn(queue_arn).build().expect("target"))
        .send()
        .await
        .expect("put targets");
    let bus = Arc::new(EventBridgeBus::new(eb, &name));
    Box::new(EventBridgeFixture { bus, sqs, queue_url })
}

mod eventbridge_on_moto {
    contract_tests::bus_contract_tests!(super::fixture());
}
