use http_api::RouteGroup;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    runtime_wiring::init_logging();
    let gov = runtime_wiring::governance_from_env().await?;
    lambda_http::run(runtime_wiring::lambda_router(gov, &[RouteGroup::Read, RouteGroup::ProductOwner])).await
}
