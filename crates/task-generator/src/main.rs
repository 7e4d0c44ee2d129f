use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime_wiring::init_logging();
    let gov = runtime_wiring::governance_from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let gov = gov.clone();
        async move { Ok::<Value, Error>(task_generator::handle(&gov, &event.payload).await?) }
    }))
    .await
}
