use http_api::RouteGroup;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime_wiring::init_logging();
    let gov = runtime_wiring::governance_from_env().await?;
    let routes = runtime_wiring::lambda_router(gov.clone(), &[RouteGroup::Gaps]);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (gov, routes) = (gov.clone(), routes.clone());
        let span = runtime_wiring::invocation_span(&event.payload);
        runtime_wiring::in_span(span, async move {
            // One function, three triggers: the gap routes, CurPeriodIngested, the nightly schedule.
            if runtime_wiring::is_http_event(&event.payload) {
                return Ok::<Value, Error>(runtime_wiring::handle_http(routes, event.payload, event.context).await?);
            }
            Ok(gap_detector::handle(&gov, &event.payload).await?)
        })
    }))
    .await
}
