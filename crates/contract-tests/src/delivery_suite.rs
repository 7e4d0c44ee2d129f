//! Deliveries in every world: a Data Exports manifest is one delivery: its
//! files are stored (unchanged ones not read again), the export's parts it no
//! longer lists stop counting, a duplicate manifest changes nothing, a file
//! that arrives after its manifest completes the delivery, and the period is
//! announced once per delivery.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use domain::cur::delivery::Delivery;
use domain::cur::facts::Facts;
use services::governance::Stored;
use services::ports::cur::{CurRead, CurSource, CurSourceError};

use crate::attribution_suite::{generated, period};
use crate::governed_world::World;

/// CUR objects in memory, with a read counter: what S3 or a folder holds.
#[derive(Default)]
pub struct MemoryCur {
    objects: Mutex<BTreeMap<String, (String, Facts)>>,
    pub reads: Mutex<usize>,
}

impl MemoryCur {
    pub fn put(&self, location: &str, version: &str, facts: Facts) {
        self.objects.lock().expect("lock").insert(location.to_owned(), (version.to_owned(), facts));
    }
    fn reads(&self) -> usize {
        *self.reads.lock().expect("lock")
    }
}

#[async_trait]
impl CurSource for MemoryCur {
    async fn version(&self, location: &str) -> Result<Option<String>, CurSourceError> {
        Ok(self.objects.lock().expect("lock").get(location).map(|(v, _)| v.clone()))
    }
    async fn read(&self, location: &str) -> Result<CurRead, CurSourceError> {
        *self.reads.lock().expect("lock") += 1;
        let facts = self.objects.lock().expect("lock").get(location).map(|(_, f)| f.clone());
        let facts = facts.ok_or_else(|| CurSourceError::Unavailable { location: location.into(), reason: "gone".into() })?;
        Ok(CurRead { rows: facts.ai_rows(), principal_column: true, facts })
    }
}

const PART: &str = "s3://cur/exports/ai/data/BILLING_PERIOD=2026-02/ai-0000";

fn part(n: u32) -> String {
    format!("{PART}{n}.snappy.parquet")
}

fn manifest(execution: &str, parts: &[u32]) -> Delivery {
    let files: Vec<String> = parts.iter().map(|n| format!("\"{}\"", part(*n))).collect();
    Delivery::parse(&format!(r#"{{"executionId":"{execution}","exportArn":"arn:aws:bcm-data-exports:us-east-1:111122223333:export/ai","dataFiles":[{}]}}"#, files.join(","))).expect("manifest")
}

fn merged(parts: &[&Facts]) -> Facts {
    let mut all = Facts::default();
    for p in parts {
        all.merge(p);
    }
    all
}

pub async fn a_redelivery_with_fewer_parts_retires_the_rest(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let (a, b, c) = (generated(dir.path(), 31, 3000, 0.5), generated(dir.path(), 32, 3000, 0.5), generated(dir.path(), 33, 3000, 0.5));
    let src = MemoryCur::default();
    src.put(&part(1), "v1", a.clone());
    src.put(&part(2), "v1", b.clone());
    src.put(&part(3), "v1", c.clone());
    let first = w.gov.ingest_delivery(&src, &manifest("exec-1", &[1, 2, 3])).await.expect("delivery");
    assert_eq!((first.stored.len(), first.announced), (3, true));
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), merged(&[&a, &b, &c]));
    // The refresh writes two parts: part 3 stops counting; part 2 changed.
    let b2 = generated(dir.path(), 34, 2000, 0.5);
    src.put(&part(2), "v2", b2.clone());
    let reads = src.reads();
    let second = w.gov.ingest_delivery(&src, &manifest("exec-2", &[1, 2])).await.expect("delivery");
    assert_eq!(src.reads() - reads, 1, "the unchanged part is not read again");
    assert_eq!(second.skipped, 1);
    assert_eq!(second.retired, ["ai/data/BILLING_PERIOD=2026-02/ai-00003.snappy.parquet"]);
    assert!(second.announced);
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), merged(&[&a, &b2]));
    // The retired source's object is gone; its manifest stays, retired.
    let all = w.gov.all_period_sources(period()).await.expect("sources");
    assert_eq!(all.iter().filter(|m| m.retired.is_some()).count(), 1);
    let objects = w.ledger.list(&services::governance::ledger::period_prefix(period())).await.expect("list");
    assert_eq!(objects.len(), 2);
    // A part the export writes again later counts again.
    src.put(&part(3), "v3", c.clone());
    let third = w.gov.ingest_delivery(&src, &manifest("exec-3", &[1, 2, 3])).await.expect("delivery");
    assert_eq!(third.stored, [("ai/data/BILLING_PERIOD=2026-02/ai-00003.snappy.parquet".to_owned(), Stored::Replaced)]);
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), merged(&[&a, &b2, &c]));
}

