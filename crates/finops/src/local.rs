//! The local embedded mode: the governance service on the redb store under
//! `FINOPS_HOME`, events on the in-process bus with the template's routing, and
//! the local token secret.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use bus_local::LocalBus;
use domain::governance::catalog::PriceCatalog;
use http_api::auth::LocalTokens;
use services::governance::{GapDetectorHandler, Governance, TaskGeneratorHandler, GAP_DETECTOR, TASK_GENERATOR};
use services::ports::{SystemClock, UuidV7Ids};
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
    let store = Arc::new(EmbeddedStore::open_home(home)?);
    let bus = Arc::new(LocalBus::new(ROUTES));
    let catalog = PriceCatalog::bundled().map_err(LocalError::Setup)?;
    let thresholds = domain::analytics::cards::Thresholds::from_config(
        std::env::var("FINOPS_CARD_WARN_PCT").ok().as_deref(),
        std::env::var("FINOPS_CARD_CRITICAL_PCT").ok().as_deref(),
    )
    .map_err(LocalError::Setup)?;
    let ledger = Arc::new(fact_ledger::FsLedger::new(home));
    let gov = Arc::new(Governance::new(store, bus.clone(), ledger, Arc::new(SystemClock), Arc::new(UuidV7Ids), Arc::new(catalog)).with_card_thresholds(thresholds));
    bus.register(TASK_GENERATOR, Arc::new(TaskGeneratorHandler(gov.clone()))).map_err(LocalError::Setup)?;
    bus.register(GAP_DETECTOR, Arc::new(GapDetectorHandler(gov.clone()))).map_err(LocalError::Setup)?;
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
