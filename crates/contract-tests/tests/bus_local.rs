//! The event-bus contract against the in-process bus.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bus_local::LocalBus;
use contract_tests::bus_suite::{BusFixture, ROUTED};
use services::ports::bus::{DomainEvent, EventBus, EventHandler, HandlerError};
use services::routing::Route;

const CONSUMER: &str = "ContractConsumerFunction";
const ROUTES: &[Route] = &[Route { detail_type: ROUTED, consumer: CONSUMER }];

#[derive(Default)]
struct Recorder(Mutex<Vec<DomainEvent>>);

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event.clone());
        Ok(())
    }
}

struct LocalFixture {
    bus: Arc<LocalBus>,
    recorder: Arc<Recorder>,
}

#[async_trait]
impl BusFixture for LocalFixture {
    fn bus(&self) -> Arc<dyn EventBus> {
        self.bus.clone()
    }

    async fn received(&self, _expected: usize) -> Vec<DomainEvent> {
        // Dispatch is inline: everything published has been delivered already.
        assert!(self.bus.dead_letters().is_empty(), "{:?}", self.bus.dead_letters());
        self.recorder.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn fixture() -> Box<dyn BusFixture> {
    let bus = Arc::new(LocalBus::new(ROUTES));
    let recorder = Arc::new(Recorder::default());
    bus.register(CONSUMER, recorder.clone()).expect("register");
    Box::new(LocalFixture { bus, recorder })
}

mod in_process {
    contract_tests::bus_contract_tests!(super::fixture());
}
