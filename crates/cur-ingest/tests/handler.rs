//! The cur-ingest handler against moto's S3 and DynamoDB Local: the sample
//! events drive it, Parquet is read with ranged GETs (fewer bytes than the
//! object), a duplicate delivery changes nothing, non-data objects are skipped,
//! and a malformed object fails with its name and stores nothing.

use std::path::Path;

use contract_tests::attribution_suite::{generated, period};
use contract_tests::emulators::{moto_config, unique_name};
use contract_tests::governed_world::{aws, finops_lead};
use cur_ingest::{handle, IngestError};
use cur_s3::S3Cur;
use services::governance::GovernanceError;
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
    assert_eq!(o["delivery"]["stored"][0][1], "new");
    assert_eq!(o["delivery"]["announced"], false, "a Data Exports file waits for its manifest to announce the period");
    assert_eq!(w.gov.period_sources(period()).await.expect("sources")[0].rows, 20_000);
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), local);
    // Ranged reads: the projection fetches fewer bytes than the object holds.
    let direct = reader.read(&bucket, KEY).await.expect("read");
    assert!(direct.fetched < direct.size, "projection reads {} of {} bytes", direct.fetched, direct.size);

    // The same object announced again, as an S3 notification: its version is
    // stored already, so it is not even read.
    let again = handle(&w.gov, &reader, "cur2/", &sample("s3-notification.json", &bucket)).await.expect("handled");
    assert_eq!(again["objects"][0]["delivery"]["skipped"], 1);
    let report = w.gov.attribution_report(&finops_lead(), period()).await.expect("report");
    assert_eq!(report.attributed + report.unattributed + report.adjustments, report.ai_total);
}

