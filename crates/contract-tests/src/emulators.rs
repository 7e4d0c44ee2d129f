//! Reaching the emulators that `scripts/test.sh` starts: DynamoDB Local (AWS's own)
//! and moto's server, both on loopback ports given by environment variables.
//!
//! A missing variable fails the test with a message saying how to start the
//! emulators: these tests are never silently skipped.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

pub const DYNAMODB_ENV: &str = "FINOPS_TEST_DYNAMODB_ENDPOINT";
pub const MOTO_ENV: &str = "FINOPS_TEST_MOTO_ENDPOINT";
/// The folder holding `DynamoDBLocal.jar`, for tests that run their own instance.
pub const DYNAMODB_DIR_ENV: &str = "FINOPS_TEST_DYNAMODB_LOCAL_DIR";

pub fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: this test needs the emulators. Run scripts/test.sh, \
             or `eval \"$(scripts/emulators.sh start)\"` before cargo test."
        ),
    }
}

/// SDK configuration for an emulator: fixed test credentials, us-east-1, the
/// emulator's endpoint, and short timeouts so an unreachable emulator fails fast.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "contract-tests"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(20))
                .build(),
        )
        .load()
        .await
}

pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(&required_env(DYNAMODB_ENV)).await)
}

pub async fn moto_config() -> SdkConfig {
    sdk_config(&required_env(MOTO_ENV)).await
}

/// An S3 client for moto (path-style addressing, which moto needs).
pub async fn s3_client() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&moto_config().await).force_path_style(true).build())
}

/// A fresh bucket on moto.
pub async fn fresh_bucket(prefix: &str) -> (aws_sdk_s3::Client, String) {
    let client = s3_client().await;
    let bucket = unique_name(prefix);
    client.create_bucket().bucket(&bucket).send().await.expect("bucket");
    (client, bucket)
}

/// The fact ledger on a fresh moto bucket.
pub async fn s3_ledger() -> fact_ledger::S3Ledger {
    let (client, bucket) = fresh_bucket("ledger").await;
    fact_ledger::S3Ledger::new(client, bucket)
}

/// A name no other test uses (DynamoDB, EventBridge and SQS all accept it).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// A fresh EventBridge bus on moto with one rule per detail-type, all targeting a
/// fresh SQS queue: how tests observe (and deliver) what a bus routes.
pub struct RoutedQueue {
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub bus_name: String,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

pub async fn routed_queue(detail_types: &[&str]) -> RoutedQueue {
    use aws_sdk_eventbridge::types::Target;
    use aws_sdk_sqs::types::QueueAttributeName;
    let config = moto_config().await;
    let eventbridge = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus_name = unique_name("ct");
    eventbridge.create_event_bus().name(&bus_name).send().await.expect("create bus");
    // moto refuses PutEvents when a rule targets a queue that does not exist: queue first.
    let queue_url = sqs.create_queue().queue_name(&bus_name).send().await.expect("create queue").queue_url().unwrap_or_default().to_owned();
    let attrs = sqs.get_queue_attributes().queue_url(&queue_url).attribute_names(QueueAttributeName::QueueArn).send().await.expect("queue arn");
    let queue_arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
    for (i, dt) in detail_types.iter().enumerate() {
        let rule = format!("{bus_name}-{i}");
        let pattern = serde_json::json!({"source": [services::ports::bus::EVENT_SOURCE], "detail-type": [dt]}).to_string();
        eventbridge.put_rule().name(&rule).event_bus_name(&bus_name).event_pattern(pattern).send().await.expect("put rule");
        eventbridge
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus_name)
            .targets(Target::builder().id("queue").arn(&queue_arn).build().expect("target"))
            .send()
            .await
            .expect("put targets");
    }
    RoutedQueue { eventbridge, bus_name, sqs, queue_url }
}
