//! The local embedded mode: the governance service on the redb store under
//! `FINOPS_HOME`, events on the in-process bus with the template's routing, and
//! the local token secret.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use bus_local::LocalBus;
use domain::governance::catalog::PriceCatalog;
use http_api::auth::LocalTokens;
use services::governance::{GapDetectorHandler, Governance, ModelBlockHandler, TaskGeneratorHandler, GAP_DETECTOR, KILL_SWITCH, TASK_GENERATOR};
use services::ports::{EventBus, FactLedger, Store, SystemClock, UuidV7Ids};

use crate::config::{BusChoice, Config, LedgerChoice, StoreChoice};
use services::routing::ROUTES;
use store_embedded::EmbeddedStore;

pub const SECRET_FILE: &str = "secret";

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{0}")]
    Store(#[from] services::ports::StoreError),
    #[error("token secret {path}: {source}")]
    Secret { path: String, source: std::io::Error },
    #[error("{0}")]
    Setup(String),
}

/// The governance service of the local mode, with the task generator and the
/// gap detector attached to the bus exactly as the template's rules attach the
/// Lambdas. Card thresholds come from `FINOPS_CARD_WARN_PCT` /
/// `FINOPS_CARD_CRITICAL_PCT`, as in the template.
pub fn governance(home: &Path) -> Result<Arc<Governance>, LocalError> {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open_home(home)?);
    let ledger: Arc<dyn FactLedger> = Arc::new(fact_ledger::FsLedger::new(home));
    let enforcer: Arc<dyn services::ports::Enforcer> = Arc::new(enforcers::LocalEnforcer::new(store.clone()));
    assemble(store, None, ledger, enforcer)
}

/// The governance service on the adapters `config` names: the embedded mode
/// by default, or a deployed stack's table, bus and ledger bucket
/// (`FINOPS_STORE=dynamodb`, …), so every command can read a stack's month.
/// With the local bus, this process plays the routed consumers itself.
pub async fn governance_for(config: &Config) -> Result<Arc<Governance>, LocalError> {
    let aws = match (&config.store, &config.bus, &config.ledger) {
        (StoreChoice::Embedded { .. }, BusChoice::Local, LedgerChoice::Local { .. }) => None,
        _ => Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await),
    };
    let store: Arc<dyn Store> = match (&config.store, &aws) {
        (StoreChoice::DynamoDb { table }, Some(sdk)) => Arc::new(store_dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table)),
        (StoreChoice::Embedded { home }, _) => Arc::new(EmbeddedStore::open_home(home)?),
        (StoreChoice::DynamoDb { .. }, None) => return Err(LocalError::Setup("no AWS configuration for DynamoDB".into())),
    };
    let bus: Option<Arc<dyn EventBus>> = match (&config.bus, &aws) {
        (BusChoice::EventBridge { bus }, Some(sdk)) => Some(Arc::new(bus_eventbridge::EventBridgeBus::new(aws_sdk_eventbridge::Client::new(sdk), bus))),
        _ => None,
    };
    let ledger: Arc<dyn FactLedger> = match (&config.ledger, &aws) {
        (LedgerChoice::S3 { bucket }, Some(sdk)) => Arc::new(fact_ledger::S3Ledger::new(s3_client(sdk), bucket)),
        (LedgerChoice::Local { home }, _) => Arc::new(fact_ledger::FsLedger::new(home)),
        (LedgerChoice::S3 { .. }, None) => return Err(LocalError::Setup("no AWS configuration for S3".into())),
    };
    // The kill switch: the store's record locally, IAM for a deployed stack
    // (member accounts through FINOPS_ENFORCER_ROLE).
    let enforcer: Arc<dyn services::ports::Enforcer> = match (&config.store, &aws) {
        (StoreChoice::DynamoDb { .. }, Some(sdk)) => Arc::new(enforcers::IamEnforcer::new(
            sdk.clone(),
            None,
            std::env::var("FINOPS_ENFORCER_ROLE").unwrap_or_else(|_| enforcers::DEFAULT_EXECUTION_ROLE.into()),
        )),
        _ => Arc::new(enforcers::LocalEnforcer::new(store.clone())),
    };
    assemble(store, bus, ledger, enforcer)
}

/// An S3 client, path-style where `FINOPS_S3_FORCE_PATH_STYLE` asks (emulators).
fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var("FINOPS_S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "1" || v == "true");
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build())
}

fn assemble(store: Arc<dyn Store>, bus: Option<Arc<dyn EventBus>>, ledger: Arc<dyn FactLedger>, enforcer: Arc<dyn services::ports::Enforcer>) -> Result<Arc<Governance>, LocalError> {
    let catalog = PriceCatalog::bundled().map_err(LocalError::Setup)?;
    let thresholds = domain::analytics::cards::Thresholds::from_config(
        std::env::var("FINOPS_CARD_WARN_PCT").ok().as_deref(),
        std::env::var("FINOPS_CARD_CRITICAL_PCT").ok().as_deref(),
    )
    .map_err(LocalError::Setup)?;
    let local = bus.is_none().then(|| Arc::new(LocalBus::new(ROUTES)));
    let bus: Arc<dyn EventBus> = match (&bus, &local) {
        (Some(b), _) => b.clone(),
        (None, Some(l)) => l.clone(),
        (None, None) => return Err(LocalError::Setup("no event bus".into())),
    };
    let gov = Arc::new(Governance::new(store, bus, ledger, Arc::new(SystemClock), Arc::new(UuidV7Ids), Arc::new(catalog)).with_card_thresholds(thresholds).with_enforcer(enforcer));
    if let Some(local) = local {
        local.register(TASK_GENERATOR, Arc::new(TaskGeneratorHandler(gov.clone()))).map_err(LocalError::Setup)?;
        local.register(GAP_DETECTOR, Arc::new(GapDetectorHandler(gov.clone()))).map_err(LocalError::Setup)?;
        local.register(KILL_SWITCH, Arc::new(ModelBlockHandler(gov.clone()))).map_err(LocalError::Setup)?;
    }
    Ok(gov)
}

/// The local token signer; the secret is created (32 random bytes, owner-only)
/// on first use.
pub fn tokens(home: &Path) -> Result<LocalTokens, LocalError> {
    let path = home.join(SECRET_FILE);
    let err = |source| LocalError::Secret { path: path.display().to_string(), source };
    let secret = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(home).map_err(err)?;
            let mut bytes = vec![0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| err(std::io::Error::other(e.to_string())))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(&path).and_then(|mut f| f.write_all(&bytes)).map_err(err)?;
            bytes
        }
        Err(e) => return Err(err(e)),
    };
    LocalTokens::new(secret).map_err(|e| LocalError::Setup(e.to_string()))
}
