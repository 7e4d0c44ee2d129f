use http_api::RouteGroup;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime_wiring::init_logging();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let gov = kill_switch::governance_with_iam(&sdk, |k| std::env::var(k).ok())?;
    let routes = runtime_wiring::lambda_router(gov.clone(), &[RouteGroup::KillSwitch]);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (gov, routes) = (gov.clone(), routes.clone());
        let span = runtime_wiring::invocation_span(&event.payload);
        runtime_wiring::in_span(span, async move {
            // Two triggers: the kill-switch routes, and the nightly reconciler.
            if runtime_wiring::is_http_event(&event.payload) {
                return Ok::<Value, Error>(runtime_wiring::handle_http(routes, event.payload, event.context).await?);
            }
            Ok(kill_switch::handle(&gov, &event.payload).await?)
        })
    }))
    .await
}
