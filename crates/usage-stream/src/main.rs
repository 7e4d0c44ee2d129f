use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime_wiring::init_logging();
    let gov = runtime_wiring::governance_from_env().await?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let s3 = runtime_wiring::s3_client(&sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (gov, s3) = (gov.clone(), s3.clone());
        let span = runtime_wiring::invocation_span(&event.payload);
        runtime_wiring::in_span(span, async move { Ok::<Value, Error>(usage_stream::handle(&gov, &s3, &event.payload).await?) })
    }))
    .await
}
