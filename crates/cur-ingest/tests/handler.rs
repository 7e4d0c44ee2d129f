//! The cur-ingest handler against moto's S3 and DynamoDB Local: the sample
//! events drive it, Parquet is read with ranged GETs (fewer bytes than the
//! object), a duplicate delivery changes nothing, non-data objects are skipped,
//! and a malformed object fails with its name and stores nothing.

use std::path::Path;

use contract_tests::attribution_suite::{generated, period};
use contract_tests::emulators::{moto_config, unique_name};
use contract_tests::governed_world::{aws, finops_lead};
use cur_ingest::{handle, IngestError};
use cur_s3::{CurObjectError, S3Cur};
use serde_json::Value;

const KEY: &str = "cur2/finops/data/BILLING_PERIOD=2026-02/finops-00001.snappy.parquet";

async fn s3() -> (aws_sdk_s3::Client, String) {
    let conf = aws_sdk_s3::config::Builder::from(&moto_config().await).force_path_style(true).build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    let bucket = unique_name("cur");
    client.create_bucket().bucket(&bucket).send().await.expect("bucket");
    (client, bucket)
}

async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    client.put_object().bucket(bucket).key(key).body(body.into()).send().await.expect("put");
}

fn sample(name: &str, bucket: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/cur-ingest").join(name);
    let text = std::fs::read_to_string(path).expect("sample event").replace("example-cur-bucket", bucket);
    serde_json::from_str(&text).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_events_ingest_a_parquet_object_once() {
    let w = aws(false).await;
    let (client, bucket) = s3().await;
    let dir = tempfile::tempdir().expect("dir");
    let local = generated(dir.path(), 11, 20_000, 0.3);
    let file = dir.path().join("cur-11-20000.parquet");
    put(&client, &bucket, KEY, std::fs::read(&file).expect("file")).await;
    let reader = S3Cur::new(client.clone());

    let out = handle(&w.gov, &reader, "cur2/", &sample("object-created.json", &bucket)).await.expect("handled");
    let o = &out["objects"][0];
    assert_eq!(o["stored"], "new");
    assert_eq!(o["rows"], 20_000);
    let (fetched, size) = (o["bytes_fetched"].as_u64().expect("n"), o["bytes"].as_u64().expect("n"));
    assert!(fetched < size, "projection reads {fetched} of {size} bytes");
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), local);

    // The same object announced again, as an S3 notification: nothing changes.
    let again = handle(&w.gov, &reader, "cur2/", &sample("s3-notification.json", &bucket)).await.expect("handled");
    assert_eq!(again["objects"][0]["stored"], "unchanged");
    let report = w.gov.attribution_report(&finops_lead(), period()).await.expect("report");
    assert_eq!(report.attributed + report.unattributed + report.adjustments, report.ai_total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_are_skipped_and_bad_objects_store_nothing() {
    let w = aws(false).await;
    let (client, bucket) = s3().await;
    let reader = S3Cur::new(client.clone());
    let event = |key: &str| serde_json::json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {"name": bucket}, "object": {"key": key}}});

    let manifest = "cur2/finops/metadata/BILLING_PERIOD=2026-02/finops-Manifest.json";
    put(&client, &bucket, manifest, b"{}".to_vec()).await;
    let out = handle(&w.gov, &reader, "cur2/", &event(manifest)).await.expect("skipped");
    assert_eq!(out["objects"][0]["skipped"], true);

    let dir = tempfile::tempdir().expect("dir");
    generated(dir.path(), 12, 3000, 0.3);
    let bytes = std::fs::read(dir.path().join("cur-12-3000.parquet")).expect("file");
    put(&client, &bucket, KEY, bytes[..bytes.len() / 2].to_vec()).await;
    match handle(&w.gov, &reader, "cur2/", &event(KEY)).await {
        Err(IngestError::Object(e @ CurObjectError::Read { .. })) => {
            assert!(!e.is_retryable());
            assert!(e.to_string().contains(KEY), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let csv = "cur2/finops/data/BILLING_PERIOD=2026-02/part-0.csv";
    put(&client, &bucket, csv, b"line_item_usage_type,oops\n1,2\n".to_vec()).await;
    match handle(&w.gov, &reader, "cur2/", &event(csv)).await {
        Err(IngestError::Object(CurObjectError::Read { source, .. })) => assert!(source.to_string().contains("line_item_unblended_cost"), "{source}"),
        other => panic!("{other:?}"),
    }
    let missing = "cur2/finops/data/BILLING_PERIOD=2026-02/gone.parquet";
    assert!(matches!(handle(&w.gov, &reader, "cur2/", &event(missing)).await, Err(IngestError::Object(CurObjectError::NotFound { .. }))));
    assert!(w.gov.period_sources(period()).await.expect("sources").is_empty(), "nothing stored");
    assert!(matches!(handle(&w.gov, &reader, "cur2/", &serde_json::json!({"hello": 1})).await, Err(IngestError::NotAnObjectEvent(_))));
}
