//! The composition root shared by every Lambda: clients are built once, at cold
//! start, from the variables the template gives each function.

use std::sync::Arc;

use domain::governance::catalog::PriceCatalog;
use services::governance::Governance;
use services::ports::{FactLedger, SystemClock, UuidV7Ids};

/// JSON logs (CloudWatch reads them as structured), level from `RUST_LOG`/AWS's
/// `AWS_LAMBDA_LOG_LEVEL`.
pub fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into());
    use tracing_subscriber::util::SubscriberInitExt;
    // try_init also routes the AWS SDK's `log` records into these logs.
    if let Err(e) = json_logs(std::io::stdout, &level).try_init() {
        eprintln!("logging already set up: {e}");
    }
}

/// The log format every function writes (and tests read): one JSON object
/// per line, with every enclosing span's fields, so a line carries Lambda's
/// request id (lambda_runtime's span) and the invocation's correlation id
/// and event or route ([`invocation_span`]).
pub fn json_logs<W>(writer: W, level: &str) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level.to_lowercase()))
        .without_time()
        .with_current_span(false)
        .with_span_list(true)
        .with_writer(writer)
        .finish()
}

/// The span one invocation runs in: for a domain event its detail-type and
/// correlation id (the id that ties every step of one governed action
/// together), for any other event (a schedule, an S3 notification) its
/// detail-type and EventBridge id, for an API call its route.
pub fn invocation_span(payload: &serde_json::Value) -> tracing::Span {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    if is_http_event(payload) {
        return tracing::info_span!("invocation", route = %text(&payload["routeKey"]));
    }
    let correlation = payload["detail"]["correlation_id"].as_str().map_or_else(|| text(&payload["id"]), String::from);
    tracing::info_span!("invocation", event = %text(&payload["detail-type"]), correlation_id = %correlation)
}

/// One invocation's work inside its span (built first with
/// [`invocation_span`], before the work takes the event).
pub fn in_span<F: std::future::Future>(span: tracing::Span, work: F) -> tracing::instrument::Instrumented<F> {
    use tracing::Instrument;
    work.instrument(span)
}

/// An S3 client, path-style only where an S3-compatible endpoint needs it
/// (`FINOPS_S3_FORCE_PATH_STYLE`, for emulators).
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var("FINOPS_S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "1" || v == "true");
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build())
}

/// The fact ledger in the stack's bucket (`FINOPS_LEDGER_BUCKET`).
pub fn ledger_from_env(sdk: &aws_config::SdkConfig) -> Result<Arc<dyn FactLedger>, String> {
    match std::env::var("FINOPS_LEDGER_BUCKET") {
        Ok(bucket) if !bucket.trim().is_empty() => Ok(Arc::new(fact_ledger::S3Ledger::new(s3_client(sdk), bucket.trim()))),
        _ => Err("FINOPS_LEDGER_BUCKET is not set: it names the bucket the fact ledger lives in".into()),
    }
}

/// The governance service on DynamoDB (`FINOPS_TABLE`), EventBridge
/// (`FINOPS_EVENT_BUS`) and the fact ledger in S3 (`FINOPS_LEDGER_BUCKET`).
pub async fn governance_from_env() -> Result<Arc<Governance>, String> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(Arc::new(governance_on(&sdk)?))
}

