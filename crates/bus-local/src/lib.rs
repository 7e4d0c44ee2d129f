//! The `EventBus` port in process, for the local embedded mode.
//!
//! It routes by the same table as `template.yaml`'s EventBridge rules
//! (`services::routing::ROUTES`) and calls each consumer's handler inline, so a
//! local run exercises the same event chains as a deployed stack. A consumer that
//! fails does not fail the publisher (as in AWS, where it would go to its DLQ): the
//! event is kept in [`LocalBus::dead_letters`], and the consumer's reconciler
//! repairs what was left undone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use services::ports::bus::{validate_event, DomainEvent, EventBus, EventHandler, PublishError};
use services::routing::{consumers_of, Route};

/// An event a consumer could not take.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub consumer: String,
    pub event: DomainEvent,
    pub error: String,
}

pub struct LocalBus {
    routes: Vec<Route>,
    handlers: RwLock<HashMap<String, Arc<dyn EventHandler>>>,
    dead_letters: Mutex<Vec<DeadLetter>>,
}

impl LocalBus {
    pub fn new(routes: &[Route]) -> Self {
        Self { routes: routes.to_vec(), handlers: RwLock::new(HashMap::new()), dead_letters: Mutex::new(Vec::new()) }
    }

    /// Attaches the handler of a consumer named in the routing table. Naming a
    /// consumer the table does not route to is a wiring mistake, reported as such.
    pub fn register(&self, consumer: &str, handler: Arc<dyn EventHandler>) -> Result<(), String> {
        if !self.routes.iter().any(|r| r.consumer == consumer) {
            return Err(format!("no route delivers any event to {consumer}; add it to services::routing::ROUTES"));
        }
        self.handlers.write().unwrap_or_else(|p| p.into_inner()).insert(consumer.to_owned(), handler);
        Ok(())
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn dead_letter(&self, consumer: &str, event: &DomainEvent, error: String) {
        tracing::warn!(consumer, event_id = %event.id, detail_type = %event.detail_type, %error, "event not handled");
        self.dead_letters.lock().unwrap_or_else(|p| p.into_inner()).push(DeadLetter {
            consumer: consumer.to_owned(),
            event: event.clone(),
            error,
        });
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError> {
        for e in events {
            validate_event(e)?;
        }
        for event in events {
            for consumer in consumers_of(&self.routes, &event.detail_type) {
                // Clone the handler out so no lock is held while it runs (it may publish).
                let handler = self.handlers.read().unwrap_or_else(|p| p.into_inner()).get(consumer).cloned();
                match handler {
                    Some(h) => {
                        if let Err(e) = h.handle(event).await {
                            self.dead_letter(consumer, event, e.to_string());
                        }
                    }
                    None => self.dead_letter(consumer, event, "no handler registered".into()),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use services::ports::bus::HandlerError;

    struct Failing;
    #[async_trait]
    impl EventHandler for Failing {
        async fn handle(&self, event: &DomainEvent) -> Result<(), HandlerError> {
            Err(HandlerError { consumer: "F".into(), event_id: event.id.clone(), message: "boom".into() })
        }
    }

    fn ev(dt: &str) -> DomainEvent {
        DomainEvent { id: "e1".into(), detail_type: dt.into(), time: Utc::now(), correlation_id: "c".into(), detail: serde_json::json!({}) }
    }

    const ROUTES: &[Route] = &[Route { detail_type: "Happened", consumer: "F" }, Route { detail_type: "Other", consumer: "G" }];

    #[tokio::test]
    async fn a_failing_consumer_dead_letters_without_failing_the_publisher() {
        let bus = LocalBus::new(ROUTES);
        bus.register("F", Arc::new(Failing)).unwrap();
        bus.publish(&[ev("Happened")]).await.unwrap();
        let dl = bus.dead_letters();
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0].consumer, "F");
        assert!(dl[0].error.contains("boom"));
    }

    #[tokio::test]
    async fn a_routed_consumer_without_handler_is_visible() {
        let bus = LocalBus::new(ROUTES);
        bus.publish(&[ev("Other")]).await.unwrap();
        assert_eq!(bus.dead_letters()[0].error, "no handler registered");
    }

    #[test]
    fn registering_an_unrouted_consumer_is_refused() {
        let bus = LocalBus::new(ROUTES);
        assert!(bus.register("Nobody", Arc::new(Failing)).unwrap_err().contains("ROUTES"));
    }
}
