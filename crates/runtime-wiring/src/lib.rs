//! The composition root shared by every Lambda: clients are built once, at cold
//! start, from the variables the template gives each function.

use std::sync::Arc;

use domain::governance::catalog::PriceCatalog;
use services::governance::Governance;
use services::ports::{SystemClock, UuidV7Ids};

/// JSON logs (CloudWatch reads them as structured), level from `RUST_LOG`/AWS's
/// `AWS_LAMBDA_LOG_LEVEL`.
pub fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level.to_lowercase()))
        .without_time()
        .with_current_span(false)
        .init();
}

/// The governance service on DynamoDB (`FINOPS_TABLE`) and EventBridge (`FINOPS_EVENT_BUS`).
pub async fn governance_from_env() -> Result<Arc<Governance>, String> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = store_dynamodb::DynamoStore::from_env(aws_sdk_dynamodb::Client::new(&sdk)).map_err(|e| e.to_string())?;
    let bus = bus_eventbridge::EventBridgeBus::from_env(aws_sdk_eventbridge::Client::new(&sdk))?;
    let catalog = PriceCatalog::bundled()?;
    Ok(Arc::new(Governance::new(Arc::new(store), Arc::new(bus), Arc::new(SystemClock), Arc::new(UuidV7Ids), Arc::new(catalog))))
}