pub async fn a_duplicate_manifest_changes_nothing(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let src = MemoryCur::default();
    src.put(&part(1), "v1", generated(dir.path(), 41, 2000, 0.5));
    let d = manifest("exec-1", &[1]);
    assert!(w.gov.ingest_delivery(&src, &d).await.expect("delivery").announced);
    let facts = w.gov.period_facts(period()).await.expect("facts");
    let reads = src.reads();
    let again = w.gov.ingest_delivery(&src, &d).await.expect("again");
    assert!(again.duplicate && !again.announced && again.stored.is_empty());
    assert_eq!(src.reads(), reads, "nothing read");
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), facts);
}

/// Data files arrive before their manifest (announcing nothing), the manifest
/// announces them once; a file listed but not there yet is recorded missing
/// and completes the delivery when it comes, announced once more.
pub async fn files_before_and_after_their_manifest(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let (a, b) = (generated(dir.path(), 51, 2000, 0.5), generated(dir.path(), 52, 2000, 0.5));
    let src = MemoryCur::default();
    src.put(&part(1), "v1", a.clone());
    let early = w.gov.ingest_file(&src, &part(1), period(), "ai/data/BILLING_PERIOD=2026-02/ai-00001.snappy.parquet").await.expect("file");
    assert_eq!((early.stored.len(), early.announced), (1, false), "a delivery's own file waits for its manifest");
    let reads = src.reads();
    let d = w.gov.ingest_delivery(&src, &manifest("exec-1", &[1, 2])).await.expect("delivery");
    assert_eq!(src.reads(), reads, "the early file is not read again");
    assert_eq!((d.skipped, d.missing.len(), d.announced), (1, 1, true));
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), a);
    src.put(&part(2), "v1", b.clone());
    let late = w.gov.ingest_file(&src, &part(2), period(), "ai/data/BILLING_PERIOD=2026-02/ai-00002.snappy.parquet").await.expect("late file");
    assert!(late.announced, "the late file completes its delivery");
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), merged(&[&a, &b]));
    // Now the delivery is whole: its manifest again is a duplicate.
    assert!(w.gov.ingest_delivery(&src, &manifest("exec-1", &[1, 2])).await.expect("again").duplicate);
    // A manual copy outside any export is announced on its own.
    src.put("s3://cur/manual/feb.parquet", "m1", generated(dir.path(), 53, 500, 0.5));
    assert!(w.gov.ingest_file(&src, "s3://cur/manual/feb.parquet", period(), "s3://cur/manual/feb.parquet").await.expect("manual").announced);
}

#[macro_export]
macro_rules! delivery_tests {
    ($make:path) => {
        $crate::delivery_tests!(@cases $make;
            a_redelivery_with_fewer_parts_retires_the_rest,
            a_duplicate_manifest_changes_nothing,
            files_before_and_after_their_manifest
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::delivery_suite::$case($make(false).await).await;
            }
        )*
    };
}