/// The governance service on the stack's adapters, for a function that adds
/// its own (the kill switch its enforcer) before sharing it.
pub fn governance_on(sdk: &aws_config::SdkConfig) -> Result<Governance, String> {
    let sdk = sdk.clone();
    let store = store_dynamodb::DynamoStore::from_env(aws_sdk_dynamodb::Client::new(&sdk)).map_err(|e| e.to_string())?;
    let bus = bus_eventbridge::EventBridgeBus::from_env(aws_sdk_eventbridge::Client::new(&sdk))?;
    let ledger = ledger_from_env(&sdk)?;
    let catalog = PriceCatalog::bundled()?;
    let thresholds = domain::analytics::cards::Thresholds::from_config(
        std::env::var("FINOPS_CARD_WARN_PCT").ok().as_deref(),
        std::env::var("FINOPS_CARD_CRITICAL_PCT").ok().as_deref(),
    )?;
    Ok(Governance::new(Arc::new(store), Arc::new(bus), ledger, Arc::new(SystemClock), Arc::new(UuidV7Ids), Arc::new(catalog)).with_card_thresholds(thresholds))
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
    // Each API call's log lines carry its route (the template, not the ids in it).
    let traced = axum::middleware::from_fn(|req: axum::extract::Request, next: axum::middleware::Next| async move {
        let route = req.extensions().get::<axum::extract::MatchedPath>().map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
        let span = tracing::info_span!("invocation", route = %format!("{} {route}", req.method()));
        in_span(span, next.run(req)).await
    });
    with_jwt_caller(http_api::router_for(gov, groups).layer(traced))
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

/// What a function was handed: the one parse of EventBridge's envelope that
/// every event-driven function shares.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// An EventBridge schedule fired at `time`.
    Scheduled { time: chrono::DateTime<chrono::Utc> },
    /// One of our domain events (source `finops.center`).
    Domain(services::ports::bus::DomainEvent),
}

/// An EventBridge envelope as AWS documents it, with the detail left to the
/// reader: `aws_lambda_events`' type, so every function reads the same fields.
type Envelope<T = serde_json::Value> = aws_lambda_events::event::eventbridge::EventBridgeEvent<T>;

/// Reads an EventBridge delivery; anything else is refused with what it was.
pub fn delivery(event: &serde_json::Value) -> Result<Delivery, String> {
    let envelope: Envelope = serde::Deserialize::deserialize(event).map_err(|e| format!("not an EventBridge event: {e}"))?;
    let time = || envelope.time.ok_or_else(|| "event has no RFC 3339 time".to_owned());
    match (envelope.source.as_str(), envelope.detail_type.as_str()) {
        ("aws.events", "Scheduled Event") => Ok(Delivery::Scheduled { time: time()? }),
        (s, detail_type) if s == services::ports::bus::EVENT_SOURCE => {
            Ok(Delivery::Domain(services::ports::bus::DomainEvent::from_delivery(detail_type, time()?, &envelope.detail)?))
        }
        (source, detail_type) => Err(format!("does not handle {source:?} / {detail_type:?}")),
    }
}

/// The time an EventBridge schedule fired, or `None` for any other event.
pub fn schedule_time(event: &serde_json::Value) -> Option<chrono::DateTime<chrono::Utc>> {
    match delivery(event) {
        Ok(Delivery::Scheduled { time }) => Some(time),
        _ => None,
    }
}

/// One object an S3 event names, its key decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

/// EventBridge's "Object Created" detail: the two fields a reader needs.
#[derive(serde::Deserialize, serde::Serialize)]
struct ObjectCreated {
    bucket: Named,
    object: Keyed,
}
#[derive(serde::Deserialize, serde::Serialize)]
struct Named {
    name: String,
}
#[derive(serde::Deserialize, serde::Serialize)]
struct Keyed {
    key: String,
}

