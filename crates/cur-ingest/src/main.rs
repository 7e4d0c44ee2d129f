use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime_wiring::init_logging();
    let gov = runtime_wiring::governance_from_env().await?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // Path-style addressing only where an S3-compatible endpoint needs it.
    let path_style = std::env::var("FINOPS_S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "1" || v == "true");
    let s3 = cur_s3::S3Cur::new(aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(path_style).build()));
    let prefix = Arc::new(std::env::var("FINOPS_CUR_PREFIX").unwrap_or_default());
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (gov, s3, prefix) = (gov.clone(), s3.clone(), prefix.clone());
        async move { Ok::<Value, Error>(cur_ingest::handle(&gov, &s3, &prefix, &event.payload).await?) }
    }))
    .await
}
