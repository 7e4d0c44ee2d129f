//! `finops doctor`: which adapters are configured, and whether they work.

use serde::Serialize;
use services::ports::store::{ItemKey, Store};
use services::routing::ROUTES;

use crate::config::{BusChoice, Config, StoreChoice};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

fn check(name: &str, result: Result<String, String>) -> Check {
    match result {
        Ok(detail) => Check { check: name.into(), ok: true, detail },
        Err(detail) => Check { check: name.into(), ok: false, detail },
    }
}

/// A read of a key nobody writes: proves the store answers without changing it.
async fn probe(store: &dyn Store) -> Result<(), String> {
    store.get(&ItemKey::new("DOCTOR", "probe")).await.map(|_| ()).map_err(|e| e.to_string())
}

pub async fn run(config: &Config) -> Report {
    let mut checks = Vec::new();
    match &config.store {
        StoreChoice::Embedded { home } => {
            let path = home.join(store_embedded::STORE_FILE);
            checks.push(check("store adapter", Ok(format!("embedded (redb) at {}", path.display()))));
            let opened = match store_embedded::EmbeddedStore::open(&path) {
                Ok(store) => probe(&store).await.map(|()| "opened and read".to_owned()),
                Err(e) => Err(e.to_string()),
            };
            checks.push(check("store opens", opened));
        }
        StoreChoice::DynamoDb { table } => {
            checks.push(check("store adapter", Ok(format!("dynamodb table {table}"))));
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let store = store_dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
            let opened = match store.status().await {
                Ok(status) => probe(&store).await.map(|()| format!("table {status}, read ok")),
                Err(e) => Err(e.to_string()),
            };
            checks.push(check("store opens", opened));
        }
    }
    match &config.bus {
        BusChoice::Local => {
            checks.push(check("event bus", Ok(format!("local (in-process), {} routes", ROUTES.len()))));
        }
        BusChoice::EventBridge { bus } => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let eb = bus_eventbridge::EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), bus);
            checks.push(check("event bus", eb.describe().await.map(|arn| format!("eventbridge {arn}, {} routes", ROUTES.len()))));
        }
    }
    Report { checks }
}