/// S3 notifications URL-encode keys (`+` for a space, `%2B` for a plus);
/// EventBridge does not. A literal `+` arrives as `%2B`, so `+` becomes a
/// space before the percent-decoding.
pub fn url_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// The objects an EventBridge "Object Created" event or an S3 notification
/// (`Records`, of which only `ObjectCreated:*` count) names. Anything else is
/// refused with what it was, so a function wired to the wrong rule says so.
pub fn created_objects(event: &serde_json::Value) -> Result<Vec<ObjectRef>, String> {
    if event.get("Records").is_some() {
        let n: aws_lambda_events::event::s3::S3Event = serde::Deserialize::deserialize(event).map_err(|e| format!("not an S3 notification: {e}"))?;
        return n
            .records
            .into_iter()
            .filter(|r| r.event_name.as_deref().is_some_and(|n| n.starts_with("ObjectCreated")))
            .map(|r| match (r.s3.bucket.name, r.s3.object.key) {
                (Some(bucket), Some(key)) => Ok(ObjectRef { bucket, key: url_decode(&key) }),
                _ => Err("Records[].s3.bucket.name and .object.key are required".to_owned()),
            })
            .collect();
    }
    let envelope: Envelope = serde::Deserialize::deserialize(event).map_err(|e| format!("neither an EventBridge event nor S3 Records: {e}"))?;
    if envelope.detail_type != "Object Created" {
        return Err(format!("expected detail-type \"Object Created\" or S3 Records, got {:?}", envelope.detail_type));
    }
    let d: ObjectCreated = serde::Deserialize::deserialize(&envelope.detail).map_err(|e| format!("an Object Created event needs detail.bucket.name and detail.object.key: {e}"))?;
    Ok(vec![ObjectRef { bucket: d.bucket.name, key: d.object.key }])
}

/// A delivery a function refuses, with the reason. Lambda reports it as the
/// invocation's error: it retries the asynchronous invocation (the function's
/// `EventInvokeConfig`), then sends the event and this reason to the
/// function's OnFailure queue. The rule's dead-letter queue only catches
/// events EventBridge could not deliver to Lambda at all.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejected(pub String);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Rejected {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(name: &str, key: &str) -> serde_json::Value {
        json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-03-02T06:12:41.000Z",
               "eventName": name, "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "203.0.113.15"},
               "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "b"}, "object": {"key": key, "size": 1}}})
    }

    #[test]
    fn created_objects_are_read_from_both_shapes_and_only_creations_count() {
        let eb = json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3", "time": "2026-03-02T06:12:41Z",
                        "detail": {"bucket": {"name": "b"}, "object": {"key": "cur2/a b.parquet"}}});
        assert_eq!(created_objects(&eb).unwrap(), [ObjectRef { bucket: "b".into(), key: "cur2/a b.parquet".into() }], "EventBridge keys are not encoded");
        let n = json!({"Records": [record("ObjectCreated:Put", "cur2/a+b%3D1.parquet"), record("ObjectRemoved:Delete", "x")]});
        assert_eq!(created_objects(&n).unwrap(), [ObjectRef { bucket: "b".into(), key: "cur2/a b=1.parquet".into() }]);
        assert_eq!(url_decode("cur2/a%2Bb+c%C3%A9%zz"), "cur2/a+b cé%zz", "a plus, a space, UTF-8 and a stray % kept");
    }

    #[test]
    fn an_event_that_names_no_object_is_refused_with_what_it_was() {
        let sched = json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-03-02T03:00:00Z", "detail": {}});
        let e = created_objects(&sched).unwrap_err();
        assert!(e.contains("Scheduled Event"), "{e}");
        let e = created_objects(&json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {}})).unwrap_err();
        assert!(e.contains("detail.bucket.name"), "{e}");
        let e = created_objects(&json!({"Records": [{"eventName": "ObjectCreated:Put"}]})).unwrap_err();
        assert!(e.contains("not an S3 notification"), "{e}");
        assert!(created_objects(&json!(42)).is_err());
    }

    #[test]
    fn a_schedule_and_a_domain_event_are_told_apart() {
        let sched = json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-03-02T03:00:00Z", "detail": {}});
        assert_eq!(schedule_time(&sched).map(|t| t.to_rfc3339()), Some("2026-03-02T03:00:00+00:00".into()));
        let e = delivery(&json!({"detail-type": "Object Created", "source": "aws.s3", "time": "2026-03-02T03:00:00Z", "detail": {}})).unwrap_err();
        assert!(e.contains("aws.s3"), "{e}");
        let e = delivery(&json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})).unwrap_err();
        assert!(e.contains("time"), "{e}");
        assert!(delivery(&json!({"source": "aws.events"})).unwrap_err().contains("not an EventBridge event"));
    }
}