/// A Data Exports delivery through its manifest: the listed files are stored
/// and the period announced once; a refresh with fewer parts retires the
/// rest; the same manifest again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_is_one_delivery() {
    let w = aws(false).await;
    let (client, bucket) = s3().await;
    let reader = S3Cur::new(client.clone());
    let event = |key: &str| serde_json::json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {"name": bucket}, "object": {"key": key}}});
    let dir = tempfile::tempdir().expect("dir");
    let (a, b) = (generated(dir.path(), 21, 4000, 0.4), generated(dir.path(), 22, 4000, 0.4));
    let part = |n: u32| format!("cur2/finops/data/BILLING_PERIOD=2026-02/finops-0000{n}.snappy.parquet");
    put(&client, &bucket, &part(1), std::fs::read(dir.path().join("cur-21-4000.parquet")).expect("file")).await;
    put(&client, &bucket, &part(2), std::fs::read(dir.path().join("cur-22-4000.parquet")).expect("file")).await;
    let manifest_key = "cur2/finops/metadata/BILLING_PERIOD=2026-02/finops-Manifest.json";
    let manifest = |exec: &str, parts: &[u32]| {
        let files: Vec<String> = parts.iter().map(|n| format!("s3://{bucket}/{}", part(*n))).collect();
        serde_json::json!({"executionId": exec, "exportArn": "arn:aws:bcm-data-exports:us-east-1:111122223333:export/finops", "dataFiles": files}).to_string().into_bytes()
    };
    put(&client, &bucket, manifest_key, manifest("exec-1", &[1, 2])).await;
    // The sample event of a manifest's arrival drives the first delivery.
    let out = handle(&w.gov, &reader, "cur2/", &sample("manifest-created.json", &bucket)).await.expect("delivery");
    let d = &out["objects"][0]["delivery"];
    assert_eq!((d["stored"].as_array().map(Vec::len), &d["announced"]), (Some(2), &serde_json::json!(true)));
    let mut ab = a.clone();
    ab.merge(&b);
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), ab);
    // The refresh writes one part: the other stops counting.
    put(&client, &bucket, manifest_key, manifest("exec-2", &[1])).await;
    let out = handle(&w.gov, &reader, "cur2/", &event(manifest_key)).await.expect("delivery");
    assert_eq!(out["objects"][0]["delivery"]["retired"], serde_json::json!(["finops/data/BILLING_PERIOD=2026-02/finops-00002.snappy.parquet"]));
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), a);
    // The same manifest delivered twice: nothing.
    let again = handle(&w.gov, &reader, "cur2/", &event(manifest_key)).await.expect("delivery");
    assert_eq!(again["objects"][0]["delivery"]["duplicate"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_and_bad_objects_store_nothing() {
    let w = aws(false).await;
    let (client, bucket) = s3().await;
    let reader = S3Cur::new(client.clone());
    let event = |key: &str| serde_json::json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {"name": bucket}, "object": {"key": key}}});

    let manifest = "cur2/finops/metadata/BILLING_PERIOD=2026-02/finops-Manifest.json";
    put(&client, &bucket, manifest, b"{}".to_vec()).await;
    match handle(&w.gov, &reader, "cur2/", &event(manifest)).await {
        Err(e @ IngestError::Manifest(_)) => assert!(e.to_string().contains(manifest) && e.to_string().contains("executionId"), "{e}"),
        other => panic!("{other:?}"),
    }
    let other = "cur2/finops/metadata/BILLING_PERIOD=2026-02/finops-summary.json";
    put(&client, &bucket, other, b"{}".to_vec()).await;
    assert_eq!(handle(&w.gov, &reader, "cur2/", &event(other)).await.expect("skipped")["objects"][0]["skipped"], true);

    let dir = tempfile::tempdir().expect("dir");
    generated(dir.path(), 12, 3000, 0.3);
    let bytes = std::fs::read(dir.path().join("cur-12-3000.parquet")).expect("file");
    put(&client, &bucket, KEY, bytes[..bytes.len() / 2].to_vec()).await;
    match handle(&w.gov, &reader, "cur2/", &event(KEY)).await {
        Err(IngestError::Store(e @ GovernanceError::Invalid(_))) => assert!(e.to_string().contains(KEY) && e.to_string().contains("Parquet"), "{e}"),
        other => panic!("{other:?}"),
    }
    let csv = "cur2/finops/data/BILLING_PERIOD=2026-02/part-0.csv";
    put(&client, &bucket, csv, b"line_item_usage_type,oops\n1,2\n".to_vec()).await;
    match handle(&w.gov, &reader, "cur2/", &event(csv)).await {
        Err(IngestError::Store(e @ GovernanceError::Invalid(_))) => assert!(e.to_string().contains("line_item_unblended_cost"), "{e}"),
        other => panic!("{other:?}"),
    }
    let missing = "cur2/finops/data/BILLING_PERIOD=2026-02/gone.parquet";
    assert!(matches!(handle(&w.gov, &reader, "cur2/", &event(missing)).await, Err(IngestError::Store(GovernanceError::NotFound { .. }))));
    assert!(w.gov.period_sources(period()).await.expect("sources").is_empty(), "nothing stored");
    assert!(matches!(handle(&w.gov, &reader, "cur2/", &serde_json::json!({"hello": 1})).await, Err(IngestError::NotAnObjectEvent(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_stores_the_athena_answer_once_and_never_over_delivered_cur() {
    use cur_athena::{AthenaCur, CurTable, RESULT_COLUMNS};
    use serde_json::json;
    let w = aws(false).await;
    let (client, _) = s3().await;
    let reader = S3Cur::new(client);
    let b = cur_ingest::Backfill {
        athena: AthenaCur::new(aws_sdk_athena::Client::new(&moto_config().await), "primary", Some("s3://athena-results/".into())),
        table: CurTable { database: "cid".into(), table: "cur2".into(), period_column: "billing_period".into(), principal_column: true, cost_bases: true },
    };
    let header = json!({"Data": RESULT_COLUMNS.iter().map(|c| json!({"VarCharValue": c})).collect::<Vec<_>>()});
    let row = |cells: &[Option<&str>]| json!({"Data": cells.iter().map(|c| c.map_or(json!({}), |v| json!({"VarCharValue": v}))).collect::<Vec<_>>()});
    let rows = vec![
        header,
        row(&[Some("true"), Some("2026-01-05"), Some("111122223333"), Some("AmazonBedrock"), Some("USE1-NovaLite-input-tokens"), Some("InvokeModel"), Some("Usage"), None,
              Some("arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/app"), None, Some("1000.0000000000"), Some("0.0600000000"), Some("3"),
              Some("0.0580000000"), Some("0.0600000000"), Some("0.0600000000")]),
        row(&[Some("false"), None, Some("111122223333"), None, None, None, None, None, None, None, Some("10.0000000000"), Some("12.3400000000"), Some("9"),
              Some("12.0000000000"), Some("12.3400000000"), Some("12.3400000000")]),
    ];
    let endpoint = contract_tests::emulators::required_env(contract_tests::emulators::MOTO_ENV);
    reqwest_seed(&endpoint, json!({"account_id": "123456789012", "region": "us-east-1", "results": [{"rows": rows, "column_info": []}]})).await;
    let event = sample_backfill();
    let out = cur_ingest::handle_with(&w.gov, &reader, "cur2/", Some(&b), &event).await.expect("backfill");
    assert_eq!(out["stored"], "new");
    let jan = domain::BillingPeriod::parse("2026-01").expect("period");
    let facts = w.gov.period_facts(jan).await.expect("facts");
    assert_eq!(facts.len(), 1);
    assert_eq!(facts.non_ai.values().map(|m| m.to_string()).collect::<Vec<_>>(), ["$12.34"]);
    // The net basis comes through Athena's answer too.
    assert_eq!(facts.net.non_ai.values().map(|m| m.to_string()).collect::<Vec<_>>(), ["$12.00"]);
    // Without Athena configured, a backfill is refused by name.
    let err = handle(&w.gov, &reader, "cur2/", &event).await.unwrap_err();
    assert!(err.to_string().contains("FINOPS_CUR_TABLE"), "{err}");
    // A period with delivered CUR is never backfilled on top.
    let dir = tempfile::tempdir().expect("dir");
    let feb = generated(dir.path(), 13, 500, 0.5);
    w.gov
        .store_source_facts(services::governance::SourceFacts { period: period(), source: "s3://cur/feb.parquet", facts: &feb, rows: 500, principal_column: true, version: None, delivery: None })
        .await
        .expect("store");
    let feb_event = json!({"backfill": {"period": "2026-02"}});
    let err = cur_ingest::handle_with(&w.gov, &reader, "cur2/", Some(&b), &feb_event).await.unwrap_err();
    assert!(err.to_string().contains("count it twice"), "{err}");
}

fn sample_backfill() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/cur-ingest/backfill.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json")
}

async fn reqwest_seed(endpoint: &str, body: Value) {
    let res = reqwest::Client::new().post(format!("{endpoint}/moto-api/static/athena/query-results")).json(&body).send().await.expect("seed");
    assert!(res.status().is_success());
}

/// A delivery whose notification never came is ingested by the nightly run,
/// which lists the newest manifest of each export for last month and this
/// month; the next night finds it stored and reads nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nightly_run_ingests_a_delivery_whose_notification_was_lost() {
    let w = aws(false).await;
    let (client, bucket) = s3().await;
    let reader = S3Cur::new(client.clone());
    let dir = tempfile::tempdir().expect("dir");
    let facts = generated(dir.path(), 31, 4000, 0.4);
    let part = "cur2/finops/data/BILLING_PERIOD=2026-02/finops-00001.snappy.parquet";
    put(&client, &bucket, part, std::fs::read(dir.path().join("cur-31-4000.parquet")).expect("file")).await;
    let manifest = |exec: &str| {
        serde_json::json!({"executionId": exec, "exportArn": "arn:aws:bcm-data-exports:us-east-1:111122223333:export/finops", "dataFiles": [format!("s3://{bucket}/{part}")]}).to_string().into_bytes()
    };
    put(&client, &bucket, "cur2/finops/metadata/BILLING_PERIOD=2026-02/finops-Manifest.json", manifest("exec-1")).await;
    // Another period, outside last month and this month: not the night's business.
    put(&client, &bucket, "cur2/finops/metadata/BILLING_PERIOD=2025-11/finops-Manifest.json", manifest("exec-old")).await;
    let cur = cur_ingest::CurConfig { bucket: Some(bucket.clone()), prefix: "cur2/".into(), table: None };
    let nightly = contract_tests::lambda_events::sample("cur-ingest", "scheduled-nightly.json");
    assert!(w.gov.period_sources(period()).await.expect("sources").is_empty(), "no notification came");
    let out = cur_ingest::handle_any(&w.gov, &reader, &cur, None, &nightly).await.expect("nightly");
    let done = out["reconciled"].as_array().expect("reconciled");
    assert_eq!(done.len(), 1, "{out}");
    assert_eq!(done[0]["delivery"]["stored"].as_array().map(Vec::len), Some(1));
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), facts);
    // The month's FOCUS export is written where the Glue `focus` table reads
    // it; March, with no CUR, has none.
    let key = services::governance::focus_export_key(period());
    assert_eq!(out["focus_exports"], serde_json::json!([key]), "{out}");
    assert_eq!(w.ledger.list("exports/focus").await.expect("list"), std::slice::from_ref(&key));
    let again = cur_ingest::handle_any(&w.gov, &reader, &cur, None, &nightly).await.expect("nightly again");
    assert_eq!(again["reconciled"][0]["delivery"]["duplicate"], true, "{again}");
    assert_eq!(w.ledger.list("exports/focus").await.expect("list"), [key], "rewritten in place");
    // Without the bucket the nightly run says what it needs.
    let none = cur_ingest::CurConfig { bucket: None, ..cur };
    let e = cur_ingest::handle_any(&w.gov, &reader, &none, None, &nightly).await.unwrap_err();
    assert!(e.to_string().contains("FINOPS_CUR_LOCATION"), "{e}");
}
