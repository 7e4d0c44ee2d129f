//! The usage-stream handler against moto's S3 and DynamoDB Local, driven by
//! the sample events: a `.json.gz` log object and a CloudWatch Logs delivery
//! are stored once (a duplicate changes nothing), an unreadable record is
//! counted, the hourly schedule detects, and an event it does not handle, or
//! an object that is not gzip, fails with its name and stores nothing.

use std::io::Write;
use std::path::Path;

use contract_tests::emulators::{moto_config, unique_name};
use contract_tests::governed_world::aws;
use domain::BillingPeriod;
use serde_json::Value;

const KEY: &str = "AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/03/01/09/20260301T092601681Z_3f2a9c1b7d4e5a60.json.gz";

async fn s3() -> (aws_sdk_s3::Client, String) {
    let conf = aws_sdk_s3::config::Builder::from(&moto_config().await).force_path_style(true).build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    let bucket = unique_name("logs");
    client.create_bucket().bucket(&bucket).send().await.expect("bucket");
    (client, bucket)
}

fn sample(name: &str, bucket: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/usage-stream").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample event").replace("example-bedrock-logs", bucket)).expect("json")
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).expect("gzip");
    e.finish().expect("gzip")
}

fn record(at: &str, tokens: u64) -> String {
    format!(
        r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"{at}","accountId":"111122223333","identity":{{"arn":"arn:aws:sts::111122223333:assumed-role/example-app/worker"}},"region":"us-east-1","requestId":"r","operation":"Converse","modelId":"us.anthropic.claude-3-haiku-20240307-v1:0","input":{{"inputTokenCount":{tokens}}},"output":{{"outputTokenCount":0}}}}"#
    )
}

fn march() -> BillingPeriod {
    BillingPeriod::parse("2026-03").expect("period")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_object_and_a_subscription_delivery_are_stored_once_and_detected() {
    let w = aws(false).await;
    let (client, bucket) = s3().await;
    let text = [record("2026-03-01T09:21:07Z", 1_000_000), "not a record".to_owned(), record("2026-03-01T09:25:00Z", 3_000_000)].join("\n");
    client.put_object().bucket(&bucket).key(KEY).body(gz(&text).into()).send().await.expect("put");

    let out = usage_stream::handle(&w.gov, &client, &sample("object-created.json", &bucket)).await.expect("handled");
    let o = &out["objects"][0];
    assert_eq!((o["records"].as_u64(), o["unreadable"].as_u64(), o["duplicate"].as_bool()), (Some(3), Some(1), Some(false)), "{out}");
    assert_eq!(o["days"], serde_json::json!(["2026-03-01"]));
    assert!(out["detection"]["findings"].is_number(), "{out}");
    let sources = w.gov.usage_sources(march()).await.expect("sources");
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].source, format!("s3://{bucket}/{KEY}"));
    assert_eq!(sources[0].cost.to_string(), "$1.00", "4M Haiku input tokens at $0.00025 per 1K");

    // The same notification again: nothing changes.
    let again = usage_stream::handle(&w.gov, &client, &sample("object-created.json", &bucket)).await.expect("again");
    assert_eq!(again["objects"][0]["duplicate"], true);
    assert_eq!(w.gov.usage_sources(march()).await.expect("sources").len(), 1);

    // The CloudWatch Logs subscription: one more source; twice is once.
    let cwl = usage_stream::handle(&w.gov, &client, &sample("cloudwatch-logs.json", &bucket)).await.expect("logs delivery");
    assert_eq!(cwl["objects"][0]["records"], 2, "{cwl}");
    assert!(cwl["objects"][0]["source"].as_str().is_some_and(|s| s.starts_with("cwl:/aws/bedrock/modelinvocations/")), "{cwl}");
    assert_eq!(usage_stream::handle(&w.gov, &client, &sample("cloudwatch-logs.json", &bucket)).await.expect("again")["objects"][0]["duplicate"], true);
    assert_eq!(w.gov.usage_sources(march()).await.expect("sources").len(), 2);

    // The hourly schedule detects over yesterday and today.
    let hourly = usage_stream::handle(&w.gov, &client, &sample("scheduled-hourly.json", &bucket)).await.expect("hourly");
    assert_eq!(hourly["detection"]["days"], serde_json::json!(["2026-02-28", "2026-03-01"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_it_cannot_read_fails_with_its_name_and_stores_nothing() {
    let w = aws(false).await;
    let (client, bucket) = s3().await;
    client.put_object().bucket(&bucket).key(KEY).body(b"plain text, not gzip".to_vec().into()).send().await.expect("put");
    let e = usage_stream::handle(&w.gov, &client, &sample("object-created.json", &bucket)).await.expect_err("not gzip");
    assert!(e.0.contains(KEY) && e.0.contains("gzip"), "{e}");
    assert!(w.gov.usage_sources(march()).await.expect("sources").is_empty());

    let missing = sample("object-created.json", &bucket).to_string().replace("3f2a9c1b7d4e5a60", "0000000000000000");
    let e = usage_stream::handle(&w.gov, &client, &serde_json::from_str(&missing).expect("json")).await.expect_err("no such object");
    assert!(e.0.contains("0000000000000000"), "{e}");

    let e = usage_stream::handle(&w.gov, &client, &serde_json::json!({"detail-type": "CurPeriodIngested", "source": "finops.center", "time": "2026-03-01T10:00:00Z", "detail": {}})).await.expect_err("not ours");
    assert!(e.0.starts_with("usage-stream:") && e.0.contains("CurPeriodIngested"), "{e}");

    // A key outside Bedrock's layout is skipped, not failed.
    let other = sample("object-created.json", &bucket).to_string().replace("BedrockModelInvocationLogs", "CloudTrail");
    let out = usage_stream::handle(&w.gov, &client, &serde_json::from_str(&other).expect("json")).await.expect("skipped");
    assert_eq!(out["objects"][0]["skipped"], true);
}
