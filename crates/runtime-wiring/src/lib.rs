//! The composition root shared by every Lambda: clients are built once, at cold
//! start, from the variables the template gives each function.

use std::sync::Arc;

use domain::governance::catalog::PriceCatalog;
use services::governance::Governance;
use services::ports::{SystemClock, UuidV7Ids};

/// JSON logs (CloudWatch reads them as structured), level from `RUST_LOG`/AWS's
/// `AWS_LAMBDA_LOG_LEVEL`.
pub fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level.to_lowercase()))
        .without_time()
        .with_current_span(false)
        .init();
}

/// The governance service on DynamoDB (`FINOPS_TABLE`) and EventBridge (`FINOPS_EVENT_BUS`).
pub async fn governance_from_env() -> Result<Arc<Governance>, String> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = store_dynamodb::DynamoStore::from_env(aws_sdk_dynamodb::Client::new(&sdk)).map_err(|e| e.to_string())?;
    let bus = bus_eventbridge::EventBridgeBus::from_env(aws_sdk_eventbridge::Client::new(&sdk))?;
    let catalog = PriceCatalog::bundled()?;
    Ok(Arc::new(Governance::new(Arc::new(store), Arc::new(bus), Arc::new(SystemClock), Arc::new(UuidV7Ids), Arc::new(catalog))))
}

/// The API behind API Gateway: the caller comes from the JWT claims API Gateway's
/// authorizer verified (`http_api::auth::actor_from_claims`); a user in several
/// persona groups picks one with `X-FinOps-Persona`.
pub fn with_jwt_caller(router: axum::Router) -> axum::Router {
    use axum::response::IntoResponse;
    use lambda_http::request::RequestContext;
    router.layer(axum::middleware::from_fn(|mut req: axum::extract::Request, next: axum::middleware::Next| async move {
        if !http_api::OPEN_ROUTES.contains(&req.uri().path()) {
            let claims = match req.extensions().get::<RequestContext>() {
                Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|j| j.claims.clone()),
                _ => None,
            };
            let persona = req.headers().get("x-finops-persona").and_then(|v| v.to_str().ok()).map(String::from);
            let actor = claims
                .ok_or_else(|| http_api::auth::AuthError("no JWT claims: the route must use the API's JWT authorizer".into()))
                .and_then(|c| http_api::auth::actor_from_claims(&c, persona.as_deref()));
            match actor {
                Ok(a) => {
                    req.extensions_mut().insert(a);
                }
                Err(e) => return http_api::ApiError::unauthenticated(e.0).into_response(),
            }
        }
        next.run(req).await
    }))
}

/// The HTTP API for some route groups, as the Lambda serves it.
pub fn lambda_router(gov: Arc<Governance>, groups: &[http_api::RouteGroup]) -> axum::Router {
    with_jwt_caller(http_api::router_for(gov, groups))
}

/// Runs one API Gateway event (the raw JSON Lambda receives) through `router` and
/// returns the JSON response Lambda hands back to API Gateway.
pub async fn handle_http(
    router: axum::Router,
    payload: serde_json::Value,
    context: lambda_http::lambda_runtime::Context,
) -> Result<serde_json::Value, String> {
    use tower::ServiceExt;
    let request: lambda_http::request::LambdaRequest =
        serde_json::from_value(payload).map_err(|e| format!("not an API Gateway event: {e}"))?;
    let event = lambda_http::lambda_runtime::LambdaEvent::new(request, context);
    let response = match lambda_http::Adapter::from(router).oneshot(event).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    serde_json::to_value(response).map_err(|e| e.to_string())
}

/// Whether a raw Lambda payload is an API Gateway HTTP API event (as opposed to
/// an EventBridge delivery), for functions that take both.
pub fn is_http_event(payload: &serde_json::Value) -> bool {
    payload.get("requestContext").is_some() && payload.get("routeKey").is_some()
}
