//! Facts lent to the announcement: the local ingest hands the facts it just
//! stored to the gap detection its own bus runs, instead of that detection
//! reading the object back. The gaps must be exactly those the object gives,
//! the object must not be read while the facts are lent, and the loan must
//! end with the announcement.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bus_local::LocalBus;
use chrono::{TimeZone, Utc};
use contract_tests::attribution_suite::{fixture, generated, period};
use contract_tests::governed_world::{finops_lead, sample_hierarchy};
use domain::analytics::gaps::Gap;
use domain::cur::facts::Facts;
use domain::governance::catalog::PriceCatalog;
use domain::invocations::{UsageFacts, UsageTable};
use fact_ledger::FsLedger;
use services::governance::{GapDetectorHandler, Governance, SourceFacts, Stored, GAP_DETECTOR};
use services::ports::ledger::{LedgerError, Written};
use services::ports::{FactLedger, FixedClock, SequentialIds};
use services::routing::ROUTES;
use store_embedded::EmbeddedStore;

/// The folder ledger, counting the CUR fact objects read from it.
struct Counting {
    inner: FsLedger,
    reads: AtomicUsize,
}

#[async_trait]
impl FactLedger for Counting {
    async fn write(&self, key: &str, facts: &Facts) -> Result<Written, LedgerError> {
        self.inner.write(key, facts).await
    }
    async fn read(&self, key: &str) -> Result<Facts, LedgerError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read(key).await
    }
    async fn write_usage(&self, key: &str, facts: &UsageFacts) -> Result<Written, LedgerError> {
        self.inner.write_usage(key, facts).await
    }
    async fn read_usage(&self, key: &str) -> Result<UsageTable, LedgerError> {
        self.inner.read_usage(key).await
    }
    async fn write_table(&self, key: &str, table: &domain::exports::Table) -> Result<Written, LedgerError> {
        self.inner.write_table(key, table).await
    }
    async fn delete(&self, key: &str) -> Result<(), LedgerError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        self.inner.list(prefix).await
    }
}

/// The embedded mode with gap detection on its in-process bus, as `finops`
/// runs it; the generator's claims imported.
async fn local(dir: &std::path::Path) -> (Arc<Governance>, Arc<Counting>) {
    let store = Arc::new(EmbeddedStore::in_memory().expect("store"));
    let bus = Arc::new(LocalBus::new(ROUTES));
    let ledger = Arc::new(Counting { inner: FsLedger::new(dir), reads: AtomicUsize::new(0) });
    let clock = Arc::new(FixedClock::at(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().expect("time")));
    let gov = Arc::new(Governance::new(store, bus.clone(), ledger.clone(), clock, Arc::new(SequentialIds::new("id")), Arc::new(PriceCatalog::bundled().expect("catalogue"))));
    bus.register(GAP_DETECTOR, Arc::new(GapDetectorHandler(gov.clone()))).expect("route");
    gov.define_hierarchy(&finops_lead(), sample_hierarchy()).await.expect("hierarchy");
    gov.import(&finops_lead(), fixture()).await.expect("import");
    (gov, ledger)
}

/// Stores `facts` and announces them, lending them or not; returns the gaps
/// detected and how many objects the announcement read.
async fn ingest(facts: &Facts, lend: bool) -> (Vec<Gap>, usize, Arc<Governance>, Arc<Counting>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("ledger folder");
    let (gov, ledger) = local(dir.path()).await;
    let source = "cur-feb.parquet";
    let stored = gov
        .store_source(SourceFacts { period: period(), source, facts, rows: facts.ai_rows(), principal_column: true, version: None, delivery: None })
        .await
        .expect("store");
    assert_eq!(stored.stored, Stored::New);
    let before = ledger.reads.load(Ordering::SeqCst);
    gov.announce_source(period(), source, &stored, lend.then(|| facts.clone())).await;
    let reads = ledger.reads.load(Ordering::SeqCst) - before;
    let gaps = gov.gaps_report(&finops_lead(), period()).await.expect("gaps").gaps;
    (gaps, reads, gov, ledger, dir)
}

#[tokio::test]
async fn lent_facts_give_the_gaps_the_stored_object_gives_without_reading_it() {
    let dir = tempfile::tempdir().expect("dir");
    let facts = generated(dir.path(), 11, 6000, 0.6);
    let (read_back, reads_back, ..) = ingest(&facts, false).await;
    let (lent, reads_lent, gov, ledger, _dir) = ingest(&facts, true).await;
    assert_eq!(reads_back, 1, "without a loan, detection reads the object");
    assert_eq!(reads_lent, 0, "with a loan, detection takes the lent facts");
    assert!(read_back.len() > 3, "the generated month raises gaps: {read_back:?}");
    assert_eq!(lent, read_back);
    // The loan ended with the announcement: detection reads the object again.
    let before = ledger.reads.load(Ordering::SeqCst);
    let summary = gov.detect_gaps(period()).await.expect("redetect");
    assert_eq!(ledger.reads.load(Ordering::SeqCst) - before, 1);
    assert_eq!((summary.opened, summary.updated), (0, 0), "the object's facts say what the lent ones said");
}
